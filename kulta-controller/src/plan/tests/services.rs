//! The canary Service must be able to serve the canary before a canary starts or gets traffic.
use super::*;

fn canary_started(world: &World) -> bool {
    world.status().canary_revision.is_some()
}

#[test]
fn a_missing_canary_service_holds_the_new_revision_before_anything_is_created() {
    let mut world = deployed(readme_rollout());
    world.canary_service_missing = true;
    world.set_image("nginx:1.26");
    let plan = world.step();
    assert!(
        matches!(&plan.state, RolloutState::AwaitingService { step: None, problem } if problem.contains("canary Service my-app-canary not found")),
        "{:?}",
        plan.state
    );
    assert!(plan.replica_sets.is_empty(), "no canary ReplicaSet");
    assert_eq!(plan.route_weight, None);
    assert!(plan.services.is_empty());
    assert!(!canary_started(&world));
    assert!(
        plan.events
            .iter()
            .any(|e| e.reason == "CanaryServiceNotReady" && e.warning)
    );
    // Once, not on every reconcile.
    assert!(
        world
            .step()
            .events
            .iter()
            .all(|e| e.reason != "CanaryServiceNotReady")
    );
    world.canary_service_missing = false;
    world.step();
    assert!(
        canary_started(&world),
        "the canary starts once the Service exists"
    );
    world.annotate(labels::PROMOTE_ANNOTATION, "full");
    world.settle();
    assert_eq!(world.status().stable_revision, Some(world.hash()));
}

#[test]
fn a_canary_service_selecting_labels_the_template_lacks_gets_no_traffic() {
    let mut world = deployed(readme_rollout());
    world
        .canary_selector
        .insert("tier".to_string(), "web".to_string());
    world.set_image("nginx:1.26");
    let plan = world.step();
    match &plan.state {
        RolloutState::AwaitingService { problem, .. } => {
            assert!(problem.contains("selects tier=web"), "{problem}");
        }
        other => panic!("expected AwaitingService, got {other:?}"),
    }
    assert!(plan.replica_sets.is_empty());
    assert!(
        plan.status
            .message
            .as_deref()
            .is_some_and(|m| m.contains("tier=web"))
    );
}

#[test]
fn a_canary_service_deleted_mid_canary_stops_the_weight_from_rising() {
    let mut world = deployed(readme_rollout());
    world.set_image("nginx:1.26");
    // Up to the first pause at 20%.
    world.run(10);
    assert_eq!(world.status().canary_weight, Some(20));
    world.canary_service_missing = true;
    world.annotate(labels::PROMOTE_ANNOTATION, "true");
    for _ in 0..5 {
        let plan = world.step();
        assert!(
            plan.route_weight.is_none_or(|w| w <= 20),
            "weight {:?} asked with no canary Service",
            plan.route_weight
        );
        world.make_available();
        world.accept_route();
    }
    assert!(matches!(
        world.plan().state,
        RolloutState::AwaitingService { step: Some(1), .. }
    ));
    world.canary_service_missing = false;
    world.settle();
    assert_eq!(world.status().canary_weight, Some(50));
}

#[test]
fn with_its_status_lost_the_stable_revision_is_the_one_the_stable_service_selects() {
    let mut world = deployed(readme_rollout());
    let old = world.hash();
    world.set_image("nginx:1.26");
    world.run(6);
    assert_eq!(world.status().canary_weight, Some(20));
    let new = world.hash();
    world.rollout.status = None;
    let plan = world.step();
    assert_eq!(plan.status.stable_revision.as_deref(), Some(old.as_str()));
    assert_eq!(plan.status.canary_revision.as_deref(), Some(new.as_str()));
    assert!(
        plan.events
            .iter()
            .any(|e| e.reason == "StableRevisionInferred")
    );
    assert!(
        !plan
            .replica_sets
            .iter()
            .any(|c| matches!(c, ReplicaSetChange::Scale { name, replicas } if name.ends_with(&old) && *replicas < 3)),
        "the serving revision keeps its pods: {:?}",
        plan.replica_sets
    );
    assert!(
        plan.services
            .iter()
            .all(|pin| pin.service != "my-app-stable" || pin.hash == old)
    );
}

#[test]
fn a_first_deploy_pins_no_service_before_its_pods_are_available() {
    let mut world = World::new(readme_rollout());
    // A migration: the Services select the pods of a Deployment, by label only.
    world.stable_service = None;
    world.canary_service = None;
    let plan = world.step();
    assert!(plan.services.is_empty());
    for rs in &mut world.replica_sets {
        rs.available = rs.replicas - 1;
    }
    assert!(world.step().services.is_empty(), "2 of 3 pods available");
    world.make_available();
    assert_eq!(world.step().services.len(), 2);
}
