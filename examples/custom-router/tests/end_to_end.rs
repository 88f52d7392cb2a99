//! The example router selected from a Rollout's spec, end to end: the controller walks a canary
//! whose weights live in a ConfigMap, and a simulated proxy acknowledges each weight.
//!
//! It runs against its own kulta-sim, or a fresh namespace of the real control plane when
//! `KULTA_TEST_CLUSTER` names one (see [`kulta_test_support::Backend`]). There the controller
//! runs under KULTA's ServiceAccount, whose ClusterRole has no ConfigMaps: like a deployment of
//! this router, the test grants them with a Role of its own.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kulta_api::steps::{pause, set_weight};
use kulta_api::testing::RolloutBuilder;
use kulta_api::{Phase, Rollout, RolloutStatus};
use kulta_example_configmap_router::{ACKNOWLEDGED_ANNOTATION, ConfigMapRouterFactory, ROUTER_KEY};
use kulta_test_support::{Backend, POLL, wait_for};
use tokio_util::sync::CancellationToken;

/// How long the first deploy may take to become Healthy.
const FIRST_DEPLOY_DEADLINE: Duration = Duration::from_secs(60);
/// How long the canary may take to complete (its steps include a 1 s pause).
const CANARY_DEADLINE: Duration = Duration::from_secs(90);

/// A stand-in for the proxy: whenever the ConfigMap's canary weight changes, it "reloads" and
/// acknowledges it. Returns every weight it acknowledged, in order.
async fn proxy(api: Api<ConfigMap>, stop: CancellationToken) -> Vec<String> {
    let mut acknowledged = Vec::new();
    while !stop.is_cancelled() {
        if let Ok(Some(config_map)) = api.get_opt("app-weights").await {
            let weight = config_map
                .data
                .as_ref()
                .and_then(|d| d.get("canaryWeight"))
                .cloned();
            let current = config_map
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ACKNOWLEDGED_ANNOTATION))
                .cloned();
            if let Some(weight) = weight
                && current.as_ref() != Some(&weight)
            {
                let patch = serde_json::json!({"metadata": {"annotations": {ACKNOWLEDGED_ANNOTATION: weight}}});
                if api
                    .patch(
                        "app-weights",
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                    .is_ok()
                {
                    acknowledged.push(weight);
                }
            }
        }
        // A proxy polls its configuration; this is its polling interval, not a synchronisation.
        tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
    acknowledged
}

async fn services(backend: &Backend) {
    let api: Api<Service> = Api::namespaced(backend.client(), backend.namespace());
    for name in ["app-stable", "app-canary"] {
        let service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "spec": {"selector": {"app": "app"}, "ports": [{"port": 80}]}
        }))
        .expect("service");
        api.create(&PostParams::default(), &service)
            .await
            .expect("create service");
    }
}

/// The status of Rollout `app` when it is Healthy at its latest generation.
async fn healthy(rollouts: &Api<Rollout>) -> Option<(Rollout, RolloutStatus)> {
    let rollout = rollouts.get("app").await.ok()?;
    let status = rollout.status.clone()?;
    (status.phase == Some(Phase::Healthy)
        && status.observed_generation == rollout.metadata.generation)
        .then_some((rollout, status))
}

#[tokio::test]
async fn a_canary_through_the_configmap_router() {
    let backend = Backend::start(|builder| builder).await;
    // On the real control plane the agent has its own (default) pod ready delay.
    if let Some(sim) = backend.sim() {
        sim.knobs().set_pod_ready_delay(Duration::from_millis(20));
    }
    backend.install_crds(&kulta_api::crd::all_crds()).await;
    backend
        .grant_controller("kulta-configmap-router", common::router_rules())
        .await;
    services(&backend).await;
    let namespace = backend.namespace();
    let admin = backend.client();
    let config_maps: Api<ConfigMap> = Api::namespaced(admin.clone(), namespace);

    let stop = CancellationToken::new();
    let proxy_task = tokio::spawn(proxy(config_maps.clone(), stop.clone()));
    let controller_client = backend.controller_client().await;
    let controller_stop = stop.clone();
    // Only this test's namespace: a real cluster is shared with other tests.
    let controller = tokio::spawn(
        kulta_controller::Controller::builder(controller_client.clone())
            .namespace(Some(namespace.to_string()))
            .router(ConfigMapRouterFactory::new(controller_client))
            .shutdown_on(async move { controller_stop.cancelled().await })
            .run(),
    );

    let rollout = RolloutBuilder::new("app")
        .namespace(namespace)
        .replicas(2)
        .plugin(ROUTER_KEY, serde_json::json!({"configMap": "app-weights"}))
        .steps([set_weight(50), pause(Some("1s"))])
        .build();
    let rollouts: Api<Rollout> = Api::namespaced(admin.clone(), namespace);
    rollouts
        .create(&PostParams::default(), &rollout)
        .await
        .expect("create rollout");
    wait_for(
        "the first deploy Healthy",
        FIRST_DEPLOY_DEADLINE,
        || async { healthy(&rollouts).await },
    )
    .await;

    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}}}});
    rollouts
        .patch("app", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("new image");
    let status = wait_for("the canary completed", CANARY_DEADLINE, || async {
        let (rollout, status) = healthy(&rollouts).await?;
        (status.canary_revision.is_none()
            && status.stable_revision
                == Some(kulta_api::hash::revision_hash(&rollout.spec.template)))
        .then_some(status)
    })
    .await;
    assert_eq!(status.canary_weight, Some(0));
    let config_map = config_maps.get("app-weights").await.expect("configmap");
    let data = config_map.data.expect("data");
    assert_eq!(
        (data["stableWeight"].as_str(), data["canaryWeight"].as_str()),
        ("100", "0")
    );

    stop.cancel();
    let acknowledged = proxy_task.await.expect("proxy");
    controller.await.expect("controller");
    // The proxy saw every weight the steps asked for, in order: 0 (first deploy), 50, back to 0.
    assert_eq!(acknowledged, vec!["0", "50", "0"]);
}
