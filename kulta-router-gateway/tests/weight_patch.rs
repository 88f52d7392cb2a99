//! The weight patch changes exactly the weights, and is refused where it would be guesswork.

#![allow(clippy::panic)] // helpers outside #[test] functions fail the test by panicking

mod common;

use common::{changed_paths, target, three_rule_route, typed};
use json_patch::PatchOperation;
use kulta_router::{BackendRef, RouterError};
use kulta_router_gateway::{weight_pairs, weight_patch};
use serde_json::{Value, json};

fn patch_or_panic(
    route: &Value,
    target: &kulta_router::RouteTarget,
    weight: u8,
) -> json_patch::Patch {
    match weight_patch(&typed(route), target, weight) {
        Ok(Some(patch)) => patch,
        Ok(None) => panic!("expected a patch"),
        Err(error) => panic!("expected a patch, got {error}"),
    }
}

fn apply(route: &Value, patch: &json_patch::Patch) -> Value {
    let mut patched = route.clone();
    if let Err(error) = json_patch::patch(&mut patched, patch) {
        panic!("patch did not apply: {error}");
    }
    patched
}

#[test]
fn only_the_weight_fields_change() {
    let before = three_rule_route();
    let patch = patch_or_panic(&before, &target(), 20);
    let after = apply(&before, &patch);

    let changed = changed_paths(&before, &after);
    let expected = [
        (
            "/spec/rules/0/backendRefs/0/weight",
            Some(json!(100)),
            json!(80),
        ),
        (
            "/spec/rules/0/backendRefs/1/weight",
            Some(json!(0)),
            json!(20),
        ),
        (
            "/spec/rules/1/backendRefs/1/weight",
            Some(json!(95)),
            json!(80),
        ),
        (
            "/spec/rules/1/backendRefs/2/weight",
            Some(json!(0)),
            json!(20),
        ),
        (
            "/spec/rules/2/backendRefs/0/weight",
            Some(json!(100)),
            json!(80),
        ),
        ("/spec/rules/2/backendRefs/1/weight", None, json!(20)),
    ];
    let expected: std::collections::BTreeMap<_, _> = expected
        .into_iter()
        .map(|(path, old, new)| (path.to_owned(), (old, Some(new))))
        .collect();
    assert_eq!(changed, expected);

    // Besides the weights, the objects are equal as a whole (order of rules, backends, matches,
    // filters, parentRefs; annotations; status).
    let mut restored = after.clone();
    for (path, (old, _)) in &expected {
        let Some(slot) = restored.pointer_mut(path) else {
            panic!("{path} missing after the patch")
        };
        match old {
            Some(old) => *slot = old.clone(),
            None => {
                let (parent, _) = path.rsplit_once('/').unwrap_or_default();
                if let Some(Value::Object(fields)) = restored.pointer_mut(parent) {
                    fields.remove("weight");
                }
            }
        }
    }
    assert_eq!(restored, before);
}

#[test]
fn patch_is_guarded_by_the_resource_version_and_touches_only_weight_paths() {
    let route = three_rule_route();
    let patch = patch_or_panic(&route, &target(), 20);
    let rendered = serde_json::to_value(&patch).unwrap_or_default();
    assert_eq!(
        rendered,
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": "4711"},
            {"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 80},
            {"op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 20},
            {"op": "replace", "path": "/spec/rules/1/backendRefs/1/weight", "value": 80},
            {"op": "replace", "path": "/spec/rules/1/backendRefs/2/weight", "value": 20},
            {"op": "replace", "path": "/spec/rules/2/backendRefs/0/weight", "value": 80},
            {"op": "add", "path": "/spec/rules/2/backendRefs/1/weight", "value": 20}
        ])
    );

    // Someone else wrote the route in between: the same patch must not apply.
    let mut newer = route.clone();
    newer["metadata"]["resourceVersion"] = json!("4712");
    let Some(rules) = newer["spec"]["rules"].as_array_mut() else {
        panic!("fixture has no rules list");
    };
    rules.insert(0, json!({"backendRefs": [{"name": "new-first-rule"}]}));
    let mut attempt = newer.clone();
    assert!(json_patch::patch(&mut attempt, &patch).is_err());
    assert_eq!(attempt, newer, "a failed patch changes nothing");
}

#[test]
fn no_patch_when_already_at_the_desired_weights() {
    let route = three_rule_route();
    let at_twenty = apply(&route, &patch_or_panic(&route, &target(), 20));
    assert!(matches!(
        weight_patch(&typed(&at_twenty), &target(), 20),
        Ok(None)
    ));

    // Back to 0: rules 0 and 2 of the original already hold 100/0, rule 1 does not (95).
    let patch = patch_or_panic(&route, &target(), 0);
    let paths: Vec<String> = patch
        .0
        .iter()
        .filter_map(|operation| match operation {
            PatchOperation::Replace(op) => Some(op.path.to_string()),
            PatchOperation::Add(op) => Some(op.path.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(
        paths,
        [
            "/spec/rules/1/backendRefs/1/weight",
            "/spec/rules/2/backendRefs/1/weight"
        ]
    );
    let at_zero = apply(&route, &patch);
    assert!(matches!(
        weight_patch(&typed(&at_zero), &target(), 0),
        Ok(None)
    ));
    // Above 100 counts as 100.
    let at_full = apply(&route, &patch_or_panic(&route, &target(), 100));
    assert!(matches!(
        weight_patch(&typed(&at_full), &target(), 200),
        Ok(None)
    ));
}

/// The message of the InvalidConfig error `weight_patch` answers: a route KULTA cannot use as
/// it is waits for a change to it, not for a retry.
fn unusable(route: &Value, target: &kulta_router::RouteTarget) -> String {
    match weight_patch(&typed(route), target, 10) {
        Err(RouterError::InvalidConfig { message }) => message,
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[test]
fn a_rule_missing_one_of_the_two_backends_is_an_error_naming_the_rule() {
    let mut route = three_rule_route();
    let Some(backends) = route["spec"]["rules"][1]["backendRefs"].as_array_mut() else {
        panic!("fixture has no backends list");
    };
    backends.remove(2);
    assert_eq!(
        unusable(&route, &target()),
        "HTTPRoute default/app-route rule 1 sends to one of the Rollout's Services but has no \
         backendRef for Service app-canary: a rule must name both, or neither"
    );

    let mut route = three_rule_route();
    let Some(backends) = route["spec"]["rules"][2]["backendRefs"].as_array_mut() else {
        panic!("fixture has no backends list");
    };
    backends.remove(0);
    assert_eq!(
        unusable(&route, &target()),
        "HTTPRoute default/app-route rule 2 sends to one of the Rollout's Services but has no \
         backendRef for Service app-stable: a rule must name both, or neither"
    );
}

#[test]
fn a_route_without_the_stable_backend_is_an_error() {
    let route = json!({
        "metadata": {"name": "other", "namespace": "default", "resourceVersion": "1"},
        "spec": {"rules": [{"backendRefs": [{"name": "unrelated", "port": 80}]}, {}]}
    });
    assert_eq!(
        unusable(&route, &target()),
        "no rule of HTTPRoute default/other has a backendRef for Service app-stable: \
         add one (a core Service, not another kind)"
    );
    let empty = json!({"metadata": {"name": "empty", "namespace": "default"}, "spec": {}});
    assert_eq!(
        unusable(&empty, &target()),
        "no rule of HTTPRoute default/empty has a backendRef for Service app-stable: \
         add one (a core Service, not another kind)"
    );
}

fn route_with_backends(backends: Value) -> Value {
    json!({
        "metadata": {"name": "r", "namespace": "default", "resourceVersion": "9"},
        "spec": {"rules": [{"backendRefs": backends}]}
    })
}

fn pair_indices(
    route: &Value,
    target: &kulta_router::RouteTarget,
) -> Result<(usize, usize), String> {
    weight_pairs(&typed(route), target)
        .map(|pairs| (pairs[0].stable, pairs[0].canary))
        .map_err(|error| error.to_string())
}

#[test]
fn ports_kinds_groups_and_namespaces_decide_what_matches() {
    let route = route_with_backends(json!([
        {"name": "app-stable", "port": 8080, "weight": 50},
        {"name": "app-stable", "port": 80, "weight": 50},
        {"name": "app-canary", "port": 80, "weight": 0}
    ]));
    let mut on_80 = target();
    on_80.stable = BackendRef::new("app-stable").with_port(80);
    on_80.canary = BackendRef::new("app-canary").with_port(80);
    assert_eq!(pair_indices(&route, &on_80), Ok((1, 2)));

    let mut on_8080 = target();
    on_8080.stable = BackendRef::new("app-stable").with_port(8080);
    assert_eq!(pair_indices(&route, &on_8080), Ok((0, 2)));

    // Without a port the two stable references are ambiguous.
    assert_eq!(
        pair_indices(&route, &target()),
        Err(
            "invalid traffic router config: HTTPRoute default/r rule 0 names Service \
             app-stable in more than one backendRef, so KULTA cannot tell which weight to set; \
             keep a single backendRef for it in that rule"
                .to_owned()
        )
    );

    // A canary port that matches nothing.
    let mut wrong_port = on_80.clone();
    wrong_port.canary = BackendRef::new("app-canary").with_port(9090);
    assert_eq!(
        pair_indices(&route, &wrong_port),
        Err(
            "invalid traffic router config: HTTPRoute default/r rule 0 sends to one of the \
             Rollout's Services but has no backendRef for Service app-canary:9090: a rule must \
             name both, or neither"
                .to_owned()
        )
    );

    // Same names, but not core Services in the Rollout's namespace: none of these match.
    let lookalikes = route_with_backends(json!([
        {"name": "app-stable", "kind": "ServiceImport", "group": "multicluster.x-k8s.io"},
        {"name": "app-stable", "group": "example.com", "kind": "Service"},
        {"name": "app-stable", "namespace": "elsewhere"},
        {"name": "app-canary", "namespace": "elsewhere"},
        {"name": "app-stable", "namespace": "default", "kind": "Service", "group": ""},
        {"name": "app-canary"}
    ]));
    assert_eq!(pair_indices(&lookalikes, &target()), Ok((4, 5)));
}

#[test]
fn a_route_in_another_namespace_must_name_the_rollouts_namespace() {
    let route = json!({
        "metadata": {"name": "shared", "namespace": "infra", "resourceVersion": "2"},
        "spec": {"rules": [
            {"backendRefs": [{"name": "app-stable"}, {"name": "app-canary"}]},
            {"backendRefs": [
                {"name": "app-stable", "namespace": "default"},
                {"name": "app-canary", "namespace": "default"}
            ]}
        ]}
    });
    let pairs = weight_pairs(&typed(&route), &target()).unwrap_or_default();
    assert_eq!(pairs.iter().map(|pair| pair.rule).collect::<Vec<_>>(), [1]);
}
