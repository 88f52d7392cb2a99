//! Simulated gateway controller: accepts HTTPRoutes and GRPCRoutes
//! (`gateway.networking.k8s.io/v1`) by writing one `status.parents[]` entry per
//! `spec.parentRefs` entry, with `Accepted` and `ResolvedRefs` conditions at the route's
//! generation, after the route status delay.
//!
//! It tolerates the route kinds not existing yet (their watches retry every second at most until
//! the CRDs are installed) and re-evaluates routes when Services appear or vanish
//! (`ResolvedRefs=False`, reason `BackendNotFound`). A backend Service in another namespace
//! needs a ReferenceGrant there that allows the route's kind from the route's namespace, as the
//! Gateway API requires (`ResolvedRefs=False`, reason `RefNotPermitted`, until one does); grants
//! re-evaluate every route when they change. Every parentRef is accepted as long as the route is
//! not rejected by a knob: Gateways, listeners and hostnames are not checked. Entries written by
//! other controllers (another `controllerName`) are kept.
//!
//! One file (~575 lines of code) on purpose: the route cache, its Service and grant indexes and
//! the status rules are one controller's state, read together; its tests follow.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::controller::{Action, Config, ReconcileRequest, trigger_self, trigger_with};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, applier, watcher};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::ControllerKnobs;
use super::support::{Error, QuickBackoff, now_time, on_knob_change};

/// The `controllerName` the simulated gateway writes in route status.
pub(super) const CONTROLLER_NAME: &str = "sim.kulta.io/gateway-controller";

/// The route kinds the gateway controller handles: (kind, plural).
pub(super) const ROUTE_KINDS: [(&str, &str); 2] =
    [("HTTPRoute", "httproutes"), ("GRPCRoute", "grpcroutes")];

struct Context {
    client: Client,
    knobs: Arc<ControllerKnobs>,
    routes: Store<DynamicObject>,
    services: Store<Service>,
    grants: Store<DynamicObject>,
    resource: ApiResource,
    /// Per route (`namespace/name`): the parents last written and the resourceVersion the write
    /// produced, so a lagging cache does not cause the same write twice.
    written: std::sync::Mutex<std::collections::HashMap<String, (u64, Vec<Value>)>>,
}

/// The `ApiResource` of a Gateway API v1 route kind.
pub(super) fn route_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", kind),
        plural,
    )
}

/// Runs the gateway controller for one route kind while its CRD
/// (`<plural>.gateway.networking.k8s.io`) exists, until `shutdown` is cancelled: it watches the
/// CRD, starts [`run`] when it appears and stops it when it is deleted, so a missing kind costs
/// one idle watch instead of a stream of 404s.
pub(super) async fn supervise(
    client: Client,
    knobs: Arc<ControllerKnobs>,
    shutdown: CancellationToken,
    resource: ApiResource,
) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crd_name = format!("{}.{}", resource.plural, resource.group);
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let config = watcher::Config::default().fields(&format!("metadata.name={crd_name}"));
    let mut events = watcher(crds, config)
        .backoff(QuickBackoff::default())
        .boxed();
    let mut running: Option<(CancellationToken, tokio::task::JoinHandle<()>)> = None;
    let mut listed = false;
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => break,
            event = events.next() => event,
        };
        let present = match event {
            None => break,
            Some(Err(error)) => {
                debug!(%error, crd = %crd_name, "crd watch error");
                continue;
            }
            Some(Ok(watcher::Event::Apply(crd) | watcher::Event::InitApply(crd))) => {
                listed |= crd.name_any() == crd_name;
                crd.metadata.deletion_timestamp.is_none()
            }
            Some(Ok(watcher::Event::Delete(_))) => false,
            Some(Ok(watcher::Event::Init)) => {
                listed = false;
                continue;
            }
            Some(Ok(watcher::Event::InitDone)) => listed,
        };
        match (present, running.is_some()) {
            (true, false) => {
                let token = shutdown.child_token();
                let handle = tokio::spawn(run(
                    client.clone(),
                    knobs.clone(),
                    token.clone(),
                    resource.clone(),
                ));
                running = Some((token, handle));
            }
            (false, true) => {
                if let Some((token, handle)) = running.take() {
                    token.cancel();
                    let _ = handle.await;
                }
            }
            _ => {}
        }
    }
    if let Some((token, handle)) = running.take() {
        token.cancel();
        let _ = handle.await;
    }
}

/// Runs the gateway controller for one route kind until `shutdown` is cancelled.
pub(super) async fn run(
    client: Client,
    knobs: Arc<ControllerKnobs>,
    shutdown: CancellationToken,
    resource: ApiResource,
) {
    let routes: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let services: Api<Service> = Api::all(client.clone());
    let route_writer = reflector::store::Writer::<DynamicObject>::new(resource.clone());
    let route_reader = route_writer.as_reader();
    let (service_reader, service_writer) = reflector::store();
    let grant_resource = route_resource("ReferenceGrant", "referencegrants");
    let grants: Api<DynamicObject> = Api::all_with(client.clone(), &grant_resource);
    let grant_writer = reflector::store::Writer::<DynamicObject>::new(grant_resource);
    let grant_reader = grant_writer.as_reader();
    // A grant may allow or stop any route's cross-namespace backend: re-evaluate them all.
    let all_routes = route_reader.clone();
    let all_routes_resource = resource.clone();
    let grant_events = watcher(grants, watcher::Config::default())
        .backoff(QuickBackoff::default())
        .reflect(grant_writer)
        .touched_objects();

    let routes_by_service = Arc::new(std::sync::Mutex::new(RoutesByService::default()));
    let index = routes_by_service.clone();
    let index_dyntype = resource.clone();
    // The index follows the cache within the same poll of the stream.
    let route_events = watcher(routes, watcher::Config::default())
        .backoff(QuickBackoff::default())
        .reflect(route_writer)
        .inspect_ok(move |event| {
            index
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .observe(event, &index_dyntype);
        })
        .applied_objects();
    let service_events = watcher(services, watcher::Config::default())
        .backoff(QuickBackoff::default())
        .reflect(service_writer)
        .touched_objects();
    let queue = futures::stream::select_all([
        trigger_self(route_events, resource.clone()).boxed(),
        trigger_with(service_events, move |service: Service| {
            let key = (service.namespace().unwrap_or_default(), service.name_any());
            routes_by_service
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .routes_of(&key)
                .into_iter()
                .map(ReconcileRequest::from)
                .collect::<Vec<_>>()
        })
        .boxed(),
        on_knob_change(knobs.subscribe(), route_reader.clone(), resource.clone()).boxed(),
        trigger_with(grant_events, move |_grant: DynamicObject| {
            all_routes
                .state()
                .iter()
                .map(|route| {
                    ReconcileRequest::from(ObjectRef::from_obj_with(
                        route.as_ref(),
                        all_routes_resource.clone(),
                    ))
                })
                .collect::<Vec<_>>()
        })
        .boxed(),
    ]);
    let context = Arc::new(Context {
        client,
        knobs,
        routes: route_reader.clone(),
        services: service_reader,
        grants: grant_reader,
        resource,
        written: std::sync::Mutex::new(std::collections::HashMap::new()),
    });
    applier(
        |route, ctx| Box::pin(reconcile(route, ctx)),
        |_, error: &Error, _| {
            debug!(category = error.category(), %error, "route reconcile failed");
            Action::requeue(Duration::from_millis(500))
        },
        context,
        route_reader,
        queue,
        Config::default(),
    )
    .take_until(shutdown.cancelled_owned())
    .for_each(|result| async move {
        if let Err(error) = result {
            debug!(%error, "gateway controller event");
        }
    })
    .await;
}

/// Routes by the backend Services (namespace, name) they point at, kept in step with the route
/// cache from the same watch events, so a Service change finds its routes without scanning
/// every route.
#[derive(Default)]
struct RoutesByService {
    by_service: HashMap<ServiceKey, HashSet<RouteKey>>,
    services_of: HashMap<RouteKey, Vec<ServiceKey>>,
    /// The routes of a relist in progress (`Init` to `InitDone`), swapped in at its end as the
    /// cache swaps its contents.
    relisting: Option<Vec<(RouteKey, Vec<ServiceKey>)>>,
}

/// A Service's namespace and name.
type ServiceKey = (String, String);
/// A route in the cache.
type RouteKey = ObjectRef<DynamicObject>;

impl RoutesByService {
    fn observe(&mut self, event: &watcher::Event<DynamicObject>, dyntype: &ApiResource) {
        let key = |route: &DynamicObject| ObjectRef::from_obj_with(route, dyntype.clone());
        match event {
            watcher::Event::Apply(route) => {
                let route_key = key(route);
                self.forget(&route_key);
                self.insert(route_key, backend_services(route));
            }
            watcher::Event::Delete(route) => self.forget(&key(route)),
            watcher::Event::Init => self.relisting = Some(Vec::new()),
            watcher::Event::InitApply(route) => {
                if let Some(relisting) = self.relisting.as_mut() {
                    relisting.push((key(route), backend_services(route)));
                }
            }
            watcher::Event::InitDone => {
                self.by_service.clear();
                self.services_of.clear();
                for (route_key, services) in self.relisting.take().unwrap_or_default() {
                    self.insert(route_key, services);
                }
            }
        }
    }

    fn insert(&mut self, route: ObjectRef<DynamicObject>, services: Vec<(String, String)>) {
        for service in &services {
            self.by_service
                .entry(service.clone())
                .or_default()
                .insert(route.clone());
        }
        self.services_of.insert(route, services);
    }

    fn forget(&mut self, route: &ObjectRef<DynamicObject>) {
        for service in self.services_of.remove(route).unwrap_or_default() {
            if let Some(routes) = self.by_service.get_mut(&service) {
                routes.remove(route);
                if routes.is_empty() {
                    self.by_service.remove(&service);
                }
            }
        }
    }

    fn routes_of(&self, service: &(String, String)) -> Vec<ObjectRef<DynamicObject>> {
        self.by_service
            .get(service)
            .map(|routes| routes.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The backend Services (namespace, name) a route's rules point at.
fn backend_services(route: &DynamicObject) -> Vec<(String, String)> {
    let route_namespace = route.namespace().unwrap_or_default();
    let rules = route
        .data
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    rules
        .iter()
        .filter_map(|rule| rule.get("backendRefs").and_then(Value::as_array))
        .flatten()
        .filter(|backend| {
            let group = backend.get("group").and_then(Value::as_str).unwrap_or("");
            let kind = backend
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("Service");
            group.is_empty() && kind == "Service"
        })
        .filter_map(|backend| {
            let name = backend.get("name").and_then(Value::as_str)?;
            let namespace = backend
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or(&route_namespace);
            Some((namespace.to_string(), name.to_string()))
        })
        .collect()
}

/// Whether a ReferenceGrant in `service_namespace` allows routes of `kind` in `route_namespace`
/// to reference the Service `service` (pure).
fn grant_allows(
    grants: &[Arc<DynamicObject>],
    kind: &str,
    route_namespace: &str,
    service_namespace: &str,
    service: &str,
) -> bool {
    let text =
        |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    grants
        .iter()
        .filter(|grant| grant.namespace().as_deref() == Some(service_namespace))
        .any(|grant| {
            let list = |key: &str| {
                grant
                    .data
                    .pointer(&format!("/spec/{key}"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
            let from = list("from").iter().any(|from| {
                text(from, "group").as_deref() == Some("gateway.networking.k8s.io")
                    && text(from, "kind").as_deref() == Some(kind)
                    && text(from, "namespace").as_deref() == Some(route_namespace)
            });
            let to = list("to").iter().any(|to| {
                text(to, "group").unwrap_or_default().is_empty()
                    && text(to, "kind").as_deref() == Some("Service")
                    && text(to, "name").is_none_or(|name| name == service)
            });
            from && to
        })
}

/// One condition, keeping `lastTransitionTime` from `previous` when the status is unchanged.
fn condition(
    kind: &str,
    accepted: bool,
    reason: &str,
    message: &str,
    generation: i64,
    previous: Option<&Value>,
) -> Value {
    let status = if accepted { "True" } else { "False" };
    let previous = previous
        .and_then(|entry| entry.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|conditions| {
            conditions
                .iter()
                .find(|condition| condition.get("type").and_then(Value::as_str) == Some(kind))
        });
    let transition = previous
        .filter(|condition| condition.get("status").and_then(Value::as_str) == Some(status))
        .and_then(|condition| condition.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(now_time()));
    json!({
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": transition,
    })
}

/// The desired `status.parents` of a route (pure: no client).
fn desired_parents(
    route: &DynamicObject,
    rejected: bool,
    missing: &[(String, String)],
    not_permitted: &[(String, String)],
) -> Vec<Value> {
    let generation = route.metadata.generation.unwrap_or(0);
    let existing = route
        .data
        .pointer("/status/parents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let is_ours = |entry: &Value| {
        entry.get("controllerName").and_then(Value::as_str) == Some(CONTROLLER_NAME)
    };
    let mut parents: Vec<Value> = existing
        .iter()
        .filter(|entry| !is_ours(entry))
        .cloned()
        .collect();
    let parent_refs = route
        .data
        .pointer("/spec/parentRefs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for parent_ref in parent_refs {
        let previous = existing
            .iter()
            .find(|entry| is_ours(entry) && entry.get("parentRef") == Some(&parent_ref));
        let accepted = if rejected {
            condition(
                "Accepted",
                false,
                "NotAllowedByListeners",
                "route rejected by the simulated gateway",
                generation,
                previous,
            )
        } else {
            condition(
                "Accepted", true, "Accepted", "accepted", generation, previous,
            )
        };
        let resolved = match (not_permitted.first(), missing.first()) {
            (Some((namespace, name)), _) => condition(
                "ResolvedRefs",
                false,
                "RefNotPermitted",
                &format!(
                    "backendRef to service {namespace}/{name} is not permitted by any ReferenceGrant"
                ),
                generation,
                previous,
            ),
            (None, None) => condition(
                "ResolvedRefs",
                true,
                "ResolvedRefs",
                "all references resolved",
                generation,
                previous,
            ),
            (None, Some((namespace, name))) => condition(
                "ResolvedRefs",
                false,
                "BackendNotFound",
                &format!("service {namespace}/{name} not found"),
                generation,
                previous,
            ),
        };
        parents.push(json!({
            "parentRef": parent_ref,
            "controllerName": CONTROLLER_NAME,
            "conditions": [accepted, resolved],
        }));
    }
    parents
}

async fn reconcile(route: Arc<DynamicObject>, ctx: Arc<Context>) -> Result<Action, Error> {
    if ctx.knobs.gateway_frozen() {
        return Ok(Action::await_change());
    }
    let delay = ctx.knobs.route_status_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    // Act on the latest copy: the route may have changed during the delay.
    let key = ObjectRef::from_obj_with(route.as_ref(), ctx.resource.clone());
    let Some(route) = ctx.routes.get(&key) else {
        return Ok(Action::await_change());
    };
    if ctx.knobs.gateway_frozen() || route.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = route.namespace().unwrap_or_default();
    let name = route.name_any();
    let missing: Vec<(String, String)> = backend_services(&route)
        .into_iter()
        .filter(|(ns, service)| {
            ctx.services
                .get(&ObjectRef::<Service>::new(service).within(ns))
                .is_none()
        })
        .collect();
    let kind = ctx.resource.kind.as_str();
    let not_permitted: Vec<(String, String)> = backend_services(&route)
        .into_iter()
        .filter(|(ns, service)| {
            *ns != namespace && !grant_allows(&ctx.grants.state(), kind, &namespace, ns, service)
        })
        .collect();
    let rejected = ctx.knobs.is_route_rejected(&namespace, &name);
    let parents = desired_parents(&route, rejected, &missing, &not_permitted);
    let current = route
        .data
        .pointer("/status/parents")
        .cloned()
        .unwrap_or(json!([]));
    let key = format!("{namespace}/{name}");
    let cached_version = route
        .resource_version()
        .and_then(|version| version.parse::<u64>().ok())
        .unwrap_or(0);
    {
        let mut written = ctx
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match written.get(&key) {
            Some((version, _)) if cached_version >= *version => {
                written.remove(&key);
            }
            Some((_, last)) if *last == parents => return Ok(Action::await_change()),
            _ => {}
        }
    }
    if current == Value::Array(parents.clone()) {
        return Ok(Action::await_change());
    }
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &namespace, &ctx.resource);
    match api
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"parents": parents}})),
        )
        .await
    {
        Ok(patched) => {
            if let Some(version) = patched
                .resource_version()
                .and_then(|version| version.parse::<u64>().ok())
            {
                ctx.written
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(key, (version, parents));
            }
            Ok(Action::await_change())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Action::await_change()),
        Err(source) => Err(Error::Request {
            action: "patch status of",
            kind: "route",
            namespace,
            name,
            source: Box::new(source),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(spec: Value, status: Value) -> DynamicObject {
        let mut object = DynamicObject::new("web", &route_resource("HTTPRoute", "httproutes"))
            .within("default")
            .data(json!({"spec": spec, "status": status}));
        object.metadata.generation = Some(3);
        object
    }

    #[test]
    fn routes_by_service_follow_applies_deletes_and_relists() {
        let resource = route_resource("HTTPRoute", "httproutes");
        let backends = |names: &[&str]| {
            let refs: Vec<Value> = names
                .iter()
                .map(|name| json!({"name": name, "port": 80}))
                .collect();
            route(json!({"rules": [{"backendRefs": refs}]}), json!({}))
        };
        let named = |mut route: DynamicObject, name: &str| {
            route.metadata.name = Some(name.to_string());
            route
        };
        let routes_of = |index: &RoutesByService, service: &str| {
            let mut names: Vec<String> = index
                .routes_of(&("default".to_string(), service.to_string()))
                .into_iter()
                .map(|key| key.name)
                .collect();
            names.sort();
            names
        };
        let mut index = RoutesByService::default();
        index.observe(
            &watcher::Event::Apply(named(backends(&["a", "b"]), "r1")),
            &resource,
        );
        index.observe(
            &watcher::Event::Apply(named(backends(&["b"]), "r2")),
            &resource,
        );
        assert_eq!(routes_of(&index, "b"), ["r1", "r2"]);
        index.observe(
            &watcher::Event::Apply(named(backends(&["c"]), "r1")),
            &resource,
        );
        assert!(routes_of(&index, "a").is_empty());
        assert_eq!(routes_of(&index, "b"), ["r2"]);
        assert_eq!(routes_of(&index, "c"), ["r1"]);
        index.observe(
            &watcher::Event::Delete(named(backends(&["b"]), "r2")),
            &resource,
        );
        assert!(routes_of(&index, "b").is_empty());

        index.observe(&watcher::Event::Init, &resource);
        index.observe(
            &watcher::Event::InitApply(named(backends(&["d"]), "r3")),
            &resource,
        );
        assert_eq!(
            routes_of(&index, "c"),
            ["r1"],
            "kept until the relist is complete"
        );
        index.observe(&watcher::Event::InitDone, &resource);
        assert!(routes_of(&index, "c").is_empty());
        assert_eq!(routes_of(&index, "d"), ["r3"]);
    }

    #[test]
    fn backends_default_to_services_in_the_route_namespace() {
        let route = route(
            json!({"rules": [{"backendRefs": [
                {"name": "stable", "port": 80},
                {"name": "canary", "namespace": "other", "port": 80},
                {"name": "bucket", "group": "storage.example", "kind": "Bucket"},
            ]}]}),
            json!({}),
        );
        assert_eq!(
            backend_services(&route),
            vec![
                ("default".to_string(), "stable".to_string()),
                ("other".to_string(), "canary".to_string())
            ]
        );
    }

    #[test]
    fn one_parent_entry_per_parent_ref_keeping_foreign_entries() {
        let foreign = json!({"parentRef": {"name": "gw"}, "controllerName": "example.com/other", "conditions": []});
        let route = route(
            json!({"parentRefs": [{"name": "gw"}, {"name": "gw2", "sectionName": "http"}]}),
            json!({"parents": [foreign.clone()]}),
        );
        let parents = desired_parents(&route, false, &[], &[]);
        assert_eq!(parents.len(), 3);
        assert_eq!(parents.first(), Some(&foreign));
        let ours = parents.get(2).cloned().unwrap_or_default();
        assert_eq!(
            ours["parentRef"],
            json!({"name": "gw2", "sectionName": "http"})
        );
        assert_eq!(ours["conditions"][0]["type"], "Accepted");
        assert_eq!(ours["conditions"][0]["status"], "True");
        assert_eq!(ours["conditions"][0]["observedGeneration"], 3);
        assert_eq!(ours["conditions"][1]["reason"], "ResolvedRefs");
    }

    #[test]
    fn rejection_and_missing_backends_set_false_conditions() {
        let route = route(json!({"parentRefs": [{"name": "gw"}]}), json!({}));
        let missing = vec![("default".to_string(), "stable".to_string())];
        let parents = desired_parents(&route, true, &missing, &[]);
        let entry = parents.first().cloned().unwrap_or_default();
        assert_eq!(entry["conditions"][0]["status"], "False");
        assert_eq!(entry["conditions"][0]["reason"], "NotAllowedByListeners");
        assert_eq!(entry["conditions"][1]["status"], "False");
        assert_eq!(entry["conditions"][1]["reason"], "BackendNotFound");
    }

    #[test]
    fn recomputing_an_accepted_route_changes_nothing() {
        let first = route(json!({"parentRefs": [{"name": "gw"}]}), json!({}));
        let parents = desired_parents(&first, false, &[], &[]);
        let second = route(
            json!({"parentRefs": [{"name": "gw"}]}),
            json!({"parents": parents.clone()}),
        );
        assert_eq!(desired_parents(&second, false, &[], &[]), parents);
    }

    #[test]
    fn cross_namespace_backends_need_a_reference_grant() {
        let grant = |from_namespace: &str, to_name: Option<&str>| {
            let mut to = json!({"group": "", "kind": "Service"});
            if let Some(name) = to_name {
                to["name"] = json!(name);
            }
            Arc::new(
                DynamicObject::new(
                    "grant",
                    &route_resource("ReferenceGrant", "referencegrants"),
                )
                .within("backends")
                .data(json!({"spec": {
                    "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                              "namespace": from_namespace}],
                    "to": [to],
                }})),
            )
        };
        let allows = |grants: &[Arc<DynamicObject>], kind: &str, service: &str| {
            grant_allows(grants, kind, "apps", "backends", service)
        };
        assert!(!allows(&[], "HTTPRoute", "web"), "no grant, no reference");
        assert!(allows(&[grant("apps", None)], "HTTPRoute", "web"));
        assert!(allows(&[grant("apps", Some("web"))], "HTTPRoute", "web"));
        assert!(!allows(&[grant("apps", Some("api"))], "HTTPRoute", "web"));
        assert!(!allows(&[grant("others", None)], "HTTPRoute", "web"));
        assert!(!allows(&[grant("apps", None)], "GRPCRoute", "web"));

        let parents = desired_parents(
            &route(json!({"parentRefs": [{"name": "gw"}]}), json!({})),
            false,
            &[],
            &[("backends".to_string(), "web".to_string())],
        );
        let resolved = &parents[0]["conditions"][1];
        assert_eq!(resolved["status"], "False");
        assert_eq!(resolved["reason"], "RefNotPermitted");
    }
}
