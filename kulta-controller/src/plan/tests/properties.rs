//! Property test: random worlds, invariants on every plan.
use super::*;
use proptest::prelude::*;
use proptest::strategy::Strategy;

#[derive(Clone, Debug)]
enum Event {
    Reconcile,
    PodsUp(u8),
    GatewayAccepts,
    Promote,
    PromoteFull,
    Abort,
    Retry,
    NewImage(u8),
    Wait(u16),
    /// A reconcile whose status write fails: nothing recorded, no annotation removed (the
    /// effects of a plan that does not raise the weight are applied before the write).
    StatusWriteFails,
    /// A reconcile that stops (crash, lost leadership, a failed call) right after its status
    /// is stored.
    StopsAfterStatus,
    /// A reconcile that stops before it removes the annotations it consumed.
    StopsBeforeRemoval,
    /// A person sets an action (0 promote, 1 abort, 2 retry) after the reconcile read the
    /// Rollout and before its status write, which therefore conflicts: the controller reads
    /// again and plans again with its own status.
    ActionDuringWrite(u8),
    /// The canary Service is deleted (`true`) or created again (`false`).
    CanaryServiceMissing(bool),
    /// Someone points the canary Service's selector elsewhere (`true`), or restores it.
    CanaryServiceRepointed(bool),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => Just(Event::Reconcile),
        3 => (1u8..4).prop_map(Event::PodsUp),
        3 => Just(Event::GatewayAccepts),
        1 => Just(Event::Promote),
        1 => Just(Event::PromoteFull),
        1 => Just(Event::Abort),
        1 => Just(Event::Retry),
        1 => (0u8..3).prop_map(Event::NewImage),
        2 => (1u16..400).prop_map(Event::Wait),
        1 => Just(Event::StatusWriteFails),
        1 => Just(Event::StopsAfterStatus),
        1 => Just(Event::StopsBeforeRemoval),
        1 => (0u8..3).prop_map(Event::ActionDuringWrite),
        1 => any::<bool>().prop_map(Event::CanaryServiceMissing),
        1 => any::<bool>().prop_map(Event::CanaryServiceRepointed),
    ]
}

fn needed(replicas: i32, weight: u8) -> i32 {
    (replicas * i32::from(weight) + 99) / 100
}

/// A person sets `key=value` unless the key is already there; counts the actions set.
fn user_sets(world: &mut World, key: &str, value: &str, set: &mut usize) {
    let present = world
        .rollout
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(key));
    if !present {
        world.annotate(key, value);
        *set += 1;
    }
}

/// The actions a plan of `rollout` takes up (carries out or refuses), counted when the status
/// of that plan is stored.
fn taken_up(rollout: &Rollout, count: &mut usize) {
    let (actions, _, ignored) = read_actions(rollout);
    *count += actions.len() + ignored.len();
}

/// The plan `plan`, about to be carried out in `world`, sends no traffic to pods that lack it
/// and takes no pod away from traffic.
fn traffic_safe(world: &World, plan: &Plan) -> Result<(), TestCaseError> {
    for pin in &plan.services {
        let (selected, record) = if pin.service == "app-canary" {
            (&world.canary_service, &world.canary_record)
        } else {
            (&world.stable_service, &world.stable_record)
        };
        prop_assert!(
            record.pinned.is_none() || record.pinned == *selected,
            "{} pinned back over someone else's selector",
            pin.service
        );
    }
    let weight_now = if world.route_accepted {
        world.route_weight.unwrap_or(0)
    } else {
        world
            .route_weight
            .unwrap_or(0)
            .max(world.status().canary_weight.unwrap_or(0) as u8)
    };
    let canary_pods = |world: &World, hash: &Option<String>| {
        hash.as_ref().map_or(0, |h| {
            world
                .replica_sets
                .iter()
                .find(|rs| &rs.hash == h)
                .map_or(0, |rs| rs.available)
        })
    };
    // Which revision the canary Service selects once pins are applied.
    let canary_selects = plan
        .services
        .iter()
        .find(|p| p.service == "app-canary")
        .map(|p| p.hash.clone())
        .or(world.canary_service.clone());
    if let Some(w) = plan.route_weight
        && w > weight_now
    {
        prop_assert!(
            !world.canary_service_missing,
            "weight {} requested with no canary Service",
            w
        );
        prop_assert!(
            world.canary_record.pinned.is_none()
                || world.canary_record.pinned == world.canary_service,
            "weight {} requested while someone else points the canary Service elsewhere",
            w
        );
        prop_assert!(
            canary_pods(world, &canary_selects) >= needed(4, w),
            "weight {} requested with {} available canary pods",
            w,
            canary_pods(world, &canary_selects)
        );
    }
    for change in &plan.replica_sets {
        if let ReplicaSetChange::Scale { name, replicas } = change {
            let rs = world
                .replica_sets
                .iter()
                .find(|rs| &rs.name == name)
                .expect("rs");
            if *replicas < rs.replicas && Some(&rs.hash) == canary_selects.as_ref() {
                let routed = world.route_weight.unwrap_or(0);
                prop_assert!(
                    *replicas >= needed(4, routed) || (routed == 0 && world.route_accepted),
                    "canary scaled to {} while the route sends it {}%",
                    replicas,
                    routed
                );
            }
            let stable_selects = plan
                .services
                .iter()
                .find(|p| p.service == "app-stable")
                .map(|p| p.hash.clone())
                .or(world.stable_service.clone());
            if *replicas < rs.replicas && Some(&rs.hash) == stable_selects.as_ref() {
                prop_assert!(
                    false,
                    "stable Service's revision {} scaled down to {}",
                    rs.hash,
                    replicas
                );
            }
        }
    }

    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The canary weight never rises while the canary lacks the pods it needs, and no pod
    /// serving routed traffic is taken away: aborts, replacements and rollbacks route to
    /// stable (verified) before any scale-down.
    ///
    /// Every action a person sets is carried out (or refused) exactly once, whatever fails
    /// between the status write and the annotation's removal, and whenever it arrives.
    #[test]
    fn traffic_only_reaches_available_pods(events in proptest::collection::vec(event(), 1..120)) {
        let mut set = 0usize;
        let mut taken = 0usize;
        let rollout = RolloutBuilder::new("app")
            .replicas(4)
            .steps([set_weight(25), pause(Some("2m")), set_weight_then_pause(60, None), set_weight(100)])
            .generation(1)
            .uid("uid-p")
            .build();
        let mut world = deployed(rollout);
        for event in events {
            match event {
                Event::Reconcile => {
                    taken_up(&world.rollout, &mut taken);
                    let plan = world.plan();
                    traffic_safe(&world, &plan)?;
                    world.apply(&plan);
                }
                Event::StatusWriteFails => {
                    let plan = world.plan();
                    traffic_safe(&world, &plan)?;
                    world.carry_out(&plan, Stop::StatusWriteFails);
                }
                Event::StopsAfterStatus => {
                    taken_up(&world.rollout, &mut taken);
                    let plan = world.plan();
                    traffic_safe(&world, &plan)?;
                    world.carry_out(&plan, Stop::AfterStatus);
                }
                Event::StopsBeforeRemoval => {
                    taken_up(&world.rollout, &mut taken);
                    let plan = world.plan();
                    traffic_safe(&world, &plan)?;
                    world.carry_out(&plan, Stop::BeforeRemoval);
                }
                Event::ActionDuringWrite(kind) => {
                    taken_up(&world.rollout, &mut taken);
                    let first = world.plan();
                    traffic_safe(&world, &first)?;
                    world.carry_out(&first, Stop::StatusWriteFails);
                    let key = [labels::PROMOTE_ANNOTATION, labels::ABORT_ANNOTATION, labels::RETRY_ANNOTATION][usize::from(kind % 3)];
                    user_sets(&mut world, key, "true", &mut set);
                    let mut view = world.rollout.clone();
                    view.status = Some(first.status.clone());
                    taken_up(&view, &mut taken);
                    let again = plan(&view, &world.observed_with(&view), world.now);
                    traffic_safe(&world, &again)?;
                    world.apply(&again);
                }
                Event::CanaryServiceMissing(missing) => world.canary_service_missing = missing,
                Event::CanaryServiceRepointed(true) => world.canary_service = Some("someone-elses".into()),
                Event::CanaryServiceRepointed(false) => world.canary_service = world.canary_record.pinned.clone(),
                Event::PodsUp(n) => {
                    for rs in &mut world.replica_sets {
                        rs.available = (rs.available + i32::from(n)).min(rs.replicas);
                        rs.ready = rs.available;
                        rs.current = rs.replicas;
                    }
                }
                Event::GatewayAccepts => world.accept_route(),
                Event::Promote => user_sets(&mut world, labels::PROMOTE_ANNOTATION, "true", &mut set),
                Event::PromoteFull => user_sets(&mut world, labels::PROMOTE_ANNOTATION, "full", &mut set),
                Event::Abort => user_sets(&mut world, labels::ABORT_ANNOTATION, "true", &mut set),
                Event::Retry => user_sets(&mut world, labels::RETRY_ANNOTATION, "true", &mut set),
                Event::NewImage(i) => world.set_image(&format!("nginx:{}", 30 + i)),
                Event::Wait(s) => world.advance(i64::from(s)),
            }
        }
        // Whatever happened, a cooperative world converges.
        world.canary_service_missing = false;
        if world.canary_record.pinned.is_some() {
            world.canary_service = world.canary_record.pinned.clone();
        }
        user_sets(&mut world, labels::PROMOTE_ANNOTATION, "full", &mut set);
        let mut last = None;
        for _ in 0..60 {
            taken_up(&world.rollout, &mut taken);
            world.step();
            world.make_available();
            world.accept_route();
            last = Some(world.plan().state);
            if world.status().aborted == Some(true) {
                user_sets(&mut world, labels::RETRY_ANNOTATION, "true", &mut set);
            } else if last == Some(RolloutState::Healthy) {
                break;
            } else if matches!(last, Some(RolloutState::Paused { .. })) {
                user_sets(&mut world, labels::PROMOTE_ANNOTATION, "full", &mut set);
            }
        }
        prop_assert_eq!(last, Some(RolloutState::Healthy));
        // Settled, every action set was taken up once: none lost, none carried out twice.
        for _ in 0..3 {
            taken_up(&world.rollout, &mut taken);
            world.step();
        }
        let left: Vec<&String> = world.rollout.metadata.annotations.iter().flatten()
            .filter(|(k, _)| [labels::PROMOTE_ANNOTATION, labels::ABORT_ANNOTATION, labels::RETRY_ANNOTATION].contains(&k.as_str()))
            .map(|(k, _)| k).collect();
        prop_assert!(left.is_empty(), "actions left unconsumed: {:?}", left);
        prop_assert_eq!(taken, set, "actions set and actions taken up");
    }
}
