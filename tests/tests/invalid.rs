//! Invalid specs: what the CRD's CEL rules can express is refused at create time (422 with the
//! field path); what passes the schema but not the controller's validation or its router
//! registry gets an `InvalidSpec` condition, and nothing but the Rollout's status is written.
// Helpers outside `#[test]` functions fail the test too: panicking is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kulta_api::labels::FINALIZER;
use kulta_api::steps::{CanaryScale, pause, set_canary_scale, set_weight};
use kulta_api::{CanaryStep, Phase, Rollout};
use kulta_tests::{TestCluster, condition_is, condition_reason, rollout};
use serde_json::json;

async fn refused(cluster: &TestCluster, rollout: &Rollout) -> kube::core::Status {
    match cluster.try_create_rollout(rollout).await {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected the API server to refuse the Rollout, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crd_refuses_what_cel_can_express() {
    let cluster = TestCluster::start().await;

    let status = refused(&cluster, &rollout("web").steps([set_weight(150)]).build()).await;
    assert_eq!(status.code, 422, "{status:?}");
    assert!(
        status
            .message
            .contains("spec.strategy.canary.steps[0].setWeight"),
        "{}",
        status.message
    );
    assert!(status.message.contains("100"), "{}", status.message);

    let two_actions = CanaryStep {
        set_canary_scale: set_canary_scale(CanaryScale::Replicas(1)).set_canary_scale,
        ..set_weight(20)
    };
    let status = refused(&cluster, &rollout("web").steps([two_actions]).build()).await;
    assert_eq!(status.code, 422, "{status:?}");
    assert!(
        status.message.contains("spec.strategy.canary.steps[0]"),
        "{}",
        status.message
    );
    assert!(
        status.message.contains("exactly one action"),
        "{}",
        status.message
    );

    let status = refused(
        &cluster,
        &rollout("web")
            .steps([set_weight(20), pause(Some("5 minutes"))])
            .build(),
    )
    .await;
    assert_eq!(status.code, 422, "{status:?}");
    assert!(
        status
            .message
            .contains("spec.strategy.canary.steps[1].pause.duration"),
        "{}",
        status.message
    );

    assert!(
        cluster
            .rollouts()
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// Creates `rollout` (valid for the schema), waits for `InvalidSpec` naming `path`, asserts
/// that the controller wrote only the Rollout's status (and Events), then applies `fix` and
/// waits for Healthy.
async fn invalid_then_fixed(rollout: Rollout, path: &str, fix: serde_json::Value) {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    cluster.create_rollout(&rollout).await;
    let status = cluster
        .wait_status("web", "InvalidSpec=True", |s| {
            condition_is(s, "InvalidSpec", "True")
        })
        .await;
    assert_eq!(status.phase, Some(Phase::Degraded));
    assert_eq!(
        condition_reason(&status, "Ready").as_deref(),
        Some("InvalidSpec")
    );
    assert!(condition_is(&status, "Progressing", "False"));
    let message = &status
        .conditions
        .iter()
        .find(|c| c.type_ == "InvalidSpec")
        .unwrap()
        .message;
    assert!(message.contains(path), "{message} names {path}");
    cluster.wait_event("web", "InvalidSpec").await;

    let writes = cluster.controller_writes().await;
    let other: Vec<_> = writes
        .iter()
        .filter(|w| {
            !(w.resource == "rollouts" && w.subresource == "status") && w.resource != "events"
        })
        .map(|w| {
            (
                w.verb.clone(),
                w.resource.clone(),
                w.subresource.clone(),
                w.name.clone(),
            )
        })
        .collect();
    assert!(
        other.is_empty(),
        "an invalid Rollout made writes besides its status: {other:?}"
    );
    assert!(cluster.replica_set_scales("web").await.is_empty());
    let stored = cluster.rollout("web").await;
    assert!(
        !stored
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&FINALIZER.to_string()),
        "not even the finalizer"
    );
    assert_eq!(
        cluster.route_weights("web-route", "web").await,
        vec![(100, 0)]
    );

    cluster.patch_rollout("web", fix).await;
    let status = cluster.wait_healthy("web").await;
    assert!(condition_is(&status, "InvalidSpec", "False"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_router_is_an_invalid_spec() {
    invalid_then_fixed(
        rollout("web").plugin("no-such-router", json!({})).build(),
        "spec.strategy.canary.trafficRouting",
        json!({ "spec": { "strategy": { "canary": { "trafficRouting": { "plugin": null, "gatewayAPI": { "httpRoute": "web-route" } } } } } }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_duration_the_schema_accepts_but_too_long_is_an_invalid_spec() {
    invalid_then_fixed(
        rollout("web").steps([set_weight(20), pause(Some("9999999999h"))]).build(),
        "spec.strategy.canary.steps[1].pause.duration",
        json!({ "spec": { "strategy": { "canary": { "steps": [{ "setWeight": 20 }, { "pause": { "duration": "5m" } }] } } } }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_that_does_not_match_the_template_is_an_invalid_spec() {
    invalid_then_fixed(
        rollout("web")
            .with_spec(|spec| {
                spec.selector.match_labels = Some([("app".to_string(), "other".to_string())].into())
            })
            .build(),
        "spec.selector",
        json!({ "spec": { "selector": { "matchLabels": { "app": "web" } } } }),
    )
    .await;
}

/// One Rollout the CRD must refuse: how it differs from a valid one, and every (field path,
/// message) the API server must answer with, as `status.details.causes`.
struct Refusal {
    what: &'static str,
    change: fn(&mut serde_json::Value),
    causes: &'static [(&'static str, &'static str)],
}

/// Every CEL rule and schema bound of the CRD, broken one way each (and several at once). The
/// real kube-apiserver and kulta-sim must refuse each with the same field paths and messages.
const CORPUS: &[Refusal] = &[
    Refusal {
        what: "a name of 64 characters (a label value has at most 63)",
        change: |v| v["metadata"]["name"] = json!("a".repeat(64)),
        causes: &[(
            "<nil>",
            "Invalid value: metadata.name must be at most 63 characters: it is the value of the kulta.io/rollout label on the Rollout's ReplicaSets",
        )],
    },
    Refusal {
        what: "a name of 250 characters (a valid object name)",
        change: |v| v["metadata"]["name"] = json!("a".repeat(250)),
        causes: &[(
            "<nil>",
            "Invalid value: metadata.name must be at most 63 characters: it is the value of the kulta.io/rollout label on the Rollout's ReplicaSets",
        )],
    },
    Refusal {
        what: "a weight above 100",
        change: |v| v["spec"]["strategy"]["canary"]["steps"] = json!([{"setWeight": 150}]),
        // The schema's bound, then the CEL rule: a failed bound does not stop the rules.
        causes: &[
            (
                "spec.strategy.canary.steps[0].setWeight",
                "Invalid value: 150: spec.strategy.canary.steps[0].setWeight in body should be less than or equal to 100",
            ),
            (
                "spec.strategy.canary.steps[0].setWeight",
                "Invalid value: 150: setWeight must be between 0 and 100",
            ),
        ],
    },
    Refusal {
        what: "a negative canary scale weight",
        change: |v| {
            v["spec"]["strategy"]["canary"]["steps"] = json!([{"setCanaryScale": {"weight": -1}}])
        },
        causes: &[
            (
                "spec.strategy.canary.steps[0].setCanaryScale.weight",
                "Invalid value: -1: spec.strategy.canary.steps[0].setCanaryScale.weight in body should be greater than or equal to 0",
            ),
            (
                "spec.strategy.canary.steps[0].setCanaryScale.weight",
                "Invalid value: -1: setCanaryScale.weight must be between 0 and 100",
            ),
        ],
    },
    Refusal {
        what: "a step with no action",
        change: |v| v["spec"]["strategy"]["canary"]["steps"] = json!([{"setWeight": 10}, {}]),
        // An object is not shown in the message.
        causes: &[(
            "spec.strategy.canary.steps[1]",
            "Invalid value: a step has exactly one action",
        )],
    },
    Refusal {
        what: "a canary scale with two fields",
        change: |v| {
            v["spec"]["strategy"]["canary"]["steps"] =
                json!([{"setCanaryScale": {"replicas": 1, "weight": 20}}])
        },
        causes: &[(
            "spec.strategy.canary.steps[0].setCanaryScale",
            kulta_api::CANARY_SCALE_MESSAGE,
        )],
    },
    Refusal {
        what: "negative canary replicas",
        change: |v| {
            v["spec"]["strategy"]["canary"]["steps"] = json!([{"setCanaryScale": {"replicas": -1}}])
        },
        causes: &[
            (
                "spec.strategy.canary.steps[0].setCanaryScale.replicas",
                "Invalid value: -1: spec.strategy.canary.steps[0].setCanaryScale.replicas in body should be greater than or equal to 0",
            ),
            (
                "spec.strategy.canary.steps[0].setCanaryScale.replicas",
                "Invalid value: -1: setCanaryScale.replicas must not be negative",
            ),
        ],
    },
    Refusal {
        what: "no router named",
        change: |v| v["spec"]["strategy"]["canary"]["trafficRouting"] = json!({}),
        causes: &[(
            "spec.strategy.canary.trafficRouting",
            "trafficRouting names exactly one router: gatewayAPI or plugin",
        )],
    },
    Refusal {
        what: "no trafficRouting",
        change: |v| {
            v["spec"]["strategy"]["canary"]
                .as_object_mut()
                .unwrap()
                .remove("trafficRouting");
        },
        causes: &[(
            "spec.strategy.canary",
            "trafficRouting is required: name one router, gatewayAPI or plugin",
        )],
    },
    Refusal {
        what: "both httpRoute and httpRoutes",
        change: |v| {
            v["spec"]["strategy"]["canary"]["trafficRouting"]["gatewayAPI"] =
                json!({"httpRoute": "a", "httpRoutes": [{"name": "b"}]})
        },
        causes: &[(
            "spec.strategy.canary.trafficRouting.gatewayAPI",
            "gatewayAPI sets exactly one of httpRoute and httpRoutes",
        )],
    },
    Refusal {
        what: "one Service for stable and canary",
        change: |v| v["spec"]["strategy"]["canary"]["canaryService"] = json!("web-stable"),
        causes: &[(
            "spec.strategy.canary",
            "stableService and canaryService must name different Services",
        )],
    },
    Refusal {
        what: "negative replicas",
        change: |v| v["spec"]["replicas"] = json!(-1),
        // The schema's bound, the scale subresource's own check (at its specReplicasPath as the
        // CRD spells it, leading dot included) and the CEL rule.
        causes: &[
            (
                "spec.replicas",
                "Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
            ),
            (
                ".spec.replicas",
                "Invalid value: -1: should be a non-negative integer",
            ),
            (
                "spec.replicas",
                "Invalid value: -1: replicas must not be negative",
            ),
        ],
    },
    Refusal {
        what: "no canary strategy",
        change: |v| v["spec"]["strategy"] = json!({}),
        causes: &[("spec.strategy", "strategy.canary is required")],
    },
    Refusal {
        what: "a progress deadline within minReadySeconds",
        change: |v| v["spec"]["minReadySeconds"] = json!(600),
        causes: &[(
            "spec",
            "progressDeadlineSeconds must be greater than minReadySeconds",
        )],
    },
    Refusal {
        what: "a pause duration that is not a duration",
        change: |v| {
            v["spec"]["strategy"]["canary"]["steps"] = json!([{"pause": {"duration": "5 minutes"}}])
        },
        causes: &[(
            "spec.strategy.canary.steps[0].pause.duration",
            "Invalid value: \"5 minutes\": spec.strategy.canary.steps[0].pause.duration in body should match",
        )],
    },
    Refusal {
        what: "several faults at once",
        change: |v| {
            v["spec"]["replicas"] = json!(-2);
            v["spec"]["strategy"]["canary"]["steps"] = json!([{"setWeight": 200}, {}]);
        },
        causes: &[
            (
                "spec.replicas",
                "in body should be greater than or equal to 0",
            ),
            (".spec.replicas", "should be a non-negative integer"),
            (
                "spec.replicas",
                "Invalid value: -2: replicas must not be negative",
            ),
            (
                "spec.strategy.canary.steps[0].setWeight",
                "in body should be less than or equal to 100",
            ),
            (
                "spec.strategy.canary.steps[0].setWeight",
                "Invalid value: 200: setWeight must be between 0 and 100",
            ),
            (
                "spec.strategy.canary.steps[1]",
                kulta_api::STEP_SHAPE_MESSAGE,
            ),
        ],
    },
    Refusal {
        what: "a missing required field stops the CEL rules",
        change: |v| {
            v["spec"].as_object_mut().unwrap().remove("selector");
            v["spec"]["strategy"]["canary"]["steps"] = json!([{"setWeight": 150}]);
        },
        causes: &[
            (
                "spec.strategy.canary.steps[0].setWeight",
                "in body should be less than or equal to 100",
            ),
            ("spec.selector", "Required value"),
            (
                "<nil>",
                "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
            ),
        ],
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invalid_spec_corpus_is_refused_with_its_field_paths() {
    let cluster = TestCluster::start_without_controller().await;
    let valid = serde_json::to_value(rollout("web").build()).unwrap();
    let mut failures = Vec::new();
    for refusal in CORPUS {
        let mut object = valid.clone();
        (refusal.change)(&mut object);
        let status = match cluster.try_create_rollout_json(object).await {
            Err(kube::Error::Api(status)) => *status,
            other => {
                failures.push(format!("{}: not refused: {other:?}", refusal.what));
                continue;
            }
        };
        let causes: Vec<(String, String)> = status
            .details
            .iter()
            .flat_map(|details| details.causes.iter())
            .map(|cause| (cause.field.clone(), cause.message.clone()))
            .collect();
        // Each expected cause matches an answered cause of its own, and nothing else is
        // answered; the message names each.
        let mut unmatched = causes.clone();
        let all_matched = refusal.causes.iter().all(|(field, message)| {
            let found = unmatched
                .iter()
                .position(|(f, m)| f == field && m.contains(message));
            found.map(|index| unmatched.remove(index)).is_some()
                && status.message.contains(&format!("{field}: "))
        });
        if status.code != 422 || status.reason != "Invalid" || !all_matched || !unmatched.is_empty()
        {
            failures.push(format!(
                "{}: expected 422 Invalid with {:?}, got {} {} {causes:?}: {}",
                refusal.what, refusal.causes, status.code, status.reason, status.message
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        cluster
            .rollouts()
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "nothing refused was stored"
    );
}

/// A template the API server stores (the CRD keeps `spec.template` as any object) but the pod
/// template type cannot decode: that Rollout gets `InvalidSpec` naming the field, and every other
/// Rollout is reconciled as before, also after a relist (a restarted controller lists them all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_that_does_not_decode_stops_only_its_own_rollout() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    cluster.create_app("api").await;
    cluster
        .create_rollout(&rollout("web").steps([set_weight(50)]).build())
        .await;
    cluster.wait_healthy("web").await;

    let mut broken = serde_json::to_value(rollout("api").build()).unwrap();
    broken["spec"]["template"]["spec"]["containers"][0]["env"] =
        json!([{"name": "PORT", "value": 8080}]);
    broken["spec"]["template"]["spec"]["containers"][0]["ports"] = json!([{"containerPort": "80"}]);
    cluster
        .try_create_rollout_json(broken)
        .await
        .expect("the API server stores any object as the template");
    let status = cluster
        .wait_status("api", "InvalidSpec=True", |s| {
            condition_is(s, "InvalidSpec", "True")
        })
        .await;
    let message = &status
        .conditions
        .iter()
        .find(|c| c.type_ == "InvalidSpec")
        .unwrap()
        .message;
    assert!(
        message.contains("spec.template.spec.containers[0].env[0].value")
            && message.contains("expected a string"),
        "{message}"
    );
    cluster.wait_event("api", "InvalidSpec").await;

    // A relist decodes every Rollout again: the others still roll out.
    cluster.restart_controller().await;
    cluster.set_image("web", "nginx:1.26").await;
    let done = cluster
        .wait_status("web", "the new revision stable", |s| {
            s.phase == Some(Phase::Healthy) && s.observed_generation == Some(2)
        })
        .await;
    assert_eq!(done.current_step_index, Some(1));
    assert!(cluster.replica_set_scales("api").await.is_empty());
    assert!(condition_is(
        &cluster.status("api").await,
        "InvalidSpec",
        "True"
    ));

    // Fixed, it rolls out.
    cluster
        .patch_rollout(
            "api",
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1.25", "env": [{"name": "PORT", "value": "8080"}]}
            ]}}}}),
        )
        .await;
    let status = cluster.wait_healthy("api").await;
    assert!(condition_is(&status, "InvalidSpec", "False"));
}

/// The longest name the CRD accepts is a working Rollout: its label value, ReplicaSet names and
/// Event names are all accepted by the API server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_of_63_characters_rolls_out() {
    let cluster = TestCluster::start().await;
    let name = "r".repeat(63);
    cluster.create_service("web-stable", &name).await;
    cluster.create_service("web-canary", &name).await;
    cluster
        .create_route(kulta_tests::default_route("web"))
        .await;
    cluster
        .create_rollout(
            &rollout(&name)
                .steps([set_weight(50)])
                .with_spec(|spec| {
                    let canary = spec.strategy.canary.as_mut().unwrap();
                    canary.stable_service = "web-stable".into();
                    canary.canary_service = "web-canary".into();
                })
                .http_route("web-route")
                .build(),
        )
        .await;
    cluster.wait_healthy(&name).await;
    cluster.set_image(&name, "nginx:1.26").await;
    let done = cluster
        .wait_status(&name, "the new revision stable", |s| {
            s.phase == Some(Phase::Healthy) && s.observed_generation == Some(2)
        })
        .await;
    assert_eq!(done.current_step_index, Some(1));
    cluster.wait_event(&name, "RolloutCompleted").await;
}
