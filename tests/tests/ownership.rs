//! Ownership is checked, not assumed: a Service another Rollout holds is never pinned, and a
//! Service selector someone else changed is reported, not reverted.

use kube::api::{Patch, PatchParams};
use kulta_api::labels::{PINNED_REVISION_ANNOTATION, SERVICE_CLAIM_ANNOTATION};
use kulta_api::steps::{pause_indefinitely, set_weight};
use kulta_tests::{TestCluster, condition_is, rollout};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_rollout_naming_the_same_services_is_told_which_rollout_holds_them() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    cluster
        .create_rollout(&rollout("web").steps([set_weight(50)]).build())
        .await;
    cluster.wait_healthy("web").await;
    let pinned = cluster.service_pin("web-stable").await;
    let service = cluster.services().get("web-stable").await.unwrap();
    assert_eq!(
        service.metadata.annotations.unwrap_or_default()[SERVICE_CLAIM_ANNOTATION],
        "web"
    );

    // Same Services, its own route and labels.
    let mut route = kulta_tests::default_route("web");
    route["metadata"]["name"] = json!("copy-route");
    cluster.create_route(route).await;
    let mark = cluster.mark();
    cluster
        .create_rollout(
            &rollout("copy")
                .steps([set_weight(50)])
                .with_spec(|spec| {
                    let canary = spec.strategy.canary.as_mut().unwrap();
                    canary.stable_service = "web-stable".into();
                    canary.canary_service = "web-canary".into();
                })
                .http_route("copy-route")
                .build(),
        )
        .await;
    let status = cluster
        .wait_status("copy", "told which Rollout holds the Services", |s| {
            s.message
                .as_deref()
                .is_some_and(|m| m.contains("is held by Rollout web"))
        })
        .await;
    assert!(condition_is(&status, "Ready", "False"));
    cluster.wait_event("copy", "CanaryServiceNotReady").await;
    // Nothing of its own written, and the Services stay with the first Rollout.
    assert!(cluster.replica_set_scales("copy").await.is_empty());
    for _ in 0..3 {
        cluster.touch_and_wait_reconcile("copy", "copy-route").await;
    }
    assert_eq!(cluster.service_pin("web-stable").await, pinned);
    // Its own status and finalizer (a valid spec carries it from the start) aside.
    let writes: Vec<_> = cluster
        .controller_writes_beside_rollouts(&mark)
        .await
        .into_iter()
        .map(|r| (r.verb, r.resource, r.name))
        .collect();
    assert!(
        writes.is_empty(),
        "only the Rollout itself and Events: {writes:?}"
    );

    // The first Rollout deleted, its claim goes, and the second takes the Services.
    cluster
        .rollouts()
        .delete("web", &Default::default())
        .await
        .unwrap();
    cluster.wait_healthy("copy").await;
    let service = cluster.services().get("web-stable").await.unwrap();
    assert_eq!(
        service.metadata.annotations.unwrap_or_default()[SERVICE_CLAIM_ANNOTATION],
        "copy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_someone_else_changed_is_reported_not_reverted() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    cluster
        .create_rollout(&rollout("web").steps([set_weight(50)]).build())
        .await;
    cluster.wait_healthy("web").await;
    let services = cluster.services();
    services
        .patch(
            "web-stable",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"selector": {"pod-template-hash": "hand-made"}}})),
        )
        .await
        .unwrap();
    let status = cluster
        .wait_status("web", "the change reported", |s| {
            s.message
                .as_deref()
                .is_some_and(|m| m.contains("was changed by someone else"))
        })
        .await;
    assert!(condition_is(&status, "Ready", "False"));
    cluster.wait_event("web", "ServiceConflict").await;
    for _ in 0..3 {
        cluster.touch_and_wait_reconcile("web", "web-route").await;
    }
    assert_eq!(
        cluster.service_pin("web-stable").await.as_deref(),
        Some("hand-made"),
        "not reverted"
    );
    // Handing it back: KULTA pins it again and the Rollout is healthy.
    services
        .patch(
            "web-stable",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {PINNED_REVISION_ANNOTATION: null}}})),
        )
        .await
        .unwrap();
    let healthy = cluster.wait_healthy("web").await;
    assert_eq!(
        cluster.service_pin("web-stable").await,
        healthy.stable_revision
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_set_with_the_canarys_name_that_is_not_its_revision_is_a_conflict() {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    cluster
        .create_rollout(&rollout("web").steps([set_weight(50)]).build())
        .await;
    cluster.wait_healthy("web").await;
    let mut template = cluster.rollout("web").await.spec.template;
    template.raw_mut()["spec"]["containers"][0]["image"] = json!("nginx:1.26");
    let hash = kulta_api::hash::revision_hash(&template);
    let name = format!("web-{hash}");
    // Someone's ReplicaSet that happens to have the canary's name.
    let squatter: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "other"}},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "other"}},
                 "template": {"metadata": {"labels": {"app": "other"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
    }))
    .unwrap();
    cluster
        .replica_sets()
        .create(&Default::default(), &squatter)
        .await
        .unwrap();
    let mark = cluster.mark();
    cluster.set_image("web", "nginx:1.26").await;
    let status = cluster
        .wait_status("web", "ReplicaSetConflict", |s| {
            kulta_tests::condition_reason(s, "Ready").as_deref() == Some("ReplicaSetConflict")
        })
        .await;
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert!(
        ready.message.contains(&name) && ready.message.contains("pod-template-hash"),
        "{}",
        ready.message
    );
    cluster.wait_event("web", "ReplicaSetConflict").await;
    let untouched = cluster.replica_sets().get(&name).await.unwrap();
    assert!(untouched.metadata.owner_references.is_none(), "not adopted");
    assert_eq!(
        cluster.route_weights("web-route", "web").await,
        vec![(100, 0)],
        "no traffic moved"
    );
    let writes: Vec<_> = cluster
        .controller_writes_beside_rollouts(&mark)
        .await
        .into_iter()
        .filter(|r| r.code < 400)
        .map(|r| (r.verb, r.resource, r.name))
        .collect();
    assert!(writes.is_empty(), "nothing written: {writes:?}");

    // Out of the way, the canary runs.
    cluster
        .replica_sets()
        .delete(&name, &Default::default())
        .await
        .unwrap();
    cluster
        .wait_status("web", "the new revision stable", |s| {
            s.phase == Some(kulta_api::Phase::Healthy) && s.observed_generation == Some(2)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphaned_replica_set_of_the_revision_is_adopted_at_the_canarys_scale_in_one_write() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    cluster
        .create_rollout(
            &rollout("web")
                .steps([set_weight(50), pause_indefinitely()])
                .build(),
        )
        .await;
    cluster.wait_healthy("web").await;
    // The ReplicaSet the next revision would get, left without an owner and scaled to zero (a
    // Rollout deleted with orphaning and made again).
    let current = cluster.rollout("web").await;
    let (name, hash, mut orphan) = kulta_test_support::orphaned_replica_set(&current, "nginx:1.26");
    orphan.metadata.annotations = Some([("kulta.io/revision".to_string(), "7".to_string())].into());
    cluster
        .replica_sets()
        .create(&Default::default(), &orphan)
        .await
        .unwrap();

    let mark = cluster.mark();
    cluster.set_image("web", "nginx:1.26").await;
    cluster
        .wait_status("web", "the adopted canary paused at 50%", |s| {
            s.current_step_index == Some(1) && s.canary_weight == Some(50)
        })
        .await;
    let adopted = cluster.replica_sets().get(&name).await.unwrap();
    assert!(
        adopted
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|owner| owner.kind == "Rollout" && owner.controller == Some(true)),
        "adopted"
    );
    assert_eq!(
        adopted.metadata.annotations.unwrap_or_default()["kulta.io/revision"],
        "2",
        "the revision is the Rollout's, not the orphan's"
    );
    // The stable ReplicaSet is not touched while paused. One write made the orphan the canary:
    // owner, labels, revision and scale together. A scale left to a later reconcile would wait
    // for a wake-up that the adoption's own echo does not give.
    let writes: Vec<_> = cluster
        .controller_writes_since(&mark)
        .await
        .into_iter()
        .filter(|r| r.resource == "replicasets")
        .map(|r| (r.verb, r.code))
        .collect();
    assert_eq!(
        writes,
        vec![("create".to_string(), 409), ("patch".to_string(), 200)],
        "refused create, then one adopting patch"
    );
    assert_eq!(
        cluster.replica_set_scales("web").await.get(&hash),
        Some(&2),
        "the canary's scale for 50% of 3 replicas"
    );
}
