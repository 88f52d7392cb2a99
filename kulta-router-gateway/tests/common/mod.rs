//! Fixtures shared by the pure tests: a realistic HTTPRoute as JSON, and targets.

#![allow(clippy::panic)] // fixture helpers fail the calling test by panicking
#![allow(dead_code)]

use std::collections::BTreeMap;

use gateway_api::httproutes::HttpRoute;
use kulta_router::{BackendRef, RouteTarget};
use serde_json::{Value, json};

/// The Rollout `default/app` with Services `app-stable` and `app-canary`, ports unspecified.
pub fn target() -> RouteTarget {
    RouteTarget::new(
        "default",
        "app",
        BackendRef::new("app-stable"),
        BackendRef::new("app-canary"),
        json!({"httpRoute": "app-route"}),
    )
}

/// A route with everything users put in routes, and three rules naming the Rollout's Services:
/// 0. header matches and a RequestHeaderModifier filter, stable 100 / canary 0;
/// 1. an unrelated backend (`legacy`, weight 5) besides stable 95 / canary 0, and a timeout;
/// 2. only stable (100) and canary, the canary without a weight;
///
/// and a fourth rule that names neither.
pub fn three_rule_route() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": "app-route",
            "namespace": "default",
            "resourceVersion": "4711",
            "generation": 3,
            "uid": "0b9a2c1e-5d3f-4a8e-9c61-7f2e1d0c9b8a",
            "labels": {"team": "payments"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"spec\":{}}",
                "example.com/owner": "payments"
            }
        },
        "spec": {
            "parentRefs": [
                {"name": "public-gw", "namespace": "infra", "sectionName": "https"},
                {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "internal-gw", "port": 8443}
            ],
            "hostnames": ["app.example.com", "*.app.example.com"],
            "rules": [
                {
                    "name": "beta-users",
                    "matches": [{
                        "path": {"type": "PathPrefix", "value": "/api"},
                        "headers": [
                            {"type": "Exact", "name": "x-beta", "value": "true"},
                            {"type": "RegularExpression", "name": "x-region", "value": "eu-.*"}
                        ],
                        "method": "GET"
                    }],
                    "filters": [{
                        "type": "RequestHeaderModifier",
                        "requestHeaderModifier": {
                            "set": [{"name": "x-routed-by", "value": "gateway"}],
                            "remove": ["x-debug"]
                        }
                    }],
                    "backendRefs": [
                        {"group": "", "kind": "Service", "name": "app-stable", "port": 80, "weight": 100},
                        {"name": "app-canary", "port": 80, "weight": 0}
                    ]
                },
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "timeouts": {"request": "10s", "backendRequest": "2s"},
                    "backendRefs": [
                        {"name": "legacy", "port": 8080, "weight": 5},
                        {"name": "app-stable", "port": 80, "weight": 95},
                        {"name": "app-canary", "port": 80, "weight": 0}
                    ]
                },
                {
                    "backendRefs": [
                        {"name": "app-stable", "port": 80, "weight": 100},
                        {"name": "app-canary", "port": 80}
                    ]
                },
                {
                    "matches": [{"path": {"type": "Exact", "value": "/healthz"}}],
                    "backendRefs": [{"name": "health", "port": 8081}]
                }
            ]
        },
        "status": {
            "parents": [{
                "parentRef": {"name": "public-gw", "namespace": "infra", "sectionName": "https"},
                "controllerName": "example.com/gateway-controller",
                "conditions": [
                    {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "",
                     "observedGeneration": 3, "lastTransitionTime": "2026-01-01T00:00:00Z"},
                    {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "",
                     "observedGeneration": 3, "lastTransitionTime": "2026-01-01T00:00:00Z"}
                ]
            }]
        }
    })
}

/// `json` as the gateway-api type, failing the test when it does not deserialize.
pub fn typed(json: &Value) -> HttpRoute {
    match serde_json::from_value(json.clone()) {
        Ok(route) => route,
        Err(error) => panic!("not an HTTPRoute: {error}"),
    }
}

/// Every leaf of `value` by JSON Pointer.
pub fn leaves(value: &Value) -> BTreeMap<String, Value> {
    fn walk(value: &Value, path: String, out: &mut BTreeMap<String, Value>) {
        match value {
            Value::Object(fields) if !fields.is_empty() => {
                for (key, child) in fields {
                    let token = key.replace('~', "~0").replace('/', "~1");
                    walk(child, format!("{path}/{token}"), out);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (index, child) in items.iter().enumerate() {
                    walk(child, format!("{path}/{index}"), out);
                }
            }
            leaf => {
                out.insert(path, leaf.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(value, String::new(), &mut out);
    out
}

/// The pointers whose leaf differs between `before` and `after` (added, removed or changed).
pub fn changed_paths(
    before: &Value,
    after: &Value,
) -> BTreeMap<String, (Option<Value>, Option<Value>)> {
    let before = leaves(before);
    let after = leaves(after);
    let mut changed = BTreeMap::new();
    for path in before.keys().chain(after.keys()) {
        let old = before.get(path);
        let new = after.get(path);
        if old != new {
            changed.insert(path.clone(), (old.cloned(), new.cloned()));
        }
    }
    changed
}
