//! Defaulting and pruning of custom resources against a structural schema, in the API server's
//! order: defaults first (including dropping `null`s of non-nullable fields without a default),
//! then pruning of unknown fields.

use serde_json::{Map, Value};

use super::{MAX_DEPTH, join_index, join_key, join_property, schema_flag};

/// `metadata` fields a real API server keeps (everything else is dropped by `ObjectMeta`).
const OBJECT_META_FIELDS: [&str; 14] = [
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "finalizers",
    "ownerReferences",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
];

pub(super) fn default_node(schema: &Value, value: &mut Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (key, child) in properties {
                    default_property(child, map, key, depth);
                }
            }
            if let Some(additional) = schema.get("additionalProperties").filter(|s| s.is_object()) {
                let known = schema.get("properties").and_then(Value::as_object);
                let keys: Vec<String> = map
                    .keys()
                    .filter(|key| known.is_none_or(|known| !known.contains_key(*key)))
                    .cloned()
                    .collect();
                for key in keys {
                    default_property(additional, map, &key, depth);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for item in items.iter_mut() {
                    if item.is_null()
                        && let Some(default) = item_schema.get("default")
                    {
                        *item = default.clone();
                    }
                    default_node(item_schema, item, depth.saturating_add(1));
                }
            }
        }
        _ => {}
    }
}

fn default_property(schema: &Value, map: &mut Map<String, Value>, key: &str, depth: usize) {
    let nullable = schema_flag(schema, "nullable");
    match map.get(key) {
        None => {
            if let Some(default) = schema.get("default") {
                map.insert(key.to_string(), default.clone());
            }
        }
        Some(Value::Null) if !nullable => match schema.get("default") {
            Some(default) => {
                map.insert(key.to_string(), default.clone());
            }
            None => {
                map.remove(key);
            }
        },
        Some(_) => {}
    }
    if let Some(child) = map.get_mut(key) {
        default_node(schema, child, depth.saturating_add(1));
    }
}

/// Prunes `value` in place; the paths of dropped fields go to `removed` when given.
pub(super) fn prune_node(
    schema: &Value,
    value: &mut Value,
    path: &str,
    root: bool,
    removed: &mut Option<&mut Vec<String>>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            let preserve = schema_flag(schema, "x-kubernetes-preserve-unknown-fields");
            let embedded = root || schema_flag(schema, "x-kubernetes-embedded-resource");
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child_path =
                    match (properties.is_some_and(|p| p.contains_key(&key)), additional) {
                        (false, Some(additional)) if additional.is_object() => join_key(path, &key),
                        _ => join_property(path, &key),
                    };
                if embedded && (key == "apiVersion" || key == "kind") {
                    continue;
                }
                if embedded && key == "metadata" {
                    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
                        prune_metadata(meta, &child_path, removed);
                    }
                    continue;
                }
                let child_schema = properties
                    .and_then(|p| p.get(&key))
                    .or_else(|| additional.filter(|a| a.is_object()));
                match child_schema {
                    Some(child_schema) => {
                        if let Some(child) = map.get_mut(&key) {
                            prune_node(
                                child_schema,
                                child,
                                &child_path,
                                false,
                                removed,
                                depth.saturating_add(1),
                            );
                        }
                    }
                    None if preserve || additional == Some(&Value::Bool(true)) => {}
                    None => {
                        map.remove(&key);
                        if let Some(removed) = removed.as_deref_mut() {
                            removed.push(child_path);
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for (index, item) in items.iter_mut().enumerate() {
                    prune_node(
                        item_schema,
                        item,
                        &join_index(path, index),
                        false,
                        removed,
                        depth.saturating_add(1),
                    );
                }
            }
        }
        _ => {}
    }
}

fn prune_metadata(
    meta: &mut Map<String, Value>,
    path: &str,
    removed: &mut Option<&mut Vec<String>>,
) {
    let unknown: Vec<String> = meta
        .keys()
        .filter(|key| !OBJECT_META_FIELDS.contains(&key.as_str()))
        .cloned()
        .collect();
    for key in unknown {
        meta.remove(&key);
        if let Some(removed) = removed.as_deref_mut() {
            removed.push(join_property(path, &key));
        }
    }
}
