//! The original README's example Rollout (`examples/basic-rollout.yaml`) still applies verbatim.
// Helpers in integration tests are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use kube::core::cel::Validator;
use kulta_api::steps::StepAction;
use kulta_api::validation::validate;
use kulta_api::{GATEWAY_API_ROUTER_KEY, Rollout};
use serde_json::{Value, json};

fn example_yaml() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/basic-rollout.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn example() -> Rollout {
    serde_saphyr::from_str(&example_yaml()).unwrap()
}

#[test]
fn example_deserialises_and_validates() {
    let rollout = example();
    assert_eq!(rollout.metadata.name.as_deref(), Some("my-app"));
    assert_eq!(validate(&rollout), Ok(()));
}

#[test]
fn example_round_trips_without_losing_or_adding_fields() {
    let generic: Value = serde_saphyr::from_str(&example_yaml()).unwrap();
    let round_trip = serde_json::to_value(example()).unwrap();
    assert_eq!(round_trip, generic);
}

#[test]
fn example_passes_the_crd_cel_rules() {
    let crd = serde_json::to_value(kulta_api::crd::rollout_crd()).unwrap();
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let object = serde_json::to_value(example()).unwrap();
    assert_eq!(Validator::new().validate(schema, &object, None), Ok(()));
}

#[test]
fn example_steps_normalise() {
    let rollout = example();
    let canary = rollout.spec.strategy.canary.as_ref().unwrap();
    let actions: Vec<Vec<StepAction>> = canary
        .steps
        .iter()
        .map(|step| step.actions().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            vec![
                StepAction::SetWeight(20),
                StepAction::Pause(Some(Duration::from_secs(300)))
            ],
            vec![StepAction::SetWeight(50), StepAction::Pause(None)],
            vec![StepAction::SetWeight(100)],
        ]
    );
    let routing = canary.traffic_routing.as_ref().unwrap();
    assert_eq!(routing.router_key(), Some(GATEWAY_API_ROUTER_KEY));
    assert_eq!(
        routing.router_config(),
        Some(json!({"httpRoute": "my-app-route"}))
    );
    assert_eq!(rollout.spec.desired_replicas(), 3);
}
