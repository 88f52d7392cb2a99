//! Objects a test makes to put the controller in a corner.

use k8s_openapi::api::apps::v1::ReplicaSet;
use kulta_api::Rollout;
use kulta_api::labels::POD_TEMPLATE_HASH_LABEL;
use serde_json::json;

/// The ReplicaSet `rollout` would create for its template with `image` in its first container,
/// labelled as that revision (pods, selector, itself) but owned by nothing and scaled to zero:
/// what a Rollout deleted with orphaning leaves behind. Returns its name, the revision hash and
/// the object, to create as it is or changed.
pub fn orphaned_replica_set(rollout: &Rollout, image: &str) -> (String, String, ReplicaSet) {
    let mut template = rollout.spec.template.clone();
    template.raw_mut()["spec"]["containers"][0]["image"] = json!(image);
    let hash = kulta_api::hash::revision_hash(&template);
    let mut pod_template = template.raw().clone();
    pod_template["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] = json!(hash);
    let mut selector = rollout
        .spec
        .selector
        .match_labels
        .clone()
        .unwrap_or_default();
    selector.insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
    let name = format!(
        "{}-{hash}",
        rollout.metadata.name.as_deref().expect("a named Rollout")
    );
    let orphan = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": pod_template["metadata"]["labels"].clone()},
        "spec": {"replicas": 0, "selector": {"matchLabels": selector}, "template": pod_template},
    }))
    .expect("a ReplicaSet");
    (name, hash, orphan)
}
