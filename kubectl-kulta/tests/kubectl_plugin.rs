//! End-to-end through real kubectl plugin discovery: the built `kubectl-kulta` is put on `PATH`
//! (a symlink in a temporary directory) and run as `kubectl kulta ...` against a backend with
//! the Rollout CRD installed: its own kulta-sim, or a fresh namespace of the real control plane
//! when `KULTA_TEST_CLUSTER` names one (see [`kulta_test_support::Backend`]). kubectl gets the
//! administrator's kubeconfig with the test's namespace as its context's namespace, so a command
//! without `-n` acts there, as it does for a person whose context names a namespace. No KULTA
//! controller runs: each test writes the Rollout's status itself (the status subresource), as
//! the controller would.
//!
//! kubectl is found through `$KUBECTL`, `$KULTA_TOOLS_DIR/bin/kubectl` or
//! `<workspace>/.tools/bin/kubectl` (installed by `scripts/kube-tools.sh`). Without it each test
//! prints `kubectl plugin suite NOT RUN: kubectl not found` and returns, unless
//! `KULTA_REQUIRE_KUBECTL=1` (CI), which turns the absence into a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{Cluster, Context, Kubeconfig, NamedCluster, NamedContext};
use kulta_api::Rollout;
use kulta_api::steps::{pause, pause_indefinitely, set_weight};
use kulta_api::testing::RolloutBuilder;
use kulta_test_support::Backend;
use kulta_test_support::kubectl::{self, Outcome};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// A backend with the Rollout CRD, kubectl, a kubeconfig for it, and a PATH on which kubectl
/// finds the plugin.
struct Harness {
    backend: Backend,
    kubectl: PathBuf,
    dir: tempfile::TempDir,
    path: OsString,
    /// The administrator's kubeconfig, its current context's namespace the test's.
    kubeconfig: PathBuf,
}

impl Harness {
    /// Starts the backend, or returns `None` (after saying so) when kubectl is absent.
    async fn start() -> Option<Harness> {
        let kubectl = kulta_test_support::kubectl_for("kubectl plugin suite")?;
        let backend = Backend::start(|builder| builder).await;
        backend.install_crds(&[kulta_api::crd::rollout_crd()]).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin dir");
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_kubectl-kulta"),
            bin.join("kubectl-kulta"),
        )
        .expect("plugin symlink");
        let mut paths = vec![bin];
        paths.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let path = std::env::join_paths(paths).expect("PATH");
        let mut kubeconfig = admin_kubeconfig(&backend);
        current_context(&mut kubeconfig).namespace = Some(backend.namespace().to_string());
        let kubeconfig = write_kubeconfig(dir.path(), "kubeconfig", &kubeconfig);
        Some(Harness {
            backend,
            kubectl,
            dir,
            path,
            kubeconfig,
        })
    }

    /// The test's namespace: where commands without `-n` act.
    fn namespace(&self) -> &str {
        self.backend.namespace()
    }

    fn rollouts(&self, namespace: &str) -> Api<Rollout> {
        Api::namespaced(self.backend.client(), namespace)
    }

    /// `kubectl kulta <args>` with `--kubeconfig` pointing at the backend (appended after the
    /// arguments, where a user would type it last).
    fn command(&self, args: &[&str]) -> Command {
        let mut command = self.bare_command(args);
        command.arg("--kubeconfig").arg(&self.kubeconfig);
        command
    }

    /// `kubectl kulta <args>` with no kubeconfig flag; `KUBECONFIG` is unset.
    fn bare_command(&self, args: &[&str]) -> Command {
        let mut command = kubectl::command(&self.kubectl, self.dir.path());
        command.arg("kulta").args(args).env("PATH", &self.path);
        command
    }

    async fn run(&self, args: &[&str]) -> Outcome {
        kubectl::run(self.command(args), None).await
    }

    /// Runs and fails the test unless it exits 0; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let outcome = self.run(args).await;
        assert_eq!(
            outcome.code,
            Some(0),
            "kubectl kulta {args:?}: {outcome:#?}"
        );
        outcome.stdout
    }

    /// Creates a Rollout and writes `status` (with `observedGeneration` of the created object
    /// unless `status` sets it) through the status subresource, as the controller would.
    async fn rollout(&self, rollout: Rollout, status: Value) -> Rollout {
        let namespace = rollout.metadata.namespace.clone().expect("a namespace");
        let api = self.rollouts(&namespace);
        let created = api
            .create(&PostParams::default(), &rollout)
            .await
            .expect("rollout created");
        self.status(&namespace, &created, status).await
    }

    async fn status(&self, namespace: &str, rollout: &Rollout, mut status: Value) -> Rollout {
        let name = rollout.metadata.name.clone().unwrap_or_default();
        if status.get("observedGeneration").is_none() {
            status["observedGeneration"] = json!(rollout.metadata.generation.unwrap_or(1));
        }
        self.rollouts(namespace)
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await
            .expect("status written")
    }

    async fn annotations(&self, name: &str) -> BTreeMap<String, String> {
        self.rollouts(self.namespace())
            .get(name)
            .await
            .expect("rollout read")
            .metadata
            .annotations
            .unwrap_or_default()
    }

    /// The value of annotation `key` of Rollout `name` in the test's namespace.
    async fn annotation(&self, name: &str, key: &str) -> Option<String> {
        self.annotations(name).await.get(key).cloned()
    }
}

/// The backend's administrator kubeconfig.
fn admin_kubeconfig(backend: &Backend) -> Kubeconfig {
    let path = backend.admin_kubeconfig();
    Kubeconfig::read_from(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

/// The context `current-context` names.
fn current_context(kubeconfig: &mut Kubeconfig) -> &mut Context {
    let name = kubeconfig
        .current_context
        .clone()
        .expect("a current context");
    kubeconfig
        .contexts
        .iter_mut()
        .find(|context| context.name == name)
        .and_then(|context| context.context.as_mut())
        .unwrap_or_else(|| panic!("context {name} in the kubeconfig"))
}

/// Writes `kubeconfig` to `dir/name` (as JSON, which is YAML) and returns its path.
fn write_kubeconfig(dir: &Path, name: &str, kubeconfig: &Kubeconfig) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(kubeconfig).expect("kubeconfig JSON"),
    )
    .expect("kubeconfig written");
    path
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({
        "type": type_, "status": status, "reason": reason, "message": message,
        "lastTransitionTime": "2026-01-01T00:00:00Z"
    })
}

fn healthy() -> Value {
    json!({
        "phase": "Healthy",
        "message": "revision abc123 is stable and receives all traffic",
        "stableRevision": "abc123",
        "conditions": [condition("Ready", "True", "RolloutComplete", "revision abc123 is stable")]
    })
}

fn degraded() -> Value {
    json!({
        "phase": "Degraded",
        "message": "aborted: traffic is on stable revision abc123",
        "conditions": [
            condition("Ready", "False", "RolloutAborted", "aborted"),
            condition("Aborted", "True", "UserAbort", "aborted by kulta.io/abort=true"),
        ]
    })
}

fn progressing() -> Value {
    json!({
        "phase": "Progressing",
        "message": "step 1 of 2: waiting for the canary to have 1 available pods (0 now)",
        "currentStepIndex": 0,
        "canaryWeight": 0,
        "desiredCanaryWeight": 20,
    })
}

/// Rollout `name` in the test's namespace with two steps: setWeight 20, pause.
fn two_steps(harness: &Harness, name: &str) -> Rollout {
    RolloutBuilder::new(name)
        .namespace(harness.namespace())
        .steps([set_weight(20), pause_indefinitely()])
        .build()
}

#[tokio::test]
async fn status_exit_codes_for_healthy_degraded_and_timeout() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    harness
        .rollout(two_steps(&harness, "good"), healthy())
        .await;
    harness
        .rollout(two_steps(&harness, "bad"), degraded())
        .await;
    harness
        .rollout(two_steps(&harness, "slow"), progressing())
        .await;
    // Healthy, but for an older generation: not decided, so a timeout.
    harness
        .rollout(two_steps(&harness, "stale"), {
            let mut status = healthy();
            status["observedGeneration"] = json!(0);
            status
        })
        .await;

    let (good, bad, slow, stale, missing) = tokio::join!(
        harness.run(&["status", "good", "--timeout", "3s"]),
        harness.run(&["status", "bad", "--timeout", "3s"]),
        harness.run(&["status", "slow", "--timeout", "3s"]),
        harness.run(&["status", "stale", "--timeout", "3s"]),
        harness.run(&["status", "missing", "--timeout", "3s"]),
    );

    assert_eq!(good.code, Some(0), "{good:#?}");
    assert!(
        good.stdout
            .contains("rollout \"good\" (generation 1) is Healthy: revision abc123"),
        "{good:#?}"
    );

    assert_eq!(bad.code, Some(1), "{bad:#?}");
    assert!(
        bad.stderr
            .contains("is Degraded: aborted: traffic is on stable revision abc123"),
        "{bad:#?}"
    );
    assert!(
        bad.stderr.contains(
            "failing condition: Aborted=True (UserAbort): aborted by kulta.io/abort=true"
        ),
        "{bad:#?}"
    );

    assert_eq!(slow.code, Some(2), "{slow:#?}");
    assert!(
        slow.stdout.contains(
            "Waiting for rollout \"slow\": Progressing at step 1/2, canary weight 0% (desired 20%): step 1 of 2: waiting"
        ),
        "{slow:#?}"
    );
    assert!(
        slow.stderr
            .contains("error: timed out after 3s waiting for rollout \"slow\""),
        "{slow:#?}"
    );

    assert_eq!(stale.code, Some(2), "{stale:#?}");
    assert!(
        stale
            .stdout
            .contains("waiting for the controller to observe generation 1"),
        "{stale:#?}"
    );

    assert_eq!(missing.code, Some(3), "{missing:#?}");
    let not_found = format!(
        "rollout \"missing\" not found in namespace \"{}\"",
        harness.namespace()
    );
    assert!(missing.stderr.contains(&not_found), "{missing:#?}");
}

#[tokio::test]
async fn status_follows_the_rollout_until_it_becomes_healthy() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    let rollout = harness
        .rollout(two_steps(&harness, "app"), progressing())
        .await;
    let args = ["status", "app", "--timeout", "60s"];
    let mut child = harness.command(&args).spawn().expect("kubectl spawns");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    // The first progress line shows the command is watching; then the "controller" finishes.
    let first = tokio::time::timeout(kubectl::COMMAND_TIMEOUT, lines.next_line())
        .await
        .expect("a progress line in time")
        .expect("stdout readable")
        .expect("a line");
    assert!(
        first.starts_with("Waiting for rollout \"app\": Progressing"),
        "{first}"
    );
    harness
        .status(harness.namespace(), &rollout, healthy())
        .await;
    let status = tokio::time::timeout(kubectl::COMMAND_TIMEOUT, child.wait())
        .await
        .expect("status finished in time")
        .expect("exit status");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn promote_abort_and_retry_set_the_annotations() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    let namespace = harness.namespace();
    harness
        .rollout(
            two_steps(&harness, "app"),
            json!({"phase": "Paused", "currentStepIndex": 1, "canaryWeight": 20}),
        )
        .await;

    let out = harness.ok(&["promote", "app"]).await;
    assert!(
        out.contains("rollout \"app\" promoted: set kulta.io/promote=true"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "kubectl equivalent: kubectl annotate rollout app -n {namespace} kulta.io/promote=true --overwrite"
        )),
        "{out}"
    );
    assert_eq!(
        harness
            .annotation("app", "kulta.io/promote")
            .await
            .as_deref(),
        Some("true")
    );

    let out = harness.ok(&["promote", "app", "--full"]).await;
    assert!(out.contains("set kulta.io/promote=full"), "{out}");
    assert_eq!(
        harness
            .annotation("app", "kulta.io/promote")
            .await
            .as_deref(),
        Some("full")
    );

    let out = harness.ok(&["abort", "app"]).await;
    assert!(
        out.contains("rollout \"app\" aborted: set kulta.io/abort=true"),
        "{out}"
    );
    assert_eq!(
        harness.annotation("app", "kulta.io/abort").await.as_deref(),
        Some("true")
    );

    // Retry on a rollout that is not Degraded is set, with a note that it will be ignored.
    let outcome = harness.run(&["retry", "app"]).await;
    assert_eq!(outcome.code, Some(0), "{outcome:#?}");
    assert!(
        outcome.stderr.contains("note: the rollout is not Degraded"),
        "{outcome:#?}"
    );
    assert_eq!(
        harness.annotation("app", "kulta.io/retry").await.as_deref(),
        Some("true")
    );

    let missing = harness.run(&["promote", "nope", "-n", namespace]).await;
    assert_eq!(missing.code, Some(3), "{missing:#?}");
    assert!(
        missing.stderr.contains(&format!(
            "error: rollout \"nope\" not found in namespace \"{namespace}\""
        )),
        "{missing:#?}"
    );
}

#[tokio::test]
async fn set_image_changes_the_template() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    let namespace = harness.namespace();
    harness.rollout(two_steps(&harness, "app"), healthy()).await;

    let out = harness.ok(&["set", "image", "app", "app=nginx:1.27"]).await;
    assert!(
        out.contains("rollout \"app\" container \"app\" image updated: nginx:1.25 -> nginx:1.27"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "kubectl equivalent: kubectl patch rollout app -n {namespace} --type json"
        )),
        "{out}"
    );
    let rollout = harness
        .rollouts(namespace)
        .get("app")
        .await
        .expect("read back");
    let image = rollout
        .spec
        .template
        .raw()
        .pointer("/spec/containers/0/image")
        .and_then(serde_json::Value::as_str);
    assert_eq!(image, Some("nginx:1.27"));
    assert_eq!(
        rollout.metadata.generation,
        Some(2),
        "a template change is a new generation"
    );

    let wrong = harness
        .run(&["set", "image", "app", "web=nginx:1.27"])
        .await;
    assert_eq!(wrong.code, Some(3), "{wrong:#?}");
    assert!(
        wrong
            .stderr
            .contains("rollout \"app\" has no container \"web\"; its containers are: app"),
        "{wrong:#?}"
    );
}

#[tokio::test]
async fn list_and_get_show_the_rollouts() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    let namespace = harness.namespace();
    let shop = harness.backend.create_namespace("shop").await;
    harness.rollout(two_steps(&harness, "app"), healthy()).await;
    harness
        .rollout(
            RolloutBuilder::new("checkout")
                .namespace(&shop)
                .replicas(2)
                .steps([set_weight(20), pause(Some("10m")), set_weight(50)])
                .build(),
            json!({
                "phase": "Paused",
                "message": "step 2 of 3: paused",
                "currentStepIndex": 1,
                "canaryWeight": 20,
                "desiredCanaryWeight": 20,
                "stableRevision": "aaa111",
                "canaryRevision": "bbb222",
                "pauseStartTime": chrono::Utc::now().to_rfc3339(),
                "readyReplicas": 3,
                "conditions": [condition("Paused", "True", "Timed", "step 2 of 3: paused")]
            }),
        )
        .await;
    // The canary's ReplicaSet, as the controller names and labels it.
    let replica_sets: Api<ReplicaSet> = Api::namespaced(harness.backend.client(), &shop);
    let canary: ReplicaSet = serde_json::from_value(json!({
        "metadata": {
            "name": "checkout-bbb222",
            "labels": {"kulta.io/rollout": "checkout", "pod-template-hash": "bbb222"},
            "annotations": {"kulta.io/revision": "2"}
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "checkout", "pod-template-hash": "bbb222"}},
            "template": {
                "metadata": {"labels": {"app": "checkout", "pod-template-hash": "bbb222"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
            }
        }
    }))
    .expect("replica set");
    replica_sets
        .create(&PostParams::default(), &canary)
        .await
        .expect("replica set created");
    // An event about the Rollout, as the controller publishes it.
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(harness.backend.client(), &shop);
    let event: k8s_openapi::api::events::v1::Event = serde_json::from_value(json!({
        "metadata": {"name": "checkout.1"},
        "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "reportingController": "kulta.io/controller",
        "reportingInstance": "kulta-controller-0",
        "action": "Reconcile",
        "reason": "StepCompleted",
        "note": "step 1 of 3 completed: setWeight 20",
        "type": "Normal",
        "regarding": {"apiVersion": "kulta.io/v1alpha1", "kind": "Rollout", "name": "checkout", "namespace": shop}
    }))
    .expect("event");
    events
        .create(&PostParams::default(), &event)
        .await
        .expect("event created");

    // list -A, with the kubeconfig from KUBECONFIG rather than a flag.
    let mut command = harness.bare_command(&["list", "-A"]);
    command.env("KUBECONFIG", &harness.kubeconfig);
    let all = kubectl::run(command, None).await;
    assert_eq!(all.code, Some(0), "{all:#?}");
    // A real cluster is shared: other tests' Rollouts are listed too. This test's rows are
    // those of its two namespaces.
    let mut lines = all.stdout.lines();
    let header = lines.next().unwrap_or_default();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        [
            "NAMESPACE",
            "NAME",
            "PHASE",
            "STEP",
            "CANARY-WEIGHT",
            "READY",
            "AGE"
        ],
        "{all:#?}"
    );
    let rows: Vec<Vec<&str>> = lines
        .map(|line| line.split_whitespace().take(6).collect::<Vec<_>>())
        .filter(|row| {
            row.first()
                .is_some_and(|ns| *ns == namespace || *ns == shop)
        })
        .collect();
    assert_eq!(
        rows,
        [
            vec![namespace, "app", "Healthy", "-/2", "-", "0/1"],
            vec![shop.as_str(), "checkout", "Paused", "2/3", "20", "3/2"],
        ],
        "{all:#?}"
    );

    // -n before the subcommand, as kubectl users type it.
    let listed = harness.ok(&["-n", &shop, "list"]).await;
    assert!(listed.starts_with("NAME "), "{listed}");
    assert!(
        listed.contains("checkout") && !listed.contains("app "),
        "{listed}"
    );

    let view = harness
        .ok(&["get", "rollout", "checkout", "-n", &shop])
        .await;
    let namespace_line = format!("Namespace:   {shop}\n");
    for expected in [
        "Name:        checkout\n",
        namespace_line.as_str(),
        "Strategy:    canary, router gatewayAPI (HTTPRoute checkout-route)\n",
        "Phase:       Paused\n",
        "Step:        2 of 3: pause 10m\n",
        "Weights:     stable 80%, canary 20% (verified)\n",
        "  ->  2. pause 10m\n",
        "StepCompleted",
        "step 1 of 3 completed: setWeight 20",
    ] {
        assert!(view.contains(expected), "missing {expected:?} in:\n{view}");
    }
    assert!(view.contains("remaining (until "), "{view}");
    let canary_row = view
        .lines()
        .find(|line| line.trim_start().starts_with("canary "))
        .unwrap_or_else(|| panic!("no canary revision row in:\n{view}"));
    assert!(
        canary_row.contains("checkout-bbb222") && canary_row.contains("nginx:1.27"),
        "{view}"
    );
    // The stable revision has no ReplicaSet in this test; the view says so.
    assert!(view.contains("aaa111   (no ReplicaSet)"), "{view}");

    // `get NAME` and `get rollout/NAME` are the same view.
    let short = harness.ok(&["get", "rollout/checkout", "-n", &shop]).await;
    assert!(short.contains("Name:        checkout"), "{short}");

    let missing = harness.run(&["get", "rollout", "nope"]).await;
    assert_eq!(missing.code, Some(3), "{missing:#?}");
    assert!(
        missing.stderr.contains(&format!(
            "rollout \"nope\" not found in namespace \"{namespace}\""
        )),
        "{missing:#?}"
    );
}

#[tokio::test]
async fn context_and_its_namespace_come_from_the_kubeconfig() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    let shop = harness.backend.create_namespace("shop").await;
    harness
        .rollout(
            RolloutBuilder::new("checkout").namespace(&shop).build(),
            healthy(),
        )
        .await;
    // current-context "broken" points at nothing; context "target" at the backend, with the
    // administrator's credentials and namespace `shop`.
    let mut kubeconfig = admin_kubeconfig(&harness.backend);
    let admin = current_context(&mut kubeconfig).clone();
    kubeconfig.clusters.push(NamedCluster {
        name: "nowhere".to_string(),
        cluster: Some(Cluster {
            server: Some("http://127.0.0.1:9".to_string()),
            ..Cluster::default()
        }),
        ..NamedCluster::default()
    });
    kubeconfig.contexts = vec![
        NamedContext {
            name: "target".to_string(),
            context: Some(Context {
                namespace: Some(shop.clone()),
                ..admin.clone()
            }),
            ..NamedContext::default()
        },
        NamedContext {
            name: "broken".to_string(),
            context: Some(Context {
                cluster: "nowhere".to_string(),
                user: admin.user,
                ..Context::default()
            }),
            ..NamedContext::default()
        },
    ];
    kubeconfig.current_context = Some("broken".to_string());
    let path = write_kubeconfig(harness.dir.path(), "multi-kubeconfig", &kubeconfig);
    let path = path.to_string_lossy().into_owned();

    let mut command = harness.bare_command(&["--kubeconfig", &path, "--context", "target", "list"]);
    command.env_remove("KUBECONFIG");
    let listed = kubectl::run(command, None).await;
    assert_eq!(listed.code, Some(0), "{listed:#?}");
    assert!(listed.stdout.contains("checkout"), "{listed:#?}");

    let unknown = kubectl::run(
        harness.bare_command(&["--kubeconfig", &path, "--context", "nope", "list"]),
        None,
    )
    .await;
    assert_eq!(unknown.code, Some(3), "{unknown:#?}");
    assert!(
        unknown.stderr.contains("unable to load kubeconfig from"),
        "{unknown:#?}"
    );
}

#[tokio::test]
async fn get_watch_prints_a_block_per_change() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    let rollout = harness
        .rollout(two_steps(&harness, "app"), progressing())
        .await;
    let args = ["get", "rollout", "app", "--watch"];
    let mut child = harness.command(&args).spawn().expect("kubectl spawns");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    assert_eq!(next_phase(&mut lines).await, "Progressing");
    harness
        .status(harness.namespace(), &rollout, healthy())
        .await;
    assert_eq!(next_phase(&mut lines).await, "Healthy");
    child.kill().await.expect("watch stopped");
}

/// The value of the next `Phase:` line of a `get --watch` output.
async fn next_phase(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) -> String {
    loop {
        let line = tokio::time::timeout(kubectl::COMMAND_TIMEOUT, lines.next_line())
            .await
            .expect("a line in time")
            .expect("stdout readable")
            .expect("watch still running");
        if let Some(phase) = line.strip_prefix("Phase:") {
            return phase.trim().to_string();
        }
    }
}
