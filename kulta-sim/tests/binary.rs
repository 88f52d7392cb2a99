//! The `kulta-sim serve` binary: it serves, writes its kubeconfig and shuts down gracefully on
//! SIGTERM and SIGINT.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const DEADLINE: Duration = Duration::from_secs(30);

/// Starts `kulta-sim serve` on a free port and waits for it to answer `/version`.
async fn serve(dir: &tempfile::TempDir) -> Child {
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kulta-sim"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--no-controllers",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("kulta-sim spawns");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(url) = line.strip_prefix("kulta-sim serving ") {
                return url.to_string();
            }
        }
        panic!("kulta-sim exited before serving");
    })
    .await
    .expect("kulta-sim serves within the deadline");
    assert!(kubeconfig.is_file(), "no kubeconfig written");
    let config = kube::Config::new(url.parse().expect("url"));
    let client = kube::Client::try_from(config).expect("client");
    let version = client.apiserver_version().await.expect("/version answers");
    assert!(version.git_version.contains("kulta-sim"), "{version:?}");
    child
}

async fn signal_and_wait(mut child: Child, signal: &str) {
    let pid = child.id().expect("running").to_string();
    let sent = Command::new("kill")
        .args([signal, &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(sent.success());
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .unwrap_or_else(|_| panic!("kulta-sim ignored {signal}"))
        .expect("wait");
    // A graceful shutdown exits 0; death by the signal itself would have no exit code.
    assert_eq!(status.code(), Some(0), "{signal}: {status:?}");
}

#[tokio::test]
async fn serve_shuts_down_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let child = serve(&dir).await;
    signal_and_wait(child, "-TERM").await;
}

#[tokio::test]
async fn serve_shuts_down_gracefully_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let child = serve(&dir).await;
    signal_and_wait(child, "-INT").await;
}
