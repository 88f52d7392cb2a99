//! The reconcile pipeline for one Rollout: resolve ([`resolve`]: validate once, the router) →
//! observe ([`crate::observe`]) → plan ([`crate::plan`], pure) → apply ([`crate::apply`]) and
//! the status write ([`status`]), or, when the Rollout is being deleted, [`cleanup`].

mod cleanup;
mod resolve;
mod status;

use std::sync::Arc;
use std::time::Duration;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event as FinalizerEvent};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use kulta_api::validation::FieldError;
use kulta_api::{Rollout, labels};
use tracing::{info, instrument, warn};

use self::cleanup::cleanup;
use self::resolve::{Resolved, resolve};
use self::status::{carry_out, report_error, write_status};
use crate::context::{Context, object_key};
use crate::error::{Category, Error, Result};
use crate::observe;
use crate::plan::{self, PlannedEvent, RolloutState};

/// How often a settled Rollout is looked at again without any change (a safety net; a
/// reconcile of a settled Rollout makes no writes).
pub const RESYNC: Duration = Duration::from_secs(300);

/// Reconciles one Rollout.
///
/// # Errors
/// API and router failures; the caller backs off per object and retries. An invalid spec is not
/// an error: it is reported in status and the Rollout waits for a change.
#[instrument(skip_all, fields(rollout = %object_key(&rollout)))]
pub async fn reconcile(rollout: Arc<Rollout>, ctx: Arc<Context>) -> Result<Action> {
    let started = std::time::Instant::now();
    // Boxed: the runtime spawns this future, and the whole pipeline's state machine is many
    // KiB that would otherwise be copied on every spawn.
    let result = Box::pin(reconcile_inner(rollout, &ctx)).await;
    ctx.metrics.reconciled(started.elapsed());
    if let Err(error) = &result {
        ctx.metrics.reconcile_failed(error.category().as_str());
    }
    result
}

async fn reconcile_inner(rollout: Arc<Rollout>, ctx: &Arc<Context>) -> Result<Action> {
    let ctx = ctx.clone();
    let namespace = rollout
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let api: Api<Rollout> = Api::namespaced(ctx.client.clone(), &namespace);
    let rollout = Arc::new(ctx.freshest(&rollout));
    // Resolved once per reconcile: validation, and the router for the spec.
    let resolved = if rollout.meta().deletion_timestamp.is_none() {
        match resolve(&ctx, &rollout) {
            Ok(resolved) => Some(resolved),
            // An invalid spec touches nothing, not even the finalizer.
            Err(errors) => return invalid(&ctx, &api, &rollout, &errors).await,
        }
    } else {
        None
    };
    let result = finalizer::finalizer(&api, labels::FINALIZER, rollout.clone(), |event| async {
        match (event, &resolved) {
            (FinalizerEvent::Apply(rollout), Some(resolved)) => {
                reconcile_live(&ctx, &api, &rollout, resolved).await
            }
            // Apply comes only for a Rollout not being deleted, resolved above; this arm keeps
            // the match total.
            (FinalizerEvent::Apply(rollout), None) => match resolve(&ctx, &rollout) {
                Ok(resolved) => reconcile_live(&ctx, &api, &rollout, &resolved).await,
                Err(errors) => invalid(&ctx, &api, &rollout, &errors).await,
            },
            (FinalizerEvent::Cleanup(rollout), _) => cleanup(&ctx, &rollout).await,
        }
    })
    .await;
    match result {
        Ok(action) => {
            ctx.backoff.reset(&object_key(&rollout));
            Ok(action)
        }
        Err(finalizer::Error::ApplyFailed(error) | finalizer::Error::CleanupFailed(error)) => {
            // A conflict is optimistic concurrency doing its job: retry on a fresh view, no
            // alarm. Everything else is shown in status and as an Event.
            if error.category() == Category::Conflict {
                return Err(error);
            }
            match report_error(&ctx, &api, &rollout, &error).await {
                Some(action) => {
                    ctx.backoff.reset(&object_key(&rollout));
                    Ok(action)
                }
                None => Err(error),
            }
        }
        Err(other) => Err(Error::Finalizer {
            namespace,
            name: rollout.name_any(),
            message: other.to_string(),
        }),
    }
}

async fn invalid(
    ctx: &Context,
    api: &Api<Rollout>,
    rollout: &Rollout,
    errors: &[FieldError],
) -> Result<Action> {
    ctx.watched.untrack(&ObjectRef::from_obj(rollout));
    let plan = plan::invalid_spec_plan(rollout, errors, ctx.clock.now());
    warn!(errors = %plan.status.message.as_deref().unwrap_or_default(), "invalid spec");
    write_status(ctx, api, rollout, &plan.status).await?;
    publish(ctx, rollout, &plan.events).await;
    Ok(Action::await_change())
}

/// Reconciles a valid Rollout that is not being deleted, with what it resolved to.
async fn reconcile_live(
    ctx: &Context,
    api: &Api<Rollout>,
    rollout: &Rollout,
    resolved: &Resolved,
) -> Result<Action> {
    let (router, target) = (resolved.router.as_ref(), &resolved.target);
    ctx.watched
        .track(&ObjectRef::from_obj(rollout), &resolved.references);
    let observed = observe::observe(ctx, rollout, router, target, &resolved.references).await;
    let plan = plan::plan(rollout, &observed, ctx.clock.now());
    if plan.state == RolloutState::InvalidSpec {
        write_status(ctx, api, rollout, &plan.status).await?;
        publish(ctx, rollout, &plan.events).await;
        return Ok(Action::await_change());
    }
    info!(state = ?plan.state, step = plan.status.current_step_index, "planned");
    let (plan, counts_wait) = carry_out(ctx, api, rollout, plan, observed, resolved).await?;
    ctx.metrics.observe_rollout(
        rollout_labels(rollout),
        router.kind(),
        plan.status.phase.map_or("Unknown", |p| p.as_str()),
        rollout
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .map(|p| p.as_str()),
        plan.status.canary_weight,
        plan.status.current_step_index,
    );
    let after = [plan.requeue_after, counts_wait, Some(RESYNC)]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(RESYNC);
    Ok(Action::requeue(after))
}

/// Publishes Events; failures are logged, never fatal.
async fn publish(ctx: &Context, rollout: &Rollout, events: &[PlannedEvent]) {
    let reference = rollout.object_ref(&());
    for event in &crate::events::coalesce(events) {
        if let Err(error) = ctx
            .events
            .publish(
                &reference,
                event.warning,
                event.reason,
                "Reconcile",
                &event.note,
            )
            .await
        {
            warn!(%error, reason = event.reason, "unable to publish event");
        }
    }
}

fn rollout_labels(rollout: &Rollout) -> crate::runtime::metrics::RolloutLabels {
    crate::runtime::metrics::RolloutLabels {
        namespace: rollout.namespace().unwrap_or_default(),
        name: rollout.name_any(),
    }
}

/// Backoff policy: exponential per object, capped; reset on success.
pub fn error_policy(rollout: Arc<Rollout>, error: &Error, ctx: Arc<Context>) -> Action {
    let delay = ctx.backoff.next(&object_key(&rollout));
    let delay = if error.category() == Category::Conflict {
        delay.checked_div(8).unwrap_or_default()
    } else {
        delay
    };
    warn!(rollout = %object_key(&rollout), category = %error.category(), retry_in = ?delay, "will retry");
    Action::requeue(delay)
}
