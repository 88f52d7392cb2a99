//! Deciding from a route's spec and status whether the desired weights are in effect (pure).

use gateway_api::httproutes::{HttpRoute, HttpRouteStatusParents};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kulta_router::{RouteTarget, RouterError, Verification};

use crate::backends::{route_key, weight_pairs};
use crate::patch::desired_weights;

/// `Verified` when the route's spec holds the desired weights on every matched backendRef pair
/// and every entry of `status.parents` reports `Accepted=True` and `ResolvedRefs=True` with an
/// `observedGeneration` at or past the route's `metadata.generation`; otherwise `Pending` with
/// what is missing, starting with `HTTPRoute namespace/name:`. A condition without
/// `observedGeneration` counts as stale, and so does an empty `status.parents`: no gateway has
/// looked at the route yet.
///
/// # Errors
///
/// The errors of [`weight_pairs`]: the route no longer names the Rollout's Services.
pub fn verify_route(
    route: &HttpRoute,
    target: &RouteTarget,
    canary_weight: u8,
) -> Result<Verification, RouterError> {
    let key = route_key(route);
    let (stable, canary) = desired_weights(canary_weight);
    let mut problems = Vec::new();
    for pair in weight_pairs(route, target)? {
        if pair.stable_weight != Some(stable) || pair.canary_weight != Some(canary) {
            problems.push(format!(
                "rule {} has weights stable={} canary={}, waiting for stable={stable} \
                 canary={canary}",
                pair.rule,
                show(pair.stable_weight),
                show(pair.canary_weight)
            ));
        }
    }
    if problems.is_empty() {
        let generation = route.metadata.generation.unwrap_or(0);
        let parents = route
            .status
            .as_ref()
            .map(|status| status.parents.as_slice())
            .unwrap_or_default();
        if parents.is_empty() {
            problems.push(
                "no gateway has reported on the route yet (status.parents is empty); check that \
                 its parentRefs name an existing Gateway whose controller is running"
                    .to_owned(),
            );
        }
        for parent in parents {
            problems.extend(parent_problem(parent, generation));
        }
    }
    if problems.is_empty() {
        Ok(Verification::Verified)
    } else {
        Ok(Verification::Pending(format!(
            "{key}: {}",
            problems.join("; ")
        )))
    }
}

fn show(weight: Option<i32>) -> String {
    weight.map_or_else(|| "unset".to_owned(), |weight| weight.to_string())
}

/// What keeps `parent` from confirming generation `generation`, if anything.
fn parent_problem(parent: &HttpRouteStatusParents, generation: i64) -> Option<String> {
    let reference = &parent.parent_ref;
    let name = match &reference.namespace {
        Some(namespace) => format!("{namespace}/{}", reference.name),
        None => reference.name.clone(),
    };
    let name = match &reference.section_name {
        Some(section) => format!("{name} (listener {section})"),
        None => name,
    };
    let checks = [
        ("Accepted", "has not accepted the route"),
        ("ResolvedRefs", "has not resolved the route's backendRefs"),
    ];
    for (condition_type, failure) in checks {
        let condition = parent
            .conditions
            .iter()
            .find(|condition| condition.type_ == condition_type);
        let problem = match condition {
            None => Some(format!(
                "parent {name} has not reported {condition_type} yet"
            )),
            Some(condition) if !is_current(condition, generation) => Some(format!(
                "parent {name} has not yet observed generation {generation} of the route \
                 ({condition_type} is for {})",
                condition.observed_generation.map_or_else(
                    || "an unknown generation".to_owned(),
                    |seen| { format!("generation {seen}") }
                )
            )),
            Some(condition) if condition.status != "True" => Some(format!(
                "parent {name} {failure} ({condition_type}={}: {})",
                condition.status, condition.reason
            )),
            Some(_) => None,
        };
        if problem.is_some() {
            return problem;
        }
    }
    None
}

fn is_current(condition: &Condition, generation: i64) -> bool {
    condition
        .observed_generation
        .is_some_and(|seen| seen >= generation)
}
