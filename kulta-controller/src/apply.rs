//! Apply: carry out a [`Plan`]'s effects, in the one order that never drops traffic.
//!
//! 1. Create ReplicaSets and add capacity (scale-ups, deadline annotations).
//! 2. Pin Services to their revisions.
//! 3. Ask the router for the canary weight.
//! 4. Take capacity away (scale-downs, deletes). This comes after the route on purpose: the
//!    other order would send traffic to pods that are going away.
//!
//! The caller stores the plan's status before any of this (the write-ahead record: the actions
//! carried out, in `appliedActions`, and the weight asked for), and removes the actions'
//! annotations ([`consume_annotations`]) after. Every effect is idempotent and planned again
//! from the stored status and what is observed, so whatever a failure leaves undone, the next
//! reconcile completes; the record stops an action being carried out twice.
//!
//! One file over 500 lines on purpose: the order of the effects is the safety argument
//! (traffic before capacity), and it reads best in one place; its tests take the last 50.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use kulta_api::{ActionRecord, Rollout, labels};
use kulta_router::{RouteTarget, TrafficRouter, WriteOutcome};
use serde_json::json;
use tracing::info;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::plan::{ConsumedAnnotation, Observed, Plan, ReplicaSetChange};

/// What applying did, for metrics and the status write.
#[derive(Debug, Default)]
pub struct Applied {
    /// Whether the router wrote anything.
    pub route_written: bool,
}

/// Applies `plan` for `rollout`.
///
/// # Errors
/// The first failing API or router call; effects before it stay applied (each is idempotent, so
/// the next reconcile completes the rest).
pub async fn apply(
    ctx: &Context,
    rollout: &Rollout,
    plan: &Plan,
    observed: &Observed,
    router: &dyn TrafficRouter,
    target: &RouteTarget,
) -> Result<Applied> {
    let namespace = rollout
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let name = rollout.name_any();
    let mut applied = Applied::default();
    let replica_sets: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
    let (removals, additions): (Vec<&ReplicaSetChange>, Vec<&ReplicaSetChange>) = plan
        .replica_sets
        .iter()
        .partition(|change| change.removes_capacity(observed));
    for change in additions {
        apply_replica_set_change(ctx, &replica_sets, rollout, &namespace, change).await?;
    }
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &namespace);
    for pin in &plan.services {
        let mut patch = json!({
            "metadata": { "annotations": {
                labels::SERVICE_CLAIM_ANNOTATION: pin.rollout,
                labels::PINNED_REVISION_ANNOTATION: pin.hash,
            } },
            "spec": { "selector": { labels::POD_TEMPLATE_HASH_LABEL: pin.hash } },
        });
        if let Some(version) = &pin.claim_version {
            patch["metadata"]["resourceVersion"] = json!(version);
        }
        let pinned = services
            .patch(&pin.service, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| {
                Error::kube(
                    "pin the selector of",
                    "Service",
                    &namespace,
                    &pin.service,
                    e,
                )
            })?;
        ctx.caches.own_services.record(pinned);
        info!(service = %pin.service, revision = %pin.hash, "pinned service");
    }
    if let Some(weight) = plan.route_weight {
        let result = router.set_weight(target, weight).await;
        let label = match &result {
            Ok(WriteOutcome::Written) => "written",
            Ok(WriteOutcome::Unchanged) => "unchanged",
            Err(error) => error.category(),
        };
        ctx.metrics
            .router_operation(router.kind(), "set_weight", label);
        let outcome = result.map_err(|source| Error::Router {
            router: router.kind(),
            operation: "set weight",
            namespace: namespace.clone(),
            rollout: name.clone(),
            source,
        })?;
        applied.route_written = outcome == WriteOutcome::Written;
        if let (true, Some(eligible)) = (applied.route_written, plan.route_eligible_at) {
            let latency = ctx
                .clock
                .now()
                .signed_duration_since(eligible)
                .to_std()
                .unwrap_or_default();
            ctx.metrics.step_route_latency(latency);
        }
        info!(
            weight,
            written = applied.route_written,
            router = router.kind(),
            "requested canary weight"
        );
    }
    for change in removals {
        apply_replica_set_change(ctx, &replica_sets, rollout, &namespace, change).await?;
    }
    Ok(applied)
}

/// Removes consumed action annotations with a JSON Patch that first tests each value, so a value
/// a person changed in between is not lost. Called once the status recording them is stored.
/// Returns the Rollout as stored after the removal, or `None` when an annotation was no longer
/// there with the value read (removed already, or changed by a person: the next reconcile sees
/// it, the record in status keeps the old value from being carried out again).
///
/// # Errors
/// Any other failure of the patch; the annotations stay, and so does their record.
pub(crate) async fn consume_annotations(
    ctx: &Context,
    namespace: &str,
    name: &str,
    consumed: &[ConsumedAnnotation],
    records: &[ActionRecord],
) -> Result<Option<Rollout>> {
    let api: Api<Rollout> = Api::namespaced(ctx.client.clone(), namespace);
    let path_of = |key: &str| {
        format!(
            "/metadata/annotations/{}",
            key.replace('~', "~0").replace('/', "~1")
        )
    };
    let mut operations = Vec::new();
    for annotation in consumed {
        let path = path_of(&annotation.key);
        operations.push(json!({ "op": "test", "path": path, "value": annotation.value }));
        operations.push(json!({ "op": "remove", "path": path }));
    }
    // In the same write: which records this removal was for, so that the same annotation set
    // again later is told apart from the one just removed (see CONSUMED_ACTIONS_ANNOTATION).
    let marker = records
        .iter()
        .map(crate::plan::record_id)
        .collect::<Vec<_>>()
        .join(",");
    operations.push(json!({
        "op": "add",
        "path": path_of(labels::CONSUMED_ACTIONS_ANNOTATION),
        "value": marker,
    }));
    let patch: json_patch::Patch = serde_json::from_value(serde_json::Value::Array(operations))
        .map_err(|source| Error::Serialize {
            what: "annotation patch",
            source,
        })?;
    match api
        .patch(name, &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
    {
        Ok(stored) => Ok(Some(stored)),
        // A failed `test` (the value changed or the annotation is gone) is 422.
        Err(kube::Error::Api(status)) if status.code == 422 => Ok(None),
        Err(e) => Err(Error::kube(
            "consume the action annotations of",
            "Rollout",
            namespace,
            name,
            e,
        )),
    }
}

async fn apply_replica_set_change(
    ctx: &Context,
    api: &Api<ReplicaSet>,
    rollout: &Rollout,
    namespace: &str,
    change: &ReplicaSetChange,
) -> Result<()> {
    match change {
        ReplicaSetChange::Create {
            hash,
            replicas,
            revision,
        } => {
            let replica_set = build_replica_set(rollout, hash, *replicas, *revision)?;
            let name = format!("{}-{hash}", rollout.name_any());
            match create_replica_set(ctx, namespace, &replica_set).await {
                Ok(created) => {
                    ctx.caches.own_replica_sets.record(created);
                    info!(replica_set = %name, replicas, "created replica set");
                }
                // Not proof that it is ours: read it, and adopt it or refuse.
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    adopt(ctx, api, rollout, namespace, hash, *replicas, *revision).await?;
                }
                Err(kube::Error::Api(status)) if status.code == 422 => {
                    return Err(Error::ReplicaSetRefused {
                        namespace: namespace.to_string(),
                        name,
                        source: Box::new(kube::Error::Api(status)),
                    });
                }
                Err(e) => return Err(Error::kube("create", "ReplicaSet", namespace, &name, e)),
            }
        }
        ReplicaSetChange::Scale { name, replicas } => {
            let patch = json!({ "spec": { "replicas": replicas } });
            let scaled = api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| Error::kube("scale", "ReplicaSet", namespace, name, e))?;
            ctx.caches.own_replica_sets.record(scaled);
            info!(replica_set = %name, replicas, "scaled replica set");
        }
        ReplicaSetChange::ScaleDownDeadline { name, at } => {
            let value = at.map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            let patch = json!({ "metadata": { "annotations": { labels::SCALE_DOWN_DEADLINE_ANNOTATION: value } } });
            let annotated = api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| Error::kube("annotate", "ReplicaSet", namespace, name, e))?;
            ctx.caches.own_replica_sets.record(annotated);
        }
        ReplicaSetChange::Delete { name } => {
            ctx.caches.own_replica_sets.forget(namespace, name);
            match api.delete(name, &DeleteParams::background()).await {
                Ok(_) => info!(replica_set = %name, "deleted old replica set"),
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(Error::kube("delete", "ReplicaSet", namespace, name, e)),
            }
        }
    }
    Ok(())
}

/// A ReplicaSet named like revision `hash` of `rollout` already exists. It is ours when the
/// Rollout controls it (the cache had not seen our own create yet); it is adopted when nothing
/// controls it and it is labelled as this revision (a Rollout deleted with orphaning and
/// created again); anything else is a [`Error::ReplicaSetConflict`], and nothing is changed.
///
/// The adoption sets `replicas` and `revision` in the same write, so the adopted ReplicaSet is
/// what the create would have made: the reconcile goes on from it as from its own create, and
/// the echo of the write (which wakes no reconcile) leaves nothing undone.
async fn adopt(
    ctx: &Context,
    api: &Api<ReplicaSet>,
    rollout: &Rollout,
    namespace: &str,
    hash: &str,
    replicas: i32,
    revision: i64,
) -> Result<()> {
    let name = &format!("{}-{hash}", rollout.name_any());
    let existing = api
        .get(name)
        .await
        .map_err(|e| Error::kube("read", "ReplicaSet", namespace, name, e))?;
    let conflict = |why: String| Error::ReplicaSetConflict {
        namespace: namespace.to_string(),
        name: name.to_string(),
        why,
    };
    let uid = rollout.uid().unwrap_or_default();
    if let Some(controller) = existing
        .owner_references()
        .iter()
        .find(|owner| owner.controller == Some(true))
    {
        if controller.uid == uid {
            ctx.caches.own_replica_sets.record(existing);
            return Ok(());
        }
        return Err(conflict(format!(
            "it is controlled by {} {}; rename one of them",
            controller.kind, controller.name
        )));
    }
    // The stored template carries the API server's defaults, so it is not hashed again: a
    // ReplicaSet of this revision is labelled with it, on itself, its pods and its selector, as
    // KULTA creates it.
    let labelled = |labels: Option<&std::collections::BTreeMap<String, String>>| {
        labels
            .and_then(|l| l.get(labels::POD_TEMPLATE_HASH_LABEL))
            .map(String::as_str)
            == Some(hash)
    };
    let spec = existing.spec.as_ref();
    let of_this_revision = labelled(existing.metadata.labels.as_ref())
        && labelled(
            spec.and_then(|s| s.template.as_ref())
                .and_then(|t| t.metadata.as_ref())
                .and_then(|m| m.labels.as_ref()),
        )
        && labelled(spec.and_then(|s| s.selector.match_labels.as_ref()));
    if !of_this_revision {
        return Err(conflict(format!(
            "it is not labelled {}={hash} on itself, its pod template and its selector, so it \
             does not run this revision; delete it or rename the Rollout",
            labels::POD_TEMPLATE_HASH_LABEL
        )));
    }
    let mut owner = rollout
        .controller_owner_ref(&())
        .ok_or(Error::MissingField("metadata.uid"))?;
    owner.block_owner_deletion = Some(true);
    let owners_path = if existing.metadata.owner_references.is_some() {
        "/metadata/ownerReferences/-"
    } else {
        "/metadata/ownerReferences"
    };
    let owner_value = if existing.metadata.owner_references.is_some() {
        json!(owner)
    } else {
        json!([owner])
    };
    let mut operations = vec![
        json!({ "op": "test", "path": "/metadata/resourceVersion",
                "value": existing.metadata.resource_version }),
        json!({ "op": "add", "path": owners_path, "value": owner_value }),
        json!({ "op": "add", "path": "/spec/replicas", "value": replicas }),
    ];
    if existing.metadata.labels.is_none() {
        operations.push(json!({ "op": "add", "path": "/metadata/labels", "value": {} }));
    }
    if existing.metadata.annotations.is_none() {
        operations.push(json!({ "op": "add", "path": "/metadata/annotations", "value": {} }));
    }
    let escape = |key: &str| key.replace('~', "~0").replace('/', "~1");
    for (key, value) in [
        (
            labels::MANAGED_BY_LABEL,
            labels::MANAGED_BY_VALUE.to_string(),
        ),
        (labels::ROLLOUT_LABEL, rollout.name_any()),
    ] {
        operations.push(json!({
            "op": "add",
            "path": format!("/metadata/labels/{}", escape(key)),
            "value": value,
        }));
    }
    operations.push(json!({
        "op": "add",
        "path": format!("/metadata/annotations/{}", escape(labels::REVISION_ANNOTATION)),
        "value": revision.to_string(),
    }));
    let patch: json_patch::Patch = serde_json::from_value(serde_json::Value::Array(operations))
        .map_err(|source| Error::Serialize {
            what: "adoption patch",
            source,
        })?;
    let adopted = api
        .patch(name, &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .map_err(|e| Error::kube("adopt", "ReplicaSet", namespace, name, e))?;
    info!(replica_set = %name, replicas, "adopted an orphaned ReplicaSet of this revision");
    ctx.caches.own_replica_sets.record(adopted);
    Ok(())
}

/// Creates a ReplicaSet from its JSON (the template in it as the Rollout stores it, with fields
/// this build's types do not know).
async fn create_replica_set(
    ctx: &Context,
    namespace: &str,
    replica_set: &serde_json::Value,
) -> kube::Result<ReplicaSet> {
    let params = PostParams {
        field_manager: Some(labels::FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    let body = serde_json::to_vec(replica_set).map_err(kube::Error::SerdeError)?;
    let request = kube::core::Request::new(ReplicaSet::url_path(&(), Some(namespace)))
        .create(&params, body)
        .map_err(kube::Error::BuildRequest)?;
    ctx.client.request::<ReplicaSet>(request).await
}

/// The ReplicaSet of revision `hash`, as JSON: the Rollout's template as stored (fields this
/// build's types do not know included) with the revision's pod-template-hash on its pods and in
/// its selector, owned by the Rollout.
pub fn build_replica_set(
    rollout: &Rollout,
    hash: &str,
    replicas: i32,
    revision: i64,
) -> Result<serde_json::Value> {
    let mut owner = rollout
        .controller_owner_ref(&())
        .ok_or(Error::MissingField("metadata.uid"))?;
    // As the Deployment controller does: a foreground deletion of the Rollout waits for its
    // ReplicaSets. Where OwnerReferencesPermissionEnforcement is on, this needs `update` on
    // rollouts/finalizers, which deploy/ grants.
    owner.block_owner_deletion = Some(true);
    let rollout_name = rollout.name_any();
    let mut pod_labels: BTreeMap<String, String> =
        match rollout.spec.template.raw().pointer("/metadata/labels") {
            Some(labels) if !labels.is_null() => {
                serde_json::from_value(labels.clone()).map_err(|source| Error::Serialize {
                    what: "the template's labels",
                    source,
                })?
            }
            _ => BTreeMap::new(),
        };
    pod_labels.insert(
        labels::POD_TEMPLATE_HASH_LABEL.to_string(),
        hash.to_string(),
    );
    let mut template = rollout.spec.template.raw().clone();
    if let Some(root) = template.as_object_mut() {
        let metadata = root.entry("metadata").or_insert_with(|| json!({}));
        if !metadata.is_object() {
            *metadata = json!({});
        }
        if let Some(metadata) = metadata.as_object_mut() {
            metadata.insert("labels".to_string(), json!(pod_labels));
        }
    }
    let mut rs_labels = pod_labels.clone();
    rs_labels.insert(
        labels::MANAGED_BY_LABEL.to_string(),
        labels::MANAGED_BY_VALUE.to_string(),
    );
    rs_labels.insert(labels::ROLLOUT_LABEL.to_string(), rollout_name.clone());
    let mut selector = rollout.spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(
            labels::POD_TEMPLATE_HASH_LABEL.to_string(),
            hash.to_string(),
        );
    let replica_set = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{rollout_name}-{hash}")),
            namespace: rollout.namespace(),
            labels: Some(rs_labels),
            annotations: Some(BTreeMap::from([(
                labels::REVISION_ANNOTATION.to_string(),
                revision.to_string(),
            )])),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: rollout.spec.min_ready_seconds,
            selector,
            template: None,
        }),
        status: None,
    };
    let mut value = serde_json::to_value(&replica_set).map_err(|source| Error::Serialize {
        what: "ReplicaSet",
        source,
    })?;
    value["apiVersion"] = json!("apps/v1");
    value["kind"] = json!("ReplicaSet");
    value["spec"]["template"] = template;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kulta_api::testing::RolloutBuilder;

    #[test]
    fn a_replica_set_is_controlled_by_its_rollout_and_blocks_its_foreground_deletion() {
        let mut rollout = RolloutBuilder::new("web").build();
        rollout.metadata.uid = Some("3f1d".into());
        let rs: ReplicaSet =
            serde_json::from_value(build_replica_set(&rollout, "abc123", 2, 4).unwrap()).unwrap();
        let owners = rs.metadata.owner_references.unwrap();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].kind, "Rollout");
        assert_eq!(owners[0].name, "web");
        assert_eq!(owners[0].uid, "3f1d");
        assert_eq!(owners[0].controller, Some(true));
        assert_eq!(owners[0].block_owner_deletion, Some(true));
        assert_eq!(rs.metadata.name.as_deref(), Some("web-abc123"));
        assert_eq!(rs.spec.unwrap().replicas, Some(2));
    }

    #[test]
    fn the_replica_set_keeps_template_fields_the_typed_template_does_not_know() {
        let mut rollout = RolloutBuilder::new("web").build();
        rollout.metadata.uid = Some("3f1d".into());
        rollout.spec.template = json!({
            "metadata": {"labels": {"app": "web"}, "annotations": {"team": "a"}},
            "spec": {"containers": [{"name": "app", "image": "nginx"}],
                     "futureField": {"mode": "x"}}
        })
        .into();
        let rs = build_replica_set(&rollout, "abc123", 1, 1).unwrap();
        let template = &rs["spec"]["template"];
        assert_eq!(template["spec"]["futureField"], json!({"mode": "x"}));
        assert_eq!(template["metadata"]["annotations"], json!({"team": "a"}));
        assert_eq!(
            template["metadata"]["labels"],
            json!({"app": "web", "pod-template-hash": "abc123"})
        );
        assert_eq!(
            rs["spec"]["selector"]["matchLabels"],
            json!({"app": "web", "pod-template-hash": "abc123"})
        );
        assert_eq!(rs["kind"], "ReplicaSet");
    }

    #[test]
    fn a_rollout_without_a_uid_has_no_replica_set() {
        let rollout = RolloutBuilder::new("web").build();
        assert!(matches!(
            build_replica_set(&rollout, "abc123", 1, 1),
            Err(Error::MissingField("metadata.uid"))
        ));
    }
}
