//! Protobuf request bodies over HTTP, as kubectl's typed commands and Go clients send them:
//! creates, updates, scale and delete options of built-in kinds are decoded and stored as JSON;
//! answers are JSON when the client accepts it, 406 when it accepts only protobuf; malformed
//! bodies are 400 and custom resources 415.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use std::collections::BTreeMap;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_pb::api::apps::v1 as apps_pb;
use k8s_pb::api::autoscaling::v1 as autoscaling_pb;
use k8s_pb::api::core::v1 as core_pb;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta_pb;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use kube::api::Api;
use prost::Message;
use serde_json::{Value, json};

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
/// What kubectl's typed commands accept.
const KUBECTL_ACCEPT: &str = "application/vnd.kubernetes.protobuf,application/json";

/// The prefix and `runtime.Unknown` envelope around `message`.
fn protobuf_body(api_version: &str, kind: &str, message: &impl Message) -> Vec<u8> {
    let envelope = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.to_string()),
            kind: Some(kind.to_string()),
        }),
        raw: Some(message.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut body = b"k8s\0".to_vec();
    body.extend(envelope.encode_to_vec());
    body
}

fn metadata(name: &str) -> meta_pb::ObjectMeta {
    meta_pb::ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(String::new()),
        creation_timestamp: Some(meta_pb::Time::default()),
        ..meta_pb::ObjectMeta::default()
    }
}

/// One request through the sim's client: (status, content type, body as JSON).
async fn send(
    sim: &kulta_sim::Sim,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String, Value) {
    let mut request = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = sim
        .client()
        .send(request.body(kube::client::Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = response.into_body().collect_bytes().await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, content_type, json)
}

fn web_deployment(replicas: i32) -> apps_pb::Deployment {
    let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
    apps_pb::Deployment {
        metadata: Some(metadata("web")),
        spec: Some(apps_pb::DeploymentSpec {
            replicas: Some(replicas),
            selector: Some(meta_pb::LabelSelector {
                match_labels: labels.clone(),
                match_expressions: Vec::new(),
            }),
            template: Some(core_pb::PodTemplateSpec {
                metadata: Some(meta_pb::ObjectMeta {
                    labels,
                    ..metadata("")
                }),
                spec: Some(core_pb::PodSpec {
                    containers: vec![core_pb::Container {
                        name: Some("nginx".to_string()),
                        image: Some("nginx:1.26".to_string()),
                        ..core_pb::Container::default()
                    }],
                    ..core_pb::PodSpec::default()
                }),
            }),
            ..apps_pb::DeploymentSpec::default()
        }),
        status: None,
    }
}

#[tokio::test]
async fn a_protobuf_config_map_is_stored_and_answered_in_json() {
    let sim = quiet_sim().await;
    let config_map = core_pb::ConfigMap {
        metadata: Some(metadata("settings")),
        immutable: None,
        data: BTreeMap::from([("mode".to_string(), "fast".to_string())]),
        binary_data: BTreeMap::from([("blob".to_string(), vec![0xff, 0x00])]),
    };
    let (status, content_type, created) = send(
        &sim,
        "POST",
        "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
        &[("Content-Type", PROTOBUF), ("Accept", KUBECTL_ACCEPT)],
        protobuf_body("v1", "ConfigMap", &config_map),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(content_type, "application/json");
    assert_eq!(created["data"], json!({"mode": "fast"}));
    assert_eq!(created["binaryData"], json!({"blob": "/wA="}));

    let stored = Api::<ConfigMap>::namespaced(sim.client(), "default")
        .get("settings")
        .await
        .unwrap();
    assert_eq!(
        stored.data,
        Some(BTreeMap::from([("mode".to_string(), "fast".to_string())]))
    );
    assert!(stored.metadata.uid.is_some());
    assert!(stored.metadata.creation_timestamp.is_some());
    sim.shutdown().await;
}

#[tokio::test]
async fn protobuf_updates_scale_and_delete_options_reach_the_store() {
    let sim = quiet_sim().await;
    let headers = [("Content-Type", PROTOBUF), ("Accept", KUBECTL_ACCEPT)];
    let path = "/apis/apps/v1/namespaces/default/deployments";
    let (status, _, created) = send(
        &sim,
        "POST",
        path,
        &headers,
        protobuf_body("apps/v1", "Deployment", &web_deployment(0)),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    // An explicit zero (a Go pointer) survives; the defaults fill what was left out.
    assert_eq!(created["spec"]["replicas"], 0);
    assert_eq!(created["spec"]["revisionHistoryLimit"], 10);

    let (status, _, updated) = send(
        &sim,
        "PUT",
        &format!("{path}/web"),
        &headers,
        protobuf_body("apps/v1", "Deployment", &web_deployment(2)),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["spec"]["replicas"], 2);
    assert_eq!(updated["metadata"]["generation"], 2);

    let scale = autoscaling_pb::Scale {
        metadata: Some(metadata("web")),
        spec: Some(autoscaling_pb::ScaleSpec { replicas: Some(5) }),
        status: None,
    };
    let (status, _, scaled) = send(
        &sim,
        "PUT",
        &format!("{path}/web/scale"),
        &headers,
        protobuf_body("autoscaling/v1", "Scale", &scale),
    )
    .await;
    assert_eq!(status, 200, "{scaled}");
    let deployments = Api::<Deployment>::namespaced(sim.client(), "default");
    let stored = deployments.get("web").await.unwrap();
    assert_eq!(stored.spec.unwrap().replicas, Some(5));

    // Delete options in protobuf, as Go clients send them: a dry run deletes nothing, a
    // stale precondition is a conflict.
    let dry_run = meta_pb::DeleteOptions {
        dry_run: vec!["All".to_string()],
        ..meta_pb::DeleteOptions::default()
    };
    let (status, _, _) = send(
        &sim,
        "DELETE",
        &format!("{path}/web"),
        &headers,
        protobuf_body("meta.k8s.io/v1", "DeleteOptions", &dry_run),
    )
    .await;
    assert_eq!(status, 200);
    assert!(deployments.get_opt("web").await.unwrap().is_some());
    let stale = meta_pb::DeleteOptions {
        preconditions: Some(meta_pb::Preconditions {
            uid: Some("not-the-uid".to_string()),
            resource_version: None,
        }),
        ..meta_pb::DeleteOptions::default()
    };
    let (status, _, conflict) = send(
        &sim,
        "DELETE",
        &format!("{path}/web"),
        &headers,
        protobuf_body("apps/v1", "DeleteOptions", &stale),
    )
    .await;
    assert_eq!(status, 409, "{conflict}");
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_protobuf_bodies_are_refused_with_a_reason() {
    let sim = quiet_sim().await;
    install_widgets(&sim.client()).await;
    let headers = [("Content-Type", PROTOBUF), ("Accept", KUBECTL_ACCEPT)];
    let path = "/api/v1/namespaces/default/configmaps";
    let config_map = core_pb::ConfigMap {
        metadata: Some(metadata("x")),
        ..core_pb::ConfigMap::default()
    };

    let (status, _, missing_prefix) = send(
        &sim,
        "POST",
        path,
        &headers,
        br#"{"kind":"ConfigMap"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(missing_prefix["reason"], "BadRequest");
    assert_eq!(
        missing_prefix["message"],
        "the body does not appear to be a protobuf message: expected the prefix \"k8s\\0\""
    );

    let (status, _, undecodable) =
        send(&sim, "POST", path, &headers, b"k8s\0\x0a\xff".to_vec()).await;
    assert_eq!(status, 400);
    assert!(
        undecodable["message"]
            .as_str()
            .unwrap()
            .starts_with("unable to decode the protobuf envelope (runtime.Unknown): "),
        "{undecodable}"
    );

    let (status, _, mismatch) = send(
        &sim,
        "POST",
        path,
        &headers,
        protobuf_body("v1", "Secret", &config_map),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        mismatch["message"],
        "the kind in the data (Secret) does not match the expected kind (ConfigMap)"
    );

    // Custom resources have no protobuf form: 415, as on a real server.
    let (status, _, custom) = send(
        &sim,
        "POST",
        "/apis/test.kulta.io/v1/namespaces/default/widgets",
        &headers,
        protobuf_body("test.kulta.io/v1", "Widget", &config_map),
    )
    .await;
    assert_eq!(status, 415, "{custom}");
    assert_eq!(custom["reason"], "UnsupportedMediaType");

    // Nothing was stored by any of them.
    let (status, _, list) = send(&sim, "GET", path, &[], Vec::new()).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"], json!([]));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_client_accepting_only_protobuf_gets_not_acceptable() {
    let sim = quiet_sim().await;
    let (status, _, refused) = send(
        &sim,
        "GET",
        "/api/v1/namespaces/default",
        &[("Accept", PROTOBUF)],
        Vec::new(),
    )
    .await;
    assert_eq!(status, 406);
    assert_eq!(refused["reason"], "NotAcceptable");
    assert_eq!(
        refused["message"],
        "only the following media types are accepted: application/json"
    );

    let namespace = core_pb::Namespace {
        metadata: Some(metadata("team")),
        ..core_pb::Namespace::default()
    };
    let (status, _, _) = send(
        &sim,
        "POST",
        "/api/v1/namespaces",
        &[("Content-Type", PROTOBUF), ("Accept", PROTOBUF)],
        protobuf_body("v1", "Namespace", &namespace),
    )
    .await;
    assert_eq!(status, 406);
    let (status, _, absent) = send(&sim, "GET", "/api/v1/namespaces/team", &[], Vec::new()).await;
    assert_eq!(status, 404, "a refused request stores nothing: {absent}");

    let (status, content_type, served) = send(
        &sim,
        "GET",
        "/api/v1/namespaces/default",
        &[("Accept", "application/vnd.kubernetes.protobuf, */*")],
        Vec::new(),
    )
    .await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    assert_eq!(served["metadata"]["name"], "default");
    sim.shutdown().await;
}
