//! Shared set-up of the controller's integration tests: the sandbox demo on kulta-sim or, when
//! `KULTA_TEST_CLUSTER` names one, in a fresh namespace of the real control plane.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use kulta_api::{Phase, Rollout};
use kulta_controller::Controller;
use kulta_controller::runtime::leader::LeaseTimings;
use kulta_controller::runtime::{self, Exit, Handles, LeaderElection, RuntimeOptions};
pub use kulta_test_support::wait_for;
use kulta_test_support::{Backend, Request, RequestMark};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The name of the Lease the controller elects its leader with (deploy/'s default).
pub const LEASE: &str = "kulta-controller";

/// A backend with the CRDs and the sandbox demo (Services, Gateway, HTTPRoute, Rollout `demo`)
/// in its namespace.
pub async fn demo_cluster() -> Backend {
    kulta_controller::cli::install_crypto_provider();
    let backend = Backend::start(|builder| builder).await;
    if let Some(sim) = backend.sim() {
        sim.knobs().set_pod_ready_delay(Duration::from_millis(20));
    }
    backend.install_gateway_api().await;
    backend.install_crds(&kulta_api::crd::all_crds()).await;
    let client = backend.client();
    for mut document in
        kulta::sandbox::parse_manifests(kulta::sandbox::DEFAULT_EXAMPLE).expect("demo")
    {
        // The example names `default`; the test's objects live in its own namespace.
        if let Some(metadata) = document["metadata"].as_object_mut() {
            metadata.remove("namespace");
        }
        kulta::sandbox::apply_document(&client, &document, backend.namespace())
            .await
            .expect("apply");
    }
    backend
}

/// Grants the controller's ServiceAccount the leader-election Role of deploy/ in the test's
/// namespace, as the manifests grant it in theirs: the same rules (create any Lease; get and
/// update only the Lease [`LEASE`]), bound by the same RoleBinding. Nothing to do on kulta-sim,
/// which does not authorize.
pub async fn grant_leader_election(backend: &Backend) {
    if !backend.is_real() {
        return;
    }
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kustomize/base");
    for (file, plural) in [
        ("role-leader-election.yaml", "roles"),
        ("rolebinding-leader-election.yaml", "rolebindings"),
    ] {
        let text = std::fs::read_to_string(base.join(file)).expect(file);
        let mut object: Value = serde_saphyr::from_str(&text).expect(file);
        object["metadata"]["namespace"] = backend.namespace().into();
        let kind = object["kind"].as_str().expect("kind").to_string();
        let resource = ApiResource {
            group: "rbac.authorization.k8s.io".into(),
            version: "v1".into(),
            api_version: "rbac.authorization.k8s.io/v1".into(),
            kind,
            plural: plural.into(),
        };
        let name = object["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_string();
        let api: Api<DynamicObject> =
            Api::namespaced_with(backend.client(), backend.namespace(), &resource);
        api.patch(
            &name,
            &PatchParams::apply("kulta-tests").force(),
            &Patch::Apply(&object),
        )
        .await
        .unwrap_or_else(|error| panic!("apply {file}: {error}"));
    }
}

/// An operator runtime (`kulta run` in process).
pub struct Instance {
    pub task: JoinHandle<Result<Exit, runtime::RuntimeError>>,
    pub shutdown: CancellationToken,
    pub address: SocketAddr,
    pub handles: Handles,
}

/// Starts the operator runtime as `identity`. On the real control plane it watches only the
/// test's namespace (other tests share the cluster); on kulta-sim, every namespace, as deployed.
pub async fn start(backend: &Backend, identity: &str, election: Option<LeaseTimings>) -> Instance {
    let client = backend.client_as(identity).await;
    let watched = backend.is_real().then(|| backend.namespace().to_string());
    let shutdown = CancellationToken::new();
    let handles = Handles::default();
    let options = RuntimeOptions {
        admin_address: "127.0.0.1:0".parse().expect("address"),
        leader_election: election.map(|timings| LeaderElection {
            namespace: backend.namespace().into(),
            name: LEASE.into(),
            identity: identity.into(),
            timings,
        }),
        shutdown_grace: Duration::from_secs(5),
    };
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(runtime::run(
        runtime::Clients::single(client),
        move |client| Controller::builder(client).namespace(watched.clone()),
        options,
        handles.clone(),
        shutdown.clone(),
        Some(bound_tx),
    ));
    let address = bound_rx.await.expect("admin server bound");
    Instance {
        task,
        shutdown,
        address,
        handles,
    }
}

/// The Rollout `demo` once Healthy at its current generation.
pub async fn healthy(backend: &Backend) -> Option<Rollout> {
    let rollout = Api::<Rollout>::namespaced(backend.client(), backend.namespace())
        .get_opt("demo")
        .await
        .ok()??;
    let status = rollout.status.as_ref()?;
    (status.phase == Some(Phase::Healthy)
        && status.observed_generation == rollout.metadata.generation)
        .then_some(rollout.clone())
}

/// The requests of `identity` since `mark` that change state, leases left out when `leases`
/// is false.
pub async fn writes_of(
    backend: &Backend,
    mark: &RequestMark,
    identity: &str,
    leases: bool,
) -> Vec<Request> {
    backend
        .requests_since(mark)
        .await
        .into_iter()
        .filter(|request| request.identity == identity && request.is_write())
        .filter(|request| leases || request.resource != "leases")
        .collect()
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
