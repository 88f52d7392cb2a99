//! A kubelet and a scheduler for one fake node, for a real API server that has no nodes: it is
//! what lets a real kube-controller-manager's ReplicaSets have pods that become ready, without
//! containers.
//!
//! - Registers the Node [`NODE_NAME`] with `Ready=True` and room for any number of pods.
//! - Binds every unscheduled pod of the default scheduler to that node (`pods/binding`, as
//!   kube-scheduler does).
//! - Reports each bound pod `Running` with a pod IP, and `Ready` once the pod ready delay of the
//!   knobs has passed since its creation, unless the pod carries the annotation
//!   `sim.kulta.io/ready: "false"` (a release that never becomes ready, as with the simulated
//!   ReplicaSet controller).
//! - Finishes graceful deletions: a pod on the node with a `deletionTimestamp` is deleted with
//!   grace period 0 (the kubelet's last step once containers stopped), guarded by its UID.
//!
//! Everything goes through an ordinary `kube::Client`, so it runs against kube-apiserver (the
//! real-cluster suite: `kulta-sim agent`) as well as against kulta-sim, where the simulated
//! ReplicaSet controller already plays this part.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::ControllerKnobs;
use super::pods::{patch_pod_status, pod_is_reported};
use super::replicasets::READY_ANNOTATION;
use super::support::{Error, QuickBackoff, is_status, now_time, request_error};

/// The one node every pod is bound to.
pub const NODE_NAME: &str = "kulta-sim-node";

/// The field manager of the kubelet's writes.
const FIELD_MANAGER: &str = "kulta-sim-kubelet";

struct Context {
    client: Client,
    knobs: Arc<ControllerKnobs>,
}

/// Registers the node, then runs the pod loop until `shutdown` is cancelled. A node that cannot
/// be registered is retried every second: the pods wait for it.
pub(super) async fn run(client: Client, knobs: Arc<ControllerKnobs>, shutdown: CancellationToken) {
    loop {
        match register_node(&client).await {
            Ok(()) => break,
            Err(error) => {
                warn!(%error, "unable to register node {NODE_NAME}; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
    info!(node = NODE_NAME, "node registered");
    let pods: Api<Pod> = Api::all(client.clone());
    let context = Arc::new(Context { client, knobs });
    Controller::new(pods, watcher::Config::default())
        .with_config(Config::default().concurrency(64))
        .trigger_backoff(QuickBackoff::default())
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(
            |pod, ctx| Box::pin(reconcile(pod, ctx)),
            |_, error: &Error, _| {
                debug!(category = error.category(), %error, "pod reconcile failed");
                Action::requeue(Duration::from_millis(500))
            },
            context,
        )
        .for_each(|_| async {})
        .await;
}

/// Creates the node if it is missing and reports it Ready.
async fn register_node(client: &Client) -> Result<(), Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "kulta-sim",
            },
        },
    }))
    .map_err(|source| Error::Encode {
        kind: "Node",
        source,
    })?;
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(error) if is_status(&error, 409) => {}
        Err(error) => return Err(request_error("create", "Node", "", NODE_NAME)(error)),
    }
    let now = now_time();
    let capacity = json!({"cpu": "1000", "memory": "4000Gi", "pods": "100000"});
    let status = json!({
        "status": {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "kulta-sim kubelet is posting ready status",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": NODE_NAME}],
            "nodeInfo": {
                "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "",
                "osImage": "kulta-sim", "containerRuntimeVersion": "kulta-sim://0",
                "kubeletVersion": "v0.0.0-kulta-sim", "kubeProxyVersion": "",
                "operatingSystem": "linux", "architecture": "amd64",
            },
        }
    });
    nodes
        .patch_status(
            NODE_NAME,
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..PatchParams::default()
            },
            &Patch::Merge(status),
        )
        .await
        .map_err(request_error("patch status of", "Node", "", NODE_NAME))?;
    Ok(())
}

/// What the kubelet does next with one pod (pure).
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Bind it to the node.
    Bind,
    /// Delete it for good (graceful deletion requested, containers "stopped").
    FinishDeletion,
    /// Report it running, ready or not.
    Report { ready: bool },
    /// Report it once this much time has passed (pod ready delay).
    WaitReady(Duration),
    /// Nothing to do.
    Nothing,
}

fn next(pod: &Pod, ready_delay: Duration, now: chrono::DateTime<Utc>) -> Next {
    let spec = pod.spec.as_ref();
    let node = spec
        .and_then(|spec| spec.node_name.as_deref())
        .unwrap_or("");
    if pod.metadata.deletion_timestamp.is_some() {
        // Unbound pods are deleted by the API server at once; a pod of another node is not ours.
        return if node == NODE_NAME {
            Next::FinishDeletion
        } else {
            Next::Nothing
        };
    }
    if node.is_empty() {
        let scheduler = spec
            .and_then(|spec| spec.scheduler_name.as_deref())
            .unwrap_or("default-scheduler");
        return if scheduler == "default-scheduler" {
            Next::Bind
        } else {
            Next::Nothing
        };
    }
    if node != NODE_NAME {
        return Next::Nothing;
    }
    let never_ready = pod
        .annotations()
        .get(READY_ANNOTATION)
        .is_some_and(|value| value == "false");
    let ready = if never_ready {
        false
    } else {
        let created = pod
            .metadata
            .creation_timestamp
            .as_ref()
            .and_then(|time| chrono::DateTime::parse_from_rfc3339(&time.0.to_string()).ok())
            .map_or(now, |time| time.with_timezone(&Utc));
        // A delay too long for chrono, or one that runs past its last instant, means never ready.
        let ready_at = chrono::Duration::from_std(ready_delay)
            .ok()
            .and_then(|delay| created.checked_add_signed(delay))
            .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC);
        if ready_at > now {
            if pod_is_reported(pod, false) {
                return Next::WaitReady(
                    ready_at
                        .signed_duration_since(now)
                        .to_std()
                        .unwrap_or_default(),
                );
            }
            false
        } else {
            true
        }
    };
    if pod_is_reported(pod, ready) {
        Next::Nothing
    } else {
        Next::Report { ready }
    }
}

async fn reconcile(pod: Arc<Pod>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    match next(&pod, ctx.knobs.pod_ready_delay(), Utc::now()) {
        Next::Nothing => Ok(Action::await_change()),
        Next::WaitReady(delay) => Ok(Action::requeue(delay)),
        Next::Bind => {
            let binding = json!({
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": name, "namespace": namespace},
                "target": {"apiVersion": "v1", "kind": "Node", "name": NODE_NAME},
            });
            match api
                .create_subresource::<_, serde_json::Value>(
                    "binding",
                    &name,
                    &PostParams::default(),
                    &binding,
                )
                .await
            {
                Ok(_) => Ok(Action::await_change()),
                // Gone, or bound meanwhile: the pod's next event says what is next.
                Err(error) if is_status(&error, 404) || is_status(&error, 409) => {
                    Ok(Action::await_change())
                }
                Err(error) => Err(request_error("bind", "Pod", &namespace, &name)(error)),
            }
        }
        Next::Report { ready } => {
            patch_pod_status(&api, &namespace, &pod, ready).await?;
            Ok(Action::await_change())
        }
        Next::FinishDeletion => {
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: pod.uid(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match api.delete(&name, &params).await {
                Ok(_) => Ok(Action::await_change()),
                Err(error) if is_status(&error, 404) || is_status(&error, 409) => {
                    Ok(Action::await_change())
                }
                Err(error) => Err(request_error("delete", "Pod", &namespace, &name)(error)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap_or_default()
    }

    fn created(seconds_ago: i64) -> String {
        (Utc::now() - chrono::Duration::seconds(seconds_ago))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    #[test]
    fn unscheduled_pods_of_the_default_scheduler_are_bound() {
        let unscheduled = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": []}}));
        assert_eq!(next(&unscheduled, Duration::ZERO, Utc::now()), Next::Bind);
        let other = pod(json!({"metadata": {"name": "p"},
            "spec": {"containers": [], "schedulerName": "volcano"}}));
        assert_eq!(next(&other, Duration::ZERO, Utc::now()), Next::Nothing);
    }

    #[test]
    fn bound_pods_are_reported_ready_after_the_delay() {
        let fresh = pod(
            json!({"metadata": {"name": "p", "creationTimestamp": created(0)},
            "spec": {"containers": [], "nodeName": NODE_NAME}}),
        );
        assert_eq!(
            next(&fresh, Duration::from_secs(60), Utc::now()),
            Next::Report { ready: false }
        );
        let old = pod(
            json!({"metadata": {"name": "p", "creationTimestamp": created(120)},
            "spec": {"containers": [], "nodeName": NODE_NAME}}),
        );
        assert_eq!(
            next(&old, Duration::from_secs(60), Utc::now()),
            Next::Report { ready: true }
        );
    }

    #[test]
    fn a_delay_beyond_the_calendar_means_never_ready() {
        let old = pod(
            json!({"metadata": {"name": "p", "creationTimestamp": created(120)},
            "spec": {"containers": [], "nodeName": NODE_NAME}}),
        );
        assert_eq!(
            next(&old, Duration::MAX, Utc::now()),
            Next::Report { ready: false }
        );
    }

    #[test]
    fn a_never_ready_release_runs_but_never_becomes_ready() {
        let bad = pod(
            json!({"metadata": {"name": "p", "creationTimestamp": created(120),
                "annotations": {READY_ANNOTATION: "false"}},
            "spec": {"containers": [], "nodeName": NODE_NAME}}),
        );
        assert_eq!(
            next(&bad, Duration::ZERO, Utc::now()),
            Next::Report { ready: false }
        );
    }

    #[test]
    fn graceful_deletions_of_our_pods_are_finished() {
        let terminating = pod(
            json!({"metadata": {"name": "p", "deletionTimestamp": created(0)},
            "spec": {"containers": [], "nodeName": NODE_NAME}}),
        );
        assert_eq!(
            next(&terminating, Duration::ZERO, Utc::now()),
            Next::FinishDeletion
        );
        let elsewhere = pod(
            json!({"metadata": {"name": "p", "deletionTimestamp": created(0)},
            "spec": {"containers": [], "nodeName": "another-node"}}),
        );
        assert_eq!(next(&elsewhere, Duration::ZERO, Utc::now()), Next::Nothing);
    }
}
