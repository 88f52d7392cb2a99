//! Differential test: the same requests to kulta-sim and to kube-apiserver 1.36, answers
//! compared.
//!
//! Three parts, each sent to both servers: a script of raw HTTP requests (`script.rs`: CRUD of
//! a ConfigMap, the writes KULTA's controller makes, part of the invalid-spec corpus), watch
//! event sequences, and real kubectl commands (`kubectl.rs`). Answers are normalized
//! (`normalize.rs`: values each server picks for itself become markers) and must be equal but
//! for the differences listed in [`ACCEPTED`], each with its reason.
//!
//! # Backends
//! - `KULTA_TEST_CLUSTER` set (`eval "$(scripts/real-cluster.sh env)"`): the script runs against
//!   the real control plane (a fresh namespace, deleted at the end) and a fresh kulta-sim, which
//!   are compared live; the real answers must also equal the golden file
//!   `differential/kube-apiserver-1.36.json`. With `KULTA_RECORD_GOLDEN=1` the golden file is
//!   written from the real answers instead.
//! - Unset (plain `cargo test --workspace`): kulta-sim is compared with the golden file.
//!
//! The kubectl part needs kubectl (as kulta-sim/tests/kubectl.rs finds it); without it that part
//! says `NOT RUN` on stderr, unless `KULTA_REQUIRE_KUBECTL=1` makes its absence a failure.
// Test code: a failed setup is a test failure, so panicking is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The test's own modules live beside it, in differential/ (a test's root file is a crate root,
// so they need their path).
#[path = "differential/fixtures.rs"]
mod fixtures;
#[path = "differential/golden.rs"]
mod golden;
#[path = "differential/kubectl.rs"]
mod kubectl;
#[path = "differential/normalize.rs"]
mod normalize;
#[path = "differential/script.rs"]
mod script;
#[path = "differential/watch.rs"]
mod watch;

use std::path::{Path, PathBuf};
use std::time::Instant;

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use kube::client::Body;
use kulta_sim::Sim;
use kulta_test_support::{Backend, real_cluster_dir};
use serde_json::{Value, json};

use normalize::{Difference, Names};

/// The golden file: kube-apiserver's normalized answers.
const GOLDEN: &str = "tests/differential/kube-apiserver-1.36.json";
/// Set to `1` (with `KULTA_TEST_CLUSTER`) to write the golden file from the real answers.
const RECORD_ENV: &str = "KULTA_RECORD_GOLDEN";
/// How to re-record the golden file.
const RECORD_HOW: &str = "eval \"$(scripts/real-cluster.sh env)\" && KULTA_RECORD_GOLDEN=1 \
     cargo test -p kulta-tests --test differential";

/// A difference from kube-apiserver 1.36 that kulta-sim keeps on purpose (also listed in
/// kulta-sim/README.md, "Differences from kube-apiserver 1.36").
struct Accepted {
    /// The answers it applies to: a script step's id, `watch:<id>`, `kubectl:<id>`; a trailing
    /// `*` matches any answer whose key starts with what precedes it (`*` alone: every answer).
    key: &'static str,
    /// A JSON pointer into the normalized answer; the difference may be there or below.
    pointer: &'static str,
    /// Why it is accepted.
    why: &'static str,
}

impl Accepted {
    fn covers(&self, key: &str, pointer: &str) -> bool {
        let key_matches = match self.key.strip_suffix('*') {
            Some(prefix) => key.starts_with(prefix),
            None => key == self.key,
        };
        key_matches && under(pointer, self.pointer)
    }
}

const EVENT_DEPRECATED_FIELDS: &str = "kube-apiserver encodes the empty deprecated fields of an \
    events.k8s.io/v1 Event (Go structs and zero Times: {} and null); kulta-sim leaves them out, \
    which every client decodes the same";

/// Every accepted difference. An entry that no longer matches any difference fails the test:
/// remove it (and its README line) when kulta-sim is fixed.
const ACCEPTED: &[Accepted] = &[
    Accepted {
        key: "*",
        pointer: "/object/metadata/managedFields",
        why: "kulta-sim records no managedFields (server-side apply is approximated without \
              field ownership); KULTA's controller never reads them",
    },
    Accepted {
        key: "event-*",
        pointer: "/object/deprecatedFirstTimestamp",
        why: EVENT_DEPRECATED_FIELDS,
    },
    Accepted {
        key: "event-*",
        pointer: "/object/deprecatedLastTimestamp",
        why: EVENT_DEPRECATED_FIELDS,
    },
    Accepted {
        key: "event-*",
        pointer: "/object/deprecatedSource",
        why: EVENT_DEPRECATED_FIELDS,
    },
    Accepted {
        key: "rollout-add-finalizer-while-deleting",
        pointer: "/status/details/causes",
        why: "kube-apiserver lists the forbidden-finalizer cause twice (the registry's common \
              metadata check and the kind's own update validation both report it; the message \
              lists identical errors once); kulta-sim lists it once",
    },
];

/// One answer of one server: which request, how it is shown, the normalized answer.
#[derive(Clone)]
struct Entry {
    key: String,
    request: String,
    answer: Value,
}

/// A server under test: its admin client, namespace and admin kubeconfig.
struct Server {
    name: &'static str,
    client: Client,
    namespace: String,
    kubeconfig: PathBuf,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kulta_sim_answers_as_kube_apiserver_1_36_does() {
    let golden_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    let record = std::env::var(RECORD_ENV).as_deref() == Ok("1");
    let kubectl = kulta_test_support::kubectl_for("differential kubectl part");
    assert!(
        kubectl.is_some() || !record,
        "recording the golden file needs kubectl"
    );
    let started = Instant::now();
    let mut failures = Vec::new();
    match real_cluster_dir() {
        Some(_) => {
            let backend = Backend::start(|builder| builder).await;
            assert!(
                backend.is_real(),
                "KULTA_TEST_CLUSTER names the real control plane"
            );
            let _cleanup = NamespaceCleanup {
                kubeconfig: backend.admin_kubeconfig(),
                namespace: backend.namespace().to_string(),
            };
            backend.install_gateway_api().await;
            backend.install_crds(&kulta_api::crd::all_crds()).await;
            let real = Server {
                name: "kube-apiserver",
                client: backend.client(),
                namespace: backend.namespace().to_string(),
                kubeconfig: backend.admin_kubeconfig(),
            };
            let (sim, sim_server) = start_sim(backend.namespace()).await;
            let (real_entries, sim_entries) = tokio::join!(
                run_all(&real, kubectl.as_deref()),
                run_all(&sim_server, kubectl.as_deref())
            );
            let version = server_version(&real.client).await;
            failures.extend(compare(&sim_entries, &real_entries, "kube-apiserver"));
            if record {
                std::fs::write(&golden_path, golden::text(&version, &real_entries))
                    .unwrap_or_else(|error| panic!("write {}: {error}", golden_path.display()));
                eprintln!("recorded {}", golden_path.display());
            } else {
                let (golden_version, golden) = golden::read(&golden_path);
                failures.extend(golden::check(
                    &version,
                    &real_entries,
                    &golden_version,
                    &golden,
                    kubectl.is_some(),
                ));
            }
            sim.shutdown().await;
        }
        None => {
            assert!(
                !record,
                "{RECORD_ENV}=1 records kube-apiserver's answers: set KULTA_TEST_CLUSTER too"
            );
            let (golden_version, golden) = golden::read(&golden_path);
            let (sim, sim_server) = start_sim("e2e-differential").await;
            let sim_entries = run_all(&sim_server, kubectl.as_deref()).await;
            let golden: Vec<Entry> = golden
                .into_iter()
                .filter(|entry| kubectl.is_some() || !entry.key.starts_with("kubectl:"))
                .collect();
            failures.extend(golden::missing(&sim_entries, &golden, &golden_version));
            failures.extend(compare(&sim_entries, &golden, "kube-apiserver (recorded)"));
            sim.shutdown().await;
        }
    }
    eprintln!("differential test took {:?}", started.elapsed());
    assert!(
        failures.is_empty(),
        "kulta-sim differs from kube-apiserver 1.36:\n\n{}",
        failures.join("\n\n")
    );
}

/// A fresh kulta-sim with the Rollout and Gateway API CRDs and namespace `namespace`.
async fn start_sim(namespace: &str) -> (Sim, Server) {
    let sim = Sim::builder()
        .gateway_api()
        .crds(kulta_api::crd::all_crds())
        .start()
        .await
        .expect("sim starts with the Gateway API and Rollout CRDs");
    let client = sim.client();
    let object: Namespace =
        serde_json::from_value(json!({ "metadata": { "name": namespace } })).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &object)
        .await
        .expect("create the sim's namespace");
    let server = Server {
        name: "kulta-sim",
        client,
        namespace: namespace.to_string(),
        kubeconfig: sim.kubeconfig_path().to_path_buf(),
    };
    (sim, server)
}

/// The script, the watches and (with kubectl) the kubectl commands against `server`.
async fn run_all(server: &Server, kubectl: Option<&Path>) -> Vec<Entry> {
    let mut entries = run_script(server).await;
    entries.extend(watch::run(server).await);
    if let Some(kubectl) = kubectl {
        let scratch = std::env::temp_dir().join(format!(
            "kulta-differential-{}-{}-{}",
            std::process::id(),
            server.name,
            server.namespace
        ));
        std::fs::create_dir_all(&scratch).expect("scratch directory");
        let steps = kubectl::steps();
        let outcomes = kubectl::run(kubectl, &server.kubeconfig, &server.namespace, &scratch).await;
        let _ = std::fs::remove_dir_all(&scratch);
        entries.extend(
            steps
                .iter()
                .zip(outcomes)
                .map(|(step, (id, answer))| Entry {
                    key: format!("kubectl:{id}"),
                    request: kubectl::describe(step),
                    answer,
                }),
        );
    }
    entries
}

/// Sends every step of the script to `server`, in order.
async fn run_script(server: &Server) -> Vec<Entry> {
    let mut names = Names::default();
    names
        .placeholders
        .insert("{ns}".to_string(), server.namespace.clone());
    let mut entries = Vec::new();
    for step in script::script() {
        let path = names.fill(step.path);
        let body = step
            .body
            .as_ref()
            .map(|body| names.fill(&body.to_string()).into_bytes());
        let (code, bytes) = send(&server.client, step.method, &path, step.content_type, body).await;
        if let Ok(object) = serde_json::from_slice::<Value>(&bytes)
            && object["kind"] != "Status"
        {
            names.capture(step.id, &object);
        }
        entries.push(Entry {
            key: step.id.to_string(),
            request: step.describe(),
            answer: normalize::answer(code, &bytes, &names),
        });
    }
    entries
}

/// Sends one raw request through `client` (its authentication, its server) and returns the
/// status code and body.
///
/// The request is built by kube's request builder and then given the method, path and content
/// type of the step: `kube::Client::send` takes an `http::Request`, and this package has no
/// `http` dependency of its own to build one from scratch.
async fn send(
    client: &Client,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Option<Vec<u8>>,
) -> (u16, Vec<u8>) {
    let mut request = kube::core::Request::new(path)
        .create(&PostParams::default(), body.unwrap_or_default())
        .expect("a request");
    *request.method_mut() = method.parse().expect("an HTTP method");
    *request.uri_mut() = path.parse().expect("a request path");
    match content_type {
        Some(content_type) => {
            request.headers_mut().insert(
                "content-type",
                content_type.parse().expect("a content type"),
            );
        }
        None => {
            request.headers_mut().remove("content-type");
        }
    }
    let response = client
        .send(request.map(Body::from))
        .await
        .unwrap_or_else(|error| panic!("{method} {path}: {error}"));
    let code = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect_bytes()
        .await
        .unwrap_or_else(|error| panic!("{method} {path}: reading the body: {error}"));
    (code, bytes.to_vec())
}

/// The server's `gitVersion`.
async fn server_version(client: &Client) -> String {
    let (code, body) = send(client, "GET", "/version", None, None).await;
    assert_eq!(code, 200, "GET /version");
    let version: Value = serde_json::from_slice(&body).expect("a version");
    version["gitVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The differences between kulta-sim's answers and kube-apiserver's (`reference`: live or
/// recorded), less the accepted ones, as readable failures; plus accepted entries that matched
/// nothing.
fn compare(sim: &[Entry], real: &[Entry], reference: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let mut used = vec![false; ACCEPTED.len()];
    for real_entry in real {
        let Some(sim_entry) = sim.iter().find(|entry| entry.key == real_entry.key) else {
            continue;
        };
        let found = normalize::differences(&sim_entry.answer, &real_entry.answer);
        let unexplained: Vec<&Difference> = found
            .iter()
            .filter(|difference| {
                let explained = ACCEPTED
                    .iter()
                    .position(|accepted| accepted.covers(&real_entry.key, &difference.pointer));
                if let Some(index) = explained {
                    used[index] = true;
                }
                explained.is_none()
            })
            .collect();
        if !unexplained.is_empty() {
            let lines: Vec<String> = unexplained
                .iter()
                .map(|difference| format!("  {}", difference.show("kulta-sim", reference)))
                .collect();
            failures.push(format!(
                "{}: {}\n{}\n  kulta-sim answered: {}\n  {reference} answered: {}",
                real_entry.key,
                real_entry.request,
                lines.join("\n"),
                pretty(&sim_entry.answer),
                pretty(&real_entry.answer),
            ));
        }
    }
    for (accepted, used) in ACCEPTED.iter().zip(used) {
        if !used {
            failures.push(format!(
                "accepted difference {} {} no longer occurs: remove it from ACCEPTED and from \
                 kulta-sim/README.md ({})",
                accepted.key, accepted.pointer, accepted.why
            ));
        }
    }
    failures
}

/// Whether `pointer` is `prefix` or below it.
fn under(pointer: &str, prefix: &str) -> bool {
    pointer == prefix
        || (pointer.starts_with(prefix) && pointer.as_bytes().get(prefix.len()) == Some(&b'/'))
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value)
        .unwrap_or_default()
        .replace('\n', "\n    ")
}

/// Deletes the test's namespace on the real control plane when dropped, also when the test
/// panicked: on a thread of its own with a runtime and client of its own (the test's runtime
/// may be unwinding).
struct NamespaceCleanup {
    kubeconfig: PathBuf,
    namespace: String,
}

impl Drop for NamespaceCleanup {
    fn drop(&mut self) {
        let kubeconfig = self.kubeconfig.clone();
        let namespace = self.namespace.clone();
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let config = kube::Config::from_custom_kubeconfig(
                    kube::config::Kubeconfig::read_from(&kubeconfig).ok()?,
                    &Default::default(),
                )
                .await
                .ok()?;
                let client = Client::try_from(config).ok()?;
                Api::<Namespace>::all(client)
                    .delete(&namespace, &DeleteParams::default())
                    .await
                    .ok()
                    .map(drop)
            })
        })
        .join();
        if !matches!(deleted, Ok(Some(()))) {
            eprintln!("unable to delete namespace {}", self.namespace);
        }
    }
}
