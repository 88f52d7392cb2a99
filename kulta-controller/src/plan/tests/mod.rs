//! Table tests of every transition, and a property test over random worlds.

use chrono::{DateTime, TimeZone, Utc};
use kulta_api::steps::{pause, set_weight, set_weight_then_pause};
use kulta_api::testing::RolloutBuilder;
use kulta_api::{Phase, Rollout, labels};

use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .expect("valid time")
}

/// Where carrying a plan out stops (a failed call, a crash, a lost leadership).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// Carried out whole.
    Never,
    /// The status write fails.
    StatusWriteFails,
    /// Right after the status is stored.
    AfterStatus,
    /// Before the consumed annotations are removed.
    BeforeRemoval,
}

/// A small simulated cluster: ReplicaSets, Service pins and a route, changed only by applying
/// plans and by the test's own hand (pods becoming available, the gateway accepting).
struct World {
    rollout: Rollout,
    replica_sets: Vec<ObservedReplicaSet>,
    stable_service: Option<String>,
    canary_service: Option<String>,
    route_weight: Option<u8>,
    route_accepted: bool,
    /// KULTA's record on the stable Service.
    stable_record: ServiceRecord,
    /// KULTA's record on the canary Service.
    canary_record: ServiceRecord,
    /// The canary Service does not exist.
    canary_service_missing: bool,
    /// The canary Service's selector besides the pin (the template's labels by default).
    canary_selector: std::collections::BTreeMap<String, String>,
    /// Whether the router's objects are watched (their changes wake the Rollout).
    route_watched: bool,
    now: DateTime<Utc>,
    last: Option<Plan>,
}

impl World {
    fn new(rollout: Rollout) -> Self {
        let canary_selector = rollout
            .spec
            .template
            .raw()
            .pointer("/metadata/labels")
            .and_then(|labels| serde_json::from_value(labels.clone()).ok())
            .unwrap_or_default();
        World {
            rollout,
            replica_sets: Vec::new(),
            stable_service: None,
            canary_service: None,
            route_weight: None,
            route_accepted: false,
            stable_record: ServiceRecord::default(),
            canary_record: ServiceRecord::default(),
            canary_service_missing: false,
            canary_selector,
            route_watched: false,
            now: t0(),
            last: None,
        }
    }

    fn status(&self) -> RolloutStatus {
        self.rollout.status.clone().unwrap_or_default()
    }

    fn observed(&self) -> Observed {
        self.observed_with(&self.rollout)
    }

    /// What the controller observes when it plans `rollout` (the router is asked about the
    /// weight that Rollout's status asks for).
    fn observed_with(&self, rollout: &Rollout) -> Observed {
        let requested = rollout
            .status
            .clone()
            .unwrap_or_default()
            .desired_canary_weight
            .and_then(|w| u8::try_from(w).ok());
        let route = match requested {
            None => RouteObservation::NotRequested,
            Some(w) if self.route_weight == Some(w) && self.route_accepted => {
                RouteObservation::Verified(w)
            }
            Some(w) => RouteObservation::Pending {
                weight: w,
                reason: "parent has not accepted the route".into(),
            },
        };
        Observed {
            replica_sets: self.replica_sets.clone(),
            stable_service: ServiceObservation::Selects(self.stable_service.clone()),
            canary_service: if self.canary_service_missing {
                ServiceObservation::Missing
            } else {
                ServiceObservation::Selects(self.canary_service.clone())
            },
            canary_selector: if self.canary_service_missing {
                Default::default()
            } else {
                self.canary_selector.clone()
            },
            route_problem: None,
            stable_record: self.stable_record.clone(),
            canary_record: if self.canary_service_missing {
                ServiceRecord::default()
            } else {
                self.canary_record.clone()
            },
            route,
            route_watched: self.route_watched,
        }
    }

    fn plan(&self) -> Plan {
        plan(&self.rollout, &self.observed(), self.now)
    }

    /// Plans and applies one reconcile.
    fn step(&mut self) -> Plan {
        let plan = self.plan();
        self.apply(&plan);
        self.last = Some(plan.clone());
        plan
    }

    /// Carries `plan` out as the controller does: a plan that raises the weight stores its
    /// status, then applies its effects; any other applies its effects, then stores its status;
    /// then the consumed annotations are removed.
    fn apply(&mut self, plan: &Plan) {
        self.carry_out(plan, Stop::Never);
    }

    /// Carries `plan` out up to `stop`.
    fn carry_out(&mut self, plan: &Plan, stop: Stop) {
        let status_first = plan
            .status_write(self.rollout.status.as_ref(), false)
            .before_effects();
        if !status_first {
            self.apply_effects(plan);
        }
        if stop == Stop::StatusWriteFails {
            return;
        }
        self.rollout.status = Some(plan.status.clone());
        if stop == Stop::AfterStatus {
            return;
        }
        if status_first {
            self.apply_effects(plan);
        }
        if stop == Stop::BeforeRemoval {
            return;
        }
        self.consume(plan);
    }

    /// Removes the annotations `plan` consumed, as the controller does once its status is
    /// stored: with the marker naming the records the removal was for.
    fn consume(&mut self, plan: &Plan) {
        if plan.consume.is_empty() {
            return;
        }
        let annotations = self
            .rollout
            .metadata
            .annotations
            .get_or_insert_with(Default::default);
        for consumed in &plan.consume {
            annotations.remove(&consumed.key);
        }
        let marker: Vec<String> = plan.status.applied_actions.iter().map(record_id).collect();
        annotations.insert(labels::CONSUMED_ACTIONS_ANNOTATION.into(), marker.join(","));
    }

    /// The plan's effects on ReplicaSets, Services and the route; not its status nor its
    /// consumed annotations.
    fn apply_effects(&mut self, plan: &Plan) {
        let name = self.rollout.metadata.name.clone().unwrap_or_default();
        for change in &plan.replica_sets {
            match change {
                ReplicaSetChange::Create {
                    hash,
                    replicas,
                    revision,
                } => self.replica_sets.push(ObservedReplicaSet {
                    name: format!("{name}-{hash}"),
                    hash: hash.clone(),
                    replicas: *replicas,
                    current: 0,
                    ready: 0,
                    available: 0,
                    revision: *revision,
                    scale_down_deadline: None,
                }),
                ReplicaSetChange::Scale { name, replicas } => {
                    let rs = self
                        .replica_sets
                        .iter_mut()
                        .find(|rs| &rs.name == name)
                        .expect("scaled rs exists");
                    rs.replicas = *replicas;
                    rs.available = rs.available.min(*replicas);
                    rs.ready = rs.ready.min(*replicas);
                    rs.current = rs.current.min(*replicas);
                }
                ReplicaSetChange::ScaleDownDeadline { name, at } => {
                    let rs = self
                        .replica_sets
                        .iter_mut()
                        .find(|rs| &rs.name == name)
                        .expect("annotated rs exists");
                    rs.scale_down_deadline = *at;
                }
                ReplicaSetChange::Delete { name } => {
                    self.replica_sets.retain(|rs| &rs.name != name)
                }
            }
        }
        let canary = self
            .rollout
            .spec
            .strategy
            .canary
            .clone()
            .expect("canary strategy");
        for pin in &plan.services {
            let record = ServiceRecord {
                claimed_by: Some(pin.rollout.clone()),
                pinned: Some(pin.hash.clone()),
                resource_version: None,
            };
            if pin.service == canary.stable_service {
                self.stable_service = Some(pin.hash.clone());
                self.stable_record = record;
            } else if pin.service == canary.canary_service {
                self.canary_service = Some(pin.hash.clone());
                self.canary_record = record;
            }
        }
        if let Some(weight) = plan.route_weight
            && self.route_weight != Some(weight)
        {
            self.route_weight = Some(weight);
            self.route_accepted = false;
        }
    }

    fn make_available(&mut self) {
        for rs in &mut self.replica_sets {
            rs.current = rs.replicas;
            rs.ready = rs.replicas;
            rs.available = rs.replicas;
        }
    }

    fn accept_route(&mut self) {
        self.route_accepted = true;
    }

    /// Reconciles `times` times, with pods and the gateway keeping up after each.
    fn run(&mut self, times: usize) {
        for _ in 0..times {
            self.step();
            self.make_available();
            self.accept_route();
        }
    }

    /// Reconciles with pods and the gateway keeping up, until nothing changes any more.
    fn settle(&mut self) -> Plan {
        for _ in 0..50 {
            self.step();
            self.make_available();
            self.accept_route();
            let again = self.plan();
            if again.is_quiet() && again.status == self.status() {
                return again;
            }
        }
        panic!("did not settle: {:?}", self.plan().state);
    }

    fn set_image(&mut self, image: &str) {
        self.rollout.spec.template.raw_mut()["spec"]["containers"][0]["image"] =
            serde_json::json!(image);
        self.rollout.metadata.generation = Some(self.rollout.metadata.generation.unwrap_or(1) + 1);
    }

    fn annotate(&mut self, key: &str, value: &str) {
        self.rollout
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(key.to_string(), value.to_string());
    }

    fn advance(&mut self, seconds: i64) {
        self.now += chrono::Duration::seconds(seconds);
    }

    fn hash(&self) -> String {
        kulta_api::hash::revision_hash(&self.rollout.spec.template)
    }

    fn replicas_of(&self, hash: &str) -> i32 {
        self.replica_sets
            .iter()
            .find(|rs| rs.hash == hash)
            .map_or(0, |rs| rs.replicas)
    }

    fn condition(&self, type_: &str) -> (String, String) {
        let status = self.status();
        let c = status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .expect("condition present");
        (c.status.clone(), c.reason.clone())
    }
}

/// The original README's steps: 20% → 5m → 50% → until promoted → 100%.
fn readme_rollout() -> Rollout {
    RolloutBuilder::new("my-app")
        .replicas(3)
        .steps([
            set_weight_then_pause(20, Some("5m")),
            set_weight_then_pause(50, None),
            set_weight(100),
        ])
        .generation(1)
        .uid("uid-1")
        .build()
}

fn deployed(rollout: Rollout) -> World {
    let mut world = World::new(rollout);
    world.settle();
    world
}

#[test]
fn first_deploy_creates_stable_at_full_scale_with_all_traffic_and_no_steps() {
    let mut world = World::new(readme_rollout());
    let plan = world.step();
    let hash = world.hash();
    assert_eq!(plan.state, RolloutState::Deploying);
    assert_eq!(
        plan.replica_sets,
        vec![ReplicaSetChange::Create {
            hash: hash.clone(),
            replicas: 3,
            revision: 1
        }]
    );
    assert_eq!(plan.route_weight, Some(0));
    assert!(
        plan.services.is_empty(),
        "no Service is pinned to a revision without available pods: they keep serving what \
         they select"
    );
    assert_eq!(plan.status.stable_revision.as_deref(), Some(hash.as_str()));
    assert_eq!(
        plan.status.current_step_index,
        Some(3),
        "no steps run on a first deploy"
    );
    assert!(plan.events.iter().any(|e| e.reason == "RevisionDeployed"));

    world.make_available();
    let pinned = world.step();
    assert!(pinned.services.iter().all(|pin| pin.hash == hash));
    assert_eq!(
        pinned.services.len(),
        2,
        "pinned once every pod is available"
    );
    let settled = world.settle();
    assert_eq!(settled.state, RolloutState::Healthy);
    assert_eq!(world.status().phase, Some(Phase::Healthy));
    assert_eq!(
        world.condition(condition_types::READY),
        ("True".into(), "RolloutComplete".into())
    );
    assert_eq!(world.status().canary_weight, Some(0));
}

#[test]
fn a_settled_rollout_plans_nothing_and_keeps_its_status() {
    let world = deployed(readme_rollout());
    let plan = world.plan();
    assert!(plan.is_quiet());
    assert_eq!(plan.status, world.status());
    assert!(
        plan.events.is_empty(),
        "no events for an unchanged world: {:?}",
        plan.events
    );
}

#[test]
fn the_plan_says_how_its_status_is_written() {
    let mut world = deployed(readme_rollout());
    let write =
        |world: &World, plan: &Plan| plan.status_write(world.rollout.status.as_ref(), false);
    let settled = world.plan();
    assert_eq!(write(&world, &settled), StatusWrite::Unchanged);
    assert_eq!(
        settled.status_write(world.rollout.status.as_ref(), true),
        StatusWrite::AfterEffects,
        "a status the API server does not hold is written even when nothing changed"
    );

    // The stable ReplicaSet runs a pod more while one is replaced: counts only, they may wait.
    world.replica_sets[0].current += 1;
    let counts = world.plan();
    assert!(counts.is_quiet());
    assert_eq!(write(&world, &counts), StatusWrite::Counts);
    world.replica_sets[0].current -= 1;

    // A new revision: starting the canary asks for no weight yet, so its status follows the
    // effects.
    world.set_image("nginx:1.26");
    let start = world.plan();
    assert_eq!(start.route_weight, None);
    assert_eq!(write(&world, &start), StatusWrite::AfterEffects);
    world.apply(&start);
    world.make_available();
    // The first weight raises what the route may carry: stored before the route is written.
    let raise = world.plan();
    assert_eq!(raise.route_weight, Some(20));
    assert_eq!(
        write(&world, &raise),
        StatusWrite::Record {
            before_effects: true
        }
    );
    world.apply(&raise);

    // An abort records the action and asks for weight 0: retried on a fresh read, stored after
    // its effects (lowering the weight is never understated by what is stored).
    world.annotate(labels::ABORT_ANNOTATION, "true");
    let abort = world.plan();
    assert_eq!(
        write(&world, &abort),
        StatusWrite::Record {
            before_effects: false
        }
    );
}

#[test]
fn canary_walks_the_readme_steps_gated_on_availability_and_verification() {
    let mut world = deployed(readme_rollout());
    let stable = world.hash();
    world.set_image("nginx:1.26");
    let canary = world.hash();

    // New revision: canary created with what 20% of 3 needs, no traffic yet.
    let plan = world.step();
    assert_eq!(
        plan.replica_sets,
        vec![ReplicaSetChange::Create {
            hash: canary.clone(),
            replicas: 1,
            revision: 2
        }]
    );
    assert_eq!(plan.route_weight, None);
    assert_eq!(
        plan.state,
        RolloutState::AwaitingCanary {
            step: 0,
            needed: 1,
            available: 0
        }
    );
    assert_eq!(
        plan.services,
        vec![ServicePin {
            service: "my-app-canary".into(),
            hash: canary.clone(),
            rollout: "my-app".into(),
            claim_version: None,
        }]
    );
    assert!(plan.events.iter().any(|e| e.reason == "CanaryStarted"));

    // Still not available: nothing moves, however often we look.
    assert_eq!(world.step().route_weight, None);

    // Available: ask for 20%.
    world.make_available();
    let plan = world.step();
    assert_eq!(plan.route_weight, Some(20));
    assert_eq!(
        plan.state,
        RolloutState::ShiftingTraffic {
            step: 0,
            weight: 20
        }
    );
    assert_eq!(
        world.condition(condition_types::TRAFFIC_ROUTED).1,
        "WeightRequested"
    );

    // Not verified yet: the step does not advance and the pause does not start.
    let plan = world.step();
    assert_eq!(
        plan.state,
        RolloutState::ShiftingTraffic {
            step: 0,
            weight: 20
        }
    );
    assert_eq!(plan.status.pause_start_time, None);

    // Verified: the timed pause starts now.
    world.accept_route();
    let plan = world.step();
    let until = world.now + chrono::Duration::minutes(5);
    assert_eq!(
        plan.state,
        RolloutState::Paused {
            step: 0,
            until: Some(until)
        }
    );
    assert_eq!(plan.status.pause_start_time, Some(world.now));
    assert_eq!(plan.status.canary_weight, Some(20));
    assert_eq!(plan.status.phase, Some(Phase::Paused));
    assert_eq!(
        world.condition(condition_types::PAUSED),
        ("True".into(), "Timed".into())
    );
    let requeue = plan.requeue_after.expect("requeue at pause expiry");
    assert!(
        requeue >= Duration::from_secs(300) && requeue < Duration::from_secs(302),
        "{requeue:?}"
    );

    // Before expiry nothing changes.
    world.advance(299);
    assert!(world.step().is_quiet());

    // Expiry: step 2 scales the canary to 2 pods first.
    world.advance(1);
    let plan = world.step();
    assert_eq!(plan.status.current_step_index, Some(1));
    assert_eq!(
        plan.state,
        RolloutState::AwaitingCanary {
            step: 1,
            needed: 2,
            available: 1
        }
    );
    assert_eq!(
        plan.route_weight, None,
        "no weight before the pods it needs"
    );
    assert!(plan.events.iter().any(|e| e.reason == "StepCompleted"));
    world.make_available();
    assert_eq!(world.step().route_weight, Some(50));
    world.accept_route();
    let plan = world.step();
    assert_eq!(
        plan.state,
        RolloutState::Paused {
            step: 1,
            until: None
        }
    );
    assert_eq!(
        world.condition(condition_types::PAUSED),
        ("True".into(), "Manual".into())
    );
    assert!(
        plan.status
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("kulta.io/promote=true")
    );

    // An indefinite pause waits, whatever the time.
    world.advance(86_400);
    assert!(world.step().is_quiet());

    // Promote: consumed once, recorded, and the last step asks for full canary scale.
    world.annotate(labels::PROMOTE_ANNOTATION, "true");
    let plan = world.step();
    assert_eq!(
        plan.consume,
        vec![ConsumedAnnotation {
            key: labels::PROMOTE_ANNOTATION.into(),
            value: "true".into()
        }]
    );
    assert_eq!(
        plan.status.last_action.as_ref().map(|a| a.value.as_str()),
        Some("true")
    );
    assert!(plan.events.iter().any(|e| e.reason == "Promoted"));
    assert_eq!(
        plan.state,
        RolloutState::AwaitingCanary {
            step: 2,
            needed: 3,
            available: 2
        }
    );
    world.make_available();
    assert_eq!(world.step().route_weight, Some(100));
    world.accept_route();

    // All steps ran: the stable Service moves to the canary's pods and, in the same reconcile
    // (apply pins before it routes), all traffic to stable.
    let plan = world.step();
    assert_eq!(plan.state, RolloutState::Promoting);
    assert_eq!(
        plan.services,
        vec![ServicePin {
            service: "my-app-stable".into(),
            hash: canary.clone(),
            rollout: "my-app".into(),
            claim_version: None,
        }]
    );
    assert_eq!(plan.route_weight, Some(0));
    world.accept_route();
    let plan = world.step();
    assert_eq!(plan.state, RolloutState::Healthy);
    assert_eq!(
        plan.status.stable_revision.as_deref(),
        Some(canary.as_str())
    );
    assert_eq!(plan.status.canary_revision, None);
    assert!(plan.events.iter().any(|e| e.reason == "RolloutCompleted"));
    // The old stable keeps its pods for the scale-down delay (default 30s)...
    let deadline = world.now + chrono::Duration::seconds(30);
    assert!(
        plan.replica_sets
            .contains(&ReplicaSetChange::ScaleDownDeadline {
                name: format!("my-app-{stable}"),
                at: Some(deadline)
            })
    );
    // The reconcile that sets the deadline also asks to be woken at it: no watch event may
    // come before (the echo of our own write wakes nothing).
    let wake = plan.requeue_after.expect("a requeue at the deadline");
    assert!(
        wake >= std::time::Duration::from_secs(30) && wake <= std::time::Duration::from_secs(31),
        "{wake:?}"
    );
    assert_eq!(world.replicas_of(&stable), 3);
    world.advance(10);
    assert_eq!(world.step().replica_sets, vec![]);
    // ...and is scaled to zero after it.
    world.advance(21);
    let plan = world.step();
    assert!(plan.replica_sets.contains(&ReplicaSetChange::Scale {
        name: format!("my-app-{stable}"),
        replicas: 0
    }));
    assert_eq!(world.status().phase, Some(Phase::Healthy));
    assert_eq!(world.condition(condition_types::READY).0, "True");
}

#[test]
fn promote_full_skips_every_remaining_step() {
    let mut world = deployed(readme_rollout());
    paused_at_first_step(&mut world);
    world.annotate(labels::PROMOTE_ANNOTATION, "full");
    let plan = world.step();
    assert_eq!(plan.status.current_step_index, Some(3));
    assert_eq!(
        plan.state,
        RolloutState::AwaitingCanary {
            step: 3,
            needed: 3,
            available: 1
        }
    );
    assert!(plan.events.iter().any(|e| e.reason == "PromotedFull"));
    let settled = world.settle();
    assert_eq!(settled.state, RolloutState::Healthy);
    assert_eq!(world.status().stable_revision, Some(world.hash()));
}

#[test]
fn completion_sends_no_traffic_to_a_stable_service_that_does_not_exist() {
    let mut world = deployed(readme_rollout());
    paused_at_first_step(&mut world);
    world.annotate(labels::PROMOTE_ANNOTATION, "full");
    world.step();
    world.make_available();
    world.step(); // asks for 100%
    world.accept_route();
    let mut observed = world.observed();
    observed.stable_service = ServiceObservation::Missing;
    let plan = plan(&world.rollout, &observed, world.now);
    assert_eq!(plan.state, RolloutState::Promoting);
    assert_eq!(plan.route_weight, None, "{plan:?}");
    assert!(plan.services.is_empty());
    assert!(
        plan.status
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("my-app-stable not found"),
        "{:?}",
        plan.status.message
    );
}

#[test]
fn a_service_someone_repointed_is_reported_not_reverted() {
    let mut world = deployed(readme_rollout());
    let stable = world.hash();
    world.stable_service = Some("someone-elses".into());
    let plan = world.step();
    assert!(plan.services.is_empty(), "not pinned back");
    let message = plan.status.message.clone().unwrap_or_default();
    assert!(
        message.contains("selector of Service my-app-stable was changed by someone else")
            && message.contains("pod-template-hash someone-elses"),
        "{message}"
    );
    assert!(
        plan.events
            .iter()
            .any(|e| e.reason == "ServiceConflict" && e.warning)
    );
    assert_eq!(world.condition(condition_types::READY).0, "False");
    assert!(world.step().events.is_empty(), "reported once");
    // Removing KULTA's record hands the Service back: it is pinned again.
    world.stable_record.pinned = None;
    let plan = world.plan();
    assert_eq!(
        plan.services,
        vec![ServicePin {
            service: "my-app-stable".into(),
            hash: stable,
            rollout: "my-app".into(),
            claim_version: None,
        }]
    );
    // Healthy in this very reconcile: the echo of our own pin wakes no other.
    assert_eq!(plan.state, RolloutState::Healthy);
}

#[test]
fn a_service_another_rollout_holds_is_not_pinned_and_no_canary_starts() {
    let mut world = deployed(readme_rollout());
    world.canary_record.claimed_by = Some("other".into());
    world.set_image("nginx:1.26");
    let plan = world.step();
    match &plan.state {
        RolloutState::AwaitingService {
            step: None,
            problem,
        } => assert!(
            problem.contains("Service my-app-canary is held by Rollout other"),
            "{problem}"
        ),
        other => panic!("expected AwaitingService, got {other:?}"),
    }
    assert!(plan.replica_sets.is_empty() && plan.services.is_empty());
    assert_eq!(plan.route_weight, None);
}

#[test]
fn a_first_pin_claims_the_service_conditionally() {
    let mut world = World::new(readme_rollout());
    world.stable_record = ServiceRecord {
        resource_version: Some("41".into()),
        ..ServiceRecord::default()
    };
    world.step();
    world.make_available();
    let plan = world.plan();
    let stable = plan
        .services
        .iter()
        .find(|pin| pin.service == "my-app-stable")
        .expect("the stable Service is pinned");
    assert_eq!(stable.rollout, "my-app");
    assert_eq!(
        stable.claim_version.as_deref(),
        Some("41"),
        "refused if someone wrote the Service since it was read"
    );
}

#[test]
fn every_route_request_looks_again_without_waiting_for_an_event() {
    // First deploy: the route to stable is asked for, and the plan asks to be woken to verify
    // it (a router whose state is not watched sends no event).
    let mut world = World::new(readme_rollout());
    let plan = world.step();
    assert_eq!(plan.route_weight, Some(0));
    let wake = plan
        .requeue_after
        .expect("a recheck after asking for a weight");
    assert!(wake <= std::time::Duration::from_secs(2), "{wake:?}");
}

#[test]
fn a_watched_route_is_not_polled_but_its_pending_reason_is_still_shown_in_time() {
    let mut world = deployed(readme_rollout());
    world.route_watched = true;
    world.set_image("nginx:1.26");
    world.step();
    world.make_available();
    let plan = world.step();
    assert_eq!(plan.route_weight, Some(20));
    let wake = plan.requeue_after.expect("a wake for the pending reason");
    assert!(
        wake > Duration::from_secs(2) && wake <= Duration::from_secs(6),
        "woken by the route's watch, and once when the reason is due in the message: {wake:?}"
    );
    world.advance(6);
    let plan = world.step();
    assert!(matches!(plan.state, RolloutState::ShiftingTraffic { .. }));
    let wake = plan.requeue_after.expect("a safety-net recheck");
    assert_eq!(wake, Duration::from_secs(30), "only the safety net is left");

    // The same Rollout whose router's objects are not watched is polled.
    world.route_watched = false;
    let wake = world.plan().requeue_after.expect("a recheck");
    assert!(wake <= Duration::from_secs(2), "{wake:?}");
}

/// A new image, its canary available and 20% verified: paused at step 0.
fn paused_at_first_step(world: &mut World) {
    world.set_image("nginx:1.26");
    world.step();
    world.make_available();
    world.step();
    world.accept_route();
    world.step();
}

/// Reaches the indefinite pause at 50%.
fn at_fifty(world: &mut World) {
    world.set_image("nginx:1.26");
    for _ in 0..20 {
        world.step();
        world.make_available();
        world.accept_route();
        if world.status().pause_start_time.is_some() && world.status().current_step_index == Some(0)
        {
            world.advance(301);
        }
        if matches!(world.plan().state, RolloutState::Paused { step: 1, .. }) {
            world.step();
            return;
        }
    }
    panic!("never reached the 50% pause");
}

#[test]
fn abort_routes_to_stable_and_verifies_before_scaling_the_canary_down() {
    let mut world = deployed(readme_rollout());
    at_fifty(&mut world);
    let canary = world.hash();
    assert_eq!(world.replicas_of(&canary), 2);
    world.annotate(labels::ABORT_ANNOTATION, "true");
    let plan = world.step();
    assert_eq!(plan.state, RolloutState::Aborted);
    assert_eq!(plan.route_weight, Some(0));
    assert!(
        plan.replica_sets.is_empty(),
        "no scale-down before traffic is verified on stable: {:?}",
        plan.replica_sets
    );
    assert_eq!(plan.status.phase, Some(Phase::Degraded));
    assert!(plan.events.iter().any(|e| e.reason == "Aborted"));
    // Route written but not verified yet: still no scale-down.
    let plan = world.step();
    assert!(plan.replica_sets.is_empty());
    world.accept_route();
    let plan = world.step();
    assert_eq!(
        plan.replica_sets,
        vec![ReplicaSetChange::Scale {
            name: format!("my-app-{canary}"),
            replicas: 0
        }]
    );
    assert_eq!(
        world.condition(condition_types::ABORTED),
        ("True".into(), "AbortedByUser".into())
    );
    assert_eq!(world.condition(condition_types::READY).0, "False");
    assert!(world.step().is_quiet(), "an aborted rollout waits");

    // Retry starts again from step 0.
    world.annotate(labels::RETRY_ANNOTATION, "true");
    let plan = world.step();
    assert_eq!(plan.status.current_step_index, Some(0));
    assert_eq!(plan.status.aborted, None);
    assert!(plan.events.iter().any(|e| e.reason == "Retried"));
    assert_eq!(
        plan.state,
        RolloutState::AwaitingCanary {
            step: 0,
            needed: 1,
            available: 0
        }
    );
    assert_eq!(world.condition(condition_types::ABORTED).0, "False");
}

#[test]
fn template_change_mid_rollout_moves_traffic_off_the_old_canary_first() {
    let mut world = deployed(readme_rollout());
    at_fifty(&mut world);
    let old_canary = world.hash();
    world.set_image("nginx:1.27");
    let new_canary = world.hash();
    let plan = world.step();
    assert_eq!(
        plan.state,
        RolloutState::RoutingToStable {
            why: "the template changed"
        }
    );
    assert_eq!(plan.route_weight, Some(0));
    assert!(plan.replica_sets.is_empty(), "{:?}", plan.replica_sets);
    assert!(
        plan.services.is_empty(),
        "the canary Service keeps the old canary until traffic is off it"
    );
    world.accept_route();
    let plan = world.step();
    assert!(plan.replica_sets.contains(&ReplicaSetChange::Scale {
        name: format!("my-app-{old_canary}"),
        replicas: 0
    }));
    assert!(
        plan.replica_sets
            .iter()
            .any(|c| matches!(c, ReplicaSetChange::Create { hash, .. } if *hash == new_canary))
    );
    assert_eq!(
        plan.status.canary_revision.as_deref(),
        Some(new_canary.as_str())
    );
    assert_eq!(plan.status.current_step_index, Some(0));
    assert!(plan.events.iter().any(|e| e.reason == "CanaryReplaced"));
}

#[test]
fn changing_back_to_the_stable_template_is_a_fast_rollback_without_steps() {
    let mut world = deployed(readme_rollout());
    let stable = world.hash();
    at_fifty(&mut world);
    let canary = world.hash();
    world.set_image("nginx:1.25");
    assert_eq!(world.hash(), stable);
    let plan = world.step();
    assert_eq!(
        plan.state,
        RolloutState::RoutingToStable {
            why: "rollback to the stable template"
        }
    );
    assert_eq!(plan.route_weight, Some(0));
    assert!(plan.replica_sets.is_empty());
    world.accept_route();
    let plan = world.step();
    assert_eq!(
        plan.replica_sets,
        vec![ReplicaSetChange::Scale {
            name: format!("my-app-{canary}"),
            replicas: 0
        }]
    );
    assert!(plan.events.iter().any(|e| e.reason == "RolledBack"));
    let settled = world.settle();
    assert_eq!(settled.state, RolloutState::Healthy);
    assert_eq!(world.canary_service.as_deref(), Some(stable.as_str()));
}

#[test]
fn progress_deadline_reports_and_aborts_when_asked() {
    let rollout = RolloutBuilder::new("app")
        .replicas(2)
        .steps([set_weight(50), pause(Some("1m"))])
        .progress_deadline_seconds(60)
        .generation(1)
        .uid("uid-2")
        .build();
    let mut world = deployed(rollout.clone());
    world.set_image("bad:1");
    let plan = world.step();
    assert!(matches!(plan.state, RolloutState::AwaitingCanary { .. }));
    assert!(
        plan.requeue_after
            .is_some_and(|r| r <= Duration::from_secs(61))
    );
    world.advance(61);
    let plan = world.step();
    assert_eq!(plan.status.phase, Some(Phase::Degraded));
    assert_eq!(
        world.condition(condition_types::PROGRESSING),
        ("False".into(), "ProgressDeadlineExceeded".into())
    );
    assert!(
        plan.events
            .iter()
            .any(|e| e.reason == "ProgressDeadlineExceeded")
    );
    assert_eq!(
        plan.route_weight, None,
        "no traffic to a canary that is not available"
    );

    let mut world = deployed(
        RolloutBuilder::new("app")
            .replicas(2)
            .steps([set_weight(50)])
            .progress_deadline_seconds(60)
            .progress_deadline_abort(true)
            .generation(1)
            .uid("uid-3")
            .build(),
    );
    world.set_image("bad:1");
    world.step();
    world.advance(61);
    let plan = world.step();
    assert_eq!(plan.state, RolloutState::Aborted);
    assert_eq!(
        world.condition(condition_types::ABORTED),
        ("True".into(), "ProgressDeadlineExceeded".into())
    );
    // The cause stays on Progressing in later reconciles, not only in the one that aborted.
    world.accept_route();
    world.step();
    world.step();
    assert_eq!(
        world.condition(condition_types::PROGRESSING),
        ("False".into(), "ProgressDeadlineExceeded".into())
    );
    assert_eq!(
        world.condition(condition_types::ABORTED),
        ("True".into(), "ProgressDeadlineExceeded".into())
    );
}

#[test]
fn invalid_spec_touches_nothing_and_says_why() {
    let mut rollout = readme_rollout();
    rollout.spec.strategy.canary.as_mut().expect("canary").steps[0].set_weight = Some(150);
    let plan = plan(&rollout, &World::new(rollout.clone()).observed(), t0());
    assert_eq!(plan.state, RolloutState::InvalidSpec);
    assert!(plan.is_quiet());
    assert_eq!(plan.requeue_after, None);
    assert_eq!(plan.status.phase, Some(Phase::Degraded));
    let condition = plan
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == condition_types::INVALID_SPEC)
        .expect("InvalidSpec");
    assert_eq!(condition.status, "True");
    assert!(
        condition
            .message
            .contains("spec.strategy.canary.steps[0].setWeight"),
        "{}",
        condition.message
    );
}

#[test]
fn old_revisions_beyond_the_history_limit_are_deleted_oldest_first() {
    let rollout = RolloutBuilder::new("app")
        .replicas(1)
        .revision_history_limit(1)
        .scale_down_delay_seconds(0)
        .generation(1)
        .uid("u")
        .build();
    let mut world = deployed(rollout);
    let mut hashes = vec![world.hash()];
    for image in ["nginx:2", "nginx:3", "nginx:4"] {
        world.set_image(image);
        world.settle();
        hashes.push(world.hash());
    }
    let names: Vec<&str> = world
        .replica_sets
        .iter()
        .map(|rs| rs.hash.as_str())
        .collect();
    assert_eq!(names.len(), 2, "stable + 1 of history: {names:?}");
    assert!(names.contains(&hashes[3].as_str()) && names.contains(&hashes[2].as_str()));
}

#[test]
fn unknown_action_values_are_consumed_and_reported() {
    let mut world = deployed(readme_rollout());
    world.annotate(labels::PROMOTE_ANNOTATION, "yes");
    let plan = world.step();
    assert_eq!(plan.consume.len(), 1);
    assert!(
        plan.events
            .iter()
            .any(|e| e.reason == "ActionIgnored" && e.warning)
    );
}

mod actions;
mod deadline;
mod properties;
mod services;
