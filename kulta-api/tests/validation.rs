//! `validate`: a table of bad specs, each with its exact field path and message.
// Helpers in integration tests are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kulta_api::steps::{pause, pause_indefinitely, set_weight, set_weight_then_pause};
use kulta_api::testing::RolloutBuilder;
use kulta_api::validation::{FieldError, validate};
use kulta_api::{
    CanaryStep, GatewayApiRouting, PauseStep, PluginRouting, Rollout, RolloutSpec, RouteRef,
    SetCanaryScale, TrafficRouting,
};
use serde_json::json;

fn base() -> RolloutBuilder {
    RolloutBuilder::new("app")
        .replicas(3)
        .steps([set_weight_then_pause(20, Some("5m")), set_weight(100)])
}

fn with(change: impl FnOnce(&mut RolloutSpec)) -> Rollout {
    base().with_spec(change).build()
}

fn canary(spec: &mut RolloutSpec) -> &mut kulta_api::CanaryStrategy {
    spec.strategy.canary.as_mut().unwrap()
}

fn routing(spec: &mut RolloutSpec) -> &mut TrafficRouting {
    canary(spec).traffic_routing.as_mut().unwrap()
}

fn scale(replicas: Option<i32>, weight: Option<i32>, match_traffic: Option<bool>) -> CanaryStep {
    CanaryStep {
        set_canary_scale: Some(SetCanaryScale {
            replicas,
            weight,
            match_traffic_weight: match_traffic,
        }),
        ..CanaryStep::default()
    }
}

fn expression(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: key.to_owned(),
        operator: operator.to_owned(),
        values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
    }
}

fn selector_expressions(expressions: Vec<LabelSelectorRequirement>) -> LabelSelector {
    LabelSelector {
        match_labels: None,
        match_expressions: Some(expressions),
    }
}

#[test]
fn valid_rollouts_pass() {
    for rollout in [
        base().build(),
        RolloutBuilder::new("app").build(),
        base()
            .steps([
                set_weight(0),
                pause(Some("0")),
                pause_indefinitely(),
                scale(Some(0), None, None),
                scale(None, Some(100), None),
                scale(None, None, Some(true)),
            ])
            .build(),
        base().plugin("example", json!({"a": 1})).build(),
        base()
            .with_spec(|spec| {
                routing(spec).gateway_api = Some(GatewayApiRouting {
                    http_route: None,
                    http_routes: Some(vec![RouteRef {
                        name: "r.v1".into(),
                        namespace: Some("edge".into()),
                    }]),
                })
            })
            .build(),
        base()
            .template_label("tier", "web")
            .with_spec(|spec| {
                spec.selector = selector_expressions(vec![
                    expression("app", "In", &["app", "other"]),
                    expression("tier", "NotIn", &["db"]),
                    expression("tier", "Exists", &[]),
                    expression("zone", "DoesNotExist", &[]),
                ])
            })
            .build(),
        base()
            .min_ready_seconds(10)
            .progress_deadline_seconds(11)
            .scale_down_delay_seconds(0)
            .revision_history_limit(0)
            .replicas(0)
            .build(),
    ] {
        assert_eq!(validate(&rollout), Ok(()), "{:#?}", rollout.spec);
    }
}

#[test]
fn bad_specs_report_path_and_message() {
    let table: Vec<(&str, Rollout, &str, &str)> = vec![
        (
            "setWeight above 100",
            base()
                .steps([set_weight(10), set_weight(50), set_weight(150)])
                .build(),
            "spec.strategy.canary.steps[2].setWeight",
            "must be between 0 and 100, got 150",
        ),
        (
            "negative setWeight",
            base().steps([set_weight(-5)]).build(),
            "spec.strategy.canary.steps[0].setWeight",
            "must be between 0 and 100, got -5",
        ),
        (
            "setCanaryScale.weight above 100",
            base().steps([scale(None, Some(101), None)]).build(),
            "spec.strategy.canary.steps[0].setCanaryScale.weight",
            "must be between 0 and 100, got 101",
        ),
        (
            "negative setCanaryScale.replicas",
            base().steps([scale(Some(-1), None, None)]).build(),
            "spec.strategy.canary.steps[0].setCanaryScale.replicas",
            "must not be negative, got -1",
        ),
        (
            "empty setCanaryScale",
            base().steps([scale(None, None, None)]).build(),
            "spec.strategy.canary.steps[0].setCanaryScale",
            "has no field; set one of replicas, weight or matchTrafficWeight: true",
        ),
        (
            "setCanaryScale with two fields",
            base().steps([scale(Some(1), Some(20), None)]).build(),
            "spec.strategy.canary.steps[0].setCanaryScale",
            "sets replicas and weight; set exactly one of replicas, weight or matchTrafficWeight: true",
        ),
        (
            "matchTrafficWeight false alone",
            base().steps([scale(None, None, Some(false))]).build(),
            "spec.strategy.canary.steps[0].setCanaryScale.matchTrafficWeight",
            "false is no action; set it to true, or set replicas or weight instead",
        ),
        (
            "empty pause duration",
            base().steps([pause(Some(""))]).build(),
            "spec.strategy.canary.steps[0].pause.duration",
            "duration is empty; use Go syntax such as 30s, 5m or 1h30m",
        ),
        (
            "pause duration with unknown unit",
            base().steps([set_weight(10), pause(Some("5x"))]).build(),
            "spec.strategy.canary.steps[1].pause.duration",
            "\"5x\" has an unknown unit \"x\"; use ns, us, ms, s, m or h",
        ),
        (
            "pause duration over the bound",
            base().steps([pause(Some("800h"))]).build(),
            "spec.strategy.canary.steps[0].pause.duration",
            "\"800h\" is longer than the maximum of 720h0m0s; use a shorter duration",
        ),
        (
            "step with no action",
            base()
                .steps([set_weight(10), CanaryStep::default()])
                .build(),
            "spec.strategy.canary.steps[1]",
            "has no action; set one of setWeight, pause or setCanaryScale",
        ),
        (
            "step with setWeight and setCanaryScale",
            base()
                .steps([CanaryStep {
                    set_weight: Some(10),
                    ..scale(Some(1), None, None)
                }])
                .build(),
            "spec.strategy.canary.steps[0]",
            "has conflicting actions setWeight, setCanaryScale; a step has exactly one action: \
             setWeight, pause or setCanaryScale (setWeight may be combined with pause)",
        ),
        (
            "step with pause and setCanaryScale",
            base()
                .steps([CanaryStep {
                    pause: Some(PauseStep::default()),
                    ..scale(Some(1), None, None)
                }])
                .build(),
            "spec.strategy.canary.steps[0]",
            "has conflicting actions pause, setCanaryScale; a step has exactly one action: \
             setWeight, pause or setCanaryScale (setWeight may be combined with pause)",
        ),
        (
            "no canary strategy",
            with(|spec| spec.strategy.canary = None),
            "spec.strategy.canary",
            "is required; KULTA rolls out with the canary strategy",
        ),
        (
            "no trafficRouting",
            with(|spec| canary(spec).traffic_routing = None),
            "spec.strategy.canary.trafficRouting",
            "is required; name one router: gatewayAPI or plugin",
        ),
        (
            "no router",
            with(|spec| *routing(spec) = TrafficRouting::default()),
            "spec.strategy.canary.trafficRouting",
            "names no router; set gatewayAPI or plugin",
        ),
        (
            "two routers",
            with(|spec| {
                routing(spec).plugin = Some(PluginRouting {
                    name: "x".into(),
                    config: None,
                })
            }),
            "spec.strategy.canary.trafficRouting",
            "names two routers (gatewayAPI and plugin); keep exactly one",
        ),
        (
            "gatewayAPI with neither httpRoute nor httpRoutes",
            with(|spec| routing(spec).gateway_api = Some(GatewayApiRouting::default())),
            "spec.strategy.canary.trafficRouting.gatewayAPI",
            "sets neither httpRoute nor httpRoutes; name the HTTPRoute whose backendRefs carry \
             the stable and canary Services",
        ),
        (
            "gatewayAPI with both httpRoute and httpRoutes",
            with(|spec| {
                routing(spec).gateway_api.as_mut().unwrap().http_routes = Some(vec![RouteRef {
                    name: "b".into(),
                    namespace: None,
                }])
            }),
            "spec.strategy.canary.trafficRouting.gatewayAPI",
            "sets both httpRoute and httpRoutes; keep one (httpRoutes can list several routes)",
        ),
        (
            "empty httpRoute",
            base().http_route("").build(),
            "spec.strategy.canary.trafficRouting.gatewayAPI.httpRoute",
            "must not be empty; name the HTTPRoute",
        ),
        (
            "empty name in httpRoutes",
            with(|spec| {
                routing(spec).gateway_api = Some(GatewayApiRouting {
                    http_route: None,
                    http_routes: Some(vec![
                        RouteRef {
                            name: "a".into(),
                            namespace: None,
                        },
                        RouteRef {
                            name: String::new(),
                            namespace: None,
                        },
                    ]),
                })
            }),
            "spec.strategy.canary.trafficRouting.gatewayAPI.httpRoutes[1].name",
            "must not be empty; name the HTTPRoute",
        ),
        (
            "empty httpRoutes",
            with(|spec| {
                routing(spec).gateway_api = Some(GatewayApiRouting {
                    http_route: None,
                    http_routes: Some(Vec::new()),
                })
            }),
            "spec.strategy.canary.trafficRouting.gatewayAPI.httpRoutes",
            "must list at least one HTTPRoute, or use httpRoute",
        ),
        (
            "plugin with empty name",
            base().plugin("", json!({})).build(),
            "spec.strategy.canary.trafficRouting.plugin.name",
            "must not be empty; use the name the router was registered under",
        ),
        (
            "plugin config not an object",
            base().plugin("example", json!([1])).build(),
            "spec.strategy.canary.trafficRouting.plugin.config",
            "must be an object; put the router's settings under named keys",
        ),
        (
            "empty stableService",
            base().services("", "app-canary").build(),
            "spec.strategy.canary.stableService",
            "must not be empty; name the Service that selects the stable pods",
        ),
        (
            "empty canaryService",
            base().services("app-stable", "").build(),
            "spec.strategy.canary.canaryService",
            "must not be empty; name the Service that selects the canary pods",
        ),
        (
            "stable == canary",
            base().services("app", "app").build(),
            "spec.strategy.canary.canaryService",
            "must differ from stableService (both are \"app\"); each revision needs its own Service",
        ),
        (
            "Service name not a DNS-1035 label",
            base().services("App_Stable", "app-canary").build(),
            "spec.strategy.canary.stableService",
            "must be a valid Service name (lowercase letters, digits and '-', starting with a \
             letter, ending with a letter or digit, at most 63 characters), got \"App_Stable\"",
        ),
        (
            "Service name starting with a digit",
            base().services("app-stable", "1-canary").build(),
            "spec.strategy.canary.canaryService",
            "must be a valid Service name (lowercase letters, digits and '-', starting with a \
             letter, ending with a letter or digit, at most 63 characters), got \"1-canary\"",
        ),
        (
            "negative replicas",
            base().replicas(-1).build(),
            "spec.replicas",
            "must not be negative, got -1",
        ),
        (
            "negative scaleDownDelaySeconds",
            base().scale_down_delay_seconds(-30).build(),
            "spec.strategy.canary.scaleDownDelaySeconds",
            "must not be negative, got -30",
        ),
        (
            "negative revisionHistoryLimit",
            base().revision_history_limit(-1).build(),
            "spec.revisionHistoryLimit",
            "must not be negative, got -1",
        ),
        (
            "negative minReadySeconds",
            base().min_ready_seconds(-1).build(),
            "spec.minReadySeconds",
            "must not be negative, got -1",
        ),
        (
            "zero progressDeadlineSeconds",
            base().progress_deadline_seconds(0).build(),
            "spec.progressDeadlineSeconds",
            "must be greater than 0, got 0",
        ),
        (
            "progressDeadlineSeconds not above minReadySeconds",
            base()
                .min_ready_seconds(60)
                .progress_deadline_seconds(60)
                .build(),
            "spec.progressDeadlineSeconds",
            "must be greater than minReadySeconds (60), got 60; raise it or lower minReadySeconds",
        ),
        (
            "default progressDeadlineSeconds not above minReadySeconds",
            base().min_ready_seconds(900).build(),
            "spec.progressDeadlineSeconds",
            "must be greater than minReadySeconds (900), got 600; raise it or lower minReadySeconds",
        ),
        (
            "empty selector",
            with(|spec| spec.selector = LabelSelector::default()),
            "spec.selector",
            "must not be empty; select the template's labels, e.g. matchLabels: {app: my-app}",
        ),
        (
            "matchLabels value differs from the template",
            with(|spec| {
                spec.selector.match_labels = Some([("app".to_owned(), "other".to_owned())].into())
            }),
            "spec.selector.matchLabels.app",
            "selects app=other but the template's label is app=app; the selector must match \
             spec.template.metadata.labels",
        ),
        (
            "matchLabels key missing from the template",
            with(|spec| {
                spec.selector
                    .match_labels
                    .as_mut()
                    .unwrap()
                    .insert("tier".into(), "web".into());
            }),
            "spec.selector.matchLabels.tier",
            "selects tier=web but the template has no label tier; add it to \
             spec.template.metadata.labels",
        ),
        (
            "matchExpressions In not matching",
            with(|spec| {
                spec.selector = selector_expressions(vec![expression("app", "In", &["a", "b"])])
            }),
            "spec.selector.matchExpressions[0]",
            "requires app In [a, b] but the template's label is app=app; the selector must \
             match spec.template.metadata.labels",
        ),
        (
            "matchExpressions NotIn not matching",
            with(|spec| {
                spec.selector = selector_expressions(vec![
                    expression("app", "Exists", &[]),
                    expression("app", "NotIn", &["app"]),
                ])
            }),
            "spec.selector.matchExpressions[1]",
            "requires app NotIn [app] but the template's label is app=app; the selector must \
             match spec.template.metadata.labels",
        ),
        (
            "matchExpressions Exists not matching",
            with(|spec| {
                spec.selector = selector_expressions(vec![expression("tier", "Exists", &[])])
            }),
            "spec.selector.matchExpressions[0]",
            "requires tier Exists but the template has no label tier; the selector must match \
             spec.template.metadata.labels",
        ),
        (
            "matchExpressions DoesNotExist not matching",
            with(|spec| {
                spec.selector = selector_expressions(vec![
                    expression("app", "In", &["app"]),
                    expression("app", "DoesNotExist", &[]),
                ])
            }),
            "spec.selector.matchExpressions[1]",
            "requires app DoesNotExist but the template's label is app=app; the selector must \
             match spec.template.metadata.labels",
        ),
        (
            "matchExpressions unknown operator",
            with(|spec| {
                spec.selector = selector_expressions(vec![expression("app", "Equals", &["app"])])
            }),
            "spec.selector.matchExpressions[0].operator",
            "must be In, NotIn, Exists or DoesNotExist, got \"Equals\"",
        ),
        (
            "matchExpressions In without values",
            with(|spec| spec.selector = selector_expressions(vec![expression("app", "In", &[])])),
            "spec.selector.matchExpressions[0].values",
            "must not be empty for operator In; list the values to match",
        ),
        (
            "template without containers",
            with(|spec| {
                let mut template = spec.template.decode().unwrap();
                template.spec = Some(PodSpec::default());
                spec.template.set(&template);
            }),
            "spec.template.spec.containers",
            "must list at least one container",
        ),
        (
            "template without a pod spec",
            with(|spec| {
                let mut template = spec.template.decode().unwrap();
                template.spec = None;
                spec.template.set(&template);
            }),
            "spec.template.spec.containers",
            "must list at least one container",
        ),
        (
            "an env value that is not a string",
            with(|spec| {
                spec.template = serde_json::json!({
                    "metadata": {"labels": {"app": "app"}},
                    "spec": {"containers": [{"name": "app", "image": "nginx",
                        "env": [{"name": "PORT", "value": 8080}]}]}
                })
                .into();
            }),
            "spec.template.spec.containers[0].env[0].value",
            "invalid type: integer `8080`, expected a string",
        ),
        (
            "a containerPort that is a string",
            with(|spec| {
                spec.template = serde_json::json!({
                    "metadata": {"labels": {"app": "app"}},
                    "spec": {"containers": [{"name": "app", "image": "nginx",
                        "ports": [{"containerPort": "80"}]}]}
                })
                .into();
            }),
            "spec.template.spec.containers[0].ports[0].containerPort",
            "invalid type: string \"80\", expected i32",
        ),
        (
            "too many steps",
            base().steps((0..101).map(|_| set_weight(10))).build(),
            "spec.strategy.canary.steps",
            "must have at most 100 steps, got 101",
        ),
    ];
    assert!(table.len() >= 20);
    for (name, rollout, path, message) in table {
        let errors = validate(&rollout).expect_err(name);
        assert_eq!(
            errors,
            vec![FieldError::new(path, message)],
            "case {name:?} reported {}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn every_problem_is_reported() {
    let rollout = base()
        .replicas(-1)
        .services("app", "app")
        .steps([set_weight(10), set_weight(150)])
        .build();
    let errors: Vec<String> = validate(&rollout)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [
            "spec.replicas: must not be negative, got -1",
            "spec.strategy.canary.canaryService: must differ from stableService (both are \
             \"app\"); each revision needs its own Service",
            "spec.strategy.canary.steps[1].setWeight: must be between 0 and 100, got 150",
        ]
    );
}

#[test]
fn several_problems_in_one_step_are_all_reported() {
    let step = CanaryStep {
        set_weight: Some(300),
        pause: Some(PauseStep {
            duration: Some("-1s".into()),
        }),
        set_canary_scale: Some(SetCanaryScale {
            replicas: Some(-1),
            weight: None,
            match_traffic_weight: None,
        }),
    };
    let errors: Vec<String> = validate(&base().steps([step]).build())
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [
            "spec.strategy.canary.steps[0]: has conflicting actions setWeight, pause, \
             setCanaryScale; a step has exactly one action: setWeight, pause or setCanaryScale \
             (setWeight may be combined with pause)",
            "spec.strategy.canary.steps[0].setWeight: must be between 0 and 100, got 300",
            "spec.strategy.canary.steps[0].pause.duration: \"-1s\" is negative; a duration must \
             be zero or more",
            "spec.strategy.canary.steps[0].setCanaryScale.replicas: must not be negative, got -1",
        ]
    );
}
