//! The Gateway API router on the controller's HTTPRoute cache (observe and apply steps).
//!
//! [`GatewayApiRouter`] reads every route with a GET: one per `verify_weight` and one before
//! every `set_weight`, on every reconcile, although the controller already watches HTTPRoutes
//! to map their changes to Rollouts. [`CachedGatewayApiRouter`] answers both from that watch's
//! store instead, overlaid with the routes our own PATCHes returned (the watch may not have
//! delivered them yet). It falls back to the plain router, which reads afresh, when a route is
//! not in the cache (not synced yet, or the HTTPRoute CRD is missing) and when a PATCH built from
//! the cache is refused because the cache was behind (or the route is gone). Other API failures
//! are errors, as with the plain router.
//!
//! # Guarantees
//! - Verification only ever looks at a route version the API server returned; a stale view
//!   can only answer `Pending`, and the watch event that brings the newer version reconciles
//!   the Rollout again.
//! - Writes keep the design's shape: a JSON Patch with a `test` on the resourceVersion of the
//!   version it was built from, so a stale cache can never overwrite a newer route.

use std::sync::Arc;

use gateway_api::httproutes::HttpRoute;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kulta_router::{
    Capabilities, ResourceRef, RouteTarget, RouterError, RouterFactory, TrafficRouter,
    Verification, WriteOutcome,
};
use kulta_router_gateway::{
    GATEWAY_API, GatewayApiConfig, GatewayApiRouter, RouteKey, patch_pairs, verify_route,
    weight_pairs,
};
use tracing::{debug, info};

use crate::own_writes::OwnWrites;

/// The field manager of route writes (the same as the plain router's).
const FIELD_MANAGER: &str = "kulta";

/// A Gateway API router that reads HTTPRoutes from the controller's cache.
pub struct CachedGatewayApiRouter {
    client: kube::Client,
    routes: Store<HttpRoute>,
    fallback: GatewayApiRouter,
    /// Routes as our own PATCHes returned them, until the cache shows that version or newer.
    written: Arc<OwnWrites<HttpRoute>>,
}

impl std::fmt::Debug for CachedGatewayApiRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedGatewayApiRouter")
            .finish_non_exhaustive()
    }
}

impl CachedGatewayApiRouter {
    /// A router on `client` reading routes from `routes` (a reflector store of HTTPRoutes).
    pub fn new(client: kube::Client, routes: Store<HttpRoute>) -> Self {
        CachedGatewayApiRouter {
            fallback: GatewayApiRouter::new(client.clone()),
            client,
            routes,
            written: Arc::default(),
        }
    }

    /// The newest version of a route we know of without a request, if any.
    fn freshest(&self, key: &RouteKey) -> Option<Arc<HttpRoute>> {
        let cached = self
            .routes
            .get(&ObjectRef::new(&key.name).within(&key.namespace));
        self.written.view(&key.namespace, &key.name, cached)
    }

    /// Writes one route from the cached view; `None` when the plain router must do it (the
    /// route is not cached, or the cached write failed).
    async fn write_cached(
        &self,
        key: &RouteKey,
        target: &RouteTarget,
        canary_weight: u8,
    ) -> Result<Option<WriteOutcome>, RouterError> {
        let Some(route) = self.freshest(key) else {
            return Ok(None);
        };
        let pairs = weight_pairs(&route, target)?;
        let Some(patch) = patch_pairs(&route, &pairs, canary_weight)? else {
            return Ok(Some(WriteOutcome::Unchanged));
        };
        let api: Api<HttpRoute> = Api::namespaced(self.client.clone(), &key.namespace);
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        match api
            .patch(&key.name, &params, &Patch::Json::<()>(patch))
            .await
        {
            Ok(stored) => {
                info!(route = %key, canary_weight, rules = pairs.len(), "set HTTPRoute weights");
                self.written.record(stored);
                Ok(Some(WriteOutcome::Written))
            }
            // A lost race (the cache was behind) or a vanished route: the plain router
            // re-reads and decides.
            Err(kube::Error::Api(status)) if lost_race_or_gone(&status) => {
                debug!(route = %key, code = status.code, "write from the cached route refused; re-reading");
                Ok(None)
            }
            // Anything else is the API server failing: an error, so the reconcile backs off
            // instead of retrying at once.
            Err(error) => Err(RouterError::transient(
                format!("unable to patch {key}"),
                error,
            )),
        }
    }

    fn route_keys(target: &RouteTarget) -> Result<Vec<RouteKey>, RouterError> {
        Ok(GatewayApiConfig::parse(&target.config)?.route_keys(&target.namespace))
    }
}

/// Whether a refused PATCH means our view was stale (409, or a failed `test` of the
/// resourceVersion: 422, or 500 on old API servers) or the route is gone (404).
fn lost_race_or_gone(status: &kube::core::Status) -> bool {
    let message = status.message.to_ascii_lowercase();
    let test_failed = message.contains("resourceversion") || message.contains("testing value");
    match status.code {
        404 | 409 | 422 => true,
        500 => test_failed,
        _ => false,
    }
}

#[async_trait::async_trait]
impl TrafficRouter for CachedGatewayApiRouter {
    fn kind(&self) -> &'static str {
        GATEWAY_API
    }

    fn capabilities(&self) -> Capabilities {
        self.fallback.capabilities()
    }

    fn referenced_objects(&self, target: &RouteTarget) -> Result<Vec<ResourceRef>, RouterError> {
        self.fallback.referenced_objects(target)
    }

    /// As [`GatewayApiRouter::set_weight`]; a route the cache cannot serve, or whose cached
    /// write fails, is handed to the plain router (a fresh read and bounded retries).
    async fn set_weight(
        &self,
        target: &RouteTarget,
        canary_weight: u8,
    ) -> Result<WriteOutcome, RouterError> {
        let mut outcome = WriteOutcome::Unchanged;
        let mut fall_back = false;
        for key in Self::route_keys(target)? {
            match self.write_cached(&key, target, canary_weight).await? {
                Some(written) => outcome = outcome.and(written),
                None => fall_back = true,
            }
        }
        if fall_back {
            // Idempotent: routes already at the weight are left alone.
            outcome = outcome.and(self.fallback.set_weight(target, canary_weight).await?);
        }
        Ok(outcome)
    }

    /// As [`GatewayApiRouter::verify_weight`], from the cache; a route not in the cache is read.
    async fn verify_weight(
        &self,
        target: &RouteTarget,
        canary_weight: u8,
    ) -> Result<Verification, RouterError> {
        let mut reasons = Vec::new();
        for key in Self::route_keys(target)? {
            let verification = match self.freshest(&key) {
                Some(route) => verify_route(&route, target, canary_weight)?,
                None => self.fallback.verify_weight(target, canary_weight).await?,
            };
            if let Verification::Pending(reason) = verification {
                reasons.push(reason);
            }
        }
        if reasons.is_empty() {
            Ok(Verification::Verified)
        } else {
            Ok(Verification::Pending(reasons.join("; ")))
        }
    }

    /// Cleanup on delete is rare: the plain router reads every route afresh.
    async fn remove_managed_routes(&self, target: &RouteTarget) -> Result<(), RouterError> {
        self.fallback.remove_managed_routes(target).await
    }
}

/// Builds the shared [`CachedGatewayApiRouter`] for the spec key `gatewayAPI`.
#[derive(Clone)]
pub struct CachedGatewayApiRouterFactory {
    router: Arc<CachedGatewayApiRouter>,
}

impl std::fmt::Debug for CachedGatewayApiRouterFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedGatewayApiRouterFactory")
            .finish_non_exhaustive()
    }
}

impl CachedGatewayApiRouterFactory {
    /// A factory whose router uses `client` and the route cache `routes`.
    pub fn new(client: kube::Client, routes: Store<HttpRoute>) -> Self {
        CachedGatewayApiRouterFactory {
            router: Arc::new(CachedGatewayApiRouter::new(client, routes)),
        }
    }

    /// The routes the router wrote, until the cache shows them (to tell their watch events
    /// from others').
    pub fn own_writes(&self) -> Arc<OwnWrites<HttpRoute>> {
        self.router.written.clone()
    }
}

impl RouterFactory for CachedGatewayApiRouterFactory {
    fn key(&self) -> &str {
        GATEWAY_API
    }

    fn build(&self, config: &serde_json::Value) -> Result<Arc<dyn TrafficRouter>, RouterError> {
        GatewayApiConfig::parse(config)?;
        Ok(self.router.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, message: &str) -> kube::core::Status {
        kube::core::Status::failure(message, "").with_code(code)
    }

    #[test]
    fn only_stale_views_and_missing_routes_fall_back_to_a_fresh_read() {
        assert!(lost_race_or_gone(&status(409, "conflict")));
        assert!(lost_race_or_gone(&status(
            422,
            "the server rejected our request"
        )));
        assert!(lost_race_or_gone(&status(404, "not found")));
        assert!(lost_race_or_gone(&status(
            500,
            "Testing value /metadata/resourceVersion failed"
        )));
        assert!(!lost_race_or_gone(&status(
            500,
            "etcdserver: request timed out"
        )));
        assert!(!lost_race_or_gone(&status(503, "try later")));
        assert!(!lost_race_or_gone(&status(403, "forbidden")));
    }
}
