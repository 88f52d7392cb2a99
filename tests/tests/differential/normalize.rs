//! From a server's raw answer to what the two servers must agree on, and the differences
//! between two such answers.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// What stands for a value each server chooses for itself.
const UID: &str = "<uid>";
const RESOURCE_VERSION: &str = "<resourceVersion>";
const TIMESTAMP: &str = "<timestamp>";
const ALLOCATED: &str = "<allocated>";
const MANAGED_FIELDS: &str = "<managedFields>";

/// The values of one server that the normalized answers name by placeholder instead: its
/// namespace, and the uids and resourceVersions of the objects earlier steps were answered with.
#[derive(Default)]
pub struct Names {
    /// `{ns}` → the namespace; `{<id>.uid}` → a uid...
    pub placeholders: BTreeMap<String, String>,
}

impl Names {
    /// `text` with its placeholders filled in.
    pub fn fill(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (placeholder, value) in &self.placeholders {
            text = text.replace(placeholder.as_str(), value);
        }
        text
    }

    /// `text` with the namespace and uids put back as their placeholders (longest first, so a
    /// namespace that happens to be inside another value does not split it). Not the
    /// resourceVersions: short decimal numbers, they could be part of anything.
    pub fn unfill(&self, text: &str) -> String {
        let mut pairs: Vec<(&String, &String)> = self
            .placeholders
            .iter()
            .filter(|(placeholder, value)| !value.is_empty() && !placeholder.ends_with(".rv}"))
            .collect();
        pairs.sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
        let mut text = text.to_string();
        for (placeholder, value) in pairs {
            text = text.replace(value.as_str(), placeholder);
        }
        text
    }

    /// Remembers the uid and resourceVersion of `object`, the answer to step `id`.
    pub fn capture(&mut self, id: &str, object: &Value) {
        for (field, key) in [("uid", "uid"), ("resourceVersion", "rv")] {
            if let Some(value) = object["metadata"][field].as_str() {
                self.placeholders
                    .insert(format!("{{{id}.{key}}}"), value.to_string());
            }
        }
    }
}

/// The normalized answer to one request: `{"code": 409, "status": {...}}` for a `Status` body,
/// `{"code": 200, "object": {...}}` for an object.
pub fn answer(code: u16, body: &[u8], names: &Names) -> Value {
    let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
        return json!({ "code": code, "text": names.unfill(&String::from_utf8_lossy(body)) });
    };
    let parsed = unfill_strings(parsed, names);
    if parsed["kind"] == "Status" {
        json!({ "code": code, "status": status(&parsed) })
    } else {
        json!({ "code": code, "object": object(parsed) })
    }
}

/// What a client reads of a `metav1.Status`: status, reason, message, code and the details
/// (name, group, kind, causes with field, reason and message). `details.uid` (a successful
/// delete names the object's uid) is the server's choice.
fn status(body: &Value) -> Value {
    let mut status = Map::new();
    for field in ["status", "reason", "message", "code"] {
        if let Some(value) = body.get(field) {
            status.insert(field.to_string(), value.clone());
        }
    }
    if let Some(details) = body.get("details").and_then(Value::as_object) {
        let mut kept = Map::new();
        for (key, value) in details {
            let value = match key.as_str() {
                "uid" => json!(UID),
                "causes" => Value::Array(
                    value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|cause| {
                            let mut kept = Map::new();
                            for field in ["field", "reason", "message"] {
                                if let Some(value) = cause.get(field) {
                                    kept.insert(field.to_string(), value.clone());
                                }
                            }
                            Value::Object(kept)
                        })
                        .collect(),
                ),
                _ => value.clone(),
            };
            kept.insert(key.clone(), value);
        }
        status.insert("details".to_string(), Value::Object(kept));
    }
    Value::Object(status)
}

/// An object with the values each server picks for itself replaced by markers, so that their
/// presence is still compared:
/// - `metadata.uid`: random per server.
/// - `metadata.resourceVersion`: each server's own counter (etcd's revision, the sim's).
/// - `metadata.creationTimestamp`, `metadata.deletionTimestamp`: the wall clock.
/// - `metadata.managedFields`: its entries carry times, and which managers a response lists
///   depends on when the ReplicaSet controller last wrote the status. That kulta-sim records
///   none is an accepted difference (the marker is there or not), not a normalization.
/// - a Service's `spec.clusterIP` and `spec.clusterIPs`: each server's allocator.
///
/// Kept as they are: `metadata.generation` (a pure function of the writes, so both servers must
/// agree). Removed: a ReplicaSet's `status`, written asynchronously by the ReplicaSet
/// controller of each side (kube-controller-manager, the sim's), so what a response carries
/// depends on timing.
fn object(mut object: Value) -> Value {
    let kind = object["kind"].as_str().unwrap_or_default().to_string();
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for (field, marker) in [
            ("uid", UID),
            ("resourceVersion", RESOURCE_VERSION),
            ("creationTimestamp", TIMESTAMP),
            ("deletionTimestamp", TIMESTAMP),
        ] {
            if let Some(value) = metadata.get_mut(field) {
                *value = json!(marker);
            }
        }
        if let Some(fields) = metadata.get_mut("managedFields") {
            *fields = json!(MANAGED_FIELDS);
        }
    }
    match kind.as_str() {
        "Service" => {
            if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
                if spec.contains_key("clusterIP") {
                    spec.insert("clusterIP".to_string(), json!(ALLOCATED));
                }
                if let Some(ips) = spec.get_mut("clusterIPs").and_then(Value::as_array_mut) {
                    for ip in ips {
                        *ip = json!(ALLOCATED);
                    }
                }
            }
        }
        "ReplicaSet" => {
            if let Some(object) = object.as_object_mut() {
                object.remove("status");
            }
        }
        _ => {}
    }
    object
}

/// `value` with every string and key unfilled (see [`Names::unfill`]).
fn unfill_strings(value: Value, names: &Names) -> Value {
    match value {
        Value::String(text) => Value::String(names.unfill(&text)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| unfill_strings(item, names))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (names.unfill(&key), unfill_strings(value, names)))
                .collect(),
        ),
        other => other,
    }
}

/// `value` with the keys of every object in sorted order, for a stable golden file.
pub fn sorted(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        Value::Object(map) => {
            let ordered: BTreeMap<&String, &Value> = map.iter().collect();
            Value::Object(
                ordered
                    .into_iter()
                    .map(|(key, value)| (key.clone(), sorted(value)))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

/// One difference: where, and the value on each side (`None`: absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// A JSON pointer into the normalized answer.
    pub pointer: String,
    /// kulta-sim's value.
    pub sim: Option<Value>,
    /// kube-apiserver's value.
    pub real: Option<Value>,
}

impl Difference {
    /// `pointer: <left> value | <right> value`, the sides named `left` (kulta-sim's) and
    /// `right`.
    pub fn show(&self, left: &str, right: &str) -> String {
        let show = |value: &Option<Value>| {
            value
                .as_ref()
                .map_or_else(|| "<absent>".to_string(), Value::to_string)
        };
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        format!(
            "{pointer}: {left} {} | {right} {}",
            show(&self.sim),
            show(&self.real)
        )
    }
}

/// Every difference between `sim` and `real`, deepest first where both are objects or arrays
/// of the same length (a differing array length is one difference of the whole array).
pub fn differences(sim: &Value, real: &Value) -> Vec<Difference> {
    let mut found = Vec::new();
    walk(String::new(), Some(sim), Some(real), &mut found);
    found
}

fn walk(pointer: String, sim: Option<&Value>, real: Option<&Value>, found: &mut Vec<Difference>) {
    match (sim, real) {
        (Some(Value::Object(sim)), Some(Value::Object(real))) => {
            let keys: std::collections::BTreeSet<&String> = sim.keys().chain(real.keys()).collect();
            for key in keys {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                walk(
                    format!("{pointer}/{escaped}"),
                    sim.get(key),
                    real.get(key),
                    found,
                );
            }
        }
        (Some(Value::Array(sim)), Some(Value::Array(real))) if sim.len() == real.len() => {
            for (index, (sim, real)) in sim.iter().zip(real).enumerate() {
                walk(format!("{pointer}/{index}"), Some(sim), Some(real), found);
            }
        }
        (sim, real) if sim == real => {}
        (sim, real) => found.push(Difference {
            pointer,
            sim: sim.cloned(),
            real: real.cloned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_round_trip_longest_value_first() {
        let mut names = Names::default();
        names.placeholders.insert("{ns}".into(), "e2e-abc".into());
        names
            .placeholders
            .insert("{x.uid}".into(), "uid-e2e-abc-1".into());
        assert_eq!(names.fill("{ns}/{x.uid}"), "e2e-abc/uid-e2e-abc-1");
        assert_eq!(names.unfill("e2e-abc/uid-e2e-abc-1"), "{ns}/{x.uid}");
    }

    #[test]
    fn differences_name_the_pointer_and_both_sides() {
        let sim = json!({ "a": { "b": 1 }, "c": [1, 2] });
        let real = json!({ "a": { "b": 2, "d/e": true }, "c": [1] });
        let found = differences(&sim, &real);
        let pointers: Vec<&str> = found.iter().map(|d| d.pointer.as_str()).collect();
        assert_eq!(pointers, ["/a/b", "/a/d~1e", "/c"]);
    }
}
