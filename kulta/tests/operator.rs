//! The operator runtime: probes, metrics, leader election, on kulta-sim or the real control
//! plane (`KULTA_TEST_CLUSTER`).

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kulta_api::Rollout;
use kulta_controller::runtime::Exit;
use kulta_controller::runtime::leader::LeaseTimings;
use kulta_sim::{FailureRule, RequestFilter};
use kulta_test_support::{Backend, RequestMark};

mod common;
use common::{
    LEASE, demo_cluster, grant_leader_election, healthy, http_get, start, wait_for, writes_of,
};

#[tokio::test]
async fn probes_follow_cache_sync_and_shutdown_and_metrics_parse_after_a_rollout() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_default())
        .try_init();
    let backend = demo_cluster().await;
    let namespace = backend.namespace();
    // Rollouts cannot be listed yet: the caches cannot sync, so the instance is not ready.
    backend.faults().fail(
        FailureRule::new(503)
            .resource("rollouts")
            .identity("kulta-a"),
    );
    let instance = start(&backend, "kulta-a", None).await;
    assert_eq!(
        http_get(instance.address, "/healthz").await.map(|r| r.0),
        Some(200)
    );
    wait_for("a failed rollout list", Duration::from_secs(10), || async {
        (backend.faults().injected_count() > 0).then_some(())
    })
    .await;
    assert_eq!(
        http_get(instance.address, "/readyz").await.map(|r| r.0),
        Some(503),
        "ready before the caches synced"
    );
    backend.faults().clear();
    wait_for("/readyz 200", Duration::from_secs(20), || async {
        (http_get(instance.address, "/readyz").await.map(|r| r.0) == Some(200)).then_some(())
    })
    .await;
    wait_for("demo Healthy", Duration::from_secs(20), || {
        healthy(&backend)
    })
    .await;

    // A canary to populate every metric, with one failed route write on the way (a reconcile
    // error, retried).
    backend.faults().fail_next(
        1,
        500,
        RequestFilter::new()
            .resource("httproutes")
            .verb("patch")
            .identity("kulta-a"),
    );
    let rollouts: Api<Rollout> = Api::namespaced(backend.client(), namespace);
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
    // The gauges follow the status write the test just read: scrape until they caught up.
    let canary_weight =
        format!("kulta_rollout_canary_weight{{namespace=\"{namespace}\",name=\"demo\"}} 25");
    let metrics = wait_for("/metrics at step 2", Duration::from_secs(10), || async {
        let (code, metrics) = http_get(instance.address, "/metrics").await?;
        (code == 200 && metrics.contains(&canary_weight)).then_some(metrics)
    })
    .await;
    for name in [
        "kulta_rollout_info{",
        canary_weight.as_str(),
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
    backend.faults().add_latency(
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

async fn holder(backend: &Backend) -> Option<String> {
    let lease = Api::<Lease>::namespaced(backend.client(), backend.namespace())
        .get_opt(LEASE)
        .await
        .ok()??;
    lease.spec?.holder_identity.filter(|h| !h.is_empty())
}

/// The instant of `identity`'s last successful Lease write since `mark`.
async fn last_renewal(backend: &Backend, mark: &RequestMark, identity: &str) -> Option<SystemTime> {
    writes_of(backend, mark, identity, true)
        .await
        .into_iter()
        .filter(|request| request.resource == "leases" && request.code < 300)
        .map(|request| request.received)
        .max()
}

#[tokio::test]
async fn only_the_leader_writes_failover_is_prompt_and_a_cut_off_leader_stops_before_its_lease_expires()
 {
    let timings = LeaseTimings {
        lease_duration: Duration::from_secs(4),
        renew_deadline: Duration::from_secs(3),
        retry_period: Duration::from_millis(500),
    };
    let backend = demo_cluster().await;
    grant_leader_election(&backend).await;
    let mark = backend.mark();
    let a = start(&backend, "kulta-a", Some(timings)).await;
    wait_for("a leads", Duration::from_secs(10), || async {
        (holder(&backend).await.as_deref() == Some("kulta-a")).then_some(())
    })
    .await;
    let b = start(&backend, "kulta-b", Some(timings)).await;
    wait_for("demo Healthy", Duration::from_secs(20), || {
        healthy(&backend)
    })
    .await;
    // The standby is ready (idle) and wrote nothing but its lease attempts (none succeed).
    wait_for("standby ready", Duration::from_secs(5), || async {
        (http_get(b.address, "/readyz").await.map(|r| r.0) == Some(200)).then_some(())
    })
    .await;
    assert!(
        !writes_of(&backend, &mark, "kulta-a", false)
            .await
            .is_empty(),
        "the leader did the work"
    );
    assert_eq!(
        writes_of(&backend, &mark, "kulta-b", false).await,
        vec![],
        "the standby must not write"
    );

    // Kill the leader without releasing the lease: b takes over within the lease duration + 5s.
    a.task.abort();
    let killed = std::time::Instant::now();
    wait_for(
        "b leads",
        timings.lease_duration + Duration::from_secs(5),
        || async { (holder(&backend).await.as_deref() == Some("kulta-b")).then_some(()) },
    )
    .await;
    let handover = killed.elapsed();
    assert!(
        handover <= timings.lease_duration + Duration::from_secs(5),
        "handover took {handover:?}"
    );
    let rollouts: Api<Rollout> = Api::namespaced(backend.client(), backend.namespace());
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}});
    rollouts
        .patch("demo", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("new image");
    wait_for("b moves traffic", Duration::from_secs(20), || async {
        (!writes_of(&backend, &mark, "kulta-b", false)
            .await
            .is_empty())
        .then_some(())
    })
    .await;

    // Cut the leader off from the API server: it stops writing before its lease could expire.
    let renewed = last_renewal(&backend, &mark, "kulta-b")
        .await
        .expect("b renewed");
    backend
        .faults()
        .fail(FailureRule::new(503).identity("kulta-b"));
    backend.faults().drop_watches();
    let exit = tokio::time::timeout(Duration::from_secs(10), b.task)
        .await
        .expect("b stops")
        .expect("joined")
        .expect("ran");
    let stopped = SystemTime::now();
    assert_eq!(exit, Exit::LostLeadership);
    let renewed = last_renewal(&backend, &mark, "kulta-b")
        .await
        .unwrap_or(renewed);
    assert!(
        stopped < renewed + timings.lease_duration,
        "b stopped {:?} after its last renewal",
        stopped.duration_since(renewed).unwrap_or_default()
    );
    let late_writes: Vec<_> = writes_of(&backend, &mark, "kulta-b", true)
        .await
        .into_iter()
        .filter(|request| request.received > stopped)
        .collect();
    assert_eq!(late_writes, vec![], "b wrote after stepping down");
    a.shutdown.cancel();
    b.shutdown.cancel();
}

#[tokio::test]
async fn graceful_shutdown_releases_the_lease_for_an_immediate_failover() {
    let timings = LeaseTimings {
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_millis(300),
    };
    let backend = demo_cluster().await;
    grant_leader_election(&backend).await;
    let a = start(&backend, "kulta-a", Some(timings)).await;
    wait_for("a leads", Duration::from_secs(10), || async {
        (holder(&backend).await.as_deref() == Some("kulta-a")).then_some(())
    })
    .await;
    let b = start(&backend, "kulta-b", Some(timings)).await;
    a.shutdown.cancel();
    assert_eq!(a.task.await.expect("joined").expect("ran"), Exit::Shutdown);
    let released = std::time::Instant::now();
    wait_for("b leads", Duration::from_secs(5), || async {
        (holder(&backend).await.as_deref() == Some("kulta-b")).then_some(())
    })
    .await;
    assert!(
        released.elapsed() < timings.lease_duration,
        "failover waited for expiry: {:?}",
        released.elapsed()
    );
    b.shutdown.cancel();
    assert_eq!(b.task.await.expect("joined").expect("ran"), Exit::Shutdown);
}
