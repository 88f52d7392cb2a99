//! `gen-crd`: prints the CustomResourceDefinitions as YAML (the same as `kulta crd`).
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

fn main() -> anyhow::Result<()> {
    print!("{}", kulta_api::crd::crds_yaml()?);
    Ok(())
}
