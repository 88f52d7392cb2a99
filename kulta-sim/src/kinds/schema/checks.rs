//! Value validation of an object against an OpenAPI v3 structural schema, worded like the API
//! server's (kube-openapi) errors: types, `nullable`, `x-kubernetes-int-or-string`, `required`,
//! `enum`, numeric bounds, string lengths and `pattern`, item and property counts, `format`
//! int32/int64, `allOf`/`anyOf`/`oneOf`/`not`, and list-type `set`/`map` uniqueness.
//!
//! Long because it mirrors kube-openapi's validator keyword by keyword, one function each, so
//! a difference from the real API server is found by reading the two side by side.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::Regex;
use serde_json::Value;

use super::{
    FieldViolation, MAX_DEPTH, ViolationReason, join_index, join_key, join_property, schema_flag,
};

/// The JSON type name the API server prints for a value.
pub(super) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value as the API server prints it (Go's `%v`): numbers held as floats print like Go
/// floats, so a bound read from a CRD as `65535.0` prints `65535` and `0.5` stays `0.5`.
pub(super) fn render(value: &Value) -> String {
    match value {
        Value::Number(number) if number.is_f64() => go_float(number.as_f64().unwrap_or_default()),
        other => other.to_string(),
    }
}

/// A decoded JSON value as Go's `%v` prints it and the Go type name `%T` gives, as the API
/// server's unstructured accessors word their errors (`three is of the type string`): strings
/// bare, maps as `map[k:v]` with sorted keys, lists as `[a b]`.
pub(crate) fn go_value(value: &Value) -> (String, &'static str) {
    match value {
        Value::Null => ("<nil>".to_string(), "<nil>"),
        Value::Bool(flag) => (flag.to_string(), "bool"),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => (integer.to_string(), "int64"),
            None => (go_float(number.as_f64().unwrap_or_default()), "float64"),
        },
        Value::String(text) => (text.clone(), "string"),
        Value::Array(items) => {
            let shown: Vec<String> = items.iter().map(|item| go_value(item).0).collect();
            (format!("[{}]", shown.join(" ")), "[]interface {}")
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by_key(|(key, _)| *key);
            let shown: Vec<String> = entries
                .into_iter()
                .map(|(key, value)| format!("{key}:{}", go_value(value).0))
                .collect();
            (
                format!("map[{}]", shown.join(" ")),
                "map[string]interface {}",
            )
        }
    }
}

/// Go's `%v` of a float64: the shortest representation, in exponent form (`1e+21`, `1e-05`)
/// outside `1e-4 <= |f| < 1e21`.
pub(super) fn go_float(float: f64) -> String {
    if float == 0.0 || !float.is_finite() {
        // Rust prints `0`, `-0`, `inf`, `NaN`; finite zeros are all JSON can carry.
        return format!("{float}");
    }
    let exponent = float.abs().log10().floor();
    if (-4.0..21.0).contains(&exponent) {
        return format!("{float}");
    }
    let scientific = format!("{float:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

fn is_integer(value: &Value) -> bool {
    match value {
        Value::Number(number) => {
            number.is_i64() || number.is_u64() || number.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

fn type_matches(expected: &str, value: &Value) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => is_integer(value),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => true,
    }
}

fn push(out: &mut Vec<FieldViolation>, field: &str, reason: ViolationReason, message: String) {
    out.push(FieldViolation {
        field: field.to_string(),
        reason,
        message,
    });
}

fn invalid(out: &mut Vec<FieldViolation>, field: &str, value: &Value, detail: String) {
    push(
        out,
        field,
        ViolationReason::Invalid,
        format!("Invalid value: {}: {detail}", render(value)),
    );
}

/// `path` as the server prints it inside messages ("in body" paths have no leading dot).
fn shown(path: &str) -> &str {
    if path.is_empty() { "body" } else { path }
}

thread_local! {
    static PATTERNS: RefCell<HashMap<String, Option<Regex>>> = RefCell::new(HashMap::new());
}

/// Whether `text` matches `pattern`; `None` when the pattern does not compile (the real server
/// refuses such a CRD, so the check is skipped here).
fn pattern_matches(pattern: &str, text: &str) -> Option<bool> {
    PATTERNS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() > 1024 {
            cache.clear();
        }
        let regex = cache.entry(pattern.to_string()).or_insert_with(|| {
            regex::RegexBuilder::new(pattern)
                .size_limit(1 << 20)
                .build()
                .ok()
        });
        regex.as_ref().map(|regex| regex.is_match(text))
    })
}

/// Validates `value` at `path`; appends violations to `out`.
pub(super) fn check_node(
    schema: &Value,
    value: &Value,
    path: &str,
    out: &mut Vec<FieldViolation>,
    depth: usize,
) {
    if depth > MAX_DEPTH || !schema.is_object() {
        return;
    }
    if value.is_null() && schema_flag(schema, "nullable") {
        return;
    }
    if schema_flag(schema, "x-kubernetes-int-or-string") {
        if !(is_integer(value) || value.is_string()) {
            push(
                out,
                path,
                ViolationReason::TypeInvalid,
                format!(
                    "Invalid value: \"{}\": {} in body must be of type integer,string: \"{}\"",
                    type_name(value),
                    shown(path),
                    type_name(value)
                ),
            );
            return;
        }
    } else if let Some(expected) = schema.get("type").and_then(Value::as_str)
        && !type_matches(expected, value)
    {
        push(
            out,
            path,
            ViolationReason::TypeInvalid,
            format!(
                "Invalid value: \"{}\": {} in body must be of type {expected}: \"{}\"",
                type_name(value),
                shown(path),
                type_name(value)
            ),
        );
        return;
    }

    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let supported: Vec<String> = allowed.iter().map(render).collect();
        push(
            out,
            path,
            ViolationReason::NotSupported,
            format!(
                "Unsupported value: {}: supported values: {}",
                render(value),
                supported.join(", ")
            ),
        );
    }

    match value {
        Value::Number(number) => {
            check_number(schema, value, number.as_f64().unwrap_or(0.0), path, out)
        }
        Value::String(text) => check_string(schema, value, text, path, out),
        Value::Array(items) => check_array(schema, value, items, path, out, depth),
        Value::Object(map) => check_object(schema, value, map, path, out, depth),
        _ => {}
    }
    check_combinators(schema, value, path, out, depth);
}

fn check_number(
    schema: &Value,
    value: &Value,
    number: f64,
    path: &str,
    out: &mut Vec<FieldViolation>,
) {
    let at = shown(path);
    if let Some(maximum) = schema.get("maximum").and_then(Value::as_f64) {
        let exclusive = schema_flag(schema, "exclusiveMaximum");
        if exclusive && number >= maximum {
            invalid(
                out,
                path,
                value,
                format!(
                    "{at} in body should be less than {}",
                    render(&schema["maximum"])
                ),
            );
        } else if number > maximum {
            invalid(
                out,
                path,
                value,
                format!(
                    "{at} in body should be less than or equal to {}",
                    render(&schema["maximum"])
                ),
            );
        }
    }
    if let Some(minimum) = schema.get("minimum").and_then(Value::as_f64) {
        let exclusive = schema_flag(schema, "exclusiveMinimum");
        if exclusive && number <= minimum {
            invalid(
                out,
                path,
                value,
                format!(
                    "{at} in body should be greater than {}",
                    render(&schema["minimum"])
                ),
            );
        } else if number < minimum {
            invalid(
                out,
                path,
                value,
                format!(
                    "{at} in body should be greater than or equal to {}",
                    render(&schema["minimum"])
                ),
            );
        }
    }
    if let Some(factor) = schema.get("multipleOf").and_then(Value::as_f64)
        && factor > 0.0
        && (number / factor).fract() != 0.0
    {
        invalid(
            out,
            path,
            value,
            format!(
                "{at} in body should be a multiple of {}",
                render(&schema["multipleOf"])
            ),
        );
    }
    let format = schema.get("format").and_then(Value::as_str);
    let out_of_range = match format {
        Some("int32") => {
            is_integer(value) && (number < f64::from(i32::MIN) || number > f64::from(i32::MAX))
        }
        Some("int64") => {
            is_integer(value)
                && value.as_i64().is_none()
                && value.as_f64().is_some_and(|f| f.abs() > 9.2e18)
        }
        _ => false,
    };
    if let (true, Some(format)) = (out_of_range, format) {
        invalid(
            out,
            path,
            value,
            format!("{at} in body must be of type {format}: {}", render(value)),
        );
    }
}

fn check_string(
    schema: &Value,
    value: &Value,
    text: &str,
    path: &str,
    out: &mut Vec<FieldViolation>,
) {
    let at = shown(path);
    let length = text.chars().count() as u64;
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && length > max
    {
        push(
            out,
            path,
            ViolationReason::TooLong,
            format!("Too long: may not be more than {max} bytes"),
        );
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && length < min
    {
        invalid(
            out,
            path,
            value,
            format!("{at} in body should be at least {min} chars long"),
        );
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
        && pattern_matches(pattern, text) == Some(false)
    {
        invalid(
            out,
            path,
            value,
            format!("{at} in body should match '{pattern}'"),
        );
    }
}

fn check_array(
    schema: &Value,
    value: &Value,
    items: &[Value],
    path: &str,
    out: &mut Vec<FieldViolation>,
    depth: usize,
) {
    let count = items.len() as u64;
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && count > max
    {
        push(
            out,
            path,
            ViolationReason::TooLong,
            format!("Too many: {count}: must have at most {max} items"),
        );
    }
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && count < min
    {
        invalid(
            out,
            path,
            value,
            format!("{} in body should have at least {min} items", shown(path)),
        );
    }
    if let Some(item_schema) = schema.get("items") {
        for (index, item) in items.iter().enumerate() {
            check_node(
                item_schema,
                item,
                &join_index(path, index),
                out,
                depth.saturating_add(1),
            );
        }
    }
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            for (index, item) in items.iter().enumerate() {
                if items.iter().take(index).any(|earlier| earlier == item) {
                    push(
                        out,
                        &join_index(path, index),
                        ViolationReason::Duplicate,
                        format!("Duplicate value: {}", render(item)),
                    );
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|keys| keys.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if keys.is_empty() {
                return;
            }
            let key_of = |item: &Value| -> Vec<Value> {
                keys.iter()
                    .map(|key| item.get(*key).cloned().unwrap_or(Value::Null))
                    .collect()
            };
            for (index, item) in items.iter().enumerate() {
                let key = key_of(item);
                if items
                    .iter()
                    .take(index)
                    .any(|earlier| key_of(earlier) == key)
                {
                    let shown_key: serde_json::Map<String, Value> = keys
                        .iter()
                        .zip(key)
                        .map(|(name, value)| (name.to_string(), value))
                        .collect();
                    push(
                        out,
                        &join_index(path, index),
                        ViolationReason::Duplicate,
                        format!("Duplicate value: {}", Value::Object(shown_key)),
                    );
                }
            }
        }
        _ => {}
    }
}

fn check_object(
    schema: &Value,
    value: &Value,
    map: &serde_json::Map<String, Value>,
    path: &str,
    out: &mut Vec<FieldViolation>,
    depth: usize,
) {
    let count = map.len() as u64;
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
        && count > max
    {
        push(
            out,
            path,
            ViolationReason::TooLong,
            format!("Too many: {count}: must have at most {max} items"),
        );
    }
    if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
        && count < min
    {
        invalid(
            out,
            path,
            value,
            format!(
                "{} in body should have at least {min} properties",
                shown(path)
            ),
        );
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    let root = path.is_empty();
    for (key, child) in map {
        // ObjectMeta is validated by the server itself, not by the CRD schema.
        if root && key == "metadata" {
            continue;
        }
        match properties.and_then(|p| p.get(key)) {
            Some(child_schema) => check_node(
                child_schema,
                child,
                &join_property(path, key),
                out,
                depth.saturating_add(1),
            ),
            None => {
                if let Some(additional) = additional {
                    check_node(
                        additional,
                        child,
                        &join_key(path, key),
                        out,
                        depth.saturating_add(1),
                    );
                }
            }
        }
    }
    // After the properties' own errors, as kube-openapi's object validator reports them.
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(name) {
                push(
                    out,
                    &join_property(path, name),
                    ViolationReason::Required,
                    "Required value".to_string(),
                );
            }
        }
    }
}

fn passes(schema: &Value, value: &Value, path: &str, depth: usize) -> bool {
    let mut scratch = Vec::new();
    check_node(schema, value, path, &mut scratch, depth.saturating_add(1));
    scratch.is_empty()
}

fn check_combinators(
    schema: &Value,
    value: &Value,
    path: &str,
    out: &mut Vec<FieldViolation>,
    depth: usize,
) {
    let at = shown(path);
    if let Some(branches) = schema.get("allOf").and_then(Value::as_array) {
        for branch in branches {
            check_node(branch, value, path, out, depth.saturating_add(1));
        }
    }
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array)
        && !branches.is_empty()
        && !branches
            .iter()
            .any(|branch| passes(branch, value, path, depth))
    {
        invalid(
            out,
            path,
            value,
            format!("{at} in body must validate at least one schema (anyOf)"),
        );
    }
    if let Some(branches) = schema.get("oneOf").and_then(Value::as_array)
        && !branches.is_empty()
        && branches
            .iter()
            .filter(|branch| passes(branch, value, path, depth))
            .count()
            != 1
    {
        invalid(
            out,
            path,
            value,
            format!("{at} in body must validate one and only one schema (oneOf)"),
        );
    }
    if let Some(branch) = schema.get("not")
        && passes(branch, value, path, depth)
    {
        invalid(
            out,
            path,
            value,
            format!("{at} in body must not validate the schema (not)"),
        );
    }
}
