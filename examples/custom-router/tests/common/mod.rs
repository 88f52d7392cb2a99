//! What the example's suites share.

use k8s_openapi::api::rbac::v1::PolicyRule;

/// What the router does with ConfigMaps: read, create, and merge-patch `data`, and what the
/// controller does with the kind the router references: list and watch. KULTA's own
/// ClusterRole has no ConfigMaps, so a deployment of this router grants these.
pub fn router_rules() -> Vec<PolicyRule> {
    vec![PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(vec!["configmaps".to_string()]),
        verbs: ["get", "list", "watch", "create", "patch"]
            .map(String::from)
            .to_vec(),
        ..PolicyRule::default()
    }]
}
