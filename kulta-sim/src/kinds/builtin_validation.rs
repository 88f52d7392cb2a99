//! The checks of built-in kinds' own fields that kulta-sim makes on create and update. The real
//! server validates every field of every kind; these are the ones a controller's writes can get
//! wrong in ways it must handle (a computed replica count below zero). Everything else about
//! built-in kinds is accepted as decoded (see the README, "What it does not emulate").

use serde_json::Value;

use crate::kinds::resources::ResourceType;
use crate::kinds::schema::{FieldViolation, ViolationReason};

/// The violations of `object`, a built-in kind after decoding and defaulting, in the server's
/// order (after the metadata's, which the caller puts first).
pub(crate) fn violations(resource: &ResourceType, object: &Value) -> Vec<FieldViolation> {
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
    if let ("apps", "ReplicaSet" | "Deployment") = (resource.group.as_str(), resource.kind.as_str())
    {
        container_port_violations(
            &object["spec"]["template"]["spec"],
            "spec.template.spec",
            &mut violations,
        );
    }
    violations
}

/// `containerPort` outside 1..=65535 in a pod spec's containers, as the real server words it.
fn container_port_violations(pod: &Value, path: &str, violations: &mut Vec<FieldViolation>) {
    for list in ["initContainers", "containers"] {
        let Some(containers) = pod[list].as_array() else {
            continue;
        };
        for (c, container) in containers.iter().enumerate() {
            let Some(ports) = container["ports"].as_array() else {
                continue;
            };
            for (p, port) in ports.iter().enumerate() {
                let Some(number) = port["containerPort"].as_i64() else {
                    continue;
                };
                if !(1..=65535).contains(&number) {
                    violations.push(FieldViolation {
                        field: format!("{path}.{list}[{c}].ports[{p}].containerPort"),
                        reason: ViolationReason::Invalid,
                        message: format!(
                            "Invalid value: {number}: must be between 1 and 65535, inclusive"
                        ),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::resources::builtin_kind as builtin;
    use serde_json::json;

    #[test]
    fn container_ports_must_be_in_range() {
        let rs = |port: i64| {
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "c", "ports": [{"containerPort": 80}, {"containerPort": port}]}
            ]}}}})
        };
        let found = violations(&builtin("apps", "ReplicaSet"), &rs(70000));
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].field,
            "spec.template.spec.containers[0].ports[1].containerPort"
        );
        assert_eq!(
            found[0].message,
            "Invalid value: 70000: must be between 1 and 65535, inclusive"
        );
        assert!(violations(&builtin("apps", "ReplicaSet"), &rs(65535)).is_empty());
    }

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
