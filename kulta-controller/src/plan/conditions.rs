//! Status conditions, following the Kubernetes API conventions: one entry per type,
//! `lastTransitionTime` moves only when `status` flips, `observedGeneration` is the generation
//! the condition describes.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The condition types a Rollout carries.
pub mod condition_types {
    /// True once the latest generation is fully rolled out and available.
    pub const READY: &str = "Ready";
    /// False with reason `ProgressDeadlineExceeded` when stuck.
    pub const PROGRESSING: &str = "Progressing";
    /// True at a pause, with reason `Manual` or `Timed`.
    pub const PAUSED: &str = "Paused";
    /// Whether the router verified the desired weights.
    pub const TRAFFIC_ROUTED: &str = "TrafficRouted";
    /// True when the spec is invalid.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// True when the canary was aborted.
    pub const ABORTED: &str = "Aborted";
}

/// Converts KULTA's time to the API's time, at the boundary.
pub fn to_api_time(time: DateTime<Utc>) -> Time {
    let timestamp =
        jiff::Timestamp::from_second(time.timestamp()).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    Time(timestamp)
}

/// Sets condition `type_` in `conditions`, keeping `lastTransitionTime` when the status does not
/// change. Conditions stay sorted by type so that status comparisons are stable.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: DateTime<Utc>,
) {
    let status_text = if status { "True" } else { "False" };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            if existing.status != status_text {
                existing.last_transition_time = to_api_time(now);
                existing.status = status_text.to_string();
            }
            existing.reason = reason.to_string();
            existing.message = message.to_string();
            existing.observed_generation = generation;
        }
        None => {
            conditions.push(Condition {
                type_: type_.to_string(),
                status: status_text.to_string(),
                reason: reason.to_string(),
                message: message.to_string(),
                observed_generation: generation,
                last_transition_time: to_api_time(now),
            });
            conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
        }
    }
}

/// Whether condition `type_` is present and `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}
