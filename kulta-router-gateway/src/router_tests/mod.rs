//! The router's read-patch-retry loop against an in-memory route store that applies JSON
//! Patches the way the API server does (including a failed `test` answering 422).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use gateway_api::httproutes::HttpRoute;
use kube::core::Status;
use kulta_router::{
    BackendRef, RouteTarget, RouterError, RouterFactory, TrafficRouter, WriteOutcome,
};
use serde_json::{Value, json};

use crate::store::RouteStore;
use crate::{GatewayApiRouter, GatewayApiRouterFactory, MAX_WRITE_ATTEMPTS, RouteKey};

// The `verify_weight` tests; this file holds the fake store and the write tests.
mod verification;

#[derive(Default)]
struct FakeState {
    routes: BTreeMap<RouteKey, Value>,
    /// How many of the next patches lose a race with another writer.
    races: usize,
    /// Every patch fails with this status when set.
    patch_error: Option<Status>,
    patches: Vec<(RouteKey, Value)>,
    /// Reads from the API server.
    gets: usize,
    /// What the store's cache holds (a watch cache may be behind the routes above), when the
    /// store stands for one with a cache.
    cache: Option<BTreeMap<RouteKey, Value>>,
}

#[derive(Default)]
struct FakeStore {
    state: Mutex<FakeState>,
}

impl FakeStore {
    fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn insert(&self, route: Value) {
        let key = RouteKey::new(
            route["metadata"]["namespace"].as_str().unwrap_or_default(),
            route["metadata"]["name"].as_str().unwrap_or_default(),
        );
        self.state().routes.insert(key, route);
    }

    fn route(&self, namespace: &str, name: &str) -> Value {
        self.state()
            .routes
            .get(&RouteKey::new(namespace, name))
            .cloned()
            .unwrap_or_default()
    }

    fn patch_count(&self) -> usize {
        self.state().patches.len()
    }

    /// Puts `route` in the cache (as a watch would have delivered it).
    fn cache(&self, route: Value) {
        let key = RouteKey::new(
            route["metadata"]["namespace"].as_str().unwrap_or_default(),
            route["metadata"]["name"].as_str().unwrap_or_default(),
        );
        self.state()
            .cache
            .get_or_insert_with(BTreeMap::new)
            .insert(key, route);
    }
}

fn bump(route: &mut Value, field: &str) {
    let pointer = format!("/metadata/{field}");
    let next = match route.pointer(&pointer) {
        Some(Value::String(text)) => json!((text.parse::<u64>().unwrap_or(0) + 1).to_string()),
        Some(Value::Number(number)) => json!(number.as_i64().unwrap_or(0) + 1),
        _ => return,
    };
    route["metadata"][field] = next;
}

/// Another writer's change: a new rule at the front shifts every index.
fn someone_else_adds_a_rule(route: &mut Value) {
    if let Some(rules) = route["spec"]["rules"].as_array_mut() {
        rules.insert(0, json!({"backendRefs": [{"name": "other"}]}));
    }
    bump(route, "resourceVersion");
    bump(route, "generation");
}

fn api_error(code: u16, reason: &str, message: &str) -> kube::Error {
    kube::Error::Api(Status::failure(message, reason).with_code(code).boxed())
}

#[async_trait::async_trait]
impl RouteStore for FakeStore {
    async fn get(&self, key: &RouteKey) -> Result<Option<HttpRoute>, kube::Error> {
        let mut state = self.state();
        state.gets += 1;
        let route = state.routes.get(key).cloned();
        drop(state);
        route
            .map(|route| serde_json::from_value(route).map_err(kube::Error::SerdeError))
            .transpose()
    }

    fn cached(&self, key: &RouteKey) -> Option<Arc<HttpRoute>> {
        let route = self.state().cache.as_ref()?.get(key).cloned()?;
        serde_json::from_value(route).ok().map(Arc::new)
    }

    async fn patch(&self, key: &RouteKey, patch: json_patch::Patch) -> Result<(), kube::Error> {
        let mut state = self.state();
        state.patches.push((
            key.clone(),
            serde_json::to_value(&patch).unwrap_or_default(),
        ));
        if let Some(status) = state.patch_error.clone() {
            return Err(kube::Error::Api(status.boxed()));
        }
        let races = state.races;
        let Some(stored) = state.routes.get_mut(key) else {
            return Err(api_error(404, "NotFound", "httproutes not found"));
        };
        if races > 0 {
            // Another writer got there first.
            someone_else_adds_a_rule(stored);
        }
        let mut patched = stored.clone();
        let applied = json_patch::patch(&mut patched, &patch);
        if races > 0 {
            state.races = races - 1;
        }
        let Some(stored) = state.routes.get_mut(key) else {
            return Err(api_error(404, "NotFound", "httproutes not found"));
        };
        match applied {
            Ok(()) => {
                bump(&mut patched, "resourceVersion");
                bump(&mut patched, "generation");
                *stored = patched.clone();
                // As the controller's cache records the route our write returned.
                if let Some(cache) = state.cache.as_mut() {
                    cache.insert(key.clone(), patched);
                }
                Ok(())
            }
            Err(_) => Err(api_error(
                422,
                "Invalid",
                "the server rejected our request due to an error in our request",
            )),
        }
    }
}

fn route(name: &str, stable_weight: i64, canary_weight: i64) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": "10", "generation": 1,
                     "annotations": {"keep": "me"}},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [
                {"matches": [{"headers": [{"name": "x-beta", "value": "1"}]}],
                 "backendRefs": [{"name": "app-stable", "port": 80, "weight": stable_weight},
                                 {"name": "app-canary", "port": 80, "weight": canary_weight}]},
                {"backendRefs": [{"name": "unrelated", "port": 80}]}
            ]
        }
    })
}

fn target(config: Value) -> RouteTarget {
    RouteTarget::new(
        "default",
        "app",
        BackendRef::new("app-stable"),
        BackendRef::new("app-canary"),
        config,
    )
}

fn router_with(routes: Vec<Value>) -> (Routers, Arc<FakeStore>) {
    let store = Arc::new(FakeStore::default());
    for route in routes {
        store.insert(route);
    }
    (
        Routers {
            store: store.clone(),
        },
        store,
    )
}

/// Routers on the fake store, each built for the config of the target it is called with (what
/// the factory does for each Rollout).
struct Routers {
    store: Arc<FakeStore>,
}

impl Routers {
    fn for_target(&self, target: &RouteTarget) -> Result<GatewayApiRouter, RouterError> {
        let config = crate::GatewayApiConfig::parse(&target.config)?;
        Ok(GatewayApiRouter::with_store(self.store.clone(), config))
    }

    async fn set_weight(
        &self,
        target: &RouteTarget,
        weight: u8,
    ) -> Result<WriteOutcome, RouterError> {
        self.for_target(target)?.set_weight(target, weight).await
    }

    async fn verify_weight(
        &self,
        target: &RouteTarget,
        weight: u8,
    ) -> Result<kulta_router::Verification, RouterError> {
        self.for_target(target)?.verify_weight(target, weight).await
    }

    async fn remove_managed_routes(&self, target: &RouteTarget) -> Result<(), RouterError> {
        self.for_target(target)?.remove_managed_routes(target).await
    }

    fn referenced_objects(
        &self,
        target: &RouteTarget,
    ) -> Result<Vec<kulta_router::ResourceRef>, RouterError> {
        self.for_target(target)?.referenced_objects(target)
    }
}

fn weights(route: &Value, rule: usize) -> (Value, Value) {
    let backends = &route["spec"]["rules"][rule]["backendRefs"];
    (backends[0]["weight"].clone(), backends[1]["weight"].clone())
}

#[tokio::test]
async fn sets_weights_once_and_then_makes_no_writes() {
    let (router, store) = router_with(vec![route("app-route", 100, 0)]);
    let app = target(json!({"httpRoute": "app-route"}));

    assert_eq!(
        router.set_weight(&app, 30).await.ok(),
        Some(WriteOutcome::Written)
    );
    assert_eq!(
        router.set_weight(&app, 30).await.ok(),
        Some(WriteOutcome::Unchanged)
    );
    assert_eq!(store.patch_count(), 1);

    let stored = store.route("default", "app-route");
    assert_eq!(weights(&stored, 0), (json!(70), json!(30)));
    assert_eq!(stored["metadata"]["annotations"]["keep"], "me");
    assert_eq!(
        stored["spec"]["rules"][1],
        route("x", 0, 0)["spec"]["rules"][1]
    );
    let sent = store.state().patches[0].1.clone();
    assert_eq!(
        sent[0],
        json!({"op": "test", "path": "/metadata/resourceVersion", "value": "10"})
    );
}

#[tokio::test]
async fn a_lost_race_is_rebuilt_from_a_fresh_read() {
    let (router, store) = router_with(vec![route("app-route", 100, 0)]);
    store.state().races = 2;
    let app = target(json!({"httpRoute": "app-route"}));

    assert_eq!(
        router.set_weight(&app, 40).await.ok(),
        Some(WriteOutcome::Written)
    );
    assert_eq!(store.patch_count(), 3);
    // Two foreign rules were inserted in front; ours moved to index 2 and got the weights.
    let stored = store.route("default", "app-route");
    assert_eq!(weights(&stored, 2), (json!(60), json!(40)));
    assert_eq!(
        stored["spec"]["rules"][0]["backendRefs"][0]["name"],
        "other"
    );
    assert_eq!(
        stored["spec"]["rules"][0]["backendRefs"][0].get("weight"),
        None
    );
}

#[tokio::test]
async fn gives_up_with_conflict_after_bounded_attempts() {
    let (router, store) = router_with(vec![route("app-route", 100, 0)]);
    store.state().races = usize::MAX;
    let app = target(json!({"httpRoute": "app-route"}));

    match router.set_weight(&app, 40).await {
        Err(RouterError::Conflict { what }) => assert_eq!(what, "HTTPRoute default/app-route"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(store.patch_count(), MAX_WRITE_ATTEMPTS);
}

#[tokio::test]
async fn a_409_is_retried_and_other_api_errors_are_transient() {
    let (router, store) = router_with(vec![route("app-route", 100, 0)]);
    let app = target(json!({"httpRoute": "app-route"}));

    store.state().patch_error = Some(Status::failure("conflict", "Conflict").with_code(409));
    assert_eq!(
        router
            .set_weight(&app, 40)
            .await
            .err()
            .map(|error| error.category()),
        Some("conflict")
    );
    assert_eq!(store.patch_count(), MAX_WRITE_ATTEMPTS);

    store.state().patch_error =
        Some(Status::failure("etcdserver: request timed out", "InternalError").with_code(500));
    match router.set_weight(&app, 40).await {
        Err(error @ RouterError::Transient { .. }) => {
            assert_eq!(
                error.to_string(),
                "unable to patch HTTPRoute default/app-route"
            );
            let source = std::error::Error::source(&error).map(ToString::to_string);
            assert!(
                source.is_some_and(|source| source.contains("etcdserver: request timed out")),
                "the API error is kept as the source"
            );
        }
        other => panic!("expected Transient, got {other:?}"),
    }
    assert_eq!(
        store.patch_count(),
        MAX_WRITE_ATTEMPTS + 1,
        "no retry on other errors"
    );
}

#[tokio::test]
async fn a_missing_route_is_not_found_but_already_removed() {
    let (router, store) = router_with(vec![]);
    let app = target(json!({"httpRoute": "app-route"}));
    match router.set_weight(&app, 10).await {
        Err(error @ RouterError::NotFound { .. }) => {
            assert_eq!(error.to_string(), "HTTPRoute default/app-route not found");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(matches!(
        router.verify_weight(&app, 10).await,
        Err(RouterError::NotFound { .. })
    ));
    assert!(router.remove_managed_routes(&app).await.is_ok());
    assert_eq!(store.patch_count(), 0);
}

#[tokio::test]
async fn remove_managed_routes_restores_stable_and_is_idempotent() {
    let mut without_canary = route("no-canary", 100, 0);
    let Some(backends) = without_canary["spec"]["rules"][0]["backendRefs"].as_array_mut() else {
        panic!("fixture has no backends list");
    };
    backends.remove(1);
    let (router, store) = router_with(vec![route("app-route", 50, 50), without_canary]);
    let app = target(json!({"httpRoutes": [{"name": "app-route"}, {"name": "no-canary"}]}));

    assert!(router.remove_managed_routes(&app).await.is_ok());
    assert!(router.remove_managed_routes(&app).await.is_ok());
    assert_eq!(store.patch_count(), 1);
    assert_eq!(
        weights(&store.route("default", "app-route"), 0),
        (json!(100), json!(0))
    );

    // A rule sending traffic to the canary only cannot be released to stable.
    let mut canary_only = route("canary-only", 0, 100);
    let Some(backends) = canary_only["spec"]["rules"][0]["backendRefs"].as_array_mut() else {
        panic!("fixture has no backends list");
    };
    backends.remove(0);
    store.insert(canary_only);
    let stuck = target(json!({"httpRoute": "canary-only"}));
    assert_eq!(
        router
            .remove_managed_routes(&stuck)
            .await
            .err()
            .map(|error| error.to_string()),
        Some(
            "invalid traffic router config: HTTPRoute default/canary-only rule 0 sends to \
             one of the Rollout's Services but has no backendRef for Service app-stable: a rule \
             must name both, or neither"
                .to_owned()
        )
    );
}

#[tokio::test]
async fn referenced_objects_are_the_configured_routes() {
    let (router, _) = router_with(vec![]);
    let app = target(json!({"httpRoutes": [
        {"name": "public"}, {"name": "internal", "namespace": "infra"}
    ]}));
    let objects = router.referenced_objects(&app).unwrap_or_default();
    let rendered: Vec<String> = objects
        .iter()
        .map(|object| format!("{} {object}", object.api_version))
        .collect();
    assert_eq!(
        rendered,
        [
            "gateway.networking.k8s.io/v1 HTTPRoute default/public",
            "gateway.networking.k8s.io/v1 HTTPRoute infra/internal"
        ]
    );
    assert!(matches!(
        router.referenced_objects(&target(json!({}))),
        Err(RouterError::InvalidConfig { .. })
    ));
    assert!(matches!(
        router
            .set_weight(&target(json!({"httpRoute": 1})), 10)
            .await,
        Err(RouterError::InvalidConfig { .. })
    ));
    let built = router.for_target(&app).expect("a valid config");
    assert_eq!(built.kind(), "gatewayAPI");
    assert_eq!(
        built.capabilities(),
        kulta_router::Capabilities::WEIGHTS_ONLY
    );
}

#[tokio::test]
async fn the_factory_validates_the_config() {
    let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap_or_default());
    let client = match kube::Client::try_from(config) {
        Ok(client) => client,
        Err(error) => panic!("client: {error}"),
    };
    let factory = GatewayApiRouterFactory::new(client);
    assert_eq!(factory.key(), "gatewayAPI");
    let built = factory.build(&json!({"httpRoute": "app-route"}));
    assert_eq!(built.map(|router| router.kind()).ok(), Some("gatewayAPI"));
    match factory.build(&json!({"httpRoute": "a", "httpRoutes": [{"name": "b"}]})) {
        Err(RouterError::InvalidConfig { message }) => assert_eq!(
            message,
            "gatewayAPI: set either httpRoute or httpRoutes, not both"
        ),
        Err(other) => panic!("expected InvalidConfig, got {other}"),
        Ok(_) => panic!("an invalid config was accepted"),
    }
    let registry = kulta_router::RouterRegistry::new().with(factory);
    let error = registry
        .resolve("gatewayAPI", &json!({}))
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        error.as_deref(),
        Some(
            "unable to set up traffic router \"gatewayAPI\": invalid traffic router config: \
             gatewayAPI: one of httpRoute or httpRoutes is required"
        )
    );
}

// The controller's cache (`ObjectCache`): a watch's store, possibly behind the API server.

#[tokio::test]
async fn a_current_cache_answers_without_a_read() {
    let (router, store) = router_with(vec![route("app-route", 100, 0)]);
    store.cache(route("app-route", 100, 0));
    let app = target(json!({"httpRoute": "app-route"}));

    assert_eq!(
        router.set_weight(&app, 30).await.ok(),
        Some(WriteOutcome::Written)
    );
    // The write's answer is in the cache: the same weight again is no write and no read.
    assert_eq!(
        router.set_weight(&app, 30).await.ok(),
        Some(WriteOutcome::Unchanged)
    );
    assert!(router.verify_weight(&app, 30).await.is_ok());
    let state = store.state();
    assert_eq!((state.gets, state.patches.len()), (0, 1));
    assert_eq!(
        weights(&state.routes[&RouteKey::new("default", "app-route")], 0),
        (json!(70), json!(30))
    );
}

#[tokio::test]
async fn a_write_from_a_stale_cache_is_refused_and_made_from_a_fresh_read() {
    let (router, store) = router_with(vec![route("app-route", 100, 0)]);
    // The cache is one version behind: someone added a rule at the front since.
    store.cache(route("app-route", 100, 0));
    {
        let mut state = store.state();
        let stored = state
            .routes
            .get_mut(&RouteKey::new("default", "app-route"))
            .expect("stored");
        someone_else_adds_a_rule(stored);
    }
    let app = target(json!({"httpRoute": "app-route"}));

    assert_eq!(
        router.set_weight(&app, 30).await.ok(),
        Some(WriteOutcome::Written)
    );
    let stored = store.route("default", "app-route");
    assert_eq!(
        stored["spec"]["rules"][0],
        json!({"backendRefs": [{"name": "other"}]})
    );
    assert_eq!(
        weights(&stored, 1),
        (json!(70), json!(30)),
        "the user's rule, where it is now"
    );
    let state = store.state();
    assert_eq!(
        (state.gets, state.patches.len()),
        (1, 2),
        "refused once, read, written"
    );
}

#[tokio::test]
async fn a_route_in_the_cache_but_gone_from_the_api_server_is_not_found() {
    let (router, store) = router_with(Vec::new());
    store.cache(route("app-route", 100, 0));
    let app = target(json!({"httpRoute": "app-route"}));
    match router.set_weight(&app, 30).await {
        Err(RouterError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(
        store.state().gets,
        1,
        "the refused write was checked with a fresh read"
    );
}

#[tokio::test]
async fn a_route_missing_from_the_cache_is_read() {
    let (router, store) = router_with(vec![route("app-route", 70, 30)]);
    store.cache(route("other-route", 100, 0));
    let app = target(json!({"httpRoute": "app-route"}));
    assert!(router.verify_weight(&app, 30).await.is_ok());
    assert_eq!(store.state().gets, 1);
}
