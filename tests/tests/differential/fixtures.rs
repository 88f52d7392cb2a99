//! The bodies the script sends: a ConfigMap, Rollouts (valid, with a status, broken one way),
//! a ReplicaSet of a Rollout and a leader Lease. Fixed values only (times included), so the
//! recorded answers stay the same from one run to the next.

use serde_json::{Value, json};

/// ConfigMap `settings` (label `app: web`), with `resourceVersion` when given.
pub fn settings(resource_version: Option<&str>, color: &str) -> Value {
    let mut metadata = json!({ "name": "settings", "labels": { "app": "web" } });
    if let Some(version) = resource_version {
        metadata["resourceVersion"] = json!(version);
    }
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": { "color": color, "size": "m" }
    })
}

/// A valid Rollout `name`, as `kulta_api::testing::RolloutBuilder` builds one, spelled out so
/// the recorded answers do not move when the builder's defaults do.
pub fn valid_rollout(name: &str) -> Value {
    json!({
        "apiVersion": "kulta.io/v1alpha1",
        "kind": "Rollout",
        "metadata": { "name": name },
        "spec": {
            "replicas": 3,
            "selector": { "matchLabels": { "app": "web" } },
            "template": {
                "metadata": { "labels": { "app": "web" } },
                "spec": { "containers": [{ "name": "app", "image": "nginx:1.25" }] }
            },
            "strategy": { "canary": {
                "stableService": "web-stable",
                "canaryService": "web-canary",
                "steps": [{ "setWeight": 20 }, { "pause": { "duration": "1m" } }, { "setWeight": 100 }],
                "trafficRouting": { "gatewayAPI": { "httpRoute": "web-route" } }
            } }
        }
    })
}

/// Rollout `web` with a status, for a PUT of `/status` (with `resourceVersion` when given).
pub fn rollout_status(resource_version: Option<&str>, phase: &str) -> Value {
    let mut rollout = valid_rollout("web");
    if let Some(version) = resource_version {
        rollout["metadata"]["resourceVersion"] = json!(version);
    }
    rollout["status"] = json!({
        "phase": phase,
        "observedGeneration": 1,
        "currentStepIndex": 0,
        "conditions": [{
            "type": "Ready",
            "status": "False",
            "reason": "Progressing",
            "message": "the canary is starting",
            "lastTransitionTime": "2026-01-01T00:00:00Z"
        }]
    });
    rollout
}

/// A valid Rollout `name`, then `change`d.
pub fn invalid_rollout(name: &str, change: impl FnOnce(&mut Value)) -> Value {
    let mut rollout = valid_rollout(name);
    change(&mut rollout);
    rollout
}

/// ReplicaSet `name` as the controller builds one (revision labels and annotation), owned by
/// Rollout `web` of step `rollout-create` when `owner`.
pub fn replica_set(name: &str, owner: bool) -> Value {
    let mut metadata = json!({
        "name": name,
        "labels": { "app": "web", "pod-template-hash": "5d8f7c", "app.kubernetes.io/managed-by": "kulta" },
        "annotations": { "kulta.io/revision": "1" }
    });
    if owner {
        metadata["ownerReferences"] = json!([{
            "apiVersion": "kulta.io/v1alpha1",
            "kind": "Rollout",
            "name": "web",
            "uid": "{rollout-create.uid}",
            "controller": true,
            "blockOwnerDeletion": true
        }]);
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": metadata,
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": { "app": "web", "pod-template-hash": "5d8f7c" } },
            "template": {
                "metadata": { "labels": { "app": "web", "pod-template-hash": "5d8f7c" } },
                "spec": { "containers": [{ "name": "app", "image": "nginx:1.25", "ports": [{ "containerPort": 8080 }] }] }
            }
        }
    })
}

/// The controller's leader Lease held by `holder`, renewed `renewed` seconds after it was
/// acquired, with `resourceVersion` when given.
pub fn lease(resource_version: Option<&str>, holder: &str, renewed: u32) -> Value {
    let mut metadata = json!({ "name": "kulta-controller" });
    if let Some(version) = resource_version {
        metadata["resourceVersion"] = json!(version);
    }
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 15,
            "acquireTime": "2026-01-01T00:00:00.000000Z",
            "renewTime": format!("2026-01-01T00:00:{renewed:02}.000000Z"),
            "leaseTransitions": 0
        }
    })
}
