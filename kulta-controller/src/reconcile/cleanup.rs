//! Deleting: traffic back to stable, Services released, then the finalizer goes.

use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kulta_api::{Rollout, labels};

use super::resolve::{Resolved, resolve};
use super::{publish, rollout_labels};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::plan::PlannedEvent;

/// Deleting: traffic back to 100% stable and nothing of ours left in the routes, then the
/// finalizer goes. A Rollout whose router cannot be resolved any more has nothing we can clean.
pub(super) async fn cleanup(ctx: &Context, rollout: &Rollout) -> Result<Action> {
    if let Ok(Resolved { router, target, .. }) = resolve(ctx, rollout) {
        let result = router.remove_managed_routes(&target).await;
        ctx.metrics.router_operation(
            router.kind(),
            "remove_managed_routes",
            result.as_ref().map_or_else(|e| e.category(), |()| "ok"),
        );
        result.map_err(|source| Error::Router {
            router: router.kind(),
            operation: "remove managed routes",
            namespace: target.namespace.clone(),
            rollout: target.rollout.clone(),
            source,
        })?;
        publish(
            ctx,
            rollout,
            &[PlannedEvent {
                warning: false,
                reason: "TrafficRestored",
                note: "rollout deleted: all traffic routed to stable".to_string(),
            }],
        )
        .await;
    }
    release_services(ctx, rollout).await?;
    ctx.forget(rollout);
    ctx.watched.untrack(&ObjectRef::from_obj(rollout));
    ctx.metrics.forget_rollout(&rollout_labels(rollout));
    Ok(Action::await_change())
}

/// Removes this Rollout's claim and pin record from its Services, so that another Rollout may
/// pin them. The selectors stay as they are: the Services keep serving.
async fn release_services(ctx: &Context, rollout: &Rollout) -> Result<()> {
    let Some(canary) = rollout.spec.strategy.canary.as_ref() else {
        return Ok(());
    };
    let namespace = rollout.namespace().unwrap_or_default();
    let name = rollout.name_any();
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &namespace);
    for service in [&canary.stable_service, &canary.canary_service] {
        let claimed = ctx
            .caches
            .services
            .get(&ObjectRef::new(service).within(&namespace))
            .is_some_and(|cached| {
                cached.annotations().get(labels::SERVICE_CLAIM_ANNOTATION) == Some(&name)
            });
        if !claimed {
            continue;
        }
        let patch = serde_json::json!({ "metadata": { "annotations": {
            labels::SERVICE_CLAIM_ANNOTATION: null,
            labels::PINNED_REVISION_ANNOTATION: null,
        } } });
        match services
            .patch(service, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            // Not recorded as our own write: its watch event must wake the Rollouts that wait
            // for this Service.
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => {
                return Err(Error::kube(
                    "release the claim on",
                    "Service",
                    &namespace,
                    service,
                    e,
                ));
            }
        }
    }
    Ok(())
}
