//! The example router selected from a Rollout's spec, end to end against kulta-sim: the
//! controller walks a canary whose weights live in a ConfigMap, and a simulated proxy
//! acknowledges each weight.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kulta_api::steps::{pause, set_weight};
use kulta_api::testing::RolloutBuilder;
use kulta_api::{Phase, Rollout};
use kulta_example_configmap_router::{ACKNOWLEDGED_ANNOTATION, ConfigMapRouterFactory, ROUTER_KEY};
use kulta_sim::Sim;
use tokio_util::sync::CancellationToken;

/// A stand-in for the proxy: whenever the ConfigMap's canary weight changes, it "reloads" and
/// acknowledges it. Returns every weight it acknowledged, in order.
async fn proxy(client: kube::Client, stop: CancellationToken) -> Vec<String> {
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
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
        tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    acknowledged
}

async fn services(client: &kube::Client) {
    let api: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(client.clone(), "default");
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

#[tokio::test]
async fn a_canary_through_the_configmap_router() {
    kulta_controller::cli::install_crypto_provider();
    let sim = Sim::start().await.expect("sim");
    sim.knobs().set_pod_ready_delay(Duration::from_millis(20));
    let admin = sim.client();
    kulta_sim::crds::install(&admin, &kulta_api::crd::all_crds(), Duration::from_secs(10))
        .await
        .expect("crds");
    services(&admin).await;

    let stop = CancellationToken::new();
    let proxy_task = tokio::spawn(proxy(admin.clone(), stop.clone()));
    let controller_client = sim.client_as("kulta-controller").expect("client");
    let controller_stop = stop.clone();
    let controller = tokio::spawn(
        kulta_controller::Controller::builder(controller_client.clone())
            .router(ConfigMapRouterFactory::new(controller_client))
            .shutdown_on(async move { controller_stop.cancelled().await })
            .run(),
    );

    let rollout = RolloutBuilder::new("app")
        .replicas(2)
        .plugin(ROUTER_KEY, serde_json::json!({"configMap": "app-weights"}))
        .steps([set_weight(50), pause(Some("1s"))])
        .build();
    let rollouts: Api<Rollout> = Api::namespaced(admin.clone(), "default");
    rollouts
        .create(&PostParams::default(), &rollout)
        .await
        .expect("create rollout");
    let healthy = || async {
        let rollout = rollouts.get("app").await.ok()?;
        let status = rollout.status?;
        (status.phase == Some(Phase::Healthy)
            && status.observed_generation == rollout.metadata.generation)
            .then_some(status)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while healthy().await.is_none() {
        assert!(
            Instant::now() < deadline,
            "first deploy never became Healthy"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}}}});
    rollouts
        .patch("app", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("new image");
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = healthy().await
            && status.canary_revision.is_none()
        {
            let rollout = rollouts.get("app").await.expect("rollout");
            if status.stable_revision
                == Some(kulta_api::hash::revision_hash(&rollout.spec.template))
            {
                break status;
            }
        }
        assert!(Instant::now() < deadline, "the canary never completed");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(status.canary_weight, Some(0));
    let config_map = Api::<ConfigMap>::namespaced(admin.clone(), "default")
        .get("app-weights")
        .await
        .expect("configmap");
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
    sim.shutdown().await;
}
