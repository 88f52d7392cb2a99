//! CEL `x-kubernetes-validations` through kube's `cel` feature (the kube-cel crate). A schema's
//! rules are compiled once ([`CompiledRules::compile`], kept by [`super::Schema`]) and the
//! compiled tree is trimmed so that evaluation only visits the nodes that can change a result.
//!
//! Rules that reference something kube-cel cannot evaluate (a CEL macro the `cel` crate lacks)
//! are skipped rather than refusing the object: failing closed would make the sim refuse valid
//! real-world objects.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Mutex, PoisonError};

use kube::core::cel::{CompiledSchema, ErrorKind, SchemaFormat, compile_schema, validate_compiled};
use serde_json::Value;
use tracing::debug;

use super::checks::type_name;
use super::{FieldViolation, MAX_DEPTH, ViolationReason};

/// kube-cel's depth limit: its walk reports a node deeper than this as an error.
const KUBE_CEL_MAX_DEPTH: usize = 64;

/// Feeds `value` to `hasher` (the caller has checked it nests at most [`MAX_DEPTH`] levels).
fn hash_value(value: &Value, hasher: &mut impl Hasher) {
    match value {
        Value::Null => 0u8.hash(hasher),
        Value::Bool(flag) => (1u8, flag).hash(hasher),
        Value::Number(number) => {
            2u8.hash(hasher);
            match (number.as_i64(), number.as_u64()) {
                (Some(signed), _) => signed.hash(hasher),
                (None, Some(unsigned)) => unsigned.hash(hasher),
                (None, None) => number.as_f64().map(f64::to_bits).hash(hasher),
            }
        }
        Value::String(text) => (3u8, text).hash(hasher),
        Value::Array(items) => {
            (4u8, items.len()).hash(hasher);
            for item in items {
                hash_value(item, hasher);
            }
        }
        Value::Object(map) => {
            (5u8, map.len()).hash(hasher);
            for (key, item) in map {
                key.hash(hasher);
                hash_value(item, hasher);
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
            Value::Array(items) => {
                stack.extend(items.iter().map(|item| (item, depth.saturating_add(1))))
            }
            Value::Object(map) => {
                stack.extend(map.values().map(|item| (item, depth.saturating_add(1))))
            }
            _ => {}
        }
    }
    false
}

/// Whether the schema carries any CEL rule (cheap pre-check that skips CEL entirely).
pub(super) fn has_rules(schema: &Value, depth: usize) -> bool {
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
                        && has_rules(child, depth.saturating_add(1))
                })
        }
        Value::Array(items) => items
            .iter()
            .any(|item| has_rules(item, depth.saturating_add(1))),
        _ => false,
    }
}

/// Removes from `node` the subtrees that cannot change what kube-cel's `validate_compiled`
/// reports, and returns whether `node` itself must stay.
///
/// kube-cel walks every schema node the object reaches, and at each one converts the whole
/// value below it to CEL and binds it, whether or not the node has rules: the cost grows with
/// the object's size times its depth. A subtree can go when walking it reports nothing (it has
/// no rule) and no rule can see a difference in it:
///
/// - a node whose conversion differs from the plain one (`format` hints, maps whose keys are
///   not escaped, embedded resources) only matters under a rule at it or above it (`covered`):
///   without its compiled node, kube-cel converts the value the plain way, which only the
///   bindings of rule-less ancestors then see;
/// - a `default` only matters for the stored object (`keep_defaults`, when a rule reads
///   `oldSelf`): kube-cel defaults the objects before its walk, and the new object has already
///   been defaulted by [`super::apply_defaults`], which fills every default kube-cel would.
///
/// A property is only removed when its parent has no `additionalProperties` schema, which would
/// otherwise take the key over. Nodes deeper than kube-cel's walk limit stay, since reaching
/// them is itself an error.
fn trim(node: &mut CompiledSchema, depth: usize, covered: bool, keep_defaults: bool) -> bool {
    let has_rules = !node.validations.is_empty();
    let covered = covered || has_rules;
    let special = node.format != SchemaFormat::None
        || node.is_map
        || node.embedded_resource
        || (keep_defaults && node.default.is_some());
    let mut keep = depth > KUBE_CEL_MAX_DEPTH || has_rules || (covered && special);
    if let Some(additional) = node.additional_properties.as_deref_mut() {
        if trim(additional, depth.saturating_add(1), covered, keep_defaults) {
            keep = true;
        } else {
            node.additional_properties = None;
        }
    }
    let parent_has_additional = node.additional_properties.is_some();
    node.properties.retain(|_, child| {
        let significant = trim(child, depth.saturating_add(1), covered, keep_defaults);
        keep |= significant;
        significant || parent_has_additional
    });
    if let Some(items) = node.items.as_deref_mut() {
        if trim(items, depth.saturating_add(1), covered, keep_defaults) {
            keep = true;
        } else {
            node.items = None;
        }
    }
    for branches in [&mut node.all_of, &mut node.one_of, &mut node.any_of] {
        // Branches are walked, never used to convert: only their rules count.
        branches.retain_mut(|branch| trim(branch, depth.saturating_add(1), false, keep_defaults));
        keep |= !branches.is_empty();
    }
    keep
}

/// Whether any rule of the tree can read `oldSelf` (a transition rule, or a message
/// expression that names it).
fn reads_old(node: &CompiledSchema) -> bool {
    let here = node.validations.iter().any(|validation| match validation {
        Ok(result) => {
            result.is_transition_rule
                || result
                    .rule
                    .message_expression
                    .as_deref()
                    .is_some_and(|expression| expression.contains("oldSelf"))
        }
        Err(_) => false,
    });
    here || node.properties.values().any(reads_old)
        || node.items.as_deref().is_some_and(reads_old)
        || node.additional_properties.as_deref().is_some_and(reads_old)
        || node
            .all_of
            .iter()
            .chain(&node.one_of)
            .chain(&node.any_of)
            .any(reads_old)
}

/// Passing fingerprints remembered per schema; the memory is cleared when it grows past this.
const PASSED_LIMIT: usize = 1024;

/// A schema's CEL rules, compiled and trimmed to the nodes that matter.
#[derive(Debug)]
pub(super) struct CompiledRules {
    /// `None` when nothing in the schema can report a violation.
    tree: Option<CompiledSchema>,
    /// Whether evaluation needs the stored object (`oldSelf`).
    reads_old: bool,
    /// The root properties whose values are all the rules can see, or `None` when the rules
    /// can see the whole object (a rule at the root).
    seen: Option<Vec<String>>,
    /// What the rules saw in objects that passed them, by hash. Without `oldSelf`, a rule's
    /// result is a function of the values it sees: an object showing them the same values
    /// passes again without evaluating anything (a status write leaves the spec alone).
    passed: Mutex<HashMap<u64, Vec<Option<Value>>>>,
    hasher: RandomState,
}

impl CompiledRules {
    /// Compiles every rule of `schema`.
    pub(super) fn compile(schema: &Value) -> Self {
        let mut tree = compile_schema(schema);
        let reads_old = reads_old(&tree);
        let keep = trim(&mut tree, 0, false, reads_old);
        let whole = !tree.validations.is_empty()
            || tree.items.is_some()
            || tree.additional_properties.is_some()
            || !tree.all_of.is_empty()
            || !tree.one_of.is_empty()
            || !tree.any_of.is_empty();
        let seen = (!whole).then(|| {
            let mut names: Vec<String> = tree.properties.keys().cloned().collect();
            names.sort();
            names
        });
        CompiledRules {
            tree: keep.then_some(tree),
            reads_old,
            seen,
            passed: Mutex::new(HashMap::new()),
            hasher: RandomState::new(),
        }
    }

    /// Evaluates every rule against `object` (and `old` for transition rules).
    pub(super) fn check(&self, object: &Value, old: Option<&Value>) -> Vec<FieldViolation> {
        let Some(tree) = &self.tree else {
            return Vec::new();
        };
        if self.reads_old {
            return check_rules(tree, object, old);
        }
        // Only transition rules (and message expressions) read `oldSelf`: without them the
        // stored object changes nothing, so it is neither checked nor converted.
        if nesting_exceeds(object, MAX_DEPTH) {
            return check_rules(tree, object, None);
        }
        let seen = self.seen_values(object);
        let fingerprint = self.fingerprint(&seen);
        let remembered = self
            .passed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&fingerprint)
            .is_some_and(|values| {
                values.len() == seen.len()
                    && values.iter().zip(&seen).all(|(a, b)| a.as_ref() == *b)
            });
        if remembered {
            return Vec::new();
        }
        let violations = check_rules(tree, object, None);
        if violations.is_empty() {
            let mut passed = self.passed.lock().unwrap_or_else(PoisonError::into_inner);
            if passed.len() >= PASSED_LIMIT {
                passed.clear();
            }
            passed.insert(fingerprint, seen.into_iter().map(|v| v.cloned()).collect());
        }
        violations
    }

    /// The values the rules can see: the root properties they cover, or the whole object.
    fn seen_values<'a>(&self, object: &'a Value) -> Vec<Option<&'a Value>> {
        match &self.seen {
            Some(names) => names.iter().map(|name| object.get(name)).collect(),
            None => vec![Some(object)],
        }
    }

    fn fingerprint(&self, seen: &[Option<&Value>]) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        for value in seen {
            match value {
                Some(value) => hash_value(value, &mut hasher),
                None => 6u8.hash(&mut hasher),
            }
        }
        hasher.finish()
    }

    /// How many passing fingerprints are remembered (for tests).
    #[cfg(test)]
    pub(super) fn remembered(&self) -> usize {
        self.passed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether trimming kept a node at `path` (property names from the root).
    #[cfg(test)]
    pub(super) fn keeps(&self, path: &[&str]) -> bool {
        let mut node = self.tree.as_ref();
        for name in path {
            node = node.and_then(|node| node.properties.get(*name));
        }
        node.is_some()
    }
}

/// What kube-cel reports with the whole compiled tree and the stored object always passed: the
/// reference [`CompiledRules::check`] must agree with.
#[cfg(test)]
pub(super) fn check_untrimmed(
    schema: &Value,
    object: &Value,
    old: Option<&Value>,
) -> Vec<FieldViolation> {
    check_rules(&compile_schema(schema), object, old)
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

/// Evaluates every rule of the compiled tree against `object` (and `old` for transition rules).
fn check_rules(tree: &CompiledSchema, object: &Value, old: Option<&Value>) -> Vec<FieldViolation> {
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
    let Err(errors) = validate_compiled(tree, object, old) else {
        return Vec::new();
    };
    let mut violations = Vec::new();
    for error in errors.iter() {
        let value = lookup(object, &error.field_path);
        let shown_type = value.map(type_name).unwrap_or("object");
        // A failed rule shows the value it judged, as kube-apiserver 1.36 does: a scalar as
        // itself, an object or a list not at all.
        let shown_value = match value {
            Some(Value::Object(_) | Value::Array(_)) | None => String::new(),
            Some(scalar) => format!("{}: ", super::checks::render(scalar)),
        };
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
                    format!("Duplicate value: {shown_value}{}", error.message),
                ),
                _ => (
                    ViolationReason::Invalid,
                    format!("Invalid value: {shown_value}{}", error.message),
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
            // A rule at the root of the schema: the server's field path is nil, which it
            // prints as `<nil>`.
            field: if error.field_path.is_empty() {
                "<nil>".to_string()
            } else {
                error.field_path.clone()
            },
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
