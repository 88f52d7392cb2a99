//! The requests the differential test sends, in order, to kulta-sim and to kube-apiserver.
//!
//! Each [`Step`] is one raw HTTP request. Paths and bodies may name placeholders that are
//! filled in per server before sending: `{ns}` (the test's namespace), and `{<id>.rv}` or
//! `{<id>.uid}` (the `metadata.resourceVersion` or `metadata.uid` of the object an earlier step
//! `<id>` was answered with). That is how a step sends a resourceVersion that is stale on both
//! servers, or an owner reference to the Rollout each server created.

use serde_json::{Value, json};

use super::fixtures::{
    invalid_rollout, lease, replica_set, rollout_status, settings, valid_rollout,
};

/// `application/json`.
pub const JSON: &str = "application/json";
/// `application/merge-patch+json`.
pub const MERGE: &str = "application/merge-patch+json";
/// `application/json-patch+json`.
pub const JSON_PATCH: &str = "application/json-patch+json";
/// `application/strategic-merge-patch+json`.
pub const STRATEGIC: &str = "application/strategic-merge-patch+json";

/// One request of the script.
pub struct Step {
    /// Unique, stable: the golden file and the accepted differences refer to it.
    pub id: &'static str,
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: &'static str,
    /// The path, with placeholders.
    pub path: &'static str,
    /// The body's content type, when there is a body.
    pub content_type: Option<&'static str>,
    /// The body, with placeholders in its strings.
    pub body: Option<Value>,
}

impl Step {
    /// `METHOD path (content type)`, placeholders left in: how the step is shown.
    pub fn describe(&self) -> String {
        match self.content_type {
            Some(content_type) => format!("{} {} ({content_type})", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

fn step(id: &'static str, method: &'static str, path: &'static str) -> Step {
    Step {
        id,
        method,
        path,
        content_type: None,
        body: None,
    }
}

fn with_body(
    id: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: Value,
) -> Step {
    Step {
        id,
        method,
        path,
        content_type: Some(content_type),
        body: Some(body),
    }
}

const CONFIGMAPS: &str = "/api/v1/namespaces/{ns}/configmaps";
const SETTINGS: &str = "/api/v1/namespaces/{ns}/configmaps/settings";
const ROLLOUTS: &str = "/apis/kulta.io/v1alpha1/namespaces/{ns}/rollouts";
const WEB: &str = "/apis/kulta.io/v1alpha1/namespaces/{ns}/rollouts/web";
const WEB_STATUS: &str = "/apis/kulta.io/v1alpha1/namespaces/{ns}/rollouts/web/status";
const REPLICA_SETS: &str = "/apis/apps/v1/namespaces/{ns}/replicasets";
const SERVICES: &str = "/api/v1/namespaces/{ns}/services";
const ROUTES: &str = "/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes";
const ROUTE: &str = "/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes/web-route";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/{ns}/events";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases";
const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/kulta-controller";

/// The whole script, in the order it is sent.
pub fn script() -> Vec<Step> {
    let mut steps = configmap_steps();
    steps.extend(rollout_steps());
    steps.extend(controller_write_steps());
    steps.extend(invalid_rollout_steps());
    steps.extend(rollout_deletion_steps());
    steps
}

/// CRUD of a ConfigMap, with every refusal a client has to tell apart.
fn configmap_steps() -> Vec<Step> {
    vec![
        with_body(
            "cm-create",
            "POST",
            CONFIGMAPS,
            JSON,
            settings(None, "blue"),
        ),
        step("cm-get", "GET", SETTINGS),
        with_body(
            "cm-create-again",
            "POST",
            CONFIGMAPS,
            JSON,
            settings(None, "blue"),
        ),
        with_body(
            "cm-update",
            "PUT",
            SETTINGS,
            JSON,
            settings(Some("{cm-create.rv}"), "red"),
        ),
        with_body(
            "cm-update-stale",
            "PUT",
            SETTINGS,
            JSON,
            settings(Some("{cm-create.rv}"), "green"),
        ),
        with_body(
            "cm-update-without-resource-version",
            "PUT",
            SETTINGS,
            JSON,
            settings(None, "red"),
        ),
        with_body(
            "cm-merge-patch",
            "PATCH",
            SETTINGS,
            MERGE,
            json!({ "data": { "size": null, "shape": "round" } }),
        ),
        with_body(
            "cm-merge-patch-unchanged",
            "PATCH",
            SETTINGS,
            MERGE,
            json!({ "data": { "shape": "round" } }),
        ),
        with_body(
            "cm-json-patch-test-fails",
            "PATCH",
            SETTINGS,
            JSON_PATCH,
            json!([
                { "op": "test", "path": "/data/color", "value": "green" },
                { "op": "replace", "path": "/data/color", "value": "black" }
            ]),
        ),
        with_body(
            "cm-json-patch-remove-missing",
            "PATCH",
            SETTINGS,
            JSON_PATCH,
            json!([{ "op": "remove", "path": "/data/missing" }]),
        ),
        with_body(
            "cm-json-patch",
            "PATCH",
            SETTINGS,
            JSON_PATCH,
            json!([
                { "op": "test", "path": "/data/color", "value": "red" },
                { "op": "replace", "path": "/data/color", "value": "black" }
            ]),
        ),
        with_body(
            "cm-strategic-merge-patch",
            "PATCH",
            SETTINGS,
            STRATEGIC,
            json!({ "metadata": { "labels": { "tier": "front" } }, "data": { "extra": "1" } }),
        ),
        with_body(
            "cm-merge-patch-stale-resource-version",
            "PATCH",
            SETTINGS,
            MERGE,
            json!({ "metadata": { "resourceVersion": "{cm-create.rv}" }, "data": { "color": "white" } }),
        ),
        step("cm-delete", "DELETE", SETTINGS),
        step("cm-get-deleted", "GET", SETTINGS),
        step("cm-delete-again", "DELETE", SETTINGS),
        with_body(
            "cm-patch-deleted",
            "PATCH",
            SETTINGS,
            MERGE,
            json!({ "data": { "color": "blue" } }),
        ),
    ]
}

/// The Rollout writes of KULTA's controller: its status PUT guarded by the resourceVersion, and
/// kube-runtime's finalizer and the annotation consumption, JSON Patches guarded by `test`.
fn rollout_steps() -> Vec<Step> {
    let mut annotated = valid_rollout("web");
    annotated["metadata"]["annotations"] = json!({ "kulta.io/promote": "true" });
    vec![
        with_body("rollout-create", "POST", ROLLOUTS, JSON, annotated),
        with_body(
            "rollout-status",
            "PUT",
            WEB_STATUS,
            JSON,
            rollout_status(Some("{rollout-create.rv}"), "Progressing"),
        ),
        with_body(
            "rollout-status-stale",
            "PUT",
            WEB_STATUS,
            JSON,
            rollout_status(Some("{rollout-create.rv}"), "Healthy"),
        ),
        with_body(
            "rollout-status-without-resource-version",
            "PUT",
            WEB_STATUS,
            JSON,
            rollout_status(None, "Healthy"),
        ),
        with_body(
            "rollout-finalizer-add",
            "PATCH",
            WEB,
            JSON_PATCH,
            json!([
                { "op": "test", "path": "/metadata/finalizers", "value": null },
                { "op": "add", "path": "/metadata/finalizers", "value": ["kulta.io/traffic-cleanup"] }
            ]),
        ),
        with_body(
            "rollout-finalizer-add-lost-race",
            "PATCH",
            WEB,
            JSON_PATCH,
            json!([
                { "op": "test", "path": "/metadata/finalizers", "value": null },
                { "op": "add", "path": "/metadata/finalizers", "value": ["kulta.io/traffic-cleanup"] }
            ]),
        ),
        with_body(
            "rollout-finalizer-append",
            "PATCH",
            WEB,
            JSON_PATCH,
            json!([
                { "op": "test", "path": "/metadata/finalizers", "value": ["kulta.io/traffic-cleanup"] },
                { "op": "add", "path": "/metadata/finalizers/-", "value": "example.com/other" }
            ]),
        ),
        with_body(
            "rollout-annotation-consume",
            "PATCH",
            WEB,
            JSON_PATCH,
            json!([
                { "op": "test", "path": "/metadata/annotations/kulta.io~1promote", "value": "true" },
                { "op": "remove", "path": "/metadata/annotations/kulta.io~1promote" }
            ]),
        ),
        with_body(
            "rollout-annotation-consume-again",
            "PATCH",
            WEB,
            JSON_PATCH,
            json!([
                { "op": "test", "path": "/metadata/annotations/kulta.io~1promote", "value": "true" },
                { "op": "remove", "path": "/metadata/annotations/kulta.io~1promote" }
            ]),
        ),
        with_body(
            "rollout-merge-patch-status-ignored",
            "PATCH",
            WEB,
            MERGE,
            json!({ "status": { "phase": "Aborted" }, "spec": { "replicas": 4 } }),
        ),
        with_body(
            "rollout-strategic-merge-patch",
            "PATCH",
            WEB,
            STRATEGIC,
            json!({ "spec": { "replicas": 5 } }),
        ),
    ]
}

/// What the controller writes besides the Rollout: ReplicaSets, Services, the HTTPRoute, Events
/// and its leader Lease.
fn controller_write_steps() -> Vec<Step> {
    vec![
        with_body(
            "rs-create-bad-name",
            "POST",
            REPLICA_SETS,
            JSON,
            replica_set("Web-5D8F7C", true),
        ),
        with_body(
            "rs-create",
            "POST",
            REPLICA_SETS,
            JSON,
            replica_set("web-5d8f7c", true),
        ),
        with_body(
            "rs-scale",
            "PATCH",
            "/apis/apps/v1/namespaces/{ns}/replicasets/web-5d8f7c",
            MERGE,
            json!({ "spec": { "replicas": 2 } }),
        ),
        with_body(
            "rs-scale-negative",
            "PATCH",
            "/apis/apps/v1/namespaces/{ns}/replicasets/web-5d8f7c",
            MERGE,
            json!({ "spec": { "replicas": -1 } }),
        ),
        with_body(
            "svc-create",
            "POST",
            SERVICES,
            JSON,
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": { "name": "web-stable" },
                "spec": { "selector": { "app": "web" }, "ports": [{ "port": 80, "targetPort": 8080 }] }
            }),
        ),
        with_body(
            "svc-selector-patch",
            "PATCH",
            "/api/v1/namespaces/{ns}/services/web-stable",
            MERGE,
            json!({ "spec": { "selector": { "pod-template-hash": "5d8f7c" } } }),
        ),
        with_body(
            "route-create",
            "POST",
            ROUTES,
            JSON,
            json!({
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "HTTPRoute",
                "metadata": { "name": "web-route" },
                "spec": { "rules": [{ "backendRefs": [
                    { "name": "web-stable", "port": 80, "weight": 100 },
                    { "name": "web-canary", "port": 80, "weight": 0 }
                ] }] }
            }),
        ),
        with_body(
            "route-weights",
            "PATCH",
            ROUTE,
            JSON_PATCH,
            json!([
                { "op": "test", "path": "/metadata/resourceVersion", "value": "{route-create.rv}" },
                { "op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 80 },
                { "op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 20 }
            ]),
        ),
        with_body(
            "route-weights-stale",
            "PATCH",
            ROUTE,
            JSON_PATCH,
            json!([
                { "op": "test", "path": "/metadata/resourceVersion", "value": "{route-create.rv}" },
                { "op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 50 },
                { "op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 50 }
            ]),
        ),
        with_body(
            "route-weight-out-of-range",
            "PATCH",
            ROUTE,
            JSON_PATCH,
            json!([{ "op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 1000001 }]),
        ),
        with_body(
            "event-create",
            "POST",
            EVENTS,
            JSON,
            json!({
                "apiVersion": "events.k8s.io/v1",
                "kind": "Event",
                "metadata": { "name": "web.18a3f0c2d1e4b5a6" },
                "eventTime": "2026-01-01T00:00:00.000000Z",
                "action": "SetWeight",
                "reason": "WeightChanged",
                "note": "canary weight 20",
                "type": "Normal",
                "regarding": {
                    "apiVersion": "kulta.io/v1alpha1",
                    "kind": "Rollout",
                    "name": "web",
                    "namespace": "{ns}",
                    "uid": "{rollout-create.uid}"
                },
                "reportingController": "kulta.io/controller",
                "reportingInstance": "kulta-controller-0"
            }),
        ),
        with_body(
            "event-series",
            "PATCH",
            "/apis/events.k8s.io/v1/namespaces/{ns}/events/web.18a3f0c2d1e4b5a6",
            MERGE,
            json!({ "series": { "count": 2, "lastObservedTime": "2026-01-01T00:00:30.000000Z" } }),
        ),
        with_body(
            "lease-create",
            "POST",
            LEASES,
            JSON,
            lease(None, "kulta-controller-0", 5),
        ),
        step("lease-get", "GET", LEASE),
        with_body(
            "lease-renew",
            "PUT",
            LEASE,
            JSON,
            lease(Some("{lease-create.rv}"), "kulta-controller-0", 10),
        ),
        with_body(
            "lease-take-over-stale",
            "PUT",
            LEASE,
            JSON,
            // Stale: the renewal above changed the Lease.
            lease(Some("{lease-create.rv}"), "kulta-controller-1", 15),
        ),
    ]
}

/// A part of the invalid-spec corpus (tests/tests/invalid.rs): refusals a client reads field by
/// field.
fn invalid_rollout_steps() -> Vec<Step> {
    vec![
        with_body(
            "invalid-weight-above-100",
            "POST",
            ROLLOUTS,
            JSON,
            invalid_rollout("bad-weight", |v| {
                v["spec"]["strategy"]["canary"]["steps"] = json!([{ "setWeight": 150 }]);
            }),
        ),
        with_body(
            "invalid-step-without-action",
            "POST",
            ROLLOUTS,
            JSON,
            invalid_rollout("bad-step", |v| {
                v["spec"]["strategy"]["canary"]["steps"] = json!([{ "setWeight": 10 }, {}]);
            }),
        ),
        with_body(
            "invalid-negative-replicas",
            "POST",
            ROLLOUTS,
            JSON,
            invalid_rollout("bad-replicas", |v| v["spec"]["replicas"] = json!(-1)),
        ),
        with_body(
            "invalid-no-canary-strategy",
            "POST",
            ROLLOUTS,
            JSON,
            invalid_rollout("bad-strategy", |v| v["spec"]["strategy"] = json!({})),
        ),
        with_body(
            "invalid-pause-duration",
            "POST",
            ROLLOUTS,
            JSON,
            invalid_rollout("bad-pause", |v| {
                v["spec"]["strategy"]["canary"]["steps"] =
                    json!([{ "pause": { "duration": "5 minutes" } }]);
            }),
        ),
        with_body(
            "invalid-missing-selector-stops-cel",
            "POST",
            ROLLOUTS,
            JSON,
            invalid_rollout("bad-selector", |v| {
                if let Some(spec) = v["spec"].as_object_mut() {
                    spec.remove("selector");
                }
                v["spec"]["strategy"]["canary"]["steps"] = json!([{ "setWeight": 150 }]);
            }),
        ),
        with_body(
            "invalid-name",
            "POST",
            ROLLOUTS,
            JSON,
            valid_rollout("Web_Rollout"),
        ),
        with_body(
            "invalid-replicas-type",
            "POST",
            ROLLOUTS,
            JSON,
            invalid_rollout("bad-type", |v| v["spec"]["replicas"] = json!("three")),
        ),
    ]
}

/// Deleting a Rollout that carries finalizers, then the controller's finalizer removal.
fn rollout_deletion_steps() -> Vec<Step> {
    vec![
        step("rollout-delete-with-finalizers", "DELETE", WEB),
        with_body(
            "rollout-add-finalizer-while-deleting",
            "PATCH",
            WEB,
            JSON_PATCH,
            json!([{ "op": "add", "path": "/metadata/finalizers/-", "value": "example.com/late" }]),
        ),
        with_body(
            "rollout-finalizer-remove-other",
            "PATCH",
            WEB,
            JSON_PATCH,
            json!([
                { "op": "test", "path": "/metadata/finalizers/1", "value": "example.com/other" },
                { "op": "remove", "path": "/metadata/finalizers/1" }
            ]),
        ),
        with_body(
            "rollout-finalizer-remove-wrong-index",
            "PATCH",
            WEB,
            JSON_PATCH,
            json!([
                { "op": "test", "path": "/metadata/finalizers/1", "value": "kulta.io/traffic-cleanup" },
                { "op": "remove", "path": "/metadata/finalizers/1" }
            ]),
        ),
        with_body(
            "rollout-finalizer-remove-last",
            "PATCH",
            WEB,
            JSON_PATCH,
            json!([
                { "op": "test", "path": "/metadata/finalizers/0", "value": "kulta.io/traffic-cleanup" },
                { "op": "remove", "path": "/metadata/finalizers/0" }
            ]),
        ),
        step("rollout-get-after-finalizers", "GET", WEB),
    ]
}
