//! The canary plan's view of the stable and canary Services: whose they are, whether they may
//! be pinned, and whether the canary Service can serve the canary.

use kulta_api::labels::{
    PINNED_REVISION_ANNOTATION, POD_TEMPLATE_HASH_LABEL, SERVICE_CLAIM_ANNOTATION,
};

use super::Planner;
use crate::plan::{ServiceObservation, ServiceRecord};

impl Planner<'_> {
    /// The stable and canary Services: name, what the cache shows it selecting, and KULTA's
    /// record on it.
    fn service_pair(&self) -> [(&str, &ServiceObservation, &ServiceRecord); 2] {
        [
            (
                self.spec.stable_service.as_str(),
                &self.observed.stable_service,
                &self.observed.stable_record,
            ),
            (
                self.spec.canary_service.as_str(),
                &self.observed.canary_service,
                &self.observed.canary_record,
            ),
        ]
    }

    /// Why another Rollout holds one of this Rollout's Services, if one does.
    pub(super) fn held_elsewhere(&self) -> Option<String> {
        self.service_pair()
            .into_iter()
            .find_map(|(service, _, record)| {
                record
                    .claimed_by
                    .as_deref()
                    .filter(|holder| *holder != self.name())
                    .and_then(|_| {
                        service_ownership_problem(
                            self.name(),
                            service,
                            &ServiceObservation::Selects(None),
                            record,
                        )
                    })
            })
    }

    /// The revision the stable Service pins, when it is one of this Rollout's ReplicaSets other
    /// than the template's.
    pub(super) fn inferred_stable(&self) -> Option<String> {
        match &self.observed.stable_service {
            ServiceObservation::Selects(Some(hash))
                if *hash != self.spec.template_hash
                    && self.observed.replica_set(hash).is_some() =>
            {
                Some(hash.clone())
            }
            _ => None,
        }
    }

    /// Whether a Service (as `observed`) may be pinned to revision `hash` now: when it already
    /// is, or once every pod that revision should run is available. Before that the Service
    /// keeps what it selects (on a first deploy, or a migration from a Deployment, the pods that
    /// serve today): a pin to a revision with no available pod would be an outage.
    pub(super) fn may_pin(&self, observed: &ServiceObservation, hash: &str) -> bool {
        observed.selects(hash) || self.available(hash) >= self.spec.replicas
    }

    /// Why the canary Service cannot serve the canary, if it cannot: it does not exist, or its
    /// selector asks for a label the pod template does not give (besides the pod-template-hash
    /// KULTA pins), so it would select no canary pod.
    pub(super) fn canary_service_problem(&self) -> Option<String> {
        let service = &self.spec.canary_service;
        if self.observed.canary_service == ServiceObservation::Missing {
            return Some(format!("canary Service {service} not found; create it"));
        }
        // Traffic moves between the two Services: both must be this Rollout's to pin.
        if let Some(problem) =
            self.service_pair()
                .into_iter()
                .find_map(|(service, observed, record)| {
                    service_ownership_problem(self.name(), service, observed, record)
                })
        {
            return Some(problem);
        }
        let unmatched: Vec<String> = self
            .observed
            .canary_selector
            .iter()
            .filter(|(key, value)| {
                key.as_str() != POD_TEMPLATE_HASH_LABEL
                    && self.spec.template_labels.get(*key) != Some(*value)
            })
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        (!unmatched.is_empty()).then(|| {
            format!(
                "canary Service {service} selects {} but the pod template has no such label, so \
                 it would select no canary pod; make its selector a subset of \
                 spec.template.metadata.labels",
                unmatched.join(", ")
            )
        })
    }
}

/// Why `rollout` must not pin `service`: another Rollout claimed it, or someone changed the
/// pod-template-hash KULTA pinned (reported, never reverted: the change may be a person's fix).
pub(super) fn service_ownership_problem(
    rollout: &str,
    service: &str,
    observed: &ServiceObservation,
    record: &ServiceRecord,
) -> Option<String> {
    if let Some(holder) = record.claimed_by.as_deref()
        && holder != rollout
    {
        return Some(format!(
            "Service {service} is held by Rollout {holder} (annotation {SERVICE_CLAIM_ANNOTATION}); \
             give this Rollout its own Service, or remove the annotation if {holder} no longer \
             uses it"
        ));
    }
    let ServiceObservation::Selects(selected) = observed else {
        return None;
    };
    match (record.pinned.as_deref(), selected.as_deref()) {
        (Some(pinned), selected) if selected != Some(pinned) => Some(format!(
            "the selector of Service {service} was changed by someone else: KULTA pinned \
             pod-template-hash {pinned}, it now selects {}; KULTA leaves it as it is: restore \
             it, or remove the annotation {PINNED_REVISION_ANNOTATION} to let KULTA pin it again",
            selected.map_or_else(
                || "no pod-template-hash".to_string(),
                |hash| format!("pod-template-hash {hash}")
            )
        )),
        _ => None,
    }
}
