//! The kubectl part: the same real kubectl commands against each server, exit code and output
//! compared.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::normalize::Names;

/// How long one kubectl command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

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
        let mut command = Command::new(kubectl);
        command
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--cache-dir")
            .arg(scratch.join("cache"))
            .args(["-n", namespace])
            .args(step.args)
            .env("HOME", scratch)
            .env_remove("KUBECONFIG")
            .stdin(if step.input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("spawn {}: {error}", kubectl.display()));
        if let (Some(input), Some(mut stdin)) = (step.input, child.stdin.take()) {
            stdin.write_all(input.as_bytes()).await.expect("stdin");
            drop(stdin);
        }
        let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {:?} ran over {COMMAND_TIMEOUT:?}", step.args))
            .expect("kubectl output");
        let text = |bytes: &[u8]| names.unfill(String::from_utf8_lossy(bytes).trim_end());
        outcomes.push((
            step.id,
            json!({
                "exit": output.status.code(),
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
