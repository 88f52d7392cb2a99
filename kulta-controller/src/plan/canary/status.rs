//! The status the canary plan writes, built from the state it decided: the counts, the message,
//! the phase, and one function per condition.

use kulta_api::{Phase, Rollout};

use super::Planner;
use crate::plan::conditions::{condition_types, is_true, set_condition};
use crate::plan::{PlannedEvent, RolloutState, RouteObservation};

/// A condition's value: status, reason, message.
struct Value {
    status: bool,
    reason: String,
    message: String,
}

impl Value {
    fn new(status: bool, reason: &str, message: impl Into<String>) -> Self {
        Value {
            status,
            reason: reason.to_string(),
            message: message.into(),
        }
    }
}

impl Planner<'_> {
    /// Fills `self.status` for `state`, and the Events only the status shows (a traffic shift
    /// verified, the progress deadline passed).
    pub(super) fn build_status(&mut self, state: &RolloutState) {
        self.record_counts();
        let message = self.message(state);
        self.status.message = Some(message.clone());
        let aborted = matches!(state, RolloutState::Aborted) || self.status.aborted == Some(true);
        let healthy = matches!(state, RolloutState::Healthy) && self.blockers.is_empty();
        self.status.phase = Some(match state {
            RolloutState::InvalidSpec | RolloutState::Aborted => Phase::Degraded,
            _ if self.deadline_exceeded => Phase::Degraded,
            RolloutState::Paused { .. } => Phase::Paused,
            RolloutState::Healthy => Phase::Healthy,
            _ => Phase::Progressing,
        });

        let progressing = self.progressing(&message, aborted, healthy);
        if self.deadline_exceeded && !aborted && self.deadline_newly_exceeded() {
            self.events.push(PlannedEvent {
                warning: true,
                reason: "ProgressDeadlineExceeded",
                note: progressing.message.clone(),
            });
        }
        let conditions = [
            (
                condition_types::INVALID_SPEC,
                Some(Value::new(false, "SpecValid", "")),
            ),
            (
                condition_types::READY,
                Some(ready(&message, aborted, healthy)),
            ),
            (condition_types::PROGRESSING, Some(progressing)),
            (condition_types::PAUSED, Some(paused(state, &message))),
            (condition_types::TRAFFIC_ROUTED, Some(self.traffic_routed())),
            (condition_types::ABORTED, self.aborted_condition(aborted)),
        ];
        let generation = self.rollout.metadata.generation;
        for (type_, value) in conditions {
            if let Some(value) = value {
                set_condition(
                    &mut self.status.conditions,
                    type_,
                    value.status,
                    &value.reason,
                    &value.message,
                    generation,
                    self.now,
                );
            }
        }
        if let Some(event) = self.traffic_shifted() {
            // First: the verification was observed before anything this reconcile decided.
            self.events.insert(0, event);
        }
    }

    /// The observed generation, the canary weight in effect and the pod counts.
    fn record_counts(&mut self) {
        let asked_before = self.prev.desired_canary_weight;
        let status = &mut self.status;
        status.observed_generation = self.rollout.metadata.generation;
        // The router verified what was asked before this reconcile (or what it asks now): that
        // is the weight in effect, even when this reconcile asks for the next one.
        if let Some(weight) = self.observed.route.weight_in_effect()
            && (status.desired_canary_weight == Some(i32::from(weight))
                || asked_before == Some(i32::from(weight)))
        {
            status.canary_weight = Some(i32::from(weight));
        }
        let (replicas, ready, available) =
            self.observed
                .replica_sets
                .iter()
                .fold((0i32, 0i32, 0i32), |(r, re, a), rs| {
                    (
                        r.saturating_add(rs.current),
                        re.saturating_add(rs.ready),
                        a.saturating_add(rs.available),
                    )
                });
        status.replicas = replicas;
        status.ready_replicas = ready;
        status.available_replicas = available;
        status.updated_replicas = self
            .observed
            .replica_set(&self.spec.template_hash)
            .map_or(0, |rs| rs.current);
        status.selector = selector_string(self.rollout);
    }

    /// What the Rollout is doing or waiting for, in a sentence, with the router's reason and the
    /// blockers when there are.
    fn message(&self, state: &RolloutState) -> String {
        let steps = self.spec.steps.len();
        let name = self.name();
        let step_text = |step: usize| format!("step {} of {steps}", step.saturating_add(1));
        let stable = self.status.stable_revision.clone().unwrap_or_default();
        let mut message = match state {
            RolloutState::InvalidSpec => "invalid spec".to_string(),
            RolloutState::Deploying => {
                let available = self
                    .observed
                    .replica_set(&stable)
                    .map_or(0, |rs| rs.available);
                format!(
                    "deploying revision {stable}: {available}/{} pods available",
                    self.spec.replicas
                )
            }
            RolloutState::AwaitingCanary {
                step,
                needed,
                available,
            } if *step >= steps => {
                format!(
                    "promoting: waiting for the canary to have {needed} available pods ({available} now)"
                )
            }
            RolloutState::AwaitingCanary {
                step,
                needed,
                available,
            } => {
                format!(
                    "{}: waiting for the canary to have {needed} available pods ({available} now)",
                    step_text(*step)
                )
            }
            RolloutState::AwaitingService {
                step: Some(step),
                problem,
            } => format!("{}: {problem}", step_text(*step)),
            RolloutState::AwaitingService {
                step: None,
                problem,
            } => format!("revision {} waits: {problem}", self.spec.template_hash),
            RolloutState::ShiftingTraffic { step, weight } => {
                format!(
                    "{}: waiting for the router to verify canary weight {weight}",
                    step_text(*step)
                )
            }
            RolloutState::Paused {
                step,
                until: Some(until),
            } => {
                format!(
                    "{}: paused until {}",
                    step_text(*step),
                    until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )
            }
            RolloutState::Paused { step, until: None } => format!(
                "{}: paused until promoted; run: kubectl annotate rollout {name} kulta.io/promote=true",
                step_text(*step)
            ),
            RolloutState::Promoting => {
                "promoting: moving all traffic to the new revision".to_string()
            }
            RolloutState::RoutingToStable { why } => {
                format!("{why}: moving traffic back to stable before scaling the canary down")
            }
            RolloutState::Aborted => format!(
                "aborted: traffic is on stable revision {stable}; retry with kubectl annotate rollout {name} kulta.io/retry=true, or change the template"
            ),
            RolloutState::Healthy => {
                format!("revision {stable} is stable and receives all traffic")
            }
        };
        match &self.observed.route {
            RouteObservation::Pending { reason, .. }
                if (self.route_weight.is_some()
                    || matches!(state, RolloutState::ShiftingTraffic { .. }))
                    && self.pending_long_enough() =>
            {
                message.push_str(&format!(" ({reason})"));
            }
            RouteObservation::Failed { reason, .. } => {
                message.push_str(&format!(" (router error: {reason})"))
            }
            _ => {}
        }
        for blocker in &self.blockers {
            if !message.contains(blocker.as_str()) {
                message.push_str("; ");
                message.push_str(blocker);
            }
        }
        message
    }

    /// `Progressing`: the progress deadline passed, the cause of an abort, complete, or on its
    /// way.
    fn progressing(&self, message: &str, aborted: bool, healthy: bool) -> Value {
        if self.deadline_exceeded && !aborted {
            let seconds = self.spec.progress_deadline.as_secs();
            return Value::new(
                false,
                "ProgressDeadlineExceeded",
                format!("no progress in {seconds}s: {message}"),
            );
        }
        if aborted {
            // The cause of the abort: decided in this reconcile, or recorded by an earlier one.
            let recorded = self
                .prev
                .conditions
                .iter()
                .find(|c| c.type_ == condition_types::ABORTED && c.status == "True");
            let (cause, text) = match (&self.abort_reason, recorded) {
                (Some((reason, text)), _) => (*reason, text.clone()),
                (None, Some(condition)) => (condition.reason.as_str(), condition.message.clone()),
                (None, None) => ("RolloutAborted", message.to_string()),
            };
            let reason = if cause == "ProgressDeadlineExceeded" {
                "ProgressDeadlineExceeded"
            } else {
                "RolloutAborted"
            };
            return Value::new(false, reason, text);
        }
        if healthy {
            Value::new(true, "RolloutComplete", message)
        } else {
            Value::new(true, "RolloutProgressing", message)
        }
    }

    /// Whether the previous status did not show the progress deadline passed yet (its Event is
    /// published once).
    fn deadline_newly_exceeded(&self) -> bool {
        !is_true(&self.prev.conditions, condition_types::PROGRESSING)
            || !self
                .prev
                .conditions
                .iter()
                .any(|c| c.reason == "ProgressDeadlineExceeded")
    }

    /// `TrafficRouted`: what the router said about the weight this reconcile asks for or last
    /// asked for.
    fn traffic_routed(&self) -> Value {
        match (&self.observed.route, self.route_weight) {
            // Asked again while the router says why it is not there yet: once that has lasted
            // (as for the message), its reason is what a person can act on. Not before: a
            // route that is merely being taken up would cost a status write per step.
            (RouteObservation::Pending { weight, reason }, Some(requested))
                if *weight == requested && self.pending_long_enough() =>
            {
                Value::new(
                    false,
                    "VerificationPending",
                    format!("canary weight {weight}: {reason}"),
                )
            }
            (_, Some(weight)) => Value::new(
                false,
                "WeightRequested",
                format!("canary weight {weight} requested"),
            ),
            (RouteObservation::Verified(w), None) => Value::new(
                true,
                "WeightVerified",
                format!("canary weight {w} verified by the router"),
            ),
            (RouteObservation::Unsupported(w), None) => Value::new(
                true,
                "VerificationUnsupported",
                format!("canary weight {w} written; the router cannot verify it"),
            ),
            (RouteObservation::Pending { weight, reason }, None) => Value::new(
                false,
                "VerificationPending",
                format!("canary weight {weight}: {reason}"),
            ),
            (
                RouteObservation::Failed {
                    weight,
                    category,
                    reason,
                },
                None,
            ) => Value::new(
                false,
                "RouterError",
                format!("canary weight {weight}: {category}: {reason}"),
            ),
            (RouteObservation::NotRequested, None) => match &self.observed.route_problem {
                // The route cannot carry the weights as it is: that is what to fix.
                Some(problem) => Value::new(false, "RouteNotReady", problem.clone()),
                None => Value::new(false, "NotRequested", "no weight requested yet"),
            },
        }
    }

    /// `Aborted`: its cause when this reconcile aborted, false when not aborted; an abort an
    /// earlier reconcile recorded keeps its condition as it is (`None`).
    fn aborted_condition(&self, aborted: bool) -> Option<Value> {
        match (&self.abort_reason, aborted) {
            (Some((reason, text)), true) => Some(Value::new(true, reason, text.clone())),
            (None, true) => None,
            (_, false) => Some(Value::new(false, "NotAborted", "")),
        }
    }

    /// The Event of a canary weight newly verified.
    fn traffic_shifted(&self) -> Option<PlannedEvent> {
        let after = self.status.canary_weight?;
        let note = match self.prev.canary_weight {
            Some(before) if before == after => return None,
            Some(before) => format!("canary weight {after} verified (was {before})"),
            None => format!("canary weight {after} verified"),
        };
        Some(PlannedEvent {
            warning: false,
            reason: "TrafficShifted",
            note,
        })
    }
}

/// `Ready`: complete, aborted, or on its way.
fn ready(message: &str, aborted: bool, healthy: bool) -> Value {
    if healthy {
        Value::new(true, "RolloutComplete", message)
    } else if aborted {
        Value::new(false, "RolloutAborted", message)
    } else {
        Value::new(false, "RolloutInProgress", message)
    }
}

/// `Paused`: timed, until promoted, or not paused.
fn paused(state: &RolloutState, message: &str) -> Value {
    match state {
        RolloutState::Paused { until: Some(_), .. } => Value::new(true, "Timed", message),
        RolloutState::Paused { until: None, .. } => Value::new(true, "Manual", message),
        _ => Value::new(false, "NotPaused", ""),
    }
}

/// The Rollout's selector as a label-selector string, for the scale subresource.
fn selector_string(rollout: &Rollout) -> Option<String> {
    let labels = rollout.spec.selector.match_labels.as_ref()?;
    Some(
        labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}
