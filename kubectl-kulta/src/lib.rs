//! `kubectl-kulta`: the kubectl plugin for KULTA Rollouts.
//!
//! Installed on `PATH` as `kubectl-kulta`, it runs as `kubectl kulta ...`. The commands read and
//! write Rollouts the way a person would with kubectl — user actions are the same annotations
//! `kubectl annotate` sets — and print what they did and the kubectl command doing the same.
//!
//! | Module | What lives there |
//! |---|---|
//! | [`cli`] | arguments (clap) |
//! | [`client`] | kubeconfig, context and namespace, as kubectl chooses them |
//! | [`render`], [`list`], [`format`] | pure views: objects and `now` in, text out |
//! | [`events`] | the Rollout's events from `events.k8s.io/v1` or core `v1` |
//! | [`get`] | `get rollout NAME [--watch]` |
//! | [`status`] | `status NAME --timeout`: the CI gate |
//! | [`actions`] | `promote`, `abort`, `retry` |
//! | [`set_image`] | `set image NAME CONTAINER=IMAGE` |
//! | [`run`] | dispatch |
//! | [`error`] | errors and exit codes |
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

pub mod actions;
pub mod cli;
pub mod client;
pub mod error;
pub mod events;
pub mod format;
pub mod get;
pub mod list;
pub mod render;
pub mod run;
pub mod set_image;
pub mod status;
