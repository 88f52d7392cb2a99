//! Resource verbs: get, list, watch, create, update, patch, delete and deletecollection on a
//! [`ResourcePath`], including the status and scale subresources and Table output.

use std::borrow::Cow;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, header};
use serde_json::{Value, json};

use crate::api::protobuf;
use crate::api::query::{Query, ResourcePath, parse_body};
use crate::api::server::App;
use crate::api::table;
use crate::api::{collection, scale};
use crate::api_error::{ApiError, ApiResult};
use crate::kinds::resources::{GroupResource, ResourceType};
use crate::storage::delete::{DeleteOptions, Propagation};
use crate::storage::patch::{self, PatchType};
use crate::storage::store::ObjectKey;
use crate::storage::write::{FieldValidation, Part, WriteOptions};

/// The Kubernetes verb of a resource request.
pub fn verb_of(method: &Method, path: &ResourcePath, query: &Query) -> &'static str {
    match (method.as_str(), path.name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) if query.flag("watch") => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "other",
    }
}

/// A JSON response.
pub(crate) fn json_response(code: StatusCode, body: &Value) -> Response {
    let mut response = (code, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Everything a resource handler needs about the request.
pub(crate) struct ResourceRequest<'a> {
    /// The parsed path.
    pub path: &'a ResourcePath,
    /// The resource type.
    pub resource: Arc<ResourceType>,
    /// HTTP method.
    pub method: &'a Method,
    /// Query parameters.
    pub query: &'a Query,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Request body.
    pub body: &'a [u8],
}

impl ResourceRequest<'_> {
    pub(crate) fn namespace(&self) -> &str {
        if self.resource.namespaced {
            self.path.namespace.as_deref().unwrap_or_default()
        } else {
            ""
        }
    }

    pub(crate) fn name(&self) -> &str {
        self.path.name.as_deref().unwrap_or_default()
    }

    pub(crate) fn wants_table(&self) -> bool {
        self.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(table::wants_table)
    }

    fn protobuf_body(&self) -> bool {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(protobuf::is_protobuf)
    }

    /// The object a create or update sends: its JSON body, or its protobuf body (kubectl's
    /// typed commands, Go clients) decoded into JSON when the body is `kind` at `api_version`.
    ///
    /// # Errors
    /// 400 BadRequest for a body that does not decode (or names another kind); 415 for a
    /// protobuf body of a kind without a protobuf form here (custom resources).
    pub(crate) fn object_body(&self, api_version: &str, kind: &str) -> ApiResult<Value> {
        if self.protobuf_body() {
            return Ok(protobuf::decode_object(self.body, api_version, kind)?);
        }
        parse_body(self.body, false)
    }

    pub(crate) fn write_options(&self) -> ApiResult<WriteOptions> {
        Ok(WriteOptions {
            dry_run: self.query.dry_run()?,
            field_validation: FieldValidation::parse(self.query.get("fieldValidation"))?,
            require_resource_version: false,
        })
    }

    fn part(&self) -> ApiResult<Part> {
        match self.path.subresource.as_deref() {
            None => Ok(Part::Main),
            Some("status") if self.resource.status_subresource => Ok(Part::Status),
            _ => Err(ApiError::no_route()),
        }
    }
}

/// Serves one resource request.
pub(crate) fn serve(app: &App, request: ResourceRequest<'_>) -> ApiResult<Response> {
    if !request.resource.namespaced && request.path.namespace.is_some() {
        return Err(ApiError::no_route());
    }
    if request.resource.namespaced
        && request.path.namespace.is_none()
        && request.path.name.is_some()
    {
        return Err(ApiError::no_route());
    }
    let is_scale = request.path.subresource.as_deref() == Some("scale");
    if is_scale && request.resource.scale.is_none() {
        return Err(ApiError::no_route());
    }
    match (request.method.as_str(), request.path.name.is_some()) {
        ("GET", true) if is_scale => scale::get_scale(app, &request),
        ("GET", true) => get(app, &request),
        ("GET", false) if request.query.flag("watch") => collection::start_watch(app, &request),
        ("GET", false) => collection::list(app, &request),
        ("POST", false) => create(app, &request),
        ("PUT", true) if is_scale => scale::update_scale(app, &request, None),
        ("PUT", true) => update(app, &request),
        ("PATCH", true) if is_scale => {
            let patch_type = patch_type(&request)?;
            scale::update_scale(app, &request, Some(patch_type))
        }
        ("PATCH", true) => patch_object(app, &request),
        ("DELETE", true) => delete(app, &request),
        ("DELETE", false) => collection::delete_collection(app, &request),
        (method, _) => Err(ApiError::method_not_allowed(
            method,
            &request.resource.plural,
        )),
    }
}

pub(crate) fn with_version(resource: &ResourceType, object: &Value) -> Value {
    let mut copy = object.clone();
    copy["apiVersion"] = Value::String(resource.api_version());
    copy
}

/// The object at the request's version, cloned only when its stored apiVersion differs.
pub(crate) fn at_version<'a>(resource: &ResourceType, object: &'a Value) -> Cow<'a, Value> {
    if object["apiVersion"].as_str() == Some(resource.api_version().as_str()) {
        Cow::Borrowed(object)
    } else {
        Cow::Owned(with_version(resource, object))
    }
}

pub(crate) fn raw_json_response(code: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (code, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

pub(crate) fn respond_object(
    request: &ResourceRequest<'_>,
    code: StatusCode,
    object: &Value,
) -> Response {
    let object = at_version(&request.resource, object);
    if request.wants_table() {
        let full = request.query.get("includeObject") == Some("Object");
        let rendered = table::to_table(
            &request.resource,
            std::slice::from_ref(object.as_ref()),
            json!({"resourceVersion": object["metadata"]["resourceVersion"]}),
            full,
        );
        return json_response(code, &rendered);
    }
    raw_json_response(
        code,
        serde_json::to_vec(object.as_ref()).unwrap_or_default(),
    )
}

fn get(app: &App, request: &ResourceRequest<'_>) -> ApiResult<Response> {
    let _ = request.part()?;
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
    Ok(respond_object(request, StatusCode::OK, &object))
}

fn check_type_meta(resource: &ResourceType, object: &Value) -> ApiResult<()> {
    if let Some(api_version) = object["apiVersion"].as_str()
        && !api_version.is_empty()
        && api_version != resource.api_version()
    {
        let same_group = match api_version.rsplit_once('/') {
            Some((group, _)) => group == resource.group,
            None => resource.group.is_empty(),
        };
        if !same_group {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({})",
                resource.api_version()
            )));
        }
    }
    if let Some(kind) = object["kind"].as_str()
        && !kind.is_empty()
        && kind != resource.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            resource.kind
        )));
    }
    Ok(())
}

fn create(app: &App, request: &ResourceRequest<'_>) -> ApiResult<Response> {
    if request.path.subresource.is_some() {
        return Err(ApiError::method_not_allowed(
            "POST",
            &request.resource.plural,
        ));
    }
    if request.resource.namespaced && request.path.namespace.is_none() {
        return Err(ApiError::no_route());
    }
    let object = request.object_body(&request.resource.api_version(), &request.resource.kind)?;
    check_type_meta(&request.resource, &object)?;
    let options = request.write_options()?;
    let created =
        app.store
            .lock()
            .create(&request.resource, request.namespace(), object, options)?;
    Ok(respond_object(request, StatusCode::CREATED, &created))
}

fn update(app: &App, request: &ResourceRequest<'_>) -> ApiResult<Response> {
    let part = request.part()?;
    let object = request.object_body(&request.resource.api_version(), &request.resource.kind)?;
    check_type_meta(&request.resource, &object)?;
    let options = WriteOptions {
        require_resource_version: request.resource.custom,
        ..request.write_options()?
    };
    let updated = app.store.lock().update(
        &request.resource,
        request.namespace(),
        request.name(),
        object,
        part,
        options,
    )?;
    Ok(respond_object(request, StatusCode::OK, &updated))
}

const PATCH_TYPES_CUSTOM: &str =
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";
const PATCH_TYPES_BUILTIN: &str = "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml";

pub(crate) fn patch_type(request: &ResourceRequest<'_>) -> ApiResult<PatchType> {
    let accepted = if request.resource.custom {
        PATCH_TYPES_CUSTOM
    } else {
        PATCH_TYPES_BUILTIN
    };
    let content_type = request
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match PatchType::from_content_type(content_type) {
        Some(PatchType::StrategicMerge) if request.resource.custom => {
            Err(ApiError::unsupported_media_type(accepted))
        }
        Some(patch_type) => Ok(patch_type),
        None => Err(ApiError::unsupported_media_type(accepted)),
    }
}

pub(crate) fn apply_patch_to(
    patch_type: PatchType,
    resource: &ResourceType,
    target: &mut Value,
    patch_body: &Value,
) -> ApiResult<()> {
    match patch_type {
        PatchType::Merge => {
            if !patch_body.is_object() {
                return Err(ApiError::bad_request(
                    "the merge patch must be a JSON object",
                ));
            }
            patch::merge_patch(target, patch_body);
        }
        PatchType::Json => patch::json_patch(target, patch_body)?,
        PatchType::StrategicMerge => {
            if !patch_body.is_object() {
                return Err(ApiError::bad_request(
                    "the strategic merge patch must be a JSON object",
                ));
            }
            patch::strategic_merge_patch(target, patch_body);
        }
        PatchType::Apply => {
            if !patch_body.is_object() {
                return Err(ApiError::bad_request(
                    "the applied configuration must be an object",
                ));
            }
            let mut applied = patch_body.clone();
            if let Some(metadata) = applied["metadata"].as_object_mut() {
                metadata.remove("managedFields");
            }
            patch::apply_merge(target, &applied, !resource.custom);
        }
    }
    Ok(())
}

fn patch_object(app: &App, request: &ResourceRequest<'_>) -> ApiResult<Response> {
    let part = request.part()?;
    let patch_type = patch_type(request)?;
    let patch_body = parse_body(request.body, patch_type == PatchType::Apply)?;
    let options = request.write_options()?;
    if patch_type == PatchType::Apply {
        if request.query.non_empty("fieldManager").is_none() {
            return Err(ApiError::invalid_kind(
                "meta.k8s.io",
                "PatchOptions",
                "",
                &[crate::kinds::schema::FieldViolation {
                    field: "fieldManager".into(),
                    reason: crate::kinds::schema::ViolationReason::Required,
                    message: "Required value: is required for apply patch".into(),
                }],
            ));
        }
        check_type_meta(&request.resource, &patch_body)?;
        if patch_body["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
            || patch_body["kind"].as_str().unwrap_or_default().is_empty()
        {
            return Err(ApiError::bad_request(
                "invalid object type: apiVersion and kind must be set in an applied configuration",
            ));
        }
    }
    let manager = request.query.get("fieldManager").unwrap_or_default();
    let group_resource = request.resource.group_resource();
    let mut inner = app.store.lock();
    let Some(current) = inner.get(&group_resource, request.namespace(), request.name()) else {
        if patch_type == PatchType::Apply && part == Part::Main {
            let mut object = patch_body;
            if !object["metadata"].is_object() {
                object["metadata"] = json!({});
            }
            object["metadata"]["name"] = Value::String(request.name().to_string());
            let applied = object.clone();
            let created = inner.create(&request.resource, request.namespace(), object, options)?;
            if !options.dry_run {
                let key = object_key(&group_resource, &created);
                inner.applied.record(key, manager, part, &applied);
            }
            drop(inner);
            return Ok(respond_object(request, StatusCode::CREATED, &created));
        }
        return Err(ApiError::not_found(
            &request.resource.group,
            &request.resource.plural,
            request.name(),
        ));
    };
    let mut target = with_version(&request.resource, &current);
    if patch_type == PatchType::Apply {
        let key = object_key(&group_resource, &current);
        inner
            .applied
            .release_dropped_fields(&key, manager, part, &patch_body, &mut target);
    }
    apply_patch_to(patch_type, &request.resource, &mut target, &patch_body)?;
    let updated = inner.update(
        &request.resource,
        request.namespace(),
        request.name(),
        target,
        part,
        options,
    )?;
    if patch_type == PatchType::Apply && !options.dry_run {
        let key = object_key(&group_resource, &updated);
        inner.applied.record(key, manager, part, &patch_body);
    }
    drop(inner);
    Ok(respond_object(request, StatusCode::OK, &updated))
}

fn object_key(group_resource: &GroupResource, object: &Value) -> (GroupResource, ObjectKey) {
    let metadata = &object["metadata"];
    (
        group_resource.clone(),
        (
            metadata["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            metadata["name"].as_str().unwrap_or_default().to_string(),
        ),
    )
}

pub(crate) fn delete_options(request: &ResourceRequest<'_>) -> ApiResult<DeleteOptions> {
    let body = if request.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else if request.protobuf_body() {
        protobuf::decode_delete_options(request.body)?
    } else {
        parse_body(request.body, false)?
    };
    let policy = request
        .query
        .non_empty("propagationPolicy")
        .map(str::to_string)
        .or_else(|| body["propagationPolicy"].as_str().map(str::to_string));
    let orphan = body["orphanDependents"]
        .as_bool()
        .or_else(|| request.query.get("orphanDependents").map(|v| v == "true"));
    let propagation = match (policy.as_deref(), orphan) {
        (Some("Background"), _) => Some(Propagation::Background),
        (Some("Foreground"), _) => Some(Propagation::Foreground),
        (Some("Orphan"), _) => Some(Propagation::Orphan),
        (Some(other), _) => {
            return Err(ApiError::unprocessable(format!(
                "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
            )));
        }
        (None, Some(true)) => Some(Propagation::Orphan),
        (None, _) => None,
    };
    let dry_run = request.query.dry_run()?
        || body["dryRun"]
            .as_array()
            .is_some_and(|values| values.iter().any(|v| v == "All"));
    Ok(DeleteOptions {
        propagation,
        precondition_uid: body["preconditions"]["uid"].as_str().map(str::to_string),
        precondition_resource_version: body["preconditions"]["resourceVersion"]
            .as_str()
            .map(str::to_string),
        dry_run,
    })
}

fn delete(app: &App, request: &ResourceRequest<'_>) -> ApiResult<Response> {
    if request.path.subresource.is_some() {
        return Err(ApiError::method_not_allowed(
            "DELETE",
            &request.resource.plural,
        ));
    }
    let options = delete_options(request)?;
    let outcome = app.store.lock().delete(
        &request.resource,
        request.namespace(),
        request.name(),
        &options,
    )?;
    let body = outcome.body();
    if body["kind"] == "Status" {
        return Ok(json_response(StatusCode::OK, &body));
    }
    Ok(json_response(
        StatusCode::OK,
        &with_version(&request.resource, &body),
    ))
}
