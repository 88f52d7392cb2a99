//! Observe: read what the plan needs from the caches and the router. Reads only.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use kulta_api::{Rollout, labels};
use kulta_router::{ResourceRef, RouteTarget, RouterError, TrafficRouter, Verification};

use crate::context::Context;
use crate::plan::{
    Observed, ObservedReplicaSet, RouteObservation, ServiceObservation, ServiceRecord,
};

/// Reads the Rollout's ReplicaSets and Services from the caches and asks the router about the
/// weight last requested; `references` are the objects the router references.
pub async fn observe(
    ctx: &Context,
    rollout: &Rollout,
    router: &dyn TrafficRouter,
    target: &RouteTarget,
    references: &[ResourceRef],
) -> Observed {
    let namespace = rollout.namespace().unwrap_or_default();
    let uid = rollout.uid().unwrap_or_default();
    let owned = |rs: &ReplicaSet| {
        rs.namespace().as_deref() == Some(namespace.as_str())
            && rs
                .owner_references()
                .iter()
                .any(|owner| owner.uid == uid && owner.controller == Some(true))
    };
    let cached: Vec<_> = ctx
        .caches
        .replica_sets_by_owner
        .get(&uid)
        .into_iter()
        .filter_map(|(namespace, name)| {
            ctx.caches
                .replica_sets
                .get(&ObjectRef::new(&name).within(&namespace))
        })
        .filter(|rs| owned(rs))
        .collect();
    // Our own creates and scales that the cache has not seen yet count as done.
    let unseen = ctx.caches.own_replica_sets.unseen(&namespace, |name| {
        cached
            .iter()
            .any(|rs| rs.metadata.name.as_deref() == Some(name))
    });
    let mut replica_sets: Vec<ObservedReplicaSet> = cached
        .into_iter()
        .filter_map(|rs| {
            let name = rs.name_any();
            ctx.caches
                .own_replica_sets
                .view(&namespace, &name, Some(rs))
        })
        .chain(unseen.into_iter().filter(|rs| owned(rs)))
        .filter(|rs| rs.metadata.deletion_timestamp.is_none())
        .filter_map(|rs| observe_replica_set(&rs))
        .collect();
    replica_sets.sort_by(|a, b| a.name.cmp(&b.name));
    let canary = rollout.spec.strategy.canary.as_ref();
    // A Service the cache does not have is gone, whatever we wrote to it before: KULTA never
    // creates Services, so there is no create of ours the cache could be behind on.
    let current_service = |name: &str| {
        ctx.caches
            .services
            .get(&ObjectRef::new(name).within(&namespace))
            .and_then(|cached| ctx.caches.own_services.view(&namespace, name, Some(cached)))
    };
    // Each Service read once, for what it selects, KULTA's record on it, and (the canary's)
    // its selector.
    let read = |name: Option<&String>| name.and_then(|name| current_service(name));
    let stable = read(canary.map(|c| &c.stable_service));
    let canary_svc = read(canary.map(|c| &c.canary_service));
    let observation = |service: Option<&Arc<Service>>| match service {
        None => ServiceObservation::Missing,
        Some(service) => ServiceObservation::Selects(
            service
                .spec
                .as_ref()
                .and_then(|spec| spec.selector.as_ref())
                .and_then(|selector| selector.get(labels::POD_TEMPLATE_HASH_LABEL).cloned()),
        ),
    };
    let record = |service: Option<&Arc<Service>>| {
        service
            .map(|service| {
                let annotation = |key: &str| service.annotations().get(key).cloned();
                ServiceRecord {
                    claimed_by: annotation(labels::SERVICE_CLAIM_ANNOTATION),
                    pinned: annotation(labels::PINNED_REVISION_ANNOTATION),
                    resource_version: service.resource_version(),
                }
            })
            .unwrap_or_default()
    };
    let stable_service = observation(stable.as_ref());
    let canary_service = observation(canary_svc.as_ref());
    let stable_record = record(stable.as_ref());
    let canary_record = record(canary_svc.as_ref());
    let canary_selector = canary_svc
        .as_ref()
        .and_then(|service| service.spec.as_ref())
        .and_then(|spec| spec.selector.clone())
        .unwrap_or_default();
    let requested = rollout
        .status
        .as_ref()
        .and_then(|s| s.desired_canary_weight)
        .and_then(|w| u8::try_from(w).ok());
    // A route the router cannot use as it is (not a missing one: some routers create their
    // state on the first write, and a route may be created after its Rollout).
    let mut route_problem = None;
    let route = match requested {
        None => {
            // Nothing asked yet (a first deploy): whether the route can carry the weights at
            // all is known before anything is created.
            if let Err(error) = router.verify_weight(target, 0).await
                && matches!(error, RouterError::InvalidConfig { .. })
            {
                route_problem = Some(error.to_string());
            }
            RouteObservation::NotRequested
        }
        Some(weight) => {
            let result = router.verify_weight(target, weight).await;
            let label = match &result {
                Ok(Verification::Verified) => "verified",
                Ok(Verification::Unsupported) => "unsupported",
                // A kind of answer this build does not know counts as not verified.
                Ok(_) => "pending",
                Err(error) => error.category(),
            };
            ctx.metrics
                .router_operation(router.kind(), "verify_weight", label);
            match result {
                Ok(Verification::Verified) => RouteObservation::Verified(weight),
                Ok(Verification::Unsupported) => RouteObservation::Unsupported(weight),
                Ok(Verification::Pending(reason)) => RouteObservation::Pending { weight, reason },
                Ok(other) => RouteObservation::Pending {
                    weight,
                    reason: format!(
                        "the router answered {other:?}, which this controller does not know"
                    ),
                },
                Err(error) => {
                    if matches!(error, RouterError::InvalidConfig { .. }) {
                        route_problem = Some(error.to_string());
                    }
                    RouteObservation::Failed {
                        weight,
                        category: error.category(),
                        reason: error.to_string(),
                    }
                }
            }
        }
    };
    Observed {
        replica_sets,
        stable_service,
        canary_service,
        canary_selector,
        stable_record,
        canary_record,
        route_problem,
        route,
        route_watched: ctx.watched.watching(references),
    }
}

fn observe_replica_set(rs: &ReplicaSet) -> Option<ObservedReplicaSet> {
    let hash = rs.labels().get(labels::POD_TEMPLATE_HASH_LABEL)?.clone();
    let status = rs.status.as_ref();
    let annotations = rs.annotations();
    Some(ObservedReplicaSet {
        name: rs.name_any(),
        hash,
        replicas: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        current: status.map_or(0, |s| s.replicas),
        ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        available: status.and_then(|s| s.available_replicas).unwrap_or(0),
        revision: annotations
            .get(labels::REVISION_ANNOTATION)
            .and_then(|r| r.parse().ok())
            .unwrap_or(0),
        scale_down_deadline: annotations
            .get(labels::SCALE_DOWN_DEADLINE_ANNOTATION)
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&Utc)),
    })
}
