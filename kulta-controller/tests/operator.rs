//! The operator runtime against kulta-sim: probes, metrics, leader election.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kulta_api::Rollout;
use kulta_controller::Controller;
use kulta_controller::runtime::leader::LeaseTimings;
use kulta_controller::runtime::{self, Exit, Handles, LeaderElection, RuntimeOptions};
use kulta_sim::{FailureRule, RequestFilter, Sim};

mod common;
use common::{demo_cluster, healthy, http_get, wait_for};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

struct Instance {
    task: JoinHandle<Result<Exit, runtime::RuntimeError>>,
    shutdown: CancellationToken,
    address: SocketAddr,
    handles: Handles,
}

async fn start(sim: &Sim, identity: &str, election: Option<LeaseTimings>) -> Instance {
    let client = sim.client_as(identity).expect("client");
    let shutdown = CancellationToken::new();
    let handles = Handles::default();
    let options = RuntimeOptions {
        admin_address: "127.0.0.1:0".parse().expect("address"),
        leader_election: election.map(|timings| LeaderElection {
            namespace: "default".into(),
            name: "kulta-controller".into(),
            identity: identity.into(),
            timings,
        }),
        shutdown_grace: Duration::from_secs(5),
    };
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(runtime::run(
        client,
        Controller::builder,
        options,
        handles.clone(),
        shutdown.clone(),
        Some(bound_tx),
    ));
    let address = bound_rx.await.expect("admin server bound");
    Instance {
        task,
        shutdown,
        address,
        handles,
    }
}

fn non_lease_writes(sim: &Sim, identity: &str) -> Vec<kulta_sim::RequestRecord> {
    sim.request_log()
        .writes(&RequestFilter::new().identity(identity))
        .into_iter()
        .filter(|record| record.resource != "leases")
        .collect()
}

#[tokio::test]
async fn probes_follow_cache_sync_and_shutdown_and_metrics_parse_after_a_rollout() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_default())
        .try_init();
    let sim = demo_cluster().await;
    // Rollouts cannot be listed yet: the caches cannot sync, so the instance is not ready.
    sim.faults().fail(
        FailureRule::new(503)
            .resource("rollouts")
            .identity("kulta-a"),
    );
    let instance = start(&sim, "kulta-a", None).await;
    assert_eq!(
        http_get(instance.address, "/healthz").await.map(|r| r.0),
        Some(200)
    );
    wait_for("a failed rollout list", Duration::from_secs(10), || async {
        (sim.faults().injected_count() > 0).then_some(())
    })
    .await;
    assert_eq!(
        http_get(instance.address, "/readyz").await.map(|r| r.0),
        Some(503),
        "ready before the caches synced"
    );
    sim.faults().clear();
    wait_for("/readyz 200", Duration::from_secs(20), || async {
        (http_get(instance.address, "/readyz").await.map(|r| r.0) == Some(200)).then_some(())
    })
    .await;
    wait_for("demo Healthy", Duration::from_secs(20), || healthy(&sim)).await;

    // A canary to populate every metric, with one failed route write on the way (a reconcile
    // error, retried).
    sim.faults().fail_next(
        1,
        500,
        RequestFilter::new()
            .resource("httproutes")
            .verb("patch")
            .identity("kulta-a"),
    );
    let rollouts: Api<Rollout> = Api::namespaced(sim.client(), "default");
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}}});
    rollouts
        .patch("demo", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("new image");
    wait_for(
        "the canary paused at step 2",
        Duration::from_secs(20),
        || async {
            let rollout = rollouts.get("demo").await.ok()?;
            (rollout.status?.canary_weight == Some(25)).then_some(())
        },
    )
    .await;
    let (code, metrics) = http_get(instance.address, "/metrics")
        .await
        .expect("metrics");
    assert_eq!(code, 200);
    for name in [
        "kulta_rollout_info{",
        "kulta_rollout_canary_weight{namespace=\"default\",name=\"demo\"} 25",
        "kulta_rollout_current_step{",
        "kulta_rollout_phase_transitions_total{",
        "kulta_reconcile_duration_seconds_bucket{le=\"10.0\"}",
        "kulta_reconcile_errors_total{category=\"router_transient\"} 1",
        "kulta_router_operations_total{router=\"gatewayAPI\",operation=\"set_weight\",result=\"written\"}",
        "kulta_step_route_latency_seconds_count",
    ] {
        assert!(
            metrics.contains(name),
            "{name} missing from /metrics:\n{metrics}"
        );
    }
    check_openmetrics(&metrics);

    // Shutdown: readiness turns false while in-flight work finishes (a slow status write keeps
    // the reconcile in flight).
    sim.faults().add_latency(
        RequestFilter::new()
            .resource("rollouts")
            .subresource("status"),
        Duration::from_secs(2),
    );
    let patch = serde_json::json!({"metadata": {"annotations": {"kulta.io/promote": "full"}}});
    rollouts
        .patch("demo", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("promote");
    // The promotion is consumed before the (slow) status write: the reconcile is in flight.
    wait_for("promotion consumed", Duration::from_secs(10), || async {
        let rollout = rollouts.get("demo").await.ok()?;
        (!rollout
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("kulta.io/promote"))
        .then_some(())
    })
    .await;
    instance.shutdown.cancel();
    wait_for(
        "/readyz 503 during shutdown",
        Duration::from_secs(5),
        || async {
            (http_get(instance.address, "/readyz").await.map(|r| r.0) == Some(503)).then_some(())
        },
    )
    .await;
    assert!(
        !instance.task.is_finished(),
        "still finishing in-flight work"
    );
    assert!(!instance.handles.health.is_ready());
    let exit = instance.task.await.expect("joined").expect("ran");
    assert_eq!(exit, Exit::Shutdown);
    sim.shutdown().await;
}

/// Parses the exposition with the reference OpenMetrics parser (Python prometheus_client) when
/// it is installed; CI installs it.
fn check_openmetrics(text: &str) {
    let script = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families\nfamilies = list(text_string_to_metric_families(sys.stdin.read()))\nprint(len(families))\n";
    let child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        assert!(
            std::env::var("KULTA_REQUIRE_TOOLS").is_err(),
            "python3 is required to parse OpenMetrics"
        );
        eprintln!("OpenMetrics parse NOT CHECKED: python3 not found");
        return;
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("python");
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("No module named 'prometheus_client'") {
        assert!(
            std::env::var("KULTA_REQUIRE_TOOLS").is_err(),
            "pip package prometheus-client is required to parse OpenMetrics"
        );
        eprintln!("OpenMetrics parse NOT CHECKED: python package prometheus-client not installed");
        return;
    }
    assert!(
        output.status.success(),
        "the OpenMetrics parser refused /metrics: {stderr}\n{text}"
    );
}

async fn holder(sim: &Sim) -> Option<String> {
    let lease = Api::<Lease>::namespaced(sim.client(), "default")
        .get_opt("kulta-controller")
        .await
        .ok()??;
    lease.spec?.holder_identity.filter(|h| !h.is_empty())
}

#[tokio::test]
async fn only_the_leader_writes_failover_is_prompt_and_a_cut_off_leader_stops_before_its_lease_expires()
 {
    let timings = LeaseTimings {
        lease_duration: Duration::from_secs(4),
        renew_deadline: Duration::from_secs(3),
        retry_period: Duration::from_millis(500),
    };
    let sim = demo_cluster().await;
    let a = start(&sim, "kulta-a", Some(timings)).await;
    wait_for("a leads", Duration::from_secs(10), || async {
        (holder(&sim).await.as_deref() == Some("kulta-a")).then_some(())
    })
    .await;
    let b = start(&sim, "kulta-b", Some(timings)).await;
    wait_for("demo Healthy", Duration::from_secs(20), || healthy(&sim)).await;
    // The standby is ready (idle) and wrote nothing but its lease attempts (none succeed).
    wait_for("standby ready", Duration::from_secs(5), || async {
        (http_get(b.address, "/readyz").await.map(|r| r.0) == Some(200)).then_some(())
    })
    .await;
    assert!(
        !non_lease_writes(&sim, "kulta-a").is_empty(),
        "the leader did the work"
    );
    assert_eq!(
        non_lease_writes(&sim, "kulta-b"),
        vec![],
        "the standby must not write"
    );

    // Kill the leader without releasing the lease: b takes over within the lease duration + 5s.
    a.task.abort();
    let killed = Instant::now();
    wait_for(
        "b leads",
        timings.lease_duration + Duration::from_secs(5),
        || async { (holder(&sim).await.as_deref() == Some("kulta-b")).then_some(()) },
    )
    .await;
    let handover = killed.elapsed();
    assert!(
        handover <= timings.lease_duration + Duration::from_secs(5),
        "handover took {handover:?}"
    );
    let rollouts: Api<Rollout> = Api::namespaced(sim.client(), "default");
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}});
    rollouts
        .patch("demo", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("new image");
    wait_for("b moves traffic", Duration::from_secs(20), || async {
        (!non_lease_writes(&sim, "kulta-b").is_empty()).then_some(())
    })
    .await;

    // Cut the leader off from the API server: it stops writing before its lease could expire.
    let last_renewal = sim
        .request_log()
        .writes(&RequestFilter::new().identity("kulta-b").resource("leases"))
        .into_iter()
        .filter(|record| record.code < 300)
        .map(|record| record.at)
        .max()
        .expect("b renewed");
    sim.faults().fail(FailureRule::new(503).identity("kulta-b"));
    sim.faults().drop_watches();
    let exit = tokio::time::timeout(Duration::from_secs(10), b.task)
        .await
        .expect("b stops")
        .expect("joined")
        .expect("ran");
    let stopped = Instant::now();
    assert_eq!(exit, Exit::LostLeadership);
    let last_renewal = sim
        .request_log()
        .writes(&RequestFilter::new().identity("kulta-b").resource("leases"))
        .into_iter()
        .filter(|record| record.code < 300)
        .map(|record| record.at)
        .max()
        .unwrap_or(last_renewal);
    assert!(
        stopped < last_renewal + timings.lease_duration,
        "b stopped {:?} after its last renewal",
        stopped - last_renewal
    );
    let late_writes: Vec<_> = sim
        .request_log()
        .writes(&RequestFilter::new().identity("kulta-b"))
        .into_iter()
        .filter(|r| r.at > stopped)
        .collect();
    assert_eq!(late_writes, vec![], "b wrote after stepping down");
    a.shutdown.cancel();
    b.shutdown.cancel();
    drop(Arc::new(()));
    sim.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_releases_the_lease_for_an_immediate_failover() {
    let timings = LeaseTimings {
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_millis(300),
    };
    let sim = demo_cluster().await;
    let a = start(&sim, "kulta-a", Some(timings)).await;
    wait_for("a leads", Duration::from_secs(10), || async {
        (holder(&sim).await.as_deref() == Some("kulta-a")).then_some(())
    })
    .await;
    let b = start(&sim, "kulta-b", Some(timings)).await;
    a.shutdown.cancel();
    assert_eq!(a.task.await.expect("joined").expect("ran"), Exit::Shutdown);
    let released = Instant::now();
    wait_for("b leads", Duration::from_secs(5), || async {
        (holder(&sim).await.as_deref() == Some("kulta-b")).then_some(())
    })
    .await;
    assert!(
        released.elapsed() < timings.lease_duration,
        "failover waited for expiry: {:?}",
        released.elapsed()
    );
    b.shutdown.cancel();
    assert_eq!(b.task.await.expect("joined").expect("ran"), Exit::Shutdown);
    sim.shutdown().await;
}
