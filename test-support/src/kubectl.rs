//! The real kubectl the suites drive (installed by `scripts/kube-tools.sh`), found one way.

use std::path::{Path, PathBuf};

/// `$KUBECTL` when set (an explicit choice: no fallback), else `$KULTA_TOOLS_DIR/bin/kubectl`,
/// else `<workspace>/.tools/bin/kubectl`.
pub fn find_kubectl() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KUBECTL") {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("KULTA_TOOLS_DIR") {
        candidates.push(PathBuf::from(dir).join("bin/kubectl"));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/kubectl"));
    candidates.into_iter().find(|path| path.is_file())
}

/// kubectl for `suite`, or `None` after saying once on the process's stderr that the suite
/// did not run. With `KULTA_REQUIRE_KUBECTL=1` (CI) a missing kubectl fails instead.
pub fn kubectl_for(suite: &str) -> Option<PathBuf> {
    let found = find_kubectl();
    if found.is_none() {
        assert!(
            std::env::var("KULTA_REQUIRE_KUBECTL").as_deref() != Ok("1"),
            "kubectl not found and KULTA_REQUIRE_KUBECTL=1 (run scripts/kube-tools.sh)"
        );
        // Written to the process's stderr directly (not `eprintln!`, which the test harness
        // captures), so a plain `cargo test` shows that the suite did not run.
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "{suite} NOT RUN: kubectl not found (run scripts/kube-tools.sh)"
            );
        });
    }
    found
}
