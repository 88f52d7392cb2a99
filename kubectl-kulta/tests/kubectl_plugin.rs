//! End-to-end through real kubectl plugin discovery: the built `kubectl-kulta` is put on `PATH`
//! (a symlink in a temporary directory) and run as `kubectl kulta ...` against a kulta-sim with
//! the Rollout CRD installed. No KULTA controller runs: each test writes the Rollout's status
//! itself (the status subresource), as the controller would.
//!
//! kubectl is found through `$KUBECTL`, `$KULTA_TOOLS_DIR/bin/kubectl` or
//! `<workspace>/.tools/bin/kubectl` (installed by `scripts/kube-tools.sh`). Without it each test
//! prints `kubectl plugin suite NOT RUN: kubectl not found` and returns, unless
//! `KULTA_REQUIRE_KUBECTL=1` (CI), which turns the absence into a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kulta_api::Rollout;
use kulta_api::steps::{pause, pause_indefinitely, set_weight};
use kulta_api::testing::RolloutBuilder;
use kulta_sim::Sim;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Longest any one kubectl invocation may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

fn find_kubectl() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os("KUBECTL") {
        candidates.push(PathBuf::from(path));
    }
    if let Some(dir) = std::env::var_os("KULTA_TOOLS_DIR") {
        candidates.push(PathBuf::from(dir).join("bin/kubectl"));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/kubectl"));
    candidates.into_iter().find(|path| path.is_file())
}

/// A sim with the Rollout CRD, kubectl, and a PATH on which kubectl finds the plugin.
struct Harness {
    sim: Sim,
    kubectl: PathBuf,
    dir: tempfile::TempDir,
    path: OsString,
}

/// Exit code and output of one command.
#[derive(Debug)]
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Harness {
    /// Starts the sim, or returns `None` (after saying so) when kubectl is absent.
    async fn start() -> Option<Harness> {
        let Some(kubectl) = find_kubectl() else {
            assert!(
                std::env::var("KULTA_REQUIRE_KUBECTL").as_deref() != Ok("1"),
                "kubectl not found and KULTA_REQUIRE_KUBECTL=1 (run scripts/kube-tools.sh)"
            );
            eprintln!(
                "kubectl plugin suite NOT RUN: kubectl not found (run scripts/kube-tools.sh)"
            );
            return None;
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim = Sim::start().await.expect("sim starts");
        kulta_sim::crds::install(
            &sim.client(),
            &[kulta_api::crd::rollout_crd()],
            Duration::from_secs(10),
        )
        .await
        .expect("Rollout CRD installed");
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
        Some(Harness {
            sim,
            kubectl,
            dir,
            path,
        })
    }

    fn rollouts(&self, namespace: &str) -> Api<Rollout> {
        Api::namespaced(self.sim.client(), namespace)
    }

    /// `kubectl kulta <args>` with `--kubeconfig` pointing at the sim (appended after the
    /// arguments, where a user would type it last).
    fn command(&self, args: &[&str]) -> Command {
        let mut command = self.bare_command(args);
        command.arg("--kubeconfig").arg(self.sim.kubeconfig_path());
        command
    }

    /// `kubectl kulta <args>` with no kubeconfig flag; `KUBECONFIG` is unset.
    fn bare_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.kubectl);
        command
            .arg("kulta")
            .args(args)
            .env("PATH", &self.path)
            .env("HOME", self.dir.path())
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    async fn run(&self, args: &[&str]) -> Outcome {
        finish(self.command(args), args).await
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

    async fn namespace(&self, name: &str) {
        let namespaces: Api<Namespace> = Api::all(self.sim.client());
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .expect("namespace created");
    }

    /// Creates a Rollout and writes `status` (with `observedGeneration` of the created object
    /// unless `status` sets it) through the status subresource, as the controller would.
    async fn rollout(&self, rollout: Rollout, status: Value) -> Rollout {
        let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
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

    async fn annotations(&self, namespace: &str, name: &str) -> BTreeMap<String, String> {
        self.rollouts(namespace)
            .get(name)
            .await
            .expect("rollout read")
            .metadata
            .annotations
            .unwrap_or_default()
    }
}

async fn finish(mut command: Command, args: &[&str]) -> Outcome {
    let child = command.spawn().expect("kubectl spawns");
    let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("kubectl kulta {args:?} did not finish in {COMMAND_TIMEOUT:?}"))
        .expect("kubectl output");
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
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

fn two_steps(name: &str) -> Rollout {
    RolloutBuilder::new(name)
        .steps([set_weight(20), pause_indefinitely()])
        .build()
}

#[tokio::test]
async fn status_exit_codes_for_healthy_degraded_and_timeout() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    harness.rollout(two_steps("good"), healthy()).await;
    harness.rollout(two_steps("bad"), degraded()).await;
    harness.rollout(two_steps("slow"), progressing()).await;
    // Healthy, but for an older generation: not decided, so a timeout.
    harness
        .rollout(two_steps("stale"), {
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
    assert!(
        missing
            .stderr
            .contains("rollout \"missing\" not found in namespace \"default\""),
        "{missing:#?}"
    );
    harness.sim.shutdown().await;
}

#[tokio::test]
async fn status_follows_the_rollout_until_it_becomes_healthy() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    let rollout = harness.rollout(two_steps("app"), progressing()).await;
    let args = ["status", "app", "--timeout", "60s"];
    let mut child = harness.command(&args).spawn().expect("kubectl spawns");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    // The first progress line shows the command is watching; then the "controller" finishes.
    let first = tokio::time::timeout(COMMAND_TIMEOUT, lines.next_line())
        .await
        .expect("a progress line in time")
        .expect("stdout readable")
        .expect("a line");
    assert!(
        first.starts_with("Waiting for rollout \"app\": Progressing"),
        "{first}"
    );
    harness.status("default", &rollout, healthy()).await;
    let status = tokio::time::timeout(COMMAND_TIMEOUT, child.wait())
        .await
        .expect("status finished in time")
        .expect("exit status");
    assert_eq!(status.code(), Some(0));
    harness.sim.shutdown().await;
}

#[tokio::test]
async fn promote_abort_and_retry_set_the_annotations() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    harness
        .rollout(
            two_steps("app"),
            json!({"phase": "Paused", "currentStepIndex": 1, "canaryWeight": 20}),
        )
        .await;

    let out = harness.ok(&["promote", "app"]).await;
    assert!(
        out.contains("rollout \"app\" promoted: set kulta.io/promote=true"),
        "{out}"
    );
    assert!(
        out.contains("kubectl equivalent: kubectl annotate rollout app -n default kulta.io/promote=true --overwrite"),
        "{out}"
    );
    assert_eq!(
        harness
            .annotations("default", "app")
            .await
            .get("kulta.io/promote")
            .map(String::as_str),
        Some("true")
    );

    let out = harness.ok(&["promote", "app", "--full"]).await;
    assert!(out.contains("set kulta.io/promote=full"), "{out}");
    assert_eq!(
        harness
            .annotations("default", "app")
            .await
            .get("kulta.io/promote")
            .map(String::as_str),
        Some("full")
    );

    let out = harness.ok(&["abort", "app"]).await;
    assert!(
        out.contains("rollout \"app\" aborted: set kulta.io/abort=true"),
        "{out}"
    );
    assert_eq!(
        harness
            .annotations("default", "app")
            .await
            .get("kulta.io/abort")
            .map(String::as_str),
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
        harness
            .annotations("default", "app")
            .await
            .get("kulta.io/retry")
            .map(String::as_str),
        Some("true")
    );

    let missing = harness.run(&["promote", "nope", "-n", "default"]).await;
    assert_eq!(missing.code, Some(3), "{missing:#?}");
    assert!(
        missing
            .stderr
            .contains("error: rollout \"nope\" not found in namespace \"default\""),
        "{missing:#?}"
    );
    harness.sim.shutdown().await;
}

#[tokio::test]
async fn set_image_changes_the_template() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    harness.rollout(two_steps("app"), healthy()).await;

    let out = harness.ok(&["set", "image", "app", "app=nginx:1.27"]).await;
    assert!(
        out.contains("rollout \"app\" container \"app\" image updated: nginx:1.25 -> nginx:1.27"),
        "{out}"
    );
    assert!(
        out.contains("kubectl equivalent: kubectl patch rollout app -n default --type json"),
        "{out}"
    );
    let rollout = harness
        .rollouts("default")
        .get("app")
        .await
        .expect("read back");
    let image = rollout
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|pod| pod.containers.first())
        .and_then(|container| container.image.clone());
    assert_eq!(image.as_deref(), Some("nginx:1.27"));
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
    harness.sim.shutdown().await;
}

#[tokio::test]
async fn list_and_get_show_the_rollouts() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    harness.namespace("shop").await;
    harness.rollout(two_steps("app"), healthy()).await;
    harness
        .rollout(
            RolloutBuilder::new("checkout")
                .namespace("shop")
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
    let replica_sets: Api<ReplicaSet> = Api::namespaced(harness.sim.client(), "shop");
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
        Api::namespaced(harness.sim.client(), "shop");
    let event: k8s_openapi::api::events::v1::Event = serde_json::from_value(json!({
        "metadata": {"name": "checkout.1"},
        "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "reportingController": "kulta.io/controller",
        "reportingInstance": "kulta-controller-0",
        "action": "Reconcile",
        "reason": "StepCompleted",
        "note": "step 1 of 3 completed: setWeight 20",
        "type": "Normal",
        "regarding": {"apiVersion": "kulta.io/v1alpha1", "kind": "Rollout", "name": "checkout", "namespace": "shop"}
    }))
    .expect("event");
    events
        .create(&PostParams::default(), &event)
        .await
        .expect("event created");

    // list -A, with the kubeconfig from KUBECONFIG rather than a flag.
    let mut command = harness.bare_command(&["list", "-A"]);
    command.env("KUBECONFIG", harness.sim.kubeconfig_path());
    let all = finish(command, &["list", "-A"]).await;
    assert_eq!(all.code, Some(0), "{all:#?}");
    let lines: Vec<&str> = all.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
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
    assert_eq!(
        lines[1].split_whitespace().take(6).collect::<Vec<_>>(),
        ["default", "app", "Healthy", "-/2", "-", "0/1"],
        "{all:#?}"
    );
    assert_eq!(
        lines[2].split_whitespace().take(6).collect::<Vec<_>>(),
        ["shop", "checkout", "Paused", "2/3", "20", "3/2"],
        "{all:#?}"
    );

    // -n before the subcommand, as kubectl users type it.
    let shop = harness.ok(&["-n", "shop", "list"]).await;
    assert!(shop.starts_with("NAME "), "{shop}");
    assert!(
        shop.contains("checkout") && !shop.contains("app "),
        "{shop}"
    );

    let view = harness
        .ok(&["get", "rollout", "checkout", "-n", "shop"])
        .await;
    for expected in [
        "Name:        checkout\n",
        "Namespace:   shop\n",
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
    let short = harness.ok(&["get", "rollout/checkout", "-n", "shop"]).await;
    assert!(short.contains("Name:        checkout"), "{short}");

    let missing = harness.run(&["get", "rollout", "nope"]).await;
    assert_eq!(missing.code, Some(3), "{missing:#?}");
    assert!(
        missing
            .stderr
            .contains("rollout \"nope\" not found in namespace \"default\""),
        "{missing:#?}"
    );
    harness.sim.shutdown().await;
}

#[tokio::test]
async fn context_and_its_namespace_come_from_the_kubeconfig() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    harness.namespace("shop").await;
    harness
        .rollout(
            RolloutBuilder::new("checkout").namespace("shop").build(),
            healthy(),
        )
        .await;
    // current-context points at nothing; context "sim" at the sim with namespace "shop".
    let server = format!("http://{}", harness.sim.address());
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: broken\n\
         clusters:\n- name: sim\n  cluster:\n    server: {server}\n\
         - name: nowhere\n  cluster:\n    server: http://127.0.0.1:9\n\
         contexts:\n- name: sim\n  context:\n    cluster: sim\n    user: admin\n    namespace: shop\n\
         - name: broken\n  context:\n    cluster: nowhere\n    user: admin\n\
         users:\n- name: admin\n  user:\n    token: admin\n"
    );
    let path = harness.dir.path().join("multi-kubeconfig");
    std::fs::write(&path, kubeconfig).expect("kubeconfig written");
    let path = path.to_string_lossy().into_owned();

    let mut command = harness.bare_command(&["--kubeconfig", &path, "--context", "sim", "list"]);
    command.env_remove("KUBECONFIG");
    let listed = finish(command, &["list"]).await;
    assert_eq!(listed.code, Some(0), "{listed:#?}");
    assert!(listed.stdout.contains("checkout"), "{listed:#?}");

    let unknown = finish(
        harness.bare_command(&["--kubeconfig", &path, "--context", "nope", "list"]),
        &["list"],
    )
    .await;
    assert_eq!(unknown.code, Some(3), "{unknown:#?}");
    assert!(
        unknown.stderr.contains("unable to load kubeconfig from"),
        "{unknown:#?}"
    );
    harness.sim.shutdown().await;
}

#[tokio::test]
async fn get_watch_prints_a_block_per_change() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    let rollout = harness.rollout(two_steps("app"), progressing()).await;
    let args = ["get", "rollout", "app", "--watch"];
    let mut child = harness.command(&args).spawn().expect("kubectl spawns");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    assert_eq!(next_phase(&mut lines).await, "Progressing");
    harness.status("default", &rollout, healthy()).await;
    assert_eq!(next_phase(&mut lines).await, "Healthy");
    child.kill().await.expect("watch stopped");
    harness.sim.shutdown().await;
}

/// The value of the next `Phase:` line of a `get --watch` output.
async fn next_phase(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) -> String {
    loop {
        let line = tokio::time::timeout(COMMAND_TIMEOUT, lines.next_line())
            .await
            .expect("a line in time")
            .expect("stdout readable")
            .expect("watch still running");
        if let Some(phase) = line.strip_prefix("Phase:") {
            return phase.trim().to_string();
        }
    }
}
