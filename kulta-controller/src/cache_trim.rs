//! What the controller's caches keep of each watched object: only what observe and the routers
//! read. Applied to every watch event before it reaches a store (`WatchStreamExt::modify`), so a
//! thousand Rollouts cost their names, selectors, counts and status, not their managedFields and
//! pod templates.
//!
//! | Kind | Kept | Dropped |
//! |---|---|---|
//! | Rollout | everything the plan reads | managedFields |
//! | ReplicaSet | labels, annotations, owners, `spec.replicas`, status | managedFields, `spec.template`, last-applied |
//! | Service | name, namespace, resourceVersion, `spec.selector`, KULTA's claim and pin annotations | managedFields, labels, other annotations, other spec, status |
//! | Objects routers reference (`watched`) | everything else | managedFields, last-applied |

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Service, ServiceSpec};
use kube::ResourceExt;
use kulta_api::Rollout;

/// kubectl's client-side-apply copy of the whole object, often its largest annotation.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Trims a cached Rollout.
pub fn rollout(rollout: &mut Rollout) {
    rollout.managed_fields_mut().clear();
}

/// Trims a cached ReplicaSet: observe reads its revision labels and annotations, owner,
/// replica counts and deletion mark, never its pod template.
pub fn replica_set(replica_set: &mut ReplicaSet) {
    replica_set.managed_fields_mut().clear();
    replica_set.annotations_mut().remove(LAST_APPLIED);
    if let Some(spec) = replica_set.spec.as_mut() {
        spec.template = None;
    }
}

/// Trims a cached Service to its selector (the Services watch sees every Service in scope).
pub fn service(service: &mut Service) {
    service.managed_fields_mut().clear();
    // Only KULTA's claim and pin record (see kulta_api::labels).
    service.metadata.annotations = service
        .metadata
        .annotations
        .take()
        .map(|mut annotations| {
            annotations.retain(|key, _| {
                key == kulta_api::labels::SERVICE_CLAIM_ANNOTATION
                    || key == kulta_api::labels::PINNED_REVISION_ANNOTATION
            });
            annotations
        })
        .filter(|annotations| !annotations.is_empty());
    service.metadata.labels = None;
    service.status = None;
    service.spec = service.spec.take().map(|spec| ServiceSpec {
        selector: spec.selector,
        ..ServiceSpec::default()
    });
}

/// Trims a cached object a router references (of whatever kind): routers read its spec and
/// status.
pub fn referenced(object: &mut kube::api::DynamicObject) {
    object.managed_fields_mut().clear();
    object.annotations_mut().remove(LAST_APPLIED);
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::api::core::v1::PodTemplateSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};
    use std::collections::BTreeMap;

    fn meta() -> ObjectMeta {
        ObjectMeta {
            name: Some("x".into()),
            namespace: Some("default".into()),
            labels: Some(BTreeMap::from([("app".into(), "x".into())])),
            annotations: Some(BTreeMap::from([
                (LAST_APPLIED.into(), "{}".into()),
                ("kulta.io/revision".into(), "2".into()),
            ])),
            managed_fields: Some(vec![ManagedFieldsEntry::default()]),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn replica_sets_keep_what_observe_reads() {
        let mut rs = ReplicaSet {
            metadata: meta(),
            spec: Some(ReplicaSetSpec {
                replicas: Some(3),
                template: Some(PodTemplateSpec::default()),
                ..ReplicaSetSpec::default()
            }),
            status: None,
        };
        replica_set(&mut rs);
        assert_eq!(rs.managed_fields(), &[] as &[ManagedFieldsEntry]);
        assert_eq!(rs.labels().get("app").map(String::as_str), Some("x"));
        assert_eq!(
            rs.annotations()
                .get("kulta.io/revision")
                .map(String::as_str),
            Some("2")
        );
        assert!(!rs.annotations().contains_key(LAST_APPLIED));
        let spec = rs.spec.unwrap_or_default();
        assert_eq!(spec.replicas, Some(3));
        assert!(spec.template.is_none());
    }

    #[test]
    fn services_keep_only_their_selector() {
        let mut svc = Service {
            metadata: meta(),
            spec: Some(ServiceSpec {
                selector: Some(BTreeMap::from([("app".into(), "x".into())])),
                cluster_ip: Some("10.0.0.1".into()),
                ..ServiceSpec::default()
            }),
            status: None,
        };
        service(&mut svc);
        assert_eq!(svc.name_any(), "x");
        let spec = svc.spec.unwrap_or_default();
        assert_eq!(
            spec.selector
                .unwrap_or_default()
                .get("app")
                .map(String::as_str),
            Some("x")
        );
        assert!(spec.cluster_ip.is_none());
        assert!(svc.metadata.annotations.is_none());
    }
}
