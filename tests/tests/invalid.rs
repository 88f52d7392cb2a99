//! Invalid specs: what the CRD's CEL rules can express is refused at create time (422 with the
//! field path); what passes the schema but not the controller's validation or its router
//! registry gets an `InvalidSpec` condition, and nothing but the Rollout's status is written.
// Helpers outside `#[test]` functions fail the test too: panicking is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kulta_api::labels::FINALIZER;
use kulta_api::steps::{CanaryScale, pause, set_canary_scale, set_weight};
use kulta_api::{CanaryStep, Phase, Rollout};
use kulta_tests::{TestCluster, condition_is, condition_reason, rollout};
use serde_json::json;

async fn refused(cluster: &TestCluster, rollout: &Rollout) -> kube::core::Status {
    match cluster.try_create_rollout(rollout).await {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected the API server to refuse the Rollout, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crd_refuses_what_cel_can_express() {
    let cluster = TestCluster::start().await;

    let status = refused(&cluster, &rollout("web").steps([set_weight(150)]).build()).await;
    assert_eq!(status.code, 422, "{status:?}");
    assert!(
        status
            .message
            .contains("spec.strategy.canary.steps[0].setWeight"),
        "{}",
        status.message
    );
    assert!(status.message.contains("100"), "{}", status.message);

    let two_actions = CanaryStep {
        set_canary_scale: set_canary_scale(CanaryScale::Replicas(1)).set_canary_scale,
        ..set_weight(20)
    };
    let status = refused(&cluster, &rollout("web").steps([two_actions]).build()).await;
    assert_eq!(status.code, 422, "{status:?}");
    assert!(
        status.message.contains("spec.strategy.canary.steps[0]"),
        "{}",
        status.message
    );
    assert!(
        status.message.contains("exactly one action"),
        "{}",
        status.message
    );

    let status = refused(
        &cluster,
        &rollout("web")
            .steps([set_weight(20), pause(Some("5 minutes"))])
            .build(),
    )
    .await;
    assert_eq!(status.code, 422, "{status:?}");
    assert!(
        status
            .message
            .contains("spec.strategy.canary.steps[1].pause.duration"),
        "{}",
        status.message
    );

    assert!(
        cluster
            .rollouts()
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// Creates `rollout` (valid for the schema), waits for `InvalidSpec` naming `path`, asserts
/// that the controller wrote only the Rollout's status (and Events), then applies `fix` and
/// waits for Healthy.
async fn invalid_then_fixed(rollout: Rollout, path: &str, fix: serde_json::Value) {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    cluster.create_rollout(&rollout).await;
    let status = cluster
        .wait_status("web", "InvalidSpec=True", |s| {
            condition_is(s, "InvalidSpec", "True")
        })
        .await;
    assert_eq!(status.phase, Some(Phase::Degraded));
    assert_eq!(
        condition_reason(&status, "Ready").as_deref(),
        Some("InvalidSpec")
    );
    assert!(condition_is(&status, "Progressing", "False"));
    let message = &status
        .conditions
        .iter()
        .find(|c| c.type_ == "InvalidSpec")
        .unwrap()
        .message;
    assert!(message.contains(path), "{message} names {path}");
    cluster.wait_event("web", "InvalidSpec").await;

    let writes = cluster.controller_writes().await;
    let other: Vec<_> = writes
        .iter()
        .filter(|w| {
            !(w.resource == "rollouts" && w.subresource == "status") && w.resource != "events"
        })
        .map(|w| {
            (
                w.verb.clone(),
                w.resource.clone(),
                w.subresource.clone(),
                w.name.clone(),
            )
        })
        .collect();
    assert!(
        other.is_empty(),
        "an invalid Rollout made writes besides its status: {other:?}"
    );
    assert!(cluster.replica_set_scales("web").await.is_empty());
    let stored = cluster.rollout("web").await;
    assert!(
        !stored
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&FINALIZER.to_string()),
        "not even the finalizer"
    );
    assert_eq!(
        cluster.route_weights("web-route", "web").await,
        vec![(100, 0)]
    );

    cluster.patch_rollout("web", fix).await;
    let status = cluster.wait_healthy("web").await;
    assert!(condition_is(&status, "InvalidSpec", "False"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_router_is_an_invalid_spec() {
    invalid_then_fixed(
        rollout("web").plugin("no-such-router", json!({})).build(),
        "spec.strategy.canary.trafficRouting",
        json!({ "spec": { "strategy": { "canary": { "trafficRouting": { "plugin": null, "gatewayAPI": { "httpRoute": "web-route" } } } } } }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_duration_the_schema_accepts_but_too_long_is_an_invalid_spec() {
    invalid_then_fixed(
        rollout("web").steps([set_weight(20), pause(Some("9999999999h"))]).build(),
        "spec.strategy.canary.steps[1].pause.duration",
        json!({ "spec": { "strategy": { "canary": { "steps": [{ "setWeight": 20 }, { "pause": { "duration": "5m" } }] } } } }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_that_does_not_match_the_template_is_an_invalid_spec() {
    invalid_then_fixed(
        rollout("web")
            .with_spec(|spec| {
                spec.selector.match_labels = Some([("app".to_string(), "other".to_string())].into())
            })
            .build(),
        "spec.selector",
        json!({ "spec": { "selector": { "matchLabels": { "app": "web" } } } }),
    )
    .await;
}
