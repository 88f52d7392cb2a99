//! kulta-sim: an embedded Kubernetes API server with simulated cluster controllers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kulta_sim::SimError> {
//! let sim = kulta_sim::Sim::start().await?;
//! let client = sim.client();
//! # let _ = client;
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # What a user reaches for
//!
//! - [`Sim`], built with [`SimBuilder`]: start a server, hand out clients (also [`client_for`],
//!   as [`ADMIN_IDENTITY`] or [`CONTROLLER_IDENTITY`]) and a kubeconfig, shut down. Errors are
//!   [`SimError`].
//! - [`Faults`] (with [`FailureRule`]): failures, latency, dropped watches, compaction and
//!   restarts; [`RequestLog`] ([`RequestRecord`], [`RequestFilter`]): every request served, with
//!   its identity and verb.
//! - [`crds`]: install CRDs (and the Gateway API's) into a running server and wait until they
//!   are served; or have [`SimBuilder::crds`] and [`SimBuilder::gateway_api`] install them
//!   before `start` returns. [`kubeconfig`]: point kubectl at a server.
//! - [`controllers`]: the simulated kubelet and gateway, their [`controllers::ControllerKnobs`],
//!   and [`controllers::spawn_agent`] to run them against any API server.
//! - For a proxy that injects the sim's faults in front of another server: [`request`] (route,
//!   query and verb of a request), [`ApiError`] (Status bodies), and the [`Store`] and
//!   [`FaultDecision`] of a [`Faults`] of its own.
//! - [`reference`](mod@reference): where tests find the project's reference data.
//!
//! # Layout
//!
//! `api` serves HTTP (routing, resource verbs, watch, discovery, OpenAPI, tables, protobuf
//! bodies); `storage` holds objects and events and applies the API server's write rules
//! (metadata, defaults, patches, server-side apply, deletion, garbage collection, CRD hooks);
//! `kinds` describes what is served (the resource table, structural schemas, built-in kinds'
//! decoding, validation and OpenAPI schemas); `api_error` builds `metav1.Status` errors;
//! `controllers` are the simulated cluster controllers; `sim`, `faults` and `requestlog` are the
//! handle, the fault injector and the request log.
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

mod api;
mod api_error;
pub mod controllers;
pub mod crds;
mod faults;
mod kinds;
pub mod kubeconfig;
pub mod reference;
mod requestlog;
mod sim;
mod storage;

/// How the sim reads a request: its route, its query parameters and its Kubernetes verb. For a
/// proxy that classifies requests the way the sim does (kulta-test-support's fault proxy).
pub mod request {
    pub use crate::api::handlers::verb_of;
    pub use crate::api::query::{Query, ResourcePath, Route, route};
    pub use crate::requestlog::is_write_verb;
}

pub use api_error::ApiError;
pub use faults::{FailureRule, FaultDecision, Faults};
pub use requestlog::{RequestFilter, RequestLog, RequestRecord};
pub use sim::{ADMIN_IDENTITY, CONTROLLER_IDENTITY, Sim, SimBuilder, SimError, client_for};
pub use storage::store::{Store, StoreConfig};
