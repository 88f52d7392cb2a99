//! The scale subresource (`autoscaling/v1` Scale) of ReplicaSets, Deployments and custom
//! resources that declare one.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use crate::handlers::{ResourceRequest, apply_patch_to, json_response};
use crate::jsonpath;
use crate::patch::PatchType;
use crate::query::parse_body;
use crate::resources::ResourceType;
use crate::server::App;
use crate::status::{ApiError, ApiResult};
use crate::write::Part;

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
            &[crate::schema::FieldViolation {
                field: "spec.replicas".into(),
                reason: crate::schema::ViolationReason::Invalid,
                message: "Invalid value: null: must be an integer".into(),
            }],
        )
    })?;
    if replicas < 0 {
        return Err(ApiError::invalid_kind(
            "autoscaling",
            "Scale",
            request.name(),
            &[crate::schema::FieldViolation {
                field: "spec.replicas".into(),
                reason: crate::schema::ViolationReason::Invalid,
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
