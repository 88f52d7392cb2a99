//! User actions: the `kulta.io/promote`, `abort` and `retry` annotations read from a Rollout,
//! and the write-ahead record of those a plan carries out (`status.appliedActions`, stored
//! before the annotations are removed, so an action is neither lost nor carried out twice).

use chrono::{DateTime, Utc};
use kulta_api::{ActionRecord, Rollout, labels};

use super::{Plan, PlannedEvent};

/// A user action read from the Rollout's annotations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserAction {
    /// `kulta.io/promote=true`: past the current pause (or step).
    Promote,
    /// `kulta.io/promote=full`: skip every remaining step.
    PromoteFull,
    /// `kulta.io/abort=true`.
    Abort,
    /// `kulta.io/retry=true`.
    Retry,
}

/// An annotation to remove from the Rollout because its action was consumed. `value` is the
/// value read, so the removal is conditional on it (a person may have changed it since).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumedAnnotation {
    /// Annotation key.
    pub key: String,
    /// Value that was read and acted on.
    pub value: String,
}

/// Reads the user actions present on the Rollout, in the order they are applied, with the
/// annotations to consume. Values that are not understood are consumed too and reported. An
/// annotation that `status.appliedActions` records with the same value was carried out by an
/// earlier reconcile whose removal of it has not happened (or not been seen) yet: it is
/// consumed again, never carried out again.
pub fn read_actions(
    rollout: &Rollout,
) -> (Vec<UserAction>, Vec<ConsumedAnnotation>, Vec<PlannedEvent>) {
    let mut actions = Vec::new();
    let mut consumed = Vec::new();
    let mut events = Vec::new();
    let Some(annotations) = rollout.metadata.annotations.as_ref() else {
        return (actions, consumed, events);
    };
    let pending = pending_records(rollout);
    let known: [(&str, &[(&str, UserAction)]); 3] = [
        (
            labels::PROMOTE_ANNOTATION,
            &[
                (labels::PROMOTE_STEP, UserAction::Promote),
                (labels::PROMOTE_FULL, UserAction::PromoteFull),
            ],
        ),
        (labels::ABORT_ANNOTATION, &[("true", UserAction::Abort)]),
        (labels::RETRY_ANNOTATION, &[("true", UserAction::Retry)]),
    ];
    for (key, values) in known {
        let Some(value) = annotations.get(key) else {
            continue;
        };
        consumed.push(ConsumedAnnotation {
            key: key.to_string(),
            value: value.clone(),
        });
        if pending
            .iter()
            .any(|record| record.annotation == key && record.value == *value)
        {
            continue;
        }
        match values.iter().find(|(v, _)| *v == value.as_str()) {
            Some((_, action)) => actions.push(*action),
            None => {
                let expected: Vec<&str> = values.iter().map(|(v, _)| *v).collect();
                events.push(PlannedEvent {
                    warning: true,
                    reason: "ActionIgnored",
                    note: format!(
                        "{key}={value} is not understood; use {}",
                        expected.join(" or ")
                    ),
                })
            }
        }
    }
    // Abort before promote: when both are set, stopping wins.
    actions.sort_by_key(|a| match a {
        UserAction::Abort => 0,
        UserAction::Retry => 1,
        UserAction::Promote | UserAction::PromoteFull => 2,
    });
    (actions, consumed, events)
}

/// Write-ahead record of the actions `plan` consumes: the status lists every annotation the
/// plan removes (kept from an earlier record when that one already listed it), and nothing
/// else. The status is written before the annotations are removed, so a crash, a lost
/// leadership or a failed removal in between never carries an action out twice; an entry whose
/// annotation is gone is dropped, so the same annotation set again later is a new action.
pub(crate) fn record_applied_actions(rollout: &Rollout, plan: &mut Plan, now: DateTime<Utc>) {
    if plan.consume.is_empty() {
        // Records whose annotations are gone stay until the next action replaces them: the
        // removal marker tells they were removed, and dropping them alone would cost a write.
        return;
    }
    let pending = pending_records(rollout);
    let removed = removal_marker(rollout);
    let step = rollout.status.as_ref().and_then(|s| s.current_step_index);
    plan.status.applied_actions = plan
        .consume
        .iter()
        .map(|consumed| {
            pending
                .iter()
                .find(|r| r.annotation == consumed.key && r.value == consumed.value)
                .map_or_else(
                    || {
                        // A new record is never named like one the marker lists (a coarse or
                        // frozen clock), or it would pass for removed.
                        let mut record = action_record(consumed, now, step);
                        while removed.contains(&record_id(&record)) {
                            match record
                                .time
                                .checked_add_signed(chrono::Duration::nanoseconds(1))
                            {
                                Some(time) => record.time = time,
                                None => break,
                            }
                        }
                        record
                    },
                    |r| (*r).clone(),
                )
        })
        .collect();
}

/// The record ids [`labels::CONSUMED_ACTIONS_ANNOTATION`] lists.
fn removal_marker(rollout: &Rollout) -> Vec<String> {
    rollout
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(labels::CONSUMED_ACTIONS_ANNOTATION))
        .map(|marker| marker.split(',').map(|id| id.trim().to_string()).collect())
        .unwrap_or_default()
}

/// The records of `status.appliedActions` whose annotations the controller has not removed yet
/// (see [`labels::CONSUMED_ACTIONS_ANNOTATION`]).
fn pending_records(rollout: &Rollout) -> Vec<&ActionRecord> {
    let removed = removal_marker(rollout);
    rollout
        .status
        .as_ref()
        .map(|status| status.applied_actions.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|record| !removed.contains(&record_id(record)))
        .collect()
}

/// How a record of `status.appliedActions` is named in
/// [`labels::CONSUMED_ACTIONS_ANNOTATION`].
pub fn record_id(record: &ActionRecord) -> String {
    format!(
        "{}={}@{}",
        record.annotation,
        record.value,
        record
            .time
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    )
}

/// Records a consumed action in status.
pub(crate) fn action_record(
    consumed: &ConsumedAnnotation,
    now: DateTime<Utc>,
    step: Option<i32>,
) -> ActionRecord {
    ActionRecord {
        annotation: consumed.key.clone(),
        value: consumed.value.clone(),
        time: now,
        step_index: step,
    }
}
