//! Pods as the simulated ReplicaSet controller sees and writes them: the view it reasons on,
//! pod creation from a template, and the status a kubelet would report.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use tracing::warn;

use super::support::{Error, is_status, now_time, random_suffix, request_error};

/// Pod annotation written by the controller: the instant (RFC 3339, ms) the pod becomes ready.
pub(super) const READY_AT_ANNOTATION: &str = "sim.kulta.io/ready-at";

/// What one pod looks like to the controller.
pub(super) struct PodView {
    pub(super) name: String,
    pub(super) ready_since: Option<DateTime<Utc>>,
    pub(super) ready_at: DateTime<Utc>,
    pub(super) running: bool,
    pub(super) fully_labeled: bool,
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

pub(super) fn view_pod(pod: &Pod, template_labels: &BTreeMap<String, String>) -> PodView {
    let created = pod
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|time| time.0)
        .and_then(|time| parse_time(&time.to_string()))
        .unwrap_or_else(Utc::now);
    let ready_at = pod
        .annotations()
        .get(READY_AT_ANNOTATION)
        .and_then(|text| parse_time(text))
        .unwrap_or(created);
    let status = pod.status.as_ref();
    let ready_since = status
        .and_then(|status| status.conditions.as_ref())
        .and_then(|conditions| {
            conditions
                .iter()
                .find(|condition| condition.type_ == "Ready" && condition.status == "True")
        })
        .map(|condition| {
            condition
                .last_transition_time
                .as_ref()
                .and_then(|time| parse_time(&time.0.to_string()))
                .unwrap_or(ready_at)
        });
    let labels = pod.labels();
    PodView {
        name: pod.name_any(),
        ready_since,
        ready_at,
        running: status.and_then(|status| status.phase.as_deref()) == Some("Running"),
        fully_labeled: template_labels
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value)),
    }
}

pub(super) fn owned_by(pod: &Pod, uid: &str) -> bool {
    pod.owner_references()
        .iter()
        .any(|owner| owner.controller == Some(true) && owner.uid == uid)
}

/// When a pod created at `now` becomes ready. A delay that reaches past year 9999 (the last
/// year RFC 3339 can write, so that the annotation reads back) ends at its last millisecond:
/// in effect never.
fn ready_time(now: DateTime<Utc>, ready_delay: std::time::Duration) -> DateTime<Utc> {
    let last = DateTime::parse_from_rfc3339("9999-12-31T23:59:59.999Z")
        .map_or(DateTime::<Utc>::MAX_UTC, |last| last.with_timezone(&Utc));
    chrono::Duration::from_std(ready_delay)
        .ok()
        .and_then(|delay| now.checked_add_signed(delay))
        .map_or(last, |ready_at| ready_at.min(last))
}

pub(super) fn millis_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A pod IP in 10.0.0.0/8 derived from the pod's name, so pods get distinct addresses.
fn pod_ip(name: &str) -> String {
    let hash = name.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    let [_, a, b, c] = hash.to_be_bytes();
    format!("10.{a}.{b}.{}", c.max(1))
}

/// Whether `pod` already carries the status [`patch_pod_status`] writes for `ready`: Running,
/// with a `Ready` condition of that value.
pub(super) fn pod_is_reported(pod: &Pod, ready: bool) -> bool {
    let Some(status) = pod.status.as_ref() else {
        return false;
    };
    let wanted = if ready { "True" } else { "False" };
    status.phase.as_deref() == Some("Running")
        && status
            .conditions
            .iter()
            .flatten()
            .any(|condition| condition.type_ == "Ready" && condition.status == wanted)
}

fn pod_status(pod: &Pod, ready: bool) -> Value {
    let now = now_time();
    // Millisecond precision on Ready, so `minReadySeconds` is measured from the real instant.
    let ready_time = millis_time(Utc::now());
    let flag = if ready { "True" } else { "False" };
    let containers: Vec<Value> = pod
        .spec
        .as_ref()
        .map(|spec| spec.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|container| {
            json!({
                "name": container.name,
                "image": container.image.clone().unwrap_or_default(),
                "imageID": "",
                "ready": ready,
                "started": true,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            })
        })
        .collect();
    json!({
        "status": {
            "phase": "Running",
            "startTime": now,
            "podIP": pod_ip(&pod.name_any()),
            "containerStatuses": containers,
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
                {"type": "Ready", "status": flag, "lastTransitionTime": ready_time},
            ],
        }
    })
}

/// Creates one pod from `template` for the ReplicaSet `rs` (uid `uid`), named
/// `<rs>-<random5>`, stamped to become ready after `ready_delay`. Returns the pod's name, or
/// `None` when no free name was found.
pub(super) async fn create_pod(
    pods_api: &Api<Pod>,
    rs: &ReplicaSet,
    uid: &str,
    template: &PodTemplateSpec,
    ready_delay: std::time::Duration,
) -> Result<Option<String>, Error> {
    let rs_name = rs.name_any();
    let namespace = rs.namespace().unwrap_or_default();
    let template_meta = template.metadata.clone().unwrap_or_default();
    let mut annotations = template_meta.annotations.unwrap_or_default();
    let ready_at = ready_time(Utc::now(), ready_delay);
    annotations.insert(READY_AT_ANNOTATION.to_string(), millis_time(ready_at));
    let owner = OwnerReference {
        api_version: ReplicaSet::api_version(&()).to_string(),
        kind: ReplicaSet::kind(&()).to_string(),
        name: rs_name.clone(),
        uid: uid.to_string(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    for _attempt in 0..5 {
        let pod_name = format!("{rs_name}-{}", random_suffix());
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some(pod_name.clone()),
                namespace: Some(namespace.clone()),
                labels: template_meta.labels.clone(),
                annotations: Some(annotations.clone()),
                owner_references: Some(vec![owner.clone()]),
                ..ObjectMeta::default()
            },
            spec: Some(template.spec.clone().unwrap_or_default()),
            status: None,
        };
        match pods_api.create(&PostParams::default(), &pod).await {
            Ok(_) => return Ok(Some(pod_name)),
            Err(error) if is_status(&error, 409) => continue,
            Err(error) => {
                return Err(request_error("create", "Pod", &namespace, &pod_name)(error));
            }
        }
    }
    warn!(replicaset = %rs_name, "unable to find a free pod name");
    Ok(None)
}

/// Marks `pod` Running, ready or not; returns the resourceVersion written (`None` if the pod
/// is gone).
pub(super) async fn patch_pod_status(
    pods_api: &Api<Pod>,
    namespace: &str,
    pod: &Pod,
    ready: bool,
) -> Result<Option<String>, Error> {
    let name = pod.name_any();
    match pods_api
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(pod_status(pod, ready)),
        )
        .await
    {
        Ok(patched) => Ok(patched.resource_version()),
        // Deleted meanwhile: the pod event will trigger a fresh reconcile.
        Err(error) if is_status(&error, 404) => Ok(None),
        Err(error) => Err(request_error("patch status of", "Pod", namespace, &name)(
            error,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_time_is_the_delay_after_now() {
        let now = Utc::now();
        assert_eq!(
            ready_time(now, std::time::Duration::from_secs(5)),
            now + chrono::Duration::seconds(5)
        );
    }

    #[test]
    fn a_delay_beyond_the_calendar_is_the_last_time_that_reads_back() {
        let last = ready_time(Utc::now(), std::time::Duration::MAX);
        assert_eq!(millis_time(last), "9999-12-31T23:59:59.999Z");
        assert_eq!(parse_time(&millis_time(last)), Some(last));
        let near_the_end = parse_time("9999-12-31T00:00:00Z").unwrap();
        assert_eq!(
            ready_time(near_the_end, std::time::Duration::from_secs(86_400 * 365)),
            last
        );
    }
}
