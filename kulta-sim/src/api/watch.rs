//! Watch streams: newline-delimited JSON events over a chunked response, resumable from a
//! resourceVersion within the retained history (410 Expired as an `ERROR` event otherwise),
//! with periodic `BOOKMARK`s, `sendInitialEvents` and its `k8s.io/initial-events-end` bookmark,
//! `timeoutSeconds`, and selector transitions (an object leaving the selector is `DELETED`).
//!
//! A watch is a stream polled by the HTTP connection, not a task: an idle watch costs one
//! broadcast receiver and a few timers, and ends when the client goes away.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::api::selectors::{FieldSelector, LabelSelector};
use crate::api::table;
use crate::kinds::resources::ResourceType;
use crate::storage::store::{EventType, Store, WatchEvent, encode_event};

/// What a watch request asked for.
#[derive(Debug, Clone)]
pub(crate) struct WatchRequest {
    /// The resource (at the version of the URL).
    pub resource: Arc<ResourceType>,
    /// Namespace filter.
    pub namespace: Option<String>,
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `resourceVersion` (`None` or `"0"` start with the current state).
    pub resource_version: Option<u64>,
    /// `sendInitialEvents=true`.
    pub send_initial_events: bool,
    /// `allowWatchBookmarks=true`.
    pub allow_bookmarks: bool,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
    /// Objects rendered as `meta.k8s.io/v1` Tables (kubectl get -w).
    pub as_table: bool,
    /// Interval of periodic bookmarks.
    pub bookmark_interval: Duration,
}

impl WatchRequest {
    fn selects(&self, object: &Value) -> bool {
        if let Some(namespace) = &self.namespace
            && object["metadata"]["namespace"].as_str().unwrap_or_default() != namespace
        {
            return false;
        }
        self.labels.matches(object) && self.fields.matches(object)
    }

    fn plain(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty() && !self.as_table
    }

    fn render(&self, event_type: &str, object: &Value) -> Bytes {
        let api_version = self.resource.api_version();
        if self.as_table {
            let rendered = table::to_table(
                &self.resource,
                std::slice::from_ref(object),
                json!({}),
                false,
            );
            return encode_event(event_type, &rendered);
        }
        if object["apiVersion"].as_str() == Some(api_version.as_str()) {
            encode_event(event_type, object)
        } else {
            let mut copy = object.clone();
            copy["apiVersion"] = Value::String(api_version);
            encode_event(event_type, &copy)
        }
    }

    /// The line to send for a committed event, if this watcher should see it.
    fn line_for(&self, event: &WatchEvent) -> Option<Bytes> {
        if self.plain() && self.namespace.is_none() && self.version_matches(&event.object) {
            return Some(event.encoded());
        }
        let now = self.selects(&event.object);
        let before = event.previous.as_ref().is_some_and(|p| self.selects(p));
        let event_type = match event.event_type {
            EventType::Added if now => "ADDED",
            EventType::Modified if now && before => "MODIFIED",
            EventType::Modified if now => "ADDED",
            EventType::Modified if before => "DELETED",
            EventType::Deleted if now || before => "DELETED",
            _ => return None,
        };
        if event_type == event.event_type.as_str()
            && !self.as_table
            && self.version_matches(&event.object)
        {
            return Some(event.encoded());
        }
        Some(self.render(event_type, &event.object))
    }

    fn version_matches(&self, object: &Value) -> bool {
        object["apiVersion"].as_str() == Some(self.resource.api_version().as_str())
    }

    fn bookmark(&self, resource_version: u64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": resource_version.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = if self.as_table {
            json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": [], "rows": []})
        } else {
            json!({"kind": self.resource.kind, "apiVersion": self.resource.api_version(), "metadata": metadata})
        };
        encode_event("BOOKMARK", &object)
    }
}

struct WatchState {
    request: WatchRequest,
    store: Arc<Store>,
    pending: VecDeque<Bytes>,
    receiver: Option<broadcast::Receiver<Arc<WatchEvent>>>,
    epoch: tokio::sync::watch::Receiver<u64>,
    deadline: Option<Instant>,
    next_bookmark: Instant,
    last_resource_version: u64,
}

/// Starts a watch and returns the streaming response.
pub(crate) fn start(store: Arc<Store>, request: WatchRequest) -> Response {
    let epoch = store.watch_epoch.subscribe();
    let mut pending = VecDeque::new();
    let group_resource = request.resource.group_resource();
    let mut last_resource_version = 0;
    let receiver = {
        let mut inner = store.lock();
        let current = inner.current_resource_version();
        let initial = request.send_initial_events
            || request.resource_version.is_none()
            || request.resource_version == Some(0);
        if initial {
            for (_, object) in inner.list(&group_resource, request.namespace.as_deref()) {
                if request.selects(&object) {
                    pending.push_back(request.render("ADDED", &object));
                }
            }
            if request.send_initial_events && request.allow_bookmarks {
                pending.push_back(request.bookmark(current, true));
            }
            last_resource_version = current;
            Some(inner.subscribe(&group_resource))
        } else {
            let from = request.resource_version.unwrap_or(0).min(current);
            match inner.events_since(&group_resource, from) {
                Ok(events) => {
                    for event in events {
                        if let Some(line) = request.line_for(&event) {
                            pending.push_back(line);
                        }
                    }
                    last_resource_version = current;
                    Some(inner.subscribe(&group_resource))
                }
                Err(error) => {
                    pending.push_back(encode_event("ERROR", &error.to_status()));
                    None
                }
            }
        }
    };
    let now = Instant::now();
    let state = WatchState {
        deadline: request.timeout.and_then(|t| now.checked_add(t)),
        next_bookmark: now.checked_add(request.bookmark_interval).unwrap_or(now),
        request,
        store,
        pending,
        receiver,
        epoch,
        last_resource_version,
    };
    let stream = futures::stream::unfold(state, |mut state| async move {
        let line = next_line(&mut state).await?;
        Some((Ok::<Bytes, Infallible>(line), state))
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

async fn next_line(state: &mut WatchState) -> Option<Bytes> {
    loop {
        if let Some(line) = state.pending.pop_front() {
            return Some(line);
        }
        let receiver = state.receiver.as_mut()?;
        let deadline = state.deadline;
        let bookmarks = state.request.allow_bookmarks;
        tokio::select! {
            received = receiver.recv() => match received {
                Ok(event) => {
                    state.last_resource_version = state.last_resource_version.max(event.resource_version);
                    if let Some(line) = state.request.line_for(&event) {
                        return Some(line);
                    }
                }
                // Lagging too far or the store went away: end the watch; the client resumes.
                Err(_) => return None,
            },
            changed = state.epoch.changed() => {
                let _ = changed;
                return None;
            }
            _ = sleep_until_opt(deadline) => return None,
            _ = tokio::time::sleep_until(state.next_bookmark), if bookmarks => {
                let now = Instant::now();
                state.next_bookmark = now.checked_add(state.request.bookmark_interval).unwrap_or(now);
                let resource_version = {
                    let inner = state.store.lock();
                    if receiver.is_empty() {
                        inner.current_resource_version()
                    } else {
                        state.last_resource_version
                    }
                };
                state.last_resource_version = state.last_resource_version.max(resource_version);
                return Some(state.request.bookmark(state.last_resource_version, false));
            }
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
