//! Errors a real cluster returns: a ReplicaSet the API server refuses is reported like an
//! invalid spec and waits for a change; errors that persist count against the progress
//! deadline, and `progressDeadlineAbort` fires on them.

use kulta_api::Phase;
use kulta_api::steps::set_weight;
use kulta_sim::FailureRule;
use kulta_tests::{TestCluster, condition_is, condition_reason, rollout};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_set_the_api_server_refuses_is_reported_like_an_invalid_spec() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    let mut object = serde_json::to_value(rollout("web").steps([set_weight(50)]).build()).unwrap();
    object["spec"]["template"]["spec"]["containers"][0]["ports"] =
        json!([{"containerPort": 70000}]);
    cluster
        .try_create_rollout_json(object)
        .await
        .expect("the CRD stores any template");
    let status = cluster
        .wait_status(
            "web",
            "InvalidSpec=True from the API server's answer",
            |s| condition_is(s, "InvalidSpec", "True"),
        )
        .await;
    assert_eq!(status.phase, Some(Phase::Degraded));
    assert_eq!(
        condition_reason(&status, "InvalidSpec").as_deref(),
        Some("RejectedByAPIServer")
    );
    let message = &status
        .conditions
        .iter()
        .find(|c| c.type_ == "InvalidSpec")
        .unwrap()
        .message;
    assert!(
        message.contains("spec.template.spec.containers[0].ports[0].containerPort")
            && message.contains("must be between 1 and 65535"),
        "{message}"
    );
    cluster.wait_event("web", "RejectedByAPIServer").await;
    assert!(cluster.replica_set_scales("web").await.is_empty());
    assert_eq!(
        cluster.route_weights("web-route", "web").await,
        vec![(100, 0)]
    );
    // It waits for a change instead of retrying: no further create.
    let mark = cluster.mark();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let creates = cluster
        .requests_since(&mark)
        .await
        .into_iter()
        .filter(|r| {
            r.identity == cluster.controller_identity()
                && r.verb == "create"
                && r.resource == "replicasets"
        })
        .count();
    assert_eq!(creates, 0, "no retry loop");

    cluster
        .patch_rollout(
            "web",
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1.25", "ports": [{"containerPort": 8080}]}
            ]}}}}),
        )
        .await;
    let status = cluster.wait_healthy("web").await;
    assert!(condition_is(&status, "InvalidSpec", "False"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_canary_create_is_aborted_at_the_progress_deadline() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    cluster
        .create_rollout(
            &rollout("web")
                .steps([set_weight(50)])
                .progress_deadline_seconds(2)
                .progress_deadline_abort(true)
                .build(),
        )
        .await;
    cluster.wait_healthy("web").await;
    // The controller may no longer create ReplicaSets (RBAC changed under it).
    cluster.faults().fail(
        FailureRule::new(403)
            .identity(cluster.controller_identity())
            .resource("replicasets")
            .verb("create"),
    );
    cluster.set_image("web", "nginx:1.26").await;
    let status = cluster
        .wait_status("web", "aborted at the deadline", |s| {
            s.aborted == Some(true) && condition_is(s, "Progressing", "False")
        })
        .await;
    assert_eq!(
        condition_reason(&status, "Progressing").as_deref(),
        Some("ProgressDeadlineExceeded")
    );
    cluster.wait_event("web", "ProgressDeadlineExceeded").await;
    cluster.faults().clear();
    let aborted = cluster
        .wait_status("web", "Degraded on stable", |s| {
            s.phase == Some(Phase::Degraded) && s.canary_weight == Some(0)
        })
        .await;
    assert_eq!(aborted.aborted, Some(true));
    assert_eq!(
        cluster.route_weights("web-route", "web").await,
        vec![(100, 0)]
    );
}
