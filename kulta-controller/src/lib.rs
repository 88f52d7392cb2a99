//! The KULTA controller: a kube-runtime controller that walks Rollouts through their canary
//! steps.
//!
//! The reconcile pipeline is observe ([`observe`]) → plan ([`plan`], pure) → apply ([`apply`])
//! → status (written once, only when changed), driven by [`reconcile`]. [`Controller::builder`]
//! wires it to a cluster, and [`operator`] runs it as a deployed operator (flags, leader
//! election, admin server, signals): the `kulta` command and every binary that registers routers
//! of its own are a call to [`operator::main`] or [`operator::run`]. kulta-sim and the sandbox
//! are not part of this library; they live with the `kulta` command.
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
pub mod operator;
pub mod own_writes;
pub mod plan;
pub mod reconcile;
pub mod runtime;
pub mod triggers;
pub mod watched;

pub use controller::{Controller, ControllerBuilder};
pub use error::{Error, Result};
