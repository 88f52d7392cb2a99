//! The scale subresource (`autoscaling/v1` Scale) of ReplicaSets, Deployments and custom
//! resources that declare one.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use crate::api::handlers::{ResourceRequest, apply_patch_to, json_response};
use crate::api::jsonpath;
use crate::api::query::parse_body;
use crate::api::server::App;
use crate::api_error::{ApiError, ApiResult};
use crate::kinds::resources::ResourceType;
use crate::kinds::schema::{FieldViolation, ViolationReason, go_value};
use crate::storage::patch::PatchType;
use crate::storage::write::Part;

/// The scale subresource's check of the desired replicas, as kube-apiserver makes it on every
/// write of a custom resource with one (`ValidateScaleSpec`): a whole number from 0 to 2^31-1,
/// reported at the `specReplicasPath` as the CRD spells it (leading dot included). A value of
/// another type fails the server's accessor (`unstructured.NestedInt64`), which says so with
/// the value as Go prints it, while the desired replicas read as 0.
pub(crate) fn spec_violations(resource: &ResourceType, object: &Value) -> Vec<FieldViolation> {
    let Some(scale) = &resource.scale else {
        return Vec::new();
    };
    let fields: Vec<&str> = scale
        .spec_replicas_path
        .trim_start_matches('.')
        .split('.')
        .collect();
    let violation = |replicas: i64, message: String| {
        vec![FieldViolation {
            field: scale.spec_replicas_path.clone(),
            reason: ViolationReason::Invalid,
            message: format!("Invalid value: {replicas}: {message}"),
        }]
    };
    let mut node = object;
    for (index, field) in fields.iter().enumerate() {
        let Some(map) = node.as_object() else {
            // Go's accessor treats a null on the way as absent.
            if node.is_null() {
                return Vec::new();
            }
            let (shown, type_name) = go_value(node);
            let path = format!(".{}", fields[..=index].join("."));
            return violation(
                0,
                format!(
                    "{path} accessor error: {shown} is of the type {type_name}, expected map[string]interface{{}}"
                ),
            );
        };
        match map.get(*field) {
            Some(next) => node = next,
            None => return Vec::new(),
        }
    }
    let Some(replicas) = node.as_i64() else {
        // A null was dropped before validation (not nullable, no default): nothing to read.
        if node.is_null() {
            return Vec::new();
        }
        let (shown, type_name) = go_value(node);
        let path = format!(".{}", fields.join("."));
        return violation(
            0,
            format!("{path} accessor error: {shown} is of the type {type_name}, expected int64"),
        );
    };
    if replicas < 0 {
        violation(replicas, "should be a non-negative integer".to_string())
    } else if replicas > i64::from(i32::MAX) {
        violation(
            replicas,
            format!("should be less than or equal to {}", i32::MAX),
        )
    } else {
        Vec::new()
    }
}

fn selector_string(object: &Value) -> String {
    let selector = &object["spec"]["selector"];
    let mut parts: Vec<String> = selector["matchLabels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    if let Some(expressions) = selector["matchExpressions"].as_array() {
        for expression in expressions {
            let key = expression["key"].as_str().unwrap_or_default();
            let values: Vec<&str> = expression["values"]
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match expression["operator"].as_str().unwrap_or_default() {
                "In" => parts.push(format!("{key} in ({})", values.join(","))),
                "NotIn" => parts.push(format!("{key} notin ({})", values.join(","))),
                "Exists" => parts.push(key.to_string()),
                "DoesNotExist" => parts.push(format!("!{key}")),
                _ => {}
            }
        }
    }
    parts.join(",")
}

fn scale_of(resource: &ResourceType, object: &Value) -> Value {
    let Some(spec) = &resource.scale else {
        return Value::Null;
    };
    let replicas = jsonpath::evaluate(object, &spec.spec_replicas_path)
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let status_replicas = jsonpath::evaluate(object, &spec.status_replicas_path)
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let mut status = json!({"replicas": status_replicas});
    if spec.selector_from_spec {
        status["selector"] = Value::String(selector_string(object));
    } else if let Some(path) = &spec.label_selector_path
        && let Some(selector) = jsonpath::evaluate(object, path).and_then(Value::as_str)
    {
        status["selector"] = Value::String(selector.to_string());
    }
    let metadata = &object["metadata"];
    let mut scale_metadata = json!({
        "name": metadata["name"],
        "uid": metadata["uid"],
        "resourceVersion": metadata["resourceVersion"],
        "creationTimestamp": metadata["creationTimestamp"],
    });
    if let Some(namespace) = metadata.get("namespace") {
        scale_metadata["namespace"] = namespace.clone();
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_metadata,
        "spec": {"replicas": replicas},
        "status": status,
    })
}

pub(crate) fn get_scale(app: &App, request: &ResourceRequest<'_>) -> ApiResult<Response> {
    let object = app
        .store
        .lock()
        .get(
            &request.resource.group_resource(),
            request.namespace(),
            request.name(),
        )
        .ok_or_else(|| {
            ApiError::not_found(
                &request.resource.group,
                &request.resource.plural,
                request.name(),
            )
        })?;
    Ok(json_response(
        StatusCode::OK,
        &scale_of(&request.resource, &object),
    ))
}

pub(crate) fn update_scale(
    app: &App,
    request: &ResourceRequest<'_>,
    patch_type: Option<PatchType>,
) -> ApiResult<Response> {
    let body = match patch_type {
        None => request.object_body("autoscaling/v1", "Scale")?,
        Some(patch_type) => parse_body(request.body, patch_type == PatchType::Apply)?,
    };
    let options = request.write_options()?;
    let Some(spec) = request.resource.scale.clone() else {
        return Err(ApiError::no_route());
    };
    let mut inner = app.store.lock();
    let current = inner
        .get(
            &request.resource.group_resource(),
            request.namespace(),
            request.name(),
        )
        .ok_or_else(|| {
            ApiError::not_found(
                &request.resource.group,
                &request.resource.plural,
                request.name(),
            )
        })?;
    let mut scale = scale_of(&request.resource, &current);
    match patch_type {
        None => scale = body,
        Some(patch_type) => apply_patch_to(patch_type, &request.resource, &mut scale, &body)?,
    }
    let replicas = scale["spec"]["replicas"].as_i64().ok_or_else(|| {
        ApiError::invalid_kind(
            "autoscaling",
            "Scale",
            request.name(),
            &[crate::kinds::schema::FieldViolation {
                field: "spec.replicas".into(),
                reason: crate::kinds::schema::ViolationReason::Invalid,
                message: "Invalid value: null: must be an integer".into(),
            }],
        )
    })?;
    if replicas < 0 {
        return Err(ApiError::invalid_kind(
            "autoscaling",
            "Scale",
            request.name(),
            &[crate::kinds::schema::FieldViolation {
                field: "spec.replicas".into(),
                reason: crate::kinds::schema::ViolationReason::Invalid,
                message: format!("Invalid value: {replicas}: must be greater than or equal to 0"),
            }],
        ));
    }
    let mut next = (*current).clone();
    if let Some(rv) = scale["metadata"]["resourceVersion"].as_str() {
        next["metadata"]["resourceVersion"] = Value::String(rv.to_string());
    }
    jsonpath::set(&mut next, &spec.spec_replicas_path, json!(replicas));
    let updated = inner.update(
        &request.resource,
        request.namespace(),
        request.name(),
        next,
        Part::Main,
        options,
    )?;
    drop(inner);
    Ok(json_response(
        StatusCode::OK,
        &scale_of(&request.resource, &updated),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::resources::builtin_resources;

    fn with_scale() -> ResourceType {
        builtin_resources()
            .into_iter()
            .find(|resource| resource.kind == "ReplicaSet")
            .expect("ReplicaSets have a scale subresource")
    }

    fn messages(object: Value) -> Vec<(String, String)> {
        spec_violations(&with_scale(), &object)
            .into_iter()
            .map(|violation| (violation.field, violation.message))
            .collect()
    }

    #[test]
    fn desired_replicas_are_a_whole_number_in_range() {
        assert!(messages(json!({"spec": {"replicas": 3}})).is_empty());
        assert!(messages(json!({"spec": {}})).is_empty());
        assert_eq!(
            messages(json!({"spec": {"replicas": -1}})),
            [(
                ".spec.replicas".to_string(),
                "Invalid value: -1: should be a non-negative integer".to_string()
            )]
        );
        assert_eq!(
            messages(json!({"spec": {"replicas": 2_147_483_648_i64}}))[0].1,
            "Invalid value: 2147483648: should be less than or equal to 2147483647"
        );
    }

    #[test]
    fn ill_typed_replicas_fail_the_accessor_as_go_words_it() {
        assert_eq!(
            messages(json!({"spec": {"replicas": "three"}})),
            [(
                ".spec.replicas".to_string(),
                "Invalid value: 0: .spec.replicas accessor error: three is of the type string, expected int64".to_string()
            )]
        );
        assert_eq!(
            messages(json!({"spec": {"replicas": 1.5}}))[0].1,
            "Invalid value: 0: .spec.replicas accessor error: 1.5 is of the type float64, expected int64"
        );
        assert_eq!(
            messages(json!({"spec": "x"}))[0].1,
            "Invalid value: 0: .spec.replicas accessor error: x is of the type string, expected map[string]interface{}"
        );
        assert!(messages(json!({"spec": {"replicas": null}})).is_empty());
    }
}
