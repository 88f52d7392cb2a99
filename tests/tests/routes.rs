//! The HTTPRoute side: a rich route keeps everything but the weights byte for byte, and
//! missing routes, backendRefs and Services are reported, never crash the controller, and
//! recover once they exist.
// Helpers outside `#[test]` functions fail the test too: panicking is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kube::api::{Patch, PatchParams};
use kulta_api::Phase;
use kulta_api::labels::PROMOTE_ANNOTATION;
use kulta_tests::{
    TestCluster, condition_is, condition_reason, default_route, readme_steps, rollout,
    template_hash,
};
use serde_json::{Value, json};

/// A route with hostnames, two parents, matches, filters, timeouts, a third backend and rules
/// KULTA has no business in.
fn rich_route() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": "web-route",
            "labels": { "team": "payments" },
            "annotations": { "example.com/owner": "someone" }
        },
        "spec": {
            "parentRefs": [{ "name": "gateway", "sectionName": "https" }, { "name": "internal" }],
            "hostnames": ["web.example.com", "www.example.com"],
            "rules": [
                {
                    "matches": [{
                        "path": { "type": "PathPrefix", "value": "/api" },
                        "headers": [{ "name": "x-env", "value": "prod" }]
                    }],
                    "filters": [{
                        "type": "RequestHeaderModifier",
                        "requestHeaderModifier": { "add": [{ "name": "x-served-by", "value": "web" }] }
                    }],
                    "backendRefs": [
                        { "name": "web-stable", "port": 80, "weight": 100 },
                        { "name": "web-legacy", "port": 8080, "weight": 5 },
                        { "name": "web-canary", "port": 80, "weight": 0 }
                    ]
                },
                {
                    "matches": [{ "path": { "type": "PathPrefix", "value": "/static" } }],
                    "backendRefs": [{ "name": "web-static", "port": 80 }]
                },
                {
                    "timeouts": { "request": "10s" },
                    "backendRefs": [
                        { "name": "web-canary", "port": 80, "weight": 0 },
                        { "name": "web-stable", "port": 80, "weight": 100 }
                    ]
                }
            ]
        }
    })
}

/// The route without what the server owns, with the stable and canary weights masked.
fn masked(mut route: Value) -> Value {
    let metadata = route["metadata"].as_object_mut().unwrap();
    for server_owned in ["resourceVersion", "generation", "managedFields"] {
        metadata.remove(server_owned);
    }
    route.as_object_mut().unwrap().remove("status");
    for rule in route["spec"]["rules"].as_array_mut().unwrap() {
        for backend in rule["backendRefs"].as_array_mut().into_iter().flatten() {
            if backend["name"] == "web-stable" || backend["name"] == "web-canary" {
                backend["weight"] = json!("masked");
            }
        }
    }
    route
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rich_route_is_untouched_except_the_weights() {
    let cluster = TestCluster::start().await;
    for (service, app) in [
        ("web-stable", "web"),
        ("web-canary", "web"),
        ("web-legacy", "legacy"),
        ("web-static", "static"),
    ] {
        cluster.create_service(service, app).await;
    }
    cluster.create_route(rich_route()).await;
    let created = cluster
        .create_rollout(&rollout("web").steps(readme_steps()).build())
        .await;
    let stable = template_hash(&created);
    cluster.wait_healthy("web").await;
    let before = cluster.route_json("web-route").await;

    cluster.set_image("web", "nginx:1.26").await;
    cluster
        .wait_status("web", "paused at 50%", |s| {
            s.current_step_index == Some(1) && s.canary_weight == Some(50)
        })
        .await;
    let during = cluster.route_json("web-route").await;
    assert_eq!(
        kulta_tests::weights_of(&during, "web"),
        vec![(50, 50), (50, 50)],
        "both rules carry the split"
    );
    assert_eq!(
        during["spec"]["rules"][0]["backendRefs"][1]["weight"], 5,
        "a third backend keeps its weight"
    );
    assert_eq!(masked(during), masked(before.clone()));

    cluster.annotate("web", PROMOTE_ANNOTATION, "true").await;
    let done = cluster.wait_healthy("web").await;
    assert_ne!(done.stable_revision.as_deref(), Some(stable.as_str()));
    let after = cluster.route_json("web-route").await;
    assert_eq!(
        kulta_tests::weights_of(&after, "web"),
        vec![(100, 0), (100, 0)]
    );
    assert_eq!(masked(after.clone()), masked(before.clone()));
    assert_eq!(
        after["spec"], before["spec"],
        "back at 100/0 the spec is byte-for-byte the original"
    );
    assert!(
        cluster
            .controller_writes()
            .await
            .iter()
            .filter(|w| w.resource == "httproutes")
            .all(|w| w.verb == "patch" && w.subresource.is_empty()),
        "routes are only patched, never replaced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_route_is_reported_and_recovers_once_created() {
    let cluster = TestCluster::start().await;
    cluster.create_service("web-stable", "web").await;
    cluster.create_service("web-canary", "web").await;
    cluster.create_rollout(&rollout("web").build()).await;
    let status = cluster
        .wait_status("web", "TrafficRouted=False for the missing route", |s| {
            condition_is(s, "TrafficRouted", "False")
                && condition_reason(s, "TrafficRouted").as_deref() == Some("RouterError")
        })
        .await;
    assert_ne!(status.phase, Some(Phase::Healthy));
    assert!(!condition_is(&status, "Ready", "True"));
    cluster.wait_event("web", "RouterError").await;

    cluster.create_route(default_route("web")).await;
    cluster.wait_healthy("web").await;
    cluster
        .wait_status("web", "TrafficRouted=True", |s| {
            condition_is(s, "TrafficRouted", "True")
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_without_the_canary_backend_is_reported_and_recovers_once_added() {
    let cluster = TestCluster::start().await;
    cluster.create_service("web-stable", "web").await;
    cluster.create_service("web-canary", "web").await;
    let mut route = default_route("web");
    route["spec"]["rules"][0]["backendRefs"] =
        json!([{ "name": "web-stable", "port": 80, "weight": 100 }]);
    cluster.create_route(route).await;
    cluster.create_rollout(&rollout("web").build()).await;
    let status = cluster
        .wait_status(
            "web",
            "TrafficRouted=False for the missing backendRef",
            |s| {
                condition_is(s, "TrafficRouted", "False")
                    && condition_reason(s, "TrafficRouted").as_deref() == Some("RouteNotReady")
            },
        )
        .await;
    // Known before anything is created.
    assert!(cluster.replica_set_scales("web").await.is_empty());
    cluster.wait_event("web", "RouteNotReady").await;
    let message = &status
        .conditions
        .iter()
        .find(|c| c.type_ == "TrafficRouted")
        .unwrap()
        .message;
    assert!(
        message.contains("web-canary") || message.contains("web-route"),
        "{message}"
    );
    assert_ne!(status.phase, Some(Phase::Healthy));

    let rules = json!({ "spec": { "rules": default_route("web")["spec"]["rules"].clone() } });
    cluster
        .routes()
        .patch("web-route", &PatchParams::default(), &Patch::Merge(&rules))
        .await
        .unwrap();
    cluster.wait_healthy("web").await;
    cluster
        .wait_status("web", "TrafficRouted=True", |s| {
            condition_is(s, "TrafficRouted", "True")
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_service_is_reported_and_recovers_once_created() {
    let cluster = TestCluster::start().await;
    cluster.create_service("web-stable", "web").await;
    cluster.create_route(default_route("web")).await;
    cluster.create_rollout(&rollout("web").build()).await;
    let status = cluster
        .wait_status("web", "the missing canary Service in status", |s| {
            s.message
                .as_deref()
                .unwrap_or_default()
                .contains("Service web-canary not found")
        })
        .await;
    assert!(
        condition_is(&status, "Ready", "False"),
        "{:?}",
        status.conditions
    );
    assert_ne!(status.phase, Some(Phase::Healthy));

    cluster.create_service("web-canary", "web").await;
    let status = cluster.wait_healthy("web").await;
    assert!(!status.message.unwrap_or_default().contains("not found"));
    let hash = template_hash(&cluster.rollout("web").await);
    assert_eq!(
        cluster.service_pin("web-canary").await.as_deref(),
        Some(hash.as_str())
    );
}
