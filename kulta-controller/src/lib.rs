//! The KULTA controller: a kube-runtime controller that walks Rollouts through their canary
//! steps.
//!
//! The reconcile pipeline is observe ([`observe`]) → plan ([`plan`], pure) → apply ([`apply`])
//! → status (written once, only when changed), driven by [`reconcile`]. [`Controller::builder`]
//! wires it to a cluster; other binaries use the same builder to register their own routers:
//!
//! ```no_run
//! # async fn run(client: kube::Client) {
//! kulta_controller::Controller::builder(client)
//!     // .router(MyRouterFactory::new())
//!     .run()
//!     .await;
//! # }
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

pub mod apply;
pub mod cache_trim;
pub mod cli;
pub mod clock;
pub mod context;
pub mod controller;
pub mod error;
pub mod events;
pub mod index;
pub mod observe;
pub mod own_writes;
pub mod plan;
pub mod reconcile;
pub mod route_cache;
pub mod runtime;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod triggers;

pub use controller::{Controller, ControllerBuilder};
pub use error::{Error, Result};
