//! OpenAPI v3 documents: an index of group-versions (`/openapi/v3`) and one document per
//! group-version with a schema per kind (a CRD's `openAPIV3Schema`, or for built-in kinds their
//! k8s-openapi schemas and every component they reference, see [`crate::kinds::builtin_openapi`]) and
//! paths whose PATCH operations declare `fieldValidation`, which is how
//! kubectl decides to leave validation to the server.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Map, Value, json};

use crate::kinds::builtin_openapi;
use crate::kinds::resources::{Registry, ResourceType};

fn reversed_group(group: &str) -> String {
    if group.is_empty() {
        return "io.k8s.api.core".to_string();
    }
    let mut parts: Vec<&str> = group.split('.').collect();
    parts.reverse();
    parts.join(".")
}

/// The component name of a kind's schema, e.g. `io.kulta.v1alpha1.Rollout` or
/// `io.k8s.api.apps.v1.Deployment`.
pub(crate) fn schema_name(resource: &ResourceType) -> String {
    if let Some(schemas) = builtin_schemas(resource) {
        return schemas.name.clone();
    }
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

fn builtin_schemas(resource: &ResourceType) -> Option<&'static builtin_openapi::KindSchemas> {
    if resource.custom {
        return None;
    }
    builtin_openapi::schemas(&resource.group, &resource.kind)
}

fn kind_schema(resource: &ResourceType) -> Value {
    let builtin = builtin_schemas(resource).and_then(|s| s.definitions.get(&s.name));
    let mut schema = match (&resource.schema, builtin) {
        (Some(schema), _) => schema.value().clone(),
        (None, Some(schema)) => schema.clone(),
        (None, None) => json!({
            "type": "object",
            "description": format!("{} (no typed schema: permissive)", resource.kind),
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
pub(crate) fn document(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let resources = registry.of_group_version(group, version);
    if resources.is_empty() {
        return None;
    }
    let mut schemas = Map::new();
    let mut paths = Map::new();
    for resource in &resources {
        if let Some(builtin) = builtin_schemas(resource) {
            for (name, schema) in &builtin.definitions {
                schemas.insert(name.clone(), schema.clone());
            }
        }
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

/// The `?hash=` of a group-version's document. The document is a pure function of the
/// group-version's resource types (built-in schemas are static), so hashing those is enough and
/// spares building every document for each index request (kubectl fetches the index on every
/// invocation and caches documents by hash).
fn hash_of(resources: &[std::sync::Arc<ResourceType>]) -> String {
    let mut hasher = DefaultHasher::new();
    format!("{resources:?}").hash(&mut hasher);
    format!("{:016X}", hasher.finish())
}

/// The `/openapi/v3` index.
pub(crate) fn index(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for group in registry.groups() {
        for version in registry.versions_of(&group) {
            let resources = registry.of_group_version(&group, &version);
            if resources.is_empty() {
                continue;
            }
            let key = if group.is_empty() {
                format!("api/{version}")
            } else {
                format!("apis/{group}/{version}")
            };
            paths.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={}", hash_of(&resources))}),
            );
        }
    }
    json!({"paths": paths})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widget(schema: Value) -> ResourceType {
        let crd = json!({"spec": {"group": "test.kulta.io", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": schema}}]}});
        crate::kinds::resources::from_crd(&crd).remove(0)
    }

    fn url_of(registry: &Registry, key: &str) -> String {
        index(registry)["paths"][key]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn index_hashes_change_with_the_schemas_they_stand_for() {
        let mut registry = Registry::with_builtins();
        let apps = url_of(&registry, "apis/apps/v1");
        registry.insert(widget(json!({"type": "object"})));
        let first = url_of(&registry, "apis/test.kulta.io/v1");
        assert_eq!(url_of(&registry, "apis/apps/v1"), apps);
        registry.insert(widget(
            json!({"type": "object", "properties": {"spec": {"type": "object"}}}),
        ));
        assert_ne!(url_of(&registry, "apis/test.kulta.io/v1"), first);
    }

    #[test]
    fn builtin_documents_carry_typed_schemas_and_their_references() {
        let registry = Registry::with_builtins();
        let document = document(&registry, "apps", "v1").unwrap();
        let schemas = &document["components"]["schemas"];
        let deployment = &schemas["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            deployment["x-kubernetes-group-version-kind"],
            json!([{"group": "apps", "version": "v1", "kind": "Deployment"}])
        );
        assert!(schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"].is_object());
        let post = &document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]["post"];
        assert_eq!(
            post["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.Deployment"
        );
    }
}
