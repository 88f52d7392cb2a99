//! The canary lifecycle end to end: first deploy, a new revision through the original README's
//! steps, `promote=full`, a template change mid-rollout and a fast rollback, and a settled
//! Rollout that makes no writes.

use std::collections::BTreeMap;
use std::time::Duration;

use kulta_api::Phase;
use kulta_api::labels::{PROMOTE_ANNOTATION, PROMOTE_FULL};
use kulta_tests::{
    TestCluster, WeightRecorder, condition_is, condition_reason, readme_steps, rollout, steps,
    template_hash,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_deploy_is_healthy_with_all_traffic_on_stable_and_no_steps() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    let weights = WeightRecorder::start(&cluster, "web-route", "web").await;
    let created = cluster
        .create_rollout(&rollout("web").steps(readme_steps()).build())
        .await;
    let hash = template_hash(&created);

    let status = cluster.wait_healthy("web").await;
    assert_eq!(status.stable_revision.as_deref(), Some(hash.as_str()));
    assert_eq!(status.canary_revision, None);
    assert_eq!(
        status.current_step_index,
        Some(3),
        "no steps run: the index is past the last step"
    );
    assert_eq!(status.pause_start_time, None);
    assert_eq!(status.available_replicas, 3);
    let status = cluster
        .wait_status("web", "canary weight 0 verified", |s| {
            s.canary_weight == Some(0)
        })
        .await;
    assert!(condition_is(&status, "Ready", "True"));
    assert_eq!(
        condition_reason(&status, "Progressing").as_deref(),
        Some("RolloutComplete")
    );
    assert!(condition_is(&status, "Paused", "False"));
    assert!(condition_is(&status, "TrafficRouted", "True"));
    assert!(condition_is(&status, "InvalidSpec", "False"));

    assert_eq!(
        cluster.replica_set_scales("web").await,
        BTreeMap::from([(hash.clone(), 3)])
    );
    assert_eq!(
        cluster.service_pin("web-stable").await.as_deref(),
        Some(hash.as_str())
    );
    assert_eq!(
        cluster.route_weights("web-route", "web").await,
        vec![(100, 0)]
    );
    assert_eq!(weights.pairs(), vec![(100, 0)], "traffic never left stable");

    cluster.wait_event("web", "RevisionDeployed").await;
    let reasons = cluster.event_reasons("web");
    for never in [
        "CanaryStarted",
        "StepCompleted",
        "Paused",
        "RolloutCompleted",
    ] {
        assert!(
            !reasons.contains(&never.to_string()),
            "{never} in {reasons:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_change_walks_the_readme_steps_to_completion() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    let created = cluster
        .create_rollout(
            &rollout("web")
                .steps(readme_steps())
                .scale_down_delay_seconds(1)
                .build(),
        )
        .await;
    let old = template_hash(&created);
    cluster.wait_healthy("web").await;
    let weights = WeightRecorder::start(&cluster, "web-route", "web").await;

    cluster.set_image("web", "nginx:1.26").await;
    let new = template_hash(&cluster.rollout("web").await);
    assert_ne!(old, new);

    // Step 1: 20% with a timed pause of 1 s.
    let paused = cluster
        .wait_status("web", "20% verified and paused", |s| {
            s.phase == Some(Phase::Paused)
                && s.current_step_index == Some(0)
                && s.canary_weight == Some(20)
        })
        .await;
    assert_eq!(paused.canary_revision.as_deref(), Some(new.as_str()));
    assert_eq!(paused.stable_revision.as_deref(), Some(old.as_str()));
    assert_eq!(
        condition_reason(&paused, "Paused").as_deref(),
        Some("Timed")
    );
    let pause_start = paused.pause_start_time.expect("pauseStartTime recorded");
    assert_eq!(
        cluster.route_weights("web-route", "web").await,
        vec![(80, 20)]
    );
    assert_eq!(
        cluster.replica_set_scales("web").await,
        BTreeMap::from([(old.clone(), 3), (new.clone(), 1)])
    );
    assert_eq!(
        cluster.service_pin("web-canary").await.as_deref(),
        Some(new.as_str())
    );
    assert_eq!(
        cluster.service_pin("web-stable").await.as_deref(),
        Some(old.as_str())
    );

    // Step 2: 50% and a pause until promoted; the timed pause lasted its full second.
    let paused = cluster
        .wait_status("web", "50% verified and paused until promoted", |s| {
            s.phase == Some(Phase::Paused)
                && s.current_step_index == Some(1)
                && s.canary_weight == Some(50)
        })
        .await;
    assert!(
        chrono::Utc::now() - pause_start >= chrono::Duration::seconds(1),
        "the 1 s pause was honoured"
    );
    assert_eq!(
        condition_reason(&paused, "Paused").as_deref(),
        Some("Manual")
    );
    assert!(
        paused
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("kulta.io/promote=true")
    );
    assert_eq!(
        cluster.replica_set_scales("web").await,
        BTreeMap::from([(old.clone(), 3), (new.clone(), 2)])
    );
    assert_eq!(
        cluster.route_weights("web-route", "web").await,
        vec![(50, 50)]
    );

    cluster.annotate("web", PROMOTE_ANNOTATION, "true").await;
    let done = cluster.wait_healthy("web").await;
    assert_eq!(done.stable_revision.as_deref(), Some(new.as_str()));
    assert_eq!(done.current_step_index, Some(3));
    let action = done.last_action.expect("the promotion is recorded");
    assert_eq!(
        (action.annotation.as_str(), action.value.as_str()),
        (PROMOTE_ANNOTATION, "true")
    );
    let annotations = cluster
        .rollout("web")
        .await
        .metadata
        .annotations
        .unwrap_or_default();
    assert!(
        !annotations.contains_key(PROMOTE_ANNOTATION),
        "the action is consumed"
    );

    // The old revision stays up for scaleDownDelaySeconds, then goes to zero.
    cluster.wait_completed("web", &old, &new).await;
    assert_eq!(
        weights.pairs(),
        vec![(100, 0), (80, 20), (50, 50), (0, 100), (100, 0)]
    );

    let reasons = cluster
        .wait_events_in_order(
            "web",
            &[
                "CanaryStarted",
                "Paused",
                "StepCompleted",
                "Paused",
                "Promoted",
                "StepCompleted",
                "RolloutCompleted",
            ],
        )
        .await;
    // One Event per reconcile that moved the Rollout on: each weight's verification is told in
    // the note of the Event of the reconcile that saw it.
    let canary_started = reasons.iter().position(|r| r == "CanaryStarted");
    assert_eq!(
        canary_started.map(|at| reasons.len() - at),
        Some(7),
        "{reasons:?}"
    );
    let notes = cluster.event_notes("web");
    for weight in [20, 50, 100, 0] {
        assert!(
            notes
                .iter()
                .any(|n| n.contains(&format!("canary weight {weight} verified"))),
            "weight {weight}: {notes:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_full_skips_the_remaining_steps() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    cluster
        .create_rollout(
            &rollout("web")
                .steps([
                    steps::set_weight_then_pause(20, None),
                    steps::set_weight(50),
                    steps::pause_indefinitely(),
                    steps::set_weight(80),
                ])
                .build(),
        )
        .await;
    cluster.wait_healthy("web").await;
    let weights = WeightRecorder::start(&cluster, "web-route", "web").await;
    cluster.set_image("web", "nginx:1.26").await;
    let new = template_hash(&cluster.rollout("web").await);
    cluster
        .wait_status("web", "paused at 20%", |s| {
            s.current_step_index == Some(0) && s.canary_weight == Some(20)
        })
        .await;

    cluster
        .annotate("web", PROMOTE_ANNOTATION, PROMOTE_FULL)
        .await;
    let done = cluster.wait_healthy("web").await;
    assert_eq!(done.stable_revision.as_deref(), Some(new.as_str()));
    assert_eq!(done.current_step_index, Some(4));
    assert_eq!(
        done.last_action.map(|a| a.value),
        Some(PROMOTE_FULL.to_string())
    );
    assert_eq!(
        cluster.service_pin("web-stable").await.as_deref(),
        Some(new.as_str())
    );
    cluster
        .wait_status("web", "canary weight 0 verified", |s| {
            s.canary_weight == Some(0)
        })
        .await;
    assert_eq!(
        weights.pairs(),
        vec![(100, 0), (80, 20), (100, 0)],
        "no later step's weight was set"
    );
    let scales = cluster.replica_set_scales("web").await;
    assert_eq!(scales.get(&new), Some(&3));

    let reasons = cluster
        .wait_events_in_order(
            "web",
            &[
                "CanaryStarted",
                "Paused",
                "PromotedFull",
                "RolloutCompleted",
            ],
        )
        .await;
    assert_eq!(
        reasons.iter().filter(|r| *r == "StepCompleted").count(),
        0,
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_change_mid_rollout_replaces_the_canary_and_change_back_rolls_back_fast() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    let created = cluster
        .create_rollout(&rollout("web").steps(readme_steps()).build())
        .await;
    let stable = template_hash(&created);
    cluster.wait_healthy("web").await;
    let weights = WeightRecorder::start(&cluster, "web-route", "web").await;

    cluster.set_image("web", "nginx:1.26").await;
    let first = template_hash(&cluster.rollout("web").await);
    cluster
        .wait_status("web", "first canary at 50%", |s| {
            s.current_step_index == Some(1) && s.canary_weight == Some(50)
        })
        .await;

    // A new template mid-rollout: the first canary's weight goes to 0 first, then it is
    // replaced and the new canary starts again from step 1.
    cluster.set_image("web", "nginx:1.27").await;
    let second = template_hash(&cluster.rollout("web").await);
    let status = cluster
        .wait_status("web", "second canary paused at 20%", |s| {
            s.canary_revision.as_deref() == Some(second.as_str())
                && s.current_step_index == Some(0)
                && s.canary_weight == Some(20)
        })
        .await;
    assert_eq!(status.stable_revision.as_deref(), Some(stable.as_str()));
    cluster
        .wait_scales(
            "web",
            &BTreeMap::from([(stable.clone(), 3), (first.clone(), 0), (second.clone(), 1)]),
        )
        .await;
    assert_eq!(
        weights.pairs(),
        vec![(100, 0), (80, 20), (50, 50), (100, 0), (80, 20)]
    );

    // Back to the stable template: a fast rollback, no steps.
    cluster.set_image("web", "nginx:1.25").await;
    assert_eq!(template_hash(&cluster.rollout("web").await), stable);
    let done = cluster.wait_healthy("web").await;
    assert_eq!(done.stable_revision.as_deref(), Some(stable.as_str()));
    cluster
        .wait_scales(
            "web",
            &BTreeMap::from([(stable.clone(), 3), (first.clone(), 0), (second.clone(), 0)]),
        )
        .await;
    cluster
        .wait_status("web", "canary weight 0 verified", |s| {
            s.canary_weight == Some(0)
        })
        .await;
    assert_eq!(
        cluster.service_pin("web-stable").await.as_deref(),
        Some(stable.as_str())
    );
    assert_eq!(
        weights.pairs(),
        vec![(100, 0), (80, 20), (50, 50), (100, 0), (80, 20), (100, 0)]
    );

    let reasons = cluster
        .wait_events_in_order("web", &["CanaryStarted", "CanaryReplaced", "RolledBack"])
        .await;
    // Replacing the canary starts the new one in the same reconcile: one Event tells both.
    let notes = cluster.event_notes("web");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("replaced by revision") && n.contains("started as canary")),
        "{notes:?}"
    );
    assert_eq!(
        reasons.iter().filter(|r| *r == "RolloutCompleted").count(),
        0,
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciling_a_settled_rollout_makes_zero_writes() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    cluster
        .create_rollout(
            &rollout("web")
                .steps(readme_steps())
                .scale_down_delay_seconds(1)
                .build(),
        )
        .await;
    cluster.wait_healthy("web").await;
    // Settle a completed canary too, so old ReplicaSets and deadlines are part of the picture.
    cluster.set_image("web", "nginx:1.26").await;
    cluster.wait_paused_at("web", 1).await;
    cluster.annotate("web", PROMOTE_ANNOTATION, "true").await;
    cluster.wait_healthy("web").await;
    cluster
        .wait_for(
            "the old revision scaled to zero",
            Duration::from_secs(30),
            || async {
                cluster
                    .replica_set_scales("web")
                    .await
                    .values()
                    .any(|r| *r == 0)
                    .then_some(())
            },
        )
        .await;
    cluster
        .wait_status(
            "web",
            "canary weight 0 verified and the old pods gone from the counts",
            |s| s.canary_weight == Some(0) && s.replicas == s.updated_replicas && s.replicas > 0,
        )
        .await;
    // Two triggered reconciles: after the second has started, the first has finished.
    cluster.touch_and_wait_reconcile("web", "web-route").await;
    cluster.touch_and_wait_reconcile("web", "web-route").await;

    cluster.clear_request_log();
    let before = cluster.reconciles();
    for _ in 0..4 {
        cluster.touch_and_wait_reconcile("web", "web-route").await;
    }
    let writes = cluster.controller_writes().await;
    assert!(
        writes.is_empty(),
        "a settled Rollout was reconciled with writes: {:#?}",
        writes
            .iter()
            .map(|w| (&w.verb, &w.resource, &w.subresource, &w.name))
            .collect::<Vec<_>>()
    );
    let reconciles = cluster.reconciles() - before;
    assert!(reconciles >= 4, "the reconciles did run ({reconciles})");
}
