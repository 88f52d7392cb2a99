//! A Rollout deleted mid-canary: the finalizer routes all traffic back to stable, then the
//! Rollout goes away.

use kube::api::DeleteParams;
use kulta_api::labels::FINALIZER;
use kulta_tests::{DEADLINE, TestCluster, WeightRecorder, readme_steps, rollout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_rollout_mid_canary_restores_stable_traffic_first() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    cluster
        .create_rollout(&rollout("web").steps(readme_steps()).build())
        .await;
    cluster.wait_healthy("web").await;
    let weights = WeightRecorder::start(&cluster, "web-route", "web").await;
    cluster.set_image("web", "nginx:1.26").await;
    cluster
        .wait_status("web", "paused at 50%", |s| {
            s.current_step_index == Some(1) && s.canary_weight == Some(50)
        })
        .await;
    let finalizers = cluster
        .rollout("web")
        .await
        .metadata
        .finalizers
        .unwrap_or_default();
    assert!(
        finalizers.contains(&FINALIZER.to_string()),
        "{finalizers:?}"
    );

    let since = cluster.mark();
    cluster
        .rollouts()
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    cluster
        .wait_for("the Rollout to be gone", DEADLINE, || async {
            cluster
                .rollouts()
                .get_opt("web")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        })
        .await;
    assert_eq!(
        cluster.route_weights("web-route", "web").await,
        vec![(100, 0)]
    );
    assert_eq!(
        weights.pairs(),
        vec![(100, 0), (80, 20), (50, 50), (100, 0)]
    );

    // The route was written before the finalizer was removed.
    let log = cluster.requests_since(&since).await;
    let controller = cluster.controller_identity();
    let route_write = log
        .iter()
        .position(|r| r.identity == controller && r.is_write() && r.resource == "httproutes")
        .expect("the controller restored the route");
    let finalizer_removed = log
        .iter()
        .rposition(|r| r.identity == controller && r.is_write() && r.resource == "rollouts")
        .expect("the controller removed its finalizer");
    assert!(
        route_write < finalizer_removed,
        "route #{route_write}, finalizer #{finalizer_removed}"
    );
    cluster.wait_event("web", "TrafficRestored").await;
    // Owner references take the ReplicaSets with the Rollout.
    cluster
        .wait_for("the ReplicaSets to be collected", DEADLINE, || async {
            cluster
                .replica_set_scales("web")
                .await
                .is_empty()
                .then_some(())
        })
        .await;
}
