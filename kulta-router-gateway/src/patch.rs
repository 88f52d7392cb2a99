//! Building the RFC 6902 JSON Patch that sets the weights (build step: pure).
//!
//! `spec.rules` and `rules[].backendRefs` are atomic lists in the HTTPRoute schema: a merge patch
//! or a server-side apply of either replaces the whole list and destroys the user's matches,
//! filters and other backends. A JSON Patch addresses the weight members by index instead, and
//! its leading `test` on `metadata.resourceVersion` makes the server refuse it when the route
//! changed since we read it, so the indices can never point at the wrong backend.

use gateway_api::httproutes::HttpRoute;
use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, ReplaceOperation, TestOperation};
use kulta_router::{RouteTarget, RouterError};
use serde_json::Value;

use crate::backends::{WeightPair, route_key, weight_pairs};

/// The `(stable, canary)` weights for a canary weight in percent; above 100 counts as 100.
pub fn desired_weights(canary_weight: u8) -> (i32, i32) {
    let canary = canary_weight.min(100);
    (i32::from(100u8.saturating_sub(canary)), i32::from(canary))
}

/// The patch that gives the stable backendRef of every matched rule `100 - canary_weight` and
/// the canary backendRef `canary_weight`, or `None` when the route already holds those weights.
///
/// The patch starts with a `test` of `/metadata/resourceVersion` against the value in `route`,
/// followed by one operation per weight that differs, on exactly
/// `/spec/rules/{i}/backendRefs/{j}/weight`: `replace` when the member exists, `add` when it is
/// absent. Nothing else in the route is touched.
///
/// # Errors
///
/// The errors of [`weight_pairs`]; [`RouterError::Transient`] when `route` carries no
/// `metadata.resourceVersion` (it did not come from the API server).
pub fn weight_patch(
    route: &HttpRoute,
    target: &RouteTarget,
    canary_weight: u8,
) -> Result<Option<Patch>, RouterError> {
    patch_pairs(route, &weight_pairs(route, target)?, canary_weight)
}

/// The patch setting `canary_weight` on the given pairs of `route`, or `None` when they already
/// hold it. Used by [`weight_patch`] and, with the pairs of
/// [`release_pairs`](crate::release_pairs) and weight 0, to let go of a route.
///
/// # Errors
///
/// [`RouterError::Transient`] when `route` carries no `metadata.resourceVersion`.
pub fn patch_pairs(
    route: &HttpRoute,
    pairs: &[WeightPair],
    canary_weight: u8,
) -> Result<Option<Patch>, RouterError> {
    let (stable_weight, canary_weight) = desired_weights(canary_weight);
    let mut operations = Vec::new();
    for pair in pairs {
        for (backend, current, desired) in [
            (pair.stable, pair.stable_weight, stable_weight),
            (pair.canary, pair.canary_weight, canary_weight),
        ] {
            if current == Some(desired) {
                continue;
            }
            let path = PointerBuf::from_tokens([
                "spec".to_owned(),
                "rules".to_owned(),
                pair.rule.to_string(),
                "backendRefs".to_owned(),
                backend.to_string(),
                "weight".to_owned(),
            ]);
            let value = Value::from(desired);
            operations.push(match current {
                Some(_) => PatchOperation::Replace(ReplaceOperation { path, value }),
                None => PatchOperation::Add(AddOperation { path, value }),
            });
        }
    }
    if operations.is_empty() {
        return Ok(None);
    }
    let Some(resource_version) = route.metadata.resource_version.clone() else {
        return Err(RouterError::Transient {
            message: format!(
                "{} has no metadata.resourceVersion; refusing to patch it blindly",
                route_key(route)
            ),
            source: None,
        });
    };
    let guard = PatchOperation::Test(TestOperation {
        path: PointerBuf::from_tokens(["metadata", "resourceVersion"]),
        value: Value::String(resource_version),
    });
    operations.insert(0, guard);
    Ok(Some(Patch(operations)))
}
