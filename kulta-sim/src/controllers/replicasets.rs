//! Simulated ReplicaSet controller: keeps `spec.replicas` pods per ReplicaSet, makes each pod
//! ready after the readiness delay, and reports the counts in the ReplicaSet's status.
//!
//! Event driven: a ReplicaSet or one of its pods changing triggers a reconcile of that
//! ReplicaSet; pending readiness is a requeue at the exact instant (the runtime's delay queue),
//! never a poll. A pod's readiness instant is stamped on the pod itself (annotation
//! `sim.kulta.io/ready-at`), so the controller keeps no per-pod timers. Pods it has created or
//! deleted but not yet seen in its cache are remembered ("expectations") so a lagging cache
//! never makes it create or delete twice.
//!
//! One file (~500 lines of code) on purpose: the reconcile, its expectations and its pod
//! handling are one controller's state, read together; its tests follow.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Config, trigger_owners, trigger_self};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, applier, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::ControllerKnobs;
use super::pods::{PodView, create_pod, owned_by, patch_pod_status, view_pod};
use super::support::{Error, QuickBackoff, is_status, on_knob_change, request_error};

/// Pod template annotation: `"false"` makes the pods never become ready (a bad release).
pub(super) const READY_ANNOTATION: &str = "sim.kulta.io/ready";

/// How long a create or delete may stay unobserved before the controller stops waiting for it.
const EXPECTATION_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Expectations {
    creating: HashMap<String, Instant>,
    deleting: HashMap<String, Instant>,
    /// Pods whose status was written, with the resourceVersion the write produced: while the
    /// cache is older than that, the write is not repeated.
    patched: HashMap<String, String>,
    /// The ReplicaSet status last written and the resourceVersion it produced (same purpose).
    status: Option<(String, Value)>,
}

impl Expectations {
    fn is_empty(&self) -> bool {
        self.creating.is_empty()
            && self.deleting.is_empty()
            && self.patched.is_empty()
            && self.status.is_none()
    }
}

/// Pods by the uid of their controlling owner, kept in step with the pod cache from the same
/// watch events, so a reconcile reads its ReplicaSet's pods without scanning every pod.
#[derive(Default)]
struct PodsByOwner {
    by_owner: HashMap<String, HashSet<ObjectRef<Pod>>>,
    owner_of: HashMap<ObjectRef<Pod>, String>,
    /// The pods of a relist in progress (`Init` to `InitDone`), swapped in at its end as the
    /// cache swaps its contents.
    relisting: Option<Vec<(ObjectRef<Pod>, String)>>,
}

fn controller_uid(pod: &Pod) -> Option<String> {
    pod.owner_references()
        .iter()
        .find(|owner| owner.controller == Some(true))
        .map(|owner| owner.uid.clone())
}

impl PodsByOwner {
    fn observe(&mut self, event: &watcher::Event<Pod>) {
        match event {
            watcher::Event::Apply(pod) => {
                let key = ObjectRef::from_obj(pod);
                self.forget(&key);
                if let Some(owner) = controller_uid(pod) {
                    self.insert(key, owner);
                }
            }
            watcher::Event::Delete(pod) => self.forget(&ObjectRef::from_obj(pod)),
            watcher::Event::Init => self.relisting = Some(Vec::new()),
            watcher::Event::InitApply(pod) => {
                if let (Some(relisting), Some(owner)) =
                    (self.relisting.as_mut(), controller_uid(pod))
                {
                    relisting.push((ObjectRef::from_obj(pod), owner));
                }
            }
            watcher::Event::InitDone => {
                self.by_owner.clear();
                self.owner_of.clear();
                for (key, owner) in self.relisting.take().unwrap_or_default() {
                    self.insert(key, owner);
                }
            }
        }
    }

    fn insert(&mut self, key: ObjectRef<Pod>, owner: String) {
        self.by_owner
            .entry(owner.clone())
            .or_default()
            .insert(key.clone());
        self.owner_of.insert(key, owner);
    }

    fn forget(&mut self, key: &ObjectRef<Pod>) {
        if let Some(owner) = self.owner_of.remove(key)
            && let Some(pods) = self.by_owner.get_mut(&owner)
        {
            pods.remove(key);
            if pods.is_empty() {
                self.by_owner.remove(&owner);
            }
        }
    }

    fn owned_by(&self, owner: &str) -> Vec<ObjectRef<Pod>> {
        self.by_owner
            .get(owner)
            .map(|pods| pods.iter().cloned().collect())
            .unwrap_or_default()
    }
}

struct Context {
    client: Client,
    knobs: Arc<ControllerKnobs>,
    pods: Store<Pod>,
    pods_by_owner: Arc<Mutex<PodsByOwner>>,
    expectations: Mutex<HashMap<String, Expectations>>,
}

/// Runs the ReplicaSet controller until `shutdown` is cancelled.
pub(super) async fn run(client: Client, knobs: Arc<ControllerKnobs>, shutdown: CancellationToken) {
    let replicasets: Api<ReplicaSet> = Api::all(client.clone());
    let pods: Api<Pod> = Api::all(client.clone());
    let (rs_reader, rs_writer) = reflector::store();
    let (pod_reader, pod_writer) = reflector::store();

    let rs_events = watcher(replicasets, watcher::Config::default())
        .backoff(QuickBackoff::default())
        .reflect(rs_writer)
        .applied_objects();
    let pods_by_owner = Arc::new(Mutex::new(PodsByOwner::default()));
    let index = pods_by_owner.clone();
    // The index follows the cache within the same poll of the stream, so a reconcile never
    // sees one ahead of the other.
    let pod_events = watcher(pods, watcher::Config::default())
        .backoff(QuickBackoff::default())
        .reflect(pod_writer)
        .inspect_ok(move |event| {
            index
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .observe(event);
        })
        .touched_objects();
    let queue = futures::stream::select_all([
        trigger_self(rs_events, ()).boxed(),
        trigger_owners::<ReplicaSet, _>(pod_events, (), ()).boxed(),
        on_knob_change(knobs.subscribe(), rs_reader.clone(), ()).boxed(),
    ]);
    let context = Arc::new(Context {
        client,
        knobs,
        pods: pod_reader,
        pods_by_owner,
        expectations: Mutex::new(HashMap::new()),
    });
    let results = applier(
        |rs, ctx| Box::pin(reconcile(rs, ctx)),
        |_, error: &Error, _| {
            debug!(category = error.category(), %error, "replicaset reconcile failed");
            Action::requeue(Duration::from_millis(500))
        },
        context,
        rs_reader,
        queue,
        Config::default(),
    )
    .take_until(shutdown.cancelled_owned());
    results
        .for_each(|result| async move {
            if let Err(error) = result {
                debug!(%error, "replicaset controller event");
            }
        })
        .await;
}

async fn reconcile(rs: Arc<ReplicaSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !ctx.knobs.replicasets_enabled() || rs.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let (Some(namespace), Some(uid)) = (rs.namespace(), rs.uid()) else {
        return Ok(Action::await_change());
    };
    let name = rs.name_any();
    let spec = rs.spec.clone().unwrap_or_default();
    let desired = usize::try_from(spec.replicas.unwrap_or(1).max(0)).unwrap_or(0);
    let template = spec.template.clone();
    let template_labels = template
        .as_ref()
        .and_then(|template| template.metadata.as_ref())
        .and_then(|meta| meta.labels.clone())
        .unwrap_or_default();
    let never_ready = template
        .as_ref()
        .and_then(|template| template.metadata.as_ref())
        .and_then(|meta| meta.annotations.as_ref())
        .and_then(|annotations| annotations.get(READY_ANNOTATION))
        .is_some_and(|value| value == "false");
    let min_ready =
        chrono::Duration::seconds(i64::from(spec.min_ready_seconds.unwrap_or(0).max(0)));

    let candidates = ctx
        .pods_by_owner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .owned_by(&uid);
    let owned: Vec<Arc<Pod>> = candidates
        .iter()
        .filter_map(|key| ctx.pods.get(key))
        .filter(|pod| {
            pod.namespace().as_deref() == Some(namespace.as_str())
                && pod.metadata.deletion_timestamp.is_none()
                && owned_by(pod, &uid)
        })
        .collect();

    // Reconcile expectations with what the cache shows.
    let now = Instant::now();
    let (creating, deleting) = {
        let mut all = ctx
            .expectations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = all.entry(uid.clone()).or_default();
        entry.creating.retain(|pod, since| {
            now.duration_since(*since) < EXPECTATION_TIMEOUT
                && !owned.iter().any(|seen| seen.name_any() == *pod)
        });
        entry.deleting.retain(|pod, since| {
            now.duration_since(*since) < EXPECTATION_TIMEOUT
                && owned.iter().any(|seen| seen.name_any() == *pod)
        });
        entry.patched.retain(|pod, written| {
            owned
                .iter()
                .any(|seen| seen.name_any() == *pod && cache_behind(seen.as_ref(), written))
        });
        if entry
            .status
            .as_ref()
            .is_some_and(|(written, _)| !cache_behind(rs.as_ref(), written))
        {
            entry.status = None;
        }
        (entry.creating.len(), entry.deleting.clone())
    };
    let live: Vec<Arc<Pod>> = owned
        .into_iter()
        .filter(|pod| !deleting.contains_key(&pod.name_any()))
        .collect();
    let mut views: Vec<(Arc<Pod>, PodView)> = live
        .iter()
        .map(|pod| (pod.clone(), view_pod(pod, &template_labels)))
        .collect();
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);

    let count = views.len().saturating_add(creating);
    if count < desired {
        if let Some(template) = &template {
            for _ in count..desired {
                let delay = ctx.knobs.pod_ready_delay();
                if let Some(pod) = create_pod(&pods_api, &rs, &uid, template, delay).await? {
                    ctx.expectations
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .entry(uid.clone())
                        .or_default()
                        .creating
                        .insert(pod, Instant::now());
                }
            }
        }
    } else if count > desired {
        let excess = count.saturating_sub(desired);
        // Victims: not-ready pods first, then the youngest.
        views.sort_by(|(_, a), (_, b)| {
            a.ready_since
                .is_some()
                .cmp(&b.ready_since.is_some())
                .then(b.ready_at.cmp(&a.ready_at))
        });
        let victims: Vec<String> = views
            .iter()
            .take(excess)
            .map(|(_, view)| view.name.clone())
            .collect();
        for victim in &victims {
            match pods_api.delete(victim, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(error) if is_status(&error, 404) => {}
                Err(error) => {
                    return Err(request_error("delete", "Pod", &namespace, victim)(error));
                }
            }
            ctx.expectations
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(uid.clone())
                .or_default()
                .deleting
                .insert(victim.clone(), Instant::now());
        }
        views.retain(|(_, view)| !victims.contains(&view.name));
    }

    // Readiness.
    let wall = Utc::now();
    let mut next_wake: Option<Duration> = None;
    let mut wake_at = |at: DateTime<Utc>| {
        let wait = at
            .signed_duration_since(wall)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .saturating_add(Duration::from_millis(5));
        next_wake = Some(next_wake.map_or(wait, |current| current.min(wait)));
    };
    for (pod, view) in &mut views {
        if view.ready_since.is_some() {
            continue;
        }
        if wall < view.ready_at {
            wake_at(view.ready_at);
            continue;
        }
        let already_patched = ctx
            .expectations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&uid)
            .is_some_and(|entry| entry.patched.contains_key(&view.name));
        if never_ready {
            if !view.running && !already_patched {
                let written = patch_pod_status(&pods_api, &namespace, pod, false).await?;
                remember_patch(&ctx, &uid, pod, written);
            }
            view.running = true;
            continue;
        }
        if !already_patched {
            let written = patch_pod_status(&pods_api, &namespace, pod, true).await?;
            remember_patch(&ctx, &uid, pod, written);
        }
        view.running = true;
        view.ready_since = Some(wall);
    }

    let ready = views
        .iter()
        .filter(|(_, view)| view.ready_since.is_some())
        .count();
    // When each ready pod becomes available; one whose time runs past chrono's last instant
    // (a readiness time near it and a long minReadySeconds) never does.
    let available_at: Vec<DateTime<Utc>> = views
        .iter()
        .filter_map(|(_, view)| view.ready_since?.checked_add_signed(min_ready))
        .collect();
    let available = available_at.iter().filter(|at| **at <= wall).count();
    for at in available_at.into_iter().filter(|at| *at > wall) {
        wake_at(at);
    }
    let fully_labeled = views.iter().filter(|(_, view)| view.fully_labeled).count();
    let status = json!({
        "replicas": views.len(),
        "fullyLabeledReplicas": non_zero(fully_labeled),
        "readyReplicas": non_zero(ready),
        "availableReplicas": non_zero(available),
        "observedGeneration": rs.metadata.generation,
    });
    let uid_key = uid.clone();
    let written_before = ctx
        .expectations
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&uid_key)
        .and_then(|entry| entry.status.as_ref())
        .is_some_and(|(_, written)| *written == status);
    if !written_before
        && let Some(version) = write_status(&ctx, &rs, &namespace, &name, &status).await?
    {
        {
            ctx.expectations
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(uid_key)
                .or_default()
                .status = Some((version, status));
        }
    }

    let pending = {
        let mut all = ctx
            .expectations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pending = all
            .get(&uid)
            .is_some_and(|entry| !entry.creating.is_empty() || !entry.deleting.is_empty());
        if all.get(&uid).is_some_and(Expectations::is_empty) {
            all.remove(&uid);
        }
        pending
    };
    Ok(match (next_wake, pending) {
        (Some(wait), _) => Action::requeue(wait),
        (None, true) => Action::requeue(Duration::from_secs(2)),
        (None, false) => Action::await_change(),
    })
}

/// Whether the cached `object` is older than the resourceVersion `written` produced. Only
/// numeric resourceVersions (the sim's) are compared; otherwise the cache counts as current.
fn cache_behind<K: Resource>(object: &K, written: &str) -> bool {
    match (
        object
            .meta()
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok()),
        written.parse::<u64>().ok(),
    ) {
        (Some(cached), Some(written)) => cached < written,
        _ => false,
    }
}

fn remember_patch(ctx: &Context, uid: &str, pod: &Pod, written: Option<String>) {
    if let Some(version) = written {
        ctx.expectations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(uid.to_string())
            .or_default()
            .patched
            .insert(pod.name_any(), version);
    }
}

fn non_zero(count: usize) -> Value {
    if count == 0 {
        Value::Null
    } else {
        json!(count)
    }
}

async fn write_status(
    ctx: &Context,
    rs: &ReplicaSet,
    namespace: &str,
    name: &str,
    desired: &Value,
) -> Result<Option<String>, Error> {
    let current = serde_json::to_value(&rs.status).map_err(|source| Error::Encode {
        kind: "ReplicaSet",
        source,
    })?;
    let unchanged = desired
        .as_object()
        .into_iter()
        .flatten()
        .all(|(key, value)| current.get(key).unwrap_or(&Value::Null) == value);
    if unchanged {
        return Ok(None);
    }
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), namespace);
    match api
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": desired})),
        )
        .await
    {
        Ok(patched) => Ok(patched.resource_version()),
        Err(error) if is_status(&error, 404) => Ok(None),
        Err(error) => Err(request_error(
            "patch status of",
            "ReplicaSet",
            namespace,
            name,
        )(error)),
    }
}

#[cfg(test)]
mod index_tests {
    use super::*;

    fn pod(name: &str, owner: Option<&str>) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default",
                "ownerReferences": owner.map(|uid| vec![json!({"apiVersion": "apps/v1",
                    "kind": "ReplicaSet", "name": "rs", "uid": uid, "controller": true})])},
        }))
        .unwrap()
    }

    fn names(index: &PodsByOwner, owner: &str) -> Vec<String> {
        let mut names: Vec<String> = index
            .owned_by(owner)
            .into_iter()
            .map(|key| key.name)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn pods_by_owner_follows_applies_deletes_and_relists() {
        let mut index = PodsByOwner::default();
        index.observe(&watcher::Event::Apply(pod("a", Some("u1"))));
        index.observe(&watcher::Event::Apply(pod("b", Some("u1"))));
        index.observe(&watcher::Event::Apply(pod("c", None)));
        assert_eq!(names(&index, "u1"), ["a", "b"]);
        // An orphaned pod leaves its old owner; an adopted one joins its new owner.
        index.observe(&watcher::Event::Apply(pod("b", None)));
        index.observe(&watcher::Event::Apply(pod("c", Some("u2"))));
        assert_eq!(names(&index, "u1"), ["a"]);
        assert_eq!(names(&index, "u2"), ["c"]);
        index.observe(&watcher::Event::Delete(pod("a", Some("u1"))));
        assert!(names(&index, "u1").is_empty());

        // A relist keeps the old contents until it is complete, then replaces them.
        index.observe(&watcher::Event::Init);
        index.observe(&watcher::Event::InitApply(pod("d", Some("u1"))));
        assert_eq!(names(&index, "u2"), ["c"]);
        assert!(names(&index, "u1").is_empty());
        index.observe(&watcher::Event::InitDone);
        assert_eq!(names(&index, "u1"), ["d"]);
        assert!(names(&index, "u2").is_empty());
    }
}
