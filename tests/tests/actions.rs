//! User actions are never lost and never carried out twice: the controller records an action in
//! status before it removes the annotation, and each point between those two writes is made to
//! fail here (the status write refused, the status write carried out but its answer lost, the
//! controller stopped before the removal, the removal carried out but its answer lost). Every
//! promote moves the canary exactly one pause on.

use kube::ResourceExt;
use kulta_api::labels::PROMOTE_ANNOTATION;
use kulta_api::{Phase, RolloutStatus};
use kulta_sim::FailureRule;
use kulta_tests::{TestCluster, rollout, steps};

/// Pauses at steps 1, 3, 5, 7 and 9.
fn many_pauses() -> Vec<kulta_api::CanaryStep> {
    let mut all = Vec::new();
    for weight in [10, 20, 30, 40, 50] {
        all.push(steps::set_weight(weight));
        all.push(steps::pause_indefinitely());
    }
    all.push(steps::set_weight(100));
    all
}

fn paused_at(status: &RolloutStatus, step: i32) -> bool {
    status.current_step_index == Some(step) && status.phase == Some(Phase::Paused)
}

/// Promotes `name` and waits until it is paused at `step` with the annotation gone.
async fn promote_to(cluster: &TestCluster, name: &str, step: i32) {
    cluster.annotate(name, PROMOTE_ANNOTATION, "true").await;
    wait_consumed_at(cluster, name, step).await;
}

async fn wait_consumed_at(cluster: &TestCluster, name: &str, step: i32) {
    cluster
        .wait_for(
            &format!("paused at step {step} with the promote annotation removed"),
            kulta_tests::DEADLINE,
            || async {
                let rollout = cluster.rollouts().get(name).await.ok()?;
                let status = rollout.status.clone().unwrap_or_default();
                let annotated = rollout.annotations().contains_key(PROMOTE_ANNOTATION);
                (paused_at(&status, step) && !annotated).then_some(())
            },
        )
        .await;
}

/// Reconciles `name` a few more times and checks it stays at `step`.
async fn stays_at(cluster: &TestCluster, name: &str, step: i32) {
    for _ in 0..3 {
        cluster.touch_and_wait_reconcile(name, "web-route").await;
    }
    let status = cluster.status(name).await;
    assert!(
        paused_at(&status, step),
        "the promote was carried out once: still paused at step {step}, got {:?} at {:?}",
        status.phase,
        status.current_step_index
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_promote_is_carried_out_once_whatever_fails_between_the_two_writes() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    cluster
        .create_rollout(&rollout("web").steps(many_pauses()).build())
        .await;
    cluster.wait_healthy("web").await;
    cluster.set_image("web", "nginx:1.26").await;
    cluster
        .wait_status("web", "paused at step 1", |s| paused_at(s, 1))
        .await;
    let me = cluster.controller_identity().to_string();
    let status_writes = || {
        FailureRule::new(500)
            .identity(&me)
            .resource("rollouts")
            .subresource("status")
    };
    let main_resource_patches = || {
        FailureRule::new(500)
            .identity(&me)
            .resource("rollouts")
            .subresource("")
            .verb("patch")
    };

    // 1. Every status write of the reconcile fails (more than it retries): nothing is
    //    recorded, the annotation stays, a later reconcile carries the promote out once.
    cluster.faults().fail(status_writes().times(7));
    promote_to(&cluster, "web", 3).await;
    stays_at(&cluster, "web", 3).await;

    // 2. The status write is carried out but its answer is lost: the retry reads the stored
    //    record and only removes the annotation.
    cluster
        .faults()
        .fail(status_writes().after_write().times(1));
    promote_to(&cluster, "web", 5).await;
    stays_at(&cluster, "web", 5).await;

    // 3. The controller stops between the two writes: the record is stored, the removal never
    //    happens. The next controller removes the annotation without promoting again.
    cluster.faults().fail(main_resource_patches());
    cluster.annotate("web", PROMOTE_ANNOTATION, "true").await;
    cluster
        .wait_status("web", "the promote recorded, paused at step 7", |s| {
            paused_at(s, 7)
                && s.applied_actions
                    .iter()
                    .any(|a| a.annotation == PROMOTE_ANNOTATION)
        })
        .await;
    cluster.stop_controller().await;
    assert!(
        cluster
            .rollout("web")
            .await
            .annotations()
            .contains_key(PROMOTE_ANNOTATION),
        "the removal never happened"
    );
    cluster.faults().clear();
    cluster.start_controller().await;
    wait_consumed_at(&cluster, "web", 7).await;
    stays_at(&cluster, "web", 7).await;

    // 4. The removal is carried out but its answer is lost: the same annotation set again is a
    //    new action, and it is carried out.
    cluster
        .faults()
        .fail(main_resource_patches().after_write().times(1));
    promote_to(&cluster, "web", 9).await;
    stays_at(&cluster, "web", 9).await;
    cluster.annotate("web", PROMOTE_ANNOTATION, "true").await;
    let done = cluster.wait_healthy("web").await;
    assert_eq!(done.current_step_index, Some(11));
    cluster
        .wait_for(
            "the last promote removed",
            kulta_tests::DEADLINE,
            || async {
                let rollout = cluster.rollouts().get("web").await.ok()?;
                (!rollout.annotations().contains_key(PROMOTE_ANNOTATION)).then_some(())
            },
        )
        .await;
    assert!(
        cluster.faults().injected_count() > 0,
        "faults were injected"
    );

    // Five promotes, five Promoted events.
    let promoted = cluster
        .event_reasons("web")
        .iter()
        .filter(|reason| reason.as_str() == "Promoted")
        .count();
    assert_eq!(promoted, 5, "one Promoted event per promote");
}

/// An annotation value that is not an action is refused with a Warning Event and recorded, and
/// nothing else happens: the canary stays where it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_annotation_value_that_is_not_an_action_is_reported_and_changes_nothing() {
    let cluster = TestCluster::start().await;
    cluster.create_app("web").await;
    cluster
        .create_rollout(&rollout("web").steps(many_pauses()).build())
        .await;
    cluster.wait_healthy("web").await;
    cluster.set_image("web", "nginx:1.26").await;
    cluster
        .wait_status("web", "paused at step 1", |s| paused_at(s, 1))
        .await;
    let mark = cluster.mark();
    cluster.annotate("web", PROMOTE_ANNOTATION, "yes").await;
    cluster.wait_event("web", "ActionIgnored").await;
    let notes = cluster.event_notes("web");
    assert!(
        notes
            .iter()
            .any(|note| note.contains("kulta.io/promote=yes is not understood")),
        "{notes:?}"
    );
    wait_consumed_at(&cluster, "web", 1).await;
    let status = cluster.status("web").await;
    assert!(
        status
            .applied_actions
            .iter()
            .any(|a| a.annotation == PROMOTE_ANNOTATION && a.value == "yes"),
        "recorded: {:?}",
        status.applied_actions
    );
    stays_at(&cluster, "web", 1).await;
    let writes: Vec<_> = cluster
        .controller_writes_beside_rollouts(&mark)
        .await
        .into_iter()
        .map(|r| (r.verb, r.resource, r.name))
        .collect();
    assert!(writes.is_empty(), "only the Rollout and Events: {writes:?}");
}
