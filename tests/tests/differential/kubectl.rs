//! The kubectl part: the same real kubectl commands against each server, exit code and output
//! compared.

use std::path::Path;

use kulta_test_support::kubectl;
use serde_json::{Value, json};

use super::normalize::Names;

/// One kubectl command: its arguments (after `--kubeconfig`, `--cache-dir` and `-n`) and what
/// it reads on stdin.
pub struct KubectlStep {
    /// Unique, stable: the golden file and the accepted differences refer to it.
    pub id: &'static str,
    /// The arguments.
    pub args: &'static [&'static str],
    /// stdin, for `-f -`.
    pub input: Option<&'static str>,
}

const SERVER_SIDE_APPLIED: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: kc-two
  labels:
    app: web
data:
  color: blue
";

const SERVER_SIDE_REAPPLIED: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: kc-two
  labels:
    app: web
data:
  color: green
  size: m
";

const INVALID_ROLLOUT: &str = "apiVersion: kulta.io/v1alpha1
kind: Rollout
metadata:
  name: kc-bad
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: app
        image: nginx:1.25
  strategy:
    canary:
      stableService: web-stable
      canaryService: web-canary
      steps:
      - setWeight: 150
      trafficRouting:
        gatewayAPI:
          httpRoute: web-route
";

/// The kubectl commands, in order.
pub fn steps() -> Vec<KubectlStep> {
    let plain = |id, args| KubectlStep {
        id,
        args,
        input: None,
    };
    vec![
        plain(
            "create-configmap",
            &["create", "configmap", "kc-one", "--from-literal=color=blue"],
        ),
        plain(
            "create-configmap-again",
            &["create", "configmap", "kc-one", "--from-literal=color=blue"],
        ),
        plain("get-name", &["get", "configmap", "kc-one", "-o", "name"]),
        plain(
            "get-jsonpath",
            &["get", "configmap", "kc-one", "-o", "jsonpath={.data.color}"],
        ),
        plain("get-missing", &["get", "configmap", "kc-missing"]),
        KubectlStep {
            id: "apply-server-side",
            args: &["apply", "--server-side", "-f", "-"],
            input: Some(SERVER_SIDE_APPLIED),
        },
        KubectlStep {
            id: "apply-server-side-again",
            args: &["apply", "--server-side", "-f", "-"],
            input: Some(SERVER_SIDE_REAPPLIED),
        },
        plain(
            "get-applied-jsonpath",
            &[
                "get",
                "configmap",
                "kc-two",
                "-o",
                "jsonpath={.data.color} {.data.size} {.metadata.labels.app}",
            ],
        ),
        plain(
            "annotate",
            &["annotate", "configmap", "kc-one", "team=payments"],
        ),
        plain(
            "annotate-without-overwrite",
            &["annotate", "configmap", "kc-one", "team=search"],
        ),
        plain(
            "annotate-overwrite",
            &[
                "annotate",
                "--overwrite",
                "configmap",
                "kc-one",
                "team=search",
            ],
        ),
        plain(
            "get-annotation",
            &[
                "get",
                "configmap",
                "kc-one",
                "-o",
                "jsonpath={.metadata.annotations.team}",
            ],
        ),
        KubectlStep {
            id: "create-invalid-rollout",
            args: &["create", "-f", "-"],
            input: Some(INVALID_ROLLOUT),
        },
        plain("delete", &["delete", "configmap", "kc-one", "kc-two"]),
        plain("delete-again", &["delete", "configmap", "kc-one"]),
    ]
}

/// Runs every step against the server of `kubeconfig` in `namespace`, with its own discovery
/// cache and `HOME` under `scratch`; returns the normalized outcomes in order: exit code,
/// stdout and stderr with the namespace as `{ns}`.
pub async fn run(
    kubectl: &Path,
    kubeconfig: &Path,
    namespace: &str,
    scratch: &Path,
) -> Vec<(&'static str, Value)> {
    let mut names = Names::default();
    names
        .placeholders
        .insert("{ns}".to_string(), namespace.to_string());
    let mut outcomes = Vec::new();
    for step in steps() {
        let mut command = kubectl::command(kubectl, scratch);
        command
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--cache-dir")
            .arg(scratch.join("cache"))
            .args(["-n", namespace])
            .args(step.args);
        let output = kubectl::run(command, step.input).await;
        let text = |text: &str| names.unfill(text.trim_end());
        outcomes.push((
            step.id,
            json!({
                "exit": output.code,
                "stdout": text(&output.stdout),
                "stderr": text(&output.stderr),
            }),
        ));
    }
    outcomes
}

/// `kubectl <args>` as shown in reports and the golden file.
pub fn describe(step: &KubectlStep) -> String {
    let mut line = format!("kubectl -n {{ns}} {}", step.args.join(" "));
    if step.input.is_some() {
        line.push_str(" < manifest");
    }
    line
}
