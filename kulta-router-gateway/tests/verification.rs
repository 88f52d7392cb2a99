//! `verify_route` answers Verified only when the spec holds the weights and every parent
//! gateway has accepted the current generation.

#![allow(clippy::panic)] // helpers outside #[test] functions fail the test by panicking

mod common;

use common::{target, three_rule_route, typed};
use kulta_router::Verification;
use kulta_router_gateway::verify_route;
use serde_json::{Value, json};

/// The three-rule route at 20% canary, generation 5, with `parents` as its status and their
/// parentRefs (each once) as its `spec.parentRefs`.
fn route_at_twenty(parents: Value) -> Value {
    let mut parent_refs: Vec<Value> = Vec::new();
    for entry in parents.as_array().into_iter().flatten() {
        if !parent_refs.contains(&entry["parentRef"]) {
            parent_refs.push(entry["parentRef"].clone());
        }
    }
    route_with(json!(parent_refs), parents)
}

/// The three-rule route at 20% canary, generation 5, with `parent_refs` as its
/// `spec.parentRefs` and `parents` as its `status.parents`.
fn route_with(parent_refs: Value, parents: Value) -> Value {
    let mut route = three_rule_route();
    for (rule, stable, canary) in [(0, 0, 1), (1, 1, 2), (2, 0, 1)] {
        route["spec"]["rules"][rule]["backendRefs"][stable]["weight"] = json!(80);
        route["spec"]["rules"][rule]["backendRefs"][canary]["weight"] = json!(20);
    }
    route["metadata"]["generation"] = json!(5);
    route["spec"]["parentRefs"] = parent_refs;
    route["status"] = json!({"parents": parents});
    route
}

fn condition(kind: &str, status: &str, reason: &str, generation: Option<i64>) -> Value {
    condition_saying(kind, status, reason, "", generation)
}

fn condition_saying(
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Value {
    let mut condition = json!({
        "type": kind, "status": status, "reason": reason, "message": message,
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
        let mut route = route_with(three_rule_route()["spec"]["parentRefs"].clone(), json!([]));
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
                "HTTPRoute default/app-route: parent gateway-x reports ResolvedRefs without \
                 observedGeneration, so KULTA cannot tell whether it has seen generation 5 of the \
                 route; its controller example.com/gateway-controller must set \
                 observedGeneration, as Gateway API conformance requires"
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
            "invalid traffic router config: HTTPRoute default/app-route rule 0 sends to one of \
             the Rollout's Services but has no backendRef for Service app-canary: a rule must \
             name both, or neither"
                .to_owned()
        )
    );
}

/// A parent `public-gw` at generation 5 that accepted the route and reports `ResolvedRefs` with
/// `status`, `reason` and `message`.
fn resolving(status: &str, reason: &str, message: &str) -> Value {
    route_at_twenty(json!([parent(
        "public-gw",
        vec![
            condition("Accepted", "True", "Accepted", Some(5)),
            condition_saying("ResolvedRefs", status, reason, message, Some(5)),
        ]
    )]))
}

#[test]
fn resolved_refs_false_blocks_unless_its_message_names_only_another_backend() {
    // The route's other backends are `legacy` (rule 1) and `health` (rule 3).
    let unresolved = |detail: &str| {
        Verification::Pending(format!(
            "HTTPRoute default/app-route: parent public-gw has not resolved the route's \
             backendRefs ({detail})"
        ))
    };
    let cases = [
        (
            "False",
            "BackendNotFound",
            "Failed to process route rule 1 backendRef 0: service default/legacy not found.",
            Verification::Verified,
        ),
        (
            "False",
            "BackendNotFound",
            "backend(legacy.default.svc.cluster.local) not found",
            Verification::Verified,
        ),
        (
            "False",
            "BackendNotFound",
            "Service \"default/health\" not found",
            Verification::Verified,
        ),
        (
            "False",
            "RefNotPermitted",
            "backendRef to service shared/legacy is not permitted by any ReferenceGrant",
            Verification::Verified,
        ),
        (
            "False",
            "BackendNotFound",
            "service default/app-canary not found",
            unresolved("ResolvedRefs=False: BackendNotFound: service default/app-canary not found"),
        ),
        (
            "False",
            "BackendNotFound",
            "services default/legacy and default/app-stable not found",
            unresolved(
                "ResolvedRefs=False: BackendNotFound: services default/legacy and \
                 default/app-stable not found",
            ),
        ),
        (
            "False",
            "BackendNotFound",
            "a backend was not found",
            unresolved("ResolvedRefs=False: BackendNotFound: a backend was not found"),
        ),
        (
            "False",
            "BackendNotFound",
            "",
            unresolved("ResolvedRefs=False: BackendNotFound"),
        ),
        (
            "False",
            "BackendNotFound",
            "service default/legacy-v2 not found",
            unresolved("ResolvedRefs=False: BackendNotFound: service default/legacy-v2 not found"),
        ),
        (
            "Unknown",
            "Pending",
            "service default/legacy not checked yet",
            unresolved("ResolvedRefs=Unknown: Pending: service default/legacy not checked yet"),
        ),
    ];
    for (status, reason, message, expected) in cases {
        assert_eq!(
            verify(&resolving(status, reason, message), 20),
            expected,
            "{message}"
        );
    }
}

#[test]
fn conditions_without_observed_generation_prove_nothing() {
    let route = route_at_twenty(json!([parent(
        "public-gw",
        vec![
            condition("Accepted", "True", "Accepted", None),
            condition("ResolvedRefs", "True", "ResolvedRefs", None),
        ]
    )]));
    assert_eq!(
        verify(&route, 20),
        Verification::Pending(
            "HTTPRoute default/app-route: parent public-gw reports Accepted without \
             observedGeneration, so KULTA cannot tell whether it has seen generation 5 of the \
             route; its controller example.com/gateway-controller must set observedGeneration, \
             as Gateway API conformance requires"
                .into()
        )
    );
}

#[test]
fn status_entries_for_parents_the_route_no_longer_names_are_ignored() {
    let public = json!({"name": "public-gw", "namespace": "infra", "sectionName": "https"});
    let healthy_public = {
        let mut entry = healthy("public-gw", 5);
        entry["parentRef"] = public.clone();
        entry
    };
    let route = route_with(
        json!([public]),
        json!([
            // A Gateway the route was moved away from; its controller keeps the old verdict.
            parent(
                "old-gw",
                vec![
                    condition("Accepted", "False", "NotAllowedByListeners", Some(3)),
                    condition("ResolvedRefs", "True", "ResolvedRefs", Some(3)),
                ]
            ),
            healthy_public,
            // A listener the route no longer names.
            {
                "parentRef": {"name": "public-gw", "namespace": "infra", "sectionName": "http"},
                "controllerName": "example.com/gateway-controller",
                "conditions": [condition("Accepted", "True", "Accepted", Some(2))]
            }
        ]),
    );
    assert_eq!(verify(&route, 20), Verification::Verified);
}

#[test]
fn a_parent_of_the_spec_without_a_status_entry_is_pending() {
    let parent_refs = json!([{"name": "public-gw"}, {"name": "internal-gw", "port": 8443}]);
    let route = route_with(parent_refs.clone(), json!([healthy("public-gw", 5)]));
    assert_eq!(
        verify(&route, 20),
        Verification::Pending(
            "HTTPRoute default/app-route: parent internal-gw (port 8443) has not reported on the \
             route yet (status.parents has no entry for it); check that it names an existing \
             Gateway whose controller is running"
                .into()
        )
    );

    // Only entries for parents the route no longer names: neither parent has reported.
    let route = route_with(parent_refs, json!([healthy("old-gw", 5)]));
    let Verification::Pending(reason) = verify(&route, 20) else {
        panic!("a route no current parent reported on was verified");
    };
    assert!(
        reason.contains("parent public-gw has not reported on the route yet")
            && reason.contains("parent internal-gw (port 8443) has not reported"),
        "{reason}"
    );

    // A route attached to nothing is served by no gateway.
    let route = route_with(json!([]), json!([healthy("public-gw", 5)]));
    assert_eq!(
        verify(&route, 20),
        Verification::Pending(
            "HTTPRoute default/app-route: the route names no parent (spec.parentRefs is empty), \
             so no gateway serves it; add the Gateway to its parentRefs"
                .into()
        )
    );
}

#[test]
fn an_outdated_entry_of_another_controller_is_outvoted_by_a_current_one() {
    let from = |controller: &str, entry: Value| {
        let mut entry = entry;
        entry["controllerName"] = json!(controller);
        entry
    };
    // The Gateway moved to another GatewayClass; the old controller left its entry behind.
    let left_behind = from("old.example.com/gateway", healthy("public-gw", 2));
    let current = from("new.example.com/gateway", healthy("public-gw", 5));
    let route = route_at_twenty(json!([left_behind.clone(), current]));
    assert_eq!(verify(&route, 20), Verification::Verified);

    // No entry has observed generation 5: the new controller may not have looked yet.
    let lagging = from("new.example.com/gateway", healthy("public-gw", 4));
    let route = route_at_twenty(json!([left_behind.clone(), lagging]));
    assert_eq!(
        verify(&route, 20),
        Verification::Pending(
            "HTTPRoute default/app-route: parent public-gw has not yet observed generation 5 of \
             the route (Accepted is for generation 2)"
                .into()
        )
    );

    // Every current entry must be healthy.
    let rejecting = from(
        "other.example.com/gateway",
        parent(
            "public-gw",
            vec![
                condition("Accepted", "False", "NotAllowedByListeners", Some(5)),
                condition("ResolvedRefs", "True", "ResolvedRefs", Some(5)),
            ],
        ),
    );
    let current = from("new.example.com/gateway", healthy("public-gw", 5));
    let route = route_at_twenty(json!([current, rejecting]));
    assert_eq!(
        verify(&route, 20),
        Verification::Pending(
            "HTTPRoute default/app-route: parent public-gw has not accepted the route \
             (Accepted=False: NotAllowedByListeners)"
                .into()
        )
    );
}
