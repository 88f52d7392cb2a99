//! The Gateway API traffic router of KULTA: shifts a Rollout's traffic by setting the weights of
//! the stable and canary backendRefs in HTTPRoutes, and verifies from the routes' status that the
//! gateways took the change up.
//!
//! The controller registers [`GatewayApiRouterFactory`] under the spec key `gatewayAPI`. The
//! work is split the way the reconcile pipeline is:
//!
//! - validate: [`GatewayApiConfig::parse`] reads `trafficRouting.gatewayAPI`, once per router
//!   the factory builds;
//! - build (pure): [`weight_pairs`] finds the backendRefs, [`weight_patch`] builds the RFC 6902
//!   patch that changes exactly their weights, [`verify_route`] judges a route's status;
//! - apply: [`GatewayApiRouter`] reads routes, sends patches with bounded retries on lost races.
//!
//! Verification reads the route's `status.parents` the way real gateways fill it in (details
//! on [`verify_route`]):
//!
//! - only the parents in `spec.parentRefs` count: status entries for parents the route no longer
//!   names are ignored, and a parentRef without an entry is pending; of several controllers'
//!   entries for one parent, the ones at the current generation decide;
//! - a condition without `observedGeneration` proves nothing, so it is pending;
//! - a `ResolvedRefs=False` whose message names only the user's other backends is logged and
//!   does not block; any other `ResolvedRefs=False` does.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use kulta_router::RouterRegistry;
//! use kulta_router_gateway::GatewayApiRouterFactory;
//!
//! let client = kube::Client::try_default().await?;
//! let registry = RouterRegistry::new().with(GatewayApiRouterFactory::new(client));
//! assert_eq!(registry.keys(), ["gatewayAPI"]);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

mod backends;
mod config;
mod parents;
mod patch;
mod router;
mod store;
mod verify;

pub use backends::{WeightPair, release_pairs, route_key, weight_pairs};
pub use config::{GatewayApiConfig, HttpRouteRef, RouteKey};
pub use patch::{desired_weights, patch_pairs, weight_patch};
pub use router::{GATEWAY_API, GatewayApiRouter, GatewayApiRouterFactory, MAX_WRITE_ATTEMPTS};
pub use verify::verify_route;

#[cfg(test)]
mod router_tests;
