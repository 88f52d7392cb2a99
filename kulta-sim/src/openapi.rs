//! OpenAPI v3 documents: an index of group-versions (`/openapi/v3`) and one document per
//! group-version with a schema per kind (a CRD's `openAPIV3Schema`, or a permissive object schema
//! for built-in kinds) and paths whose PATCH operations declare `fieldValidation`, which is how
//! kubectl decides to leave validation to the server.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Map, Value, json};

use crate::resources::{Registry, ResourceType};

fn reversed_group(group: &str) -> String {
    if group.is_empty() {
        return "io.k8s.api.core".to_string();
    }
    let mut parts: Vec<&str> = group.split('.').collect();
    parts.reverse();
    parts.join(".")
}

/// The component name of a kind's schema, e.g. `io.kulta.v1alpha1.Rollout`.
pub fn schema_name(resource: &ResourceType) -> String {
    format!(
        "{}.{}.{}",
        reversed_group(&resource.group),
        resource.version,
        resource.kind
    )
}

fn gvk(resource: &ResourceType) -> Value {
    json!({"group": resource.group, "version": resource.version, "kind": resource.kind})
}

fn kind_schema(resource: &ResourceType) -> Value {
    let mut schema = match &resource.schema {
        Some(schema) => schema.clone(),
        None => json!({
            "type": "object",
            "description": format!("{} (kulta-sim serves built-in kinds with a permissive schema)", resource.kind),
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            },
            "x-kubernetes-preserve-unknown-fields": true,
        }),
    };
    if let Some(map) = schema.as_object_mut() {
        map.insert(
            "x-kubernetes-group-version-kind".into(),
            json!([gvk(resource)]),
        );
        if let Some(properties) = map.get_mut("properties").and_then(Value::as_object_mut) {
            properties
                .entry("metadata")
                .or_insert_with(|| json!({"type": "object"}));
        }
    }
    schema
}

fn query_parameter(name: &str) -> Value {
    json!({"name": name, "in": "query", "uniqueItems": true, "schema": {"type": "string", "uniqueItems": true}})
}

fn operation(resource: &ResourceType, action: &str, body: bool) -> Value {
    let schema_ref = json!({"$ref": format!("#/components/schemas/{}", schema_name(resource))});
    let mut op = json!({
        "operationId": format!("{action}{}", resource.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(resource),
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": schema_ref}}}},
    });
    if body {
        op["parameters"] = json!([
            query_parameter("dryRun"),
            query_parameter("fieldManager"),
            query_parameter("fieldValidation"),
        ]);
        op["requestBody"] = json!({"content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", schema_name(resource))}}}});
    }
    op
}

/// The OpenAPI v3 document of one group-version, if served.
pub fn document(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let resources = registry.of_group_version(group, version);
    if resources.is_empty() {
        return None;
    }
    let mut schemas = Map::new();
    let mut paths = Map::new();
    for resource in &resources {
        schemas.insert(schema_name(resource), kind_schema(resource));
        let prefix = resource.gv_prefix();
        let collection = if resource.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", resource.plural)
        } else {
            format!("{prefix}/{}", resource.plural)
        };
        let item = format!("{collection}/{{name}}");
        paths.insert(
            collection.clone(),
            json!({
                "get": operation(resource, "list", false),
                "post": operation(resource, "post", true),
                "delete": operation(resource, "deletecollection", false),
            }),
        );
        paths.insert(
            item.clone(),
            json!({
                "get": operation(resource, "get", false),
                "put": operation(resource, "put", true),
                "patch": operation(resource, "patch", true),
                "delete": operation(resource, "delete", false),
            }),
        );
        if resource.status_subresource {
            paths.insert(
                format!("{item}/status"),
                json!({
                    "get": operation(resource, "get", false),
                    "put": operation(resource, "put", true),
                    "patch": operation(resource, "patch", true),
                }),
            );
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.36.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

fn hash_of(value: &Value) -> String {
    let mut hasher = DefaultHasher::new();
    value.to_string().hash(&mut hasher);
    format!("{:016X}", hasher.finish())
}

/// The `/openapi/v3` index.
pub fn index(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for group in registry.groups() {
        for version in registry.versions_of(&group) {
            let Some(doc) = document(registry, &group, &version) else {
                continue;
            };
            let key = if group.is_empty() {
                format!("api/{version}")
            } else {
                format!("apis/{group}/{version}")
            };
            paths.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={}", hash_of(&doc))}),
            );
        }
    }
    json!({"paths": paths})
}
