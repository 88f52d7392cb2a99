//! The canary algorithm of DESIGN.md, over a validated spec.
//!
//! One decision per reconcile: [`Planner::decide`] walks from the stored status to the first
//! thing that must wait, accumulating the effects that move the Rollout on. Desired ReplicaSet
//! sizes and Service pins are collected as targets and turned into changes only at the end, so
//! a later, more specific decision (promotion pins the stable Service to the canary) overrides
//! an earlier general one.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kulta_api::steps::{CanaryScale, StepAction};
use kulta_api::{Rollout, RolloutStatus};

mod services;
mod spec;
mod status;

use services::service_ownership_problem;
pub(super) use spec::Spec;

use super::conditions::{condition_types, is_true};
use super::{
    ConsumedAnnotation, Observed, Plan, PlannedEvent, ReplicaSetChange, RolloutState,
    ServiceObservation, ServicePin, UserAction, action_record, describe_actions, read_actions,
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

    /// Asks for canary weight `weight` unless the router already confirmed it. Returns whether
    /// traffic is known to be there.
    fn route_to(&mut self, weight: u8) -> bool {
        if self.observed.route.is_at(weight)
            && self.prev.desired_canary_weight == Some(i32::from(weight))
        {
            return true;
        }
        self.route_weight = Some(weight);
        self.status.desired_canary_weight = Some(i32::from(weight));
        self.recheck_verification();
        false
    }

    /// Looks again at a pending verification even if no watch event comes: a router whose
    /// objects are not watched must not leave the Rollout waiting for the resync (the echo of
    /// our own status write wakes nothing). When they are watched their change wakes it, and
    /// the timers left are the safety net and the moment the pending reason is due in the
    /// message.
    fn recheck_verification(&mut self) {
        if !self.observed.route_watched {
            self.requeue_in(VERIFY_RECHECK);
            return;
        }
        self.requeue_in(VERIFY_RECHECK_WATCHED);
        if let Some(start) = self.status.progress_start_time
            && !self.pending_long_enough()
        {
            let due = chrono::Duration::from_std(PENDING_DETAIL_AFTER)
                .ok()
                .and_then(|after| start.checked_add_signed(after));
            if let Some(due) = due {
                self.requeue_at(due);
            }
        }
    }

    /// Whether a pending verification's reason belongs in the message. Right after a weight
    /// is written the gateway has not observed it yet, always: naming that in the message would
    /// cost a status write per step for nothing a person can act on. Once the step has waited
    /// [`PENDING_DETAIL_AFTER`], the reason is shown (the recheck writes it).
    fn pending_long_enough(&self) -> bool {
        self.status.progress_start_time.is_none_or(|start| {
            self.now.signed_duration_since(start)
                >= chrono::Duration::from_std(PENDING_DETAIL_AFTER).unwrap_or(chrono::Duration::MAX)
        })
    }

    fn replicas_for_weight(&self, weight: u8) -> i32 {
        let replicas = i64::from(self.spec.replicas.max(0));
        let needed = replicas
            .saturating_mul(i64::from(weight))
            .saturating_add(99)
            .checked_div(100)
            .unwrap_or(0);
        i32::try_from(needed).unwrap_or(i32::MAX)
    }

    fn available(&self, hash: &str) -> i32 {
        self.observed.replica_set(hash).map_or(0, |rs| rs.available)
    }

    /// The most traffic the canary may be receiving now: the weight the router verified, or the
    /// weight last requested, which the data plane may already serve before it is verified.
    fn weight_in_effect(&self) -> u8 {
        let verified = self
            .observed
            .route
            .weight_in_effect()
            .or_else(|| self.prev.canary_weight.and_then(|w| u8::try_from(w).ok()))
            .unwrap_or(0);
        let requested = self
            .prev
            .desired_canary_weight
            .and_then(|w| u8::try_from(w).ok())
            .unwrap_or(0);
        verified.max(requested)
    }

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
        let stable = match (self.prev.stable_revision.clone(), self.inferred_stable()) {
            (Some(stable), _) => stable,
            (None, Some(serving)) => {
                // Status lost (or a Rollout taking over ReplicaSets of its own): the revision
                // the stable Service pins is the one serving, not the template.
                self.event(
                    false,
                    "StableRevisionInferred",
                    format!(
                        "status names no stable revision; revision {serving}, which Service {} selects, is stable",
                        self.spec.stable_service
                    ),
                );
                serving
            }
            (None, None) => {
                self.event(
                    false,
                    "RevisionDeployed",
                    format!("deploying revision {template} as stable"),
                );
                template.clone()
            }
        };
        self.status.stable_revision = Some(stable.clone());
        self.targets.insert(stable.clone(), self.spec.replicas);
        if self.may_pin(&self.observed.stable_service, &stable) {
            self.stable_pin = Some(stable.clone());
        }
        if template == stable {
            self.steady(&stable, actions)
        } else {
            self.canary(&stable, &template, actions)
        }
    }

    /// The template is the stable revision: keep it at full size with all traffic, and let a
    /// leftover canary (a rollback, or the end of an abort) go once traffic is off it.
    fn steady(&mut self, stable: &str, actions: &[UserAction]) -> RolloutState {
        for action in actions {
            self.ignore(*action, "no canary is in progress");
        }
        let old_canary = self.prev.canary_revision.clone().filter(|c| c != stable);
        let routed = self.route_to(0);
        if let Some(canary) = old_canary {
            if !routed {
                // Traffic first: the canary keeps its pods and its Service until the router
                // verified that it gets nothing.
                let replicas = self
                    .observed
                    .replica_set(&canary)
                    .map_or(0, |rs| rs.replicas);
                self.targets.insert(canary.clone(), replicas);
                self.deadline_check(&canary, false);
                self.canary_pin = Some(canary);
                return RolloutState::RoutingToStable {
                    why: "rollback to the stable template",
                };
            }
            if self.prev.aborted != Some(true) {
                self.event(
                    false,
                    "RolledBack",
                    format!(
                        "template is back to stable revision {stable}; canary {canary} scaled down"
                    ),
                );
            }
        }
        self.status.canary_revision = None;
        self.status.aborted = None;
        self.status.current_step_index =
            Some(i32::try_from(self.spec.steps.len()).unwrap_or(i32::MAX));
        self.status.pause_start_time = None;
        if self.may_pin(&self.observed.canary_service, stable) {
            self.canary_pin = Some(stable.to_string());
        }
        let available = self.available(stable);
        // The stable pin is part of this plan, and apply makes it before the status is written
        // (a failed pin fails the reconcile): an existing Service counts as pinned.
        let pinned = self.observed.stable_service != ServiceObservation::Missing;
        if routed && available >= self.spec.replicas && pinned {
            self.status.progress_start_time = None;
            RolloutState::Healthy
        } else {
            // Deploying counts against the progress deadline too (pods that never come up, a
            // route that never verifies); there is no canary to abort.
            self.deadline_check(stable, false);
            RolloutState::Deploying
        }
    }

    fn canary(&mut self, stable: &str, template: &str, actions: &[UserAction]) -> RolloutState {
        if self.prev.canary_revision.as_deref() != Some(template) {
            if let Some(old) = self.prev.canary_revision.clone().filter(|c| c != stable) {
                if !self.route_to(0) {
                    let replicas = self.observed.replica_set(&old).map_or(0, |rs| rs.replicas);
                    self.targets.insert(old.clone(), replicas);
                    self.deadline_check(&old, false);
                    for action in actions {
                        if *action == UserAction::Abort && self.prev.aborted != Some(true) {
                            // Honoured: traffic is going back to stable anyway, and the new
                            // revision will not start once it is there.
                            self.status.aborted = Some(true);
                            let note = format!(
                                "aborted while canary {old} was being replaced: traffic goes back to stable, and revision {template} will not start; retry it, or change the template"
                            );
                            self.abort_reason = Some((ABORTED_DURING_REPLACEMENT, note.clone()));
                            self.record(*action, "Aborted", note);
                        } else {
                            self.ignore(*action, "the canary is being replaced by a new revision");
                        }
                    }
                    self.canary_pin = Some(old);
                    return RolloutState::RoutingToStable {
                        why: "the template changed",
                    };
                }
                self.event(
                    false,
                    "CanaryReplaced",
                    format!("canary {old} replaced by revision {template}"),
                );
            }
            if let Some(problem) = self.canary_service_problem() {
                return self.await_service(None, template, problem);
            }
            if let Some(problem) = self.observed.route_problem.clone() {
                return self.hold(None, template, problem, "RouteNotReady");
            }
            // An abort sent while the old canary was being replaced holds the new revision.
            let carried = self.prev.aborted == Some(true)
                && self.prev.conditions.iter().any(|c| {
                    c.type_ == condition_types::ABORTED
                        && c.status == "True"
                        && c.reason == ABORTED_DURING_REPLACEMENT
                });
            self.status.canary_revision = Some(template.to_string());
            self.status.current_step_index = Some(0);
            self.status.pause_start_time = None;
            self.status.progress_start_time = Some(self.now);
            self.status.aborted = carried.then_some(true);
            let steps = self.spec.steps.len();
            self.event(
                false,
                "CanaryStarted",
                format!("revision {template} started as canary ({steps} steps)"),
            );
        }
        self.canary_pin = Some(template.to_string());
        let current = self
            .observed
            .replica_set(template)
            .map_or(0, |rs| rs.replicas);
        self.targets.insert(template.to_string(), current);

        let mut promote = false;
        let steps = self.spec.steps.len();
        for action in actions {
            let aborted = self.status.aborted == Some(true);
            match action {
                UserAction::Abort if !aborted => {
                    self.status.aborted = Some(true);
                    self.abort_reason = Some((
                        "AbortedByUser",
                        "aborted with kulta.io/abort=true".to_string(),
                    ));
                    self.record(
                        *action,
                        "Aborted",
                        format!(
                            "canary {template} aborted; routing all traffic to stable {stable}"
                        ),
                    );
                }
                UserAction::Abort => self.ignore(*action, "the canary is already aborted"),
                UserAction::Retry if aborted => {
                    self.status.aborted = None;
                    self.status.current_step_index = Some(0);
                    self.status.pause_start_time = None;
                    self.status.progress_start_time = Some(self.now);
                    self.record(
                        *action,
                        "Retried",
                        format!("canary {template} restarted from step 1"),
                    );
                }
                UserAction::Retry => self.ignore(*action, "the canary is not aborted"),
                UserAction::Promote | UserAction::PromoteFull if aborted => {
                    self.ignore(*action, "the canary is aborted; retry it first")
                }
                UserAction::PromoteFull => {
                    self.status.current_step_index = Some(i32::try_from(steps).unwrap_or(i32::MAX));
                    self.status.pause_start_time = None;
                    self.status.progress_start_time = Some(self.now);
                    self.record(
                        *action,
                        "PromotedFull",
                        format!("canary {template} promoted past every remaining step"),
                    );
                }
                UserAction::Promote => promote = true,
            }
        }
        if self.status.aborted == Some(true) {
            return self.aborted(template);
        }
        self.walk(template, promote)
    }

    fn aborted(&mut self, canary: &str) -> RolloutState {
        if self.route_to(0) {
            self.targets.insert(canary.to_string(), 0);
        }
        if self.abort_reason.is_none() && !is_true(&self.prev.conditions, condition_types::ABORTED)
        {
            self.abort_reason = Some(("Aborted", "the canary was aborted".to_string()));
        }
        RolloutState::Aborted
    }

    fn walk(&mut self, canary: &str, mut promote: bool) -> RolloutState {
        let steps = self.spec.steps.len();
        let mut index = usize::try_from(self.status.current_step_index.unwrap_or(0).max(0))
            .unwrap_or(0)
            .min(steps);
        loop {
            if index >= steps {
                if promote {
                    self.ignore(UserAction::Promote, "every step already ran");
                }
                return self.promoting(canary);
            }
            let outcome = self.run_step(canary, index, &mut promote);
            let skipped = match outcome {
                StepOutcome::Done => false,
                StepOutcome::Wait(_) if promote => {
                    promote = false;
                    self.record(
                        UserAction::Promote,
                        "Promoted",
                        format!(
                            "step {} of {steps} skipped by promotion",
                            index.saturating_add(1)
                        ),
                    );
                    true
                }
                StepOutcome::Wait(state) => return state,
            };
            if !skipped {
                let description = describe_actions(&self.spec.steps[index]);
                self.event(
                    false,
                    "StepCompleted",
                    format!(
                        "step {} of {steps} completed: {description}",
                        index.saturating_add(1)
                    ),
                );
            }
            index = index.saturating_add(1);
            self.status.current_step_index = Some(i32::try_from(index).unwrap_or(i32::MAX));
            self.status.pause_start_time = None;
            self.status.progress_start_time = Some(self.now);
        }
    }

    /// Canary pods step `index` wants: from its weight or an explicit `setCanaryScale`, and
    /// never fewer than the traffic it already receives needs.
    fn canary_target(&self, index: usize) -> i32 {
        let mut weight = 0u8;
        let mut scale: Option<&CanaryScale> = None;
        for action in self
            .spec
            .steps
            .iter()
            .take(index.saturating_add(1))
            .flatten()
        {
            match action {
                StepAction::SetWeight(w) => weight = *w,
                StepAction::SetCanaryScale(CanaryScale::MatchTrafficWeight) => scale = None,
                StepAction::SetCanaryScale(s) => scale = Some(s),
                StepAction::Pause(_) => {}
            }
        }
        let base = match scale {
            Some(CanaryScale::Replicas(n)) => *n,
            Some(CanaryScale::Weight(w)) => self.replicas_for_weight(*w),
            Some(CanaryScale::MatchTrafficWeight) | None => self.replicas_for_weight(weight),
        };
        base.max(self.replicas_for_weight(self.weight_in_effect()))
    }

    fn run_step(&mut self, canary: &str, index: usize, promote: &mut bool) -> StepOutcome {
        let target = self.canary_target(index);
        self.targets.insert(canary.to_string(), target);
        let available = self.available(canary);
        let actions = self.spec.steps[index].clone();
        for action in actions {
            match action {
                StepAction::SetWeight(weight) => {
                    if weight > 0
                        && let Some(problem) = self.canary_service_problem()
                    {
                        let state = self.await_service(Some(index), canary, problem);
                        return StepOutcome::Wait(state);
                    }
                    if available < target {
                        return self.await_canary(canary, index, target, available);
                    }
                    if !self.route_to(weight) {
                        self.progress_check(canary);
                        if self.status.aborted == Some(true) {
                            return StepOutcome::Wait(self.aborted(canary));
                        }
                        self.recheck_verification();
                        return StepOutcome::Wait(RolloutState::ShiftingTraffic {
                            step: index,
                            weight,
                        });
                    }
                }
                StepAction::SetCanaryScale(_) => {
                    if available < target {
                        return self.await_canary(canary, index, target, available);
                    }
                }
                StepAction::Pause(duration) => {
                    if *promote {
                        *promote = false;
                        let steps = self.spec.steps.len();
                        self.record(
                            UserAction::Promote,
                            "Promoted",
                            format!(
                                "pause at step {} of {steps} ended by promotion",
                                index.saturating_add(1)
                            ),
                        );
                        continue;
                    }
                    let start = self.status.pause_start_time.unwrap_or(self.now);
                    if self.status.pause_start_time.is_none() {
                        let how = duration.map_or("until promoted".to_string(), |d| {
                            format!("for {}", kulta_api::duration::format_duration(d))
                        });
                        self.event(
                            false,
                            "Paused",
                            format!("paused at step {} {how}", index.saturating_add(1)),
                        );
                    }
                    self.status.pause_start_time = Some(start);
                    match duration {
                        Some(duration) => {
                            let until = later(start, duration);
                            if self.now >= until {
                                self.eligible_at = until;
                                continue;
                            }
                            self.requeue_at(until);
                            return StepOutcome::Wait(RolloutState::Paused {
                                step: index,
                                until: Some(until),
                            });
                        }
                        None => {
                            return StepOutcome::Wait(RolloutState::Paused {
                                step: index,
                                until: None,
                            });
                        }
                    }
                }
            }
        }
        StepOutcome::Done
    }

    /// Waits for the canary Service (see [`Planner::canary_service_problem`]); the progress
    /// deadline counts.
    fn await_service(
        &mut self,
        step: Option<usize>,
        canary: &str,
        problem: String,
    ) -> RolloutState {
        self.hold(step, canary, problem, "CanaryServiceNotReady")
    }

    /// Waits on `problem` (told once, as a Warning Event `reason`); the progress deadline
    /// counts.
    fn hold(
        &mut self,
        step: Option<usize>,
        canary: &str,
        problem: String,
        reason: &'static str,
    ) -> RolloutState {
        let first = !self
            .prev
            .message
            .as_deref()
            .is_some_and(|message| message.contains(&problem));
        if first {
            self.event(true, reason, problem.clone());
        }
        self.deadline_check(canary, step.is_some());
        if self.status.aborted == Some(true) {
            return self.aborted(canary);
        }
        RolloutState::AwaitingService { step, problem }
    }

    fn await_canary(
        &mut self,
        canary: &str,
        index: usize,
        needed: i32,
        available: i32,
    ) -> StepOutcome {
        self.progress_check(canary);
        if self.status.aborted == Some(true) {
            return StepOutcome::Wait(self.aborted(canary));
        }
        StepOutcome::Wait(RolloutState::AwaitingCanary {
            step: index,
            needed,
            available,
        })
    }

    /// Checks the progress deadline while the rollout waits on the canary or the router.
    fn progress_check(&mut self, canary: &str) {
        self.deadline_check(canary, true);
    }

    /// Checks the progress deadline; past it, aborts when `progressDeadlineAbort` is set and
    /// `may_abort` (a canary that has not started has nothing to abort).
    fn deadline_check(&mut self, canary: &str, may_abort: bool) {
        let start = self.status.progress_start_time.unwrap_or(self.now);
        self.status.progress_start_time = Some(start);
        let deadline = later(start, self.spec.progress_deadline);
        if self.now < deadline {
            self.requeue_at(deadline);
            return;
        }
        self.deadline_exceeded = true;
        if self.spec.progress_deadline_abort && may_abort {
            self.status.aborted = Some(true);
            let seconds = self.spec.progress_deadline.as_secs();
            let message = format!(
                "canary {canary} made no progress in {seconds}s; aborted (progressDeadlineAbort)"
            );
            self.abort_reason = Some(("ProgressDeadlineExceeded", message.clone()));
            self.event(true, "Aborted", message);
        }
    }

    fn promoting(&mut self, canary: &str) -> RolloutState {
        let replicas = self.spec.replicas;
        self.targets.insert(canary.to_string(), replicas);
        let available = self.available(canary);
        if available < replicas {
            self.progress_check(canary);
            if self.status.aborted == Some(true) {
                return self.aborted(canary);
            }
            let steps = self.spec.steps.len();
            return RolloutState::AwaitingCanary {
                step: steps,
                needed: replicas,
                available,
            };
        }
        // The stable Service now selects the canary's pods, which are all available; then the
        // route sends everything to the stable Service. Both in one reconcile: apply pins
        // Services before it writes the route, and writes no route when the pin fails. A
        // stable Service that does not exist cannot be pinned, so no traffic is sent to it.
        self.stable_pin = Some(canary.to_string());
        if self.observed.stable_service == ServiceObservation::Missing {
            self.deadline_check(canary, false);
            return RolloutState::Promoting;
        }
        if !self.route_to(0) {
            self.recheck_verification();
            // The canary is whole and the stable Service selects it: nothing to abort, but a
            // route that never verifies is reported at the deadline.
            self.deadline_check(canary, false);
            return RolloutState::Promoting;
        }
        let old_stable = self.status.stable_revision.clone().unwrap_or_default();
        if old_stable != canary {
            let delay = self.spec.scale_down_delay;
            if delay.is_zero() {
                self.targets.remove(&old_stable);
            } else {
                let at = later(self.now, delay);
                self.deadlines.insert(old_stable.clone(), at);
                let replicas = self
                    .observed
                    .replica_set(&old_stable)
                    .map_or(0, |rs| rs.replicas);
                self.targets.insert(old_stable.clone(), replicas);
            }
        }
        self.status.stable_revision = Some(canary.to_string());
        self.status.canary_revision = None;
        self.status.pause_start_time = None;
        self.status.progress_start_time = None;
        self.targets.insert(canary.to_string(), replicas);
        self.canary_pin = Some(canary.to_string());
        self.event(
            false,
            "RolloutCompleted",
            format!("revision {canary} is now stable and receives all traffic"),
        );
        RolloutState::Healthy
    }

    /// Turns the targets into changes, settles old ReplicaSets, and builds the status.
    fn finish(mut self, state: RolloutState) -> Plan {
        let mut changes = Vec::new();
        let next_revision = self
            .observed
            .replica_sets
            .iter()
            .map(|rs| rs.revision)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        for (hash, replicas) in &self.targets {
            match self.observed.replica_set(hash) {
                // Nothing to run yet: the ReplicaSet is created once it has pods to run.
                None if *replicas == 0 => {}
                None => changes.push(ReplicaSetChange::Create {
                    hash: hash.clone(),
                    replicas: *replicas,
                    revision: next_revision,
                }),
                Some(rs) if rs.replicas != *replicas => changes.push(ReplicaSetChange::Scale {
                    name: rs.name.clone(),
                    replicas: *replicas,
                }),
                Some(_) => {}
            }
        }
        let deadlines = std::mem::take(&mut self.deadlines);
        for (hash, at) in &deadlines {
            if let Some(rs) = self.observed.replica_set(hash) {
                changes.push(ReplicaSetChange::ScaleDownDeadline {
                    name: rs.name.clone(),
                    at: Some(*at),
                });
                // Nothing else may wake this Rollout before the deadline.
                self.requeue_at(*at);
            }
        }
        self.settle_old(&mut changes);

        let mut services = Vec::new();
        let pins = [
            (
                self.spec.stable_service.clone(),
                self.stable_pin.clone(),
                &self.observed.stable_service,
                &self.observed.stable_record,
            ),
            (
                self.spec.canary_service.clone(),
                self.canary_pin.clone(),
                &self.observed.canary_service,
                &self.observed.canary_record,
            ),
        ];
        let name = self.name().to_string();
        for (service, pin, observed, record) in pins {
            if *observed == ServiceObservation::Missing {
                self.blockers
                    .push(format!("Service {service} not found; create it"));
                continue;
            }
            if let Some(problem) = service_ownership_problem(&name, &service, observed, record) {
                let told = self
                    .prev
                    .message
                    .as_deref()
                    .is_some_and(|message| message.contains(&problem))
                    || self.events.iter().any(|event| event.note == problem);
                if !told {
                    self.event(true, "ServiceConflict", problem.clone());
                }
                self.blockers.push(problem);
                continue;
            }
            match pin {
                Some(hash)
                    if !observed.selects(&hash)
                        || record.claimed_by.as_deref() != Some(name.as_str())
                        || record.pinned.as_deref() != Some(hash.as_str()) =>
                {
                    services.push(ServicePin {
                        service,
                        hash,
                        rollout: name.clone(),
                        claim_version: record
                            .claimed_by
                            .is_none()
                            .then(|| record.resource_version.clone())
                            .flatten(),
                    });
                }
                _ => {}
            }
        }
        self.build_status(&state);
        Plan {
            state,
            consume: self.consume,
            replica_sets: changes,
            services,
            route_weight: self.route_weight,
            route_eligible_at: self.route_weight.map(|_| self.eligible_at),
            status: self.status,
            events: self.events,
            requeue_after: self.requeue,
        }
    }

    /// Old revisions: scaled to zero once their deadline passed, deleted beyond the history
    /// limit (oldest first).
    fn settle_old(&mut self, changes: &mut Vec<ReplicaSetChange>) {
        let mut idle = Vec::new();
        for rs in &self.observed.replica_sets {
            if self.targets.contains_key(&rs.hash) {
                continue;
            }
            if rs.replicas > 0 {
                match rs.scale_down_deadline {
                    Some(at) if at > self.now => {
                        let after = at
                            .signed_duration_since(self.now)
                            .to_std()
                            .unwrap_or(Duration::ZERO);
                        self.requeue = Some(
                            self.requeue
                                .map_or(after, |c| c.min(after))
                                .saturating_add(Duration::from_millis(50)),
                        );
                        continue;
                    }
                    _ => {
                        changes.push(ReplicaSetChange::Scale {
                            name: rs.name.clone(),
                            replicas: 0,
                        });
                        if rs.scale_down_deadline.is_some() {
                            changes.push(ReplicaSetChange::ScaleDownDeadline {
                                name: rs.name.clone(),
                                at: None,
                            });
                        }
                    }
                }
            }
            idle.push(rs);
        }
        idle.sort_by_key(|rs| std::cmp::Reverse(rs.revision));
        for rs in idle.into_iter().skip(self.spec.history_limit) {
            changes.push(ReplicaSetChange::Delete {
                name: rs.name.clone(),
            });
        }
    }
}
