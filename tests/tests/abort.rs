//! Stopping a canary: abort by a person (traffic first, then the scale-down), retry from the
//! first step, and a canary that never becomes ready (progress deadline, with and without
//! abort).

use std::collections::BTreeMap;

use kulta_api::Phase;
use kulta_api::labels::{ABORT_ANNOTATION, RETRY_ANNOTATION};
use kulta_tests::{
    TestCluster, WeightRecorder, condition_is, condition_reason, readme_steps, rollout,
    template_hash,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_at_50_routes_to_stable_before_scaling_down_and_retry_starts_over() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    let created = cluster
        .create_rollout(&rollout("web").steps(readme_steps()).build())
        .await;
    let stable = template_hash(&created);
    cluster.wait_healthy("web").await;
    let weights = WeightRecorder::start(&cluster, "web-route", "web").await;
    cluster.set_image("web", "nginx:1.26").await;
    let canary = template_hash(&cluster.rollout("web").await);
    cluster
        .wait_status("web", "paused at 50%", |s| {
            s.current_step_index == Some(1) && s.canary_weight == Some(50)
        })
        .await;
    assert_eq!(
        cluster.replica_set_scales("web").await,
        BTreeMap::from([(stable.clone(), 3), (canary.clone(), 2)])
    );

    let since = cluster.mark();
    cluster.annotate("web", ABORT_ANNOTATION, "true").await;
    let status = cluster
        .wait_status("web", "aborted", |s| {
            s.phase == Some(Phase::Degraded) && s.aborted == Some(true)
        })
        .await;
    cluster
        .wait_scales(
            "web",
            &BTreeMap::from([(stable.clone(), 3), (canary.clone(), 0)]),
        )
        .await;
    assert_eq!(status.stable_revision.as_deref(), Some(stable.as_str()));
    assert!(condition_is(&status, "Aborted", "True"));
    assert_eq!(
        condition_reason(&status, "Aborted").as_deref(),
        Some("AbortedByUser")
    );
    assert_eq!(
        condition_reason(&status, "Ready").as_deref(),
        Some("RolloutAborted")
    );
    assert!(condition_is(&status, "Progressing", "False"));
    assert!(
        status
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("kulta.io/retry=true")
    );
    assert_eq!(
        cluster.route_weights("web-route", "web").await,
        vec![(100, 0)]
    );
    assert_eq!(
        cluster.service_pin("web-stable").await.as_deref(),
        Some(stable.as_str())
    );
    let annotations = cluster
        .rollout("web")
        .await
        .metadata
        .annotations
        .unwrap_or_default();
    assert!(
        !annotations.contains_key(ABORT_ANNOTATION),
        "the action is consumed"
    );

    // Traffic first: the route write to 0%, then the gateway's acknowledgement, and only then
    // the canary's scale-down.
    let log = cluster.requests_since(&since).await;
    let controller = cluster.controller_identity();
    let gateway = cluster.backend.gateway_identity();
    let canary_rs = format!("web-{canary}");
    let route_write = log
        .iter()
        .position(|r| r.identity == controller && r.is_write() && r.resource == "httproutes")
        .expect("the controller wrote the route");
    let gateway_ack = log
        .iter()
        .skip(route_write)
        .position(|r| {
            r.identity == gateway && r.resource == "httproutes" && r.subresource == "status"
        })
        .map(|i| i + route_write)
        .expect("the gateway acknowledged the route");
    let scale_down = log
        .iter()
        .position(|r| {
            r.identity == controller
                && r.is_write()
                && r.resource == "replicasets"
                && r.name == canary_rs
        })
        .expect("the controller scaled the canary down");
    assert!(
        route_write < gateway_ack && gateway_ack < scale_down,
        "route write #{route_write}, gateway status #{gateway_ack}, scale-down #{scale_down}"
    );
    cluster
        .wait_status("web", "canary weight 0 verified", |s| {
            s.canary_weight == Some(0)
        })
        .await;

    // Retry: from the first step again.
    cluster.annotate("web", RETRY_ANNOTATION, "true").await;
    let retried = cluster
        .wait_status("web", "retried and paused at 20%", |s| {
            s.phase == Some(Phase::Paused)
                && s.current_step_index == Some(0)
                && s.canary_weight == Some(20)
        })
        .await;
    assert_eq!(retried.aborted, None);
    assert_eq!(retried.canary_revision.as_deref(), Some(canary.as_str()));
    assert!(condition_is(&retried, "Aborted", "False"));
    assert_eq!(
        retried.last_action.map(|a| a.annotation),
        Some(RETRY_ANNOTATION.to_string())
    );
    assert_eq!(
        weights.pairs(),
        vec![(100, 0), (80, 20), (50, 50), (100, 0), (80, 20)]
    );
    cluster.wait_paused_at("web", 1).await;

    cluster
        .wait_events_in_order(
            "web",
            &["CanaryStarted", "Aborted", "Retried", "StepCompleted"],
        )
        .await;
}

/// Changes the template to one whose pods never become ready (the sim's annotation).
async fn deploy_bad_release(cluster: &TestCluster, name: &str) {
    cluster
        .patch_rollout(
            name,
            json!({ "spec": { "template": { "metadata": { "annotations": { "sim.kulta.io/ready": "false" } } } } }),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_never_ready_moves_no_traffic_and_hits_the_progress_deadline() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    let created = cluster
        .create_rollout(
            &rollout("web")
                .steps(readme_steps())
                .progress_deadline_seconds(2)
                .build(),
        )
        .await;
    let stable = template_hash(&created);
    cluster.wait_healthy("web").await;
    let weights = WeightRecorder::start(&cluster, "web-route", "web").await;

    deploy_bad_release(&cluster, "web").await;
    let canary = template_hash(&cluster.rollout("web").await);
    let status = cluster
        .wait_status("web", "Progressing=False ProgressDeadlineExceeded", |s| {
            condition_is(s, "Progressing", "False")
                && condition_reason(s, "Progressing").as_deref() == Some("ProgressDeadlineExceeded")
        })
        .await;
    assert_eq!(status.phase, Some(Phase::Degraded));
    assert_eq!(status.canary_revision.as_deref(), Some(canary.as_str()));
    assert_eq!(status.current_step_index, Some(0));
    assert_eq!(
        status.aborted, None,
        "no abort without progressDeadlineAbort"
    );
    assert_ne!(status.canary_weight, Some(20));
    assert_eq!(
        cluster.replica_set_scales("web").await,
        BTreeMap::from([(stable.clone(), 3), (canary.clone(), 1)])
    );
    assert_eq!(
        cluster.route_weights("web-route", "web").await,
        vec![(100, 0)]
    );
    assert_eq!(
        weights.pairs(),
        vec![(100, 0)],
        "no traffic moved to pods that are not ready"
    );
    cluster.wait_event("web", "ProgressDeadlineExceeded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_never_ready_is_aborted_at_the_progress_deadline_with_progress_deadline_abort() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    let created = cluster
        .create_rollout(
            &rollout("web")
                .steps(readme_steps())
                .progress_deadline_seconds(2)
                .progress_deadline_abort(true)
                .build(),
        )
        .await;
    let stable = template_hash(&created);
    cluster.wait_healthy("web").await;
    let weights = WeightRecorder::start(&cluster, "web-route", "web").await;

    deploy_bad_release(&cluster, "web").await;
    let canary = template_hash(&cluster.rollout("web").await);
    let status = cluster
        .wait_status("web", "aborted by the progress deadline", |s| {
            s.aborted == Some(true)
        })
        .await;
    assert_eq!(status.phase, Some(Phase::Degraded));
    assert!(condition_is(&status, "Aborted", "True"));
    assert_eq!(
        condition_reason(&status, "Aborted").as_deref(),
        Some("ProgressDeadlineExceeded")
    );
    assert!(condition_is(&status, "Progressing", "False"));
    cluster
        .wait_scales(
            "web",
            &BTreeMap::from([(stable.clone(), 3), (canary.clone(), 0)]),
        )
        .await;
    assert_eq!(
        cluster.route_weights("web-route", "web").await,
        vec![(100, 0)]
    );
    assert_eq!(
        weights.pairs(),
        vec![(100, 0)],
        "no traffic moved to pods that are not ready"
    );
    cluster.wait_event("web", "Aborted").await;
    // Reconciles after the abort keep the cause on Progressing.
    let status = cluster
        .wait_status("web", "settled abort", |s| s.aborted == Some(true))
        .await;
    assert_eq!(
        condition_reason(&status, "Progressing").as_deref(),
        Some("ProgressDeadlineExceeded")
    );
}
