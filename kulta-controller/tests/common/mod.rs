//! Shared set-up of the controller's integration tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kube::Api;
use kulta_api::{Phase, Rollout};
use kulta_sim::Sim;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A sim with the CRDs and the sandbox demo (Services, Gateway, HTTPRoute, Rollout `demo`).
pub async fn demo_cluster() -> Sim {
    kulta_controller::cli::install_crypto_provider();
    let sim = Sim::start().await.expect("sim");
    sim.knobs().set_pod_ready_delay(Duration::from_millis(20));
    let client = sim.client();
    kulta_sim::crds::install(
        &client,
        &kulta_api::crd::all_crds(),
        Duration::from_secs(10),
    )
    .await
    .expect("kulta crds");
    kulta_sim::crds::install_gateway_api(&client)
        .await
        .expect("gateway crds");
    for document in
        kulta_controller::sandbox::parse_manifests(kulta_controller::sandbox::DEFAULT_EXAMPLE)
            .expect("demo")
    {
        kulta_controller::sandbox::apply_document(&client, &document, "default")
            .await
            .expect("apply");
    }
    sim
}

pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub async fn healthy(sim: &Sim) -> Option<Rollout> {
    let rollout = Api::<Rollout>::namespaced(sim.client(), "default")
        .get_opt("demo")
        .await
        .ok()??;
    let status = rollout.status.as_ref()?;
    (status.phase == Some(Phase::Healthy)
        && status.observed_generation == rollout.metadata.generation)
        .then_some(rollout.clone())
}

pub async fn http_get(address: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Some((code, body))
}
