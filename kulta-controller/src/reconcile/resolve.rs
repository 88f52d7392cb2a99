//! Resolve: validate once, then the router, its target and the objects it references.

use std::sync::Arc;

use kube::ResourceExt;
use kulta_api::Rollout;
use kulta_api::validation::FieldError;
use kulta_router::{BackendRef, ResourceRef, RouteTarget, TrafficRouter};

use crate::context::Context;

/// What a valid Rollout resolves to.
pub(super) struct Resolved {
    pub(super) router: Arc<dyn TrafficRouter>,
    pub(super) target: RouteTarget,
    /// The objects the router reads or writes for the target, watched for it.
    pub(super) references: Vec<ResourceRef>,
}

/// The router, its target and the objects it references for `rollout`, or the field errors that
/// make it invalid (validation, an unknown router, a router refusing its config or lacking
/// weights).
pub(super) fn resolve(ctx: &Context, rollout: &Rollout) -> Result<Resolved, Vec<FieldError>> {
    kulta_api::validation::validate(rollout)?;
    let field = |message: String| {
        vec![FieldError {
            path: "spec.strategy.canary.trafficRouting".to_string(),
            message,
        }]
    };
    let canary = rollout
        .spec
        .strategy
        .canary
        .as_ref()
        .ok_or_else(|| field("is required".to_string()))?;
    let routing = canary
        .traffic_routing
        .as_ref()
        .ok_or_else(|| field("is required".to_string()))?;
    let (Some(key), Some(config)) = (routing.router_key(), routing.router_config()) else {
        return Err(field("names no router".to_string()));
    };
    let router = ctx
        .routers
        .resolve(key, &config)
        .map_err(|e| field(e.to_string()))?;
    if !router.capabilities().weights {
        return Err(field(format!(
            "traffic router {key} cannot set weights, which canary steps need"
        )));
    }
    let target = RouteTarget {
        namespace: rollout.namespace().unwrap_or_default(),
        rollout: rollout.name_any(),
        stable: BackendRef {
            service: canary.stable_service.clone(),
            port: None,
        },
        canary: BackendRef {
            service: canary.canary_service.clone(),
            port: None,
        },
        config,
    };
    let references = router
        .referenced_objects(&target)
        .map_err(|e| field(format!("traffic router {key}: {e}")))?;
    Ok(Resolved {
        router,
        target,
        references,
    })
}
