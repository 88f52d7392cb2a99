//! The canary algorithm of DESIGN.md, over a validated spec.
//!
//! One decision per reconcile: [`Planner::decide`] computes the [`Stage`] the Rollout is at
//! (steady, replacing a canary, starting one, running one) and matches it once; each stage
//! walks from the stored status to the first thing that must wait and returns that
//! [`RolloutState`], accumulating the effects that move the Rollout on. Desired ReplicaSet sizes
//! and Service pins are collected as targets and turned into changes only at the end
//! ([`effects`]), so a later, more specific decision (promotion pins the stable Service to the
//! canary) overrides an earlier general one; the status is built from the state
//! ([`status`], one function per condition).
//!
//! - `mod.rs`: the planner, its inputs and accumulated outputs, the stage and the decision.
//! - `stages.rs`: what each stage does (steady, replace, start, run, aborted, promoting).
//! - `steps.rs`: walking the steps: weights, canary scale, pauses, and the waits in between
//!   (canary pods, Services, the progress deadline).
//! - `effects.rs`: traffic requests and their rechecks, and the targets turned into changes.
//! - `services.rs`, `status.rs`, `spec.rs`: the Services' ownership, the status, the spec.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kulta_api::{Rollout, RolloutStatus};

mod effects;
mod services;
mod spec;
mod stages;
mod status;
mod steps;

pub(super) use spec::Spec;

use super::{
    ConsumedAnnotation, Observed, Plan, PlannedEvent, RolloutState, UserAction, action_record,
    read_actions,
};

/// `duration` after `at`, or the latest time there is when that is past it: a pause start or a
/// progress start a person wrote into status near the end of time never panics.
fn later(at: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|duration| at.checked_add_signed(duration))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Reason of the `Aborted` condition of an abort sent while a canary was being replaced: the
/// new revision starts aborted.
const ABORTED_DURING_REPLACEMENT: &str = "AbortedDuringReplacement";

/// How long to wait for a router's verification before looking again without a watch event,
/// when the router's objects are not watched (it references none, or their watch is down).
const VERIFY_RECHECK: Duration = Duration::from_secs(2);
/// The same when they are watched: a change to them wakes the Rollout, and this is only the
/// safety net of a watch that misses an event.
const VERIFY_RECHECK_WATCHED: Duration = Duration::from_secs(30);
/// How long a step waits for verification before the router's pending reason appears in the
/// status message.
const PENDING_DETAIL_AFTER: Duration = Duration::from_secs(5);

pub(super) fn plan_valid(
    rollout: &Rollout,
    spec: &Spec,
    observed: &Observed,
    now: DateTime<Utc>,
) -> Plan {
    let (actions, consume, events) = read_actions(rollout);
    let mut planner = Planner::new(rollout, spec, observed, now, consume, events);
    let state = planner.decide(&actions);
    planner.finish(state)
}

enum StepOutcome {
    Done,
    Wait(RolloutState),
}

struct Planner<'a> {
    rollout: &'a Rollout,
    spec: &'a Spec,
    observed: &'a Observed,
    now: DateTime<Utc>,
    prev: RolloutStatus,
    status: RolloutStatus,
    consume: Vec<ConsumedAnnotation>,
    events: Vec<PlannedEvent>,
    /// Desired replicas per revision hash; revisions not here are old.
    targets: BTreeMap<String, i32>,
    stable_pin: Option<String>,
    canary_pin: Option<String>,
    route_weight: Option<u8>,
    eligible_at: DateTime<Utc>,
    requeue: Option<Duration>,
    deadlines: BTreeMap<String, DateTime<Utc>>,
    deadline_exceeded: bool,
    abort_reason: Option<(&'static str, String)>,
    blockers: Vec<String>,
    /// A `kulta.io/promote=true` read in this reconcile and not used yet: it ends the first
    /// pause the walk reaches, or skips the first step that waits before its pause.
    promotion: bool,
}

/// Where a valid Rollout stands against its stable revision: computed once per reconcile
/// ([`Stage::of`]) and matched once ([`Planner::decide`]).
enum Stage {
    /// The template is the stable revision.
    Steady,
    /// A canary of an earlier template runs: traffic goes back to stable before it is replaced.
    Replacing {
        /// The earlier canary's revision.
        old: String,
    },
    /// The template has no canary yet.
    Starting,
    /// The template's canary is in progress.
    Running,
}

impl Stage {
    fn of(prev: &RolloutStatus, stable: &str, template: &str) -> Stage {
        if template == stable {
            return Stage::Steady;
        }
        match prev.canary_revision.as_deref() {
            Some(canary) if canary == template => Stage::Running,
            Some(old) if old != stable => Stage::Replacing {
                old: old.to_string(),
            },
            _ => Stage::Starting,
        }
    }
}

impl<'a> Planner<'a> {
    fn new(
        rollout: &'a Rollout,
        spec: &'a Spec,
        observed: &'a Observed,
        now: DateTime<Utc>,
        consume: Vec<ConsumedAnnotation>,
        events: Vec<PlannedEvent>,
    ) -> Self {
        let prev = rollout.status.clone().unwrap_or_default();
        Planner {
            rollout,
            spec,
            observed,
            now,
            status: prev.clone(),
            prev,
            consume,
            events,
            targets: BTreeMap::new(),
            stable_pin: None,
            canary_pin: None,
            route_weight: None,
            eligible_at: now,
            requeue: None,
            deadlines: BTreeMap::new(),
            deadline_exceeded: false,
            abort_reason: None,
            blockers: Vec::new(),
            promotion: false,
        }
    }

    fn name(&self) -> &str {
        self.rollout.metadata.name.as_deref().unwrap_or_default()
    }

    fn event(&mut self, warning: bool, reason: &'static str, note: String) {
        self.events.push(PlannedEvent {
            warning,
            reason,
            note,
        });
    }

    fn requeue_in(&mut self, after: Duration) {
        self.requeue = Some(self.requeue.map_or(after, |current| current.min(after)));
    }

    fn requeue_at(&mut self, at: DateTime<Utc>) {
        let after = at
            .signed_duration_since(self.now)
            .to_std()
            .unwrap_or(Duration::ZERO);
        // A second of slack so the timer never fires a hair before the deadline.
        self.requeue_in(after.saturating_add(Duration::from_millis(50)));
    }

    fn consumed(&self, action: UserAction) -> Option<&ConsumedAnnotation> {
        let key = match action {
            UserAction::Promote | UserAction::PromoteFull => kulta_api::labels::PROMOTE_ANNOTATION,
            UserAction::Abort => kulta_api::labels::ABORT_ANNOTATION,
            UserAction::Retry => kulta_api::labels::RETRY_ANNOTATION,
        };
        self.consume.iter().find(|c| c.key == key)
    }

    fn record(&mut self, action: UserAction, reason: &'static str, note: String) {
        let step = self.status.current_step_index;
        if let Some(consumed) = self.consumed(action) {
            self.status.last_action = Some(action_record(consumed, self.now, step));
        }
        self.event(false, reason, note);
    }

    fn ignore(&mut self, action: UserAction, why: &str) {
        let step = self.status.current_step_index;
        let Some(consumed) = self.consumed(action).cloned() else {
            return;
        };
        self.status.last_action = Some(action_record(&consumed, self.now, step));
        self.event(
            true,
            "ActionIgnored",
            format!("{}={} ignored: {why}", consumed.key, consumed.value),
        );
    }

    /// The one decision of this reconcile: the [`Stage`] the Rollout is at, computed once from
    /// its stored status, its template and its stable revision, and matched once; each stage
    /// walks on to the first thing that must wait and returns that state.
    fn decide(&mut self, actions: &[UserAction]) -> RolloutState {
        let template = self.spec.template_hash.clone();
        // A Rollout with nothing of its own yet whose Services another Rollout holds creates
        // nothing: it reports which Rollout holds them and waits.
        if self.observed.replica_sets.is_empty()
            && let Some((problem, reason)) = self
                .held_elsewhere()
                .map(|problem| (problem, "CanaryServiceNotReady"))
                .or_else(|| {
                    self.observed
                        .route_problem
                        .clone()
                        .map(|problem| (problem, "RouteNotReady"))
                })
        {
            for action in actions {
                self.ignore(*action, "this Rollout has not started");
            }
            return self.hold(None, &template, problem, reason);
        }
        let stable = self.stable_revision(&template);
        self.status.stable_revision = Some(stable.clone());
        self.targets.insert(stable.clone(), self.spec.replicas);
        if self.may_pin(&self.observed.stable_service, &stable) {
            self.stable_pin = Some(stable.clone());
        }
        match Stage::of(&self.prev, &stable, &template) {
            Stage::Steady => self.steady(&stable, actions),
            Stage::Replacing { old } => self.replace(&stable, &old, &template, actions),
            Stage::Starting => self.start(&stable, &template, actions),
            Stage::Running => self.run(&stable, &template, actions),
        }
    }

    /// The stable revision: the stored one; else (status lost, or a Rollout taking over
    /// ReplicaSets of its own) the revision the stable Service pins, which is the one serving;
    /// else, on a first deploy, the template's.
    fn stable_revision(&mut self, template: &str) -> String {
        if let Some(stable) = self.prev.stable_revision.clone() {
            return stable;
        }
        if let Some(serving) = self.inferred_stable() {
            self.event(
                false,
                "StableRevisionInferred",
                format!(
                    "status names no stable revision; revision {serving}, which Service {} selects, is stable",
                    self.spec.stable_service
                ),
            );
            return serving;
        }
        self.event(
            false,
            "RevisionDeployed",
            format!("deploying revision {template} as stable"),
        );
        template.to_string()
    }
}
