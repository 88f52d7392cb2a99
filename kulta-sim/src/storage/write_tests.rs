//! Store-level tests of the write rules kube-apiserver 1.36 was compared on (the differential
//! test, tests/tests/differential.rs): name formats, which kinds keep a generation, omitted
//! empty metadata, and the answers' wording.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Part, WriteOptions};
use crate::kinds::resources::ResourceType;
use crate::storage::store::{Store, StoreConfig, StoreInner};

const CRD_NAME: &str = "gadgets.test.kulta.io";

fn resource(inner: &StoreInner, group: &str, version: &str, plural: &str) -> Arc<ResourceType> {
    inner
        .registry
        .get(group, version, plural)
        .unwrap_or_else(|| panic!("{plural}.{group} is served"))
}

/// Registers Gadgets: `spec.size` at most 10, a scale subresource on `.spec.size`.
fn gadgets(inner: &mut StoreInner) -> Arc<ResourceType> {
    let crds = resource(
        inner,
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
    );
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {"group": "test.kulta.io", "scope": "Namespaced",
            "names": {"plural": "gadgets", "kind": "Gadget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {
                    "type": "object",
                    "properties": {"size": {"type": "integer", "maximum": 10}},
                }}}}}]},
    });
    inner
        .create(&crds, "", crd, WriteOptions::default())
        .expect("the CRD is created");
    resource(inner, "test.kulta.io", "v1", "gadgets")
}

fn gadget(name: &str, size: Value) -> Value {
    json!({"apiVersion": "test.kulta.io/v1", "kind": "Gadget", "metadata": {"name": name},
        "spec": {"size": size}})
}

fn causes(error: &crate::api_error::ApiError) -> Vec<(String, String)> {
    error
        .details
        .as_ref()
        .and_then(|details| details["causes"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|cause| {
            (
                cause["field"].as_str().unwrap_or_default().to_string(),
                cause["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn new_names_are_checked_before_the_schema_and_the_scale_subresource() {
    let store = Store::new(StoreConfig::default());
    let mut inner = store.lock();
    let gadgets = gadgets(&mut inner);
    let error = inner
        .create(
            &gadgets,
            "default",
            gadget("Big_Gadget", json!(11)),
            WriteOptions::default(),
        )
        .unwrap_err();
    assert_eq!(error.code, 422);
    let fields: Vec<String> = causes(&error).into_iter().map(|(field, _)| field).collect();
    assert_eq!(fields, ["metadata.name", "spec.size"]);

    let error = inner
        .create(
            &gadgets,
            "default",
            gadget("g", json!("three")),
            WriteOptions::default(),
        )
        .unwrap_err();
    assert!(
        causes(&error).contains(&(
            ".spec.size".to_string(),
            "Invalid value: 0: .spec.size accessor error: three is of the type string, expected int64"
                .to_string()
        )),
        "{:?}",
        causes(&error)
    );

    let replica_sets = resource(&inner, "apps", "v1", "replicasets");
    let bad = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "Web"}, "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "web"}}}});
    let error = inner
        .create(&replica_sets, "default", bad, WriteOptions::default())
        .unwrap_err();
    let fields: Vec<String> = causes(&error).into_iter().map(|(field, _)| field).collect();
    assert_eq!(fields, ["metadata.name", "spec.replicas"]);
}

#[test]
fn only_kinds_that_keep_a_generation_get_one() {
    let store = Store::new(StoreConfig::default());
    let mut inner = store.lock();
    let config_maps = resource(&inner, "", "v1", "configmaps");
    let created = inner
        .create(
            &config_maps,
            "default",
            json!({"metadata": {"name": "settings"}, "data": {"a": "1"}}),
            WriteOptions::default(),
        )
        .unwrap();
    assert!(created["metadata"].get("generation").is_none());
    let updated = inner
        .update(
            &config_maps,
            "default",
            "settings",
            json!({"metadata": {"name": "settings"}, "data": {"a": "2"}}),
            Part::Main,
            WriteOptions::default(),
        )
        .unwrap();
    assert!(updated["metadata"].get("generation").is_none());

    let replica_sets = resource(&inner, "apps", "v1", "replicasets");
    let replica_set = |replicas: i64| {
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}})
    };
    let created = inner
        .create(
            &replica_sets,
            "default",
            replica_set(1),
            WriteOptions::default(),
        )
        .unwrap();
    assert_eq!(created["metadata"]["generation"], 1);
    let scaled = inner
        .update(
            &replica_sets,
            "default",
            "web",
            replica_set(2),
            Part::Main,
            WriteOptions::default(),
        )
        .unwrap();
    assert_eq!(scaled["metadata"]["generation"], 2);
    let error = inner
        .update(
            &replica_sets,
            "default",
            "web",
            replica_set(-1),
            Part::Main,
            WriteOptions::default(),
        )
        .unwrap_err();
    assert_eq!(
        error.message,
        "ReplicaSet.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );
}

#[test]
fn empty_metadata_is_not_stored_and_removing_the_last_finalizer_leaves_none() {
    let store = Store::new(StoreConfig::default());
    let mut inner = store.lock();
    let gadgets = gadgets(&mut inner);
    let mut object = gadget("g", json!(1));
    object["metadata"]["labels"] = json!({});
    object["metadata"]["finalizers"] = json!(["example.com/hold"]);
    let created = inner
        .create(&gadgets, "default", object.clone(), WriteOptions::default())
        .unwrap();
    assert!(created["metadata"].get("labels").is_none());
    object["metadata"]["finalizers"] = json!([]);
    let released = inner
        .update(
            &gadgets,
            "default",
            "g",
            object,
            Part::Main,
            WriteOptions::default(),
        )
        .unwrap();
    assert!(released["metadata"].get("finalizers").is_none());
}

#[test]
fn an_update_of_a_custom_resource_without_resource_version_names_the_resource() {
    let store = Store::new(StoreConfig::default());
    let mut inner = store.lock();
    let gadgets = gadgets(&mut inner);
    inner
        .create(
            &gadgets,
            "default",
            gadget("g", json!(1)),
            WriteOptions::default(),
        )
        .unwrap();
    let options = WriteOptions {
        require_resource_version: true,
        ..WriteOptions::default()
    };
    let error = inner
        .update(
            &gadgets,
            "default",
            "g",
            gadget("g", json!(2)),
            Part::Status,
            options,
        )
        .unwrap_err();
    assert_eq!(
        error.message,
        "gadgets.test.kulta.io \"g\" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update"
    );
    assert_eq!(error.details.unwrap()["kind"], "gadgets");
}

#[test]
fn a_new_service_has_an_empty_load_balancer_status() {
    let store = Store::new(StoreConfig::default());
    let mut inner = store.lock();
    let services = resource(&inner, "", "v1", "services");
    let created = inner
        .create(
            &services,
            "default",
            json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]},
                "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}),
            WriteOptions::default(),
        )
        .unwrap();
    assert_eq!(created["status"], json!({"loadBalancer": {}}));
}
