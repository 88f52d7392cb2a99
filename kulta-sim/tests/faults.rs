//! Fault injection and the request log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kulta_sim::{FailureRule, RequestFilter};
use serde_json::json;

fn cm(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        data: Some(BTreeMap::new()),
        ..Default::default()
    }
}

#[tokio::test]
async fn fail_next_requests_matching_a_filter() {
    let sim = quiet_sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    api.create(&PostParams::default(), &cm("f")).await.unwrap();

    sim.faults().fail(
        FailureRule::new(500)
            .verb("patch")
            .resource("configmaps")
            .name("f")
            .times(2),
    );
    let patch = Patch::Merge(json!({"data": {"a": "b"}}));
    for _ in 0..2 {
        let error = api
            .patch("f", &PatchParams::default(), &patch)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, kube::Error::Api(s) if s.code == 500 && s.reason == "InternalError"),
            "{error:?}"
        );
    }
    api.patch("f", &PatchParams::default(), &patch)
        .await
        .unwrap();
    // Other verbs were never affected.
    api.get("f").await.unwrap();
    assert_eq!(sim.faults().injected_count(), 2);

    sim.faults()
        .fail(FailureRule::new(409).verb("update").times(1));
    let current = api.get("f").await.unwrap();
    let error = api
        .replace("f", &PostParams::default(), &current)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, kube::Error::Api(s) if s.code == 409),
        "{error:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn too_many_requests_carries_retry_after() {
    let sim = quiet_sim().await;
    sim.faults().fail(
        FailureRule::new(429)
            .verb("get")
            .resource("configmaps")
            .retry_after(3)
            .times(1),
    );
    let (status, headers, body) = raw(
        sim.base_url(),
        "GET",
        "/api/v1/namespaces/default/configmaps/x",
        &[],
        "",
    )
    .await;
    assert_eq!(status, 429);
    assert!(headers.iter().any(|(k, v)| k == "retry-after" && v == "3"));
    assert!(body.contains("\"reason\":\"TooManyRequests\""));
    sim.shutdown().await;
}

#[tokio::test]
async fn fractional_failures_are_seeded_and_latency_is_added() {
    let sim = kulta_sim::Sim::builder()
        .controllers(false)
        .fault_seed(42)
        .start()
        .await
        .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    api.create(&PostParams::default(), &cm("frac"))
        .await
        .unwrap();
    sim.faults()
        .fail(FailureRule::new(500).verb("get").fraction(0.5));
    let mut failures = 0;
    for _ in 0..100 {
        if api.get("frac").await.is_err() {
            failures += 1;
        }
    }
    assert!((25..=75).contains(&failures), "{failures} of 100 failed");
    sim.faults().clear();

    sim.faults()
        .add_latency(RequestFilter::new().verb("get"), Duration::from_millis(150));
    let started = Instant::now();
    api.get("frac").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    sim.shutdown().await;
}

#[tokio::test]
async fn controllers_are_exempt_unless_included() {
    let sim = quiet_sim().await;
    let controller = sim.client_as(kulta_sim::CONTROLLER_IDENTITY).unwrap();
    let api: Api<ConfigMap> = Api::namespaced(controller, "default");
    sim.faults().fail(FailureRule::new(500));
    api.create(&PostParams::default(), &cm("ctl"))
        .await
        .unwrap();
    sim.faults().clear();
    sim.faults()
        .fail(FailureRule::new(500).include_controllers().times(1));
    assert!(api.get("ctl").await.is_err());
    sim.shutdown().await;
}

#[tokio::test]
async fn restart_ends_watches_and_refuses_requests_briefly() {
    let sim = quiet_sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    api.create(&PostParams::default(), &cm("r")).await.unwrap();
    sim.faults().restart(Duration::from_millis(300));
    let (status, _, _) = raw(
        sim.base_url(),
        "GET",
        "/api/v1/namespaces/default/configmaps/r",
        &[],
        "",
    )
    .await;
    assert_eq!(status, 503);
    // kube's client retries 503; it succeeds once the outage ends, and the object survived.
    eventually(Duration::from_secs(5), || async { api.get("r").await.ok() }).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn request_log_attributes_requests_to_identities() {
    let sim = quiet_sim().await;
    let alice: Api<ConfigMap> = Api::namespaced(sim.client_as("alice").unwrap(), "default");
    let bob: Api<ConfigMap> = Api::namespaced(sim.client_as("bob").unwrap(), "default");
    let started = Instant::now();
    alice
        .create(&PostParams::default(), &cm("a1"))
        .await
        .unwrap();
    alice
        .create(&PostParams::default(), &cm("a2"))
        .await
        .unwrap();
    alice
        .patch(
            "a1",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"x": "y"}})),
        )
        .await
        .unwrap();
    bob.get("a1").await.unwrap();
    bob.delete("a2", &Default::default()).await.unwrap();
    let log = sim.request_log();
    let writes = log.writes_by_identity();
    assert_eq!(writes.get("alice"), Some(&3));
    assert_eq!(writes.get("bob"), Some(&1));
    let patches = log.writes(
        &RequestFilter::new()
            .verb("patch")
            .resource("configmaps")
            .name("a1"),
    );
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].code, 200);
    assert_eq!(&*patches[0].identity, "alice");
    assert_eq!(patches[0].namespace, "default");
    assert!(patches[0].at >= started);
    assert_eq!(
        log.count(&RequestFilter::new().identity("bob").verb("get")),
        1
    );
    log.clear();
    assert!(log.is_empty());
    sim.shutdown().await;
}
