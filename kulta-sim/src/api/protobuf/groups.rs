//! The kinds of the named API groups the sim serves: `apps/v1` Deployment and ReplicaSet,
//! `coordination.k8s.io/v1` Lease, `events.k8s.io/v1` Event, `policy/v1` PodDisruptionBudget,
//! `rbac.authorization.k8s.io/v1` Roles and bindings, and `autoscaling/v1` Scale.
//!
//! Generated once from k8s-pb's messages and the Go API types of Kubernetes 1.36 (joined by
//! protobuf field number), then kept by hand: see `json.rs` for what each entry means.

use k8s_pb::api::{
    apps::v1 as apps, autoscaling::v1 as autoscaling, coordination::v1 as coordination,
};
use k8s_pb::api::{events::v1 as events, policy::v1 as policy, rbac::v1 as rbac};

use super::json::go_json;

go_json! {
    apps::Deployment {
        metadata: "metadata",
        spec: "spec",
        status: "status",
    }
    apps::ReplicaSet {
        metadata: "metadata",
        spec: "spec",
        status: "status",
    }
    coordination::Lease {
        metadata: "metadata",
        spec: "spec",
    }
    events::Event {
        metadata: "metadata",
        event_time: "eventTime",
        series: "series",
        reporting_controller: "reportingController",
        reporting_instance: "reportingInstance",
        action: "action",
        reason: "reason",
        regarding: "regarding",
        related: "related",
        note: "note",
        r#type: "type",
        deprecated_source: "deprecatedSource",
        deprecated_first_timestamp: "deprecatedFirstTimestamp",
        deprecated_last_timestamp: "deprecatedLastTimestamp",
        deprecated_count: "deprecatedCount",
    }
    policy::PodDisruptionBudget {
        metadata: "metadata",
        spec: "spec",
        status: "status",
    }
    rbac::Role {
        metadata: "metadata",
        rules: "rules",
    }
    rbac::RoleBinding {
        metadata: "metadata",
        subjects: "subjects",
        role_ref: "roleRef",
    }
    rbac::ClusterRole {
        metadata: "metadata",
        rules: "rules",
        aggregation_rule: "aggregationRule",
    }
    rbac::ClusterRoleBinding {
        metadata: "metadata",
        subjects: "subjects",
        role_ref: "roleRef",
    }
    autoscaling::Scale {
        metadata: "metadata",
        spec: "spec",
        status: "status",
    }
    apps::DeploymentSpec {
        replicas: "replicas" keep,
        selector: "selector",
        template: "template",
        strategy: "strategy",
        min_ready_seconds: "minReadySeconds",
        revision_history_limit: "revisionHistoryLimit" keep,
        paused: "paused",
        progress_deadline_seconds: "progressDeadlineSeconds" keep,
    }
    apps::DeploymentStatus {
        observed_generation: "observedGeneration",
        replicas: "replicas",
        updated_replicas: "updatedReplicas",
        ready_replicas: "readyReplicas",
        available_replicas: "availableReplicas",
        unavailable_replicas: "unavailableReplicas",
        terminating_replicas: "terminatingReplicas" keep,
        conditions: "conditions",
        collision_count: "collisionCount" keep,
    }
    apps::ReplicaSetSpec {
        replicas: "replicas" keep,
        min_ready_seconds: "minReadySeconds",
        selector: "selector",
        template: "template",
    }
    apps::ReplicaSetStatus {
        replicas: "replicas" keep,
        fully_labeled_replicas: "fullyLabeledReplicas",
        ready_replicas: "readyReplicas",
        available_replicas: "availableReplicas",
        terminating_replicas: "terminatingReplicas" keep,
        observed_generation: "observedGeneration",
        conditions: "conditions",
    }
    coordination::LeaseSpec {
        holder_identity: "holderIdentity" keep,
        lease_duration_seconds: "leaseDurationSeconds" keep,
        acquire_time: "acquireTime",
        renew_time: "renewTime",
        lease_transitions: "leaseTransitions" keep,
        strategy: "strategy" keep,
        preferred_holder: "preferredHolder" keep,
    }
    events::EventSeries {
        count: "count" keep,
        last_observed_time: "lastObservedTime",
    }
    policy::PodDisruptionBudgetSpec {
        min_available: "minAvailable",
        selector: "selector",
        max_unavailable: "maxUnavailable",
        unhealthy_pod_eviction_policy: "unhealthyPodEvictionPolicy" keep,
    }
    policy::PodDisruptionBudgetStatus {
        observed_generation: "observedGeneration",
        disrupted_pods: "disruptedPods",
        disruptions_allowed: "disruptionsAllowed" keep,
        current_healthy: "currentHealthy" keep,
        desired_healthy: "desiredHealthy" keep,
        expected_pods: "expectedPods" keep,
        conditions: "conditions",
    }
    rbac::PolicyRule {
        verbs: "verbs",
        api_groups: "apiGroups",
        resources: "resources",
        resource_names: "resourceNames",
        non_resource_ur_ls: "nonResourceURLs",
    }
    rbac::Subject {
        kind: "kind" keep,
        api_group: "apiGroup",
        name: "name" keep,
        namespace: "namespace",
    }
    rbac::RoleRef {
        api_group: "apiGroup" keep,
        kind: "kind" keep,
        name: "name" keep,
    }
    rbac::AggregationRule {
        cluster_role_selectors: "clusterRoleSelectors",
    }
    autoscaling::ScaleSpec {
        replicas: "replicas",
    }
    autoscaling::ScaleStatus {
        replicas: "replicas" keep,
        selector: "selector",
    }
    apps::DeploymentStrategy {
        r#type: "type",
        rolling_update: "rollingUpdate",
    }
    apps::DeploymentCondition {
        r#type: "type" keep,
        status: "status" keep,
        last_update_time: "lastUpdateTime",
        last_transition_time: "lastTransitionTime",
        reason: "reason",
        message: "message",
    }
    apps::ReplicaSetCondition {
        r#type: "type" keep,
        status: "status" keep,
        last_transition_time: "lastTransitionTime",
        reason: "reason",
        message: "message",
    }
    apps::RollingUpdateDeployment {
        max_unavailable: "maxUnavailable",
        max_surge: "maxSurge",
    }
}
