//! The objects routers reference, watched for them.
//!
//! A router names the objects it reads or writes for a Rollout in
//! [`TrafficRouter::referenced_objects`](kulta_router::TrafficRouter::referenced_objects). The
//! controller records them on every reconcile ([`WatchedObjects::track`]) and watches each kind
//! from the first time a router names it: a change to an object wakes the Rollouts that name it,
//! so a pending verification moves on when the router's objects change, not at the next poll.
//! The watches' stores are the [`ObjectCache`] the routers read from (handed to every factory
//! through [`RouterFactory::attach`](kulta_router::RouterFactory::attach)), with each router's
//! own writes laid over them until the watch delivers them ([`OwnWrites`]); the echo of such a
//! write wakes nothing. Objects are held as the JSON text of their trimmed form (a few KiB per
//! HTTPRoute; parsed trees cost several times that). The first list of a kind wakes nothing (no
//! reconcile planned with a cached version before it); a relist after the watch lost its place
//! wakes the Rollouts of the objects that changed or went meanwhile.
//!
//! Nothing here knows what a route is: the kinds come from the routers, the API resource of a
//! kind from discovery.
//!
//! One file (~500 lines of code) on purpose: the kinds, their objects, the references and the
//! wakes are one shared state behind the watches; its tests take the rest.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::channel::mpsc;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::discovery::{self, Scope};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use kulta_api::Rollout;
use kulta_router::{ObjectCache, ResourceRef};
use tracing::{debug, warn};

use crate::cache_trim;
use crate::own_writes::OwnWrites;

/// A kind: `apiVersion` and `kind`.
type Kind = (String, String);

/// The watches of the kinds routers reference, the objects' Rollouts, and the routers' writes.
pub struct WatchedObjects {
    client: Client,
    /// Watch only this namespace (the controller's `--namespace`); objects elsewhere are read
    /// by the routers from the API server.
    namespace: Option<String>,
    /// How long a kind discovery did not find is left before it is asked again.
    unserved_retry: Duration,
    shared: Arc<Shared>,
    wake: mpsc::UnboundedSender<ObjectRef<Rollout>>,
    /// The running watches, stopped when the controller goes.
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

#[derive(Default)]
struct Shared {
    kinds: Mutex<HashMap<Kind, KindState>>,
    references: Mutex<References>,
}

/// A kind a router named.
enum KindState {
    /// Watched (or its watch is starting).
    Watched(Arc<KindWatch>),
    /// Discovery did not find it at this time; asked again after [`UNSERVED_RETRY`].
    Unserved(Instant),
}

/// How long a kind the API server does not serve is left before discovery is asked again (its
/// CRD may be installed later).
const UNSERVED_RETRY: Duration = Duration::from_secs(60);

/// One watched kind.
#[derive(Default)]
struct KindWatch {
    /// The objects as the watch delivered them.
    objects: Mutex<Objects>,
    /// The routers' writes of objects of this kind.
    own: OwnWrites<DynamicObject>,
    /// Listed, and no error since: every change reaches the Rollouts.
    healthy: AtomicBool,
}

/// A watch's objects by namespace and name, each kept as the JSON text of its trimmed form: a
/// thousand HTTPRoutes held as `serde_json::Value` trees cost about four times the memory.
#[derive(Default)]
struct Objects {
    by_name: HashMap<(String, String), Stored>,
    /// Objects listed since a (re)list began, to drop the rest when it ends.
    relisted: Option<HashSet<(String, String)>>,
    /// Whether a first list completed.
    listed: bool,
}

struct Stored {
    resource_version: Option<String>,
    json: Box<str>,
}

/// An object a watch event changed: namespace, name and (unless it is gone) its version.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Changed {
    namespace: String,
    name: String,
    resource_version: Option<String>,
}

impl Changed {
    fn of(object: &DynamicObject) -> Self {
        let (namespace, name) = name_of(object);
        Changed {
            namespace,
            name,
            resource_version: object.metadata.resource_version.clone(),
        }
    }
}

#[derive(Default)]
struct References {
    by_object: HashMap<ResourceRef, HashSet<ObjectRef<Rollout>>>,
    of_rollout: HashMap<ObjectRef<Rollout>, Vec<ResourceRef>>,
}

impl WatchedObjects {
    /// Watches on `client` (in `namespace` only, when given); the receiver yields the Rollouts
    /// to wake (`Controller::reconcile_on`).
    pub fn new(
        client: Client,
        namespace: Option<String>,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<ObjectRef<Rollout>>) {
        Self::with_unserved_retry(client, namespace, UNSERVED_RETRY)
    }

    /// [`WatchedObjects::new`], asking discovery again about a kind it did not find after
    /// `unserved_retry` instead of [`UNSERVED_RETRY`].
    pub fn with_unserved_retry(
        client: Client,
        namespace: Option<String>,
        unserved_retry: Duration,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<ObjectRef<Rollout>>) {
        let (wake, woken) = mpsc::unbounded();
        let watched = WatchedObjects {
            client,
            namespace,
            unserved_retry,
            shared: Arc::default(),
            wake,
            tasks: Mutex::default(),
        };
        (Arc::new(watched), woken)
    }

    /// Records that `rollout` references `objects` (replacing what it referenced before), and
    /// starts watching any kind not watched yet (a kind the API server did not serve is asked
    /// about again after [`UNSERVED_RETRY`]).
    pub fn track(&self, rollout: &ObjectRef<Rollout>, objects: &[ResourceRef]) {
        if let Ok(mut references) = self.shared.references.lock() {
            references.set(rollout, objects);
        }
        for object in objects {
            self.watch_kind(&object.api_version, &object.kind);
        }
    }

    /// Forgets what `rollout` references (it is gone, or references nothing valid any more).
    pub fn untrack(&self, rollout: &ObjectRef<Rollout>) {
        if let Ok(mut references) = self.shared.references.lock() {
            references.remove(rollout);
        }
    }

    /// Starts the watch of a kind unless it runs (or is starting), or discovery did not find
    /// it less than `unserved_retry` ago.
    fn watch_kind(&self, api_version: &str, kind: &str) {
        let key = (api_version.to_owned(), kind.to_owned());
        let watch = {
            let Ok(mut kinds) = self.shared.kinds.lock() else {
                return;
            };
            match kinds.get(&key) {
                Some(KindState::Watched(_)) => return,
                Some(KindState::Unserved(at)) if at.elapsed() < self.unserved_retry => return,
                Some(KindState::Unserved(_)) | None => {}
            }
            let watch = Arc::new(KindWatch::default());
            kinds.insert(key.clone(), KindState::Watched(watch.clone()));
            watch
        };
        let task = tokio::spawn(run_watch(
            self.client.clone(),
            self.namespace.clone(),
            key,
            watch,
            self.shared.clone(),
            self.wake.clone(),
        ));
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.push(task.abort_handle());
        }
    }

    /// Whether `objects` are all of watched kinds whose watches are healthy (listed, and not
    /// failing), and within the namespace watched: then every change to them wakes the
    /// Rollouts that reference them. `false` for none.
    pub fn watching(&self, objects: &[ResourceRef]) -> bool {
        let in_scope = |object: &ResourceRef| {
            object.namespace.is_empty()
                || self
                    .namespace
                    .as_ref()
                    .is_none_or(|watched| *watched == object.namespace)
        };
        !objects.is_empty()
            && objects.iter().all(|object| {
                in_scope(object)
                    && self
                        .kind(object)
                        .is_some_and(|watch| watch.healthy.load(Ordering::Acquire))
            })
    }

    fn kind(&self, object: &ResourceRef) -> Option<Arc<KindWatch>> {
        let kinds = self.shared.kinds.lock().ok()?;
        match kinds.get(&(object.api_version.clone(), object.kind.clone()))? {
            KindState::Watched(watch) => Some(watch.clone()),
            KindState::Unserved(_) => None,
        }
    }
}

impl Drop for WatchedObjects {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.lock() {
            for task in tasks.iter() {
                task.abort();
            }
        }
    }
}

impl ObjectCache for WatchedObjects {
    fn get(&self, object: &ResourceRef) -> Option<serde_json::Value> {
        let current = self
            .kind(object)?
            .current(&object.namespace, &object.name)?;
        serde_json::to_value(&*current).ok()
    }

    fn record(&self, object: &ResourceRef, written: serde_json::Value) {
        let Some(watch) = self.kind(object) else {
            return;
        };
        match serde_json::from_value::<DynamicObject>(written) {
            Ok(written) => watch.own.record(written),
            Err(error) => debug!(%object, %error, "a router's write is not an object; not cached"),
        }
    }
}

impl KindWatch {
    /// The newest version of `namespace/name` known here: a router's own write until the watch
    /// delivers it, else the watch's. Nothing while the watch is failing (or has not listed):
    /// what it holds may be behind by changes it missed, so the router reads afresh until the
    /// watch delivers again.
    fn current(&self, namespace: &str, name: &str) -> Option<Arc<DynamicObject>> {
        if !self.healthy.load(Ordering::Acquire) {
            return None;
        }
        self.own.view(namespace, name, self.cached(namespace, name))
    }

    fn cached(&self, namespace: &str, name: &str) -> Option<Arc<DynamicObject>> {
        let objects = self.objects.lock().ok()?;
        let stored = objects
            .by_name
            .get(&(namespace.to_owned(), name.to_owned()))?;
        serde_json::from_str(&stored.json).ok().map(Arc::new)
    }

    /// Takes what the watch yielded: an event ([`observe`](Self::observe)), which leaves the
    /// watch healthy once it has listed, or an error, which leaves it unhealthy (not trusted by
    /// [`ObjectCache::get`], polled by the plan) until the next event shows it delivering again.
    fn take(&self, event: Result<watcher::Event<DynamicObject>, watcher::Error>) -> Vec<Changed> {
        match event {
            Ok(event) => {
                let delivering = matches!(
                    event,
                    watcher::Event::InitDone | watcher::Event::Apply(_) | watcher::Event::Delete(_)
                );
                let changed = self.observe(event);
                if delivering {
                    self.healthy.store(true, Ordering::Release);
                }
                changed
            }
            Err(_) => {
                self.healthy.store(false, Ordering::Release);
                Vec::new()
            }
        }
    }

    /// Takes one watch event; returns the objects whose change should wake their Rollouts:
    /// every applied or deleted one, and of a relist the ones that differ from what was held
    /// (the first list wakes nothing: no reconcile planned with a cached version before it).
    fn observe(&self, event: watcher::Event<DynamicObject>) -> Vec<Changed> {
        let Ok(mut objects) = self.objects.lock() else {
            return Vec::new();
        };
        match event {
            watcher::Event::Apply(object) => {
                objects.insert(&object);
                vec![Changed::of(&object)]
            }
            watcher::Event::Delete(object) => {
                objects.by_name.remove(&name_of(&object));
                vec![Changed::of(&object)]
            }
            watcher::Event::Init => {
                objects.relisted = Some(HashSet::new());
                Vec::new()
            }
            watcher::Event::InitApply(object) => {
                let name = name_of(&object);
                let changed = objects
                    .by_name
                    .get(&name)
                    .is_none_or(|held| held.resource_version != object.metadata.resource_version);
                if let Some(relisted) = objects.relisted.as_mut() {
                    relisted.insert(name);
                }
                objects.insert(&object);
                if objects.listed && changed {
                    vec![Changed::of(&object)]
                } else {
                    Vec::new()
                }
            }
            watcher::Event::InitDone => {
                let relisted = objects.relisted.take().unwrap_or_default();
                let gone: Vec<(String, String)> = objects
                    .by_name
                    .keys()
                    .filter(|name| !relisted.contains(*name))
                    .cloned()
                    .collect();
                for name in &gone {
                    objects.by_name.remove(name);
                }
                objects.listed = true;
                gone.into_iter()
                    .map(|(namespace, name)| Changed {
                        namespace,
                        name,
                        resource_version: None,
                    })
                    .collect()
            }
        }
    }
}

impl Objects {
    fn insert(&mut self, object: &DynamicObject) {
        match serde_json::to_string(object) {
            Ok(json) => {
                self.by_name.insert(
                    name_of(object),
                    Stored {
                        resource_version: object.metadata.resource_version.clone(),
                        json: json.into_boxed_str(),
                    },
                );
            }
            Err(error) => debug!(%error, "a watched object does not serialize; not cached"),
        }
    }
}

fn name_of(object: &DynamicObject) -> (String, String) {
    (object.namespace().unwrap_or_default(), object.name_any())
}

impl References {
    /// Records that `rollout` references `objects`; whether that changed anything.
    fn set(&mut self, rollout: &ObjectRef<Rollout>, objects: &[ResourceRef]) -> bool {
        if self
            .of_rollout
            .get(rollout)
            .is_some_and(|known| known.as_slice() == objects)
        {
            return false;
        }
        self.remove(rollout);
        for object in objects {
            self.by_object
                .entry(object.clone())
                .or_default()
                .insert(rollout.clone());
        }
        self.of_rollout.insert(rollout.clone(), objects.to_vec());
        true
    }

    fn remove(&mut self, rollout: &ObjectRef<Rollout>) {
        for object in self.of_rollout.remove(rollout).unwrap_or_default() {
            if let Some(rollouts) = self.by_object.get_mut(&object) {
                rollouts.remove(rollout);
                if rollouts.is_empty() {
                    self.by_object.remove(&object);
                }
            }
        }
    }
}

impl Shared {
    fn rollouts_of(&self, object: &ResourceRef) -> Vec<ObjectRef<Rollout>> {
        let Ok(references) = self.references.lock() else {
            return Vec::new();
        };
        references
            .by_object
            .get(object)
            .map(|rollouts| rollouts.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Finds the kind's API resource, then watches it until the controller goes, waking the
/// Rollouts that reference each changed object. A kind the API server does not serve is marked
/// so, and asked about again by a reconcile that names it after [`UNSERVED_RETRY`].
async fn run_watch(
    client: Client,
    namespace: Option<String>,
    key: Kind,
    watch: Arc<KindWatch>,
    shared: Arc<Shared>,
    wake: mpsc::UnboundedSender<ObjectRef<Rollout>>,
) {
    let (api_version, kind) = &key;
    let gvk = match api_version.split_once('/') {
        Some((group, version)) => GroupVersionKind::gvk(group, version, kind),
        None => GroupVersionKind::gvk("", api_version, kind),
    };
    let (resource, capabilities) = match discovery::pinned_kind(&client, &gvk).await {
        Ok(found) => found,
        Err(error) => {
            warn!(%api_version, %kind, %error, "a router references a kind the API server does not serve; its objects are read, not watched");
            if let Ok(mut kinds) = shared.kinds.lock() {
                kinds.insert(key, KindState::Unserved(Instant::now()));
            }
            return;
        }
    };
    let api: Api<DynamicObject> = match (&capabilities.scope, &namespace) {
        (Scope::Namespaced, Some(namespace)) => Api::namespaced_with(client, namespace, &resource),
        _ => Api::all_with(client, &resource),
    };
    watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(cache_trim::referenced)
        .for_each(|event| {
            if let Err(error) = &event {
                debug!(%api_version, %kind, %error, "watch of referenced objects failed; retrying");
            }
            for changed in watch.take(event) {
                for rollout in woken_by(&watch, &shared, &resource, &changed) {
                    // Fails only when the controller stopped; nothing left to wake.
                    let _ = wake.unbounded_send(rollout);
                }
            }
            futures::future::ready(())
        })
        .await;
}

/// The Rollouts a change wakes: those that reference the object, unless the change is the echo
/// of a router's own write (the reconcile that wrote it planned with it).
fn woken_by(
    watch: &KindWatch,
    shared: &Shared,
    resource: &ApiResource,
    changed: &Changed,
) -> Vec<ObjectRef<Rollout>> {
    if let Some(version) = &changed.resource_version
        && watch.own.wrote(&changed.namespace, &changed.name, version)
    {
        return Vec::new();
    }
    shared.rollouts_of(&ResourceRef {
        api_version: resource.api_version.clone(),
        kind: resource.kind.clone(),
        namespace: changed.namespace.clone(),
        name: changed.name.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str) -> ResourceRef {
        ResourceRef {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    fn rollout(name: &str) -> ObjectRef<Rollout> {
        ObjectRef::new(name).within("ns")
    }

    fn config_map(name: &str, resource_version: &str) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"namespace": "ns", "name": name, "resourceVersion": resource_version},
        }))
        .expect("an object")
    }

    fn changed(name: &str, resource_version: &str) -> Changed {
        Changed::of(&config_map(name, resource_version))
    }

    fn names(changes: &[Changed]) -> Vec<(&str, Option<&str>)> {
        changes
            .iter()
            .map(|c| (c.name.as_str(), c.resource_version.as_deref()))
            .collect()
    }

    #[test]
    fn the_first_list_wakes_nothing_a_relist_wakes_what_changed_while_away() {
        use watcher::Event;
        let watch = KindWatch::default();
        let mut woken = Vec::new();
        for event in [
            Event::Init,
            Event::InitApply(config_map("a", "1")),
            Event::InitApply(config_map("b", "2")),
            Event::InitDone,
        ] {
            woken.extend(watch.observe(event));
        }
        assert!(
            woken.is_empty(),
            "nothing planned with a cached version yet"
        );
        let cached = watch.cached("ns", "a").expect("cached");
        assert_eq!(cached.metadata.resource_version.as_deref(), Some("1"));

        assert_eq!(
            names(&watch.observe(Event::Apply(config_map("a", "3")))),
            [("a", Some("3"))]
        );
        // The watch lost its place: a relist in which b changed and a is gone.
        let mut woken = Vec::new();
        for event in [
            Event::Init,
            Event::InitApply(config_map("b", "4")),
            Event::InitApply(config_map("c", "5")),
            Event::InitDone,
        ] {
            woken.extend(watch.observe(event));
        }
        assert_eq!(
            names(&woken),
            [("b", Some("4")), ("c", Some("5")), ("a", None)]
        );
        assert!(watch.cached("ns", "a").is_none());
        // Listed again unchanged: nothing.
        let mut woken = Vec::new();
        for event in [
            Event::Init,
            Event::InitApply(config_map("b", "4")),
            Event::InitDone,
        ] {
            woken.extend(watch.observe(event));
        }
        assert!(names(&woken).iter().all(|(name, _)| *name != "b"));
        assert_eq!(
            names(&watch.observe(Event::Delete(config_map("b", "6")))),
            [("b", Some("6"))]
        );
    }

    #[test]
    fn an_event_wakes_the_rollouts_naming_the_object_unless_it_is_our_echo() {
        let resource = ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
        let shared = Shared::default();
        let web = rollout("web");
        let gate = reference("gate");
        assert!(
            shared
                .references
                .lock()
                .expect("lock")
                .set(&web, std::slice::from_ref(&gate))
        );
        let watch = KindWatch::default();
        assert_eq!(
            woken_by(&watch, &shared, &resource, &changed("gate", "5")),
            vec![web.clone()]
        );
        assert!(
            woken_by(&watch, &shared, &resource, &changed("other", "5")).is_empty(),
            "an object no Rollout names"
        );
        // A router wrote version 7: its event is an echo, a later version is not.
        watch.own.record(config_map("gate", "7"));
        assert!(woken_by(&watch, &shared, &resource, &changed("gate", "7")).is_empty());
        assert_eq!(
            woken_by(&watch, &shared, &resource, &changed("gate", "8")),
            vec![web]
        );
    }

    #[test]
    fn a_failing_watch_is_not_read_until_it_delivers_again() {
        use watcher::Event;
        let watch = KindWatch::default();
        let version = |watch: &KindWatch| {
            watch
                .current("ns", "gate")
                .and_then(|o| o.metadata.resource_version.clone())
        };
        watch.take(Ok(Event::Init));
        watch.take(Ok(Event::InitApply(config_map("gate", "1"))));
        assert_eq!(version(&watch), None, "not listed yet");
        watch.take(Ok(Event::InitDone));
        assert_eq!(version(&watch).as_deref(), Some("1"));

        // The watch fails: changes may be passing it by, so its copy is not handed out.
        assert!(
            watch
                .take(Err(watcher::Error::NoResourceVersion))
                .is_empty()
        );
        assert_eq!(version(&watch), None);
        // It resumes and delivers what it missed: trusted again.
        assert_eq!(
            names(&watch.take(Ok(Event::Apply(config_map("gate", "4"))))),
            [("gate", Some("4"))]
        );
        assert_eq!(version(&watch).as_deref(), Some("4"));
    }

    #[test]
    fn references_map_objects_to_rollouts_and_follow_spec_changes() {
        let shared = Shared::default();
        let (web, api) = (rollout("web"), rollout("api"));
        {
            let mut references = shared.references.lock().expect("lock");
            assert!(references.set(&web, &[reference("public"), reference("old")]));
            assert!(references.set(&web, &[reference("public"), reference("internal")]));
            assert!(
                !references.set(&web, &[reference("public"), reference("internal")]),
                "the same objects again change nothing"
            );
            assert!(references.set(&api, &[reference("public")]));
        }
        assert!(
            shared.rollouts_of(&reference("old")).is_empty(),
            "a spec change drops what it no longer names"
        );
        let mut public = shared.rollouts_of(&reference("public"));
        public.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(public, vec![api.clone(), web.clone()]);
        assert_eq!(
            shared.rollouts_of(&reference("internal")),
            vec![web.clone()]
        );

        shared.references.lock().expect("lock").remove(&web);
        assert_eq!(shared.rollouts_of(&reference("public")), vec![api]);
        assert!(shared.rollouts_of(&reference("internal")).is_empty());
        assert!(
            !shared
                .references
                .lock()
                .expect("lock")
                .by_object
                .contains_key(&reference("internal")),
            "an object no Rollout names is dropped"
        );
    }
}
