//! A canary Service that cannot serve the canary (missing, or selecting pods the template does
//! not make) holds a new revision back with a condition and an Event: no canary ReplicaSet, no
//! route write, until it is fixed. A route the Rollout cannot move weights in holds a first deploy
//! the same way.
// Helpers outside `#[test]` functions fail the test too: panicking is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
        .controller_writes_since(&mark)
        .await
        .into_iter()
        .filter(|r| {
            !(r.resource == "rollouts" && r.subresource == "status") && r.resource != "events"
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

/// A route the Rollout cannot move weights in holds a first deploy before anything is created.
async fn route_problem_holds_the_first_deploy(route: serde_json::Value, expected: &str) {
    let cluster = TestCluster::start().await;
    cluster.create_service("web-stable", "web").await;
    cluster.create_service("web-canary", "web").await;
    cluster.create_route(route).await;
    cluster
        .create_rollout(&rollout("web").steps([set_weight(50)]).build())
        .await;
    let status = cluster
        .wait_status("web", "held by the route", |s| {
            s.message.as_deref().is_some_and(|m| m.contains(expected))
        })
        .await;
    assert_eq!(status.stable_revision, None);
    cluster.wait_event("web", "RouteNotReady").await;
    assert!(
        cluster.replica_set_scales("web").await.is_empty(),
        "nothing created"
    );
    // The route fixed: the first deploy goes on.
    let routes = cluster.routes();
    routes
        .patch(
            "web-route",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": kulta_tests::default_route("web")["spec"]})),
        )
        .await
        .unwrap();
    cluster.wait_healthy("web").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_without_a_rule_for_the_services_holds_the_first_deploy() {
    let mut route = kulta_tests::default_route("web");
    route["spec"]["rules"] = json!([{"backendRefs": [{"name": "legacy", "port": 80}]}]);
    route_problem_holds_the_first_deploy(route, "web-stable").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_ref_of_another_kind_is_not_taken_for_the_service() {
    let mut route = kulta_tests::default_route("web");
    route["spec"]["rules"] = json!([{"backendRefs": [
        {"group": "multicluster.x-k8s.io", "kind": "ServiceImport", "name": "web-stable", "port": 80, "weight": 100},
        {"group": "multicluster.x-k8s.io", "kind": "ServiceImport", "name": "web-canary", "port": 80, "weight": 0}
    ]}]);
    route_problem_holds_the_first_deploy(route, "web-stable").await;
}
