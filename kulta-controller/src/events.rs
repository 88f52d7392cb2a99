//! Kubernetes Events (`events.k8s.io/v1`) for Rollouts.
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
                p.count += 1;
                p.last = Instant::now();
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
