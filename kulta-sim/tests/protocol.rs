//! Wire-level behaviour kubectl and other clients rely on: discovery (legacy and aggregated),
//! OpenAPI v3, Table output, Status bodies for bad input, strategic merge on built-ins,
//! deletecollection, preconditions and defaults.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::*;
use serde_json::{Value, json};

const JSON: (&str, &str) = ("Content-Type", "application/json");

async fn get_json(base: &str, path: &str, accept: &str) -> (u16, Vec<(String, String)>, Value) {
    let (status, headers, body) = raw(base, "GET", path, &[("Accept", accept)], "").await;
    (
        status,
        headers,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn discovery_follows_crds() {
    let sim = quiet_sim().await;
    let base = sim.base_url();
    let (status, _, version) = get_json(base, "/version", "application/json").await;
    assert_eq!(status, 200);
    assert_eq!(version["major"], "1");

    let (_, _, apps) = get_json(base, "/apis/apps/v1", "application/json").await;
    let names: Vec<&str> = apps["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for expected in [
        "replicasets",
        "replicasets/status",
        "replicasets/scale",
        "deployments",
        "deployments/scale",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let (status, _, _) = get_json(base, "/apis/test.kulta.io/v1", "application/json").await;
    assert_eq!(status, 404);

    install_widgets(&sim.client()).await;
    let (_, _, groups) = get_json(base, "/apis", "application/json").await;
    let group = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "test.kulta.io")
        .unwrap();
    assert_eq!(group["preferredVersion"]["version"], "v1");
    let (_, _, list) = get_json(base, "/apis/test.kulta.io/v1", "application/json").await;
    let widgets = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "widgets")
        .unwrap();
    assert_eq!(widgets["shortNames"], json!(["wd"]));
    assert_eq!(widgets["namespaced"], true);

    let accept =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    let (_, headers, aggregated) = get_json(base, "/apis", accept).await;
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.contains("as=APIGroupDiscoveryList"))
    );
    let item = aggregated["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["metadata"]["name"] == "test.kulta.io")
        .unwrap();
    assert_eq!(item["versions"][0]["resources"][0]["resource"], "widgets");

    let (_, _, index) = get_json(base, "/openapi/v3", "application/json").await;
    let url = index["paths"]["apis/test.kulta.io/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.contains("?hash="));
    let (_, _, document) = get_json(base, &url, "application/json").await;
    let schema = &document["components"]["schemas"]["io.kulta.test.v1.Widget"];
    assert_eq!(
        schema["x-kubernetes-group-version-kind"][0]["kind"],
        "Widget"
    );
    let patch =
        &document["paths"]["/apis/test.kulta.io/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn tables_for_kubectl_get() {
    let sim = quiet_sim().await;
    install_widgets(&sim.client()).await;
    let body = json!({"apiVersion": "test.kulta.io/v1", "kind": "Widget", "metadata": {"name": "t"}, "spec": {"replicas": 1}});
    let (status, _, _) = raw(
        sim.base_url(),
        "POST",
        "/apis/test.kulta.io/v1/namespaces/default/widgets",
        &[JSON],
        &body.to_string(),
    )
    .await;
    assert_eq!(status, 201);
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let (_, _, table) = get_json(
        sim.base_url(),
        "/apis/test.kulta.io/v1/namespaces/default/widgets",
        accept,
    )
    .await;
    assert_eq!(table["kind"], "Table");
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(columns, vec!["Name", "Phase"]);
    assert_eq!(table["rows"][0]["cells"][0], "t");
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_status_bodies() {
    let sim = quiet_sim().await;
    let base = sim.base_url();
    let (status, _, body) = raw(
        base,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &[JSON],
        "{not json",
    )
    .await;
    assert_eq!(status, 400);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "BadRequest");

    let (status, _, _) = raw(
        base,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &[JSON],
        "[1,2]",
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = raw(base, "GET", "/apis/nope.io/v1/things", &[], "").await;
    assert_eq!(status, 404);
    let (status, _, _) = raw(
        base,
        "POST",
        "/api/v1/namespaces/default/configmaps/x",
        &[JSON],
        "{}",
    )
    .await;
    assert_eq!(status, 405);
    let (status, _, _) = raw(
        base,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/x",
        &[("Content-Type", "text/plain")],
        "{}",
    )
    .await;
    assert_eq!(status, 415);
    let (status, _, _) = raw(
        base,
        "GET",
        "/api/v1/namespaces/default/configmaps?labelSelector=a%20in%20b",
        &[],
        "",
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = raw(
        base,
        "GET",
        "/api/v1/namespaces/default/configmaps?continue=zz",
        &[],
        "",
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, body) = raw(
        base,
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=abc",
        &[],
        "",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, _) = raw(
        base,
        "POST",
        "/sim/faults",
        &[JSON],
        "{\"action\":\"explode\"}",
    )
    .await;
    assert_eq!(status, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn strategic_merge_deletecollection_preconditions_and_defaults() {
    let sim = quiet_sim().await;
    let base = sim.base_url();
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "app", "image": "nginx:1.26"}, {"name": "sidecar", "image": "envoy:1"}
        ]}}}
    });
    let (status, _, created) = raw(
        base,
        "POST",
        "/apis/apps/v1/namespaces/default/deployments",
        &[JSON],
        &deployment.to_string(),
    )
    .await;
    assert_eq!(status, 201);
    let created: Value = serde_json::from_str(&created).unwrap();
    assert_eq!(
        created["spec"]["replicas"], 1,
        "built-in defaults are applied"
    );
    assert_eq!(created["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(
        created["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );

    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}});
    let (status, _, patched) = raw(
        base,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web",
        &[("Content-Type", "application/strategic-merge-patch+json")],
        &patch.to_string(),
    )
    .await;
    assert_eq!(status, 200);
    let patched: Value = serde_json::from_str(&patched).unwrap();
    let containers = patched["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 2, "containers merge by name");
    assert_eq!(containers[0]["image"], "nginx:1.27");
    assert_eq!(patched["metadata"]["generation"], 2);

    let delete = json!({"preconditions": {"uid": "not-the-uid"}});
    let (status, _, body) = raw(
        base,
        "DELETE",
        "/apis/apps/v1/namespaces/default/deployments/web",
        &[JSON],
        &delete.to_string(),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    for (name, team) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"team": team}}});
        raw(
            base,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            &[JSON],
            &cm.to_string(),
        )
        .await;
    }
    let (status, _, body) = raw(
        base,
        "DELETE",
        "/api/v1/namespaces/default/configmaps?labelSelector=team%3Dx",
        &[],
        "",
    )
    .await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
    let (_, _, list) = get_json(
        base,
        "/api/v1/namespaces/default/configmaps",
        "application/json",
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}});
    let (_, _, svc) = raw(
        base,
        "POST",
        "/api/v1/namespaces/default/services",
        &[JSON],
        &service.to_string(),
    )
    .await;
    let svc: Value = serde_json::from_str(&svc).unwrap();
    assert!(
        svc["spec"]["clusterIP"]
            .as_str()
            .unwrap()
            .starts_with("10.96.")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn hostile_input_never_crashes_the_server() {
    let sim = quiet_sim().await;
    install_widgets(&sim.client()).await;
    let base = sim.base_url();
    let seeds = [
        (
            "/api/v1/namespaces/default/configmaps",
            "cm",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}),
        ),
        (
            "/apis/apps/v1/namespaces/default/deployments",
            "d",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"selector": {}, "template": {}}}),
        ),
        (
            "/apis/test.kulta.io/v1/namespaces/default/widgets",
            "w",
            json!({"apiVersion": "test.kulta.io/v1", "kind": "Widget", "metadata": {"name": "w"}}),
        ),
        (
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            "widgets.test.kulta.io",
            Value::Null,
        ),
    ];
    let payloads = [
        "null",
        "5",
        "\"x\"",
        "[]",
        "{}",
        "{\"metadata\":\"x\"}",
        "{\"metadata\":{\"name\":5}}",
        "{\"metadata\":{\"labels\":\"x\"}}",
        "{\"spec\":\"x\"}",
        "{\"status\":\"x\"}",
        "{\"spec\":{\"names\":7}}",
        "[{\"op\":\"replace\",\"path\":\"\",\"value\":5}]",
        "[{\"op\":\"test\",\"path\":\"/nope/0\",\"value\":null}]",
        "[{\"op\":\"add\",\"path\":\"/metadata\",\"value\":\"x\"}]",
        "{\"$patch\":\"delete\"}",
        "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":\"x\"}",
        "\u{0}\u{1}",
    ];
    let patch_types = [
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    ];
    for (collection, name, seed) in &seeds {
        if !seed.is_null() {
            raw(base, "POST", collection, &[JSON], &seed.to_string()).await;
        }
        let item = format!("{collection}/{name}");
        for payload in payloads {
            let mut attempts = vec![
                ("POST", collection.to_string(), "application/json"),
                ("PUT", item.clone(), "application/json"),
                ("PUT", format!("{item}/status"), "application/json"),
            ];
            for patch_type in patch_types {
                attempts.push(("PATCH", format!("{item}?fieldManager=t"), patch_type));
                attempts.push(("PATCH", format!("{item}/status?fieldManager=t"), patch_type));
                attempts.push(("PATCH", format!("{item}/scale?fieldManager=t"), patch_type));
            }
            for (method, path, content_type) in attempts {
                let (status, _, body) = raw(
                    base,
                    method,
                    &path,
                    &[("Content-Type", content_type)],
                    payload,
                )
                .await;
                assert!(status < 500, "{method} {path} {payload}: {status} {body}");
            }
        }
    }
    let (status, _, _) = raw(base, "GET", "/version", &[], "").await;
    assert_eq!(status, 200);
    sim.shutdown().await;
}
