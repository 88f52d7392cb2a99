//! The events about one Rollout, from `events.k8s.io/v1` (what the controller publishes) or,
//! where that API is not served, from core `v1` events.
//!
//! The API server is asked to filter (`regarding.name`, `involvedObject.name` field selectors);
//! a server that refuses the selector (400) gets a plain list, filtered here. Both event APIs are
//! reduced to [`EventLine`] so rendering does not care where an event came from.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;

use crate::error::{Error, Result, list_error};
use crate::format;

/// One event, as shown in `get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLine {
    /// When it last happened.
    pub time: Option<DateTime<Utc>>,
    /// `Normal` or `Warning`.
    pub type_: String,
    /// PascalCase reason, e.g. `StepCompleted`.
    pub reason: String,
    /// What happened, for a person.
    pub message: String,
    /// How many times it happened (1 for a single event).
    pub count: i32,
}

impl EventLine {
    /// An `events.k8s.io/v1` event.
    pub fn from_event(event: &Event) -> EventLine {
        let time = event
            .series
            .as_ref()
            .and_then(|series| format::micro_time(&series.last_observed_time))
            .or_else(|| event.event_time.as_ref().and_then(format::micro_time))
            .or_else(|| {
                event
                    .deprecated_last_timestamp
                    .as_ref()
                    .and_then(format::time)
            })
            .or_else(|| {
                event
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .and_then(format::time)
            });
        let count = event
            .series
            .as_ref()
            .map(|series| series.count)
            .or(event.deprecated_count)
            .unwrap_or(1);
        EventLine {
            time,
            type_: event.type_.clone().unwrap_or_else(|| "Normal".to_string()),
            reason: event.reason.clone().unwrap_or_default(),
            message: event.note.clone().unwrap_or_default(),
            count,
        }
    }

    /// A core `v1` event.
    pub fn from_core_event(event: &CoreEvent) -> EventLine {
        let time = event
            .series
            .as_ref()
            .and_then(|series| series.last_observed_time.as_ref())
            .and_then(format::micro_time)
            .or_else(|| event.last_timestamp.as_ref().and_then(format::time))
            .or_else(|| event.event_time.as_ref().and_then(format::micro_time))
            .or_else(|| event.first_timestamp.as_ref().and_then(format::time))
            .or_else(|| {
                event
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .and_then(format::time)
            });
        let count = event
            .series
            .as_ref()
            .and_then(|series| series.count)
            .or(event.count)
            .unwrap_or(1);
        EventLine {
            time,
            type_: event.type_.clone().unwrap_or_else(|| "Normal".to_string()),
            reason: event.reason.clone().unwrap_or_default(),
            message: event.message.clone().unwrap_or_default(),
            count,
        }
    }
}

/// The newest `limit` events, oldest first (the order `kubectl events` prints).
pub fn newest(mut events: Vec<EventLine>, limit: usize) -> Vec<EventLine> {
    events.sort_by_key(|event| event.time);
    let skip = events.len().saturating_sub(limit);
    events.split_off(skip)
}

/// Whether `reference` names the Rollout `name`.
fn is_about(kind: Option<&str>, reference_name: Option<&str>, name: &str) -> bool {
    reference_name == Some(name) && kind.is_none_or(|kind| kind == "Rollout")
}

/// The events about Rollout `name` in `namespace`, newest `limit`, oldest first.
///
/// # Errors
/// [`Error::Request`] when neither event API can be listed.
pub async fn for_rollout(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    limit: usize,
) -> Result<Vec<EventLine>> {
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let selector = format!("regarding.kind=Rollout,regarding.name={name}");
    let listed = match events.list(&ListParams::default().fields(&selector)).await {
        Err(kube::Error::Api(status)) if status.code == 400 => {
            events.list(&ListParams::default()).await
        }
        other => other,
    };
    match listed {
        Ok(list) => {
            let lines = list
                .items
                .iter()
                .filter(|event| {
                    let regarding = event.regarding.as_ref();
                    is_about(
                        regarding.and_then(|r| r.kind.as_deref()),
                        regarding.and_then(|r| r.name.as_deref()),
                        name,
                    )
                })
                .map(EventLine::from_event)
                .collect();
            Ok(newest(lines, limit))
        }
        // events.k8s.io not served or not allowed: core v1 events hold the same objects.
        Err(kube::Error::Api(status)) if matches!(status.code, 403 | 404) => {
            core_events(client, namespace, name, limit).await
        }
        Err(source) => Err(list_error(
            "list",
            format!("events in namespace {namespace:?}"),
            source,
        )),
    }
}

async fn core_events(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    limit: usize,
) -> Result<Vec<EventLine>> {
    let events: Api<CoreEvent> = Api::namespaced(client.clone(), namespace);
    let selector = format!("involvedObject.kind=Rollout,involvedObject.name={name}");
    let listed = match events.list(&ListParams::default().fields(&selector)).await {
        Err(kube::Error::Api(status)) if status.code == 400 => {
            events.list(&ListParams::default()).await
        }
        other => other,
    };
    let list = listed.map_err(|source| Error::Request {
        action: "list",
        what: format!("events in namespace {namespace:?}"),
        source: Box::new(source),
    })?;
    let lines = list
        .items
        .iter()
        .filter(|event| {
            is_about(
                event.involved_object.kind.as_deref(),
                event.involved_object.name.as_deref(),
                name,
            )
        })
        .map(EventLine::from_core_event)
        .collect();
    Ok(newest(lines, limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn line(second: u32, reason: &str) -> EventLine {
        EventLine {
            time: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, second).single(),
            type_: "Normal".into(),
            reason: reason.into(),
            message: String::new(),
            count: 1,
        }
    }

    #[test]
    fn newest_keeps_the_latest_in_time_order() {
        let events = vec![
            line(5, "e"),
            line(1, "a"),
            line(3, "c"),
            line(2, "b"),
            line(4, "d"),
        ];
        let reasons: Vec<String> = newest(events, 3).into_iter().map(|e| e.reason).collect();
        assert_eq!(reasons, ["c", "d", "e"]);
    }

    #[test]
    fn events_k8s_io_fields_are_read() {
        let event: Event = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "app.1", "namespace": "default"},
            "eventTime": "2026-01-01T00:00:07.000000Z",
            "regarding": {"kind": "Rollout", "name": "app"},
            "reason": "StepCompleted",
            "note": "step 1 of 3 completed",
            "type": "Normal",
            "series": {"count": 3, "lastObservedTime": "2026-01-01T00:00:09.000000Z"}
        }))
        .unwrap();
        let line = EventLine::from_event(&event);
        assert_eq!(line.reason, "StepCompleted");
        assert_eq!(line.count, 3);
        assert_eq!(
            line.time,
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 9).single()
        );
        assert!(is_about(Some("Rollout"), Some("app"), "app"));
        assert!(!is_about(Some("ReplicaSet"), Some("app"), "app"));
    }
}
