//! The real `kulta run` process and its signals: SIGTERM finishes in-flight work and releases
//! the lease; a second signal exits at once.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kulta_api::Rollout;
use kulta_sim::{RequestFilter, Sim};

mod common;
use common::{demo_cluster, healthy, http_get, wait_for};

/// Starts `kulta run` against `sim` as identity `kulta-proc`, with its admin server on a free
/// port; returns the child and the admin address.
async fn start_kulta(sim: &Sim, dir: &std::path::Path) -> (Child, std::net::SocketAddr) {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: {}\nusers:\n- name: kulta\n  user:\n    token: kulta-proc\ncontexts:\n- name: sim\n  context:\n    cluster: sim\n    user: kulta\n    namespace: default\ncurrent-context: sim\n",
            sim.base_url()
        ),
    )
    .expect("kubeconfig");
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("address");
    let child = Command::new(env!("CARGO_BIN_EXE_kulta"))
        .args([
            "run",
            "--admin-addr",
            &admin.to_string(),
            "--identity",
            "kulta-proc",
            "--lease-namespace",
            "default",
        ])
        .args([
            "--lease-duration",
            "4s",
            "--renew-deadline",
            "3s",
            "--retry-period",
            "200ms",
            "--shutdown-grace",
            "20s",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kulta run");
    wait_for("kulta run ready", Duration::from_secs(30), || async {
        (http_get(admin, "/readyz").await.map(|r| r.0) == Some(200)).then_some(())
    })
    .await;
    (child, admin)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

async fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    wait_for("the process to exit", within, || {
        let status = child.try_wait().expect("try_wait");
        async move { status }
    })
    .await
}

async fn lease_holder(sim: &Sim) -> Option<String> {
    let lease = Api::<Lease>::namespaced(sim.client(), "default")
        .get_opt("kulta-controller")
        .await
        .ok()??;
    lease.spec?.holder_identity.filter(|h| !h.is_empty())
}

#[tokio::test]
async fn sigterm_releases_the_lease_and_exits_cleanly() {
    let sim = demo_cluster().await;
    let dir = tempfile::tempdir().expect("dir");
    let (mut child, _) = start_kulta(&sim, dir.path()).await;
    wait_for("demo Healthy", Duration::from_secs(30), || healthy(&sim)).await;
    assert_eq!(lease_holder(&sim).await.as_deref(), Some("kulta-proc"));
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(20)).await;
    assert!(status.success(), "exit {status:?}");
    assert_eq!(
        lease_holder(&sim).await,
        None,
        "the lease is released for an immediate failover"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_second_signal_exits_at_once() {
    let sim = demo_cluster().await;
    let dir = tempfile::tempdir().expect("dir");
    let (mut child, admin) = start_kulta(&sim, dir.path()).await;
    wait_for("demo Healthy", Duration::from_secs(30), || healthy(&sim)).await;
    // Keep a reconcile in flight: its status write takes 30 s.
    sim.faults().add_latency(
        RequestFilter::new()
            .resource("rollouts")
            .subresource("status"),
        Duration::from_secs(30),
    );
    let rollouts: Api<Rollout> = Api::namespaced(sim.client(), "default");
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}}});
    rollouts
        .patch("demo", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("new image");
    wait_for(
        "a status write in flight",
        Duration::from_secs(10),
        || async {
            let writes = sim.request_log().count(
                &RequestFilter::new()
                    .identity("kulta-proc")
                    .resource("replicasets")
                    .verb("create"),
            );
            (writes > 1).then_some(())
        },
    )
    .await;
    signal(&child, "TERM");
    wait_for(
        "/readyz 503 while finishing",
        Duration::from_secs(5),
        || async { (http_get(admin, "/readyz").await.map(|r| r.0) == Some(503)).then_some(()) },
    )
    .await;
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "still finishing in-flight work"
    );
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(5)).await;
    assert_eq!(status.code(), Some(130), "second signal: immediate exit");
    sim.shutdown().await;
}
