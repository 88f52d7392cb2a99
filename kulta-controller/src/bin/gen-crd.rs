//! `gen-crd`: prints the CustomResourceDefinitions as YAML (the same as `kulta crd`).

fn main() -> anyhow::Result<()> {
    print!("{}", kulta_api::crd::crds_yaml()?);
    Ok(())
}
