//! The RBAC, policy and core kinds served besides the workload kinds: scope, status
//! subresource, typed decoding, Secret `stringData`, and their discovery entries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use std::collections::BTreeMap;

use common::*;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use serde_json::json;

fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn rbac_kinds_are_served_with_their_scopes() {
    let sim = quiet_sim().await;
    let client = sim.client();
    let rules =
        json!([{"apiGroups": ["kulta.io"], "resources": ["rollouts"], "verbs": ["get", "list"]}]);
    let cluster_roles: Api<ClusterRole> = Api::all(client.clone());
    cluster_roles
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "kulta-view"}, "rules": rules})),
        )
        .await
        .unwrap();
    let roles: Api<Role> = Api::namespaced(client.clone(), "default");
    roles
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "election"}, "rules": rules})),
        )
        .await
        .unwrap();
    let subjects = json!([{"kind": "ServiceAccount", "name": "kulta", "namespace": "default"}]);
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), "default");
    bindings
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "election"}, "subjects": subjects,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "election"}})),
        )
        .await
        .unwrap();
    let cluster_bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    cluster_bindings
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "kulta-view"}, "subjects": subjects,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kulta-view"}})),
        )
        .await
        .unwrap();

    let role = cluster_roles.get("kulta-view").await.unwrap();
    assert_eq!(role.rules.unwrap()[0].verbs, ["get", "list"]);
    assert!(role.metadata.namespace.is_none());
    let binding = bindings.get("election").await.unwrap();
    assert_eq!(binding.role_ref.kind, "Role");
    assert_eq!(binding.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(
        cluster_bindings
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    // Namespaced kinds need their namespace, as everywhere.
    let elsewhere: Api<Role> = Api::namespaced(client.clone(), "absent");
    let error = elsewhere
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "r"}})),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, kube::Error::Api(s) if s.code == 404));
    sim.shutdown().await;
}

#[tokio::test]
async fn typed_decoding_refuses_unknown_rbac_fields_when_strict() {
    let sim = quiet_sim().await;
    let roles: Api<ClusterRole> = Api::all(sim.client());
    let strict = PatchParams::apply("test").validation_strict();
    let error = roles
        .patch(
            "bad",
            &strict,
            &Patch::Apply(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "bad"}, "rules": [{"verbs": ["get"], "resourcez": ["pods"]}]}),
            ),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = error else {
        panic!("expected a Status")
    };
    assert_eq!(status.code, 400);
    assert!(
        status
            .message
            .contains("unknown field \"rules[0].resourcez\""),
        "{}",
        status.message
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn pod_disruption_budgets_have_a_status_subresource() {
    let sim = quiet_sim().await;
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(sim.client(), "default");
    budgets
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "kulta"},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "kulta"}}}})),
        )
        .await
        .unwrap();
    let status = json!({"status": {"currentHealthy": 2, "desiredHealthy": 1,
        "disruptionsAllowed": 1, "expectedPods": 2}});
    // The main resource ignores status; /status takes only status.
    budgets
        .patch("kulta", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert!(budgets.get("kulta").await.unwrap().status.is_none());
    let mut both = status.clone();
    both["spec"] = json!({"minAvailable": 2});
    let patched = budgets
        .patch_status("kulta", &PatchParams::default(), &Patch::Merge(&both))
        .await
        .unwrap();
    assert_eq!(patched.status.unwrap().disruptions_allowed, Some(1));
    assert_eq!(
        patched.spec.unwrap().min_available,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn secrets_fold_string_data_into_data() {
    let sim = quiet_sim().await;
    let secrets: Api<Secret> = Api::namespaced(sim.client(), "default");
    let created = secrets
        .create(
            &PostParams::default(),
            &from_json(
                json!({"metadata": {"name": "token"}, "stringData": {"token": "s3cret"},
                "data": {"other": "b3RoZXI="}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    assert!(created.string_data.is_none());
    let data = created.data.unwrap();
    let decoded: BTreeMap<&str, &[u8]> = data.iter().map(|(k, v)| (k.as_str(), &v.0[..])).collect();
    assert_eq!(
        decoded,
        BTreeMap::from([("other", &b"other"[..]), ("token", &b"s3cret"[..])])
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn discovery_lists_the_new_kinds_with_their_scope_and_status() {
    let sim = quiet_sim().await;
    let discovery = Discovery::new(sim.client()).run().await.unwrap();
    let find = |group: &str, plural: &str| -> (ApiResource, ApiCapabilities) {
        discovery
            .groups()
            .flat_map(|g| g.recommended_resources())
            .find(|(resource, _)| resource.group == group && resource.plural == plural)
            .unwrap_or_else(|| panic!("{group}/{plural} not discovered"))
    };
    for (group, plural, namespaced) in [
        ("rbac.authorization.k8s.io", "roles", true),
        ("rbac.authorization.k8s.io", "rolebindings", true),
        ("rbac.authorization.k8s.io", "clusterroles", false),
        ("rbac.authorization.k8s.io", "clusterrolebindings", false),
        ("policy", "poddisruptionbudgets", true),
        ("", "serviceaccounts", true),
        ("", "secrets", true),
    ] {
        let (_, capabilities) = find(group, plural);
        let expected = if namespaced {
            Scope::Namespaced
        } else {
            Scope::Cluster
        };
        assert_eq!(capabilities.scope, expected, "{plural}");
    }
    let (_, pdb) = find("policy", "poddisruptionbudgets");
    let subresources: Vec<&str> = pdb
        .subresources
        .iter()
        .map(|(r, _)| r.plural.as_str())
        .collect();
    assert_eq!(subresources, ["status"]);
    sim.shutdown().await;
}
