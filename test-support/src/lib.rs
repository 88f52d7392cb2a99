//! KULTA's test house: what every end-to-end suite needs, written once.
//!
//! - [`Backend`]: the API server a suite runs against, chosen by one environment variable,
//!   [`CLUSTER_ENV`]. Unset, each test starts its own kulta-sim (the default of
//!   `cargo test --workspace`, which needs nothing but Rust). Set to the state directory of
//!   `scripts/real-cluster.sh up`, every test runs in a fresh namespace of that real
//!   kube-apiserver, and the controller runs under the ServiceAccount token that
//!   `deploy/kustomize/base`'s RBAC binds.
//! - [`Request`]: one request the API server served, from kulta-sim's request log or from
//!   kube-apiserver's audit log, so a test can assert what the controller did, in order.
//! - [`wait_for`]: poll a probe until it answers or a deadline passes; never a fixed sleep.
// Harness code: a failed setup or a missed deadline is a test failure, so panicking is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit;
mod backend;
pub mod kubectl;
mod objects;
mod proxy;
mod wait;

pub use audit::Request;
pub use backend::{
    Backend, CLUSTER_ENV, CONTROLLER_IDENTITY, CONTROLLER_SERVICE_ACCOUNT, RequestMark,
    real_cluster_dir,
};
pub use kubectl::{find_kubectl, kubectl_for};
pub use objects::orphaned_replica_set;
pub use wait::{POLL, wait_for, wait_until};
