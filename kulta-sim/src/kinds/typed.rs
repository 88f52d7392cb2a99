//! Decoding of built-in kinds through their k8s-openapi types, the way the real API server
//! decodes into Go structs: unknown fields are dropped (or refused with
//! `fieldValidation=Strict`), and ill-typed values are refused with 400.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api_error::{ApiError, ApiResult};
use crate::kinds::resources::ResourceType;
use crate::storage::write::FieldValidation;

fn round_trip<T: DeserializeOwned + Serialize>(object: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(object.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

fn decode(resource: &ResourceType, object: &Value) -> Option<Result<Value, String>> {
    use k8s_openapi::api::{apps, coordination, core, events, policy, rbac};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    Some(match (resource.group.as_str(), resource.kind.as_str()) {
        ("", "Namespace") => round_trip::<core::v1::Namespace>(object),
        ("", "Service") => round_trip::<core::v1::Service>(object),
        ("", "Pod") => round_trip::<core::v1::Pod>(object),
        ("", "ConfigMap") => round_trip::<core::v1::ConfigMap>(object),
        ("", "Secret") => round_trip::<core::v1::Secret>(object),
        ("", "ServiceAccount") => round_trip::<core::v1::ServiceAccount>(object),
        ("", "Event") => round_trip::<core::v1::Event>(object),
        ("events.k8s.io", "Event") => round_trip::<events::v1::Event>(object),
        ("apps", "ReplicaSet") => round_trip::<apps::v1::ReplicaSet>(object),
        ("apps", "Deployment") => round_trip::<apps::v1::Deployment>(object),
        ("coordination.k8s.io", "Lease") => round_trip::<coordination::v1::Lease>(object),
        ("rbac.authorization.k8s.io", "Role") => round_trip::<rbac::v1::Role>(object),
        ("rbac.authorization.k8s.io", "RoleBinding") => round_trip::<rbac::v1::RoleBinding>(object),
        ("rbac.authorization.k8s.io", "ClusterRole") => round_trip::<rbac::v1::ClusterRole>(object),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            round_trip::<rbac::v1::ClusterRoleBinding>(object)
        }
        ("policy", "PodDisruptionBudget") => round_trip::<policy::v1::PodDisruptionBudget>(object),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            round_trip::<apiextensions::CustomResourceDefinition>(object)
        }
        _ => return None,
    })
}

/// Paths of `before` missing from `after`, skipping values that were `null`.
fn dropped_paths(before: &Value, after: &Value, prefix: &str, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (key, value) in b {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                match a.get(key) {
                    None if !value.is_null() => out.push(path),
                    None => {}
                    Some(next) => dropped_paths(value, next, &path, out),
                }
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            for (index, (value, next)) in b.iter().zip(a.iter()).enumerate() {
                dropped_paths(value, next, &format!("{prefix}[{index}]"), out);
            }
        }
        _ => {}
    }
}

/// Decodes a built-in object through its typed form, replacing it with the decoded form.
///
/// # Errors
/// 400 BadRequest for an ill-typed value, or for unknown fields with `Strict`.
pub(crate) fn decode_builtin(
    resource: &ResourceType,
    object: &mut Value,
    validation: FieldValidation,
) -> ApiResult<()> {
    let cannot = |detail: String| {
        ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {detail}",
            kind = resource.kind,
            version = resource.version
        ))
    };
    let Some(decoded) = decode(resource, object) else {
        return Ok(());
    };
    let decoded = decoded.map_err(cannot)?;
    if validation == FieldValidation::Strict {
        let mut unknown = Vec::new();
        dropped_paths(object, &decoded, "", &mut unknown);
        if !unknown.is_empty() {
            let list: Vec<String> = unknown
                .iter()
                .map(|p| format!("unknown field \"{p}\""))
                .collect();
            return Err(cannot(format!(
                "strict decoding error: {}",
                list.join(", ")
            )));
        }
    }
    *object = decoded;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::resources::builtin_resources;
    use serde_json::json;

    fn deployment() -> ResourceType {
        builtin_resources()
            .into_iter()
            .find(|r| r.kind == "Deployment")
            .unwrap()
    }

    #[test]
    fn unknown_fields_are_dropped_or_refused() {
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"},
            "spec": {"selector": {}, "template": {}, "replicaz": 3}});
        let mut lenient = object.clone();
        decode_builtin(&deployment(), &mut lenient, FieldValidation::Warn).unwrap();
        assert!(lenient["spec"].get("replicaz").is_none());
        let mut strict = object.clone();
        let error =
            decode_builtin(&deployment(), &mut strict, FieldValidation::Strict).unwrap_err();
        assert_eq!(error.code, 400);
        assert!(
            error.message.contains("unknown field \"spec.replicaz\""),
            "{}",
            error.message
        );
    }

    #[test]
    fn ill_typed_values_are_refused() {
        let mut object = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"},
            "spec": {"replicas": "three", "selector": {}, "template": {}}});
        let error =
            decode_builtin(&deployment(), &mut object, FieldValidation::Ignore).unwrap_err();
        assert_eq!(error.code, 400);
    }
}
