//! Finding the stable and canary backendRefs in an HTTPRoute's rules (pure).

use std::collections::BTreeSet;

use gateway_api::httproutes::{HttpRoute, HttpRouteRulesBackendRefs};
use kulta_router::{BackendRef, RouteTarget, RouterError};

use crate::RouteKey;

/// The positions of the stable and canary backendRefs in one rule, with their current weights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightPair {
    /// Index of the rule in `spec.rules`.
    pub rule: usize,
    /// Index of the stable backendRef in the rule's `backendRefs`.
    pub stable: usize,
    /// Index of the canary backendRef in the rule's `backendRefs`.
    pub canary: usize,
    /// The stable backendRef's `weight` as written in the route (`None` when absent).
    pub stable_weight: Option<i32>,
    /// The canary backendRef's `weight` as written in the route (`None` when absent).
    pub canary_weight: Option<i32>,
}

/// The key of `route`, from its metadata (empty strings for missing parts).
pub fn route_key(route: &HttpRoute) -> RouteKey {
    RouteKey::new(
        route.metadata.namespace.clone().unwrap_or_default(),
        route.metadata.name.clone().unwrap_or_default(),
    )
}

/// Finds, in every rule of `route`, the backendRefs naming `target.stable` and `target.canary`.
///
/// A backendRef names a Service when its `group` is absent or `""`, its `kind` is absent or
/// `Service`, its namespace (defaulting to the route's) is the Rollout's, its name matches, and,
/// when the [`BackendRef`] has a port, its port is equal. Rules naming neither Service are left
/// alone.
///
/// # Errors
///
/// [`RouterError::InvalidConfig`] (the route must change before KULTA can use it) when a rule
/// names one of the two Services but not the other (naming the route and the rule index), when
/// no rule names the stable Service, when one rule names the same Service more than once, or
/// when the stable and the canary are the same backend: KULTA could not tell which weight to
/// set.
pub fn weight_pairs(
    route: &HttpRoute,
    target: &RouteTarget,
) -> Result<Vec<WeightPair>, RouterError> {
    let key = route_key(route);
    let scan = scan(route, target)?;
    if let Some(rule) = scan.stable_only.first() {
        return Err(missing_in_rule(&target.canary, &key, *rule));
    }
    if let Some(rule) = scan.canary_only.first() {
        return Err(missing_in_rule(&target.stable, &key, *rule));
    }
    if scan.pairs.is_empty() {
        return Err(RouterError::invalid_config(format!(
            "no rule of {key} has a backendRef for {}: add one (a core Service, \
             not another kind)",
            target.stable
        )));
    }
    Ok(scan.pairs)
}

/// The pairs to send back to 100% stable when KULTA lets go of `route`: like [`weight_pairs`],
/// but a route that no longer names the canary (in some rules or at all) is fine, since no
/// traffic of ours is left there.
///
/// # Errors
///
/// [`RouterError::NotFound`] when a rule names the canary but not the stable Service: its
/// traffic cannot be moved to stable. [`RouterError::InvalidConfig`] as for [`weight_pairs`].
pub fn release_pairs(
    route: &HttpRoute,
    target: &RouteTarget,
) -> Result<Vec<WeightPair>, RouterError> {
    let scan = scan(route, target)?;
    if let Some(rule) = scan.canary_only.first() {
        return Err(missing_in_rule(&target.stable, &route_key(route), *rule));
    }
    Ok(scan.pairs)
}

/// The names of the user's other backends: every backendRef of `route`, in any rule, whose name
/// is neither `target.stable`'s nor `target.canary`'s Service name. A backendRef that shares a
/// name with one of them (in another namespace, or of another kind) is left out, since a
/// gateway's message naming it could not be told apart from one naming the Rollout's Service.
pub(crate) fn other_backend_names(route: &HttpRoute, target: &RouteTarget) -> BTreeSet<String> {
    route
        .spec
        .rules
        .iter()
        .flatten()
        .flat_map(|rule| rule.backend_refs.iter().flatten())
        .map(|backend| backend.name.clone())
        .filter(|name| *name != target.stable.service && *name != target.canary.service)
        .collect()
}

struct Scan {
    pairs: Vec<WeightPair>,
    stable_only: Vec<usize>,
    canary_only: Vec<usize>,
}

fn scan(route: &HttpRoute, target: &RouteTarget) -> Result<Scan, RouterError> {
    let key = route_key(route);
    if target.stable == target.canary {
        return Err(RouterError::invalid_config(format!(
            "the stable and canary backends are both {}",
            target.stable
        )));
    }
    let route_namespace = route
        .metadata
        .namespace
        .as_deref()
        .unwrap_or(&target.namespace);
    let rules = route.spec.rules.as_deref().unwrap_or_default();
    let mut scan = Scan {
        pairs: Vec::new(),
        stable_only: Vec::new(),
        canary_only: Vec::new(),
    };
    for (rule_index, rule) in rules.iter().enumerate() {
        let backends = rule.backend_refs.as_deref().unwrap_or_default();
        let find = |wanted: &BackendRef| -> Result<Option<usize>, RouterError> {
            let mut found = backends.iter().enumerate().filter(|(_, backend)| {
                names_service(backend, wanted, route_namespace, &target.namespace)
            });
            let first = found.next().map(|(index, _)| index);
            if found.next().is_some() {
                // The Rollout names Services, not ports: the remedy is in the route.
                return Err(RouterError::invalid_config(format!(
                    "{key} rule {rule_index} names {wanted} in more than one backendRef, so KULTA \
                     cannot tell which weight to set; keep a single backendRef for it in that rule"
                )));
            }
            Ok(first)
        };
        match (find(&target.stable)?, find(&target.canary)?) {
            (Some(stable), Some(canary)) => scan.pairs.push(WeightPair {
                rule: rule_index,
                stable,
                canary,
                stable_weight: backends[stable].weight,
                canary_weight: backends[canary].weight,
            }),
            (Some(_), None) => scan.stable_only.push(rule_index),
            (None, Some(_)) => scan.canary_only.push(rule_index),
            (None, None) => {}
        }
    }
    Ok(scan)
}

fn missing_in_rule(backend: &BackendRef, key: &RouteKey, rule: usize) -> RouterError {
    RouterError::invalid_config(format!(
        "{key} rule {rule} sends to one of the Rollout's Services but has no backendRef for \
         {backend}: a rule must name both, or neither"
    ))
}
fn names_service(
    backend: &HttpRouteRulesBackendRefs,
    wanted: &BackendRef,
    route_namespace: &str,
    service_namespace: &str,
) -> bool {
    let core_group = backend.group.as_deref().is_none_or(str::is_empty);
    let service_kind = backend.kind.as_deref().is_none_or(|kind| kind == "Service");
    let namespace = backend.namespace.as_deref().unwrap_or(route_namespace);
    let port_matches = wanted
        .port
        .is_none_or(|port| backend.port == Some(i32::from(port)));
    core_group
        && service_kind
        && namespace == service_namespace
        && backend.name == wanted.service
        && port_matches
}
