//! CRUD, list selectors and paging, resourceVersion and generation rules, status subresource
//! isolation, and optimistic concurrency, all through the real kube::Client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use std::collections::BTreeMap;

use common::*;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn config_map(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), "v".to_string())])),
        ..Default::default()
    }
}

#[tokio::test]
async fn crud_round_trip_with_system_metadata() {
    let sim = quiet_sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let created = api
        .create(&PostParams::default(), &config_map("a", &[]))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.is_some());
    assert!(meta.creation_timestamp.is_some());
    // ConfigMaps keep no generation on kube-apiserver (their strategy sets none).
    assert_eq!(meta.generation, None);
    assert_eq!(meta.namespace.as_deref(), Some("default"));

    let fetched = api.get("a").await.unwrap();
    assert_eq!(fetched.metadata.resource_version, meta.resource_version);

    let error = api
        .create(&PostParams::default(), &config_map("a", &[]))
        .await
        .unwrap_err();
    match error {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409);
            assert_eq!(status.reason, "AlreadyExists");
        }
        other => panic!("unexpected {other:?}"),
    }

    api.delete("a", &DeleteParams::default()).await.unwrap();
    let error = api.get("a").await.unwrap_err();
    match error {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 404);
            assert_eq!(status.reason, "NotFound");
            assert_eq!(status.message, "configmaps \"a\" not found");
        }
        other => panic!("unexpected {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn generate_name_and_missing_namespace() {
    let sim = quiet_sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let mut cm = config_map("", &[]);
    cm.metadata.name = None;
    cm.metadata.generate_name = Some("gen-".into());
    let created = api.create(&PostParams::default(), &cm).await.unwrap();
    let name = created.metadata.name.unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    let missing: Api<ConfigMap> = Api::namespaced(sim.client(), "nope");
    let error = missing
        .create(&PostParams::default(), &config_map("x", &[]))
        .await
        .unwrap_err();
    assert!(
        matches!(error, kube::Error::Api(s) if s.code == 404 && s.message == "namespaces \"nope\" not found")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn list_selectors_and_paging() {
    let sim = quiet_sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    for i in 0..7 {
        let tier = if i % 2 == 0 { "front" } else { "back" };
        api.create(
            &PostParams::default(),
            &config_map(&format!("cm-{i}"), &[("app", "web"), ("tier", tier)]),
        )
        .await
        .unwrap();
    }
    api.create(
        &PostParams::default(),
        &config_map("other", &[("app", "db")]),
    )
    .await
    .unwrap();

    let names = |list: kube::api::ObjectList<ConfigMap>| -> Vec<String> {
        list.items
            .into_iter()
            .map(|c| c.metadata.name.unwrap())
            .collect()
    };
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("app=web,tier=front"))
                .await
                .unwrap()
        )
        .len(),
        4
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("tier in (back)"))
                .await
                .unwrap()
        )
        .len(),
        3
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("app notin (web)"))
                .await
                .unwrap()
        ),
        vec!["other"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("!tier"))
                .await
                .unwrap()
        ),
        vec!["other"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=cm-3"))
                .await
                .unwrap()
        ),
        vec!["cm-3"]
    );
    let error = api
        .list(&ListParams::default().fields("data.k=v"))
        .await
        .unwrap_err();
    assert!(matches!(error, kube::Error::Api(s) if s.code == 400));

    let mut seen = Vec::new();
    let mut params = ListParams::default().limit(3);
    let mut pages = 0;
    loop {
        let page = api.list(&params).await.unwrap();
        pages += 1;
        let token = page.metadata.continue_.clone();
        seen.extend(names(page));
        match token {
            Some(token) if !token.is_empty() => {
                params = ListParams::default().limit(3).continue_token(&token)
            }
            _ => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 8);

    let all: Api<ConfigMap> = Api::all(sim.client());
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        8
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn no_op_writes_keep_the_resource_version_and_generation_follows_spec() {
    let sim = quiet_sim().await;
    let client = sim.client();
    install_widgets(&client).await;
    let api = widgets(&client);
    let created = api
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let rv = created.metadata.resource_version.clone();

    let patched = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.metadata.resource_version, rv,
        "a no-op patch keeps the resourceVersion"
    );
    assert_eq!(patched.metadata.generation, Some(1));

    let labelled = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_ne!(labelled.metadata.resource_version, rv);
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "metadata changes do not bump generation"
    );

    let scaled = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.metadata.generation, Some(2));

    // The main resource ignores status; the status subresource ignores everything else.
    let ignored = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Running"}})),
        )
        .await
        .unwrap();
    assert!(ignored.data.get("status").is_none());
    let status = api
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 9}, "status": {"phase": "Running"}})),
        )
        .await
        .unwrap();
    assert_eq!(status.data["status"]["phase"], "Running");
    assert_eq!(status.data["spec"]["replicas"], 3);
    assert_eq!(status.metadata.generation, Some(2));
    sim.shutdown().await;
}

#[tokio::test]
async fn two_writers_with_the_same_stale_resource_version_one_wins() {
    let sim = quiet_sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let base = api
        .create(&PostParams::default(), &config_map("race", &[]))
        .await
        .unwrap();
    let mut first = base.clone();
    first.data = Some(BTreeMap::from([("k".to_string(), "first".to_string())]));
    let mut second = base.clone();
    second.data = Some(BTreeMap::from([("k".to_string(), "second".to_string())]));
    let api_a = api.clone();
    let api_b = api.clone();
    let (a, b) = tokio::join!(
        async move { api_a.replace("race", &PostParams::default(), &first).await },
        async move { api_b.replace("race", &PostParams::default(), &second).await },
    );
    let outcomes = [a, b];
    let wins = outcomes.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1);
    let loser = outcomes.into_iter().find_map(|r| r.err()).unwrap();
    match loser {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409);
            assert_eq!(status.reason, "Conflict");
            assert_eq!(
                status.message,
                "Operation cannot be fulfilled on configmaps \"race\": the object has been modified; please apply your changes to the latest version and try again"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn replica_set_status_and_scale_subresources() {
    let sim = quiet_sim().await;
    let api: Api<ReplicaSet> = Api::namespaced(sim.client(), "default");
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
        },
        "status": {"replicas": 5}
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &rs).await.unwrap();
    assert!(created.status.is_none() || created.status.as_ref().unwrap().replicas == 0);

    let scale = api.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(2));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));
    api.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 4}})),
    )
    .await
    .unwrap();
    let after = api.get("web").await.unwrap();
    assert_eq!(after.spec.unwrap().replicas, Some(4));
    assert_eq!(after.metadata.generation, Some(2));

    let status = api
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 4, "readyReplicas": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(status.status.unwrap().ready_replicas, Some(4));
    sim.shutdown().await;
}
