//! The traffic-router port of KULTA: the [`TrafficRouter`] trait, the plain values it speaks
//! ([`RouteTarget`], [`BackendRef`], [`Verification`], ...), its errors, and the
//! [`RouterRegistry`] that maps the Rollout spec's router key to a factory.
//!
//! This crate sits between `kulta-api` and the router backends; it knows nothing of HTTP or of
//! Kubernetes clients. The controller resolves a router from the registry, then calls it in its
//! apply phase: set a weight, verify it, and on abort or delete remove what it manages. Backends
//! such as `kulta-router-gateway` (Gateway API HTTPRoutes) implement the trait in their own crate.
//!
//! # Testing rollout logic against a mock
//!
//! With the `mocks` feature, `MockTrafficRouter` (mockall) and `InMemoryRouter` are exported. A
//! downstream crate adds `kulta-router = { ..., features = ["mocks"] }` to its dev-dependencies
//! and unit-tests its logic without a cluster:
//!
#![cfg_attr(feature = "mocks", doc = "```rust")]
#![cfg_attr(not(feature = "mocks"), doc = "```rust,ignore")]
//! use std::sync::Arc;
//!
//! use kulta_router::{
//!     BackendRef, MockTrafficRouter, RouteTarget, RouterError, RouterRegistry,
//!     StaticRouterFactory, TrafficRouter, Verification, WriteOutcome,
//! };
//!
//! /// The logic under test: shift the canary to `weight`, and say whether the step may advance.
//! async fn shift_traffic(
//!     router: &dyn TrafficRouter,
//!     target: &RouteTarget,
//!     weight: u8,
//! ) -> Result<bool, RouterError> {
//!     router.set_weight(target, weight).await?;
//!     Ok(router.verify_weight(target, weight).await?.is_verified())
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() {
//!     let mut router = MockTrafficRouter::new();
//!     router
//!         .expect_set_weight()
//!         .withf(|target, weight| target.rollout == "my-app" && *weight == 20)
//!         .times(1)
//!         .returning(|_, _| Ok(WriteOutcome::Written));
//!     router
//!         .expect_verify_weight()
//!         .returning(|_, _| Ok(Verification::Pending("gateway has not accepted the route".into())));
//!
//!     // The controller finds routers through the registry; inject the mock under the spec key.
//!     let registry = RouterRegistry::new()
//!         .with(StaticRouterFactory::new("gatewayAPI", Arc::new(router)));
//!     let router = registry
//!         .resolve("gatewayAPI", &serde_json::json!({"httpRoute": "my-app-route"}))
//!         .expect("registered");
//!
//!     let target = RouteTarget::new(
//!         "default",
//!         "my-app",
//!         BackendRef::new("my-app-stable"),
//!         BackendRef::new("my-app-canary"),
//!         serde_json::json!({"httpRoute": "my-app-route"}),
//!     );
//!     let may_advance = shift_traffic(router.as_ref(), &target, 20).await.expect("no error");
//!     assert!(!may_advance, "a pending verification holds the step");
//! }
//! ```
//!
//! The controller's own reconcile runs against a mock the same way: register it under the key
//! the Rollout names, `Controller::builder(client).router(StaticRouterFactory::new("gatewayAPI",
//! Arc::new(mock)))` in `kulta-controller`, and every router call the reconcile makes meets the
//! mock's expectations while an API server (kulta-sim in a test) holds the rest. KULTA's
//! mocked tier (`tests/tests/mocked.rs`) checks its rollout logic this way: an abort scales the
//! canary down only after weight 0 is verified, a router error holds the step and is retried,
//! a pending verification never advances, and a router without weights is an invalid spec.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

mod cache;
mod error;
#[cfg(any(test, feature = "mocks"))]
mod memory;
mod registry;
mod router;
mod types;

pub use cache::ObjectCache;
pub use error::{RegistryError, RouterError};
#[cfg(any(test, feature = "mocks"))]
pub use memory::{InMemoryRouter, RecordedRoutes};
pub use registry::{RouterFactory, RouterRegistry, StaticRouterFactory};
#[cfg(any(test, feature = "mocks"))]
pub use router::MockTrafficRouter;
pub use router::TrafficRouter;
pub use types::{
    BackendRef, Capabilities, HeaderMatch, HeaderRoute, MirrorRoute, ResourceRef, RouteTarget,
    StringMatch, Verification, WriteOutcome,
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target() -> RouteTarget {
        RouteTarget::new(
            "default",
            "app",
            BackendRef::new("app-stable").with_port(80),
            BackendRef::new("app-canary"),
            json!({"httpRoute": "app"}),
        )
    }

    /// A router implementing only the required methods.
    struct WeightsOnly;

    #[async_trait::async_trait]
    impl TrafficRouter for WeightsOnly {
        fn kind(&self) -> &'static str {
            "weightsOnly"
        }

        fn capabilities(&self) -> Capabilities {
            Capabilities::WEIGHTS_ONLY
        }

        async fn set_weight(&self, _: &RouteTarget, _: u8) -> Result<WriteOutcome, RouterError> {
            Ok(WriteOutcome::Unchanged)
        }

        async fn verify_weight(&self, _: &RouteTarget, _: u8) -> Result<Verification, RouterError> {
            Ok(Verification::Unsupported)
        }

        async fn remove_managed_routes(&self, _: &RouteTarget) -> Result<(), RouterError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn optional_operations_default_to_unsupported_and_no_objects() {
        let router: Box<dyn TrafficRouter> = Box::new(WeightsOnly);
        let target = target();
        let header = HeaderRoute {
            name: "h".into(),
            matches: vec![],
        };
        let mirror = MirrorRoute {
            name: "m".into(),
            percentage: 5,
            matches: vec![],
        };
        let operations = [
            router.set_header_route(&target, &header).await.err(),
            router.remove_header_route(&target, "h").await.err(),
            router.set_mirror_route(&target, &mirror).await.err(),
            router.remove_mirror_route(&target, "m").await.err(),
        ];
        let names: Vec<_> = operations
            .iter()
            .map(|error| match error {
                Some(RouterError::Unsupported { operation }) => *operation,
                other => panic!("expected Unsupported, got {other:?}"),
            })
            .collect();
        assert_eq!(
            names,
            [
                "set_header_route",
                "remove_header_route",
                "set_mirror_route",
                "remove_mirror_route"
            ]
        );
        assert_eq!(router.referenced_objects(&target).ok(), Some(vec![]));
    }

    #[test]
    fn value_helpers() {
        assert_eq!(target().stable.to_string(), "Service app-stable:80");
        assert_eq!(target().canary.to_string(), "Service app-canary");
        assert!(Verification::Verified.is_verified());
        assert!(!Verification::Unsupported.is_verified());
        assert_eq!(
            Verification::Pending("x".into()).pending_reason(),
            Some("x")
        );
        assert_eq!(
            WriteOutcome::Unchanged.and(WriteOutcome::Written),
            WriteOutcome::Written
        );
        assert_eq!(
            WriteOutcome::Unchanged.and(WriteOutcome::Unchanged),
            WriteOutcome::Unchanged
        );
        let reference = ResourceRef {
            api_version: "gateway.networking.k8s.io/v1".into(),
            kind: "HTTPRoute".into(),
            namespace: "default".into(),
            name: "app".into(),
        };
        assert_eq!(reference.to_string(), "HTTPRoute default/app");
    }
}
