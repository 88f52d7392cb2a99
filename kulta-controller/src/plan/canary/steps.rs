//! Walking a canary's steps: the canary pods each step needs, weights asked for and verified,
//! pauses, and the waits in between (canary pods, the Services, the progress deadline).

use kulta_api::steps::{CanaryScale, StepAction};

use super::{Planner, StepOutcome, later};
use crate::plan::{RolloutState, UserAction, describe_actions};

impl Planner<'_> {
    /// Walks the steps from the current one to the first that waits (or past the last, to
    /// promotion). A pending promotion ([`Planner::promotion`]) ends the first pause reached,
    /// or skips the first step that waits before its pause.
    pub(super) fn walk(&mut self, canary: &str) -> RolloutState {
        let steps = self.spec.steps.len();
        let mut index = usize::try_from(self.status.current_step_index.unwrap_or(0).max(0))
            .unwrap_or(0)
            .min(steps);
        loop {
            if index >= steps {
                if std::mem::take(&mut self.promotion) {
                    self.ignore(UserAction::Promote, "every step already ran");
                }
                return self.promoting(canary);
            }
            let skipped = match self.run_step(canary, index) {
                StepOutcome::Done => false,
                StepOutcome::Wait(_) if self.promotion => {
                    self.promotion = false;
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
    pub(super) fn canary_target(&self, index: usize) -> i32 {
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

    pub(super) fn run_step(&mut self, canary: &str, index: usize) -> StepOutcome {
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
                    if std::mem::take(&mut self.promotion) {
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
    pub(super) fn await_service(
        &mut self,
        step: Option<usize>,
        canary: &str,
        problem: String,
    ) -> RolloutState {
        self.hold(step, canary, problem, "CanaryServiceNotReady")
    }

    /// Waits on `problem` (told once, as a Warning Event `reason`); the progress deadline
    /// counts.
    pub(super) fn hold(
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

    pub(super) fn await_canary(
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
    pub(super) fn progress_check(&mut self, canary: &str) {
        self.deadline_check(canary, true);
    }

    /// Checks the progress deadline; past it, aborts when `progressDeadlineAbort` is set and
    /// `may_abort` (a canary that has not started has nothing to abort).
    pub(super) fn deadline_check(&mut self, canary: &str, may_abort: bool) {
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

    pub(super) fn replicas_for_weight(&self, weight: u8) -> i32 {
        let replicas = i64::from(self.spec.replicas.max(0));
        let needed = replicas
            .saturating_mul(i64::from(weight))
            .saturating_add(99)
            .checked_div(100)
            .unwrap_or(0);
        i32::try_from(needed).unwrap_or(i32::MAX)
    }

    pub(super) fn available(&self, hash: &str) -> i32 {
        self.observed.replica_set(hash).map_or(0, |rs| rs.available)
    }

    /// The most traffic the canary may be receiving now: the weight the router verified, or the
    /// weight last requested, which the data plane may already serve before it is verified.
    pub(super) fn weight_in_effect(&self) -> u8 {
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
}
