//! Carry a plan out and store its status: the order of effects and status write, retries on a
//! fresh read, the status of effects that could not be stored, and errors reported in status.

use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Api, PostParams};
use kube::runtime::controller::Action;
use kulta_api::{Rollout, RolloutStatus, labels};
use tracing::warn;

use super::publish;
use super::resolve::Resolved;
use crate::context::{Context, object_key};
use crate::error::{Category, Error, Result};
use crate::plan::{self, PlannedEvent, RolloutState, StatusWrite, condition_types, set_condition};
use crate::{apply, observe};

/// How many times a status that records intent is tried, each on a fresh read, re-planned.
const RECORD_ATTEMPTS: u32 = 5;

/// Writes `plan`'s status, applies its effects, then removes the action annotations it
/// consumed.
///
/// The plan says how its status is written ([`plan::Plan::status_write`]): not at all, pod
/// counts after a short wait, after the effects, or, when it records intent, retried on a
/// fresh read and stored before the effects when it raises the canary weight. The status lists
/// the actions carried out in `appliedActions` and is stored before their annotations go, so a
/// crash, a lost leadership or a failed call at any point neither loses an action nor carries
/// it out twice. Every effect is idempotent and planned again from the stored status and what
/// is observed, so the next reconcile completes whatever a failure left undone. Events are
/// published once the status is stored.
///
/// Returns the plan carried out, and how long pod counts may still wait when only they changed
/// (nothing written).
pub(super) async fn carry_out(
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
        let write = plan.status_write(base.status.as_ref(), ctx.is_unstored(&base));
        if !write.before_effects() && !applied && plan.state != RolloutState::InvalidSpec {
            apply::apply(ctx, &base, &plan, &observed, router, target).await?;
            applied = true;
        }
        match write {
            StatusWrite::Unchanged => break None,
            StatusWrite::Counts => {
                if let Some(wait) = ctx.counts.wait(&object_key(&base)) {
                    break Some(wait);
                }
            }
            StatusWrite::AfterEffects | StatusWrite::Record { .. } => {}
        }
        let written = write_status(ctx, api, &base, &plan.status).await;
        if written.is_err() && applied {
            ctx.remember_unstored(&base, &plan.status);
        }
        match written {
            Ok(()) => break None,
            Err(error) if write.records_intent() && attempt < RECORD_ATTEMPTS => {
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

/// Writes `status` when it differs from the Rollout's. A PUT on the status subresource with the
/// Rollout's resourceVersion: a status planned from a stale view is refused (409) instead of
/// overwriting a newer one.
pub(super) async fn write_status(
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
pub(super) async fn report_error(
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
