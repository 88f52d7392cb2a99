//! The reconcile pipeline: observe → plan → apply → status, for one Rollout.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event as FinalizerEvent};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use kulta_api::validation::FieldError;
use kulta_api::{Rollout, RolloutStatus, labels};
use kulta_router::{BackendRef, ResourceRef, RouteTarget, TrafficRouter};
use tracing::{info, instrument, warn};

use crate::context::{Context, object_key};
use crate::error::{Category, Error, Result};
use crate::plan::{self, PlannedEvent, RolloutState, condition_types, set_condition};
use crate::{apply, observe};

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

/// What a valid Rollout resolves to.
struct Resolved {
    router: Arc<dyn TrafficRouter>,
    target: RouteTarget,
    /// The objects the router reads or writes for the target, watched for it.
    references: Vec<ResourceRef>,
}

/// The router, its target and the objects it references for `rollout`, or the field errors that
/// make it invalid (validation, an unknown router, a router refusing its config or lacking
/// weights).
fn resolve(ctx: &Context, rollout: &Rollout) -> Result<Resolved, Vec<FieldError>> {
    kulta_api::validation::validate(rollout)?;
    let field = |message: String| {
        vec![FieldError {
            path: "spec.strategy.canary.trafficRouting".to_string(),
            message,
        }]
    };
    let canary = rollout
        .spec
        .strategy
        .canary
        .as_ref()
        .ok_or_else(|| field("is required".to_string()))?;
    let routing = canary
        .traffic_routing
        .as_ref()
        .ok_or_else(|| field("is required".to_string()))?;
    let (Some(key), Some(config)) = (routing.router_key(), routing.router_config()) else {
        return Err(field("names no router".to_string()));
    };
    let router = ctx
        .routers
        .resolve(key, &config)
        .map_err(|e| field(e.to_string()))?;
    if !router.capabilities().weights {
        return Err(field(format!(
            "traffic router {key} cannot set weights, which canary steps need"
        )));
    }
    let target = RouteTarget {
        namespace: rollout.namespace().unwrap_or_default(),
        rollout: rollout.name_any(),
        stable: BackendRef {
            service: canary.stable_service.clone(),
            port: None,
        },
        canary: BackendRef {
            service: canary.canary_service.clone(),
            port: None,
        },
        config,
    };
    let references = router
        .referenced_objects(&target)
        .map_err(|e| field(format!("traffic router {key}: {e}")))?;
    Ok(Resolved {
        router,
        target,
        references,
    })
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

/// How many times a status that records intent is tried, each on a fresh read, re-planned.
const RECORD_ATTEMPTS: u32 = 5;

/// Writes `plan`'s status, applies its effects, then removes the action annotations it
/// consumed.
///
/// The status lists the actions carried out in `appliedActions` and is stored before their
/// annotations go, so a crash, a lost leadership or a failed call at any point neither loses an
/// action nor carries it out twice. A plan that raises the canary weight stores its status
/// before any effect, any other after its effects ([`plan::Plan::raises_weight`]): the stored
/// `desiredCanaryWeight` never understates what the route may carry, which the planner counts
/// on before it scales a canary down. Every effect is idempotent and planned again from the
/// stored status and what is observed, so the next reconcile completes whatever a failure left
/// undone. A status write that fails is tried again on a fresh read of the
/// Rollout, planned again with this status as its own: an action a person set in between is
/// carried out, never overwritten. Events are published once the status is stored.
///
/// Returns the plan carried out, and how long pod counts may still wait when only they changed
/// (nothing written).
async fn carry_out(
    ctx: &Context,
    api: &Api<Rollout>,
    rollout: &Rollout,
    plan: plan::Plan,
    observed: plan::Observed,
    resolved: &Resolved,
) -> Result<(plan::Plan, Option<Duration>)> {
    let (router, target) = (resolved.router.as_ref(), &resolved.target);
    let mut plan = plan;
    let mut observed = observed;
    let mut base = rollout.clone();
    let mut events = Vec::new();
    let mut attempt = 1;
    // Whether the effects of `plan` are applied (a plan that raises the weight applies them
    // after its status is stored, any other before).
    let mut applied = false;
    let counts_wait = loop {
        let status_first = plan.raises_weight(base.status.as_ref());
        if !status_first && !applied && plan.state != RolloutState::InvalidSpec {
            apply::apply(ctx, &base, &plan, &observed, router, target).await?;
            applied = true;
        }
        let records_intent = !plan.consume.is_empty() || plan.route_weight.is_some();
        if !records_intent
            && plan.events.is_empty()
            && only_counts_differ(base.status.as_ref(), &plan.status)
        {
            let wait = ctx.counts.wait(&object_key(&base));
            if wait.is_some() {
                break wait;
            }
        }
        let written = write_status(ctx, api, &base, &plan.status).await;
        if written.is_err() && applied {
            ctx.remember_unstored(&base, &plan.status);
        }
        match written {
            Ok(()) => break None,
            Err(error) if records_intent && attempt < RECORD_ATTEMPTS => {
                warn!(error = %error.full_message(), attempt, "unable to record this reconcile in status; planning again on a fresh read");
                if error.category() != Category::Conflict {
                    tokio::time::sleep(Duration::from_millis(100).saturating_mul(attempt)).await;
                }
                attempt = attempt.saturating_add(1);
                let fresh = api.get(&base.name_any()).await.map_err(|e| {
                    Error::kube(
                        "read",
                        "Rollout",
                        &base.namespace().unwrap_or_default(),
                        &base.name_any(),
                        e,
                    )
                })?;
                // Planned as if this status were stored, on everything else as it is now (the
                // object read again, the cluster observed again, our own effects included).
                // Its effects are applied again (each is idempotent): the fresh object may ask
                // for more.
                let mut view = fresh.clone();
                view.status = Some(plan.status.clone());
                observed = observe::observe(ctx, &view, router, target, &resolved.references).await;
                let again = plan::plan(&view, &observed, ctx.clock.now());
                events.append(&mut plan.events);
                plan = again;
                base = fresh;
                applied = false;
            }
            Err(error) => return Err(error),
        }
    };
    if counts_wait.is_none() {
        ctx.counts.written(&object_key(&base));
    }
    events.append(&mut plan.events);
    publish(ctx, &base, &events).await;
    plan.events = events;
    if !applied && plan.state != RolloutState::InvalidSpec {
        apply::apply(ctx, &base, &plan, &observed, router, target).await?;
    }
    if !plan.consume.is_empty() {
        let namespace = base.namespace().unwrap_or_default();
        let removed = apply::consume_annotations(
            ctx,
            &namespace,
            &base.name_any(),
            &plan.consume,
            &plan.status.applied_actions,
        )
        .await?;
        if let Some(stored) = removed {
            let removed = plan
                .consume
                .iter()
                .map(|c| (c.key.clone(), c.value.clone()))
                .collect();
            ctx.remember_removal(&stored, &plan.status, removed);
        }
    }
    Ok((plan, counts_wait))
}

/// Whether `planned` differs from `current` in pod counts only (and differs at all).
fn only_counts_differ(current: Option<&RolloutStatus>, planned: &RolloutStatus) -> bool {
    let Some(current) = current else {
        return false;
    };
    if current == planned {
        return false;
    }
    let mut counts_as_current = planned.clone();
    counts_as_current.replicas = current.replicas;
    counts_as_current.ready_replicas = current.ready_replicas;
    counts_as_current.available_replicas = current.available_replicas;
    counts_as_current.updated_replicas = current.updated_replicas;
    counts_as_current == *current
}

/// Deleting: traffic back to 100% stable and nothing of ours left in the routes, then the
/// finalizer goes. A Rollout whose router cannot be resolved any more has nothing we can clean.
async fn cleanup(ctx: &Context, rollout: &Rollout) -> Result<Action> {
    if let Ok(Resolved { router, target, .. }) = resolve(ctx, rollout) {
        let result = router.remove_managed_routes(&target).await;
        ctx.metrics.router_operation(
            router.kind(),
            "remove_managed_routes",
            result.as_ref().map_or_else(|e| e.category(), |()| "ok"),
        );
        result.map_err(|source| Error::Router {
            router: router.kind(),
            operation: "remove managed routes",
            namespace: target.namespace.clone(),
            rollout: target.rollout.clone(),
            source,
        })?;
        publish(
            ctx,
            rollout,
            &[PlannedEvent {
                warning: false,
                reason: "TrafficRestored",
                note: "rollout deleted: all traffic routed to stable".to_string(),
            }],
        )
        .await;
    }
    release_services(ctx, rollout).await?;
    ctx.forget(rollout);
    ctx.watched.untrack(&ObjectRef::from_obj(rollout));
    ctx.metrics.forget_rollout(&rollout_labels(rollout));
    Ok(Action::await_change())
}

/// Removes this Rollout's claim and pin record from its Services, so that another Rollout may
/// pin them. The selectors stay as they are: the Services keep serving.
async fn release_services(ctx: &Context, rollout: &Rollout) -> Result<()> {
    let Some(canary) = rollout.spec.strategy.canary.as_ref() else {
        return Ok(());
    };
    let namespace = rollout.namespace().unwrap_or_default();
    let name = rollout.name_any();
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &namespace);
    for service in [&canary.stable_service, &canary.canary_service] {
        let claimed = ctx
            .services
            .get(&ObjectRef::new(service).within(&namespace))
            .is_some_and(|cached| {
                cached.annotations().get(labels::SERVICE_CLAIM_ANNOTATION) == Some(&name)
            });
        if !claimed {
            continue;
        }
        let patch = serde_json::json!({ "metadata": { "annotations": {
            labels::SERVICE_CLAIM_ANNOTATION: null,
            labels::PINNED_REVISION_ANNOTATION: null,
        } } });
        match services
            .patch(service, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            // Not recorded as our own write: its watch event must wake the Rollouts that wait
            // for this Service.
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => {
                return Err(Error::kube(
                    "release the claim on",
                    "Service",
                    &namespace,
                    service,
                    e,
                ));
            }
        }
    }
    Ok(())
}

/// Writes `status` when it differs from the Rollout's. A PUT on the status subresource with the
/// Rollout's resourceVersion: a status planned from a stale view is refused (409) instead of
/// overwriting a newer one.
pub(crate) async fn write_status(
    ctx: &Context,
    api: &Api<Rollout>,
    rollout: &Rollout,
    status: &RolloutStatus,
) -> Result<()> {
    if rollout.status.as_ref() == Some(status) && !ctx.is_unstored(rollout) {
        return Ok(());
    }
    let mut updated = rollout.clone();
    updated.status = Some(status.clone());
    updated.metadata.managed_fields = None;
    let name = rollout.name_any();
    let params = PostParams {
        field_manager: Some(labels::FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    let stored = api
        .replace_status(&name, &params, &updated)
        .await
        .map_err(|e| {
            Error::kube(
                "write the status of",
                "Rollout",
                &rollout.namespace().unwrap_or_default(),
                &name,
                e,
            )
        })?;
    ctx.remember(&stored, status);
    Ok(())
}

/// Records an error in status (best effort) and as a Warning Event. Errors count against the
/// progress deadline like any other wait (the clock starts at the first one): past it,
/// `Progressing` turns False with `ProgressDeadlineExceeded`, and with `progressDeadlineAbort`
/// a running canary is aborted (the next reconcile routes back to stable). A permanent error
/// ([`Error::is_permanent`]) is reported like an invalid spec and waits for a change instead
/// of being retried. Returns the action instead of a retry with backoff, when there is one.
async fn report_error(
    ctx: &Context,
    api: &Api<Rollout>,
    rollout: &Rollout,
    error: &Error,
) -> Option<Action> {
    let message = error.full_message();
    warn!(category = %error.category(), error = %message, "reconcile failed");
    // The status to add the error to includes effects this reconcile carried out but could not
    // record (`Context::remember_unstored`).
    let rollout = &ctx.freshest(rollout);
    let now = ctx.clock.now();
    let generation = rollout.metadata.generation;
    let mut status = rollout.status.clone().unwrap_or_default();
    let mut events = vec![PlannedEvent {
        warning: true,
        reason: error.event_reason(),
        note: plan::truncate(&message, 1000),
    }];
    let condition = match error {
        Error::Router { .. } => condition_types::TRAFFIC_ROUTED,
        _ => condition_types::READY,
    };
    set_condition(
        &mut status.conditions,
        condition,
        false,
        error.event_reason(),
        &message,
        generation,
        now,
    );
    let permanent = error.is_permanent();
    if permanent {
        status.phase = Some(kulta_api::Phase::Degraded);
        set_condition(
            &mut status.conditions,
            condition_types::INVALID_SPEC,
            true,
            error.event_reason(),
            &format!("refused, waiting for a change: {message}"),
            generation,
            now,
        );
    }
    let mut abort = false;
    let start = *status.progress_start_time.get_or_insert(now);
    let deadline = rollout.spec.progress_deadline();
    let passed = chrono::Duration::from_std(deadline)
        .ok()
        .and_then(|deadline| start.checked_add_signed(deadline))
        .is_some_and(|at| now >= at);
    if passed {
        let text = format!("no progress in {}s: {message}", deadline.as_secs());
        let already = status.conditions.iter().any(|c| {
            c.type_ == condition_types::PROGRESSING && c.reason == "ProgressDeadlineExceeded"
        });
        // The deadline's Warning tells the error too: one Event, under the telling reason.
        events.clear();
        if !already {
            events.push(PlannedEvent {
                warning: true,
                reason: "ProgressDeadlineExceeded",
                note: plan::truncate(&text, 1000),
            });
        }
        status.phase = Some(kulta_api::Phase::Degraded);
        set_condition(
            &mut status.conditions,
            condition_types::PROGRESSING,
            false,
            "ProgressDeadlineExceeded",
            &text,
            generation,
            now,
        );
        // A new revision is rolling out (its canary may not have started: the error may be the
        // one that keeps it from starting).
        let template = kulta_api::hash::revision_hash(&rollout.spec.template);
        let rolling_out = status
            .stable_revision
            .as_ref()
            .is_some_and(|stable| *stable != template);
        if rollout.spec.progress_deadline_abort == Some(true)
            && rolling_out
            && status.aborted != Some(true)
        {
            abort = true;
            status.aborted = Some(true);
            if status.canary_revision.is_none() {
                status.canary_revision = Some(template);
            }
            set_condition(
                &mut status.conditions,
                condition_types::ABORTED,
                true,
                "ProgressDeadlineExceeded",
                &text,
                generation,
                now,
            );
            events.push(PlannedEvent {
                warning: true,
                reason: "Aborted",
                note: plan::truncate(&format!("{text}; aborted (progressDeadlineAbort)"), 1000),
            });
        }
    }
    if let Err(write_error) = write_status(ctx, api, rollout, &status).await {
        warn!(error = %write_error.full_message(), "unable to record the error in status");
        return None;
    }
    publish(ctx, rollout, &events).await;
    if abort {
        // The abort is stored: the next reconcile routes back to stable.
        Some(Action::requeue(Duration::from_millis(100)))
    } else if permanent {
        Some(Action::await_change())
    } else {
        None
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use kulta_api::Phase;

    #[test]
    fn only_pod_count_changes_can_wait() {
        let current = RolloutStatus {
            phase: Some(Phase::Progressing),
            replicas: 3,
            ready_replicas: 2,
            available_replicas: 2,
            updated_replicas: 1,
            ..RolloutStatus::default()
        };
        assert!(
            !only_counts_differ(None, &current),
            "a first status is written"
        );
        assert!(!only_counts_differ(Some(&current), &current), "no change");
        let counts = RolloutStatus {
            ready_replicas: 3,
            available_replicas: 3,
            ..current.clone()
        };
        assert!(only_counts_differ(Some(&current), &counts));
        let counts_and_phase = RolloutStatus {
            phase: Some(Phase::Healthy),
            ..counts
        };
        assert!(!only_counts_differ(Some(&current), &counts_and_phase));
    }
}
