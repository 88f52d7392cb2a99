//! The watches of what routers reference (`kulta_controller::watched`), on kulta-sim or the real
//! control plane: a kind is watched from the first Rollout that names one of its objects (and
//! once it is served, if it was not), the objects are cached for the routers with their own
//! writes laid over them, and a change wakes the Rollouts that name the object.

// Helpers outside `#[test]` functions fail the test too: panicking is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kulta_api::Rollout;
use kulta_controller::watched::WatchedObjects;
use kulta_router::{ObjectCache, ResourceRef};
use kulta_test_support::{Backend, wait_for};
use kulta_tests::DEADLINE;
use serde_json::json;

fn config_map(name: &str, state: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"state": state}
    }))
    .unwrap()
}

fn reference(namespace: &str, name: &str) -> ResourceRef {
    ResourceRef {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: namespace.into(),
        name: name.into(),
    }
}

fn state_of(watched: &WatchedObjects, object: &ResourceRef) -> Option<String> {
    watched
        .get(object)
        .and_then(|cached| cached["data"]["state"].as_str().map(String::from))
}

async fn set_state(config_maps: &Api<ConfigMap>, name: &str, state: &str) -> ConfigMap {
    config_maps
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"state": state}})),
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referenced_object_is_watched_cached_and_wakes_the_rollouts_that_name_it() {
    let backend = Backend::start(|sim| sim).await;
    let namespace = backend.namespace().to_string();
    let client = backend.client();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    for name in ["gate", "marker"] {
        config_maps
            .create(&PostParams::default(), &config_map(name, "closed"))
            .await
            .unwrap();
    }
    let (watched, mut woken) = WatchedObjects::new(client, Some(namespace.clone()));
    let (gate, marker) = (
        reference(&namespace, "gate"),
        reference(&namespace, "marker"),
    );
    let web = ObjectRef::<Rollout>::new("web").within(&namespace);
    let barrier = ObjectRef::<Rollout>::new("barrier").within(&namespace);
    assert!(
        !watched.watching(std::slice::from_ref(&gate)),
        "nothing named yet"
    );
    assert_eq!(watched.get(&gate), None);

    // Named by a Rollout: the kind is watched, and once listed the object is cached.
    watched.track(&web, std::slice::from_ref(&gate));
    watched.track(&barrier, std::slice::from_ref(&marker));
    wait_for("the ConfigMap watch to list", DEADLINE, || async {
        (watched.watching(&[gate.clone(), marker.clone()])
            && state_of(&watched, &gate).as_deref() == Some("closed"))
        .then_some(())
    })
    .await;
    assert!(
        !watched.watching(&[reference("elsewhere", "gate")]),
        "an object outside the watched namespace is not watched"
    );
    while woken.try_recv().is_ok() {} // nothing is expected: the first list wakes nothing

    // Someone else changes the object: the Rollout that names it wakes, and the cache shows it.
    set_state(&config_maps, "gate", "open").await;
    let first = tokio::time::timeout(DEADLINE, woken.next()).await.unwrap();
    assert_eq!(first, Some(web.clone()));
    assert_eq!(state_of(&watched, &gate).as_deref(), Some("open"));

    // The router's own write stands in for the cache until the watch delivers it (here, a
    // version the API server has not reached yet, so the watch cannot overtake it).
    let mut ours = serde_json::to_value(set_state(&config_maps, "gate", "ours").await).unwrap();
    let version: u64 = ours["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap();
    ours["metadata"]["resourceVersion"] = json!((version + 1_000_000).to_string());
    ours["data"]["state"] = json!("recorded");
    watched.record(&gate, ours);
    assert_eq!(state_of(&watched, &gate).as_deref(), Some("recorded"));
    // (Whether the echo of a write wakes anything is decided per event; `watched`'s unit tests
    // check that the version we wrote does not.) The marker, changed after, is delivered by the
    // same watch after every event of `gate` so far.
    set_state(&config_maps, "marker", "moved").await;
    loop {
        let next = tokio::time::timeout(DEADLINE, woken.next()).await.unwrap();
        if next == Some(barrier.clone()) {
            break;
        }
        assert_eq!(
            next,
            Some(web.clone()),
            "only the Rollouts that name them wake"
        );
    }

    // A Rollout that stops naming the object is not woken by it any more.
    watched.untrack(&web);
    set_state(&config_maps, "gate", "after").await;
    set_state(&config_maps, "marker", "after").await;
    let next = tokio::time::timeout(DEADLINE, woken.next()).await.unwrap();
    assert_eq!(next, Some(barrier), "woken by an object it no longer names");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_not_served_yet_is_watched_once_its_crd_is_installed() {
    let backend = Backend::start(|sim| sim).await;
    let namespace = backend.namespace().to_string();
    // Discovery is asked again about an unserved kind after a second (a minute by default).
    let (watched, _woken) = WatchedObjects::with_unserved_retry(
        backend.client(),
        Some(namespace.clone()),
        Duration::from_secs(1),
    );
    let widget = ResourceRef {
        api_version: "example.kulta.io/v1".into(),
        kind: "Widget".into(),
        namespace: namespace.clone(),
        name: "w".into(),
    };
    let web = ObjectRef::<Rollout>::new("web").within(&namespace);
    // Discovery answers 404: nothing is watched, nothing panics, and the router reads the API
    // server instead.
    watched.track(&web, std::slice::from_ref(&widget));
    assert_eq!(watched.get(&widget), None);

    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.kulta.io"},
        "spec": {
            "group": "example.kulta.io",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
            }]
        }
    }))
    .unwrap();
    backend.install_crds(&[crd]).await;
    // The failed kind was forgotten, so a Rollout naming it again (its next reconcile) starts
    // the watch.
    wait_for(
        "the Widget watch to start once served",
        DEADLINE,
        || async {
            watched.untrack(&web);
            watched.track(&web, std::slice::from_ref(&widget));
            watched
                .watching(std::slice::from_ref(&widget))
                .then_some(())
        },
    )
    .await;
}
