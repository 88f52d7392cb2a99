//! Where the tests find the reference data the project keeps beside the repository
//! (`../shared/data`): the Gateway API v1.5.1 release's CRDs and examples.

use std::path::PathBuf;

/// The Gateway API v1.5.1 release files (`httproutes.yaml`, `examples/`), found relative to this
/// crate, never at a machine's absolute path. `None` when they are not there, so a test can
/// skip; under `CI=true` their absence panics instead, so that CI never passes a test that
/// skipped for want of its data.
///
/// # Panics
/// Under `CI=true` when the directory is missing.
pub fn gateway_api_v1_5_1() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/gateway-api-v1.5.1");
    if dir.is_dir() {
        return Some(dir);
    }
    #[allow(clippy::panic)]
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "reference data {} is missing: CI must have shared/ beside the repository",
            dir.display()
        );
    }
    eprintln!("skipping: reference data {} is not present", dir.display());
    None
}
