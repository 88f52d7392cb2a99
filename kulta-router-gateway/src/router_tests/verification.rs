//! `verify_weight` on the in-memory route store: every configured route is judged from its
//! status, the way a gateway controller fills it in.

use kulta_router::{Verification, WriteOutcome};
use serde_json::{Value, json};

use super::{FakeStore, route, router_with, target};

#[tokio::test]
async fn verifies_every_route_and_joins_pending_reasons() {
    let accepted = |generation: i64| {
        json!({"parents": [{
            "parentRef": {"name": "gw"},
            "controllerName": "example.com/gateway-controller",
            "conditions": [
                {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "",
                 "observedGeneration": generation, "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "",
                 "observedGeneration": generation, "lastTransitionTime": "2026-01-01T00:00:00Z"}
            ]
        }]})
    };
    let mut public = route("public", 100, 0);
    public["status"] = accepted(1);
    let mut internal = route("internal", 100, 0);
    internal["metadata"]["namespace"] = json!("infra");
    internal["spec"]["rules"][0]["backendRefs"][0]["namespace"] = json!("default");
    internal["spec"]["rules"][0]["backendRefs"][1]["namespace"] = json!("default");
    internal["status"] = accepted(1);
    let (router, store) = router_with(vec![public, internal]);
    let app = target(json!({"httpRoutes": [
        {"name": "public"}, {"name": "internal", "namespace": "infra"}
    ]}));

    assert_eq!(
        router.verify_weight(&app, 0).await.ok(),
        Some(Verification::Verified)
    );
    assert_eq!(
        router.set_weight(&app, 10).await.ok(),
        Some(WriteOutcome::Written)
    );
    // The writes bumped both generations to 2; the gateway has seen only 1.
    assert_eq!(
        router.verify_weight(&app, 10).await.ok(),
        Some(Verification::Pending(
            "HTTPRoute default/public: parent gw has not yet observed generation 2 of the route \
             (Accepted is for generation 1); HTTPRoute infra/internal: parent gw has not yet \
             observed generation 2 of the route (Accepted is for generation 1)"
                .into()
        ))
    );
    {
        let mut state = store.state();
        for route in state.routes.values_mut() {
            route["status"] = accepted(2);
        }
    }
    assert_eq!(
        router.verify_weight(&app, 10).await.ok(),
        Some(Verification::Verified)
    );
}

#[tokio::test]
async fn verification_skips_other_backends_and_parents_the_route_no_longer_names() {
    let entry = |parent: &str, generation: i64, accepted: &str, resolved: &str, message: &str| {
        let condition = |kind: &str, status: &str, failure: &str, message: &str| {
            let reason = if status == "True" { kind } else { failure };
            json!({"type": kind, "status": status, "reason": reason, "message": message,
                   "observedGeneration": generation, "lastTransitionTime": "2026-01-01T00:00:00Z"})
        };
        json!({"parentRef": {"name": parent}, "controllerName": "example.com/gateway-controller",
               "conditions": [condition("Accepted", accepted, "NoMatchingParent", ""),
                              condition("ResolvedRefs", resolved, "BackendNotFound", message)]})
    };
    let set_parents = |store: &FakeStore, parents: Vec<Value>| {
        if let Some(route) = store.state().routes.values_mut().next() {
            route["status"] = json!({ "parents": parents });
        }
    };
    let (router, store) = router_with(vec![route("app-route", 100, 0)]);
    let app = target(json!({"httpRoute": "app-route"}));
    let unrelated_missing = "service default/unrelated not found";
    // `old-gw` was removed from spec.parentRefs; its controller left a rejection behind.
    let old_gateway = entry("old-gw", 1, "False", "True", "");

    assert_eq!(
        router.set_weight(&app, 10).await.ok(),
        Some(WriteOutcome::Written)
    );
    set_parents(
        &store,
        vec![
            old_gateway.clone(),
            entry("gw", 2, "True", "False", unrelated_missing),
        ],
    );
    assert_eq!(
        router.verify_weight(&app, 10).await.ok(),
        Some(Verification::Verified)
    );

    // An unresolved Rollout backend blocks, and so does a parentRef nobody reported on.
    set_parents(
        &store,
        vec![
            old_gateway,
            entry(
                "gw",
                2,
                "True",
                "False",
                "service default/app-canary not found",
            ),
        ],
    );
    let Ok(Verification::Pending(reason)) = router.verify_weight(&app, 10).await else {
        panic!("an unresolved canary backendRef was verified");
    };
    assert!(
        reason.ends_with(
            "(ResolvedRefs=False: BackendNotFound: service default/app-canary not found)"
        ),
        "{reason}"
    );
    {
        let mut state = store.state();
        if let Some(route) = state.routes.values_mut().next() {
            route["spec"]["parentRefs"] = json!([{"name": "gw"}, {"name": "edge"}]);
            route["status"] = json!({"parents": [entry("gw", 2, "True", "True", "")]});
        }
    }
    assert_eq!(
        router.verify_weight(&app, 10).await.ok(),
        Some(Verification::Pending(
            "HTTPRoute default/app-route: parent edge has not reported on the route yet \
             (status.parents has no entry for it); check that it names an existing Gateway whose \
             controller is running"
                .into()
        ))
    );
}
