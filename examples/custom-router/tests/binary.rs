//! The `kulta-configmap-router` binary honours the operator's flags: its `main` is a call to
//! `kulta_controller::operator::main`, and `--concurrency` bounds how many Rollouts it reconciles
//! at once.
//!
//! Each Rollout's status write is slowed down by the API server (a fault rule), so a reconcile
//! holds its slot for that long. With `--concurrency 1` the first status writes of four new
//! Rollouts arrive one slow write apart; with `--concurrency 4` all four are in flight together.
//! On kulta-sim, or a fresh namespace of the real control plane (`KULTA_TEST_CLUSTER`) through
//! the test's fault proxy.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, PostParams};
use kulta_api::Rollout;
use kulta_api::steps::set_weight;
use kulta_api::testing::RolloutBuilder;
use kulta_example_configmap_router::ROUTER_KEY;
use kulta_sim::RequestFilter;
use kulta_test_support::{Backend, wait_for};

const IDENTITY: &str = "kulta-configmap-router";
/// How long the API server holds each of the controller's Rollout status writes.
const SLOW_WRITE: Duration = Duration::from_secs(1);
const ROLLOUTS: usize = 4;

/// Kills the binary when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary against a fresh backend with `--concurrency concurrency`, creates
/// [`ROLLOUTS`] Rollouts at once and returns when each of the first status writes arrived.
async fn first_status_writes(concurrency: u16) -> Vec<SystemTime> {
    let backend = Backend::start(|builder| builder).await;
    backend.install_crds(&kulta_api::crd::all_crds()).await;
    backend
        .grant_controller(IDENTITY, common::router_rules())
        .await;
    let namespace = backend.namespace().to_string();
    let status_writes = RequestFilter::new()
        .identity(IDENTITY)
        .resource("rollouts")
        .subresource("status");
    backend.faults().add_latency(status_writes, SLOW_WRITE);

    let dir = tempfile::tempdir().expect("dir");
    let kubeconfig = backend.kubeconfig_as(IDENTITY, dir.path()).await;
    let _binary = Running(
        Command::new(env!("CARGO_BIN_EXE_kulta-configmap-router"))
            .args(["--concurrency", &concurrency.to_string()])
            .args(["--namespace", &namespace])
            .args(["--leader-election", "false"])
            .args(["--admin-addr", "127.0.0.1:0"])
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn kulta-configmap-router"),
    );

    let services: Api<Service> = Api::namespaced(backend.client(), &namespace);
    let rollouts: Api<Rollout> = Api::namespaced(backend.client(), &namespace);
    for index in 0..ROLLOUTS {
        for role in ["stable", "canary"] {
            let service = serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("app{index}-{role}")},
                "spec": {"selector": {"app": format!("app{index}")}, "ports": [{"port": 80}]}
            }))
            .expect("service");
            services
                .create(&PostParams::default(), &service)
                .await
                .expect("create service");
        }
    }
    let mark = backend.mark();
    let creates = (0..ROLLOUTS).map(|index| {
        let rollout = RolloutBuilder::new(&format!("app{index}"))
            .namespace(&namespace)
            .plugin(
                ROUTER_KEY,
                serde_json::json!({"configMap": format!("app{index}-weights")}),
            )
            .steps([set_weight(50)])
            .build();
        let rollouts = rollouts.clone();
        async move {
            rollouts
                .create(&PostParams::default(), &rollout)
                .await
                .expect("create rollout")
        }
    });
    futures::future::join_all(creates).await;

    wait_for(
        "a status write for each Rollout",
        Duration::from_secs(60),
        || async {
            let mut first: BTreeMap<String, SystemTime> = BTreeMap::new();
            for request in backend.requests_since(&mark).await {
                if request.identity == IDENTITY
                    && request.resource == "rollouts"
                    && request.subresource == "status"
                    && request.is_write()
                {
                    first.entry(request.name).or_insert(request.received);
                }
            }
            (first.len() == ROLLOUTS).then(|| {
                let mut times: Vec<SystemTime> = first.into_values().collect();
                times.sort();
                times
            })
        },
    )
    .await
}

/// The time between the first and the last of `times` (sorted).
fn spread(times: &[SystemTime]) -> Duration {
    match (times.first(), times.last()) {
        (Some(first), Some(last)) => last.duration_since(*first).unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_honours_concurrency() {
    kulta_controller::cli::install_crypto_provider();
    let one_at_a_time = first_status_writes(1).await;
    for pair in one_at_a_time.windows(2) {
        let gap = pair[1].duration_since(pair[0]).unwrap_or_default();
        assert!(
            gap >= SLOW_WRITE,
            "with --concurrency 1 a reconcile starts after the previous one's status write \
             ({SLOW_WRITE:?}) returned; two arrived {gap:?} apart: {one_at_a_time:?}"
        );
    }
    // The other way round, so that the test sees the flag and not something else serialising
    // the reconciles: four slots, four status writes in flight together.
    let together = first_status_writes(4).await;
    assert!(
        spread(&together) < SLOW_WRITE,
        "with --concurrency 4 the four first status writes are in flight together; they spread \
         over {:?}: {together:?}",
        spread(&together)
    );
}
