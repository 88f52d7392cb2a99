//! Simulated Deployment controller: owns one ReplicaSet per pod template, the usual way.
//!
//! The ReplicaSet for the current template is `<deployment>-<pod-template-hash>`, labelled and
//! selected with `pod-template-hash`, owned by the Deployment (controller reference) and
//! annotated with `deployment.kubernetes.io/revision`. The rolling update is deliberately
//! simplistic: the new ReplicaSet is scaled straight to `spec.replicas`, and the old ones are
//! scaled down as the new one's pods become available (old total = desired - new available), so
//! availability never dips but surge is unbounded; `maxSurge`/`maxUnavailable`, `Recreate`,
//! `paused`, revision history limits and progress deadlines are not emulated.
//!
//! Status: `observedGeneration`, `replicas`, `updatedReplicas`, `readyReplicas`,
//! `availableReplicas`, `unavailableReplicas` and the `Available` and `Progressing` conditions.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Config, trigger_owners, trigger_self};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, applier, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::ControllerKnobs;
use super::support::{Error, QuickBackoff, now_time, on_knob_change, request_error, template_hash};

/// The label that ties a ReplicaSet and its pods to one pod template.
pub(super) const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The ReplicaSet annotation carrying the rollout revision.
pub(super) const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

struct Context {
    client: Client,
    replicasets: Store<ReplicaSet>,
}

/// Runs the Deployment controller until `shutdown` is cancelled.
pub(super) async fn run(client: Client, knobs: Arc<ControllerKnobs>, shutdown: CancellationToken) {
    let deployments: Api<Deployment> = Api::all(client.clone());
    let replicasets: Api<ReplicaSet> = Api::all(client.clone());
    let (deploy_reader, deploy_writer) = reflector::store();
    let (rs_reader, rs_writer) = reflector::store();
    let deploy_events = watcher(deployments, watcher::Config::default())
        .backoff(QuickBackoff::default())
        .reflect(deploy_writer)
        .applied_objects();
    let rs_events = watcher(replicasets, watcher::Config::default())
        .backoff(QuickBackoff::default())
        .reflect(rs_writer)
        .touched_objects();
    let queue = futures::stream::select_all([
        trigger_self(deploy_events, ()).boxed(),
        trigger_owners::<Deployment, _>(rs_events, (), ()).boxed(),
        on_knob_change(knobs.subscribe(), deploy_reader.clone(), ()).boxed(),
    ]);
    let context = Arc::new(Context {
        client,
        replicasets: rs_reader,
    });
    applier(
        |deployment, ctx| Box::pin(reconcile(deployment, ctx)),
        |_, error: &Error, _| {
            debug!(category = error.category(), %error, "deployment reconcile failed");
            Action::requeue(Duration::from_millis(500))
        },
        context,
        deploy_reader,
        queue,
        Config::default(),
    )
    .take_until(shutdown.cancelled_owned())
    .for_each(|result| async move {
        if let Err(error) = result {
            debug!(%error, "deployment controller event");
        }
    })
    .await;
}

fn status_count(
    rs: &ReplicaSet,
    field: fn(&k8s_openapi::api::apps::v1::ReplicaSetStatus) -> Option<i32>,
) -> i32 {
    rs.status.as_ref().and_then(field).unwrap_or(0)
}

/// The revision after `newest`. The annotation is anyone's to write: at `i64::MAX` the next
/// revision is `i64::MAX` too (the deployment controller's `+ 1` wraps in Go).
fn next_revision(newest: i64) -> i64 {
    newest.saturating_add(1)
}

/// The sum of counts that users and other controllers may have written, stopping at the ends
/// of `i32` instead of overflowing.
fn saturating_sum(counts: impl IntoIterator<Item = i32>) -> i32 {
    counts.into_iter().fold(0, i32::saturating_add)
}

fn revision(rs: &ReplicaSet) -> i64 {
    rs.annotations()
        .get(REVISION_ANNOTATION)
        .and_then(|text| text.parse().ok())
        .unwrap_or(0)
}

async fn reconcile(deployment: Arc<Deployment>, ctx: Arc<Context>) -> Result<Action, Error> {
    if deployment.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let (Some(namespace), Some(uid)) = (deployment.namespace(), deployment.uid()) else {
        return Ok(Action::await_change());
    };
    let name = deployment.name_any();
    let spec = deployment.spec.clone().unwrap_or_default();
    let desired = spec.replicas.unwrap_or(1).max(0);
    let template = serde_json::to_value(&spec.template).map_err(|source| Error::Encode {
        kind: "Deployment",
        source,
    })?;
    let hash = template_hash(&template);
    let new_name = format!("{name}-{hash}");

    let owned: Vec<Arc<ReplicaSet>> = ctx
        .replicasets
        .state()
        .into_iter()
        .filter(|rs| {
            rs.namespace().as_deref() == Some(namespace.as_str())
                && rs.metadata.deletion_timestamp.is_none()
                && rs
                    .owner_references()
                    .iter()
                    .any(|owner| owner.controller == Some(true) && owner.uid == uid)
        })
        .collect();
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
    let new_rs = owned.iter().find(|rs| rs.name_any() == new_name).cloned();
    let mut old: Vec<Arc<ReplicaSet>> = owned
        .iter()
        .filter(|rs| rs.name_any() != new_name)
        .cloned()
        .collect();

    let new_available = match &new_rs {
        None => {
            let newest = owned.iter().map(|rs| revision(rs)).max().unwrap_or(0);
            let rs = build_replicaset(
                &deployment,
                &uid,
                &new_name,
                &hash,
                desired,
                next_revision(newest),
            )?;
            match api.create(&PostParams::default(), &rs).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(error) => {
                    return Err(
                        request_error("create", "ReplicaSet", &namespace, &new_name)(error),
                    );
                }
            }
            0
        }
        Some(rs) => {
            if rs.spec.as_ref().and_then(|spec| spec.replicas) != Some(desired) {
                scale(&api, &namespace, &rs.name_any(), desired).await?;
            }
            // A rollback makes an old ReplicaSet current again: it takes the next revision.
            let newest_old = old.iter().map(|rs| revision(rs)).max().unwrap_or(0);
            if revision(rs) <= newest_old {
                let annotation = json!({"metadata": {"annotations": {
                    REVISION_ANNOTATION: next_revision(newest_old).to_string()
                }}});
                match api
                    .patch(
                        &rs.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(annotation),
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(error) => {
                        return Err(request_error(
                            "annotate",
                            "ReplicaSet",
                            &namespace,
                            &new_name,
                        )(error));
                    }
                }
            }
            status_count(rs, |status| status.available_replicas)
        }
    };

    // Old ReplicaSets give way as the new one becomes available, newest old first kept longest.
    old.sort_by_key(|rs| std::cmp::Reverse(revision(rs)));
    let mut budget = desired.saturating_sub(new_available).max(0);
    for rs in &old {
        let current = rs.spec.as_ref().and_then(|spec| spec.replicas).unwrap_or(1);
        let target = current.min(budget);
        budget = budget.saturating_sub(target);
        if target != current {
            scale(&api, &namespace, &rs.name_any(), target).await?;
        }
    }

    // Status from the ReplicaSets as last observed.
    let all: Vec<&ReplicaSet> = new_rs
        .iter()
        .map(AsRef::as_ref)
        .chain(old.iter().map(AsRef::as_ref))
        .collect();
    let sum = |field: fn(&k8s_openapi::api::apps::v1::ReplicaSetStatus) -> Option<i32>| -> i32 {
        saturating_sum(all.iter().map(|rs| status_count(rs, field)))
    };
    let replicas = sum(|status| Some(status.replicas));
    let ready = sum(|status| status.ready_replicas);
    let available = sum(|status| status.available_replicas);
    let updated = new_rs
        .as_ref()
        .map_or(0, |rs| status_count(rs, |status| Some(status.replicas)));
    let old_remaining = saturating_sum(
        old.iter()
            .map(|rs| status_count(rs, |status| Some(status.replicas))),
    );
    let complete = updated == desired && new_available >= desired && old_remaining == 0;
    let current = serde_json::to_value(&deployment.status).map_err(|source| Error::Encode {
        kind: "Deployment",
        source,
    })?;
    let available_condition = if available >= desired {
        condition(
            &current,
            "Available",
            true,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        condition(
            &current,
            "Available",
            false,
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    let progressing_condition = if complete {
        condition(
            &current,
            "Progressing",
            true,
            "NewReplicaSetAvailable",
            &format!("ReplicaSet \"{new_name}\" has successfully progressed."),
        )
    } else {
        condition(
            &current,
            "Progressing",
            true,
            "ReplicaSetUpdated",
            &format!("ReplicaSet \"{new_name}\" is progressing."),
        )
    };
    let non_zero = |count: i32| {
        if count == 0 {
            Value::Null
        } else {
            json!(count)
        }
    };
    let desired_status = json!({
        "observedGeneration": deployment.metadata.generation,
        "replicas": non_zero(replicas),
        "updatedReplicas": non_zero(updated),
        "readyReplicas": non_zero(ready),
        "availableReplicas": non_zero(available),
        "unavailableReplicas": non_zero(desired.saturating_sub(available).max(0)),
        "conditions": [available_condition, progressing_condition],
    });
    let unchanged = desired_status
        .as_object()
        .into_iter()
        .flatten()
        .all(|(key, value)| current.get(key).unwrap_or(&Value::Null) == value);
    if !unchanged {
        let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &namespace);
        match deployments
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": desired_status})),
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => {
                return Err(request_error(
                    "patch status of",
                    "Deployment",
                    &namespace,
                    &name,
                )(error));
            }
        }
    }
    Ok(Action::await_change())
}

/// A condition, keeping both timestamps when nothing about it changed.
fn condition(current: &Value, kind: &str, ok: bool, reason: &str, message: &str) -> Value {
    let status = if ok { "True" } else { "False" };
    let previous = current
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|conditions| {
            conditions
                .iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
        });
    let same_status = previous.filter(|c| c.get("status").and_then(Value::as_str) == Some(status));
    let same_all = same_status.filter(|c| {
        c.get("reason").and_then(Value::as_str) == Some(reason)
            && c.get("message").and_then(Value::as_str) == Some(message)
    });
    let now = json!(now_time());
    let transition = same_status
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| now.clone());
    let update = same_all
        .and_then(|c| c.get("lastUpdateTime").cloned())
        .unwrap_or(now);
    json!({
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
        "lastUpdateTime": update,
    })
}

async fn scale(
    api: &Api<ReplicaSet>,
    namespace: &str,
    name: &str,
    replicas: i32,
) -> Result<(), Error> {
    match api
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": replicas}})),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(request_error("scale", "ReplicaSet", namespace, name)(error)),
    }
}

fn build_replicaset(
    deployment: &Deployment,
    uid: &str,
    name: &str,
    hash: &str,
    replicas: i32,
    revision: i64,
) -> Result<ReplicaSet, Error> {
    let spec = deployment.spec.clone().unwrap_or_default();
    let mut template = spec.template.clone();
    let mut template_meta = template.metadata.clone().unwrap_or_default();
    template_meta
        .labels
        .get_or_insert_with(Default::default)
        .insert(POD_TEMPLATE_HASH.to_string(), hash.to_string());
    template.metadata = Some(template_meta.clone());
    let mut selector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(Default::default)
        .insert(POD_TEMPLATE_HASH.to_string(), hash.to_string());
    let rs = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": deployment.namespace(),
            "labels": template_meta.labels,
            "annotations": {REVISION_ANNOTATION: revision.to_string()},
            "ownerReferences": [{
                "apiVersion": Deployment::api_version(&()),
                "kind": Deployment::kind(&()),
                "name": deployment.name_any(),
                "uid": uid,
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": spec.min_ready_seconds,
            "selector": selector,
            "template": template,
        },
    });
    serde_json::from_value(rs).map_err(|source| Error::Encode {
        kind: "ReplicaSet",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_revision_follows_the_newest_and_stops_at_the_maximum() {
        assert_eq!(next_revision(0), 1);
        assert_eq!(next_revision(41), 42);
        assert_eq!(next_revision(i64::MAX), i64::MAX);
    }

    #[test]
    fn status_counts_sum_without_overflowing() {
        assert_eq!(saturating_sum([1, 2, 3]), 6);
        assert_eq!(saturating_sum([i32::MAX, 1]), i32::MAX);
        assert_eq!(saturating_sum([i32::MIN, -1]), i32::MIN);
    }
}
