//! Table tests of user actions in every state, setCanaryScale, and missing Services.

use kulta_api::steps::{CanaryScale, pause_indefinitely, set_canary_scale, set_weight};

use super::*;

/// A rollout that pre-scales the canary before moving traffic: scale to 2 pods, 25%, pause,
/// back to matching the weight, 50%.
fn scaled_rollout() -> Rollout {
    RolloutBuilder::new("app")
        .replicas(4)
        .steps([
            set_canary_scale(CanaryScale::Replicas(2)),
            set_weight(25),
            pause_indefinitely(),
            set_canary_scale(CanaryScale::MatchTrafficWeight),
            set_weight(50),
        ])
        .generation(1)
        .uid("uid-s")
        .build()
}

#[test]
fn set_canary_scale_sizes_the_canary_apart_from_its_weight() {
    let mut world = deployed(scaled_rollout());
    world.set_image("nginx:2");
    let canary = world.hash();
    let name = format!("app-{canary}");

    // Step 1: two pods, no traffic, and the step waits for them.
    let plan = world.step();
    assert_eq!(
        plan.replica_sets,
        vec![ReplicaSetChange::Create {
            hash: canary.clone(),
            replicas: 2,
            revision: 2
        }]
    );
    assert_eq!(
        plan.state,
        RolloutState::AwaitingCanary {
            step: 0,
            needed: 2,
            available: 0
        }
    );
    assert_eq!(plan.route_weight, None);
    world.make_available();

    // Step 2: 25% of 4 needs one pod, but the explicit scale keeps two.
    let plan = world.step();
    assert_eq!(plan.route_weight, Some(25));
    assert!(plan.replica_sets.is_empty(), "{:?}", plan.replica_sets);
    world.accept_route();
    let plan = world.step();
    assert_eq!(
        plan.state,
        RolloutState::Paused {
            step: 2,
            until: None
        }
    );

    // Step 4 goes back to sizing from the weight; step 5 (50% of 4) needs two: unchanged.
    world.annotate(labels::PROMOTE_ANNOTATION, "true");
    let plan = world.step();
    assert_eq!(plan.route_weight, Some(50));
    assert_eq!(world.replicas_of(&canary), 2);
    world.accept_route();
    world.step();
    let settled = world.settle();
    assert_eq!(settled.state, RolloutState::Healthy);
    assert_eq!(
        world.replicas_of(&canary),
        4,
        "{name} promoted to full size"
    );
}

#[test]
fn set_canary_scale_never_shrinks_the_canary_below_the_traffic_it_gets() {
    let rollout = RolloutBuilder::new("app")
        .replicas(4)
        .steps([
            set_weight(50),
            set_canary_scale(CanaryScale::Replicas(1)),
            pause_indefinitely(),
        ])
        .generation(1)
        .uid("uid-t")
        .build();
    let mut world = deployed(rollout);
    world.set_image("nginx:2");
    let canary = world.hash();
    world.run(4);
    assert!(
        matches!(world.plan().state, RolloutState::Paused { step: 2, .. }),
        "{:?}",
        world.plan().state
    );
    assert_eq!(
        world.replicas_of(&canary),
        2,
        "50% of 4 is routed: 2 pods stay"
    );
}

#[test]
fn promote_outside_a_pause_skips_the_step_it_is_waiting_on() {
    let mut world = deployed(readme_rollout());
    world.set_image("nginx:1.26");
    world.step(); // waiting for the canary pods of step 1
    world.annotate(labels::PROMOTE_ANNOTATION, "true");
    let plan = world.step();
    assert_eq!(plan.status.current_step_index, Some(1));
    assert!(
        plan.events
            .iter()
            .any(|e| e.reason == "Promoted" && e.note.contains("skipped"))
    );
    assert_eq!(
        plan.status.last_action.as_ref().map(|a| a.value.as_str()),
        Some("true")
    );
    assert_eq!(plan.consume.len(), 1);
}

#[test]
fn actions_that_do_not_apply_are_consumed_and_explained() {
    // (state, annotation, value, why)
    let cases: [(&str, &str, &str, &str); 4] = [
        (
            "healthy",
            labels::PROMOTE_ANNOTATION,
            "true",
            "no canary is in progress",
        ),
        (
            "healthy",
            labels::ABORT_ANNOTATION,
            "true",
            "no canary is in progress",
        ),
        (
            "canary",
            labels::RETRY_ANNOTATION,
            "true",
            "the canary is not aborted",
        ),
        (
            "aborted",
            labels::PROMOTE_ANNOTATION,
            "full",
            "the canary is aborted; retry it first",
        ),
    ];
    for (state, key, value, why) in cases {
        let mut world = deployed(readme_rollout());
        if state != "healthy" {
            world.set_image("nginx:1.26");
            world.step();
        }
        if state == "aborted" {
            world.annotate(labels::ABORT_ANNOTATION, "true");
            world.step();
        }
        let before = world.status().current_step_index;
        world.annotate(key, value);
        let plan = world.step();
        assert_eq!(
            plan.consume,
            vec![ConsumedAnnotation {
                key: key.into(),
                value: value.into()
            }],
            "{state} {key}"
        );
        let event = plan
            .events
            .iter()
            .find(|e| e.reason == "ActionIgnored")
            .unwrap_or_else(|| panic!("{state} {key}: {:?}", plan.events));
        assert!(
            event.warning && event.note.contains(why),
            "{state} {key}: {}",
            event.note
        );
        assert_eq!(
            plan.status.current_step_index, before,
            "{state} {key}: nothing moved"
        );
        assert_eq!(
            plan.status
                .last_action
                .as_ref()
                .map(|a| a.annotation.as_str()),
            Some(key)
        );
    }
}

#[test]
fn abort_wins_over_a_promotion_given_at_the_same_time() {
    let mut world = deployed(readme_rollout());
    at_fifty(&mut world);
    world.annotate(labels::PROMOTE_ANNOTATION, "full");
    world.annotate(labels::ABORT_ANNOTATION, "true");
    let plan = world.step();
    assert_eq!(plan.state, RolloutState::Aborted);
    assert_eq!(plan.route_weight, Some(0));
    assert_eq!(plan.consume.len(), 2, "both consumed");
    assert!(
        plan.events
            .iter()
            .any(|e| e.reason == "ActionIgnored" && e.note.contains("retry it first"))
    );
}

#[test]
fn a_missing_service_blocks_readiness_and_says_which() {
    let rollout = readme_rollout();
    let mut observed = World::new(rollout.clone()).observed();
    observed.stable_service = ServiceObservation::Missing;
    let plan = plan(&rollout, &observed, t0());
    assert!(
        plan.services
            .iter()
            .all(|pin| pin.service != "my-app-stable"),
        "nothing to pin"
    );
    let message = plan.status.message.clone().unwrap_or_default();
    assert!(
        message.contains("Service my-app-stable not found"),
        "{message}"
    );
    let ready = plan
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == condition_types::READY)
        .expect("Ready");
    assert_eq!(ready.status, "False");
}

#[test]
fn a_router_that_cannot_verify_lets_steps_proceed_and_says_so() {
    let mut world = deployed(readme_rollout());
    world.set_image("nginx:1.26");
    world.step();
    world.make_available();
    world.step(); // asks for 20
    let mut observed = world.observed();
    observed.route = RouteObservation::Unsupported(20);
    let plan = plan(&world.rollout, &observed, world.now);
    assert!(
        matches!(plan.state, RolloutState::Paused { step: 0, .. }),
        "{:?}",
        plan.state
    );
    let routed = plan
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == condition_types::TRAFFIC_ROUTED)
        .expect("TrafficRouted");
    assert_eq!(
        (routed.status.as_str(), routed.reason.as_str()),
        ("True", "VerificationUnsupported")
    );
}

#[test]
fn a_router_error_holds_the_step_and_is_reported() {
    let mut world = deployed(readme_rollout());
    world.set_image("nginx:1.26");
    world.step();
    world.make_available();
    world.step(); // asks for 20
    let mut observed = world.observed();
    observed.route = RouteObservation::Failed {
        weight: 20,
        category: "not_found",
        reason: "HTTPRoute default/my-app-route not found".into(),
    };
    let plan = plan(&world.rollout, &observed, world.now);
    assert_eq!(
        plan.state,
        RolloutState::ShiftingTraffic {
            step: 0,
            weight: 20
        }
    );
    assert_eq!(plan.status.current_step_index, Some(0));
    assert!(
        plan.status
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("not found")
    );
}

#[test]
fn a_requested_weight_keeps_its_pods_before_it_is_verified() {
    // Found by the property test: the data plane may serve a requested weight before the router
    // verifies it, so the canary must keep the pods that weight needs, whatever step comes next.
    let rollout = RolloutBuilder::new("app")
        .replicas(4)
        .steps([
            set_weight(25),
            kulta_api::steps::pause(Some("2m")),
            set_weight(60),
            set_weight(100),
        ])
        .generation(1)
        .uid("uid-r")
        .build();
    let mut world = deployed(rollout);
    world.set_image("nginx:2");
    let canary = world.hash();
    world.annotate(labels::PROMOTE_ANNOTATION, "true");
    world.step(); // step 1 skipped, pause started
    world.advance(120);
    world.step(); // setWeight 60 waits for 3 pods
    world.make_available();
    assert_eq!(world.step().route_weight, Some(60)); // requested, not verified
    // Abort and retry at once: back to step 1 (25%, one pod) while 60% may be live.
    world.annotate(labels::ABORT_ANNOTATION, "true");
    world.annotate(labels::RETRY_ANNOTATION, "true");
    let plan = world.step();
    assert_eq!(plan.status.current_step_index, Some(0));
    assert!(
        !plan
            .replica_sets
            .iter()
            .any(|c| matches!(c, ReplicaSetChange::Scale { replicas, .. } if *replicas < 3)),
        "canary {canary} scaled below what 60% needs: {:?}",
        plan.replica_sets
    );
}

#[test]
fn an_abort_while_a_canary_is_replaced_holds_the_new_revision() {
    let mut world = deployed(readme_rollout());
    world.set_image("nginx:1.26");
    world.run(6);
    assert_eq!(world.status().canary_weight, Some(20));
    let first_canary = world.status().canary_revision.clone();
    // A newer template: traffic goes back to stable first, and the gateway takes its time.
    world.set_image("nginx:1.27");
    let plan = world.step();
    assert!(matches!(plan.state, RolloutState::RoutingToStable { .. }));
    world.annotate(labels::ABORT_ANNOTATION, "true");
    let plan = world.step();
    assert!(matches!(plan.state, RolloutState::RoutingToStable { .. }));
    assert!(
        plan.events.iter().any(|e| e.reason == "Aborted"),
        "honoured, not ignored: {:?}",
        plan.events
    );
    assert_eq!(
        world.status().canary_revision,
        first_canary,
        "still routing"
    );
    // Traffic on stable: the new revision does not start.
    world.accept_route();
    let plan = world.step();
    assert_eq!(plan.state, RolloutState::Aborted);
    assert_eq!(world.status().aborted, Some(true));
    assert_eq!(world.status().canary_revision, Some(world.hash()));
    assert!(
        !plan.replica_sets.iter().any(
            |change| matches!(change, ReplicaSetChange::Create { hash, .. } if *hash == world.hash())
        ),
        "no ReplicaSet of the held revision"
    );
    assert_eq!(world.plan().route_weight, None);
    // Retry starts it.
    world.annotate(labels::RETRY_ANNOTATION, "true");
    world.step();
    assert_eq!(world.status().aborted, None);
    world.make_available();
    world.step();
    assert!(world.status().desired_canary_weight.unwrap_or(0) > 0);
}

#[test]
fn a_weight_being_taken_up_shows_the_routers_reason_only_once_it_has_waited() {
    let mut world = deployed(readme_rollout());
    world.set_image("nginx:1.26");
    world.step();
    world.make_available();
    assert_eq!(world.step().route_weight, Some(20));
    // Asked again while the gateway takes it up: TrafficRouted stays as it was, so the status
    // needs no write for it.
    let asked = world.status().conditions.clone();
    assert_eq!(world.step().route_weight, Some(20));
    assert_eq!(
        world.condition(condition_types::TRAFFIC_ROUTED).1,
        "WeightRequested"
    );
    assert_eq!(world.status().conditions, asked);
    // Still pending later: the router's reason is what to act on.
    world.advance(6);
    world.step();
    assert_eq!(
        world.condition(condition_types::TRAFFIC_ROUTED),
        ("False".to_string(), "VerificationPending".to_string())
    );
    let routed = world
        .status()
        .conditions
        .iter()
        .find(|c| c.type_ == condition_types::TRAFFIC_ROUTED)
        .map(|c| c.message.clone());
    assert_eq!(
        routed.as_deref(),
        Some("canary weight 20: parent has not accepted the route")
    );
}
