//! Finalizers, owner-reference garbage collection (background, foreground, orphan) and the
//! CustomResourceDefinition lifecycle, through the real kube::Client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ObjectMeta, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

fn cm(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        data: Some(BTreeMap::new()),
        ..Default::default()
    }
}

fn owned_by(name: &str, owner: &ConfigMap, block: bool) -> ConfigMap {
    let mut child = cm(name);
    child.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: owner.metadata.name.clone().unwrap(),
            uid: owner.metadata.uid.clone().unwrap(),
            block_owner_deletion: Some(block),
            controller: Some(true),
        },
    ]);
    child
}

async fn exists(api: &Api<ConfigMap>, name: &str) -> bool {
    api.get_opt(name).await.unwrap().is_some()
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let sim = quiet_sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let mut object = cm("fin");
    object.metadata.finalizers = Some(vec!["kulta.io/cleanup".into()]);
    api.create(&PostParams::default(), &object).await.unwrap();

    let outcome = api.delete("fin", &DeleteParams::default()).await.unwrap();
    let pending = outcome.left().expect("deletion waits for the finalizer");
    assert!(pending.metadata.deletion_timestamp.is_some());
    let stored = api.get("fin").await.unwrap();
    assert!(stored.metadata.deletion_timestamp.is_some());
    assert_eq!(stored.metadata.deletion_grace_period_seconds, Some(0));

    // New finalizers cannot be added while deleting.
    let error = api
        .patch(
            "fin",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["kulta.io/cleanup", "other"]}})),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, kube::Error::Api(s) if s.code == 422));

    api.patch(
        "fin",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(!exists(&api, "fin").await);
    sim.shutdown().await;
}

#[tokio::test]
async fn background_deletion_collects_dependents() {
    let sim = quiet_sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let owner = api
        .create(&PostParams::default(), &cm("owner"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &owned_by("child-1", &owner, false))
        .await
        .unwrap();
    api.create(&PostParams::default(), &owned_by("child-2", &owner, true))
        .await
        .unwrap();
    let grandchild_owner = api.get("child-2").await.unwrap();
    api.create(
        &PostParams::default(),
        &owned_by("grandchild", &grandchild_owner, false),
    )
    .await
    .unwrap();

    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    eventually(Duration::from_secs(5), || async {
        let names: Vec<String> = api
            .list(&Default::default())
            .await
            .ok()?
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect();
        names.is_empty().then_some(())
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn foreground_deletion_waits_for_blocking_dependents() {
    let sim = quiet_sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let owner = api
        .create(&PostParams::default(), &cm("fg-owner"))
        .await
        .unwrap();
    let mut blocking = owned_by("fg-child", &owner, true);
    blocking.metadata.finalizers = Some(vec!["kulta.io/hold".into()]);
    api.create(&PostParams::default(), &blocking).await.unwrap();
    api.create(&PostParams::default(), &owned_by("fg-free", &owner, false))
        .await
        .unwrap();

    api.delete("fg-owner", &DeleteParams::foreground())
        .await
        .unwrap();
    let waiting = api.get("fg-owner").await.unwrap();
    assert!(waiting.metadata.deletion_timestamp.is_some());
    assert_eq!(
        waiting.metadata.finalizers,
        Some(vec!["foregroundDeletion".to_string()])
    );
    assert!(!exists(&api, "fg-free").await);
    let child = api.get("fg-child").await.unwrap();
    assert!(child.metadata.deletion_timestamp.is_some());

    api.patch(
        "fg-child",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually(Duration::from_secs(5), || async {
        (!exists(&api, "fg-owner").await && !exists(&api, "fg-child").await).then_some(())
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn orphan_deletion_keeps_dependents_without_owner_references() {
    let sim = quiet_sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let owner = api
        .create(&PostParams::default(), &cm("or-owner"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &owned_by("or-child", &owner, true))
        .await
        .unwrap();
    api.delete("or-owner", &DeleteParams::orphan())
        .await
        .unwrap();
    let child = api.get("or-child").await.unwrap();
    assert!(
        child
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
    assert!(!exists(&api, "or-owner").await);
    sim.shutdown().await;
}

#[tokio::test]
async fn crd_registers_and_unregisters_kinds() {
    let sim = quiet_sim().await;
    let client = sim.client();
    let api = widgets(&client);
    let error = api.list(&Default::default()).await.unwrap_err();
    assert!(
        matches!(error, kube::Error::Api(s) if s.code == 404),
        "unknown kinds are 404"
    );

    install_widgets(&client).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds.get("widgets.test.kulta.io").await.unwrap();
    let conditions = crd.status.unwrap().conditions.unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "NamesAccepted" && c.status == "True")
    );

    api.create(&PostParams::default(), &widget("w", 2))
        .await
        .unwrap();
    let missing = api.get("nope").await.unwrap_err();
    match missing {
        kube::Error::Api(status) => {
            assert_eq!(status.message, "widgets.test.kulta.io \"nope\" not found");
        }
        other => panic!("unexpected {other:?}"),
    }

    // Both served versions read the same object.
    let beta = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("test.kulta.io", "v1beta1", "Widget"),
        "widgets",
    );
    let beta_api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &beta);
    let seen = beta_api.get("w").await.unwrap();
    assert_eq!(seen.types.unwrap().api_version, "test.kulta.io/v1beta1");

    // Discovery lists the kind with its subresources.
    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    let (resource, capabilities) = discovery
        .groups()
        .find(|g| g.name() == "test.kulta.io")
        .and_then(|g| g.recommended_kind("Widget"))
        .expect("widgets discovered");
    assert_eq!(resource.plural, "widgets");
    assert!(
        capabilities
            .subresources
            .iter()
            .any(|(r, _)| r.plural == "widgets/status" || r.plural == "status")
    );

    crds.delete("widgets.test.kulta.io", &DeleteParams::default())
        .await
        .unwrap();
    let error = api.get("w").await.unwrap_err();
    assert!(matches!(error, kube::Error::Api(s) if s.code == 404));
    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    assert!(discovery.groups().all(|g| g.name() != "test.kulta.io"));

    // Re-creating the CRD does not resurrect old objects.
    install_widgets(&client).await;
    assert!(
        api.list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn patch_types_and_json_patch_tests() {
    let sim = quiet_sim().await;
    let client = sim.client();
    install_widgets(&client).await;
    let api = widgets(&client);
    let created = api
        .create(&PostParams::default(), &widget("p", 1))
        .await
        .unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();

    // A test of null on a missing path passes, like the real server.
    api.patch(
        "p",
        &PatchParams::default(),
        &Patch::Json::<()>(
            serde_json::from_value(json!([
                {"op": "test", "path": "/metadata/labels", "value": null},
                {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
                {"op": "add", "path": "/spec/weight", "value": 10}
            ]))
            .unwrap(),
        ),
    )
    .await
    .unwrap();

    // The same test on the now-stale resourceVersion fails with 422 and changes nothing.
    let error = api
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(json!([
                    {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
                    {"op": "replace", "path": "/spec/weight", "value": 20}
                ]))
                .unwrap(),
            ),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, kube::Error::Api(s) if s.code == 422 && s.reason == "Invalid"),
        "{error:?}"
    );
    assert_eq!(api.get("p").await.unwrap().data["spec"]["weight"], 10);

    // A merge patch carrying a stale resourceVersion is a 409 Conflict.
    let error = api
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"resourceVersion": rv}, "spec": {"weight": 30}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict"),
        "{error:?}"
    );

    // Strategic merge is refused on custom resources.
    let error = api
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"weight": 1}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, kube::Error::Api(s) if s.code == 415),
        "{error:?}"
    );

    // Server-side apply creates, then merges into, the object; a manager that stops applying a
    // field removes it unless another manager applies it too.
    let apply = |manager: &'static str, spec: serde_json::Value| {
        let api = api.clone();
        async move {
            api.patch(
                "ssa",
                &PatchParams::apply(manager).force(),
                &Patch::Apply(json!({"apiVersion": "test.kulta.io/v1", "kind": "Widget", "metadata": {"name": "ssa"}, "spec": spec})),
            )
            .await
            .unwrap()
        }
    };
    let created = apply("kulta-a", json!({"replicas": 2, "image": "a"})).await;
    assert_eq!(created.data["spec"]["replicas"], 2);
    let merged = apply("kulta-b", json!({"replicas": 3})).await;
    assert_eq!(merged.data["spec"]["replicas"], 3);
    assert_eq!(
        merged.data["spec"]["image"], "a",
        "fields of other managers stay"
    );
    assert_eq!(merged.metadata.generation, Some(2));
    let released = apply("kulta-a", json!({"replicas": 3})).await;
    assert!(
        released.data["spec"].get("image").is_none(),
        "a dropped field is removed"
    );

    let status_apply = |status: serde_json::Value| {
        let api = api.clone();
        async move {
            api.patch_status(
                "ssa",
                &PatchParams::apply("kulta-status"),
                &Patch::Apply(
                    json!({"apiVersion": "test.kulta.io/v1", "kind": "Widget", "status": status}),
                ),
            )
            .await
            .unwrap()
        }
    };
    let status = status_apply(json!({"phase": "Ready", "replicas": 3})).await;
    assert_eq!(status.data["status"]["phase"], "Ready");
    let status = status_apply(json!({"phase": "Degraded"})).await;
    assert_eq!(status.data["status"], json!({"phase": "Degraded"}));
    assert_eq!(
        status.data["spec"]["replicas"], 3,
        "a status apply leaves the spec alone"
    );

    // PUT of a custom resource requires a resourceVersion.
    let mut current = api.get("ssa").await.unwrap();
    current.metadata.resource_version = None;
    let error = api
        .replace("ssa", &PostParams::default(), &current)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, kube::Error::Api(s) if s.code == 422),
        "{error:?}"
    );

    // dryRun stores nothing.
    let dry = api
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &widget("dry", 1),
        )
        .await
        .unwrap();
    assert_eq!(dry.metadata.name.as_deref(), Some("dry"));
    assert!(api.get_opt("dry").await.unwrap().is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn custom_resources_are_checked_against_their_schema() {
    let sim = quiet_sim().await;
    let client = sim.client();
    install_widgets(&client).await;
    let api = widgets(&client);
    let error = api
        .create(&PostParams::default(), &widget("bad", -1))
        .await
        .unwrap_err();
    match error {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 422);
            assert_eq!(status.reason, "Invalid");
            // The schema's bound, then the scale subresource's own check at its
            // specReplicasPath, as kube-apiserver lists them.
            assert_eq!(
                status.message,
                "Widget.test.kulta.io \"bad\" is invalid: [spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0, .spec.replicas: Invalid value: -1: should be a non-negative integer]",
            );
        }
        other => panic!("unexpected {other:?}"),
    }

    api.create(&PostParams::default(), &widget("good", 1))
        .await
        .unwrap();
    let error = api
        .patch_status(
            "good",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": "many"}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, kube::Error::Api(s) if s.code == 422),
        "status writes are validated: {error:?}"
    );

    // Unknown fields are pruned, or refused with fieldValidation=Strict.
    let pruned = api
        .patch(
            "good",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"bogus": true}})),
        )
        .await
        .unwrap();
    assert!(pruned.data["spec"].get("bogus").is_none());
    let strict = PatchParams {
        field_validation: Some(kube::api::ValidationDirective::Strict),
        ..PatchParams::default()
    };
    let error = api
        .patch(
            "good",
            &strict,
            &Patch::Merge(json!({"spec": {"bogus": true}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, kube::Error::Api(s) if s.code == 400 && s.message.contains("unknown field \"spec.bogus\"")),
        "{error:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn kube_event_recorder_publishes_and_updates_series() {
    use k8s_openapi::api::events::v1::Event;
    use kube::Resource;
    use kube::runtime::events::{Event as RuntimeEvent, EventType, Recorder, Reporter};
    let sim = quiet_sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let object = api
        .create(&PostParams::default(), &cm("evented"))
        .await
        .unwrap();
    let recorder = Recorder::new(sim.client(), Reporter::from("kulta-test"));
    let reference = object.object_ref(&());
    let event = RuntimeEvent {
        type_: EventType::Normal,
        reason: "ShiftedTraffic".into(),
        note: Some("weight 20".into()),
        action: "Shift".into(),
        secondary: None,
    };
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    let events: Api<Event> = Api::namespaced(sim.client(), "default");
    let list = events.list(&Default::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].reason.as_deref(), Some("ShiftedTraffic"));
    sim.shutdown().await;
}

/// The Widget CRD with one CEL rule on `spec` and a `maximum` on `spec.weight`.
fn widget_crd_with(rule: &str, max_weight: i64) -> CustomResourceDefinition {
    let mut crd = widget_crd();
    for version in crd["spec"]["versions"].as_array_mut().unwrap() {
        let spec = &mut version["schema"]["openAPIV3Schema"]["properties"]["spec"];
        spec["x-kubernetes-validations"] = json!([{"rule": rule, "message": rule}]);
        spec["properties"]["weight"]["maximum"] = json!(max_weight);
    }
    serde_json::from_value(crd).unwrap()
}

#[tokio::test]
async fn a_changed_crd_schema_applies_from_the_next_write() {
    let sim = quiet_sim().await;
    let client = sim.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(
        &PostParams::default(),
        &widget_crd_with("self.replicas <= 10", 100),
    )
    .await
    .unwrap();
    let api = widgets(&client);
    api.create(&PostParams::default(), &widget("w", 7))
        .await
        .unwrap();
    // A merge patch of the widget that the API server refuses with `expected` in its message.
    let refused = |patch: serde_json::Value, expected: &'static str| {
        let api = api.clone();
        async move {
            match api
                .patch("w", &PatchParams::default(), &Patch::Merge(patch))
                .await
                .unwrap_err()
            {
                kube::Error::Api(status) => {
                    assert_eq!(status.code, 422, "{status:?}");
                    assert!(status.message.contains(expected), "{}", status.message);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    refused(json!({"spec": {"replicas": 11}}), "self.replicas <= 10").await;

    // A write of the CRD that leaves its schema alone keeps the rules; a new rule and a new
    // bound apply from the next write.
    crds.patch(
        "widgets.test.kulta.io",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"touched": "yes"}}})),
    )
    .await
    .unwrap();
    refused(json!({"spec": {"replicas": 12}}), "self.replicas <= 10").await;
    let mut changed = widget_crd_with("self.replicas <= 5", 3);
    changed.metadata.resource_version = crds
        .get("widgets.test.kulta.io")
        .await
        .unwrap()
        .metadata
        .resource_version;
    crds.replace("widgets.test.kulta.io", &PostParams::default(), &changed)
        .await
        .unwrap();
    refused(json!({"spec": {"replicas": 6}}), "self.replicas <= 5").await;
    refused(
        json!({"spec": {"weight": 4}}),
        "spec.weight: Invalid value: 4",
    )
    .await;
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 5, "weight": 3}})),
    )
    .await
    .unwrap();
    sim.shutdown().await;
}
