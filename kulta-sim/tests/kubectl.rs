//! Fidelity suite: real kubectl (v1.36) against kulta-sim.
//!
//! kubectl is `$KUBECTL` when set, else `$KULTA_TOOLS_DIR/bin/kubectl` or
//! `<workspace>/.tools/bin/kubectl` (installed by `scripts/kube-tools.sh`). Without it the tests
//! return at once after one line `kubectl suite NOT RUN: ...` on stderr (uncaptured), unless `KULTA_REQUIRE_KUBECTL=1`, which turns
//! the absence into a failure (CI sets it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::path::PathBuf;
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kulta_sim::Sim;
use kulta_test_support::kubectl::{self, Outcome};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// One sim and a kubectl pointed at it, with its own discovery cache.
struct Harness {
    sim: Sim,
    kubectl: PathBuf,
    dir: tempfile::TempDir,
}

impl Harness {
    /// Starts a sim, or returns `None` (after saying so) when kubectl is absent.
    async fn start() -> Option<Harness> {
        let kubectl = kulta_test_support::kubectl_for("kubectl suite")?;
        let sim = Sim::start().await.expect("sim starts");
        let dir = tempfile::tempdir().expect("tempdir");
        Some(Harness { sim, kubectl, dir })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = kubectl::command(&self.kubectl, self.dir.path());
        command
            .arg("--kubeconfig")
            .arg(self.sim.kubeconfig_path())
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args);
        command
    }

    /// Runs kubectl to completion.
    async fn run(&self, args: &[&str]) -> Outcome {
        self.run_with_input(args, None).await
    }

    /// Runs kubectl with `input` on stdin (for `-f -`).
    async fn run_with_input(&self, args: &[&str], input: Option<&str>) -> Outcome {
        kubectl::run(self.command(args), input).await
    }

    /// Runs kubectl and fails the test unless it succeeds; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let outcome = self.run(args).await;
        assert!(outcome.success(), "kubectl {args:?} failed: {outcome:#?}");
        outcome.stdout
    }

    /// `kubectl apply -f -` (plus `extra` flags) of `manifest`; fails the test unless it succeeds.
    async fn apply(&self, manifest: &str, extra: &[&str]) -> String {
        let mut args = vec!["apply", "-f", "-"];
        args.extend_from_slice(extra);
        let outcome = self.run_with_input(&args, Some(manifest)).await;
        assert!(
            outcome.success(),
            "kubectl apply failed: {outcome:#?}\n{manifest}"
        );
        outcome.stdout
    }

    async fn shutdown(self) {
        self.sim.shutdown().await;
    }
}

/// A small namespaced CRD with status subresource, defaults, enum, bounds and a CEL rule.
const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.sim.kulta.io
spec:
  group: sim.kulta.io
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.size
        statusReplicasPath: .status.size
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            x-kubernetes-validations:
            - rule: "self.size <= self.maxSize"
              message: "size must not exceed maxSize"
            properties:
              size:
                type: integer
                minimum: 0
                maximum: 10
              maxSize:
                type: integer
                default: 10
              color:
                type: string
                enum: [red, green, blue]
          status:
            type: object
            properties:
              size:
                type: integer
              conditions:
                type: array
                items:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
"#;

fn widget(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: sim.kulta.io/v1\nkind: Widget\nmetadata:\n  name: {name}\n  labels:\n    tier: web\nspec:\n{spec}\n"
    )
}

async fn install_widgets(harness: &Harness) {
    harness.apply(WIDGET_CRD, &[]).await;
    harness
        .ok(&[
            "wait",
            "--for=condition=Established",
            "crd/widgets.sim.kulta.io",
            "--timeout=20s",
        ])
        .await;
}

fn widget_api(harness: &Harness) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("sim.kulta.io", "v1", "Widget"),
        "widgets",
    );
    Api::namespaced_with(harness.sim.client(), "default", &resource)
}

#[tokio::test]
async fn api_resources_lists_builtins_and_new_crds() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    let before = harness.ok(&["api-resources"]).await;
    for expected in [
        "namespaces",
        "pods",
        "services",
        "configmaps",
        "replicasets",
        "deployments",
        "leases",
        "customresourcedefinitions",
    ] {
        assert!(before.contains(expected), "{expected} missing:\n{before}");
    }
    install_widgets(&harness).await;
    let after = harness
        .ok(&["api-resources", "--api-group=sim.kulta.io"])
        .await;
    assert!(
        after.contains("widgets") && after.contains("Widget"),
        "{after}"
    );
    assert!(after.contains("wd"), "short name missing: {after}");
    harness.shutdown().await;
}

#[tokio::test]
async fn apply_crd_then_objects_with_default_validation_and_get_formats() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    install_widgets(&harness).await;
    let created = harness
        .apply(&widget("w1", "  size: 3\n  color: red"), &[])
        .await;
    assert!(
        created.contains("widget.sim.kulta.io/w1 created"),
        "{created}"
    );
    harness.apply(&widget("w2", "  size: 1"), &[]).await;
    let unchanged = harness
        .apply(&widget("w1", "  size: 3\n  color: red"), &[])
        .await;
    assert!(unchanged.contains("unchanged"), "{unchanged}");

    let yaml = harness.ok(&["get", "widget", "w1", "-o", "yaml"]).await;
    assert!(
        yaml.contains("size: 3") && yaml.contains("maxSize: 10"),
        "defaulted: {yaml}"
    );
    let size = harness
        .ok(&["get", "widget", "w1", "-o", "jsonpath={.spec.size}"])
        .await;
    assert_eq!(size, "3");
    let names = harness
        .ok(&[
            "get",
            "widgets",
            "-l",
            "tier=web",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ])
        .await;
    assert_eq!(names, "w1 w2");
    let none = harness
        .ok(&["get", "wd", "-l", "tier=db", "-o", "name"])
        .await;
    assert_eq!(none.trim(), "");
    let table = harness.ok(&["get", "widgets"]).await;
    assert!(table.contains("NAME") && table.contains("w1"), "{table}");
    harness.shutdown().await;
}

#[tokio::test]
async fn invalid_objects_are_refused_with_the_field_path() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    install_widgets(&harness).await;
    let cases = [
        (
            "  size: 11",
            "spec.size",
            "should be less than or equal to 10",
        ),
        (
            "  size: 1\n  color: pink",
            "spec.color",
            "Unsupported value: \"pink\"",
        ),
        ("  color: red", "spec.size", "Required value"),
        (
            "  size: 5\n  maxSize: 4",
            "spec",
            "size must not exceed maxSize",
        ),
    ];
    for (spec, field, message) in cases {
        let outcome = harness
            .run_with_input(&["apply", "-f", "-"], Some(&widget("bad", spec)))
            .await;
        assert!(!outcome.success(), "accepted an invalid widget: {spec}");
        assert!(
            outcome.stderr.contains("is invalid")
                && outcome.stderr.contains(field)
                && outcome.stderr.contains(message),
            "{spec}: {}",
            outcome.stderr
        );
    }
    // kubectl's default validation is strict: unknown fields are an error from the server.
    let outcome = harness
        .run_with_input(
            &["apply", "-f", "-"],
            Some(&widget("bad", "  size: 1\n  bogus: 1")),
        )
        .await;
    assert!(!outcome.success(), "accepted an unknown field");
    assert!(
        outcome.stderr.contains("unknown field") && outcome.stderr.contains("spec.bogus"),
        "{}",
        outcome.stderr
    );
    harness.shutdown().await;
}

#[tokio::test]
async fn patch_merge_json_and_status_then_wait_for_a_condition() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    install_widgets(&harness).await;
    harness.apply(&widget("w1", "  size: 1"), &[]).await;
    let merged = harness
        .ok(&[
            "patch",
            "widget",
            "w1",
            "--type=merge",
            "-p",
            r#"{"spec":{"size":2}}"#,
        ])
        .await;
    assert!(merged.contains("patched"), "{merged}");
    harness
        .ok(&[
            "patch",
            "widget",
            "w1",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/size","value":4}]"#,
        ])
        .await;
    assert_eq!(
        harness
            .ok(&["get", "widget", "w1", "-o", "jsonpath={.spec.size}"])
            .await,
        "4"
    );
    // Strategic merge is refused for custom resources.
    let strategic = harness
        .run(&[
            "patch",
            "widget",
            "w1",
            "--type=strategic",
            "-p",
            r#"{"spec":{"size":5}}"#,
        ])
        .await;
    assert!(!strategic.success(), "{strategic:#?}");

    let waiter = harness
        .command(&[
            "wait",
            "--for=condition=Ready",
            "widget/w1",
            "--timeout=30s",
        ])
        .spawn()
        .expect("kubectl wait spawns");
    harness
        .ok(&[
            "patch",
            "widget",
            "w1",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Done","message":"ok","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#,
        ])
        .await;
    let output = tokio::time::timeout(kubectl::COMMAND_TIMEOUT, waiter.wait_with_output())
        .await
        .expect("kubectl wait finishes")
        .expect("output");
    assert!(
        output.status.success(),
        "kubectl wait: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("condition met"));
    // The status patch did not touch the spec, and the spec patches did not bump status.
    assert_eq!(
        harness
            .ok(&["get", "widget", "w1", "-o", "jsonpath={.spec.size}"])
            .await,
        "4"
    );
    harness.shutdown().await;
}

#[tokio::test]
async fn annotate_label_and_scale_a_replicaset_the_controller_makes_ready() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    harness
        .sim
        .knobs()
        .set_pod_ready_delay(Duration::from_millis(20));
    let replicaset = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
"#;
    harness.apply(replicaset, &[]).await;
    let scaled = harness
        .ok(&["scale", "replicaset", "web", "--replicas=3"])
        .await;
    assert!(scaled.contains("scaled"), "{scaled}");
    harness
        .ok(&[
            "wait",
            "--for=jsonpath={.status.readyReplicas}=3",
            "replicaset/web",
            "--timeout=30s",
        ])
        .await;
    let pods = harness
        .ok(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].status.phase}",
        ])
        .await;
    assert_eq!(pods, "Running Running Running");

    harness
        .ok(&["annotate", "replicaset", "web", "team=checkout"])
        .await;
    harness
        .ok(&["label", "replicaset", "web", "tier=frontend"])
        .await;
    let annotated = harness
        .ok(&[
            "get",
            "rs",
            "web",
            "-o",
            "jsonpath={.metadata.annotations.team}",
        ])
        .await;
    assert_eq!(annotated, "checkout");
    let labelled = harness
        .ok(&["get", "rs", "-l", "tier=frontend", "-o", "name"])
        .await;
    assert_eq!(labelled.trim(), "replicaset.apps/web");
    // Overwriting needs --overwrite, as on a real cluster.
    let refused = harness
        .run(&["label", "replicaset", "web", "tier=backend"])
        .await;
    assert!(!refused.success());
    harness
        .ok(&["label", "replicaset", "web", "tier=backend", "--overwrite"])
        .await;
    harness.ok(&["label", "replicaset", "web", "tier-"]).await;
    let labels = harness
        .ok(&["get", "rs", "web", "-o", "jsonpath={.metadata.labels}"])
        .await;
    assert!(!labels.contains("tier"), "{labels}");

    harness
        .ok(&["scale", "replicaset", "web", "--replicas=1"])
        .await;
    harness
        .ok(&[
            "wait",
            "--for=jsonpath={.status.replicas}=1",
            "replicaset/web",
            "--timeout=30s",
        ])
        .await;
    harness.shutdown().await;
}

#[tokio::test]
async fn get_watch_streams_new_objects() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    let mut watcher = harness
        .command(&["get", "configmaps", "-w", "-o", "name"])
        .spawn()
        .expect("kubectl get -w spawns");
    let stdout = watcher.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    for name in ["first", "second"] {
        harness
            .apply(
                &format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n"
                ),
                &[],
            )
            .await;
    }
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !(seen.iter().any(|l: &String| l.contains("first"))
        && seen.iter().any(|l: &String| l.contains("second")))
    {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("kubectl get -w showed only {seen:?}"))
            .expect("read");
        match line {
            Some(line) => seen.push(line),
            None => panic!("kubectl get -w ended early: {seen:?}"),
        }
    }
    watcher.kill().await.expect("kill kubectl");
    assert!(seen.iter().any(|l| l == "configmap/first"), "{seen:?}");
    harness.shutdown().await;
}

#[tokio::test]
async fn delete_wait_returns_once_a_finalizer_is_removed() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    install_widgets(&harness).await;
    let manifest = "apiVersion: sim.kulta.io/v1\nkind: Widget\nmetadata:\n  name: held\n  finalizers: [sim.kulta.io/hold]\nspec:\n  size: 1\n";
    harness.apply(manifest, &[]).await;
    let deleter = harness
        .command(&["delete", "widget", "held", "--wait=true", "--timeout=30s"])
        .spawn()
        .expect("kubectl delete spawns");
    let api = widget_api(&harness);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let object = api.get("held").await.expect("still there while finalized");
        if object.metadata.deletion_timestamp.is_some() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no deletionTimestamp"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("finalizer removed");
    let output = tokio::time::timeout(kubectl::COMMAND_TIMEOUT, deleter.wait_with_output())
        .await
        .expect("kubectl delete finishes")
        .expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("deleted"),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let gone = harness.run(&["get", "widget", "held"]).await;
    assert!(
        !gone.success() && gone.stderr.contains("NotFound"),
        "{gone:#?}"
    );
    harness.shutdown().await;
}

#[tokio::test]
async fn server_side_apply_creates_and_updates() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    let config = |value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: {value}\n"
        )
    };
    let first = harness.apply(&config("blue"), &["--server-side"]).await;
    assert!(first.contains("serverside-applied"), "{first}");
    harness.apply(&config("green"), &["--server-side"]).await;
    let mode = harness
        .ok(&[
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.data.mode}",
        ])
        .await;
    assert_eq!(mode, "green");
    harness.shutdown().await;
}

fn example_route(file: &str) -> Option<String> {
    let dir = kulta_sim::reference::gateway_api_v1_5_1()?;
    let text = std::fs::read_to_string(dir.join("examples").join(file)).ok()?;
    Some(text)
}

#[tokio::test]
async fn real_httproute_crd_applies_server_side_and_enforces_its_rules() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    let Some(dir) = kulta_sim::reference::gateway_api_v1_5_1() else {
        harness.shutdown().await;
        return;
    };
    let crd_path = dir.join("httproutes.yaml").display().to_string();
    let applied = harness
        .ok(&["apply", "--server-side", "-f", &crd_path])
        .await;
    assert!(applied.contains("serverside-applied"), "{applied}");
    harness
        .ok(&[
            "wait",
            "--for=condition=Established",
            "crd/httproutes.gateway.networking.k8s.io",
            "--timeout=20s",
        ])
        .await;
    let filter_route = example_route("http-filter.yaml").expect("example route");
    let created = harness.apply(&filter_route, &[]).await;
    assert!(
        created.contains("httproute.gateway.networking.k8s.io/http-filter-1 created"),
        "{created}"
    );
    let route = example_route("simple-gateway--httproute.yaml").expect("example route");
    harness.apply(&route, &[]).await;

    // The simulated gateway accepts it once it sees the kind; its backend is missing.
    harness
        .ok(&[
            "wait",
            "--for=jsonpath={.status.parents[0].conditions[0].status}=True",
            "httproute/foo",
            "--timeout=30s",
        ])
        .await;
    let resolved = harness
        .ok(&[
            "get",
            "httproute",
            "foo",
            "-o",
            "jsonpath={.status.parents[0].conditions[1].reason}",
        ])
        .await;
    assert_eq!(resolved, "BackendNotFound");
    harness
        .apply(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: foo-svc\nspec:\n  ports:\n  - port: 8080\n",
            &[],
        )
        .await;
    harness
        .ok(&[
            "wait",
            "--for=jsonpath={.status.parents[0].conditions[1].status}=True",
            "httproute/foo",
            "--timeout=30s",
        ])
        .await;

    let broken = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: broken
spec:
  parentRefs:
  - name: gw
  rules:
  - filters:
    - type: RequestHeaderModifier
    backendRefs:
    - name: svc
      port: 80
"#;
    let outcome = harness
        .run_with_input(&["apply", "-f", "-"], Some(broken))
        .await;
    assert!(!outcome.success(), "accepted a broken route");
    assert!(
        outcome.stderr.contains("spec.rules[0].filters[0]")
            && outcome
                .stderr
                .contains("filter.requestHeaderModifier must be specified for RequestHeaderModifier filter.type"),
        "{}",
        outcome.stderr
    );
    let status: Value =
        serde_json::from_str(&harness.ok(&["get", "httproute", "foo", "-o", "json"]).await)
            .expect("json");
    assert_eq!(
        status["status"]["parents"][0]["controllerName"],
        "sim.kulta.io/gateway-controller"
    );
    harness.shutdown().await;
}

const SHOP_DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: shop}
  template:
    metadata:
      labels: {app: shop}
    spec:
      containers:
      - name: app
        image: shop:1
"#;

#[tokio::test]
async fn rollout_status_follows_a_deployment_through_an_image_change() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    harness
        .sim
        .knobs()
        .set_pod_ready_delay(Duration::from_millis(20));
    harness.apply(SHOP_DEPLOYMENT, &[]).await;
    let first = harness
        .ok(&["rollout", "status", "deployment/shop", "--timeout=30s"])
        .await;
    assert!(first.contains("successfully rolled out"), "{first}");
    harness
        .ok(&["set", "image", "deployment/shop", "app=shop:2"])
        .await;
    let second = harness
        .ok(&["rollout", "status", "deployment/shop", "--timeout=30s"])
        .await;
    assert!(second.contains("successfully rolled out"), "{second}");
    harness
        .ok(&[
            "wait",
            "--for=condition=Available",
            "deployment/shop",
            "--timeout=30s",
        ])
        .await;
    let images = harness
        .ok(&[
            "get",
            "pods",
            "-l",
            "app=shop",
            "-o",
            "jsonpath={.items[*].spec.containers[0].image}",
        ])
        .await;
    assert_eq!(images, "shop:2 shop:2");
    let history = harness.ok(&["rollout", "history", "deployment/shop"]).await;
    assert!(history.contains('1') && history.contains('2'), "{history}");

    // restart (a strategic-merge patch of the template) rolls a new ReplicaSet; undo goes back
    // to revision 2's ReplicaSet, which becomes revision 4.
    harness.ok(&["rollout", "restart", "deployment/shop"]).await;
    harness
        .ok(&["rollout", "status", "deployment/shop", "--timeout=30s"])
        .await;
    harness.ok(&["rollout", "undo", "deployment/shop"]).await;
    harness
        .ok(&["rollout", "status", "deployment/shop", "--timeout=30s"])
        .await;
    let revisions = harness
        .ok(&[
            "get",
            "rs",
            "-l",
            "app=shop",
            "-o",
            r"jsonpath={range .items[*]}{.metadata.annotations.deployment\.kubernetes\.io/revision}={.spec.replicas} {end}",
        ])
        .await;
    let mut revisions: Vec<&str> = revisions.split_whitespace().collect();
    revisions.sort_unstable();
    assert_eq!(
        revisions,
        ["1=0", "3=0", "4=2"],
        "revision=replicas per ReplicaSet"
    );

    // Deleting the Deployment takes its ReplicaSets and pods with it.
    harness
        .ok(&["delete", "deployment", "shop", "--wait", "--timeout=30s"])
        .await;
    harness
        .ok(&[
            "wait",
            "--for=delete",
            "pods",
            "-l",
            "app=shop",
            "--timeout=30s",
        ])
        .await;
    let left = harness.ok(&["get", "rs,pods", "-o", "name"]).await;
    assert_eq!(left.trim(), "", "garbage left behind: {left}");
    harness.shutdown().await;
}

#[tokio::test]
async fn get_watch_on_a_custom_kind_shows_updates() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    install_widgets(&harness).await;
    harness.apply(&widget("w1", "  size: 1"), &[]).await;
    let mut watcher = harness
        .command(&[
            "get",
            "widgets",
            "-w",
            "-o",
            "jsonpath={.metadata.name}={.spec.size}{\"\\n\"}",
        ])
        .spawn()
        .expect("kubectl get -w spawns");
    let stdout = watcher.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let mut patched = false;
    while !seen.iter().any(|line: &String| line == "w1=7") {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("kubectl get -w showed only {seen:?}"))
            .expect("read")
            .unwrap_or_else(|| panic!("kubectl get -w ended early: {seen:?}"));
        seen.push(line);
        if !patched && seen.iter().any(|line| line == "w1=1") {
            harness
                .ok(&[
                    "patch",
                    "widget",
                    "w1",
                    "--type=merge",
                    "-p",
                    r#"{"spec":{"size":7}}"#,
                ])
                .await;
            patched = true;
        }
    }
    watcher.kill().await.expect("kill kubectl");
    harness.shutdown().await;
}

/// kubectl's typed generator commands POST protobuf (`application/vnd.kubernetes.protobuf`);
/// the sim decodes them, and the objects read back as kubectl built them.
#[tokio::test]
async fn typed_create_commands_send_protobuf_that_reads_back() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    harness
        .sim
        .knobs()
        .set_pod_ready_delay(Duration::from_millis(20));
    harness.ok(&["create", "namespace", "team"]).await;
    harness
        .ok(&[
            "create",
            "configmap",
            "settings",
            "-n",
            "team",
            "--from-literal=mode=fast",
            "--from-literal=empty=",
        ])
        .await;
    harness
        .ok(&["create", "deployment", "web", "-n", "team", "--image=nginx"])
        .await;
    harness
        .ok(&[
            "create",
            "deployment",
            "idle",
            "-n",
            "team",
            "--image=nginx",
            "--replicas=0",
        ])
        .await;

    let get = |args: &'static [&'static str]| {
        let harness = &harness;
        async move { serde_json::from_str::<Value>(&harness.ok(args).await).unwrap() }
    };
    let namespace = get(&["get", "namespace", "team", "-o", "json"]).await;
    assert_eq!(namespace["metadata"]["name"], "team");
    assert_eq!(namespace["status"]["phase"], "Active");

    let config_map = get(&["get", "configmap", "settings", "-n", "team", "-o", "json"]).await;
    assert_eq!(config_map["data"], json!({"mode": "fast", "empty": ""}));
    assert_eq!(config_map["metadata"]["namespace"], "team");
    assert!(config_map["metadata"]["uid"].is_string(), "{config_map}");

    let web = get(&["get", "deployment", "web", "-n", "team", "-o", "json"]).await;
    assert_eq!(web["spec"]["replicas"], 1);
    assert_eq!(
        web["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );
    let container = &web["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        (&container["name"], &container["image"]),
        (&json!("nginx"), &json!("nginx"))
    );
    // Filled by the server's defaults, which an empty string on the wire must not block.
    assert_eq!(container["imagePullPolicy"], "Always");
    // `--replicas=0` is an explicit zero (a Go pointer), not an absent field.
    let idle = get(&["get", "deployment", "idle", "-n", "team", "-o", "json"]).await;
    assert_eq!(idle["spec"]["replicas"], 0);

    // The simulated controllers act on what kubectl created.
    harness
        .ok(&[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "-n",
            "team",
            "--timeout=30s",
        ])
        .await;
    let listed = harness.ok(&["get", "deployments", "-n", "team"]).await;
    assert_eq!(row(&listed, "web")[1], "1/1", "{listed}");
    harness.shutdown().await;
}

/// The header line of `kubectl get` output, split into column names.
fn header(output: &str) -> Vec<String> {
    let first = output.lines().next().unwrap_or_default();
    first
        .split("  ")
        .map(str::trim)
        .filter(|column| !column.is_empty())
        .map(str::to_string)
        .collect()
}

/// The row of `name` in `kubectl get` output, split on runs of spaces.
fn row<'a>(output: &'a str, name: &str) -> Vec<&'a str> {
    output
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&name))
        .unwrap_or_else(|| panic!("no row {name} in\n{output}"))
}

#[tokio::test]
async fn get_prints_the_standard_columns_of_builtin_kinds() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    harness
        .sim
        .knobs()
        .set_pod_ready_delay(Duration::from_millis(20));
    harness.apply(SHOP_DEPLOYMENT, &[]).await;
    harness
        .apply(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: shop\nspec:\n  selector: {app: shop}\n  ports:\n  - port: 80\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata: {a: '1', b: '2'}\n",
            &[],
        )
        .await;
    harness
        .ok(&["rollout", "status", "deployment/shop", "--timeout=30s"])
        .await;

    let deployments = harness.ok(&["get", "deployments"]).await;
    assert_eq!(
        header(&deployments),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(row(&deployments, "shop")[..4], ["shop", "2/2", "2", "2"]);
    let wide = harness.ok(&["get", "deployments", "-o", "wide"]).await;
    assert_eq!(
        header(&wide),
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert_eq!(row(&wide, "shop")[5..], ["app", "shop:1", "app=shop"]);

    let replicasets = harness.ok(&["get", "replicasets"]).await;
    assert_eq!(
        header(&replicasets),
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    );
    let pods = harness.ok(&["get", "pods"]).await;
    assert_eq!(
        header(&pods),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    let first_pod = pods.lines().nth(1).expect("a pod row");
    let cells: Vec<&str> = first_pod.split_whitespace().collect();
    assert_eq!(cells[1..4], ["1/1", "Running", "0"], "{pods}");

    let services = harness.ok(&["get", "services"]).await;
    assert_eq!(
        header(&services),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    let shop = row(&services, "shop");
    assert_eq!(
        (shop[1], shop[3], shop[4]),
        ("ClusterIP", "<none>", "80/TCP")
    );
    assert!(shop[2].starts_with("10."), "{services}");

    let configmaps = harness.ok(&["get", "configmaps", "settings"]).await;
    assert_eq!(header(&configmaps), ["NAME", "DATA", "AGE"]);
    assert_eq!(row(&configmaps, "settings")[1], "2");
    let namespaces = harness.ok(&["get", "namespaces"]).await;
    assert_eq!(header(&namespaces), ["NAME", "STATUS", "AGE"]);
    assert_eq!(row(&namespaces, "default")[1], "Active");
    harness
        .apply(
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: kulta\nspec:\n  holderIdentity: pod-a\n",
            &[],
        )
        .await;
    let leases = harness.ok(&["get", "leases"]).await;
    assert_eq!(header(&leases), ["NAME", "HOLDER", "AGE"]);
    assert_eq!(row(&leases, "kulta")[1], "pod-a");
    install_widgets(&harness).await;
    let crds = harness.ok(&["get", "crds"]).await;
    assert_eq!(header(&crds), ["NAME", "CREATED AT"]);
    assert!(
        row(&crds, "widgets.sim.kulta.io")[1].ends_with('Z'),
        "an RFC 3339 time: {crds}"
    );
    harness.shutdown().await;
}

const ACCESS_MANIFEST: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata:
  name: kulta
---
apiVersion: v1
kind: Secret
metadata:
  name: kulta-token
stringData:
  token: s3cret
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: kulta-view
rules:
- apiGroups: [kulta.io]
  resources: [rollouts]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kulta-view
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: kulta-view
subjects:
- kind: ServiceAccount
  name: kulta
  namespace: default
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: election
rules:
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: election
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: election
subjects:
- kind: ServiceAccount
  name: kulta
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: kulta
spec:
  minAvailable: 1
  selector:
    matchLabels: {app: kulta}
"#;

#[tokio::test]
async fn client_side_apply_of_rbac_policy_and_workloads_with_typed_schemas() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    let created = harness.apply(ACCESS_MANIFEST, &[]).await;
    for expected in [
        "serviceaccount/kulta created",
        "secret/kulta-token created",
        "clusterrole.rbac.authorization.k8s.io/kulta-view created",
        "clusterrolebinding.rbac.authorization.k8s.io/kulta-view created",
        "role.rbac.authorization.k8s.io/election created",
        "rolebinding.rbac.authorization.k8s.io/election created",
        "poddisruptionbudget.policy/kulta created",
    ] {
        assert!(created.contains(expected), "{expected}: {created}");
    }
    // Re-applying changes nothing. kubectl still reports the Secret (its `stringData` is never
    // stored, so every three-way diff adds it) and the PodDisruptionBudget (`spec.selector` has
    // patch strategy `replace`, always sent whole) as "configured", as against a real server.
    let again = harness.apply(ACCESS_MANIFEST, &[]).await;
    for expected in [
        "serviceaccount/kulta unchanged",
        "clusterrole.rbac.authorization.k8s.io/kulta-view unchanged",
        "clusterrolebinding.rbac.authorization.k8s.io/kulta-view unchanged",
        "role.rbac.authorization.k8s.io/election unchanged",
        "rolebinding.rbac.authorization.k8s.io/election unchanged",
    ] {
        assert!(again.contains(expected), "{expected}: {again}");
    }
    let changed = harness
        .apply(
            &ACCESS_MANIFEST.replace("verbs: [get, update]", "verbs: [get, update, create]"),
            &[],
        )
        .await;
    assert!(
        changed.contains("role.rbac.authorization.k8s.io/election configured"),
        "{changed}"
    );
    assert_eq!(
        harness
            .ok(&[
                "get",
                "role",
                "election",
                "-o",
                "jsonpath={.rules[0].verbs}"
            ])
            .await,
        r#"["get","update","create"]"#
    );
    // Short names, and the kinds' own columns.
    let budgets = harness.ok(&["get", "pdb"]).await;
    assert_eq!(
        header(&budgets),
        [
            "NAME",
            "MIN AVAILABLE",
            "MAX UNAVAILABLE",
            "ALLOWED DISRUPTIONS",
            "AGE"
        ]
    );
    assert_eq!(row(&budgets, "kulta")[1..4], ["1", "N/A", "0"]);
    let accounts = harness.ok(&["get", "sa", "kulta"]).await;
    assert_eq!(header(&accounts), ["NAME", "SECRETS", "AGE"]);
    let bindings = harness
        .ok(&["get", "clusterrolebinding", "kulta-view", "-o", "wide"])
        .await;
    assert_eq!(row(&bindings, "kulta-view")[1], "ClusterRole/kulta-view");
    assert!(bindings.contains("default/kulta"), "{bindings}");
    let secrets = harness.ok(&["get", "secret", "kulta-token"]).await;
    assert_eq!(row(&secrets, "kulta-token")[1..3], ["Opaque", "1"]);

    // A client-side apply that changes a container list is computed from the typed schemas.
    harness.apply(SHOP_DEPLOYMENT, &[]).await;
    let updated = SHOP_DEPLOYMENT.replace(
        "        image: shop:1\n",
        "        image: shop:2\n        env:\n        - name: MODE\n          value: canary\n",
    );
    let configured = harness.apply(&updated, &[]).await;
    assert!(
        configured.contains("deployment.apps/shop configured"),
        "{configured}"
    );
    let container = harness
        .ok(&[
            "get",
            "deployment",
            "shop",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].value}",
        ])
        .await;
    assert_eq!(container, "shop:2 canary");
    harness.shutdown().await;
}

#[tokio::test]
async fn describe_and_events_show_the_events_about_an_object() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    let config =
        |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
    harness.apply(&config("settings"), &[]).await;
    harness.apply(&config("decoy"), &[]).await;
    let event = |name: &str, about: &str, reason: &str| {
        let uid = if about == "settings" {
            "selected-by-uid"
        } else {
            "other"
        };
        format!(
            "apiVersion: v1\nkind: Event\nmetadata:\n  name: {name}\ninvolvedObject:\n  apiVersion: v1\n  kind: ConfigMap\n  name: {about}\n  namespace: default\n  uid: {uid}\nreason: {reason}\nmessage: about {about}\ntype: Normal\ncount: 1\nfirstTimestamp: \"2026-01-01T00:00:00Z\"\nlastTimestamp: \"2026-01-01T00:00:00Z\"\nsource:\n  component: kulta\n"
        )
    };
    // kubectl describe selects on the object's uid too: give the event the live uid.
    let uid = harness
        .ok(&[
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.metadata.uid}",
        ])
        .await;
    harness
        .apply(
            &event("e1", "settings", "Checked").replace("selected-by-uid", &uid),
            &[],
        )
        .await;
    harness.apply(&event("e2", "decoy", "Ignored"), &[]).await;
    let described = harness.ok(&["describe", "configmap", "settings"]).await;
    assert!(
        described.contains("Checked") && described.contains("about settings"),
        "{described}"
    );
    assert!(!described.contains("Ignored"), "{described}");
    let events = harness.ok(&["events", "--for", "configmap/settings"]).await;
    assert!(
        events.contains("Checked") && !events.contains("Ignored"),
        "{events}"
    );
    let listed = harness.ok(&["get", "events"]).await;
    assert_eq!(
        header(&listed),
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    assert!(listed.contains("configmap/settings"), "{listed}");
    harness.shutdown().await;
}

#[tokio::test]
async fn explain_describes_builtin_fields() {
    let Some(harness) = Harness::start().await else {
        return;
    };
    let explained = harness.ok(&["explain", "deployment.spec.replicas"]).await;
    assert!(
        explained.contains("GROUP:      apps")
            && explained.contains("FIELD: replicas <integer>")
            && explained.contains("Number of desired pods"),
        "{explained}"
    );
    // Nested references resolve (`allOf` of a `$ref`), in the core group too.
    let explained = harness.ok(&["explain", "pod.spec.containers.image"]).await;
    assert!(explained.contains("FIELD: image <string>"), "{explained}");
    let explained = harness
        .ok(&["explain", "clusterrolebindings.subjects"])
        .await;
    assert!(
        explained.contains("FIELD: subjects <[]Subject>")
            && explained.contains("kind\t<string> -required-"),
        "{explained}"
    );
    harness.shutdown().await;
}
