//! Patch types: JSON merge patch (RFC 7386), JSON Patch (RFC 6902, with the API server's
//! tolerance of a `test` of `null` on a missing path), an approximation of strategic merge patch
//! for built-in kinds, and the apply-patch merge used to approximate server-side apply.

use serde_json::{Map, Value};

use crate::api_error::{ApiError, ApiResult};

/// The patch types the sim accepts, from the request's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    /// `application/merge-patch+json`
    Merge,
    /// `application/json-patch+json`
    Json,
    /// `application/strategic-merge-patch+json`
    StrategicMerge,
    /// `application/apply-patch+yaml`
    Apply,
}

impl PatchType {
    /// Reads the patch type from a `Content-Type` header value.
    pub(crate) fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// Applies a JSON merge patch.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// Applies a JSON Patch. A `test` whose value is `null` passes when the path is missing.
///
/// # Errors
/// 400 for a malformed patch document; when an operation fails (a `test` that does not match,
/// a path that is not there), what the real server answers: 422 Invalid with its generic
/// message ([`ApiError::patch_not_applicable`]).
pub(crate) fn json_patch(target: &mut Value, patch: &Value) -> ApiResult<()> {
    let operations: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|error| ApiError::bad_request(format!("error decoding patch: {error}")))?;
    let mut working = target.clone();
    for operation in &operations.0 {
        if let json_patch::PatchOperation::Test(test) = operation
            && test.value.is_null()
            && working.pointer(test.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch(&mut working, std::slice::from_ref(operation))
            .map_err(|_| ApiError::patch_not_applicable())?;
    }
    *target = working;
    Ok(())
}

/// The merge key of a list field of built-in kinds, as their strategic-merge metadata declares.
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        "hostAliases" => Some("ip"),
        "topologySpreadConstraints" => Some("topologyKey"),
        "ports" => {
            if items.iter().any(|item| item.get("containerPort").is_some()) {
                Some("containerPort")
            } else {
                Some("port")
            }
        }
        _ => None,
    }
}

/// Lists of scalars merged as sets.
fn primitive_merge_list(field: &str) -> bool {
    field == "finalizers"
}

/// Applies a strategic merge patch, approximated: a merge patch in which lists with a known
/// merge key (containers, env, volumes, ports, conditions...) merge element by element, and the
/// directives `$patch`, `$retainKeys`, `$setElementOrder/`, `$deleteFromPrimitiveList/` are
/// honoured or stripped.
pub(crate) fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    *target = strategic(target, patch);
}

fn strategic(original: &Value, patch: &Value) -> Value {
    let Value::Object(patch_map) = patch else {
        return patch.clone();
    };
    match patch_map.get("$patch").and_then(Value::as_str) {
        Some("replace") => return strip_directives(patch),
        Some("delete") => return Value::Null,
        _ => {}
    }
    let mut result = match original {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    for (key, value) in patch_map {
        if key.starts_with("$setElementOrder/") || key == "$patch" || key == "$retainKeys" {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(current)), Value::Array(remove)) =
                (result.get_mut(field), value)
            {
                current.retain(|item| !remove.contains(item));
            }
            continue;
        }
        if value.is_null() {
            result.remove(key);
            continue;
        }
        let merged = match (result.get(key), value) {
            (Some(Value::Array(current)), Value::Array(items)) => merge_list(key, current, items),
            (Some(current @ Value::Object(_)), Value::Object(_)) => strategic(current, value),
            (_, _) => strip_directives(value),
        };
        result.insert(key.clone(), merged);
    }
    if let Some(Value::Array(keep)) = patch_map.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        result.retain(|key, _| keep.contains(&key.as_str()));
    }
    Value::Object(result)
}

fn merge_list(field: &str, current: &[Value], items: &[Value]) -> Value {
    if primitive_merge_list(field) {
        let mut merged = current.to_vec();
        for item in items {
            if !merged.contains(item) {
                merged.push(item.clone());
            }
        }
        return Value::Array(merged);
    }
    if items
        .iter()
        .any(|item| item.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Value::Array(
            items
                .iter()
                .filter(|item| item.get("$patch").is_none())
                .map(strip_directives)
                .collect(),
        );
    }
    let Some(key) = merge_key(field, items) else {
        return Value::Array(items.iter().map(strip_directives).collect());
    };
    let mut merged = current.to_vec();
    for item in items {
        let id = item.get(key);
        let position = id.and_then(|id| merged.iter().position(|m| m.get(key) == Some(id)));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(index), true) => {
                merged.remove(index);
            }
            (Some(index), false) => {
                merged[index] = strategic(&merged[index], item);
            }
            (None, true) => {}
            (None, false) => merged.push(strip_directives(item)),
        }
    }
    Value::Array(merged)
}

fn strip_directives(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// Merges an applied configuration into the live object, approximating server-side apply:
/// every field in `applied` is set; fields absent from `applied` are kept (nothing is ever
/// removed, since field ownership is not tracked); lists with a known merge key merge by key
/// (built-in kinds only), other lists are replaced.
pub(crate) fn apply_merge(live: &mut Value, applied: &Value, builtin: bool) {
    *live = apply_value(live, applied, builtin, "");
}

fn apply_value(live: &Value, applied: &Value, builtin: bool, field: &str) -> Value {
    match (live, applied) {
        (Value::Object(live_map), Value::Object(applied_map)) => {
            let mut result = live_map.clone();
            for (key, value) in applied_map {
                let merged = match result.get(key) {
                    Some(current) => apply_value(current, value, builtin, key),
                    None => value.clone(),
                };
                result.insert(key.clone(), merged);
            }
            Value::Object(result)
        }
        (Value::Array(current), Value::Array(items)) if builtin => match merge_key(field, items) {
            Some(key) => {
                let mut merged = current.clone();
                for item in items {
                    let id = item.get(key);
                    match id.and_then(|id| merged.iter().position(|m| m.get(key) == Some(id))) {
                        Some(index) => {
                            merged[index] = apply_value(&merged[index], item, builtin, "")
                        }
                        None => merged.push(item.clone()),
                    }
                }
                Value::Array(merged)
            }
            None => applied.clone(),
        },
        _ => applied.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_test_of_null_passes_on_missing_path() {
        let mut doc = json!({"metadata": {"name": "a"}});
        let patch = json!([
            {"op": "test", "path": "/metadata/labels", "value": null},
            {"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}
        ]);
        json_patch(&mut doc, &patch).unwrap();
        assert_eq!(doc["metadata"]["labels"]["x"], "y");
    }

    #[test]
    fn failed_json_patch_test_is_422_and_changes_nothing() {
        let mut doc = json!({"metadata": {"resourceVersion": "5"}, "spec": {"w": 1}});
        let patch = json!([
            {"op": "replace", "path": "/spec/w", "value": 2},
            {"op": "test", "path": "/metadata/resourceVersion", "value": "4"}
        ]);
        let error = json_patch(&mut doc, &patch).unwrap_err();
        assert_eq!(error.code, 422);
        assert_eq!(doc["spec"]["w"], 1);
        // kube-apiserver's generic answer, not the patch library's wording.
        assert_eq!(
            error.message,
            "the server rejected our request due to an error in our request"
        );
        let missing = json!([{"op": "remove", "path": "/spec/missing"}]);
        let error = json_patch(&mut doc, &missing).unwrap_err();
        assert_eq!(error.message, ApiError::patch_not_applicable().message);
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut doc = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}
        ]}});
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "b", "image": "b:2"}, {"name": "a", "$patch": "delete"}]
        }});
        strategic_merge_patch(&mut doc, &patch);
        assert_eq!(
            doc,
            json!({"spec": {"containers": [{"name": "b", "image": "b:2"}]}})
        );
    }

    #[test]
    fn strategic_merge_deletes_from_primitive_lists() {
        let mut doc = json!({"metadata": {"finalizers": ["a", "b"]}});
        strategic_merge_patch(
            &mut doc,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["c"]}}),
        );
        assert_eq!(doc["metadata"]["finalizers"], json!(["b", "c"]));
    }

    #[test]
    fn apply_merge_never_removes_fields() {
        let mut live = json!({"spec": {"a": 1, "b": [1, 2]}});
        apply_merge(&mut live, &json!({"spec": {"b": [3]}}), false);
        assert_eq!(live, json!({"spec": {"a": 1, "b": [3]}}));
    }
}
