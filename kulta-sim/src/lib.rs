//! kulta-sim: an embedded Kubernetes API server with simulated cluster controllers.

pub mod controllers;
pub mod schema;
