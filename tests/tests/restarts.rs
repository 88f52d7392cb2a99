//! A controller restarted mid-pause and at every step: pauses run from the stored start, and the
//! end state is that of an uninterrupted run.

use kulta_api::Phase;
use kulta_api::labels::PROMOTE_ANNOTATION;
use kulta_tests::{TestCluster, WeightRecorder, rollout, steps, template_hash};

const PAUSE_SECONDS: i64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_restarted_at_every_step_honours_the_stored_pause_and_ends_the_same() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    let created = cluster
        .create_rollout(
            &rollout("web")
                .steps([
                    steps::set_weight(20),
                    steps::pause(Some("3s")),
                    steps::set_weight(50),
                    steps::pause_indefinitely(),
                    steps::set_weight(100),
                ])
                .scale_down_delay_seconds(1)
                .build(),
        )
        .await;
    let old = template_hash(&created);
    cluster.wait_healthy("web").await;
    cluster.restart_controller().await;
    cluster.wait_healthy("web").await;
    let weights = WeightRecorder::start(&cluster, "web-route", "web").await;

    // The controller's clock stands still from here until the test moves it: the timed pause
    // can end only when the test says so, whatever the machine's speed.
    cluster.clock.freeze();
    cluster.set_image("web", "nginx:1.26").await;
    let new = template_hash(&cluster.rollout("web").await);
    cluster.restart_controller().await;

    // Mid-pause: the pause keeps its stored start across a restart.
    let paused = cluster
        .wait_status("web", "timed pause at step 2", |s| {
            s.current_step_index == Some(1) && s.phase == Some(Phase::Paused)
        })
        .await;
    let start = paused.pause_start_time.expect("pauseStartTime");
    cluster.restart_controller().await;
    cluster.touch_and_wait_reconcile("web", "web-route").await;
    cluster.touch_and_wait_reconcile("web", "web-route").await;
    let after_restart = cluster.status("web").await;
    assert_eq!(
        after_restart.current_step_index,
        Some(1),
        "the pause did not end early"
    );
    assert_eq!(
        after_restart.pause_start_time,
        Some(start),
        "the restart kept pauseStartTime"
    );
    cluster.restart_controller().await;

    // A second short of the pause: still paused. At its end: on to the next step.
    cluster
        .clock
        .advance(chrono::Duration::seconds(PAUSE_SECONDS - 1));
    cluster.touch_and_wait_reconcile("web", "web-route").await;
    assert_eq!(cluster.status("web").await.current_step_index, Some(1));
    cluster.clock.advance(chrono::Duration::seconds(1));
    cluster.touch_and_wait_reconcile("web", "web-route").await;
    cluster
        .wait_status("web", "past the timed pause", |s| {
            s.current_step_index.unwrap_or(0) >= 2
        })
        .await;
    cluster.clock.thaw();

    // Step 3 (50%), restarted as soon as it is reached and again at the indefinite pause.
    cluster.restart_controller().await;
    cluster
        .wait_status("web", "paused until promoted", |s| {
            s.current_step_index == Some(3) && s.canary_weight == Some(50)
        })
        .await;
    cluster.restart_controller().await;
    cluster.touch_and_wait_reconcile("web", "web-route").await;
    cluster.touch_and_wait_reconcile("web", "web-route").await;
    assert_eq!(
        cluster.status("web").await.current_step_index,
        Some(3),
        "an indefinite pause survives a restart"
    );

    cluster.annotate("web", PROMOTE_ANNOTATION, "true").await;
    cluster.restart_controller().await;
    cluster
        .wait_status("web", "promoted past the pause", |s| {
            s.current_step_index.unwrap_or(0) >= 4
        })
        .await;
    cluster.restart_controller().await;

    // The end state of an uninterrupted run.
    let done = cluster.wait_healthy("web").await;
    assert_eq!(done.stable_revision.as_deref(), Some(new.as_str()));
    assert_eq!(done.current_step_index, Some(5));
    cluster.wait_completed("web", &old, &new).await;
    assert_eq!(
        weights.pairs(),
        vec![(100, 0), (80, 20), (50, 50), (0, 100), (100, 0)]
    );
    cluster.wait_event("web", "RolloutCompleted").await;
    let reasons = cluster.event_reasons("web");
    assert_eq!(
        reasons.iter().filter(|r| *r == "RolloutCompleted").count(),
        1,
        "{reasons:?}"
    );
    assert_eq!(
        reasons.iter().filter(|r| *r == "CanaryStarted").count(),
        1,
        "{reasons:?}"
    );
}
