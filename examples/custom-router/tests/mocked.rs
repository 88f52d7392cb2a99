//! The rollout logic around this router, tested against a `MockTrafficRouter` registered under
//! the router's key: which calls the controller makes for a Rollout that selects
//! `example.kulta.io/configmap`, with what target and config, in what order, and what it does
//! with the answers. The router's own work (the ConfigMap, the proxy's acknowledgement) is
//! tested in `end_to_end.rs`; here the mock answers, and kulta-sim holds everything else.
//!
//! The pattern is `kulta-router`'s (see its crate docs): a router author tests that the
//! controller drives their router as they expect, without their data plane.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kulta_api::steps::{pause_indefinitely, set_weight};
use kulta_api::testing::RolloutBuilder;
use kulta_api::{Phase, Rollout, RolloutStatus};
use kulta_example_configmap_router::ROUTER_KEY;
use kulta_router::{
    Capabilities, MockTrafficRouter, RouteTarget, StaticRouterFactory, Verification, WriteOutcome,
};
use kulta_test_support::{Backend, wait_for};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(60);

/// What the mock saw, and what it answers.
#[derive(Default)]
struct Proxy {
    /// Weights asked for, in order.
    asked: Mutex<Vec<u8>>,
    /// Whether the (mocked) proxy acknowledges what it was asked.
    acknowledges: AtomicBool,
}

/// The mock, with an expectation for every call the controller may make: each checks the target
/// the controller passes (the Rollout's namespace, Services and the plugin's config, verbatim).
fn mock(proxy: &Arc<Proxy>, namespace: &str) -> MockTrafficRouter {
    let expected = RouteTarget::new(
        namespace,
        "app",
        kulta_router::BackendRef::new("app-stable"),
        kulta_router::BackendRef::new("app-canary"),
        json!({"configMap": "app-weights"}),
    );
    let mut router = MockTrafficRouter::new();
    router.expect_kind().return_const(ROUTER_KEY);
    router
        .expect_capabilities()
        .return_const(Capabilities::WEIGHTS_ONLY);
    let target = expected.clone();
    router
        .expect_referenced_objects()
        .withf(move |t| *t == target)
        .returning(|_| Ok(Vec::new()));
    let (target, seen) = (expected.clone(), proxy.clone());
    router
        .expect_set_weight()
        .withf(move |t, weight| *t == target && *weight <= 100)
        .returning(move |_, weight| {
            seen.asked.lock().unwrap().push(weight);
            Ok(WriteOutcome::Written)
        });
    let (target, seen) = (expected.clone(), proxy.clone());
    router
        .expect_verify_weight()
        .withf(move |t, _| *t == target)
        .returning(move |_, weight| {
            let last = seen.asked.lock().unwrap().last().copied();
            Ok(
                if seen.acknowledges.load(Ordering::SeqCst) && last == Some(weight) {
                    Verification::Verified
                } else {
                    Verification::Pending(format!("the proxy has not acknowledged weight {weight}"))
                },
            )
        });
    router
        .expect_remove_managed_routes()
        .withf(move |t| *t == expected)
        .returning(|_| Ok(()));
    router
}

/// The weights asked for, repeats of the same weight counted once (asking again is idempotent:
/// a real router answers `Unchanged`, and a slower API server makes the controller ask again
/// before its status write is seen).
fn distinct_weights(proxy: &Proxy) -> Vec<u8> {
    let mut weights = proxy.asked.lock().unwrap().clone();
    weights.dedup();
    weights
}

async fn status_of(rollouts: &Api<Rollout>) -> Option<RolloutStatus> {
    rollouts.get("app").await.ok()?.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_drives_the_plugin_router_and_waits_for_its_verification() {
    let backend = Backend::start(|builder| builder).await;
    if let Some(sim) = backend.sim() {
        sim.knobs().set_pod_ready_delay(Duration::from_millis(20));
    }
    backend.install_crds(&kulta_api::crd::all_crds()).await;
    let namespace = backend.namespace().to_string();
    let admin = backend.client();
    let services: Api<Service> = Api::namespaced(admin.clone(), &namespace);
    for name in ["app-stable", "app-canary"] {
        let service = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"selector": {"app": "app"}, "ports": [{"port": 80}]}
        }))
        .unwrap();
        services
            .create(&PostParams::default(), &service)
            .await
            .unwrap();
    }
    let proxy = Arc::new(Proxy::default());
    proxy.acknowledges.store(true, Ordering::SeqCst);
    let stop = CancellationToken::new();
    let controller_stop = stop.clone();
    let controller = tokio::spawn(
        kulta_controller::Controller::builder(backend.controller_client().await)
            .namespace(Some(namespace.clone()))
            .router(StaticRouterFactory::new(
                ROUTER_KEY,
                Arc::new(mock(&proxy, &namespace)),
            ))
            .shutdown_on(async move { controller_stop.cancelled().await })
            .run(),
    );

    let rollout = RolloutBuilder::new("app")
        .namespace(&namespace)
        .replicas(2)
        .plugin(ROUTER_KEY, json!({"configMap": "app-weights"}))
        .steps([set_weight(50), pause_indefinitely()])
        .build();
    let rollouts: Api<Rollout> = Api::namespaced(admin, &namespace);
    rollouts
        .create(&PostParams::default(), &rollout)
        .await
        .unwrap();
    wait_for("the first deploy Healthy", DEADLINE, || async {
        status_of(&rollouts)
            .await
            .filter(|s| s.phase == Some(Phase::Healthy))
    })
    .await;
    assert_eq!(distinct_weights(&proxy), [0], "all traffic to stable");

    // A new revision, and a proxy that does not acknowledge: the step waits, with its reason.
    proxy.acknowledges.store(false, Ordering::SeqCst);
    let image = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}}}});
    rollouts
        .patch("app", &PatchParams::default(), &Patch::Merge(&image))
        .await
        .unwrap();
    let waiting = wait_for("the step waiting on the proxy", DEADLINE, || async {
        status_of(&rollouts).await.filter(|s| {
            s.conditions.iter().any(|c| {
                c.type_ == "TrafficRouted" && c.message.contains("has not acknowledged weight 50")
            })
        })
    })
    .await;
    assert_eq!(waiting.current_step_index, Some(0), "not advanced");
    assert_eq!(waiting.canary_weight, Some(0), "50% not in effect yet");

    // Acknowledged: the step completes and the Rollout pauses at 50%.
    proxy.acknowledges.store(true, Ordering::SeqCst);
    let paused = wait_for("paused at 50%", DEADLINE, || async {
        status_of(&rollouts)
            .await
            .filter(|s| s.phase == Some(Phase::Paused) && s.canary_weight == Some(50))
    })
    .await;
    assert_eq!(paused.current_step_index, Some(1));
    assert_eq!(
        distinct_weights(&proxy),
        [0, 50],
        "only the step's weight was asked for since the first deploy"
    );

    stop.cancel();
    controller.await.unwrap();
}
