//! What each [`Stage`](super::Stage) of a canary Rollout does: steady (the template is stable),
//! replacing an earlier canary, starting the template's canary, running it; and the two ends of
//! a canary, aborted and promoting.

use super::{ABORTED_DURING_REPLACEMENT, Planner, later};
use crate::plan::conditions::{condition_types, is_true};
use crate::plan::{RolloutState, ServiceObservation, UserAction};

impl Planner<'_> {
    /// The template is the stable revision: keep it at full size with all traffic, and let a
    /// leftover canary (a rollback, or the end of an abort) go once traffic is off it.
    pub(super) fn steady(&mut self, stable: &str, actions: &[UserAction]) -> RolloutState {
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

    /// [`Stage::Replacing`]: traffic goes back to stable before the old canary is replaced, and
    /// the old canary keeps its pods until the router verified that it gets nothing; then the
    /// template starts as the canary.
    pub(super) fn replace(
        &mut self,
        stable: &str,
        old: &str,
        template: &str,
        actions: &[UserAction],
    ) -> RolloutState {
        if !self.route_to(0) {
            let replicas = self.observed.replica_set(old).map_or(0, |rs| rs.replicas);
            self.targets.insert(old.to_string(), replicas);
            self.deadline_check(old, false);
            for action in actions {
                if *action == UserAction::Abort && self.prev.aborted != Some(true) {
                    // Honoured: traffic is going back to stable anyway, and the new revision
                    // will not start once it is there.
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
            self.canary_pin = Some(old.to_string());
            return RolloutState::RoutingToStable {
                why: "the template changed",
            };
        }
        self.event(
            false,
            "CanaryReplaced",
            format!("canary {old} replaced by revision {template}"),
        );
        self.start(stable, template, actions)
    }

    /// [`Stage::Starting`]: the template becomes the canary at step 1, once the canary Service
    /// can serve it and the route is usable; then it runs.
    pub(super) fn start(
        &mut self,
        stable: &str,
        template: &str,
        actions: &[UserAction],
    ) -> RolloutState {
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
        self.run(stable, template, actions)
    }

    /// [`Stage::Running`]: the user's actions, then the steps from the current one.
    pub(super) fn run(
        &mut self,
        stable: &str,
        template: &str,
        actions: &[UserAction],
    ) -> RolloutState {
        self.canary_pin = Some(template.to_string());
        let current = self
            .observed
            .replica_set(template)
            .map_or(0, |rs| rs.replicas);
        self.targets.insert(template.to_string(), current);

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
                UserAction::Promote => self.promotion = true,
            }
        }
        if self.status.aborted == Some(true) {
            return self.aborted(template);
        }
        self.walk(template)
    }

    pub(super) fn aborted(&mut self, canary: &str) -> RolloutState {
        if self.route_to(0) {
            self.targets.insert(canary.to_string(), 0);
        }
        if self.abort_reason.is_none() && !is_true(&self.prev.conditions, condition_types::ABORTED)
        {
            self.abort_reason = Some(("Aborted", "the canary was aborted".to_string()));
        }
        RolloutState::Aborted
    }

    pub(super) fn promoting(&mut self, canary: &str) -> RolloutState {
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
}
