//! Kubernetes Events (`events.k8s.io/v1`) for Rollouts.
//!
//! A reconcile publishes at most one Normal and one Warning Event: everything that happened in
//! it (a weight verified, a step completed, a pause begun) is one transition, told in one note
//! under the most telling reason (see [`coalesce`]). Events are writes to the API server, as
//! many as all other writes of a canary together when each happening is its own Event.
//!
//! Repeats of the same event (same object, type, reason and note) within a few minutes update
//! one Event's series count instead of creating new objects, like Kubernetes' own recorder.
//! Unlike kube-runtime's `Recorder`, the note is part of that identity: "paused at step 1" and
//! "paused at step 3" are two events, not one counted twice with the first text.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};

use crate::plan::{PlannedEvent, truncate};

/// How long a published event is remembered for counting repeats.
const SERIES_WINDOW: Duration = Duration::from_secs(360);

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Key {
    uid: String,
    warning: bool,
    reason: String,
    note: String,
}

#[derive(Clone, Debug)]
struct Published {
    name: String,
    count: i32,
    last: Instant,
}

impl Published {
    /// Counts one more occurrence at `at`. The count stops at `i32::MAX` (the type of
    /// `EventSeries.count`) instead of wrapping to a negative count.
    fn record_repeat(&mut self, at: Instant) {
        self.count = self.count.saturating_add(1);
        self.last = at;
    }
}

/// Publishes Events on behalf of one controller instance.
pub struct EventPublisher {
    client: kube::Client,
    controller: String,
    instance: String,
    sequence: AtomicU64,
    published: Mutex<HashMap<Key, Published>>,
}

fn micro_now() -> MicroTime {
    MicroTime(
        jiff::Timestamp::from_microsecond(Utc::now().timestamp_micros())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
    )
}

impl EventPublisher {
    /// A publisher reporting as `controller` (instance `instance`).
    pub fn new(client: kube::Client, controller: &str, instance: &str) -> Self {
        EventPublisher {
            client,
            controller: controller.to_string(),
            instance: instance.to_string(),
            sequence: AtomicU64::new(0),
            published: Mutex::new(HashMap::new()),
        }
    }

    /// Publishes one event about `regarding`.
    ///
    /// # Errors
    /// When the API server refuses the Event.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        warning: bool,
        reason: &str,
        action: &str,
        note: &str,
    ) -> Result<(), kube::Error> {
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let key = Key {
            uid: regarding.uid.clone().unwrap_or_default(),
            warning,
            reason: reason.to_string(),
            note: note.to_string(),
        };
        let repeat = {
            let Ok(mut published) = self.published.lock() else {
                return Ok(());
            };
            published.retain(|_, p| p.last.elapsed() < SERIES_WINDOW);
            published.get_mut(&key).map(|p| {
                p.record_repeat(Instant::now());
                p.clone()
            })
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Some(repeat) = repeat {
            let series = EventSeries {
                count: repeat.count,
                last_observed_time: micro_now(),
            };
            let patch = serde_json::json!({ "series": series });
            match api
                .patch(&repeat.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                // Gone (expired or deleted): publish afresh.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => return Err(error),
            }
        }
        let object = regarding.name.clone().unwrap_or_default();
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "{object}.{:x}{:04x}",
            Utc::now().timestamp_nanos_opt().unwrap_or_default(),
            sequence % 0x1_0000
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            event_time: Some(micro_now()),
            action: Some(action.to_string()),
            reason: Some(reason.to_string()),
            note: Some(note.to_string()),
            type_: Some(if warning { "Warning" } else { "Normal" }.to_string()),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..Event::default()
        };
        api.create(&PostParams::default(), &event).await?;
        if let Ok(mut published) = self.published.lock() {
            published.insert(
                key,
                Published {
                    name,
                    count: 1,
                    last: Instant::now(),
                },
            );
        }
        Ok(())
    }
}

/// Reasons from the most to the least telling: the reason of a coalesced Event is the first of
/// these among its parts. Reasons not listed (errors, `InvalidSpec`, `ActionIgnored`) come first.
const REASON_RANK: &[&str] = &[
    "Aborted",
    "RolledBack",
    "CanaryReplaced",
    "RolloutCompleted",
    "RevisionDeployed",
    "CanaryStarted",
    "PromotedFull",
    "Promoted",
    "Retried",
    "Paused",
    "StepCompleted",
    "TrafficShifted",
];

/// Longest Event note we write (the API server's limit is 1 KiB).
const MAX_NOTE: usize = 1000;

/// The Events to publish for one reconcile's `events`: one per type (Normal, Warning), whose
/// reason is the most telling of its parts and whose note tells all of them in order.
pub fn coalesce(events: &[PlannedEvent]) -> Vec<PlannedEvent> {
    // `None` (a reason not listed) orders before every `Some`, so unlisted reasons come first.
    let rank = |reason: &str| REASON_RANK.iter().position(|r| *r == reason);
    [true, false]
        .into_iter()
        .filter_map(|warning| {
            let parts: Vec<&PlannedEvent> =
                events.iter().filter(|e| e.warning == warning).collect();
            let reason = parts.iter().min_by_key(|e| rank(e.reason))?.reason;
            let note = parts
                .iter()
                .map(|e| e.note.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            Some(PlannedEvent {
                warning,
                reason,
                note: truncate(&note, MAX_NOTE),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(reason: &'static str, note: &str) -> PlannedEvent {
        PlannedEvent {
            warning: false,
            reason,
            note: note.to_string(),
        }
    }

    #[test]
    fn a_repeat_count_at_its_maximum_stays_there() {
        let start = Instant::now();
        let mut published = Published {
            name: "app.1".to_string(),
            count: i32::MAX - 1,
            last: start,
        };
        published.record_repeat(start);
        assert_eq!(published.count, i32::MAX);
        published.record_repeat(start);
        assert_eq!(published.count, i32::MAX);
    }

    #[test]
    fn one_reconcile_is_one_event_per_type_under_its_most_telling_reason() {
        let events = [
            normal("TrafficShifted", "canary weight 20 verified"),
            normal("StepCompleted", "step 1 of 5 completed: setWeight 20"),
            normal("Paused", "paused at step 2 until promoted"),
        ];
        assert_eq!(
            coalesce(&events),
            vec![normal(
                "Paused",
                "canary weight 20 verified; step 1 of 5 completed: setWeight 20; paused at step 2 until promoted"
            )]
        );
        let ignored = PlannedEvent {
            warning: true,
            reason: "ActionIgnored",
            note: "kulta.io/abort=maybe ignored".to_string(),
        };
        let events = [
            normal("Promoted", "promoted past step 2"),
            ignored.clone(),
            normal("StepCompleted", "step 2 of 5 completed"),
        ];
        assert_eq!(
            coalesce(&events),
            vec![
                ignored,
                normal("Promoted", "promoted past step 2; step 2 of 5 completed")
            ]
        );
        assert_eq!(coalesce(&[]), vec![]);
    }

    #[test]
    fn unranked_reasons_lead_and_notes_stay_within_the_limit() {
        let long = "x".repeat(700);
        let events = [normal("StepCompleted", &long), normal("InvalidSpec", &long)];
        let coalesced = coalesce(&events);
        assert_eq!(coalesced.len(), 1);
        assert_eq!(coalesced[0].reason, "InvalidSpec");
        assert!(coalesced[0].note.len() <= MAX_NOTE + '…'.len_utf8());
        assert!(coalesced[0].note.starts_with(&long));
    }
}
