//! KULTA's API: the `Rollout` custom resource (`kulta.io/v1alpha1`), its validation, revision
//! hashing, and the names of the annotations and labels the controller reads and writes.
//!
//! This crate has no client and does no IO: it is the vocabulary shared by the controller, the
//! traffic routers and anyone building tools on top of Rollouts.
//!
//! | Module | What lives there |
//! |---|---|
//! | [`rollout`] (re-exported at the root) | the spec and status types, their defaults, the CEL rules of the CRD |
//! | [`steps`] | a step as a list of [`steps::StepAction`]s, and step constructors |
//! | [`validation`] | [`validation::validate`]: every problem of a spec with its field path |
//! | [`duration`] | Go-syntax durations (`5m`, `1h30m`): parse and format |
//! | [`hash`] | [`hash::revision_hash`] of a pod template |
//! | [`template`] | [`PodTemplate`]: the pod template as stored, decoded where used |
//! | [`crd`] | the CustomResourceDefinitions and their YAML, as committed under `deploy/crds/` |
//! | [`labels`] | annotation, label, finalizer and field-manager names |
//! | `testing` (feature `testing`) | `RolloutBuilder`, fixtures for tests |
//!
//! Defaults of omitted fields are applied by methods on the types, e.g.
//! [`RolloutSpec::desired_replicas`], [`RolloutSpec::progress_deadline`],
//! [`CanaryStrategy::scale_down_delay`] and [`TrafficRouting::router_key`].
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

mod accessors;
pub mod crd;
pub mod duration;
pub mod hash;
pub mod labels;
pub mod rollout;
pub mod steps;
pub mod template;
#[cfg(feature = "testing")]
pub mod testing;
pub mod validation;

pub use accessors::GATEWAY_API_ROUTER_KEY;
pub use rollout::*;
pub use template::PodTemplate;
