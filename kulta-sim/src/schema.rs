//! Structural-schema checks for custom resources (interface; implementation in progress).

use serde_json::Value;

/// Why a field was refused, in the API server's `StatusCause.reason` vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationReason {
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
}

impl ViolationReason {
    /// The `StatusCause.reason` string a real API server uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationReason::Required => "FieldValueRequired",
            ViolationReason::Invalid => "FieldValueInvalid",
            ViolationReason::NotSupported => "FieldValueNotSupported",
            ViolationReason::TypeInvalid => "FieldValueTypeInvalid",
            ViolationReason::TooLong => "FieldValueTooLong",
            ViolationReason::Forbidden => "FieldValueForbidden",
        }
    }
}

/// One refused field: `field` is a path like `spec.strategy.canary.steps[0].setWeight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field, in the API server's notation.
    pub field: String,
    /// Category of the problem.
    pub reason: ViolationReason,
    /// Human-readable message, as the API server would word it.
    pub message: String,
}

/// Checks `object` against one CRD version's `openAPIV3Schema` (and its CEL rules; `old` is the
/// stored object for transition rules on update). Returns every violation.
pub fn validate(_schema: &Value, _object: &Value, _old: Option<&Value>) -> Vec<FieldViolation> {
    Vec::new()
}

/// Drops fields the schema does not know, as a real API server prunes structural schemas.
pub fn prune(_schema: &Value, _object: &mut Value) {}

/// Fills schema `default`s into `object`.
pub fn apply_defaults(_schema: &Value, _object: &mut Value) {}
