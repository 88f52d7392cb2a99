//! Defaults and derived values on the spec types, and the test builder.
// Helpers in integration tests are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use kulta_api::labels::PROMOTE_ANNOTATION;
use kulta_api::steps::{StepAction, pause_indefinitely, set_weight};
use kulta_api::testing::RolloutBuilder;
use kulta_api::{
    GATEWAY_API_ROUTER_KEY, GatewayApiRouting, Phase, PluginRouting, RolloutStatus, TrafficRouting,
};
use serde_json::json;

#[test]
fn defaults_apply_when_fields_are_omitted() {
    let rollout = RolloutBuilder::new("app").build();
    let spec = &rollout.spec;
    assert_eq!(spec.desired_replicas(), 1);
    assert_eq!(spec.progress_deadline(), Duration::from_secs(600));
    assert_eq!(spec.revision_history_limit(), 10);
    assert_eq!(spec.min_ready(), Duration::ZERO);
    assert!(!spec.abort_on_progress_deadline());
    let canary = spec.strategy.canary.as_ref().unwrap();
    assert_eq!(canary.scale_down_delay(), Duration::from_secs(30));
}

#[test]
fn set_fields_win_over_defaults() {
    let rollout = RolloutBuilder::new("app")
        .replicas(5)
        .progress_deadline_seconds(120)
        .progress_deadline_abort(true)
        .revision_history_limit(2)
        .min_ready_seconds(7)
        .scale_down_delay_seconds(0)
        .build();
    let spec = &rollout.spec;
    assert_eq!(spec.desired_replicas(), 5);
    assert_eq!(spec.progress_deadline(), Duration::from_secs(120));
    assert_eq!(spec.revision_history_limit(), 2);
    assert_eq!(spec.min_ready(), Duration::from_secs(7));
    assert!(spec.abort_on_progress_deadline());
    let canary = spec.strategy.canary.as_ref().unwrap();
    assert_eq!(canary.scale_down_delay(), Duration::ZERO);
}

#[test]
fn invalid_values_fall_back_safely() {
    let rollout = RolloutBuilder::new("app")
        .replicas(-3)
        .progress_deadline_seconds(-1)
        .revision_history_limit(-1)
        .scale_down_delay_seconds(-5)
        .build();
    let spec = &rollout.spec;
    assert_eq!(spec.desired_replicas(), 0);
    assert_eq!(spec.progress_deadline(), Duration::from_secs(600));
    assert_eq!(spec.revision_history_limit(), 0);
    let canary = spec.strategy.canary.as_ref().unwrap();
    assert_eq!(canary.scale_down_delay(), Duration::ZERO);
}

#[test]
fn router_key_and_config() {
    let gateway = TrafficRouting {
        gateway_api: Some(GatewayApiRouting {
            http_route: Some("my-app-route".into()),
            http_routes: None,
        }),
        plugin: None,
    };
    assert_eq!(gateway.router_key(), Some(GATEWAY_API_ROUTER_KEY));
    assert_eq!(GATEWAY_API_ROUTER_KEY, "gatewayAPI");
    assert_eq!(
        gateway.router_config(),
        Some(json!({"httpRoute": "my-app-route"}))
    );

    let plugin = TrafficRouting {
        gateway_api: None,
        plugin: Some(PluginRouting {
            name: "example.com/mesh".into(),
            config: Some(json!({"virtualService": "vs"})),
        }),
    };
    assert_eq!(plugin.router_key(), Some("example.com/mesh"));
    assert_eq!(
        plugin.router_config(),
        Some(json!({"virtualService": "vs"}))
    );

    let plugin_without_config = TrafficRouting {
        gateway_api: None,
        plugin: Some(PluginRouting {
            name: "p".into(),
            config: None,
        }),
    };
    assert_eq!(plugin_without_config.router_config(), Some(json!({})));

    assert_eq!(TrafficRouting::default().router_key(), None);
    assert_eq!(TrafficRouting::default().router_config(), None);
    let both = TrafficRouting {
        gateway_api: gateway.gateway_api.clone(),
        plugin: plugin.plugin.clone(),
    };
    assert_eq!(both.router_key(), None);
    assert_eq!(both.router_config(), None);
}

#[test]
fn builder_sets_what_it_says() {
    let status = RolloutStatus {
        phase: Some(Phase::Paused),
        ..RolloutStatus::default()
    };
    let rollout = RolloutBuilder::new("web")
        .namespace("shop")
        .replicas(3)
        .image("nginx:1.26")
        .steps([set_weight(20), pause_indefinitely()])
        .services("web-a", "web-b")
        .annotation(PROMOTE_ANNOTATION, "true")
        .generation(4)
        .uid("0000-1111")
        .status(status.clone())
        .build();
    assert_eq!(rollout.metadata.name.as_deref(), Some("web"));
    assert_eq!(rollout.metadata.namespace.as_deref(), Some("shop"));
    assert_eq!(rollout.metadata.generation, Some(4));
    assert_eq!(rollout.metadata.uid.as_deref(), Some("0000-1111"));
    assert_eq!(
        rollout.metadata.annotations.as_ref().unwrap()[PROMOTE_ANNOTATION],
        "true"
    );
    assert_eq!(rollout.status, Some(status));
    let spec = &rollout.spec;
    assert_eq!(spec.replicas, Some(3));
    let template = spec.template.decode().unwrap();
    let labels = template.metadata.as_ref().unwrap().labels.as_ref().unwrap();
    assert_eq!(labels["app"], "web");
    assert_eq!(spec.selector.match_labels.as_ref().unwrap()["app"], "web");
    let pod = template.spec.as_ref().unwrap();
    assert_eq!(pod.containers[0].image.as_deref(), Some("nginx:1.26"));
    let canary = spec.strategy.canary.as_ref().unwrap();
    assert_eq!(canary.stable_service, "web-a");
    assert_eq!(canary.canary_service, "web-b");
    let actions: Vec<_> = canary
        .steps
        .iter()
        .flat_map(|s| s.actions().unwrap())
        .collect();
    assert_eq!(
        actions,
        [StepAction::SetWeight(20), StepAction::Pause(None)]
    );
    let routing = canary.traffic_routing.as_ref().unwrap();
    assert_eq!(
        routing.router_config(),
        Some(json!({"httpRoute": "web-route"}))
    );

    let rerouted = RolloutBuilder::new("web").http_route("other").build();
    let routing = rerouted
        .spec
        .strategy
        .canary
        .unwrap()
        .traffic_routing
        .unwrap();
    assert_eq!(routing.router_config(), Some(json!({"httpRoute": "other"})));
}

#[test]
fn builder_image_changes_the_revision_hash() {
    let one = RolloutBuilder::new("app").image("nginx:1.25").build();
    let two = RolloutBuilder::new("app").image("nginx:1.26").build();
    assert_ne!(
        kulta_api::hash::revision_hash(&one.spec.template),
        kulta_api::hash::revision_hash(&two.spec.template)
    );
}
