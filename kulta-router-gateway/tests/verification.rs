//! `verify_route` answers Verified only when the spec holds the weights and every parent
//! gateway has accepted the current generation.

#![allow(clippy::panic)] // helpers outside #[test] functions fail the test by panicking

mod common;

use common::{target, three_rule_route, typed};
use kulta_router::Verification;
use kulta_router_gateway::verify_route;
use serde_json::{Value, json};

/// The three-rule route at 20% canary, generation 5, with `parents` as its status.
fn route_at_twenty(parents: Value) -> Value {
    let mut route = three_rule_route();
    for (rule, stable, canary) in [(0, 0, 1), (1, 1, 2), (2, 0, 1)] {
        route["spec"]["rules"][rule]["backendRefs"][stable]["weight"] = json!(80);
        route["spec"]["rules"][rule]["backendRefs"][canary]["weight"] = json!(20);
    }
    route["metadata"]["generation"] = json!(5);
    route["status"] = json!({"parents": parents});
    route
}

fn condition(kind: &str, status: &str, reason: &str, generation: Option<i64>) -> Value {
    let mut condition = json!({
        "type": kind, "status": status, "reason": reason, "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z"
    });
    if let Some(generation) = generation {
        condition["observedGeneration"] = json!(generation);
    }
    condition
}

fn parent(name: &str, conditions: Vec<Value>) -> Value {
    json!({
        "parentRef": {"name": name},
        "controllerName": "example.com/gateway-controller",
        "conditions": conditions
    })
}

fn healthy(name: &str, generation: i64) -> Value {
    parent(
        name,
        vec![
            condition("Accepted", "True", "Accepted", Some(generation)),
            condition("ResolvedRefs", "True", "ResolvedRefs", Some(generation)),
        ],
    )
}

fn verify(route: &Value, weight: u8) -> Verification {
    match verify_route(&typed(route), &target(), weight) {
        Ok(verification) => verification,
        Err(error) => panic!("unexpected error {error}"),
    }
}

#[test]
fn verification_table() {
    let no_status = {
        let mut route = route_at_twenty(json!([]));
        if let Some(fields) = route.as_object_mut() {
            fields.remove("status");
        }
        route
    };
    let cases = [
        (
            "no status",
            no_status,
            Verification::Pending(
                "HTTPRoute default/app-route: no gateway has reported on the route yet \
                 (status.parents is empty); check that its parentRefs name an existing Gateway \
                 whose controller is running"
                    .into(),
            ),
        ),
        (
            "a parent not accepted",
            route_at_twenty(json!([parent(
                "gateway-x",
                vec![
                    condition("Accepted", "False", "NotAllowedByListeners", Some(5)),
                    condition("ResolvedRefs", "True", "ResolvedRefs", Some(5)),
                ]
            )])),
            Verification::Pending(
                "HTTPRoute default/app-route: parent gateway-x has not accepted the route \
                 (Accepted=False: NotAllowedByListeners)"
                    .into(),
            ),
        ),
        (
            "unresolved backend references",
            route_at_twenty(json!([parent(
                "gateway-x",
                vec![
                    condition("Accepted", "True", "Accepted", Some(5)),
                    condition("ResolvedRefs", "False", "BackendNotFound", Some(5)),
                ]
            )])),
            Verification::Pending(
                "HTTPRoute default/app-route: parent gateway-x has not resolved the route's \
                 backendRefs (ResolvedRefs=False: BackendNotFound)"
                    .into(),
            ),
        ),
        (
            "a stale observedGeneration",
            route_at_twenty(json!([healthy("gateway-x", 4)])),
            Verification::Pending(
                "HTTPRoute default/app-route: parent gateway-x has not yet observed generation 5 \
                 of the route (Accepted is for generation 4)"
                    .into(),
            ),
        ),
        (
            "a condition without observedGeneration",
            route_at_twenty(json!([parent(
                "gateway-x",
                vec![
                    condition("Accepted", "True", "Accepted", Some(5)),
                    condition("ResolvedRefs", "True", "ResolvedRefs", None),
                ]
            )])),
            Verification::Pending(
                "HTTPRoute default/app-route: parent gateway-x has not yet observed generation 5 \
                 of the route (ResolvedRefs is for an unknown generation)"
                    .into(),
            ),
        ),
        (
            "a parent without ResolvedRefs",
            route_at_twenty(json!([parent(
                "gateway-x",
                vec![condition("Accepted", "True", "Accepted", Some(5))]
            )])),
            Verification::Pending(
                "HTTPRoute default/app-route: parent gateway-x has not reported ResolvedRefs yet"
                    .into(),
            ),
        ),
        (
            "two parents with one pending",
            route_at_twenty(json!([
                healthy("public-gw", 5),
                {
                    "parentRef": {"name": "internal-gw", "namespace": "infra", "sectionName": "https"},
                    "controllerName": "example.com/gateway-controller",
                    "conditions": [
                        condition("Accepted", "False", "NoMatchingParent", Some(5)),
                        condition("ResolvedRefs", "True", "ResolvedRefs", Some(5))
                    ]
                }
            ])),
            Verification::Pending(
                "HTTPRoute default/app-route: parent infra/internal-gw (listener https) has not \
                 accepted the route (Accepted=False: NoMatchingParent)"
                    .into(),
            ),
        ),
        (
            "all accepted, one ahead of the route's generation",
            route_at_twenty(json!([healthy("public-gw", 5), healthy("internal-gw", 6)])),
            Verification::Verified,
        ),
    ];
    for (name, route, expected) in cases {
        assert_eq!(verify(&route, 20), expected, "{name}");
    }
}

#[test]
fn spec_weights_not_yet_at_the_desired_value_are_pending() {
    let route = route_at_twenty(json!([healthy("public-gw", 5)]));
    assert_eq!(
        verify(&route, 50),
        Verification::Pending(
            "HTTPRoute default/app-route: rule 0 has weights stable=80 canary=20, waiting for \
             stable=50 canary=50; rule 1 has weights stable=80 canary=20, waiting for stable=50 \
             canary=50; rule 2 has weights stable=80 canary=20, waiting for stable=50 canary=50"
                .into()
        )
    );

    let mut unset = route.clone();
    if let Some(fields) = unset["spec"]["rules"][2]["backendRefs"][1].as_object_mut() {
        fields.remove("weight");
    }
    assert_eq!(
        verify(&unset, 20),
        Verification::Pending(
            "HTTPRoute default/app-route: rule 2 has weights stable=80 canary=unset, waiting for \
             stable=80 canary=20"
                .into()
        )
    );
}

#[test]
fn a_route_that_lost_the_canary_is_an_error_not_pending() {
    let mut route = route_at_twenty(json!([healthy("public-gw", 5)]));
    let Some(backends) = route["spec"]["rules"][0]["backendRefs"].as_array_mut() else {
        panic!("fixture has no backends list");
    };
    backends.remove(1);
    let error = verify_route(&typed(&route), &target(), 20).err();
    assert_eq!(
        error.map(|error| error.to_string()),
        Some(
            "backendRef for Service app-canary in HTTPRoute default/app-route rule 0 not found"
                .to_owned()
        )
    );
}
