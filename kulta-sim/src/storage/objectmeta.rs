//! The `ObjectMeta` rules kube-apiserver applies to every kind on writes, as data per kind: the
//! format a new object's name must have, which kinds keep `metadata.generation`, and the empty
//! metadata fields Go's encoding leaves out. [`crate::storage::write`] calls them.

use serde_json::{Map, Value};

use crate::kinds::resources::ResourceType;
use crate::kinds::schema::{FieldViolation, ViolationReason};

/// How a kind's names are validated on create (the `nameFn` of its `ValidateObjectMeta`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// `NameIsDNSSubdomain`: most kinds, and every custom resource.
    Subdomain,
    /// `NameIsDNSLabel`: Namespaces, and Services (`RelaxedServiceNameValidation`, on by
    /// default since 1.36).
    Label,
    /// `ValidateRBACName`: a path segment (RBAC kinds).
    PathSegment,
    /// Not checked here: core v1 Events (their legacy validation has no name rule) and
    /// CustomResourceDefinitions (`crd.rs` owns their name rule, `<plural>.<group>`).
    Unchecked,
}

/// The name rule of `resource`.
pub(crate) fn name_rule(resource: &ResourceType) -> NameRule {
    if resource.custom {
        return NameRule::Subdomain;
    }
    match (resource.group.as_str(), resource.kind.as_str()) {
        ("", "Namespace" | "Service") => NameRule::Label,
        ("", "Event") | ("apiextensions.k8s.io", _) => NameRule::Unchecked,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

const LABEL_MAX: usize = 63;
const SUBDOMAIN_MAX: usize = 253;
const SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn is_label(value: &str) -> bool {
    let bytes = value.as_bytes();
    let alphanumeric = |byte: &u8| byte.is_ascii_lowercase() || byte.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            alphanumeric(first)
                && alphanumeric(last)
                && bytes.iter().all(|byte| alphanumeric(byte) || *byte == b'-')
        }
        _ => false,
    }
}

fn is_subdomain(value: &str) -> bool {
    value.split('.').all(is_label)
}

/// The messages of `IsDNS1123Subdomain` / `IsDNS1123Label` / `IsValidPathSegmentName` for
/// `value`; `prefix` masks a trailing dash, as the server does for `generateName`.
fn name_messages(rule: NameRule, value: &str, prefix: bool) -> Vec<String> {
    let checked = match value.strip_suffix('-') {
        Some(stem) if prefix => format!("{stem}a"),
        _ => value.to_string(),
    };
    let mut messages = Vec::new();
    match rule {
        NameRule::Subdomain => {
            if checked.len() > SUBDOMAIN_MAX {
                messages.push(format!("must be no more than {SUBDOMAIN_MAX} characters"));
            }
            if !is_subdomain(&checked) {
                messages.push(SUBDOMAIN_MESSAGE.to_string());
            }
        }
        NameRule::Label => {
            if checked.len() > LABEL_MAX {
                messages.push(format!("must be no more than {LABEL_MAX} characters"));
            }
            if !is_label(&checked) {
                messages.push(if is_subdomain(&checked) {
                    "must not contain dots".to_string()
                } else {
                    LABEL_MESSAGE.to_string()
                });
            }
        }
        NameRule::PathSegment => {
            if checked == "." || checked == ".." {
                messages.push(format!("may not be '{checked}'"));
            }
            for forbidden in ["/", "%"] {
                if checked.contains(forbidden) {
                    messages.push(format!("may not contain '{forbidden}'"));
                }
            }
        }
        NameRule::Unchecked => {}
    }
    messages
}

/// The violations of a new object's `metadata.generateName` and `metadata.name` (after name
/// generation), in the server's order: generateName first.
pub(crate) fn name_violations(
    resource: &ResourceType,
    metadata: &Map<String, Value>,
) -> Vec<FieldViolation> {
    let rule = name_rule(resource);
    let mut violations = Vec::new();
    for (field, prefix) in [("generateName", true), ("name", false)] {
        let Some(value) = metadata.get(field).and_then(Value::as_str) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        for message in name_messages(rule, value, prefix) {
            violations.push(FieldViolation {
                field: format!("metadata.{field}"),
                reason: ViolationReason::Invalid,
                message: format!("Invalid value: {}: {message}", Value::from(value)),
            });
        }
    }
    violations
}

/// The `metadata.generation` after one more change. kube-apiserver's `+ 1` wraps in Go; here a
/// generation at `i64::MAX` stays there, so a watcher comparing generations never sees one go
/// backwards.
pub(crate) fn next_generation(generation: i64) -> i64 {
    generation.saturating_add(1)
}

/// Whether kube-apiserver sets `metadata.generation` on objects of `resource` (1 on create, +1
/// on each change outside metadata and status, +1 when deletion starts): custom resources and
/// the built-in kinds whose strategy does (workloads, Pods, PodDisruptionBudgets, CRDs...), not
/// ConfigMaps, Secrets, Services, Namespaces, ServiceAccounts, Events, Leases or RBAC objects.
pub(crate) fn tracks_generation(resource: &ResourceType) -> bool {
    if resource.custom {
        return true;
    }
    matches!(
        (resource.group.as_str(), resource.kind.as_str()),
        ("", "Pod" | "PodTemplate" | "ReplicationController")
            | (
                "apps",
                "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet"
            )
            | ("batch", "Job" | "CronJob")
            | ("policy", "PodDisruptionBudget")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | (
                "networking.k8s.io",
                "Ingress" | "IngressClass" | "NetworkPolicy"
            )
    )
}

/// Drops the `metadata` maps and lists that are present but empty (`labels: {}`,
/// `finalizers: []`...): Go's `ObjectMeta` has `omitempty` on them, and kube-apiserver decodes
/// every object's metadata into it (custom resources too), so an empty one is never stored.
/// Without this, removing the last finalizer would leave `finalizers: []` where a real server
/// leaves none, and a client comparing `Some(vec![])` with `None` would behave differently.
pub(crate) fn omit_empty(object: &mut Value) {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    for field in ["labels", "annotations", "finalizers", "ownerReferences"] {
        let empty = match metadata.get(field) {
            Some(Value::Object(map)) => map.is_empty(),
            Some(Value::Array(items)) => items.is_empty(),
            Some(Value::Null) => true,
            _ => false,
        };
        if empty {
            metadata.remove(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::resources::builtin_kind as builtin;
    use serde_json::json;

    fn violations(resource: &ResourceType, metadata: Value) -> Vec<(String, String)> {
        let metadata = metadata.as_object().cloned().unwrap_or_default();
        name_violations(resource, &metadata)
            .into_iter()
            .map(|violation| (violation.field, violation.message))
            .collect()
    }

    #[test]
    fn names_follow_the_rule_of_their_kind() {
        let replica_sets = builtin("apps", "ReplicaSet");
        assert!(violations(&replica_sets, json!({"name": "web-5d8f7c.v2"})).is_empty());
        assert_eq!(
            violations(&replica_sets, json!({"name": "Web-5D8F7C"})),
            [(
                "metadata.name".to_string(),
                format!("Invalid value: \"Web-5D8F7C\": {SUBDOMAIN_MESSAGE}")
            )]
        );
        let services = builtin("", "Service");
        assert_eq!(
            violations(&services, json!({"name": "web.stable"})),
            [(
                "metadata.name".to_string(),
                "Invalid value: \"web.stable\": must not contain dots".to_string()
            )]
        );
        let long = "a".repeat(64);
        assert_eq!(
            violations(&services, json!({ "name": long }))[0].1,
            format!("Invalid value: \"{long}\": must be no more than 63 characters")
        );
        let roles = builtin("rbac.authorization.k8s.io", "Role");
        assert!(violations(&roles, json!({"name": "system:Controller_1"})).is_empty());
        assert_eq!(
            violations(&roles, json!({"name": "a/b"}))[0].1,
            "Invalid value: \"a/b\": may not contain '/'"
        );
        assert!(violations(&builtin("", "Event"), json!({"name": "Any_Name"})).is_empty());
    }

    #[test]
    fn a_generate_name_prefix_may_end_in_a_dash() {
        let config_maps = builtin("", "ConfigMap");
        assert!(
            violations(
                &config_maps,
                json!({"generateName": "web-", "name": "web-x2b4c"})
            )
            .is_empty()
        );
        let found = violations(
            &config_maps,
            json!({"generateName": "Web-", "name": "Web-x2b4c"}),
        );
        let fields: Vec<&str> = found.iter().map(|(field, _)| field.as_str()).collect();
        assert_eq!(fields, ["metadata.generateName", "metadata.name"]);
    }

    #[test]
    fn only_kinds_with_a_generation_strategy_track_it() {
        assert!(tracks_generation(&builtin("apps", "ReplicaSet")));
        assert!(tracks_generation(&builtin("", "Pod")));
        assert!(tracks_generation(&builtin(
            "apiextensions.k8s.io",
            "CustomResourceDefinition"
        )));
        for (group, kind) in [
            ("", "ConfigMap"),
            ("", "Service"),
            ("events.k8s.io", "Event"),
            ("coordination.k8s.io", "Lease"),
        ] {
            assert!(!tracks_generation(&builtin(group, kind)), "{kind}");
        }
    }

    #[test]
    fn empty_metadata_maps_and_lists_are_omitted() {
        let mut object = json!({"metadata": {
            "name": "web",
            "labels": {},
            "annotations": {"a": "b"},
            "finalizers": [],
            "ownerReferences": null
        }});
        omit_empty(&mut object);
        assert_eq!(
            object,
            json!({"metadata": {"name": "web", "annotations": {"a": "b"}}})
        );
    }
}
