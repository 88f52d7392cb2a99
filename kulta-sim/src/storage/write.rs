//! Create, update and delete with the API server's rules: system metadata, generation, no-op
//! detection, status-subresource isolation, custom-resource schema checks, CRD registration and
//! finalizers. Runs with the store lock held; garbage collection lives in [`crate::storage::gc`].

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::api::scale;
use crate::api_error::{ApiError, ApiResult};
use crate::kinds::resources::{GroupResource, ResourceType};
use crate::kinds::schema::{self, FieldViolation, ViolationReason};
use crate::kinds::{builtin_validation, typed};
use crate::storage::delete::finalizers;
use crate::storage::store::{EventType, StoreInner, new_uid, now_timestamp};
use crate::storage::{crd, defaults, objectmeta};

/// Which part of the object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// The main resource: status changes are ignored when a status subresource exists.
    Main,
    /// The `/status` subresource: only status changes are kept.
    Status,
}

/// How unknown fields are treated (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them (the real server adds a warning header).
    #[default]
    Warn,
    /// Refuse the request.
    Strict,
}

impl FieldValidation {
    /// Parses the query value (`Strict`, `Warn`, `Ignore`).
    ///
    /// # Errors
    /// 400 for another value.
    pub(crate) fn parse(value: Option<&str>) -> ApiResult<Self> {
        match value {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation {other} is invalid: valid values are Ignore, Warn, Strict"
            ))),
        }
    }
}

/// Options shared by writes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WriteOptions {
    /// `dryRun=All`: compute the result, store nothing.
    pub dry_run: bool,
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
    /// Refuse an update without `metadata.resourceVersion` (PUT of a custom resource, which
    /// the real server does not allow unconditionally).
    pub require_resource_version: bool,
}

const SYSTEM_METADATA: &[&str] = &[
    "uid",
    "creationTimestamp",
    "generation",
    "resourceVersion",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

fn name_chars() -> &'static [u8] {
    b"bcdfghjklmnpqrstvwxz2456789"
}

fn random_suffix() -> String {
    let chars = name_chars();
    (0..5)
        .map(|_| {
            let index = rand::random_range(0..chars.len());
            chars[index] as char
        })
        .collect()
}

fn metadata_mut(object: &mut Value) -> ApiResult<&mut Map<String, Value>> {
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    object["metadata"]
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata must be an object"))
}

/// Whether anything but `metadata`, `status` and the type fields differs: such a change bumps
/// `metadata.generation`.
fn spec_changed(next: &Value, old: &Value) -> bool {
    const IGNORED: &[&str] = &["metadata", "status", "apiVersion", "kind"];
    let (Some(next), Some(old)) = (next.as_object(), old.as_object()) else {
        return next != old;
    };
    let relevant = |map: &'_ Map<String, Value>| {
        map.iter()
            .filter(|(key, _)| !IGNORED.contains(&key.as_str()))
            .count()
    };
    relevant(next) != relevant(old)
        || next
            .iter()
            .filter(|(key, _)| !IGNORED.contains(&key.as_str()))
            .any(|(key, value)| old.get(key) != Some(value))
}

/// Runs defaults, pruning and validation of a custom resource, as the real server orders them;
/// `metadata` (the new object's name violations) comes first in the answer.
fn check_custom(
    resource: &ResourceType,
    name: &str,
    object: &mut Value,
    old: Option<&Value>,
    field_validation: FieldValidation,
    metadata: Vec<FieldViolation>,
) -> ApiResult<()> {
    let Some(prepared) = &resource.schema else {
        return refuse(resource, name, metadata);
    };
    let schema = prepared.value();
    schema::apply_defaults(schema, object);
    if field_validation == FieldValidation::Strict {
        let unknown = schema::unknown_fields(schema, object);
        if !unknown.is_empty() {
            let list: Vec<String> = unknown
                .iter()
                .map(|p| format!("unknown field \"{p}\""))
                .collect();
            return Err(ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
                list.join(", "),
                kind = resource.kind,
                version = resource.version,
            )));
        }
    }
    schema::prune(schema, object);
    let mut violations = metadata;
    violations.extend(prepared.validate_with(
        object,
        old,
        scale::spec_violations(resource, object),
    ));
    refuse(resource, name, violations)
}

/// 422 Invalid with `violations`, unless there are none.
fn refuse(resource: &ResourceType, name: &str, violations: Vec<FieldViolation>) -> ApiResult<()> {
    if violations.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(resource, name, &violations))
    }
}

fn required(field: &str, message: &str) -> FieldViolation {
    FieldViolation {
        field: field.to_string(),
        reason: ViolationReason::Required,
        message: message.to_string(),
    }
}

fn initial_status(resource: &ResourceType, object: &mut Value) {
    if !resource.status_subresource {
        return;
    }
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    match (resource.group.as_str(), resource.kind.as_str()) {
        ("", "Namespace") => object["status"] = json!({"phase": "Active"}),
        ("", "Pod") => object["status"] = json!({"phase": "Pending"}),
        // Go's ServiceStatus and its LoadBalancerStatus are structs: never left out.
        ("", "Service") => object["status"] = json!({"loadBalancer": {}}),
        _ => {}
    }
}

impl StoreInner {
    fn apply_builtin_defaults(
        &mut self,
        resource: &ResourceType,
        object: &mut Value,
        old: Option<&Value>,
    ) {
        let mut allocate = || self.allocate_cluster_ip();
        defaults::apply(resource, object, old, &mut allocate);
    }

    /// Creates an object in `namespace` (empty for cluster-scoped kinds).
    ///
    /// # Errors
    /// 400 on a namespace mismatch, 404 when the namespace is missing, 409 AlreadyExists, 422 for
    /// a missing name or a schema violation.
    pub(crate) fn create(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        mut object: Value,
        options: WriteOptions,
    ) -> ApiResult<Arc<Value>> {
        let group_resource = resource.group_resource();
        let metadata = metadata_mut(&mut object)?;
        if resource.namespaced {
            match metadata.get("namespace").and_then(Value::as_str) {
                Some(ns) if !ns.is_empty() && ns != namespace => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    metadata.insert("namespace".into(), Value::String(namespace.to_string()));
                }
            }
        } else {
            metadata.remove("namespace");
        }
        let mut name = metadata
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            match metadata.get("generateName").and_then(Value::as_str) {
                Some(prefix) if !prefix.is_empty() => {
                    name = format!("{prefix}{}", random_suffix());
                }
                _ => {
                    return Err(ApiError::invalid(
                        resource,
                        "",
                        &[required(
                            "metadata.name",
                            "Required value: name or generateName is required",
                        )],
                    ));
                }
            }
            metadata.insert("name".into(), Value::String(name.clone()));
        }
        for key in SYSTEM_METADATA {
            metadata.remove(*key);
        }
        metadata.remove("managedFields");
        metadata.remove("selfLink");
        metadata.insert("uid".into(), Value::String(new_uid()));
        metadata.insert("creationTimestamp".into(), Value::String(now_timestamp()));
        if objectmeta::tracks_generation(resource) {
            metadata.insert("generation".into(), json!(1));
        }
        let name_violations = objectmeta::name_violations(resource, metadata);
        object["apiVersion"] = Value::String(resource.api_version());
        object["kind"] = Value::String(resource.kind.clone());

        let key = (
            if resource.namespaced {
                namespace.to_string()
            } else {
                String::new()
            },
            name.clone(),
        );
        if resource.namespaced
            && self
                .get(&GroupResource::new("", "namespaces"), "", namespace)
                .is_none()
        {
            return Err(ApiError::not_found("", "namespaces", namespace));
        }
        if self.get(&group_resource, &key.0, &key.1).is_some() {
            return Err(ApiError::already_exists(
                &resource.group,
                &resource.plural,
                &name,
            ));
        }
        initial_status(resource, &mut object);
        typed::decode_builtin(resource, &mut object, options.field_validation)?;
        self.apply_builtin_defaults(resource, &mut object, None);
        if resource.custom {
            check_custom(
                resource,
                &name,
                &mut object,
                None,
                options.field_validation,
                name_violations,
            )?;
        } else {
            let mut violations = name_violations;
            violations.extend(builtin_validation::violations(resource, &object));
            refuse(resource, &name, violations)?;
        }
        if crd::is_crd(&group_resource) {
            crd::prepare(self, &mut object)?;
        }
        objectmeta::omit_empty(&mut object);
        if options.dry_run {
            return Ok(Arc::new(object));
        }
        let stored = self.commit(&group_resource, key, object, EventType::Added);
        if crd::is_crd(&group_resource) {
            crd::register(self, &stored);
        }
        Ok(stored)
    }

    /// Replaces an object (PUT, and the result of every patch).
    ///
    /// # Errors
    /// 404 when absent, 409 Conflict on a stale resourceVersion, 400 on a name mismatch, 422
    /// for schema violations or finalizers added during deletion.
    pub(crate) fn update(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        name: &str,
        mut object: Value,
        part: Part,
        options: WriteOptions,
    ) -> ApiResult<Arc<Value>> {
        let group_resource = resource.group_resource();
        let namespace = if resource.namespaced { namespace } else { "" };
        let old = self
            .get(&group_resource, namespace, name)
            .ok_or_else(|| ApiError::not_found(&resource.group, &resource.plural, name))?;
        let metadata = metadata_mut(&mut object)?;
        match metadata.get("name").and_then(Value::as_str) {
            Some(body_name) if body_name != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({body_name}) does not match the name on the URL ({name})"
                )));
            }
            _ => {}
        }
        if resource.namespaced
            && let Some(ns) = metadata.get("namespace").and_then(Value::as_str)
            && !ns.is_empty()
            && ns != namespace
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let old_resource_version = old["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        match metadata.get("resourceVersion").and_then(Value::as_str) {
            Some(rv) if !rv.is_empty() && rv != old_resource_version => {
                return Err(ApiError::conflict(&resource.group, &resource.plural, name));
            }
            Some(rv) if !rv.is_empty() => {}
            _ if options.require_resource_version => {
                // The registry store's own check: it names the resource, not the kind.
                return Err(ApiError::invalid_kind(
                    &resource.group,
                    &resource.plural,
                    name,
                    &[FieldViolation {
                        field: "metadata.resourceVersion".into(),
                        reason: ViolationReason::Invalid,
                        message: "Invalid value: 0: must be specified for an update".into(),
                    }],
                ));
            }
            _ => {}
        }

        let mut next = match part {
            Part::Status => {
                let mut next = (*old).clone();
                match object.get("status") {
                    Some(status) => next["status"] = status.clone(),
                    None => {
                        if let Some(map) = next.as_object_mut() {
                            map.remove("status");
                        }
                    }
                }
                next
            }
            Part::Main => {
                let mut next = object;
                if resource.status_subresource {
                    match old.get("status") {
                        Some(status) => next["status"] = status.clone(),
                        None => {
                            if let Some(map) = next.as_object_mut() {
                                map.remove("status");
                            }
                        }
                    }
                }
                next
            }
        };
        // System metadata always comes from the stored object.
        {
            let metadata = metadata_mut(&mut next)?;
            for key in SYSTEM_METADATA {
                match old["metadata"].get(*key) {
                    Some(value) => {
                        metadata.insert((*key).to_string(), value.clone());
                    }
                    None => {
                        metadata.remove(*key);
                    }
                }
            }
            metadata.insert("name".into(), Value::String(name.to_string()));
            if resource.namespaced {
                metadata.insert("namespace".into(), Value::String(namespace.to_string()));
            } else {
                metadata.remove("namespace");
            }
            metadata.remove("managedFields");
            metadata.remove("selfLink");
        }
        next["apiVersion"] = Value::String(resource.api_version());
        next["kind"] = Value::String(resource.kind.clone());

        if resource.custom {
            check_custom(
                resource,
                name,
                &mut next,
                Some(&old),
                options.field_validation,
                Vec::new(),
            )?;
        } else {
            refuse(
                resource,
                name,
                builtin_validation::violations(resource, &next),
            )?;
        }
        let deleting = old["metadata"].get("deletionTimestamp").is_some();
        if deleting {
            let old_finalizers = finalizers(&old);
            let added: Vec<String> = finalizers(&next)
                .into_iter()
                .filter(|f| !old_finalizers.contains(f))
                .collect();
            if !added.is_empty() {
                return Err(ApiError::invalid(
                    resource,
                    name,
                    &[FieldViolation {
                        field: "metadata.finalizers".into(),
                        reason: ViolationReason::Forbidden,
                        message: format!(
                            "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                            added
                                .iter()
                                .map(|f| format!("{f:?}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    }],
                ));
            }
        }
        if objectmeta::tracks_generation(resource) && spec_changed(&next, &old) {
            let generation = old["metadata"]["generation"].as_i64().unwrap_or(0);
            next["metadata"]["generation"] = json!(objectmeta::next_generation(generation));
        }
        if crd::is_crd(&group_resource) {
            crd::prepare_update(&mut next, &old)?;
        }
        objectmeta::omit_empty(&mut next);
        if next == *old {
            return Ok(old);
        }
        if options.dry_run {
            return Ok(Arc::new(next));
        }
        let key = (namespace.to_string(), name.to_string());
        let finished = deleting && finalizers(&next).is_empty();
        let stored = self.commit(&group_resource, key.clone(), next, EventType::Modified);
        if crd::is_crd(&group_resource) {
            crd::register(self, &stored);
        }
        if finished {
            self.finish_deletion(&group_resource, &key);
        }
        Ok(stored)
    }
}

#[cfg(test)]
#[path = "write_tests.rs"]
mod tests;
