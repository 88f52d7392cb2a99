//! Events against kulta-sim: distinct notes are distinct Events, repeats are counted.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kulta_controller::events::EventPublisher;
use kulta_sim::Sim;

#[tokio::test]
async fn repeats_are_counted_and_distinct_notes_kept() {
    kulta_controller::cli::install_crypto_provider();
    let sim = Sim::start().await.expect("sim");
    let publisher = EventPublisher::new(sim.client(), "kulta-controller", "test");
    let regarding = ObjectReference {
        api_version: Some("kulta.io/v1alpha1".into()),
        kind: Some("Rollout".into()),
        name: Some("app".into()),
        namespace: Some("default".into()),
        uid: Some("uid-1".into()),
        ..ObjectReference::default()
    };
    for note in [
        "paused at step 1 for 5m0s",
        "paused at step 3 until promoted",
        "paused at step 3 until promoted",
    ] {
        publisher
            .publish(&regarding, false, "Paused", "Reconcile", note)
            .await
            .expect("published");
    }
    let events = Api::<Event>::namespaced(sim.client(), "default")
        .list(&Default::default())
        .await
        .expect("list")
        .items;
    let mut seen: Vec<(String, i32)> = events
        .iter()
        .map(|e| {
            (
                e.note.clone().unwrap_or_default(),
                e.series.as_ref().map_or(1, |s| s.count),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("paused at step 1 for 5m0s".to_string(), 1),
            ("paused at step 3 until promoted".to_string(), 2)
        ]
    );
    let first = &events[0];
    assert_eq!(first.reason.as_deref(), Some("Paused"));
    assert_eq!(
        first.reporting_controller.as_deref(),
        Some("kulta-controller")
    );
    assert_eq!(
        first.regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("app")
    );
    sim.shutdown().await;
}
