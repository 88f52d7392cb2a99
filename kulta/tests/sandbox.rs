//! `kulta sandbox`, the main job on a fresh machine, run as a user runs it: the real binary.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn sandbox_completes_the_default_demo() {
    let output = Command::new(env!("CARGO_BIN_EXE_kulta"))
        .args(["sandbox", "--promote-after", "1", "--timeout", "60"])
        .env("RUST_LOG", "error")
        .output()
        .expect("run kulta sandbox");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kulta sandbox failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // The timeline walked every step and the canary became stable.
    for expected in [
        "step 1/5 setWeight 25",
        "stable 75% canary 25%",
        "step 2/5 pause 5s",
        "stable 50% canary 50%",
        "promoting automatically",
        "stable 0% canary 100%",
        "done: revision",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    let healthy_lines = stdout
        .lines()
        .filter(|line| line.contains("Healthy"))
        .count();
    assert!(
        healthy_lines >= 2,
        "Healthy before and after the canary:\n{stdout}"
    );
}

#[test]
fn crd_subcommand_and_gen_crd_print_the_committed_crd() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/crds/rollouts.kulta.io.yaml"
    ))
    .expect("committed CRD");
    let kulta = Command::new(env!("CARGO_BIN_EXE_kulta"))
        .arg("crd")
        .output()
        .expect("run kulta crd");
    let gen_crd = Command::new(env!("CARGO_BIN_EXE_gen-crd"))
        .output()
        .expect("run gen-crd");
    assert!(kulta.status.success() && gen_crd.status.success());
    assert_eq!(String::from_utf8_lossy(&kulta.stdout), committed);
    assert_eq!(kulta.stdout, gen_crd.stdout);
}
