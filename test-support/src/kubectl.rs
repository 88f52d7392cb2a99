//! The real kubectl the suites drive (installed by `scripts/kube-tools.sh`), found one way, and
//! run one way: each command with its own `HOME`, its output captured, within a deadline.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Longest any one command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// What one command did: its exit code (`None` when a signal ended it) and its output.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Outcome {
    /// Whether the command exited 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// `program` (kubectl, or anything kubectl runs) with `HOME` at `home`, no `KUBECONFIG` from
/// the test's environment, stdin empty, stdout and stderr captured, killed if the test drops it.
pub fn command(program: &Path, home: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs `command` to completion with `input` on its stdin (for `-f -`); the test fails when it
/// cannot start or runs over [`COMMAND_TIMEOUT`].
pub async fn run(mut command: Command, input: Option<&str>) -> Outcome {
    let shown = format!("{:?}", command.as_std());
    if input.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("spawn {shown}: {error}"));
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(input.as_bytes())
            .await
            .unwrap_or_else(|error| panic!("stdin of {shown}: {error}"));
        drop(stdin);
    }
    let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{shown} did not finish in {COMMAND_TIMEOUT:?}"))
        .unwrap_or_else(|error| panic!("output of {shown}: {error}"));
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

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
