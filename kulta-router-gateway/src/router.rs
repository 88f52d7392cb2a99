//! [`GatewayApiRouter`]: the [`TrafficRouter`] on Gateway API HTTPRoutes, and its factory.

use std::sync::Arc;

use gateway_api::httproutes::HttpRoute;
use kulta_router::{
    Capabilities, ObjectCache, ResourceRef, RouteTarget, RouterError, RouterFactory, TrafficRouter,
    Verification, WriteOutcome,
};
use tracing::{debug, info};

use crate::store::{KubeRouteStore, PatchFailure, RouteStore, classify_patch_error, route_ref};
use crate::{GatewayApiConfig, RouteKey, patch_pairs, release_pairs, verify_route, weight_pairs};

/// How one patch of a route went.
enum Attempt {
    Done(WriteOutcome),
    /// The version the patch was built from is not the stored one any more.
    Stale,
    /// The route does not exist.
    Gone,
}

/// The spec key and router kind of this backend.
pub const GATEWAY_API: &str = "gatewayAPI";

/// How many times a weight write reads the route and patches it before giving up with
/// [`RouterError::Conflict`].
pub const MAX_WRITE_ATTEMPTS: usize = 5;

/// Splits traffic by the weights of the stable and canary backendRefs of HTTPRoutes.
///
/// A router serves one Rollout's config (the routes of its `trafficRouting.gatewayAPI`), parsed
/// once when the factory builds it. Writes are JSON Patches guarded by the route's
/// `resourceVersion`; a patch that loses a race is rebuilt from a fresh read, at most
/// [`MAX_WRITE_ATTEMPTS`] times per route.
#[derive(Clone)]
pub struct GatewayApiRouter {
    store: Arc<dyn RouteStore>,
    config: GatewayApiConfig,
}

impl std::fmt::Debug for GatewayApiRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayApiRouter")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GatewayApiRouter {
    /// A router for the routes of `config`, talking to the cluster through `client` and reading
    /// every route afresh. Needs `get` and `patch` on `httproutes.gateway.networking.k8s.io` in
    /// the routes' namespaces.
    pub fn new(client: kube::Client, config: GatewayApiConfig) -> Self {
        Self::with_store(
            Arc::new(KubeRouteStore {
                client,
                cache: None,
            }),
            config,
        )
    }

    pub(crate) fn with_store(store: Arc<dyn RouteStore>, config: GatewayApiConfig) -> Self {
        Self { store, config }
    }

    /// The routes of `target`: the configured ones, in the Rollout's namespace unless named
    /// with their own.
    fn route_keys(&self, target: &RouteTarget) -> Vec<RouteKey> {
        self.config.route_keys(&target.namespace)
    }

    async fn read(&self, key: &RouteKey) -> Result<Option<HttpRoute>, RouterError> {
        self.store
            .get(key)
            .await
            .map_err(|error| RouterError::transient(format!("unable to read {key}"), error))
    }

    async fn read_existing(&self, key: &RouteKey) -> Result<HttpRoute, RouterError> {
        self.read(key)
            .await?
            .ok_or_else(|| RouterError::not_found(key.to_string()))
    }

    /// Brings one route to `canary_weight`: build the patch from the cached route when there is
    /// one, else from a fresh read, and send it; on a lost race read again. With `release`, a
    /// missing route or a route without the canary counts as done (cleanup is rare: it always
    /// reads afresh).
    async fn write_route(
        &self,
        key: &RouteKey,
        target: &RouteTarget,
        canary_weight: u8,
        release: bool,
    ) -> Result<WriteOutcome, RouterError> {
        if !release && let Some(route) = self.store.cached(key) {
            match self
                .write_version(key, &route, target, canary_weight, release)
                .await?
            {
                Attempt::Done(outcome) => return Ok(outcome),
                // The cache was behind, or the route is gone: a fresh read decides.
                Attempt::Stale | Attempt::Gone => {
                    debug!(route = %key, "write from the cached route refused; re-reading");
                }
            }
        }
        for attempt in 1..=MAX_WRITE_ATTEMPTS {
            let route = match self.read(key).await? {
                Some(route) => route,
                None if release => return Ok(WriteOutcome::Unchanged),
                None => return Err(RouterError::not_found(key.to_string())),
            };
            match self
                .write_version(key, &route, target, canary_weight, release)
                .await?
            {
                Attempt::Done(outcome) => return Ok(outcome),
                Attempt::Stale => {
                    debug!(route = %key, attempt, "HTTPRoute changed since it was read; retrying");
                }
                Attempt::Gone if release => return Ok(WriteOutcome::Unchanged),
                Attempt::Gone => return Err(RouterError::not_found(key.to_string())),
            }
        }
        Err(RouterError::conflict(key.to_string()))
    }

    /// Sends the patch that brings `route` (one version of the route `key`) to `canary_weight`.
    async fn write_version(
        &self,
        key: &RouteKey,
        route: &HttpRoute,
        target: &RouteTarget,
        canary_weight: u8,
        release: bool,
    ) -> Result<Attempt, RouterError> {
        let pairs = if release {
            release_pairs(route, target)?
        } else {
            weight_pairs(route, target)?
        };
        let Some(patch) = patch_pairs(route, &pairs, canary_weight)? else {
            return Ok(Attempt::Done(WriteOutcome::Unchanged));
        };
        match self
            .store
            .patch(key, patch)
            .await
            .map_err(classify_patch_error)
        {
            Ok(()) => {
                info!(route = %key, canary_weight, rules = pairs.len(), "set HTTPRoute weights");
                Ok(Attempt::Done(WriteOutcome::Written))
            }
            Err(PatchFailure::Stale) => Ok(Attempt::Stale),
            Err(PatchFailure::NotFound) => Ok(Attempt::Gone),
            Err(PatchFailure::Other(error)) => Err(RouterError::transient(
                format!("unable to patch {key}"),
                error,
            )),
        }
    }
}

#[async_trait::async_trait]
impl TrafficRouter for GatewayApiRouter {
    fn kind(&self) -> &'static str {
        GATEWAY_API
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::WEIGHTS_ONLY
    }

    /// The configured HTTPRoutes (`gateway.networking.k8s.io/v1`).
    fn referenced_objects(&self, target: &RouteTarget) -> Result<Vec<ResourceRef>, RouterError> {
        Ok(self.route_keys(target).iter().map(route_ref).collect())
    }

    /// Writes the weights route by route, in config order; an error stops at the failing route,
    /// and calling again completes the change.
    async fn set_weight(
        &self,
        target: &RouteTarget,
        canary_weight: u8,
    ) -> Result<WriteOutcome, RouterError> {
        let mut outcome = WriteOutcome::Unchanged;
        for key in self.route_keys(target) {
            outcome = outcome.and(self.write_route(&key, target, canary_weight, false).await?);
        }
        Ok(outcome)
    }

    /// Pending reasons of all routes are joined with `; `.
    async fn verify_weight(
        &self,
        target: &RouteTarget,
        canary_weight: u8,
    ) -> Result<Verification, RouterError> {
        let mut reasons = Vec::new();
        for key in self.route_keys(target) {
            let route = match self.store.cached(&key) {
                Some(route) => route,
                None => Arc::new(self.read_existing(&key).await?),
            };
            if let Verification::Pending(reason) = verify_route(&route, target, canary_weight)? {
                reasons.push(reason);
            }
        }
        if reasons.is_empty() {
            Ok(Verification::Verified)
        } else {
            Ok(Verification::Pending(reasons.join("; ")))
        }
    }

    /// Sets 100% stable and 0 canary on every rule that names both Services. KULTA adds no rules
    /// of its own yet (no header or mirror routes), so there is nothing else to remove. Routes
    /// that no longer exist, or no longer name the canary, are already clean.
    async fn remove_managed_routes(&self, target: &RouteTarget) -> Result<(), RouterError> {
        for key in self.route_keys(target) {
            self.write_route(&key, target, 0, true).await?;
        }
        Ok(())
    }
}

/// Builds [`GatewayApiRouter`]s for the spec key `gatewayAPI`, validating the config.
///
/// Routers read routes from the API server, or, once the controller has attached its cache of
/// referenced objects ([`RouterFactory::attach`]), from that cache where it has them: the
/// controller watches the HTTPRoutes the routers name in `referenced_objects`.
#[derive(Clone)]
pub struct GatewayApiRouterFactory {
    store: Arc<KubeRouteStore>,
}

impl std::fmt::Debug for GatewayApiRouterFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayApiRouterFactory")
            .field("cached", &self.store.cache.is_some())
            .finish_non_exhaustive()
    }
}

impl GatewayApiRouterFactory {
    /// A factory whose routers share `client`.
    pub fn new(client: kube::Client) -> Self {
        Self {
            store: Arc::new(KubeRouteStore {
                client,
                cache: None,
            }),
        }
    }
}

impl RouterFactory for GatewayApiRouterFactory {
    fn key(&self) -> &str {
        GATEWAY_API
    }

    /// Parses `config` as [`GatewayApiConfig`] into a router that keeps it; routers share the
    /// client and the cache.
    fn build(&self, config: &serde_json::Value) -> Result<Arc<dyn TrafficRouter>, RouterError> {
        let config = GatewayApiConfig::parse(config)?;
        Ok(Arc::new(GatewayApiRouter::with_store(
            self.store.clone(),
            config,
        )))
    }

    fn attach(&mut self, cache: Arc<dyn ObjectCache>) {
        self.store = Arc::new(KubeRouteStore {
            client: self.store.client.clone(),
            cache: Some(cache),
        });
    }
}
