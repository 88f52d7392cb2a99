//! API faults: a fifth of the controller's requests fail with 500, 409 or 429 and every watch
//! is dropped again and again; the rollout still completes, with the same end state.

use std::time::{Duration, Instant};

use kulta_api::labels::PROMOTE_ANNOTATION;
use kulta_api::{Phase, RolloutStatus};
use kulta_sim::FailureRule;
use kulta_tests::{POLL, TestCluster, WeightRecorder, readme_steps, rollout, template_hash};

/// How often every open watch is dropped while waiting.
const DROP_EVERY: Duration = Duration::from_millis(700);

/// Polls the status of `name` until `condition`, dropping every watch each [`DROP_EVERY`].
async fn wait_dropping_watches(
    cluster: &TestCluster,
    name: &str,
    what: &str,
    condition: impl Fn(&RolloutStatus) -> bool,
) -> RolloutStatus {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last_drop = Instant::now();
    loop {
        if let Ok(rollout) = cluster.rollouts().get(name).await {
            let status = rollout.status.unwrap_or_default();
            if condition(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {status:#?}"
            );
        }
        if last_drop.elapsed() >= DROP_EVERY {
            cluster.faults().drop_watches();
            last_drop = Instant::now();
        }
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_completes_through_failing_requests_and_dropped_watches() {
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

    // About 20% of the controller's requests fail: 7% each with 500, 409 and 429.
    for code in [500, 409, 429] {
        cluster.faults().fail(
            FailureRule::new(code)
                .identity(cluster.controller_identity())
                .fraction(0.07)
                .retry_after(1),
        );
    }

    cluster.set_image("web", "nginx:1.26").await;
    let new = template_hash(&cluster.rollout("web").await);
    let paused = wait_dropping_watches(&cluster, "web", "a pause at 50%", |s| {
        s.current_step_index == Some(1)
            && s.canary_weight == Some(50)
            && s.phase == Some(Phase::Paused)
    })
    .await;
    assert_eq!(paused.canary_revision.as_deref(), Some(new.as_str()));
    cluster.annotate("web", PROMOTE_ANNOTATION, "true").await;
    let done = wait_dropping_watches(&cluster, "web", "completion", |s| {
        s.phase == Some(Phase::Healthy) && s.stable_revision.as_deref() == Some(new.as_str())
    })
    .await;
    assert!(
        cluster.faults().injected_count() > 0,
        "faults were injected"
    );
    cluster.faults().clear();

    // The same end state as without faults.
    assert_eq!(done.current_step_index, Some(3));
    assert_eq!(done.canary_revision, None);
    cluster.wait_healthy("web").await;
    cluster.wait_completed("web", &old, &new).await;
    assert_eq!(
        weights.pairs(),
        vec![(100, 0), (80, 20), (50, 50), (0, 100), (100, 0)]
    );
}

/// The controller's watch of HTTPRoutes fails from before a rollout to its pause: the gateway's
/// status updates pass the watch by, so the copy that watch holds must not be what the router
/// verifies from. The rollout still reaches its pause at 50%, reading the route afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_route_watch_is_not_verified_from() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    cluster
        .create_rollout(&rollout("web").steps(readme_steps()).build())
        .await;
    cluster.wait_healthy("web").await;

    // Every watch of routes the controller opens fails; the open one ends now.
    cluster.faults().fail(
        FailureRule::new(500)
            .identity(cluster.controller_identity())
            .verb("watch")
            .resource("httproutes"),
    );
    cluster.faults().drop_watches();

    cluster.set_image("web", "nginx:1.26").await;
    let paused = cluster.wait_paused_at("web", 1).await;
    assert_eq!(paused.canary_weight, Some(50));
    assert!(
        cluster.faults().injected_count() > 0,
        "the route watch failed"
    );
    assert_eq!(
        cluster.route_weights("web-route", "web").await,
        vec![(50, 50)]
    );
}
