//! [`InMemoryRouter`]: a working router without a data plane, for the controller's tests.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{
    Capabilities, HeaderRoute, MirrorRoute, RouteTarget, RouterError, TrafficRouter, Verification,
    WriteOutcome,
};

/// The routes of one Rollout as an [`InMemoryRouter`] holds them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordedRoutes {
    /// The canary weight last set; `None` before the first `set_weight`.
    pub canary_weight: Option<u8>,
    /// Header routes by name.
    pub header_routes: BTreeMap<String, HeaderRoute>,
    /// Mirror routes by name.
    pub mirror_routes: BTreeMap<String, MirrorRoute>,
}

#[derive(Default)]
struct State {
    routes: BTreeMap<(String, String), RecordedRoutes>,
    writes: Vec<(String, String, u8)>,
    pending: Option<String>,
    failures: VecDeque<RouterError>,
}

/// A router that keeps weights and routes in memory, keyed by the Rollout's namespace and name.
///
/// Behaves like a well-behaved real router: writes only on change, verifies a weight once it was
/// set, and [`remove_managed_routes`](TrafficRouter::remove_managed_routes) goes back to 100%
/// stable and drops header and mirror routes. Tests steer it with
/// [`set_pending`](Self::set_pending) (verification answers `Pending`) and
/// [`fail_next`](Self::fail_next) (the next calls fail). Clones share their state, so a test can
/// keep one handle and give another to the controller.
#[derive(Clone)]
pub struct InMemoryRouter {
    capabilities: Capabilities,
    state: Arc<Mutex<State>>,
}

impl Default for InMemoryRouter {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for InMemoryRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryRouter")
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

impl InMemoryRouter {
    /// A router supporting weights, header routes and mirror routes.
    pub fn new() -> Self {
        Self {
            capabilities: Capabilities {
                weights: true,
                header_routes: true,
                mirror_routes: true,
            },
            state: Arc::default(),
        }
    }

    /// The same router reporting other capabilities; unsupported operations then fail with
    /// [`RouterError::Unsupported`].
    #[must_use]
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock must not hide its own failure behind a
        // poisoned lock in the next assertion.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The canary weight last set for the Rollout `namespace/rollout`.
    pub fn weight(&self, namespace: &str, rollout: &str) -> Option<u8> {
        self.routes(namespace, rollout)
            .and_then(|routes| routes.canary_weight)
    }

    /// Everything recorded for the Rollout `namespace/rollout`.
    pub fn routes(&self, namespace: &str, rollout: &str) -> Option<RecordedRoutes> {
        self.state()
            .routes
            .get(&(namespace.to_owned(), rollout.to_owned()))
            .cloned()
    }

    /// Every weight write so far, in order, as `(namespace, rollout, canary_weight)`. Calls that
    /// changed nothing are not listed.
    pub fn weight_writes(&self) -> Vec<(String, String, u8)> {
        self.state().writes.clone()
    }

    /// While `Some(reason)`, `verify_weight` answers `Pending(reason)`; `None` restores normal
    /// verification.
    pub fn set_pending(&self, reason: Option<String>) {
        self.state().pending = reason;
    }

    /// Makes the next call of any operation fail with `error`; queued errors are used in order.
    pub fn fail_next(&self, error: RouterError) {
        self.state().failures.push_back(error);
    }

    fn take_failure(&self) -> Result<(), RouterError> {
        match self.state().failures.pop_front() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn require(&self, supported: bool, operation: &'static str) -> Result<(), RouterError> {
        if supported {
            Ok(())
        } else {
            Err(RouterError::Unsupported { operation })
        }
    }

    fn key(target: &RouteTarget) -> (String, String) {
        (target.namespace.clone(), target.rollout.clone())
    }
}

#[async_trait::async_trait]
impl TrafficRouter for InMemoryRouter {
    fn kind(&self) -> &'static str {
        "inMemory"
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    async fn set_weight(
        &self,
        target: &RouteTarget,
        canary_weight: u8,
    ) -> Result<WriteOutcome, RouterError> {
        self.require(self.capabilities.weights, "set_weight")?;
        self.take_failure()?;
        let canary_weight = canary_weight.min(100);
        let mut state = self.state();
        let routes = state.routes.entry(Self::key(target)).or_default();
        if routes.canary_weight == Some(canary_weight) {
            return Ok(WriteOutcome::Unchanged);
        }
        routes.canary_weight = Some(canary_weight);
        state.writes.push((
            target.namespace.clone(),
            target.rollout.clone(),
            canary_weight,
        ));
        Ok(WriteOutcome::Written)
    }

    async fn verify_weight(
        &self,
        target: &RouteTarget,
        canary_weight: u8,
    ) -> Result<Verification, RouterError> {
        self.require(self.capabilities.weights, "verify_weight")?;
        self.take_failure()?;
        let state = self.state();
        if let Some(reason) = &state.pending {
            return Ok(Verification::Pending(reason.clone()));
        }
        let current = state
            .routes
            .get(&Self::key(target))
            .and_then(|routes| routes.canary_weight);
        Ok(match current {
            Some(weight) if weight == canary_weight.min(100) => Verification::Verified,
            Some(weight) => Verification::Pending(format!(
                "canary weight is {weight}, waiting for {canary_weight}"
            )),
            None => Verification::Pending("no weight has been set yet".to_owned()),
        })
    }

    async fn remove_managed_routes(&self, target: &RouteTarget) -> Result<(), RouterError> {
        self.take_failure()?;
        let mut state = self.state();
        let key = Self::key(target);
        let mut wrote = false;
        if let Some(routes) = state.routes.get_mut(&key) {
            routes.header_routes.clear();
            routes.mirror_routes.clear();
            if routes.canary_weight.is_some_and(|weight| weight != 0) {
                routes.canary_weight = Some(0);
                wrote = true;
            }
        }
        if wrote {
            state.writes.push((key.0, key.1, 0));
        }
        Ok(())
    }

    async fn set_header_route(
        &self,
        target: &RouteTarget,
        route: &HeaderRoute,
    ) -> Result<WriteOutcome, RouterError> {
        self.require(self.capabilities.header_routes, "set_header_route")?;
        self.take_failure()?;
        let mut state = self.state();
        let routes = state.routes.entry(Self::key(target)).or_default();
        let previous = routes
            .header_routes
            .insert(route.name.clone(), route.clone());
        Ok(written_unless(previous.as_ref() == Some(route)))
    }

    async fn remove_header_route(
        &self,
        target: &RouteTarget,
        name: &str,
    ) -> Result<WriteOutcome, RouterError> {
        self.require(self.capabilities.header_routes, "remove_header_route")?;
        self.take_failure()?;
        let mut state = self.state();
        let removed = state
            .routes
            .get_mut(&Self::key(target))
            .and_then(|routes| routes.header_routes.remove(name));
        Ok(written_unless(removed.is_none()))
    }

    async fn set_mirror_route(
        &self,
        target: &RouteTarget,
        route: &MirrorRoute,
    ) -> Result<WriteOutcome, RouterError> {
        self.require(self.capabilities.mirror_routes, "set_mirror_route")?;
        self.take_failure()?;
        let mut state = self.state();
        let routes = state.routes.entry(Self::key(target)).or_default();
        let previous = routes
            .mirror_routes
            .insert(route.name.clone(), route.clone());
        Ok(written_unless(previous.as_ref() == Some(route)))
    }

    async fn remove_mirror_route(
        &self,
        target: &RouteTarget,
        name: &str,
    ) -> Result<WriteOutcome, RouterError> {
        self.require(self.capabilities.mirror_routes, "remove_mirror_route")?;
        self.take_failure()?;
        let mut state = self.state();
        let removed = state
            .routes
            .get_mut(&Self::key(target))
            .and_then(|routes| routes.mirror_routes.remove(name));
        Ok(written_unless(removed.is_none()))
    }
}

fn written_unless(unchanged: bool) -> WriteOutcome {
    if unchanged {
        WriteOutcome::Unchanged
    } else {
        WriteOutcome::Written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackendRef, HeaderMatch, StringMatch};

    fn target(rollout: &str) -> RouteTarget {
        RouteTarget::new(
            "default",
            rollout,
            BackendRef::new("app-stable"),
            BackendRef::new("app-canary"),
            serde_json::json!({}),
        )
    }

    #[tokio::test]
    async fn records_weights_writes_only_on_change_and_verifies_what_was_set() {
        let router = InMemoryRouter::new();
        let handle = router.clone();
        let app = target("app");

        assert_eq!(
            router.verify_weight(&app, 20).await.ok(),
            Some(Verification::Pending("no weight has been set yet".into()))
        );
        assert_eq!(
            router.set_weight(&app, 20).await.ok(),
            Some(WriteOutcome::Written)
        );
        assert_eq!(
            router.set_weight(&app, 20).await.ok(),
            Some(WriteOutcome::Unchanged)
        );
        assert_eq!(
            router.verify_weight(&app, 50).await.ok(),
            Some(Verification::Pending(
                "canary weight is 20, waiting for 50".into()
            ))
        );
        assert_eq!(
            router.verify_weight(&app, 20).await.ok(),
            Some(Verification::Verified)
        );
        assert_eq!(handle.weight("default", "app"), Some(20));
        assert_eq!(handle.weight("default", "other"), None);
        assert_eq!(
            handle.weight_writes(),
            [("default".into(), "app".into(), 20)]
        );
    }

    #[tokio::test]
    async fn pending_and_failures_are_steerable() {
        let router = InMemoryRouter::new();
        let app = target("app");
        router.fail_next(RouterError::conflict("HTTPRoute default/app"));
        let failed = router.set_weight(&app, 10).await;
        assert_eq!(failed.err().map(|error| error.category()), Some("conflict"));
        assert_eq!(
            router.set_weight(&app, 10).await.ok(),
            Some(WriteOutcome::Written)
        );

        router.set_pending(Some("gateway has not accepted the route".into()));
        let verification = router.verify_weight(&app, 10).await.ok();
        assert_eq!(
            verification.as_ref().and_then(Verification::pending_reason),
            Some("gateway has not accepted the route")
        );
        router.set_pending(None);
        assert_eq!(
            router.verify_weight(&app, 10).await.ok(),
            Some(Verification::Verified)
        );
    }

    #[tokio::test]
    async fn remove_managed_routes_restores_stable_and_drops_added_routes() {
        let router = InMemoryRouter::new();
        let app = target("app");
        let header = HeaderRoute {
            name: "beta-users".into(),
            matches: vec![HeaderMatch {
                header: "x-beta".into(),
                value: StringMatch::Exact("true".into()),
            }],
        };
        assert_eq!(
            router.set_header_route(&app, &header).await.ok(),
            Some(WriteOutcome::Written)
        );
        assert_eq!(
            router.set_header_route(&app, &header).await.ok(),
            Some(WriteOutcome::Unchanged)
        );
        router.set_weight(&app, 40).await.ok();
        assert!(router.remove_managed_routes(&app).await.is_ok());
        assert!(router.remove_managed_routes(&app).await.is_ok());

        let routes = router.routes("default", "app").unwrap_or_default();
        assert_eq!(routes.canary_weight, Some(0));
        assert!(routes.header_routes.is_empty());
        assert_eq!(
            router.weight_writes().len(),
            2,
            "second removal wrote nothing"
        );
        assert_eq!(
            router.remove_header_route(&app, "beta-users").await.ok(),
            Some(WriteOutcome::Unchanged)
        );
    }

    #[tokio::test]
    async fn capabilities_gate_operations() {
        let router = InMemoryRouter::new().with_capabilities(Capabilities::WEIGHTS_ONLY);
        let mirror = MirrorRoute {
            name: "shadow".into(),
            percentage: 10,
            matches: vec![],
        };
        let error = router.set_mirror_route(&target("app"), &mirror).await.err();
        assert!(matches!(
            error,
            Some(RouterError::Unsupported {
                operation: "set_mirror_route"
            })
        ));
        assert_eq!(router.capabilities(), Capabilities::WEIGHTS_ONLY);
        assert_eq!(router.kind(), "inMemory");
    }
}
