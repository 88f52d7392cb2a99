//! The real `kulta run` process and its signals: SIGTERM finishes in-flight work and releases
//! the lease; a second signal exits at once. On kulta-sim or the real control plane
//! (`KULTA_TEST_CLUSTER`), where the process authenticates as the controller's ServiceAccount.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kulta_api::Rollout;
use kulta_sim::RequestFilter;
use kulta_test_support::Backend;

mod common;
use common::{LEASE, demo_cluster, grant_leader_election, healthy, http_get, wait_for};

/// Starts `kulta run` against `backend` as identity `kulta-proc`, with its admin server on a
/// free port and its Lease in the test's namespace; returns the child and the admin address.
/// On the real control plane it watches only the test's namespace (other tests share the
/// cluster); on kulta-sim, every namespace, as deployed.
async fn start_kulta(backend: &Backend, dir: &std::path::Path) -> (Child, std::net::SocketAddr) {
    grant_leader_election(backend).await;
    let kubeconfig = backend.kubeconfig_as("kulta-proc", dir).await;
    let watched: Vec<&str> = if backend.is_real() {
        vec!["--namespace", backend.namespace()]
    } else {
        vec![]
    };
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
            backend.namespace(),
        ])
        .args(watched)
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

async fn lease_holder(backend: &Backend) -> Option<String> {
    let lease = Api::<Lease>::namespaced(backend.client(), backend.namespace())
        .get_opt(LEASE)
        .await
        .ok()??;
    lease.spec?.holder_identity.filter(|h| !h.is_empty())
}

#[tokio::test]
async fn sigterm_releases_the_lease_and_exits_cleanly() {
    let backend = demo_cluster().await;
    let dir = tempfile::tempdir().expect("dir");
    let (mut child, _) = start_kulta(&backend, dir.path()).await;
    wait_for("demo Healthy", Duration::from_secs(30), || {
        healthy(&backend)
    })
    .await;
    assert_eq!(lease_holder(&backend).await.as_deref(), Some("kulta-proc"));
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(20)).await;
    assert!(status.success(), "exit {status:?}");
    assert_eq!(
        lease_holder(&backend).await,
        None,
        "the lease is released for an immediate failover"
    );
}

#[tokio::test]
async fn a_second_signal_exits_at_once() {
    let backend = demo_cluster().await;
    let dir = tempfile::tempdir().expect("dir");
    let (mut child, admin) = start_kulta(&backend, dir.path()).await;
    wait_for("demo Healthy", Duration::from_secs(30), || {
        healthy(&backend)
    })
    .await;
    // Keep a reconcile in flight: its status write takes 30 s.
    backend.faults().add_latency(
        RequestFilter::new()
            .resource("rollouts")
            .subresource("status"),
        Duration::from_secs(30),
    );
    let rollouts: Api<Rollout> = Api::namespaced(backend.client(), backend.namespace());
    let mark = backend.mark();
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}}});
    rollouts
        .patch("demo", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("new image");
    wait_for(
        "a status write in flight",
        Duration::from_secs(10),
        || async {
            let creates = backend
                .requests_since(&mark)
                .await
                .into_iter()
                .filter(|request| {
                    request.identity == "kulta-proc"
                        && request.resource == "replicasets"
                        && request.verb == "create"
                })
                .count();
            (creates > 0).then_some(())
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
}
