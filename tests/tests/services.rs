//! A canary Service that cannot serve the canary (missing, or selecting pods the template does
//! not make) holds a new revision back with a condition and an Event: no canary ReplicaSet, no
//! route write, until it is fixed.

use kulta_api::Phase;
use kulta_api::steps::set_weight;
use kulta_tests::{TestCluster, condition_reason, rollout};
use serde_json::json;

async fn held_back(cluster: &TestCluster, expected: &str) {
    let status = cluster
        .wait_status("web", "the new revision held back", |s| {
            s.message.as_deref().is_some_and(|m| m.contains(expected))
        })
        .await;
    assert_eq!(status.canary_revision, None, "no canary started");
    assert_eq!(status.phase, Some(Phase::Progressing));
    assert_eq!(
        condition_reason(&status, "Ready").as_deref(),
        Some("RolloutInProgress")
    );
    cluster.wait_event("web", "CanaryServiceNotReady").await;
    assert_eq!(
        cluster.replica_set_scales("web").await.len(),
        1,
        "only the stable ReplicaSet"
    );
    assert_eq!(
        cluster.route_weights("web-route", "web").await,
        vec![(100, 0)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_service_that_selects_nothing_holds_the_new_revision_back() {
    let cluster = TestCluster::start().await;
    cluster.create_service("web-stable", "web").await;
    cluster.create_service("web-canary", "nothing").await;
    cluster
        .create_route(kulta_tests::default_route("web"))
        .await;
    cluster
        .create_rollout(&rollout("web").steps([set_weight(50)]).build())
        .await;
    cluster.wait_healthy("web").await;
    let mark = cluster.mark();
    cluster.set_image("web", "nginx:1.26").await;
    held_back(&cluster, "canary Service web-canary selects app=nothing").await;
    let writes: Vec<_> = cluster
        .requests_since(&mark)
        .await
        .into_iter()
        .filter(|r| {
            r.identity == cluster.controller_identity()
                && !matches!(r.verb.as_str(), "get" | "list" | "watch")
                && !(r.resource == "rollouts" && r.subresource == "status")
                && r.resource != "events"
        })
        .map(|r| (r.verb, r.resource, r.name))
        .collect();
    assert!(writes.is_empty(), "only status and Events: {writes:?}");

    // Fixed: the canary starts and completes.
    let services = cluster.services();
    services
        .patch(
            "web-canary",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"selector": {"app": "web"}}})),
        )
        .await
        .unwrap();
    let done = cluster
        .wait_status("web", "the new revision stable", |s| {
            s.phase == Some(Phase::Healthy) && s.observed_generation == Some(2)
        })
        .await;
    assert_eq!(done.current_step_index, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_canary_service_holds_the_new_revision_back() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    cluster
        .create_rollout(&rollout("web").steps([set_weight(50)]).build())
        .await;
    cluster.wait_healthy("web").await;
    cluster
        .services()
        .delete("web-canary", &Default::default())
        .await
        .unwrap();
    cluster.set_image("web", "nginx:1.26").await;
    held_back(&cluster, "canary Service web-canary not found").await;
    cluster.create_service("web-canary", "web").await;
    cluster
        .wait_status("web", "the new revision stable", |s| {
            s.phase == Some(Phase::Healthy) && s.observed_generation == Some(2)
        })
        .await;
}
