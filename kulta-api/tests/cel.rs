//! The CEL rules in the generated CRD, evaluated client-side with kube's `cel` feature the way
//! an API server would at `kubectl apply`.
// Helpers in integration tests are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kube::core::cel::Validator;
use kulta_api::crd::rollout_crd;
use kulta_api::steps::{pause, set_weight, set_weight_then_pause};
use kulta_api::testing::RolloutBuilder;
use serde_json::{Value, json};

fn schema() -> Value {
    let crd = serde_json::to_value(rollout_crd()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// The CEL failures for `object` as (field path, message).
fn cel_errors(object: &Value) -> Vec<(String, String)> {
    match Validator::new().validate(&schema(), object, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| (e.field_path.clone(), e.message.clone()))
            .collect(),
    }
}

/// A valid Rollout as JSON, changed by `change`.
fn rollout_with(change: impl FnOnce(&mut Value)) -> Value {
    let rollout = RolloutBuilder::new("app")
        .replicas(3)
        .steps([set_weight_then_pause(20, Some("5m")), set_weight(100)])
        .build();
    let mut value = serde_json::to_value(rollout).unwrap();
    change(&mut value);
    value
}

fn with_steps(steps: Value) -> Value {
    rollout_with(|v| v["spec"]["strategy"]["canary"]["steps"] = steps)
}

/// Asserts that exactly one rule fails, with this message.
fn assert_refused(object: &Value, message: &str) {
    let errors = cel_errors(object);
    assert_eq!(errors.len(), 1, "expected one CEL failure, got {errors:#?}");
    assert_eq!(errors[0].1, message, "{errors:#?}");
}

#[test]
fn good_rollouts_pass() {
    assert_eq!(cel_errors(&rollout_with(|_| {})), []);
    let every_step_kind = with_steps(json!([
        {"setWeight": 0},
        {"setWeight": 100, "pause": {}},
        {"pause": {"duration": "30s"}},
        {"pause": {}},
        {"setCanaryScale": {"replicas": 0}},
        {"setCanaryScale": {"weight": 100}},
        {"setCanaryScale": {"matchTrafficWeight": true}},
    ]));
    assert_eq!(cel_errors(&every_step_kind), []);
    let plugin = RolloutBuilder::new("app")
        .plugin("example", json!({"mesh": "x"}))
        .steps([pause(None)])
        .build();
    assert_eq!(cel_errors(&serde_json::to_value(plugin).unwrap()), []);
}

#[test]
fn weight_out_of_range_is_refused() {
    for weight in [-1, 101, 150] {
        assert_refused(
            &with_steps(json!([{"setWeight": weight}])),
            "setWeight must be between 0 and 100",
        );
        assert_refused(
            &with_steps(json!([{"setCanaryScale": {"weight": weight}}])),
            "setCanaryScale.weight must be between 0 and 100",
        );
    }
}

#[test]
fn step_shape_is_enforced() {
    let message = kulta_api::STEP_SHAPE_MESSAGE;
    for bad in [
        json!({}),
        json!({"setWeight": 20, "setCanaryScale": {"replicas": 1}}),
        json!({"pause": {}, "setCanaryScale": {"replicas": 1}}),
        json!({"setWeight": 20, "pause": {}, "setCanaryScale": {"replicas": 1}}),
    ] {
        assert_refused(&with_steps(json!([{"setWeight": 10}, bad])), message);
    }
    let errors = cel_errors(&with_steps(json!([{"setWeight": 10}, {}])));
    assert_eq!(errors[0].0, "spec.strategy.canary.steps[1]");
}

#[test]
fn set_canary_scale_has_one_field() {
    for bad in [
        json!({}),
        json!({"replicas": 1, "weight": 20}),
        json!({"weight": 20, "matchTrafficWeight": true}),
        json!({"matchTrafficWeight": false}),
    ] {
        assert_refused(
            &with_steps(json!([{"setCanaryScale": bad}])),
            kulta_api::CANARY_SCALE_MESSAGE,
        );
    }
    assert_refused(
        &with_steps(json!([{"setCanaryScale": {"replicas": -1}}])),
        "setCanaryScale.replicas must not be negative",
    );
}

#[test]
fn exactly_one_router() {
    let message = "trafficRouting names exactly one router: gatewayAPI or plugin";
    assert_refused(
        &rollout_with(|v| v["spec"]["strategy"]["canary"]["trafficRouting"] = json!({})),
        message,
    );
    assert_refused(
        &rollout_with(|v| {
            v["spec"]["strategy"]["canary"]["trafficRouting"]["plugin"] = json!({"name": "x"})
        }),
        message,
    );
    assert_refused(
        &rollout_with(|v| {
            v["spec"]["strategy"]["canary"]
                .as_object_mut()
                .unwrap()
                .remove("trafficRouting");
        }),
        "trafficRouting is required: name one router, gatewayAPI or plugin",
    );
}

#[test]
fn exactly_one_of_http_route_and_http_routes() {
    let message = "gatewayAPI sets exactly one of httpRoute and httpRoutes";
    let gateway = |value: Value| {
        rollout_with(|v| v["spec"]["strategy"]["canary"]["trafficRouting"]["gatewayAPI"] = value)
    };
    assert_refused(&gateway(json!({})), message);
    assert_refused(
        &gateway(json!({"httpRoute": "a", "httpRoutes": [{"name": "b"}]})),
        message,
    );
    assert_eq!(
        cel_errors(&gateway(json!({"httpRoutes": [{"name": "b"}]}))),
        []
    );
}

#[test]
fn services_must_differ() {
    assert_refused(
        &rollout_with(|v| v["spec"]["strategy"]["canary"]["canaryService"] = json!("app-stable")),
        "stableService and canaryService must name different Services",
    );
}

#[test]
fn replicas_must_not_be_negative() {
    assert_refused(
        &rollout_with(|v| v["spec"]["replicas"] = json!(-1)),
        "replicas must not be negative",
    );
}

#[test]
fn canary_strategy_is_required() {
    assert_refused(
        &rollout_with(|v| v["spec"]["strategy"] = json!({})),
        "strategy.canary is required",
    );
}

#[test]
fn progress_deadline_must_exceed_min_ready_seconds() {
    let message = "progressDeadlineSeconds must be greater than minReadySeconds";
    assert_refused(
        &rollout_with(|v| v["spec"]["minReadySeconds"] = json!(600)),
        message,
    );
    assert_refused(
        &rollout_with(|v| {
            v["spec"]["minReadySeconds"] = json!(30);
            v["spec"]["progressDeadlineSeconds"] = json!(30);
        }),
        message,
    );
    assert_eq!(
        cel_errors(&rollout_with(|v| v["spec"]["minReadySeconds"] = json!(599))),
        []
    );
}

#[test]
fn several_failures_are_all_reported() {
    let object = rollout_with(|v| {
        v["spec"]["replicas"] = json!(-2);
        v["spec"]["strategy"]["canary"]["steps"] = json!([{"setWeight": 200}, {}]);
    });
    let mut messages: Vec<String> = cel_errors(&object).into_iter().map(|e| e.1).collect();
    messages.sort();
    assert_eq!(
        messages,
        [
            kulta_api::STEP_SHAPE_MESSAGE,
            "replicas must not be negative",
            "setWeight must be between 0 and 100",
        ]
    );
}

/// The schema `pattern` of `pause.duration` agrees with `parse_duration` on syntax (the bound is
/// `parse_duration`'s alone). CEL's `matches` uses the same RE2 syntax as the API server's
/// `pattern`, so kube's CEL engine checks the pattern here.
#[test]
fn duration_pattern_agrees_with_parse_duration() {
    use kulta_api::duration::parse_duration;
    let crd = serde_json::to_value(rollout_crd()).unwrap();
    let step = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["strategy"]["properties"]["canary"]["properties"]["steps"]["items"];
    let pattern = step["properties"]["pause"]["properties"]["duration"]["pattern"]
        .as_str()
        .unwrap();
    assert_eq!(pattern, kulta_api::DURATION_PATTERN);
    let schema = json!({
        "type": "object",
        "properties": {"d": {"type": "string", "x-kubernetes-validations": [
            {"rule": format!("self.matches({})", Value::String(pattern.to_owned())), "message": "no"}
        ]}}
    });
    let matches = |input: &str| {
        Validator::new()
            .validate(&schema, &json!({"d": input}), None)
            .is_ok()
    };
    for good in [
        "0",
        "0s",
        "+5s",
        "500ms",
        "30s",
        "5m",
        "1h30m",
        "1.5h",
        "2h45m30s",
        ".5s",
        "1.s",
        "10µs",
        "10us",
        "1h1m1s1ms1us1ns",
        "720h",
    ] {
        assert!(matches(good), "pattern refuses {good:?}");
        assert!(
            parse_duration(good).is_ok(),
            "parse_duration refuses {good:?}"
        );
    }
    for bad in [
        "", "-5s", "5", "1h5", "5x", "5 m", "5min", "s", ".s", "+", "1..5s", "00", "0 s", "h1",
    ] {
        assert!(!matches(bad), "pattern accepts {bad:?}");
        assert!(
            parse_duration(bad).is_err(),
            "parse_duration accepts {bad:?}"
        );
    }
}
