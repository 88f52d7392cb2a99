//! Field selectors on Events, as `kubectl describe` (core v1 `involvedObject.*`) and the kubectl
//! plugin (`events.k8s.io/v1` `regarding.*`) use them; unsupported fields are a 400.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::*;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

/// `(event name, referenced kind, referenced name, referenced uid)`, all in namespace default
/// except `other-ns`, which is about an object in kube-system.
const EVENTS: &[(&str, &str, &str, &str)] = &[
    ("rollout-app", "Rollout", "app", "uid-1"),
    ("rollout-web", "Rollout", "web", "uid-2"),
    ("deploy-app", "Deployment", "app", "uid-3"),
];

fn events_api(sim: &kulta_sim::Sim, group: &str) -> Api<DynamicObject> {
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", "Event"), "events");
    Api::namespaced_with(sim.client(), "default", &resource)
}

/// An event about `kind/name` in `namespace`: core v1 (`involvedObject`) or events.k8s.io
/// (`regarding`).
fn event(group: &str, name: &str, kind: &str, object: &str, uid: &str, namespace: &str) -> Value {
    let reference = json!({"apiVersion": "kulta.io/v1alpha1", "kind": kind, "name": object,
        "namespace": namespace, "uid": uid});
    if group.is_empty() {
        json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
            "involvedObject": reference, "reason": "Scaled", "message": "m", "type": "Normal",
            "source": {"component": "kulta", "host": "node-1"}})
    } else {
        json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": name},
            "regarding": reference, "reason": "Scaled", "note": "m", "type": "Normal",
            "eventTime": "2026-01-01T00:00:00.000000Z", "action": "Scale",
            "reportingController": "kulta", "reportingInstance": "kulta-0"})
    }
}

async fn create_events(api: &Api<DynamicObject>, group: &str) {
    let mut all: Vec<Value> = EVENTS
        .iter()
        .map(|(name, kind, object, uid)| event(group, name, kind, object, uid, "default"))
        .collect();
    all.push(event(
        group,
        "other-ns",
        "Rollout",
        "app",
        "uid-4",
        "kube-system",
    ));
    for object in all {
        let object: DynamicObject = serde_json::from_value(object).unwrap();
        api.create(&PostParams::default(), &object).await.unwrap();
    }
}

async fn selected(api: &Api<DynamicObject>, selector: &str) -> Vec<String> {
    let list = api
        .list(&ListParams::default().fields(selector))
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"));
    let mut names: Vec<String> = list
        .items
        .into_iter()
        .filter_map(|object| object.metadata.name)
        .collect();
    names.sort();
    names
}

async fn refused(api: &Api<DynamicObject>, selector: &str) {
    match api.list(&ListParams::default().fields(selector)).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 400, "{selector}: {status:?}");
            assert!(
                status.message.contains("field label not supported"),
                "{selector}: {}",
                status.message
            );
        }
        other => panic!("{selector}: expected 400, got {other:?}"),
    }
}

/// The selector cases, with `{prefix}` standing for `involvedObject` or `regarding`.
async fn check_selectors(api: &Api<DynamicObject>, prefix: &str) {
    let cases: &[(&str, &[&str])] = &[
        ("{p}.name=app", &["deploy-app", "other-ns", "rollout-app"]),
        (
            "{p}.kind=Rollout",
            &["other-ns", "rollout-app", "rollout-web"],
        ),
        (
            "{p}.kind=Rollout,{p}.name=app",
            &["other-ns", "rollout-app"],
        ),
        ("{p}.namespace=kube-system", &["other-ns"]),
        ("{p}.uid=uid-2", &["rollout-web"]),
        ("{p}.kind!=Rollout", &["deploy-app"]),
        (
            "{p}.name=app,{p}.namespace=default,{p}.kind=Rollout,{p}.uid=uid-1",
            &["rollout-app"],
        ),
        ("{p}.name=absent", &[]),
        (
            "{p}.apiVersion=kulta.io/v1alpha1,reason=Scaled,type=Normal",
            &["deploy-app", "other-ns", "rollout-app", "rollout-web"],
        ),
    ];
    for (selector, expected) in cases {
        let selector = selector.replace("{p}", prefix);
        assert_eq!(selected(api, &selector).await, *expected, "{selector}");
    }
}

#[tokio::test]
async fn core_events_select_on_involved_object() {
    let sim = quiet_sim().await;
    let api = events_api(&sim, "");
    create_events(&api, "").await;
    check_selectors(&api, "involvedObject").await;
    // `source` selects on `source.component`, as on a real server.
    assert_eq!(selected(&api, "source=kulta").await.len(), 4);
    assert_eq!(selected(&api, "source=other").await.len(), 0);
    // The other group's names, and fields no server indexes, are refused.
    refused(&api, "regarding.name=app").await;
    refused(&api, "involvedObject.bogus=x").await;
    refused(&api, "message=m").await;
    sim.shutdown().await;
}

#[tokio::test]
async fn events_k8s_io_select_on_regarding() {
    let sim = quiet_sim().await;
    let api = events_api(&sim, "events.k8s.io");
    create_events(&api, "events.k8s.io").await;
    check_selectors(&api, "regarding").await;
    assert_eq!(selected(&api, "reportingController=kulta").await.len(), 4);
    refused(&api, "involvedObject.name=app").await;
    refused(&api, "note=m").await;
    refused(&api, "regarding.bogus=x").await;
    sim.shutdown().await;
}
