//! The mocked tier: the controller's reconcile and apply against a `MockTrafficRouter`
//! registered under `gatewayAPI`, on kulta-sim (or the real control plane) for everything that is
//! not the router. Between the plan's tables (no IO) and the end-to-end suites (the Gateway API
//! router and the sim's gateway): the router's answers are the test's to choose, and every call
//! the controller makes is recorded.
//!
//! The pattern for rollout-logic and router authors: `kulta-router`'s crate docs.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use kulta_api::labels::ABORT_ANNOTATION;
use kulta_api::steps::{pause_indefinitely, set_weight};
use kulta_api::{Phase, RolloutStatus};
use kulta_router::{
    Capabilities, MockTrafficRouter, RouterError, StaticRouterFactory, Verification, WriteOutcome,
};
use kulta_sim::FailureRule;
use kulta_tests::{
    DEADLINE, TestCluster, condition_is, condition_message, condition_reason, rollout,
    template_hash,
};

/// A router call the controller made.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    SetWeight(u8),
    /// A verification and whether it answered Verified.
    VerifyWeight(u8, bool),
    RemoveManagedRoutes,
}

/// The data plane behind the mock, and what the test makes it answer.
#[derive(Default)]
struct Plane {
    /// The weight the last successful `set_weight` asked for.
    weight: Mutex<Option<u8>>,
    calls: Mutex<Vec<Call>>,
    /// `set_weight` of a non-zero weight fails this many more times (a transient API error).
    failing_writes: AtomicU32,
    /// `verify_weight` answers Pending, whatever the weight.
    pending: AtomicBool,
    /// `set_weight` answers that the router does not support it.
    refuses_weights: AtomicBool,
}

impl Plane {
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn record(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }
}

/// A mock whose every method is expected, answering from `plane`, with `capabilities`.
fn mock_router(plane: &Arc<Plane>, capabilities: Capabilities) -> MockTrafficRouter {
    let mut router = MockTrafficRouter::new();
    router.expect_kind().return_const("mock");
    router.expect_capabilities().return_const(capabilities);
    router
        .expect_referenced_objects()
        .returning(|_| Ok(Vec::new()));
    let state = plane.clone();
    router
        .expect_set_weight()
        .withf(|target, weight| target.rollout == "web" && *weight <= 100)
        .returning(move |_, weight| {
            state.record(Call::SetWeight(weight));
            if state.refuses_weights.load(Ordering::SeqCst) {
                return Err(RouterError::Unsupported {
                    operation: "set_weight",
                });
            }
            if weight > 0
                && state
                    .failing_writes
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                return Err(RouterError::Transient {
                    message: "the mesh's API answered 503".to_string(),
                    source: None,
                });
            }
            *state.weight.lock().unwrap() = Some(weight);
            Ok(WriteOutcome::Written)
        });
    let state = plane.clone();
    router
        .expect_verify_weight()
        .withf(|target, weight| target.rollout == "web" && *weight <= 100)
        .returning(move |_, weight| {
            let verified = !state.pending.load(Ordering::SeqCst)
                && *state.weight.lock().unwrap() == Some(weight);
            state.record(Call::VerifyWeight(weight, verified));
            Ok(if verified {
                Verification::Verified
            } else {
                Verification::Pending(format!("the mesh has not taken up weight {weight}"))
            })
        });
    let state = plane.clone();
    router.expect_remove_managed_routes().returning(move |_| {
        state.record(Call::RemoveManagedRoutes);
        *state.weight.lock().unwrap() = Some(0);
        Ok(())
    });
    router
}

/// A cluster whose controller routes through a mock answering from the returned plane, with the
/// Services and route of app `web`.
async fn cluster_with_mock(capabilities: Capabilities) -> (TestCluster, Arc<Plane>) {
    let plane = Arc::new(Plane::default());
    let router = mock_router(&plane, capabilities);
    let cluster =
        TestCluster::start_with_router(StaticRouterFactory::new("gatewayAPI", Arc::new(router)))
            .await;
    cluster.create_app("web").await;
    (cluster, plane)
}

/// `web` with a 50% step and an indefinite pause, Healthy at its first revision, then given a
/// new image. Returns the stable revision.
async fn new_revision_of_web(cluster: &TestCluster) -> String {
    let created = cluster
        .create_rollout(
            &rollout("web")
                .steps([set_weight(50), pause_indefinitely()])
                .build(),
        )
        .await;
    cluster.wait_healthy("web").await;
    cluster.set_image("web", "nginx:1.26").await;
    template_hash(&created)
}

/// Creates `web` with one 50% step and waits for `InvalidSpec=True`; returns the status and the
/// condition's message.
async fn create_invalid_web(cluster: &TestCluster) -> (RolloutStatus, String) {
    cluster
        .create_rollout(&rollout("web").steps([set_weight(50)]).build())
        .await;
    let status = cluster
        .wait_status("web", "InvalidSpec", |s| {
            condition_is(s, "InvalidSpec", "True")
        })
        .await;
    let message = condition_message(&status, "InvalidSpec").unwrap_or_default();
    (status, message)
}

fn paused_at_50(status: &RolloutStatus) -> bool {
    status.current_step_index == Some(1) && status.canary_weight == Some(50)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_scales_the_canary_down_only_after_weight_0_is_verified() {
    let (cluster, plane) = cluster_with_mock(Capabilities::WEIGHTS_ONLY).await;
    let stable = new_revision_of_web(&cluster).await;
    cluster
        .wait_status("web", "paused at 50%", paused_at_50)
        .await;
    let canary = template_hash(&cluster.rollout("web").await);
    let running = BTreeMap::from([(stable.clone(), 3), (canary.clone(), 2)]);
    assert_eq!(cluster.replica_set_scales("web").await, running);

    // The data plane does not take up weight 0 yet.
    plane.pending.store(true, Ordering::SeqCst);
    let before_abort = plane.calls().len();
    cluster.annotate("web", ABORT_ANNOTATION, "true").await;
    cluster
        .wait_for("the abort asks for weight 0", DEADLINE, || async {
            plane.calls()[before_abort..]
                .contains(&Call::SetWeight(0))
                .then_some(())
        })
        .await;
    for _ in 0..3 {
        cluster.touch_and_wait_reconcile("web", "web-route").await;
    }
    assert_eq!(
        cluster.replica_set_scales("web").await,
        running,
        "the canary keeps its pods while its traffic is not verified gone"
    );
    let status = cluster.rollout("web").await.status.unwrap();
    assert!(
        condition_is(&status, "TrafficRouted", "False"),
        "{status:?}"
    );

    // Taken up: verified, and only then the canary goes.
    plane.pending.store(false, Ordering::SeqCst);
    cluster
        .wait_scales("web", &BTreeMap::from([(stable, 3), (canary, 0)]))
        .await;
    let status = cluster
        .wait_status("web", "aborted", |s| {
            s.phase == Some(Phase::Degraded) && s.aborted == Some(true)
        })
        .await;
    assert_eq!(
        condition_reason(&status, "Aborted").as_deref(),
        Some("AbortedByUser")
    );
    let after_abort = &plane.calls()[before_abort..];
    let set_zero = after_abort.iter().position(|c| *c == Call::SetWeight(0));
    let verified_zero = after_abort
        .iter()
        .position(|c| *c == Call::VerifyWeight(0, true));
    assert!(
        matches!((set_zero, verified_zero), (Some(set), Some(verified)) if set < verified),
        "weight 0 set, then verified: {after_abort:?}"
    );
    assert!(
        !after_abort
            .iter()
            .any(|c| matches!(c, Call::SetWeight(w) if *w > 0)),
        "no weight above 0 after the abort: {after_abort:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_error_sets_traffic_routed_false_and_is_retried_without_advancing() {
    let (cluster, plane) = cluster_with_mock(Capabilities::WEIGHTS_ONLY).await;
    plane.failing_writes.store(2, Ordering::SeqCst);
    new_revision_of_web(&cluster).await;
    let failing = cluster
        .wait_status("web", "TrafficRouted=False with the router's error", |s| {
            condition_is(s, "TrafficRouted", "False")
                && condition_message(s, "TrafficRouted").is_some_and(|m| m.contains("503"))
        })
        .await;
    assert_eq!(failing.current_step_index, Some(0), "not advanced");
    assert_ne!(failing.canary_weight, Some(50), "the weight is not claimed");

    // Retried with a backoff until the router takes it; then the step completes.
    let status = cluster
        .wait_status("web", "paused at 50%", paused_at_50)
        .await;
    assert!(condition_is(&status, "TrafficRouted", "True"), "{status:?}");
    let writes_of_50 = plane
        .calls()
        .iter()
        .filter(|c| **c == Call::SetWeight(50))
        .count();
    assert!(
        writes_of_50 >= 3,
        "two failures and the write that took: {:?}",
        plane.calls()
    );
    let first_verified = plane
        .calls()
        .iter()
        .position(|c| *c == Call::VerifyWeight(50, true));
    let last_write = plane
        .calls()
        .iter()
        .rposition(|c| *c == Call::SetWeight(50));
    assert!(
        matches!((last_write, first_verified), (Some(w), Some(v)) if w < v),
        "verified after the write that took: {:?}",
        plane.calls()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_verification_never_advances() {
    let (cluster, plane) = cluster_with_mock(Capabilities::WEIGHTS_ONLY).await;
    let stable = new_revision_of_web(&cluster).await;
    plane.pending.store(true, Ordering::SeqCst);
    cluster
        .wait_for("weight 50 asked for", DEADLINE, || async {
            plane.calls().contains(&Call::SetWeight(50)).then_some(())
        })
        .await;
    // Pending for longer than a route takes to be taken up: the router's reason is shown.
    cluster.clock.freeze();
    cluster.clock.advance(chrono::Duration::seconds(10));
    for _ in 0..3 {
        cluster.touch_and_wait_reconcile("web", "web-route").await;
    }
    let status = cluster.rollout("web").await.status.unwrap();
    assert_eq!(status.current_step_index, Some(0), "{status:?}");
    assert_ne!(status.phase, Some(Phase::Paused));
    assert!(
        condition_is(&status, "TrafficRouted", "False"),
        "{status:?}"
    );
    assert_eq!(
        condition_reason(&status, "TrafficRouted").as_deref(),
        Some("VerificationPending")
    );
    assert_eq!(
        condition_message(&status, "TrafficRouted").as_deref(),
        Some("canary weight 50: the mesh has not taken up weight 50"),
        "the router's reason is shown"
    );
    assert_eq!(status.stable_revision.as_deref(), Some(stable.as_str()));

    plane.pending.store(false, Ordering::SeqCst);
    cluster.clock.thaw();
    cluster
        .wait_status("web", "paused at 50%", paused_at_50)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_that_cannot_set_weights_is_refused_as_an_invalid_spec() {
    let (cluster, plane) = cluster_with_mock(Capabilities {
        weights: false,
        ..Capabilities::WEIGHTS_ONLY
    })
    .await;
    let (_, message) = create_invalid_web(&cluster).await;
    assert!(message.contains("cannot set weights"), "{message}");
    cluster.wait_event("web", "InvalidSpec").await;
    assert!(cluster.replica_set_scales("web").await.is_empty());
    assert_eq!(
        plane.calls(),
        Vec::<Call>::new(),
        "the router was not called"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_refusing_the_operation_is_reported_like_an_invalid_spec() {
    let (cluster, plane) = cluster_with_mock(Capabilities::WEIGHTS_ONLY).await;
    plane.refuses_weights.store(true, Ordering::SeqCst);
    let (status, message) = create_invalid_web(&cluster).await;
    assert!(message.contains("does not support set_weight"), "{message}");
    assert_eq!(
        condition_reason(&status, "InvalidSpec").as_deref(),
        Some("RouterError")
    );
    assert!(
        condition_is(&status, "TrafficRouted", "False"),
        "{status:?}"
    );
    assert_eq!(status.phase, Some(Phase::Degraded));
    cluster.wait_event("web", "RouterError").await;
    assert!(plane.calls().contains(&Call::SetWeight(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_whose_status_is_not_stored_is_finished_not_undone() {
    let (cluster, plane) = cluster_with_mock(Capabilities::WEIGHTS_ONLY).await;
    let created = cluster
        .create_rollout(&rollout("web").steps([set_weight(100)]).build())
        .await;
    let stable = template_hash(&created);
    cluster.wait_healthy("web").await;

    // The canary at 100%, its verification held until the status writes fail.
    plane.pending.store(true, Ordering::SeqCst);
    cluster.set_image("web", "nginx:1.26").await;
    let canary = template_hash(&cluster.rollout("web").await);
    cluster
        .wait_status("web", "the pending reason in TrafficRouted", |s| {
            condition_message(s, "TrafficRouted")
                .is_some_and(|m| m.contains("has not taken up weight 100"))
        })
        .await;
    // Every status write of the promoting reconcile fails (its two attempts and the error
    // report): the Service pin and the route to stable are carried out, their status is not
    // stored.
    cluster.faults().fail(
        FailureRule::new(500)
            .identity(cluster.controller_identity())
            .resource("rollouts")
            .subresource("status")
            .times(3),
    );
    let before = plane.calls().len();
    plane.pending.store(false, Ordering::SeqCst);

    let done = cluster
        .wait_status("web", "promoted", |s| {
            s.phase == Some(Phase::Healthy) && s.stable_revision.as_deref() == Some(canary.as_str())
        })
        .await;
    assert_eq!(done.canary_weight, Some(0));
    assert_eq!(
        cluster.faults().injected_count(),
        3,
        "the status writes failed"
    );
    let after = &plane.calls()[before..];
    let to_stable = after
        .iter()
        .position(|c| *c == Call::SetWeight(0))
        .expect("the promotion routes everything to stable");
    assert!(
        !after[to_stable..].contains(&Call::SetWeight(100)),
        "the promotion was undone (traffic back to the canary Service) after its status \
         write failed: {after:?}"
    );
    assert_eq!(
        cluster.service_pin("web-stable").await.as_deref(),
        Some(canary.as_str())
    );
    assert_ne!(stable, canary);
}
