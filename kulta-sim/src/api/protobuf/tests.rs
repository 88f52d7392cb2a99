use std::collections::BTreeMap;

use k8s_pb::api::core::v1 as core_pb;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta_pb;
use k8s_pb::apimachinery::pkg::runtime::TypeMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::samples::Sample;
use super::*;

/// A protobuf body as kube-apiserver reads it: the prefix, then the envelope around `message`.
fn body(api_version: &str, kind: &str, message: &impl Message) -> Vec<u8> {
    let envelope = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.to_string()),
            kind: Some(kind.to_string()),
        }),
        raw: Some(message.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut body = MAGIC.to_vec();
    body.extend(envelope.encode_to_vec());
    body
}

/// `ObjectMeta` as Go writes it: every plain field, set or not, and an empty creation time.
fn go_object_meta(name: &str) -> meta_pb::ObjectMeta {
    meta_pb::ObjectMeta {
        name: Some(name.to_string()),
        generate_name: Some(String::new()),
        namespace: Some(String::new()),
        self_link: Some(String::new()),
        uid: Some(String::new()),
        resource_version: Some(String::new()),
        generation: Some(0),
        creation_timestamp: Some(meta_pb::Time::default()),
        ..meta_pb::ObjectMeta::default()
    }
}

#[test]
fn decodes_a_config_map_as_kubectl_sends_it() {
    let config_map = core_pb::ConfigMap {
        metadata: Some(go_object_meta("settings")),
        immutable: None,
        data: BTreeMap::from([("mode".to_string(), "fast".to_string())]),
        binary_data: BTreeMap::from([("blob".to_string(), vec![0, 1, 2])]),
    };
    let object = decode_object(&body("v1", "ConfigMap", &config_map), "v1", "ConfigMap").unwrap();
    assert_eq!(
        object,
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings"},
            "data": {"mode": "fast"},
            "binaryData": {"blob": "AAEC"},
        })
    );
}

#[test]
fn zero_values_follow_the_go_field_types() {
    let deployment = api::apps::v1::Deployment {
        metadata: Some(go_object_meta("web")),
        spec: Some(api::apps::v1::DeploymentSpec {
            // `*int32`: an explicit zero is kept.
            replicas: Some(0),
            // `int32` with omitempty: zero is left out.
            min_ready_seconds: Some(0),
            // `bool` with omitempty.
            paused: Some(false),
            // A struct: written even when empty.
            strategy: Some(api::apps::v1::DeploymentStrategy::default()),
            template: Some(core_pb::PodTemplateSpec {
                metadata: Some(meta_pb::ObjectMeta {
                    labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
                    ..go_object_meta("")
                }),
                spec: Some(core_pb::PodSpec {
                    containers: vec![core_pb::Container {
                        name: Some("nginx".to_string()),
                        image: Some("nginx".to_string()),
                        image_pull_policy: Some(String::new()),
                        resources: Some(core_pb::ResourceRequirements::default()),
                        ..core_pb::Container::default()
                    }],
                    ..core_pb::PodSpec::default()
                }),
            }),
            ..api::apps::v1::DeploymentSpec::default()
        }),
        status: Some(api::apps::v1::DeploymentStatus {
            replicas: Some(0),
            ..api::apps::v1::DeploymentStatus::default()
        }),
    };
    let object = decode_object(
        &body("apps/v1", "Deployment", &deployment),
        "apps/v1",
        "Deployment",
    )
    .unwrap();
    assert_eq!(
        object,
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 0,
                "strategy": {},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]},
                },
            },
            "status": {},
        })
    );
}

#[test]
fn inline_structs_join_their_parent() {
    let selector = core_pb::ConfigMapKeySelector {
        local_object_reference: Some(core_pb::LocalObjectReference {
            name: Some("settings".to_string()),
        }),
        key: Some("mode".to_string()),
        optional: Some(false),
    };
    assert_eq!(
        selector.to_json().unwrap(),
        Some(json!({"name": "settings", "key": "mode", "optional": false}))
    );
}

#[test]
fn an_empty_envelope_type_means_the_expected_kind() {
    let namespace = core_pb::Namespace {
        metadata: Some(go_object_meta("team")),
        ..core_pb::Namespace::default()
    };
    let object = decode_object(&body("", "", &namespace), "v1", "Namespace").unwrap();
    assert_eq!(
        object,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    );
}

#[test]
fn malformed_bodies_are_bad_requests_that_say_why() {
    let config_map = core_pb::ConfigMap {
        metadata: Some(go_object_meta("x")),
        ..core_pb::ConfigMap::default()
    };
    let error = |body: &[u8], api_version: &str, kind: &str| -> ApiError {
        decode_object(body, api_version, kind).unwrap_err().into()
    };

    let missing_magic = error(b"{\"kind\":\"ConfigMap\"}", "v1", "ConfigMap");
    assert_eq!(
        (missing_magic.code, missing_magic.reason),
        (400, "BadRequest")
    );
    assert!(
        missing_magic.message.contains("prefix"),
        "{missing_magic:?}"
    );

    let envelope = error(b"k8s\0\xff\xff\xff", "v1", "ConfigMap");
    assert_eq!(envelope.code, 400);
    assert!(
        envelope
            .message
            .starts_with("unable to decode the protobuf envelope (runtime.Unknown): "),
        "{envelope:?}"
    );

    let mut garbage = body("v1", "ConfigMap", &config_map);
    let envelope = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some("v1".into()),
            kind: Some("ConfigMap".into()),
        }),
        raw: Some(vec![0x0a, 0x05, 0x01]),
        ..Unknown::default()
    };
    garbage.truncate(MAGIC.len());
    garbage.extend(envelope.encode_to_vec());
    let message = error(&garbage, "v1", "ConfigMap");
    assert_eq!(message.code, 400);
    assert!(
        message
            .message
            .starts_with("unable to decode the protobuf body as v1 ConfigMap: "),
        "{message:?}"
    );

    let kind = error(&body("v1", "Secret", &config_map), "v1", "ConfigMap");
    assert_eq!(
        (kind.code, kind.message.as_str()),
        (
            400,
            "the kind in the data (Secret) does not match the expected kind (ConfigMap)"
        )
    );

    let version = error(&body("v2", "ConfigMap", &config_map), "v1", "ConfigMap");
    assert_eq!(
        (version.code, version.message.as_str()),
        (
            400,
            "the API version in the data (v2) does not match the expected API version (v1)"
        )
    );

    let time = core_pb::Event {
        metadata: Some(go_object_meta("e")),
        first_timestamp: Some(meta_pb::Time {
            seconds: Some(i64::MAX),
            nanos: None,
        }),
        ..core_pb::Event::default()
    };
    let convert = error(&body("v1", "Event", &time), "v1", "Event");
    assert_eq!(convert.code, 400);
    assert!(
        convert
            .message
            .starts_with("unable to convert the protobuf Event to JSON: firstTimestamp: "),
        "{convert:?}"
    );
}

#[test]
fn kinds_without_protobuf_are_unsupported_media() {
    let error: ApiError = decode_object(b"k8s\0", "test.kulta.io/v1", "Widget")
        .unwrap_err()
        .into();
    assert_eq!((error.code, error.reason), (415, "UnsupportedMediaType"));
    assert!(!supports(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition"
    ));
    assert!(supports("apps/v1", "Deployment"));
}

#[test]
fn decodes_delete_options_of_any_group() {
    let options = meta_pb::DeleteOptions {
        grace_period_seconds: Some(0),
        preconditions: Some(meta_pb::Preconditions {
            uid: Some("u-1".to_string()),
            resource_version: None,
        }),
        propagation_policy: Some("Foreground".to_string()),
        dry_run: vec!["All".to_string()],
        ..meta_pb::DeleteOptions::default()
    };
    let decoded = decode_delete_options(&body("apps/v1", "DeleteOptions", &options)).unwrap();
    assert_eq!(
        decoded,
        json!({
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": "u-1"},
            "propagationPolicy": "Foreground",
            "dryRun": ["All"],
        })
    );
    let error: ApiError = decode_delete_options(&body("v1", "Pod", &options))
        .unwrap_err()
        .into();
    assert_eq!(error.code, 400);
}

/// Decodes a sample of `P` with every field set and checks that k8s-openapi's `O` keeps all
/// of it: a misspelt JSON name, a wrong nesting or a wrong JSON type would be dropped or
/// refused there.
fn check_against_k8s_openapi<P, O>(api_version: &str, kind: &str)
where
    P: Sample + Message,
    O: DeserializeOwned + Serialize,
{
    let decoded = decode_object(&body(api_version, kind, &P::sample()), api_version, kind)
        .unwrap_or_else(|error| panic!("{api_version} {kind}: {error}"));
    let typed: O = serde_json::from_value(decoded.clone())
        .unwrap_or_else(|error| panic!("{api_version} {kind}: {error}"));
    let round_trip = serde_json::to_value(typed).unwrap();
    let mut differences = Vec::new();
    differ(&decoded, &round_trip, String::new(), &mut differences);
    assert!(
        differences.is_empty(),
        "{api_version} {kind}: k8s-openapi reads back differently at {differences:?}"
    );
}

/// The paths where `left` and `right` differ.
fn differ(left: &Value, right: &Value, path: String, out: &mut Vec<String>) {
    match (left, right) {
        (Value::Object(left), Value::Object(right)) => {
            for key in left
                .keys()
                .chain(right.keys().filter(|key| !left.contains_key(*key)))
            {
                let inner = format!("{path}.{key}");
                match (left.get(key), right.get(key)) {
                    (Some(left), Some(right)) => differ(left, right, inner, out),
                    _ => out.push(inner),
                }
            }
        }
        (Value::Array(left), Value::Array(right)) if left.len() == right.len() => {
            for (index, (left, right)) in left.iter().zip(right).enumerate() {
                differ(left, right, format!("{path}[{index}]"), out);
            }
        }
        _ if left != right => out.push(path),
        _ => {}
    }
}

#[test]
fn every_field_of_every_kind_reads_back_through_k8s_openapi() {
    use k8s_openapi::api as openapi;
    check_against_k8s_openapi::<core_pb::ConfigMap, openapi::core::v1::ConfigMap>(
        "v1",
        "ConfigMap",
    );
    check_against_k8s_openapi::<core_pb::Event, openapi::core::v1::Event>("v1", "Event");
    check_against_k8s_openapi::<core_pb::Namespace, openapi::core::v1::Namespace>(
        "v1",
        "Namespace",
    );
    check_against_k8s_openapi::<core_pb::Pod, openapi::core::v1::Pod>("v1", "Pod");
    check_against_k8s_openapi::<core_pb::Secret, openapi::core::v1::Secret>("v1", "Secret");
    check_against_k8s_openapi::<core_pb::Service, openapi::core::v1::Service>("v1", "Service");
    check_against_k8s_openapi::<core_pb::ServiceAccount, openapi::core::v1::ServiceAccount>(
        "v1",
        "ServiceAccount",
    );
    check_against_k8s_openapi::<api::apps::v1::Deployment, openapi::apps::v1::Deployment>(
        "apps/v1",
        "Deployment",
    );
    check_against_k8s_openapi::<api::apps::v1::ReplicaSet, openapi::apps::v1::ReplicaSet>(
        "apps/v1",
        "ReplicaSet",
    );
    check_against_k8s_openapi::<api::coordination::v1::Lease, openapi::coordination::v1::Lease>(
        "coordination.k8s.io/v1",
        "Lease",
    );
    check_against_k8s_openapi::<api::events::v1::Event, openapi::events::v1::Event>(
        "events.k8s.io/v1",
        "Event",
    );
    check_against_k8s_openapi::<
        api::policy::v1::PodDisruptionBudget,
        openapi::policy::v1::PodDisruptionBudget,
    >("policy/v1", "PodDisruptionBudget");
    check_against_k8s_openapi::<api::rbac::v1::ClusterRole, openapi::rbac::v1::ClusterRole>(
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
    );
    check_against_k8s_openapi::<
        api::rbac::v1::ClusterRoleBinding,
        openapi::rbac::v1::ClusterRoleBinding,
    >("rbac.authorization.k8s.io/v1", "ClusterRoleBinding");
    check_against_k8s_openapi::<api::rbac::v1::Role, openapi::rbac::v1::Role>(
        "rbac.authorization.k8s.io/v1",
        "Role",
    );
    check_against_k8s_openapi::<api::rbac::v1::RoleBinding, openapi::rbac::v1::RoleBinding>(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
    );
    check_against_k8s_openapi::<Scale, openapi::autoscaling::v1::Scale>("autoscaling/v1", "Scale");
    assert_eq!(KINDS.len(), 17, "a kind was added: check it here too");

    let options =
        decode_delete_options(&body("v1", "DeleteOptions", &DeleteOptions::sample())).unwrap();
    let typed: k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions =
        serde_json::from_value(options.clone()).unwrap();
    assert_eq!(serde_json::to_value(typed).unwrap(), options);
}
