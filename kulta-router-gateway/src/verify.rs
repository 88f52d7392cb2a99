//! Deciding from a route's spec and status whether the desired weights are in effect (pure, but
//! for log lines about status KULTA disregards).

use std::collections::BTreeSet;

use gateway_api::httproutes::{HttpRoute, HttpRouteStatusParents};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kulta_router::{RouteTarget, RouterError, Verification};
use tracing::{debug, warn};

use crate::RouteKey;
use crate::backends::{other_backend_names, route_key, weight_pairs};
use crate::parents::pair_parents;
use crate::patch::desired_weights;

/// `Verified` when the route's spec holds the desired weights on every matched backendRef pair
/// and every gateway the route names has taken up its current generation; otherwise `Pending`
/// with what is missing, starting with `HTTPRoute namespace/name:`.
///
/// # What counts
///
/// - **Parents are the spec's.** Each entry of `spec.parentRefs` needs a `status.parents` entry
///   for it (compared with the API's defaults filled in: `group`, `kind`, the route's
///   namespace), reporting `Accepted=True` and `ResolvedRefs=True`, each with an
///   `observedGeneration` at or past the route's `metadata.generation`. A parentRef without an
///   entry is pending: its gateway has not looked at the route (or does not exist). Entries for
///   parents no longer in the spec are left over from an earlier spec and are ignored.
/// - **Leftover entries of another controller.** When several controllers have an entry for the
///   same parentRef (the parent moved to another GatewayClass, and the old controller never
///   cleaned up), the entries that observed the current generation decide; the others are
///   ignored. When none observed it, the parent is pending.
/// - **observedGeneration is required.** A condition without it could be from before KULTA's
///   write, so it proves nothing: pending, with a message naming the controller. Gateway API
///   conformance requires implementations to set it on every route condition.
/// - **Other backends do not block.** `ResolvedRefs` covers every backendRef of the route. A
///   current `ResolvedRefs=False` whose message names one of the user's other backends of the
///   route and neither of the Rollout's Services is about a backend KULTA does not weight: it
///   is logged as a warning and does not hold verification back. Any other
///   `ResolvedRefs=False` (naming a Rollout Service, naming both, or naming no backend of the
///   route) is pending. A gateway that reports only the first unresolved backendRef can hide a
///   problem of the Rollout's backendRef behind the user's (the crate's README has the details).
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
        problems = parent_problems(route, target, &key);
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

/// What keeps the route's parents from confirming its current generation, one line per parent.
fn parent_problems(route: &HttpRoute, target: &RouteTarget, key: &RouteKey) -> Vec<String> {
    let route_namespace = route
        .metadata
        .namespace
        .as_deref()
        .unwrap_or(&target.namespace);
    let (parents, left_over) = pair_parents(route, route_namespace);
    if parents.is_empty() {
        return vec![
            "the route names no parent (spec.parentRefs is empty), so no gateway serves it; \
             add the Gateway to its parentRefs"
                .to_owned(),
        ];
    }
    for entry in &left_over {
        debug!(
            route = %key,
            parent = %entry.parent_ref.name,
            controller = %entry.controller_name,
            "ignoring a status.parents entry for a parent the route no longer names"
        );
    }
    if left_over.is_empty() && parents.iter().all(|parent| parent.entries.is_empty()) {
        return vec![
            "no gateway has reported on the route yet (status.parents is empty); check that its \
             parentRefs name an existing Gateway whose controller is running"
                .to_owned(),
        ];
    }
    let judge = Judge {
        key,
        generation: route.metadata.generation.unwrap_or(0),
        ours: [&target.stable.service, &target.canary.service],
        others: other_backend_names(route, target),
    };
    parents
        .iter()
        .filter_map(|parent| judge.parent_problem(&parent.name, &parent.entries))
        .collect()
}

/// Judges the status entries of one route against its current generation.
struct Judge<'a> {
    key: &'a RouteKey,
    generation: i64,
    /// The Rollout's stable and canary Service names.
    ours: [&'a str; 2],
    /// The names of the route's other backends.
    others: BTreeSet<String>,
}

impl Judge<'_> {
    /// What keeps the parent `name`, reported on by `entries`, from confirming the generation.
    fn parent_problem(&self, name: &str, entries: &[&HttpRouteStatusParents]) -> Option<String> {
        let current: Vec<&HttpRouteStatusParents> = entries
            .iter()
            .copied()
            .filter(|entry| self.is_current(entry))
            .collect();
        if current.is_empty() {
            return match entries.first() {
                None => Some(format!(
                    "parent {name} has not reported on the route yet (status.parents has no \
                     entry for it); check that it names an existing Gateway whose controller is \
                     running"
                )),
                Some(entry) => self.entry_problem(name, entry),
            };
        }
        for entry in entries.iter().filter(|entry| !self.is_current(entry)) {
            debug!(
                route = %self.key,
                parent = name,
                controller = %entry.controller_name,
                "ignoring an outdated status.parents entry: another controller reported on the \
                 current generation"
            );
        }
        current
            .iter()
            .find_map(|entry| self.entry_problem(name, entry))
    }

    /// Whether some condition of `entry` was set for the current generation, so its controller
    /// is live and its entry speaks for the parent now.
    fn is_current(&self, entry: &HttpRouteStatusParents) -> bool {
        entry
            .conditions
            .iter()
            .any(|condition| self.observed(condition))
    }

    fn observed(&self, condition: &Condition) -> bool {
        condition
            .observed_generation
            .is_some_and(|seen| seen >= self.generation)
    }

    /// What keeps one status entry from confirming the generation, if anything.
    fn entry_problem(&self, name: &str, entry: &HttpRouteStatusParents) -> Option<String> {
        let generation = self.generation;
        let checks = [
            ("Accepted", "has not accepted the route"),
            ("ResolvedRefs", "has not resolved the route's backendRefs"),
        ];
        for (condition_type, failure) in checks {
            let Some(condition) = entry
                .conditions
                .iter()
                .find(|condition| condition.type_ == condition_type)
            else {
                return Some(format!(
                    "parent {name} has not reported {condition_type} yet"
                ));
            };
            match condition.observed_generation {
                None => {
                    return Some(format!(
                        "parent {name} reports {condition_type} without observedGeneration, so \
                         KULTA cannot tell whether it has seen generation {generation} of the \
                         route; its controller {} must set observedGeneration, as Gateway API \
                         conformance requires",
                        entry.controller_name
                    ));
                }
                Some(seen) if seen < generation => {
                    return Some(format!(
                        "parent {name} has not yet observed generation {generation} of the \
                         route ({condition_type} is for generation {seen})"
                    ));
                }
                Some(_) => {}
            }
            if condition.status == "True" {
                continue;
            }
            if condition_type == "ResolvedRefs"
                && condition.status == "False"
                && self.names_only_other_backends(&condition.message)
            {
                warn!(
                    route = %self.key,
                    parent = name,
                    reason = %condition.reason,
                    message = %condition.message,
                    "a backendRef of the route that is not the Rollout's does not resolve; \
                     the Rollout's weights are verified regardless"
                );
                continue;
            }
            let detail = if condition.message.is_empty() {
                String::new()
            } else {
                format!(": {}", condition.message)
            };
            return Some(format!(
                "parent {name} {failure} ({condition_type}={}: {}{detail})",
                condition.status, condition.reason
            ));
        }
        None
    }

    /// Whether `message` names one of the route's other backends and neither of the Rollout's
    /// Services. Names are compared as whole words, a word being a run of the characters a
    /// Service name may hold (`service default/legacy`, `legacy.default.svc` and `"legacy"` all
    /// name `legacy`; `legacy-v2` does not).
    fn names_only_other_backends(&self, message: &str) -> bool {
        let message = message.to_ascii_lowercase();
        let words: BTreeSet<&str> = message
            .split(|character: char| !(character.is_ascii_alphanumeric() || character == '-'))
            .filter(|word| !word.is_empty())
            .collect();
        let names_ours = self.ours.iter().any(|name| words.contains(name));
        let names_other = self.others.iter().any(|name| words.contains(name.as_str()));
        names_other && !names_ours
    }
}
