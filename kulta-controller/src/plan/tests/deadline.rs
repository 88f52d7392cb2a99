//! The progress deadline covers every wait: deploying, routing back to stable, and the
//! promotion's wait for the route, as it covers the canary's.
use super::*;

fn with_deadline(steps: Vec<kulta_api::CanaryStep>) -> Rollout {
    RolloutBuilder::new("app")
        .replicas(2)
        .steps(steps)
        .progress_deadline_seconds(60)
        .generation(1)
        .uid("uid-d")
        .build()
}

fn exceeded(world: &World) -> bool {
    world.status().phase == Some(Phase::Degraded)
        && world.condition(condition_types::PROGRESSING)
            == ("False".into(), "ProgressDeadlineExceeded".into())
}

#[test]
fn a_first_deploy_whose_pods_never_come_up_is_reported_at_the_deadline() {
    let mut world = World::new(with_deadline(vec![set_weight(50)]));
    let plan = world.step();
    assert_eq!(plan.state, RolloutState::Deploying);
    assert!(
        plan.requeue_after
            .is_some_and(|r| r <= Duration::from_secs(61)),
        "woken at the deadline"
    );
    world.advance(30);
    world.step();
    assert!(!exceeded(&world));
    world.advance(31);
    let plan = world.step();
    assert!(exceeded(&world), "{:?}", world.status());
    assert!(
        plan.events
            .iter()
            .any(|e| e.reason == "ProgressDeadlineExceeded")
    );
    // Up at last: healthy, and the deadline is behind it.
    world.make_available();
    world.accept_route();
    world.settle();
    assert_eq!(world.status().phase, Some(Phase::Healthy));
    assert_eq!(world.status().progress_start_time, None);
}

#[test]
fn routing_back_to_stable_that_never_verifies_is_reported_at_the_deadline() {
    let mut world = deployed(with_deadline(vec![set_weight(50), pause(None)]));
    world.set_image("nginx:2");
    world.run(4);
    assert_eq!(world.status().canary_weight, Some(50));
    // A newer template: traffic must go back to stable first, and the gateway never confirms.
    world.set_image("nginx:3");
    let plan = world.step();
    assert!(matches!(plan.state, RolloutState::RoutingToStable { .. }));
    world.advance(61);
    world.step();
    assert!(exceeded(&world), "{:?}", world.status());
}

#[test]
fn a_promotion_whose_route_never_verifies_is_reported_at_the_deadline() {
    let mut world = deployed(with_deadline(vec![set_weight(50)]));
    world.set_image("nginx:2");
    let mut state = None;
    for _ in 0..10 {
        let plan = world.step();
        world.make_available();
        state = Some(plan.state.clone());
        if plan.state == RolloutState::Promoting {
            break;
        }
        world.accept_route();
    }
    assert_eq!(state, Some(RolloutState::Promoting));
    world.advance(61);
    world.step();
    assert!(exceeded(&world), "{:?}", world.status());
}

#[test]
fn times_a_person_wrote_near_the_end_of_time_do_not_panic() {
    let mut world = deployed(with_deadline(vec![set_weight(50), pause(Some("1h"))]));
    world.set_image("nginx:2");
    world.run(4);
    let mut status = world.status();
    let end = chrono::DateTime::<chrono::Utc>::MAX_UTC - chrono::Duration::seconds(1);
    status.pause_start_time = Some(end);
    status.progress_start_time = Some(end);
    world.rollout.status = Some(status);
    // Adding the pause or the deadline to these overflows: the plan must not panic.
    let plan = world.step();
    assert!(matches!(
        plan.state,
        RolloutState::Paused { .. } | RolloutState::ShiftingTraffic { .. }
    ));
}
