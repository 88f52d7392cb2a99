//! [`GatewayApiRouter`]: the [`TrafficRouter`] on Gateway API HTTPRoutes, and its factory.

use std::sync::Arc;

use gateway_api::httproutes::HttpRoute;
use kulta_router::{
    Capabilities, ResourceRef, RouteTarget, RouterError, RouterFactory, TrafficRouter,
    Verification, WriteOutcome,
};
use tracing::{debug, info};

use crate::store::{KubeRouteStore, PatchFailure, RouteCache, RouteStore, classify_patch_error};
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
/// The routes come from `target.config` (the Rollout's `trafficRouting.gatewayAPI`), read on
/// every call. Writes are JSON Patches guarded by the route's `resourceVersion`; a patch that
/// loses a race is rebuilt from a fresh read, at most [`MAX_WRITE_ATTEMPTS`] times per route.
#[derive(Clone)]
pub struct GatewayApiRouter {
    store: Arc<dyn RouteStore>,
}

impl std::fmt::Debug for GatewayApiRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayApiRouter").finish_non_exhaustive()
    }
}

impl GatewayApiRouter {
    /// A router talking to the cluster through `client`, reading every route afresh. Needs
    /// `get` and `patch` on `httproutes.gateway.networking.k8s.io` in the routes' namespaces.
    pub fn new(client: kube::Client) -> Self {
        Self::with_store(Arc::new(KubeRouteStore {
            client,
            cache: None,
        }))
    }

    /// A router that reads routes from `cache` where it has them (see [`RouteCache`]) and from
    /// the API server where it does not, and records its writes in it.
    pub fn with_cache(client: kube::Client, cache: Arc<dyn RouteCache>) -> Self {
        Self::with_store(Arc::new(KubeRouteStore {
            client,
            cache: Some(cache),
        }))
    }

    pub(crate) fn with_store(store: Arc<dyn RouteStore>) -> Self {
        Self { store }
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

    fn route_keys(target: &RouteTarget) -> Result<Vec<RouteKey>, RouterError> {
        Ok(GatewayApiConfig::parse(&target.config)?.route_keys(&target.namespace))
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
        Ok(Self::route_keys(target)?
            .into_iter()
            .map(|key| ResourceRef {
                api_version: "gateway.networking.k8s.io/v1".to_owned(),
                kind: "HTTPRoute".to_owned(),
                namespace: key.namespace,
                name: key.name,
            })
            .collect())
    }

    /// Writes the weights route by route, in config order; an error stops at the failing route,
    /// and calling again completes the change.
    async fn set_weight(
        &self,
        target: &RouteTarget,
        canary_weight: u8,
    ) -> Result<WriteOutcome, RouterError> {
        let mut outcome = WriteOutcome::Unchanged;
        for key in Self::route_keys(target)? {
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
        for key in Self::route_keys(target)? {
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
        for key in Self::route_keys(target)? {
            self.write_route(&key, target, 0, true).await?;
        }
        Ok(())
    }
}

/// Builds [`GatewayApiRouter`]s for the spec key `gatewayAPI`, validating the config.
#[derive(Clone)]
pub struct GatewayApiRouterFactory {
    router: Arc<GatewayApiRouter>,
}

impl std::fmt::Debug for GatewayApiRouterFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayApiRouterFactory")
            .finish_non_exhaustive()
    }
}

impl GatewayApiRouterFactory {
    /// A factory whose routers share `client`.
    pub fn new(client: kube::Client) -> Self {
        Self {
            router: Arc::new(GatewayApiRouter::new(client)),
        }
    }

    /// A factory whose routers share `client` and read routes from `cache`
    /// ([`GatewayApiRouter::with_cache`]).
    pub fn with_cache(client: kube::Client, cache: Arc<dyn RouteCache>) -> Self {
        Self {
            router: Arc::new(GatewayApiRouter::with_cache(client, cache)),
        }
    }
}

impl RouterFactory for GatewayApiRouterFactory {
    fn key(&self) -> &str {
        GATEWAY_API
    }

    /// Parses `config` as [`GatewayApiConfig`]; the router itself is shared, as it holds nothing
    /// but the client.
    fn build(&self, config: &serde_json::Value) -> Result<Arc<dyn TrafficRouter>, RouterError> {
        GatewayApiConfig::parse(config)?;
        Ok(self.router.clone())
    }
}
