//! The in-memory object store: one global resourceVersion counter, objects per group-resource,
//! a bounded event history for watch resumption and a broadcast channel per group-resource.
//!
//! Every mutation happens under one mutex and is published to watchers while the mutex is held,
//! so a watcher that subscribes under the same mutex sees no gap and no duplicate.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::api_error::{ApiError, ApiResult};
use crate::kinds::resources::{GroupResource, Registry};
use crate::storage::ssa::AppliedConfigs;

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    /// `ADDED`
    Added,
    /// `MODIFIED`
    Modified,
    /// `DELETED`
    Deleted,
}

impl EventType {
    /// The wire name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug)]
pub(crate) struct WatchEvent {
    /// The resourceVersion of the change.
    pub(crate) resource_version: u64,
    /// Which group-resource changed.
    pub(crate) group_resource: GroupResource,
    /// What happened.
    pub(crate) event_type: EventType,
    /// The object after the change (for DELETED, the last state with the deletion's RV).
    pub(crate) object: Arc<Value>,
    /// The object before the change, for MODIFIED (selector transitions).
    pub(crate) previous: Option<Arc<Value>>,
    encoded: OnceLock<Bytes>,
}

impl WatchEvent {
    /// The event as one line of the watch stream, encoded once and shared by every watcher.
    pub(crate) fn encoded(&self) -> Bytes {
        self.encoded
            .get_or_init(|| encode_event(self.event_type.as_str(), &self.object))
            .clone()
    }
}

/// Encodes `{"type":..,"object":..}\n`.
pub(crate) fn encode_event(event_type: &str, object: &Value) -> Bytes {
    let mut line =
        serde_json::to_vec(&json!({"type": event_type, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// Key of an object inside one group-resource: namespace (empty when cluster-scoped) and name.
pub(crate) type ObjectKey = (String, String);

/// Store tuning.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Events retained for watch resumption.
    pub(crate) history_size: usize,
    /// Capacity of each broadcast channel; a watcher lagging further is disconnected.
    pub(crate) channel_capacity: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            history_size: 10_000,
            channel_capacity: 4_096,
        }
    }
}

/// The store: a mutex around `StoreInner`, plus the watch-drop signal.
#[derive(Debug)]
pub struct Store {
    inner: Mutex<StoreInner>,
    /// Incremented to end every open watch (fault injection, restart, shutdown).
    pub watch_epoch: tokio::sync::watch::Sender<u64>,
}

impl Store {
    /// A store holding the default namespaces.
    pub fn new(config: StoreConfig) -> Self {
        let mut inner = StoreInner {
            registry: Registry::with_builtins(),
            applied: AppliedConfigs::default(),
            registry_generation: 1,
            resource_version: 0,
            objects: HashMap::new(),
            uids: HashMap::new(),
            dependents: HashMap::new(),
            foreground: BTreeSet::new(),
            cluster_ips: 0,
            history: VecDeque::new(),
            history_floor: 0,
            channels: HashMap::new(),
            config,
        };
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let object = json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "uid": new_uid(),
                    "creationTimestamp": now_timestamp(),
                    "labels": {"kubernetes.io/metadata.name": name},
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            });
            inner.commit(
                &GroupResource::new("", "namespaces"),
                (String::new(), name.to_string()),
                object,
                EventType::Added,
            );
        }
        let (watch_epoch, _) = tokio::sync::watch::channel(0);
        Store {
            inner: Mutex::new(inner),
            watch_epoch,
        }
    }

    /// Locks the store. Never held across an await point.
    pub(crate) fn lock(&self) -> MutexGuard<'_, StoreInner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Ends every open watch.
    pub(crate) fn drop_watches(&self) {
        // Watches wait on `changed()`, which every `send_modify` wakes whatever the value.
        self.watch_epoch
            .send_modify(|epoch| *epoch = epoch.saturating_add(1));
    }
}

/// The state behind the store mutex.
#[derive(Debug)]
pub(crate) struct StoreInner {
    /// Served resource types (built-ins and CRD-registered kinds).
    pub(crate) registry: Registry,
    /// Server-side apply: each manager's last applied configuration per object.
    pub(crate) applied: AppliedConfigs,
    /// Bumped whenever the registry changes (discovery and OpenAPI hashes).
    pub(crate) registry_generation: u64,
    resource_version: u64,
    objects: HashMap<GroupResource, BTreeMap<ObjectKey, Arc<Value>>>,
    uids: HashMap<String, (GroupResource, ObjectKey)>,
    /// Owner uid → objects with an owner reference to it (garbage collection index).
    dependents: HashMap<String, BTreeSet<(GroupResource, ObjectKey)>>,
    /// Objects in foreground deletion (deletionTimestamp and the `foregroundDeletion` finalizer).
    foreground: BTreeSet<(GroupResource, ObjectKey)>,
    cluster_ips: u32,
    history: VecDeque<Arc<WatchEvent>>,
    history_floor: u64,
    channels: HashMap<GroupResource, broadcast::Sender<Arc<WatchEvent>>>,
    config: StoreConfig,
}

impl StoreInner {
    /// The latest resourceVersion.
    pub(crate) fn current_resource_version(&self) -> u64 {
        self.resource_version
    }

    /// The oldest resourceVersion a watch can resume from.
    pub(crate) fn history_floor(&self) -> u64 {
        self.history_floor
    }

    /// One object.
    pub(crate) fn get(
        &self,
        group_resource: &GroupResource,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<Value>> {
        self.objects
            .get(group_resource)
            .and_then(|objects| objects.get(&(namespace.to_string(), name.to_string())))
            .cloned()
    }

    /// Where the object with this uid lives, if it exists.
    pub(crate) fn locate_uid(&self, uid: &str) -> Option<&(GroupResource, ObjectKey)> {
        self.uids.get(uid)
    }

    /// Objects of a group-resource, optionally of one namespace, in key order.
    pub(crate) fn list(
        &self,
        group_resource: &GroupResource,
        namespace: Option<&str>,
    ) -> Vec<(ObjectKey, Arc<Value>)> {
        let Some(objects) = self.objects.get(group_resource) else {
            return Vec::new();
        };
        match namespace {
            Some(ns) => objects
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            None => objects
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Objects strictly after `after` (paging), optionally in one namespace.
    pub(crate) fn list_after(
        &self,
        group_resource: &GroupResource,
        namespace: Option<&str>,
        after: Option<&ObjectKey>,
    ) -> Vec<(ObjectKey, Arc<Value>)> {
        let all = self.list(group_resource, namespace);
        match after {
            Some(key) => all.into_iter().filter(|(k, _)| k > key).collect(),
            None => all,
        }
    }

    /// The next free Service cluster IP (10.96.0.0/12, allocated sequentially).
    pub(crate) fn allocate_cluster_ip(&mut self) -> String {
        // Addresses repeat after 65,536 Services; the counter itself never wraps.
        self.cluster_ips = self.cluster_ips.saturating_add(1);
        let n = self.cluster_ips;
        format!("10.96.{}.{}", (n / 256) % 256, n % 256)
    }

    /// Objects with an owner reference to `uid`.
    pub(crate) fn dependents_of(&self, uid: &str) -> Vec<(GroupResource, ObjectKey, Arc<Value>)> {
        self.dependents
            .get(uid)
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|(gr, key)| {
                        Some((gr.clone(), key.clone(), self.get(gr, &key.0, &key.1)?))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Objects waiting in foreground deletion.
    pub(crate) fn foreground_waiting(&self) -> Vec<(GroupResource, ObjectKey, Arc<Value>)> {
        self.foreground
            .iter()
            .filter_map(|(gr, key)| Some((gr.clone(), key.clone(), self.get(gr, &key.0, &key.1)?)))
            .collect()
    }

    fn unindex(&mut self, group_resource: &GroupResource, key: &ObjectKey, object: &Value) {
        for uid in owner_uids(object) {
            if let Some(entries) = self.dependents.get_mut(&uid) {
                entries.remove(&(group_resource.clone(), key.clone()));
                if entries.is_empty() {
                    self.dependents.remove(&uid);
                }
            }
        }
        self.foreground
            .remove(&(group_resource.clone(), key.clone()));
    }

    fn index(&mut self, group_resource: &GroupResource, key: &ObjectKey, object: &Value) {
        for uid in owner_uids(object) {
            self.dependents
                .entry(uid)
                .or_default()
                .insert((group_resource.clone(), key.clone()));
        }
        let waiting = object["metadata"].get("deletionTimestamp").is_some()
            && object["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f == FOREGROUND_FINALIZER));
        if waiting {
            self.foreground
                .insert((group_resource.clone(), key.clone()));
        }
    }

    /// Every stored object.
    pub(crate) fn iter_all(
        &self,
    ) -> impl Iterator<Item = (&GroupResource, &ObjectKey, &Arc<Value>)> {
        self.objects
            .iter()
            .flat_map(|(gr, objects)| objects.iter().map(move |(key, object)| (gr, key, object)))
    }

    /// Subscribes to live events of one group-resource.
    pub(crate) fn subscribe(
        &mut self,
        group_resource: &GroupResource,
    ) -> broadcast::Receiver<Arc<WatchEvent>> {
        let capacity = self.config.channel_capacity.max(16);
        self.channels
            .entry(group_resource.clone())
            .or_insert_with(|| broadcast::channel(capacity).0)
            .subscribe()
    }

    /// Retained events of a group-resource after `resource_version`.
    ///
    /// # Errors
    /// 410 Expired when `resource_version` is older than the retained history.
    pub(crate) fn events_since(
        &self,
        group_resource: &GroupResource,
        resource_version: u64,
    ) -> ApiResult<Vec<Arc<WatchEvent>>> {
        if resource_version < self.history_floor {
            return Err(ApiError::expired(format!(
                "too old resource version: {resource_version} ({})",
                self.history_floor
            )));
        }
        let start = self
            .history
            .partition_point(|event| event.resource_version <= resource_version);
        Ok(self
            .history
            .range(start..)
            .filter(|event| &event.group_resource == group_resource)
            .cloned()
            .collect())
    }

    /// Forgets the event history: resumes from any earlier resourceVersion get 410.
    pub(crate) fn compact(&mut self) {
        self.history.clear();
        self.history_floor = self.resource_version;
    }

    /// The resourceVersion of the next write. One per write, from 1: 2^64 writes do not happen
    /// in a process's life, so saturating only keeps the arithmetic honest.
    fn next_resource_version(&mut self) -> u64 {
        self.resource_version = self.resource_version.saturating_add(1);
        self.resource_version
    }

    /// Stores an object (create or update) with a new resourceVersion and publishes the event.
    pub(crate) fn commit(
        &mut self,
        group_resource: &GroupResource,
        key: ObjectKey,
        mut object: Value,
        event_type: EventType,
    ) -> Arc<Value> {
        let resource_version = self.next_resource_version();
        object["metadata"]["resourceVersion"] = Value::String(resource_version.to_string());
        if let Some(uid) = object["metadata"]["uid"].as_str() {
            self.uids
                .insert(uid.to_string(), (group_resource.clone(), key.clone()));
        }
        let object = Arc::new(object);
        let previous = self
            .objects
            .entry(group_resource.clone())
            .or_default()
            .insert(key.clone(), object.clone());
        if let Some(previous) = &previous {
            self.unindex(group_resource, &key, previous);
        }
        self.index(group_resource, &key, &object);
        self.publish(
            group_resource,
            event_type,
            object.clone(),
            previous,
            resource_version,
        );
        object
    }

    /// Removes an object, publishing DELETED with a new resourceVersion.
    pub(crate) fn remove(
        &mut self,
        group_resource: &GroupResource,
        key: &ObjectKey,
    ) -> Option<Arc<Value>> {
        let removed = self.objects.get_mut(group_resource)?.remove(key)?;
        let resource_version = self.next_resource_version();
        if let Some(uid) = removed["metadata"]["uid"].as_str() {
            self.uids.remove(uid);
        }
        self.unindex(group_resource, key, &removed);
        self.applied.forget(&(group_resource.clone(), key.clone()));
        let mut last = (*removed).clone();
        last["metadata"]["resourceVersion"] = Value::String(resource_version.to_string());
        let last = Arc::new(last);
        self.publish(
            group_resource,
            EventType::Deleted,
            last.clone(),
            Some(removed),
            resource_version,
        );
        Some(last)
    }

    fn publish(
        &mut self,
        group_resource: &GroupResource,
        event_type: EventType,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
        resource_version: u64,
    ) {
        let event = Arc::new(WatchEvent {
            resource_version,
            group_resource: group_resource.clone(),
            event_type,
            object,
            previous,
            encoded: OnceLock::new(),
        });
        if self.config.history_size > 0 {
            self.history.push_back(event.clone());
            while self.history.len() > self.config.history_size {
                if let Some(evicted) = self.history.pop_front() {
                    self.history_floor = evicted.resource_version;
                }
            }
        } else {
            self.history_floor = resource_version;
        }
        if let Some(sender) = self.channels.get(group_resource) {
            if sender.receiver_count() == 0 {
                self.channels.remove(group_resource);
            } else {
                // A send error only means every receiver went away.
                let _ = sender.send(event);
            }
        }
    }

    /// Number of live watch subscriptions (for benchmarks and tests).
    pub(crate) fn subscriber_count(&self) -> usize {
        self.channels
            .values()
            .map(broadcast::Sender::receiver_count)
            .sum()
    }
}

/// The finalizer that holds an owner during foreground deletion.
pub(crate) const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

fn owner_uids(object: &Value) -> Vec<String> {
    object["metadata"]["ownerReferences"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r["uid"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A fresh RFC 4122-style uid.
pub(crate) fn new_uid() -> String {
    let bits: u128 = rand::random();
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// The current time as an RFC 3339 timestamp with second precision, as Kubernetes writes them.
pub(crate) fn now_timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
