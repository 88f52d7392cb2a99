//! The plan: a pure function from a Rollout, what was observed of the cluster and the current
//! time to what to do next.
//!
//! This is the middle of the reconcile pipeline (observe → **plan** → apply → status). It has no
//! client and no clock: `now` is an argument, so every transition is tested with plain
//! `#[test]`s. The result is a [`Plan`]: the named [`RolloutState`] the Rollout is in, the
//! effects that move it on (ReplicaSets, Service pins, one route weight, annotations to
//! consume), the status to write and when to look again. [`crate::apply`] carries the effects
//! out in a safe order.
//!
//! # Guarantees
//! - Traffic never moves to a canary that is not available: a weight is only requested once
//!   the canary has the pods that weight needs.
//! - A step advances only after the router verified its weight.
//! - Traffic first: a canary (aborted, replaced or rolled back) is scaled down only after the
//!   router verified 0% canary weight.

mod actions;
mod canary;
mod conditions;
mod observed;

pub use actions::{ConsumedAnnotation, UserAction, read_actions, record_id};
pub(crate) use actions::{action_record, record_applied_actions};
pub use conditions::{condition_types, set_condition};
pub use observed::{
    Observed, ObservedReplicaSet, RouteObservation, ServiceObservation, ServiceRecord,
};

use std::time::Duration;

use chrono::{DateTime, Utc};
use kulta_api::steps::StepAction;
use kulta_api::validation::FieldError;
use kulta_api::{Rollout, RolloutStatus};

/// The state a Rollout is in after planning: the one name for "what we are doing or waiting
/// for". Logged, shown in status messages, and asserted by tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RolloutState {
    /// The spec is invalid; nothing is touched until it changes.
    InvalidSpec,
    /// The stable revision is being created or scaled up (first deploy, or steady state
    /// recovering).
    Deploying,
    /// Waiting for the canary to have the available pods the current step needs.
    AwaitingCanary {
        /// Index of the spec step.
        step: usize,
        /// Available canary pods needed.
        needed: i32,
        /// Available canary pods now.
        available: i32,
    },
    /// The canary Service cannot serve the canary (missing, or selecting pods the template
    /// does not make): no canary starts and no canary weight is asked for until it can.
    AwaitingService {
        /// Index of the spec step (`None` before the canary started).
        step: Option<usize>,
        /// What is wrong, for a person.
        problem: String,
    },
    /// A canary weight was requested and the router has not verified it yet.
    ShiftingTraffic {
        /// Index of the spec step.
        step: usize,
        /// Requested canary weight.
        weight: u8,
    },
    /// At a pause step; `until` is `None` for a pause that waits for promotion.
    Paused {
        /// Index of the spec step.
        step: usize,
        /// When the pause ends.
        until: Option<DateTime<Utc>>,
    },
    /// Every step ran: the canary scales to full size and becomes stable.
    Promoting,
    /// Traffic goes back to stable before a canary is replaced or rolled back.
    RoutingToStable {
        /// Why: "the template changed" or "rollback to the stable template".
        why: &'static str,
    },
    /// The canary was aborted; traffic is on stable. Waits for a retry or a new revision.
    Aborted,
    /// The latest revision is stable, available, and carries all traffic.
    Healthy,
}

/// A change to one ReplicaSet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicaSetChange {
    /// Create the ReplicaSet of revision `hash`.
    Create {
        /// Revision hash of the pod template.
        hash: String,
        /// Replicas to create it with.
        replicas: i32,
        /// Rollout revision number.
        revision: i64,
    },
    /// Set `spec.replicas`.
    Scale {
        /// ReplicaSet name.
        name: String,
        /// New replica count.
        replicas: i32,
    },
    /// Set (or, with `None`, clear) the scale-down deadline annotation.
    ScaleDownDeadline {
        /// ReplicaSet name.
        name: String,
        /// When it is scaled to zero.
        at: Option<DateTime<Utc>>,
    },
    /// Delete a ReplicaSet beyond the revision history limit.
    Delete {
        /// ReplicaSet name.
        name: String,
    },
}

impl ReplicaSetChange {
    /// Whether this change can take capacity away (scale-down or delete); these run after the
    /// route is written.
    pub fn removes_capacity(&self, observed: &Observed) -> bool {
        match self {
            ReplicaSetChange::Create { .. } | ReplicaSetChange::ScaleDownDeadline { .. } => false,
            ReplicaSetChange::Delete { .. } => true,
            ReplicaSetChange::Scale { name, replicas } => observed
                .replica_sets
                .iter()
                .find(|rs| &rs.name == name)
                .is_some_and(|rs| *replicas < rs.replicas),
        }
    }
}

/// Pin a Service's selector to one revision, recording the claim and the revision on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePin {
    /// Service name.
    pub service: String,
    /// Revision hash its selector must carry.
    pub hash: String,
    /// The Rollout claiming it.
    pub rollout: String,
    /// For a first claim, the Service's resourceVersion: the pin is refused (409) if another
    /// writer, such as another Rollout claiming it, came first.
    pub claim_version: Option<String>,
}

/// A Kubernetes Event the plan wants recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedEvent {
    /// `Warning` rather than `Normal`.
    pub warning: bool,
    /// PascalCase reason.
    pub reason: &'static str,
    /// What happened, for a person.
    pub note: String,
}

/// Everything one reconcile should do, in data.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Where the Rollout stands.
    pub state: RolloutState,
    /// Annotations to remove (consumed user actions). Removed last, after the status that
    /// records them in `appliedActions` is stored, so that an action is neither lost nor
    /// carried out twice.
    pub consume: Vec<ConsumedAnnotation>,
    /// ReplicaSet changes.
    pub replica_sets: Vec<ReplicaSetChange>,
    /// Service selector pins.
    pub services: Vec<ServicePin>,
    /// Canary weight to ask the router for.
    pub route_weight: Option<u8>,
    /// When the step that asks for `route_weight` became eligible: the end of a timed pause, or
    /// now (a promotion, or the canary becoming available, seen in this reconcile).
    pub route_eligible_at: Option<DateTime<Utc>>,
    /// The status to write (written only when it differs from the current one).
    pub status: RolloutStatus,
    /// Events to record.
    pub events: Vec<PlannedEvent>,
    /// When to reconcile again even if nothing changes.
    pub requeue_after: Option<Duration>,
}

impl Plan {
    /// Whether the plan asks the router for more canary traffic than `current` (the status it
    /// was planned from) asked for. Such a plan stores its status before the route is written,
    /// any other after its effects: either way the stored `desiredCanaryWeight` is never below
    /// a weight the route may carry, which is what the planner counts on when it scales the
    /// canary down.
    pub fn raises_weight(&self, current: Option<&RolloutStatus>) -> bool {
        let asked = current.and_then(|s| s.desired_canary_weight).unwrap_or(0);
        self.route_weight
            .is_some_and(|weight| i32::from(weight) > asked)
    }

    /// How this plan's status is to be written, given `current`, the status it was planned
    /// from; `unstored` when that status is this controller's own that the API server does not
    /// hold (effects carried out, status write failed: see `Context::remember_unstored`).
    pub fn status_write(&self, current: Option<&RolloutStatus>, unstored: bool) -> StatusWrite {
        let records_intent = !self.consume.is_empty() || self.route_weight.is_some();
        if records_intent {
            return StatusWrite::Record {
                before_effects: self.raises_weight(current),
            };
        }
        if current == Some(&self.status) && !unstored {
            return StatusWrite::Unchanged;
        }
        if self.events.is_empty() && !unstored && only_counts_differ(current, &self.status) {
            return StatusWrite::Counts;
        }
        StatusWrite::AfterEffects
    }

    /// Whether the plan changes nothing in the cluster besides, possibly, status.
    pub fn is_quiet(&self) -> bool {
        self.consume.is_empty()
            && self.replica_sets.is_empty()
            && self.services.is_empty()
            && self.route_weight.is_none()
    }
}

/// How a plan's status reaches the API server ([`Plan::status_write`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusWrite {
    /// The planned status is the stored one: nothing to write.
    Unchanged,
    /// Only pod counts differ: they may wait up to `PendingCounts::DELAY`, to be written with
    /// the next other change when one comes sooner (pods come and go one at a time).
    Counts,
    /// Written after the effects; a failed write fails the reconcile, which is retried.
    AfterEffects,
    /// The status records intent (actions carried out, a weight requested): a failed write is
    /// tried again on a fresh read of the Rollout, planned again with this status as its own,
    /// so that nothing a person did in between is overwritten. With `before_effects` (the plan
    /// raises the canary weight) it is stored before any effect: the stored
    /// `desiredCanaryWeight` never understates what the route may carry, which the planner
    /// counts on before it scales a canary down.
    Record {
        /// Stored before the effects are carried out.
        before_effects: bool,
    },
}

impl StatusWrite {
    /// Whether the effects are carried out only once the status is stored.
    pub fn before_effects(self) -> bool {
        matches!(
            self,
            StatusWrite::Record {
                before_effects: true
            }
        )
    }

    /// Whether a failed write is tried again on a fresh read, planned again.
    pub fn records_intent(self) -> bool {
        matches!(self, StatusWrite::Record { .. })
    }
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

/// Plans one reconcile of `rollout`. Pure: same inputs, same plan.
pub fn plan(rollout: &Rollout, observed: &Observed, now: DateTime<Utc>) -> Plan {
    let mut plan = match kulta_api::validation::validate(rollout)
        .and_then(|()| Strategy::read(rollout).map_err(|error| vec![error]))
    {
        Err(errors) => invalid_spec_plan(rollout, &errors, now),
        Ok(Strategy::Canary(spec)) => canary::plan_valid(rollout, &spec, observed, now),
    };
    record_applied_actions(rollout, &mut plan, now);
    plan
}

/// The strategy of a valid Rollout, read from its spec once per plan: each is planned by its
/// own module (its own stages and steps), and they share the [`Plan`] that `apply.rs` carries
/// out, the user actions and the write-ahead record of this module.
enum Strategy {
    /// `spec.strategy.canary` ([`canary`]).
    Canary(canary::Spec),
}

impl Strategy {
    fn read(rollout: &Rollout) -> Result<Strategy, FieldError> {
        canary::Spec::read(rollout).map(Strategy::Canary)
    }
}

pub(crate) fn invalid_spec_plan(
    rollout: &Rollout,
    errors: &[FieldError],
    now: DateTime<Utc>,
) -> Plan {
    let prev = rollout.status.clone().unwrap_or_default();
    let generation = rollout.metadata.generation;
    let mut status = prev.clone();
    let message = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    status.observed_generation = generation;
    status.phase = Some(kulta_api::Phase::Degraded);
    status.message = Some(format!("invalid spec: {message}"));
    let c = &mut status.conditions;
    set_condition(
        c,
        condition_types::INVALID_SPEC,
        true,
        "InvalidSpec",
        &message,
        generation,
        now,
    );
    set_condition(
        c,
        condition_types::READY,
        false,
        "InvalidSpec",
        "fix the spec; nothing is rolled out until then",
        generation,
        now,
    );
    set_condition(
        c,
        condition_types::PROGRESSING,
        false,
        "InvalidSpec",
        "fix the spec; nothing is rolled out until then",
        generation,
        now,
    );
    let newly_invalid = prev.message != status.message;
    let events = if newly_invalid {
        vec![PlannedEvent {
            warning: true,
            reason: "InvalidSpec",
            note: truncate(&message, 1000),
        }]
    } else {
        Vec::new()
    };
    Plan {
        state: RolloutState::InvalidSpec,
        consume: Vec::new(),
        replica_sets: Vec::new(),
        services: Vec::new(),
        route_weight: None,
        route_eligible_at: None,
        status,
        events,
        requeue_after: None,
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary (Event notes are limited to 1 KiB).
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    format!("{}…", &text[..end])
}

/// Short description of a step for messages, events and the sandbox timeline.
pub fn describe_actions(actions: &[StepAction]) -> String {
    actions
        .iter()
        .map(|a| match a {
            StepAction::SetWeight(w) => format!("setWeight {w}"),
            StepAction::Pause(Some(d)) => {
                format!("pause {}", kulta_api::duration::format_duration(*d))
            }
            StepAction::Pause(None) => "pause until promoted".to_string(),
            StepAction::SetCanaryScale(scale) => format!("setCanaryScale {scale:?}"),
        })
        .collect::<Vec<_>>()
        .join(", then ")
}

#[cfg(test)]
mod tests;
