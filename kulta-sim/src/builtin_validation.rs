//! The checks of built-in kinds' own fields that kulta-sim makes on create and update. The real
//! server validates every field of every kind; these are the ones a controller's writes can get
//! wrong in ways it must handle (a computed replica count below zero). Everything else about
//! built-in kinds is accepted as decoded (see the README, "What it does not emulate").

use serde_json::Value;

use crate::resources::ResourceType;
use crate::schema::{FieldViolation, ViolationReason};

/// The violations of `object`, a built-in kind after decoding and defaulting, in the server's
/// order (after the metadata's, which the caller puts first).
pub fn violations(resource: &ResourceType, object: &Value) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    if let ("apps", "ReplicaSet" | "Deployment") = (resource.group.as_str(), resource.kind.as_str())
        && let Some(replicas) = object["spec"]["replicas"].as_i64()
        && replicas < 0
    {
        violations.push(FieldViolation {
            field: "spec.replicas".to_string(),
            reason: ViolationReason::Invalid,
            message: format!("Invalid value: {replicas}: must be greater than or equal to 0"),
        });
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin_kind as builtin;
    use serde_json::json;

    #[test]
    fn workload_replicas_must_not_be_negative() {
        for kind in ["ReplicaSet", "Deployment"] {
            let found = violations(&builtin("apps", kind), &json!({"spec": {"replicas": -1}}));
            assert_eq!(found.len(), 1, "{kind}");
            assert_eq!(found[0].field, "spec.replicas");
            assert_eq!(
                found[0].message,
                "Invalid value: -1: must be greater than or equal to 0"
            );
            assert!(
                violations(&builtin("apps", kind), &json!({"spec": {"replicas": 0}})).is_empty()
            );
        }
        assert!(
            violations(
                &builtin("", "ConfigMap"),
                &json!({"spec": {"replicas": -1}})
            )
            .is_empty()
        );
    }
}
