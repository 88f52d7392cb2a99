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
//! Layout: [`server`] routes requests to [`handlers`] (resource verbs), [`watch`],
//! [`discovery`] and [`openapi`] (with [`builtin_openapi`]); [`store`] holds objects and events;
//! [`write`] (with [`objectmeta`] and [`builtin_validation`]), [`gc`] and [`crd`]
//! implement the API server's write rules; [`protobuf`] decodes
//! protobuf bodies of built-in kinds; [`table`] and [`printers`] render `kubectl get` tables;
//! [`faults`] and [`requestlog`] serve tests.
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

pub mod builtin_openapi;
pub mod builtin_validation;
pub mod collection;
pub mod controllers;
pub mod crd;
pub mod crds;
pub mod defaults;
pub mod delete;
pub mod discovery;
pub mod faults;
pub mod gc;
pub mod handlers;
pub mod jsonpath;
pub mod kubeconfig;
pub mod objectmeta;
pub mod openapi;
pub mod patch;
pub mod printers;
pub mod protobuf;
pub mod query;
pub mod reference;
pub mod requestlog;
pub mod resources;
pub mod scale;
pub mod schema;
pub mod selectors;
pub mod server;
pub mod sim;
pub mod ssa;
pub mod status;
pub mod store;
pub mod table;
pub mod typed;
pub mod watch;
pub mod write;

pub use faults::{FailureRule, FaultCommand, Faults, LatencyRule};
pub use requestlog::{RequestFilter, RequestLog, RequestRecord};
pub use sim::{ADMIN_IDENTITY, CONTROLLER_IDENTITY, Sim, SimBuilder, SimError, client_for};
