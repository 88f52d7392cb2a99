//! `meta.k8s.io/v1` messages every kind embeds (`ObjectMeta`, owner references, label
//! selectors, conditions) and `DeleteOptions`.
//!
//! Generated once from k8s-pb's messages and the Go API types of Kubernetes 1.36 (joined by
//! protobuf field number), then kept by hand: see `json.rs` for what each entry means.

use k8s_pb::apimachinery::pkg::apis::meta::v1::*;

use super::json::go_json;

go_json! {
    DeleteOptions {
        grace_period_seconds: "gracePeriodSeconds" keep,
        preconditions: "preconditions",
        orphan_dependents: "orphanDependents" keep,
        propagation_policy: "propagationPolicy" keep,
        dry_run: "dryRun",
        ignore_store_read_error_with_cluster_breaking_potential: "ignoreStoreReadErrorWithClusterBreakingPotential" keep,
    }
    ObjectMeta {
        name: "name",
        generate_name: "generateName",
        namespace: "namespace",
        self_link: "selfLink",
        uid: "uid",
        resource_version: "resourceVersion",
        generation: "generation",
        creation_timestamp: "creationTimestamp",
        deletion_timestamp: "deletionTimestamp",
        deletion_grace_period_seconds: "deletionGracePeriodSeconds" keep,
        labels: "labels",
        annotations: "annotations",
        owner_references: "ownerReferences",
        finalizers: "finalizers",
        managed_fields: "managedFields",
    }
    Preconditions {
        uid: "uid" keep,
        resource_version: "resourceVersion" keep,
    }
    OwnerReference {
        api_version: "apiVersion" keep,
        kind: "kind" keep,
        name: "name" keep,
        uid: "uid" keep,
        controller: "controller" keep,
        block_owner_deletion: "blockOwnerDeletion" keep,
    }
    ManagedFieldsEntry {
        manager: "manager",
        operation: "operation",
        api_version: "apiVersion",
        time: "time",
        fields_type: "fieldsType",
        fields_v1: "fieldsV1",
        subresource: "subresource",
    }
    Condition {
        r#type: "type" keep,
        status: "status" keep,
        observed_generation: "observedGeneration",
        last_transition_time: "lastTransitionTime",
        reason: "reason" keep,
        message: "message" keep,
    }
    LabelSelector {
        match_labels: "matchLabels",
        match_expressions: "matchExpressions",
    }
    LabelSelectorRequirement {
        key: "key" keep,
        operator: "operator" keep,
        values: "values",
    }
}
