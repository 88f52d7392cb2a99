//! Structural-schema handling of custom resources, in the API server's order for a write:
//! [`apply_defaults`], then [`prune`] (or [`unknown_fields`] for `fieldValidation=Strict`), then
//! [`validate`] (value checks, then CEL `x-kubernetes-validations`).
//!
//! Untrusted input: any schema and any object are accepted without panicking; recursion is
//! bounded. Field paths use the server's notation: `spec.strategy.canary.steps[2].setWeight`,
//! map entries (`additionalProperties`) as `spec.selector[app]`.

use std::sync::OnceLock;

use serde_json::Value;

mod cel;
mod checks;
mod shape;

pub(crate) use checks::go_value;

/// Deepest schema nesting walked; deeper parts are left alone.
const MAX_DEPTH: usize = 64;

/// Why a field was refused, in the API server's `StatusCause.reason` vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ViolationReason {
    /// `FieldValueRequired`
    Required,
    /// `FieldValueInvalid`
    Invalid,
    /// `FieldValueNotSupported` (enum)
    NotSupported,
    /// `FieldValueTypeInvalid`
    TypeInvalid,
    /// `FieldValueTooLong` / `FieldValueTooMany`
    TooLong,
    /// `FieldValueForbidden`
    Forbidden,
    /// `FieldValueDuplicate` (list-type `set`/`map` uniqueness)
    Duplicate,
}

/// The violation kube-apiserver adds when a value check stopped the CEL rules.
const RULES_NOT_CHECKED: &str = "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

impl ViolationReason {
    /// Whether a violation of this kind stops the CEL rules from running (their input is
    /// ill-typed or incomplete).
    fn blocks_rules(self) -> bool {
        matches!(
            self,
            ViolationReason::Required
                | ViolationReason::NotSupported
                | ViolationReason::TypeInvalid
                | ViolationReason::TooLong
        )
    }

    /// The `StatusCause.reason` string a real API server uses.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ViolationReason::Required => "FieldValueRequired",
            ViolationReason::Invalid => "FieldValueInvalid",
            ViolationReason::NotSupported => "FieldValueNotSupported",
            ViolationReason::TypeInvalid => "FieldValueTypeInvalid",
            ViolationReason::TooLong => "FieldValueTooLong",
            ViolationReason::Forbidden => "FieldValueForbidden",
            ViolationReason::Duplicate => "FieldValueDuplicate",
        }
    }
}

/// One refused field: `field` is a path like `spec.strategy.canary.steps[0].setWeight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldViolation {
    /// Path of the field, in the API server's notation.
    pub field: String,
    /// Category of the problem.
    pub reason: ViolationReason,
    /// Human-readable message, as the API server would word it (the `StatusCause.message`,
    /// without the field path), e.g. `Invalid value: 150: spec.x in body should be less than or
    /// equal to 100`, `Required value`, `Unsupported value: "x": supported values: "a", "b"`.
    pub message: String,
}

/// Checks `object` against one CRD version's `openAPIV3Schema` (and its CEL rules; `old` is the
/// stored object for transition rules on update). Returns every violation.
///
/// Value checks: `type` (object, array, string, integer, number, boolean), `nullable`,
/// `x-kubernetes-int-or-string`, `required`, `enum`, `minimum`/`maximum` (and exclusive),
/// `multipleOf`, `minLength`/`maxLength`, `pattern`, `minItems`/`maxItems`,
/// `minProperties`/`maxProperties`, `format` int32/int64, `allOf`/`anyOf`/`oneOf`/`not`,
/// `x-kubernetes-list-type` `set`/`map` uniqueness. `metadata` at the root is left to the server.
///
/// CEL rules run unless a value check failed in a way that leaves their input ill-typed or
/// incomplete (a wrong type, a missing required field, an unsupported enum value, too long or
/// too many): then, as kube-apiserver does, one more violation (field `<nil>`) says some rules
/// were not checked. Bounds, patterns and formats do not stop them, so one answer lists every
/// problem. Transition rules (`oldSelf`) run only where `old` has a value at that node. The object should
/// already be defaulted ([`apply_defaults`]).
///
/// This compiles the schema's CEL rules on every call: writes go through [`Schema::validate`],
/// which compiles them once per schema.
#[cfg(test)]
pub(crate) fn validate(schema: &Value, object: &Value, old: Option<&Value>) -> Vec<FieldViolation> {
    Schema::new(schema.clone()).validate(object, old)
}

/// One CRD version's `openAPIV3Schema`, prepared for writes: whether it holds CEL rules is
/// known at once, and the rules are compiled on the first write that needs them and kept for
/// as long as the schema is (a CRD update that changes the schema registers a new one).
#[derive(Debug)]
pub(crate) struct Schema {
    value: Value,
    has_rules: bool,
    compiled: OnceLock<cel::CompiledRules>,
}

impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Schema {
    /// Prepares `value` (an `openAPIV3Schema`); CEL rules are compiled lazily.
    pub(crate) fn new(value: Value) -> Self {
        Schema {
            has_rules: cel::has_rules(&value, 0),
            value,
            compiled: OnceLock::new(),
        }
    }

    /// The schema as the CRD declares it.
    pub(crate) fn value(&self) -> &Value {
        &self.value
    }

    /// [`validate`] with the rules compiled once for this schema.
    #[cfg(test)]
    pub(crate) fn validate(&self, object: &Value, old: Option<&Value>) -> Vec<FieldViolation> {
        self.validate_with(object, old, Vec::new())
    }

    /// [`Schema::validate`], with `more` (the server's other checks of the same stage, such as
    /// the scale subresource's replicas) listed after the schema's and counted, as the real
    /// server counts them, when deciding whether the CEL rules run.
    pub(crate) fn validate_with(
        &self,
        object: &Value,
        old: Option<&Value>,
        more: Vec<FieldViolation>,
    ) -> Vec<FieldViolation> {
        let mut violations = Vec::new();
        checks::check_node(&self.value, object, "", &mut violations, 0);
        violations.extend(more);
        if self.has_rules {
            if violations.iter().any(|v| v.reason.blocks_rules()) {
                violations.push(FieldViolation {
                    field: "<nil>".to_string(),
                    reason: ViolationReason::Invalid,
                    message: RULES_NOT_CHECKED.to_string(),
                });
            } else {
                let compiled = self
                    .compiled
                    .get_or_init(|| cel::CompiledRules::compile(&self.value));
                violations.extend(compiled.check(object, old));
            }
        }
        violations
    }

    /// Whether the rules have been compiled (for tests of the cache).
    #[cfg(test)]
    pub(crate) fn is_compiled(&self) -> bool {
        self.compiled.get().is_some()
    }
}

/// Drops fields the schema does not know, as a real API server prunes structural schemas.
///
/// Unknown fields survive under `x-kubernetes-preserve-unknown-fields: true` (at that level) and
/// `additionalProperties`. At the root (and under `x-kubernetes-embedded-resource`),
/// `apiVersion` and `kind` are kept and `metadata` keeps only the standard `ObjectMeta` fields.
pub(crate) fn prune(schema: &Value, object: &mut Value) {
    shape::prune_node(schema, object, "", true, &mut None, 0);
}

/// The paths of the fields [`prune`] would drop (for `fieldValidation=Strict`: the server answers
/// 400 `strict decoding error: unknown field "spec.foo"`), in document order.
pub(crate) fn unknown_fields(schema: &Value, object: &Value) -> Vec<String> {
    let mut scratch = object.clone();
    let mut removed = Vec::new();
    shape::prune_node(schema, &mut scratch, "", true, &mut Some(&mut removed), 0);
    removed
}

/// Fills schema `default`s into `object`, recursively through properties, array items and
/// `additionalProperties`, as apiextensions does: an absent field gets its default (and the
/// defaults inside it), and a `null` in a non-nullable field is replaced by its default or, with
/// none, removed.
pub(crate) fn apply_defaults(schema: &Value, object: &mut Value) {
    shape::default_node(schema, object, 0);
}

fn schema_flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

fn join_property(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn join_index(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

fn join_key(path: &str, key: &str) -> String {
    format!("{path}[{key}]")
}

#[cfg(test)]
mod tests;
