//! The `kulta` command: the operator (`kulta run`, from [`kulta_controller::operator`]), its
//! CRDs (`kulta crd`) and, with the default `sandbox` feature, `kulta sandbox`: the whole
//! product on kulta-sim in one process. The operator image is built without that feature.
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

pub mod cli;
#[cfg(feature = "sandbox")]
pub mod sandbox;
