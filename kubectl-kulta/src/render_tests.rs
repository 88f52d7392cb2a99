//! Snapshot-like tests of the `get` view: fixed objects and a fixed `now`, the whole text
//! compared, so any change to the view is a visible diff.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use kulta_api::steps::{pause, pause_indefinitely, set_weight, set_weight_then_pause};
use kulta_api::testing::RolloutBuilder;
use kulta_api::{ActionRecord, Phase, Rollout, RolloutStatus};

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
        .single()
        .unwrap()
}

fn k8s_time(at: DateTime<Utc>) -> Time {
    Time(at.to_rfc3339().parse().unwrap())
}

fn condition(type_: &str, status: &str, reason: &str, message: &str, ago: i64) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: k8s_time(now() - Duration::seconds(ago)),
        observed_generation: Some(2),
    }
}

fn replica_set(hash: &str, revision: i64, desired: i32, ready: i32, image: &str) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("checkout-{hash}")),
            namespace: Some("shop".into()),
            labels: Some(BTreeMap::from([
                ("pod-template-hash".to_string(), hash.to_string()),
                ("kulta.io/rollout".to_string(), "checkout".to_string()),
            ])),
            annotations: Some(BTreeMap::from([(
                "kulta.io/revision".to_string(),
                revision.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(desired),
            template: Some(PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "app".into(),
                        image: Some(image.into()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            }),
            ..ReplicaSetSpec::default()
        }),
        status: Some(ReplicaSetStatus {
            replicas: desired,
            ready_replicas: Some(ready),
            ..ReplicaSetStatus::default()
        }),
    }
}

fn event(ago: i64, type_: &str, reason: &str, message: &str) -> EventLine {
    EventLine {
        time: Some(now() - Duration::seconds(ago)),
        type_: type_.into(),
        reason: reason.into(),
        message: message.into(),
        count: 1,
    }
}

/// A canary paused 48 s into a 5 m pause at step 2 of 4, 20% verified.
fn paused_rollout() -> Rollout {
    RolloutBuilder::new("checkout")
        .namespace("shop")
        .replicas(4)
        .generation(2)
        .steps([
            set_weight(20),
            pause(Some("5m")),
            set_weight(50),
            pause_indefinitely(),
        ])
        .status(RolloutStatus {
            observed_generation: Some(2),
            phase: Some(Phase::Paused),
            message: Some("step 2 of 4: paused until 2026-11-26T10:04:12Z".into()),
            current_step_index: Some(1),
            stable_revision: Some("5d8f9c".into()),
            canary_revision: Some("7b6c4d".into()),
            canary_weight: Some(20),
            desired_canary_weight: Some(20),
            pause_start_time: Some(now() - Duration::seconds(48)),
            replicas: 5,
            ready_replicas: 5,
            available_replicas: 5,
            updated_replicas: 1,
            last_action: Some(ActionRecord {
                annotation: "kulta.io/promote".into(),
                value: "true".into(),
                time: now() - Duration::seconds(300),
                step_index: Some(0),
            }),
            conditions: vec![
                condition(
                    "Ready",
                    "False",
                    "RolloutInProgress",
                    "step 2 of 4: paused",
                    120,
                ),
                condition(
                    "Progressing",
                    "True",
                    "RolloutProgressing",
                    "step 2 of 4: paused",
                    120,
                ),
                condition("Paused", "True", "Timed", "step 2 of 4: paused", 48),
                condition(
                    "TrafficRouted",
                    "True",
                    "WeightVerified",
                    "canary weight 20 verified by the router",
                    60,
                ),
            ],
            ..RolloutStatus::default()
        })
        .build()
}

#[test]
fn paused_canary_view() {
    let replica_sets = vec![
        replica_set("1a2b3c", 1, 0, 0, "nginx:1.25"),
        replica_set("7b6c4d", 3, 1, 1, "nginx:1.27"),
        replica_set("5d8f9c", 2, 4, 4, "nginx:1.26"),
    ];
    let events = vec![
        event(
            900,
            "Normal",
            "RolloutCompleted",
            "revision 5d8f9c is stable",
        ),
        event(
            130,
            "Normal",
            "CanaryCreated",
            "created ReplicaSet checkout-7b6c4d",
        ),
        event(100, "Normal", "WeightSet", "canary weight 20 requested"),
        event(
            60,
            "Normal",
            "StepCompleted",
            "step 1 of 4 completed: setWeight 20",
        ),
        event(48, "Normal", "Paused", "paused for 5m"),
        EventLine {
            count: 3,
            ..event(
                10,
                "Warning",
                "ActionIgnored",
                "kulta.io/retry=true ignored: not aborted",
            )
        },
    ];
    let view = render_rollout(&paused_rollout(), &replica_sets, &events, now());
    let expected = "\
Name:        checkout
Namespace:   shop
Strategy:    canary, router gatewayAPI (HTTPRoute checkout-route)
Services:    stable checkout-stable, canary checkout-canary
Phase:       Paused
Message:     step 2 of 4: paused until 2026-11-26T10:04:12Z
Generation:  2 (observed)
Step:        2 of 4: pause 5m
Pause:       4m12s remaining (until 2026-11-26T10:04:12Z)
Weights:     stable 80%, canary 20% (verified)
Replicas:    4 desired, 5 current, 5 ready, 5 available, 1 updated
Last action: kulta.io/promote=true at step 1, 5m ago

Revisions:
  ROLE     REVISION   HASH     REPLICASET        READY   IMAGES
  stable   2          5d8f9c   checkout-5d8f9c   4/4     nginx:1.26
  canary   3          7b6c4d   checkout-7b6c4d   1/1     nginx:1.27
  old      1          1a2b3c   checkout-1a2b3c   0/0     nginx:1.25

Steps:
  ok  1. setWeight 20
  ->  2. pause 5m
      3. setWeight 50
      4. pause until promoted

Conditions:
  TYPE            STATUS   REASON               AGE   MESSAGE
  Ready           False    RolloutInProgress    2m    step 2 of 4: paused
  Progressing     True     RolloutProgressing   2m    step 2 of 4: paused
  Paused          True     Timed                48s   step 2 of 4: paused
  TrafficRouted   True     WeightVerified       60s   canary weight 20 verified by the router

Events:
  AGE     TYPE      REASON          MESSAGE
  2m10s   Normal    CanaryCreated   created ReplicaSet checkout-7b6c4d
  100s    Normal    WeightSet       canary weight 20 requested
  60s     Normal    StepCompleted   step 1 of 4 completed: setWeight 20
  48s     Normal    Paused          paused for 5m
  10s     Warning   ActionIgnored   kulta.io/retry=true ignored: not aborted (x3)
";
    assert_eq!(view, expected, "\n--- got ---\n{view}");
}

#[test]
fn fresh_rollout_view_before_the_controller() {
    let rollout = RolloutBuilder::new("api").build();
    let view = render_rollout(&rollout, &[], &[], now());
    let expected = "\
Name:        api
Namespace:   default
Strategy:    canary, router gatewayAPI (HTTPRoute api-route)
Services:    stable api-stable, canary api-canary
Phase:       (not yet reconciled)
Generation:  0 (not yet observed by the controller)
Step:        no steps (a new revision is promoted at once)
Weights:     stable 100%, canary 0%
Replicas:    1 desired, 0 current, 0 ready, 0 available, 0 updated

Revisions:
  (no ReplicaSets yet)

Conditions:
  (none)

Events:
  (none)
";
    assert_eq!(view, expected, "\n--- got ---\n{view}");
}

#[test]
fn pause_until_promoted_and_pending_weight() {
    let rollout = RolloutBuilder::new("app")
        .steps([set_weight_then_pause(30, None), set_weight(60)])
        .status(RolloutStatus {
            phase: Some(Phase::Paused),
            current_step_index: Some(0),
            canary_weight: Some(10),
            desired_canary_weight: Some(30),
            pause_start_time: Some(now()),
            ..RolloutStatus::default()
        })
        .build();
    assert_eq!(
        pause_text(&rollout, now()).as_deref(),
        Some("until promoted (kubectl kulta promote app)")
    );
    assert_eq!(
        step_text(&rollout),
        "1 of 2: setWeight 30, then pause until promoted"
    );
    assert_eq!(
        weights_text(rollout.status.as_ref().unwrap()),
        "stable 90%, canary 10% (desired canary 30%: waiting for the router to verify)"
    );
}

#[test]
fn expired_pause_and_completed_steps() {
    let mut rollout = paused_rollout();
    let status = rollout.status.as_mut().unwrap();
    status.pause_start_time = Some(now() - Duration::seconds(301));
    assert_eq!(
        pause_text(&rollout, now()).as_deref(),
        Some("expired at 2026-11-26T09:59:59Z; the controller moves on")
    );
    let status = rollout.status.as_mut().unwrap();
    status.current_step_index = Some(4);
    status.phase = Some(Phase::Healthy);
    status.pause_start_time = None;
    assert_eq!(step_text(&rollout), "all 4 steps completed");
    assert_eq!(pause_text(&rollout, now()), None);
}

#[test]
fn revisions_named_in_status_without_replica_sets_are_shown() {
    let view = render_rollout(&paused_rollout(), &[], &[], now());
    assert!(
        view.contains("  stable   -          5d8f9c   (no ReplicaSet)   0/0\n"),
        "{view}"
    );
    assert!(
        view.contains("  canary   -          7b6c4d   (no ReplicaSet)   0/0\n"),
        "{view}"
    );
}

/// A status is anyone's to write: values at the ends of their types render, and nothing panics.
#[test]
fn status_values_at_the_ends_of_their_types_render() {
    let mut rollout = paused_rollout();
    let status = rollout.status.as_mut().unwrap();
    status.canary_weight = Some(i32::MIN);
    status.desired_canary_weight = Some(i32::MIN);
    status.pause_start_time = Some(DateTime::<Utc>::MAX_UTC);
    status.last_action.as_mut().unwrap().step_index = Some(i32::MAX);
    assert_eq!(
        weights_text(rollout.status.as_ref().unwrap()),
        "stable 2147483647%, canary -2147483648% (verified)"
    );
    let pause = pause_text(&rollout, now()).unwrap();
    assert!(
        pause.ends_with("remaining (until +262142-12-31T23:59:59Z)"),
        "{pause}"
    );
    let view = render_rollout(&rollout, &[], &[], now());
    assert!(
        view.contains("kulta.io/promote=true at step 2147483647, 5m ago"),
        "{view}"
    );
}
