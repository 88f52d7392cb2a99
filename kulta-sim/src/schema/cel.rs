//! CEL `x-kubernetes-validations` through kube's `cel` feature (the kube-cel crate), with the
//! compiled programs cached per schema so repeated writes of one kind never recompile.
//!
//! Rules that reference something kube-cel cannot evaluate (a CEL macro the `cel` crate lacks)
//! are skipped rather than refusing the object: failing closed would make the sim refuse valid
//! real-world objects.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::rc::Rc;

use kube::core::cel::{CompiledSchema, ErrorKind, compile_schema, validate_compiled};
use serde_json::Value;
use tracing::debug;

use super::checks::type_name;
use super::{FieldViolation, MAX_DEPTH, ViolationReason};

/// Compiled schemas kept per thread; cleared when it grows past this many kinds.
const CACHE_LIMIT: usize = 256;

thread_local! {
    static COMPILED: RefCell<HashMap<u64, Rc<CompiledSchema>>> = RefCell::new(HashMap::new());
}

fn hash_value(value: &Value, hasher: &mut DefaultHasher, depth: usize) {
    if depth > MAX_DEPTH * 4 {
        return;
    }
    match value {
        Value::Null => 0u8.hash(hasher),
        Value::Bool(flag) => (1u8, flag).hash(hasher),
        Value::Number(number) => (2u8, number.to_string()).hash(hasher),
        Value::String(text) => (3u8, text).hash(hasher),
        Value::Array(items) => {
            (4u8, items.len()).hash(hasher);
            for item in items {
                hash_value(item, hasher, depth + 1);
            }
        }
        Value::Object(map) => {
            (5u8, map.len()).hash(hasher);
            for (key, item) in map {
                key.hash(hasher);
                hash_value(item, hasher, depth + 1);
            }
        }
    }
}

/// Whether `value` nests deeper than `limit` (iterative, so any input is safe).
fn nesting_exceeds(value: &Value, limit: usize) -> bool {
    let mut stack = vec![(value, 0usize)];
    while let Some((current, depth)) = stack.pop() {
        if depth > limit {
            return true;
        }
        match current {
            Value::Array(items) => stack.extend(items.iter().map(|item| (item, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|item| (item, depth + 1))),
            _ => {}
        }
    }
    false
}

/// Whether the schema carries any CEL rule (cheap pre-check that skips CEL entirely).
fn has_rules(schema: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH * 4 {
        return false;
    }
    match schema {
        Value::Object(map) => {
            map.contains_key("x-kubernetes-validations")
                || map.iter().any(|(key, child)| {
                    key != "default"
                        && key != "enum"
                        && key != "example"
                        && has_rules(child, depth + 1)
                })
        }
        Value::Array(items) => items.iter().any(|item| has_rules(item, depth + 1)),
        _ => false,
    }
}

fn compiled(schema: &Value) -> Rc<CompiledSchema> {
    let mut hasher = DefaultHasher::new();
    hash_value(schema, &mut hasher, 0);
    let key = hasher.finish();
    COMPILED.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(found) = cache.get(&key) {
            return found.clone();
        }
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        let fresh = Rc::new(compile_schema(schema));
        cache.insert(key, fresh.clone());
        fresh
    })
}

/// Follows a field path like `spec.rules[0].matches` or `spec.labels['a.b']` into `object`.
fn lookup<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = object;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let (inside, tail) = after.split_at(end);
            current = match inside.parse::<usize>() {
                Ok(index) => current.get(index)?,
                Err(_) => current.get(inside.trim_matches(|c| c == '\'' || c == '"'))?,
            };
            rest = tail.strip_prefix(']').unwrap_or("");
        } else {
            let trimmed = rest.strip_prefix('.').unwrap_or(rest);
            let end = trimmed.find(['.', '[']).unwrap_or(trimmed.len());
            let (name, tail) = trimmed.split_at(end);
            current = current.get(name)?;
            rest = tail;
        }
    }
    Some(current)
}

/// Evaluates every CEL rule of `schema` against `object` (and `old` for transition rules).
pub(super) fn check_rules(
    schema: &Value,
    object: &Value,
    old: Option<&Value>,
) -> Vec<FieldViolation> {
    if !has_rules(schema, 0) {
        return Vec::new();
    }
    if nesting_exceeds(object, MAX_DEPTH) || old.is_some_and(|old| nesting_exceeds(old, MAX_DEPTH))
    {
        // kube-cel converts whole objects recursively; refuse rather than risk the stack.
        return vec![FieldViolation {
            field: String::new(),
            reason: ViolationReason::Invalid,
            message: format!(
                "Invalid value: \"object\": object nesting exceeds {MAX_DEPTH} levels"
            ),
        }];
    }
    let compiled = compiled(schema);
    let Err(errors) = validate_compiled(&compiled, object, old) else {
        return Vec::new();
    };
    let mut violations = Vec::new();
    for error in errors.iter() {
        let shown_type = lookup(object, &error.field_path)
            .map(type_name)
            .unwrap_or("object");
        let (reason, message) = match error.kind {
            ErrorKind::ValidationFailure => match error.reason.as_deref() {
                Some("FieldValueForbidden") => (
                    ViolationReason::Forbidden,
                    format!("Forbidden: {}", error.message),
                ),
                Some("FieldValueRequired") => (
                    ViolationReason::Required,
                    format!("Required value: {}", error.message),
                ),
                Some("FieldValueDuplicate") => (
                    ViolationReason::Duplicate,
                    format!("Duplicate value: {}", error.message),
                ),
                _ => (
                    ViolationReason::Invalid,
                    format!("Invalid value: \"{shown_type}\": {}", error.message),
                ),
            },
            ErrorKind::CompilationFailure | ErrorKind::InvalidRule => (
                ViolationReason::Invalid,
                format!(
                    "Invalid value: \"{shown_type}\": compilation failed: {}",
                    error.message
                ),
            ),
            ErrorKind::UnsupportedReference => {
                debug!(rule = %error.rule, "skipping a CEL rule kube-cel cannot evaluate");
                continue;
            }
            _ => (
                ViolationReason::Invalid,
                format!("Invalid value: \"{shown_type}\": {}", error.message),
            ),
        };
        violations.push(FieldViolation {
            field: error.field_path.clone(),
            reason,
            message,
        });
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookup_follows_properties_indices_and_keys() {
        let object = json!({"spec": {"steps": [{"a": 1}, {"a": 2}], "labels": {"x.y": "z"}}});
        assert_eq!(lookup(&object, "spec.steps[1].a"), Some(&json!(2)));
        assert_eq!(lookup(&object, "spec.labels['x.y']"), Some(&json!("z")));
        assert_eq!(lookup(&object, "spec.missing"), None);
        assert_eq!(lookup(&object, ""), Some(&object));
    }
}
