//! Validation of a Rollout's spec: the "validate" stage of the reconcile pipeline.
//!
//! [`validate`] is a pure function that reports every problem with its field path. The
//! controller shows the result in an `InvalidSpec` condition and touches nothing else until the
//! spec changes. The rules CEL can express are also in the CRD (see [`crate::crd`]), so a real API
//! server refuses most of these objects at `kubectl apply`; this function is the full set and the
//! one source of truth for objects that reached the cluster another way.
//!
//! One file over 500 lines on purpose: every rule a Rollout is checked against, in the order
//! of the spec, so the whole contract is read in one place; its tests follow.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::rollout::{
    CanaryStrategy, DEFAULT_PROGRESS_DEADLINE_SECONDS, GatewayApiRouting, MAX_HTTP_ROUTES,
    MAX_STEPS, PluginRouting, Rollout, RolloutSpec, TrafficRouting,
};
use crate::steps::step_errors;

/// One problem with a Rollout, at a field path such as `spec.strategy.canary.steps[2].setWeight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field in the object, in the dotted form `kubectl explain` uses, with list
    /// indices in brackets. Empty for "the object the caller is looking at" (see
    /// [`FieldError::under`]).
    pub path: String,
    /// What is wrong and what a person can do about it; lowercase, no trailing period.
    pub message: String,
}

impl FieldError {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same problem with `prefix` in front of its path: `setWeight` under
    /// `spec.strategy.canary.steps[2]` is `spec.strategy.canary.steps[2].setWeight`.
    pub fn under(self, prefix: &str) -> Self {
        let path = match (prefix.is_empty(), self.path.is_empty()) {
            (_, true) => prefix.to_owned(),
            (true, false) => self.path,
            (false, false) => format!("{prefix}.{}", self.path),
        };
        Self { path, ..self }
    }
}

impl fmt::Display for FieldError {
    /// `{path}: {message}`, or just the message when the path is empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// Checks a Rollout's spec and reports every problem, in the order of the spec's fields.
///
/// # Errors
///
/// Every [`FieldError`] found; never an empty `Vec`.
pub fn validate(rollout: &Rollout) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = rollout.metadata.name.as_deref().unwrap_or_default();
    if name.len() > MAX_NAME_LENGTH {
        errors.push(FieldError::new(
            "metadata.name",
            format!(
                "must be at most {MAX_NAME_LENGTH} characters, got {}: it is the value of the \
                 kulta.io/rollout label on the Rollout's ReplicaSets",
                name.len()
            ),
        ));
    }
    errors.extend(spec_errors(&rollout.spec));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The longest Rollout name: it is a label value (`kulta.io/rollout`), and label values have at
/// most 63 characters. The CRD refuses longer names with a CEL rule; this check covers a CRD
/// installed without it.
pub const MAX_NAME_LENGTH: usize = 63;

fn spec_errors(spec: &RolloutSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    non_negative("spec.replicas", spec.replicas, &mut errors);
    match spec.template.decode() {
        Ok(template) => {
            selector_errors(spec, &template, &mut errors);
            template_errors(&template, &mut errors);
        }
        // The selector is checked against the template's labels: not without a template.
        Err(error) => errors.push(error),
    }
    match &spec.strategy.canary {
        Some(canary) => canary_errors(canary, &mut errors),
        None => errors.push(FieldError::new(
            "spec.strategy.canary",
            "is required; KULTA rolls out with the canary strategy",
        )),
    }
    non_negative("spec.minReadySeconds", spec.min_ready_seconds, &mut errors);
    non_negative(
        "spec.revisionHistoryLimit",
        spec.revision_history_limit,
        &mut errors,
    );
    let deadline = spec
        .progress_deadline_seconds
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS);
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    if deadline <= 0 {
        errors.push(FieldError::new(
            "spec.progressDeadlineSeconds",
            format!("must be greater than 0, got {deadline}"),
        ));
    } else if deadline <= min_ready {
        errors.push(FieldError::new(
            "spec.progressDeadlineSeconds",
            format!(
                "must be greater than minReadySeconds ({min_ready}), got {deadline}; \
                 raise it or lower minReadySeconds"
            ),
        ));
    }
    errors
}

fn non_negative(path: &str, value: Option<i32>, errors: &mut Vec<FieldError>) {
    if let Some(value) = value
        && value < 0
    {
        errors.push(FieldError::new(
            path,
            format!("must not be negative, got {value}"),
        ));
    }
}

fn selector_errors(spec: &RolloutSpec, template: &PodTemplateSpec, errors: &mut Vec<FieldError>) {
    let selector = &spec.selector;
    let match_labels = selector.match_labels.as_ref().filter(|m| !m.is_empty());
    let expressions = selector
        .match_expressions
        .as_deref()
        .filter(|e| !e.is_empty());
    if match_labels.is_none() && expressions.is_none() {
        errors.push(FieldError::new(
            "spec.selector",
            "must not be empty; select the template's labels, e.g. matchLabels: {app: my-app}",
        ));
        return;
    }
    let empty = BTreeMap::new();
    let labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref())
        .unwrap_or(&empty);
    for (key, want) in match_labels.into_iter().flatten() {
        let path = format!("spec.selector.matchLabels.{key}");
        match labels.get(key) {
            Some(have) if have == want => {}
            Some(have) => errors.push(FieldError::new(
                path,
                format!(
                    "selects {key}={want} but the template's label is {key}={have}; \
                     the selector must match spec.template.metadata.labels"
                ),
            )),
            None => errors.push(FieldError::new(
                path,
                format!(
                    "selects {key}={want} but the template has no label {key}; \
                     add it to spec.template.metadata.labels"
                ),
            )),
        }
    }
    for (index, expression) in expressions.into_iter().flatten().enumerate() {
        let path = format!("spec.selector.matchExpressions[{index}]");
        let key = &expression.key;
        let values = expression.values.as_deref().unwrap_or_default();
        let have = labels.get(key);
        let listed = || format!("[{}]", values.join(", "));
        let matches = match expression.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                errors.push(FieldError::new(
                    format!("{path}.values"),
                    format!(
                        "must not be empty for operator {}; list the values to match",
                        expression.operator
                    ),
                ));
                continue;
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                errors.push(FieldError::new(
                    format!("{path}.values"),
                    format!(
                        "must be empty for operator {}; remove the values",
                        expression.operator
                    ),
                ));
                continue;
            }
            operator => match requirement_matches(operator, have, values) {
                Some(matches) => matches,
                None => {
                    errors.push(FieldError::new(
                        format!("{path}.operator"),
                        format!("must be In, NotIn, Exists or DoesNotExist, got {operator:?}"),
                    ));
                    continue;
                }
            },
        };
        if !matches {
            let found = match have {
                Some(value) => format!("the template's label is {key}={value}"),
                None => format!("the template has no label {key}"),
            };
            let requirement = match expression.operator.as_str() {
                "In" | "NotIn" => format!("{key} {} {}", expression.operator, listed()),
                _ => format!("{key} {}", expression.operator),
            };
            errors.push(FieldError::new(
                path,
                format!(
                    "requires {requirement} but {found}; \
                     the selector must match spec.template.metadata.labels"
                ),
            ));
        }
    }
}

/// Whether `selector` selects an object with these labels. An empty selector selects nothing
/// here (a Rollout must select its own pods, not everything), and an unknown operator never
/// matches.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let match_labels = selector.match_labels.as_ref().filter(|m| !m.is_empty());
    let expressions = selector
        .match_expressions
        .as_deref()
        .filter(|e| !e.is_empty());
    if match_labels.is_none() && expressions.is_none() {
        return false;
    }
    let labels_match = match_labels
        .into_iter()
        .flatten()
        .all(|(key, want)| labels.get(key) == Some(want));
    let expressions_match = expressions.into_iter().flatten().all(|expression| {
        let values = expression.values.as_deref().unwrap_or_default();
        let have = labels.get(&expression.key);
        requirement_matches(&expression.operator, have, values).unwrap_or(false)
    });
    labels_match && expressions_match
}

/// Whether a label value (`None`: no such label) meets a `matchExpressions` requirement;
/// `None` for an unknown operator.
fn requirement_matches(operator: &str, have: Option<&String>, values: &[String]) -> Option<bool> {
    match operator {
        "In" => Some(have.is_some_and(|v| values.contains(v))),
        "NotIn" => Some(!have.is_some_and(|v| values.contains(v))),
        "Exists" => Some(have.is_some()),
        "DoesNotExist" => Some(have.is_none()),
        _ => None,
    }
}

fn template_errors(template: &PodTemplateSpec, errors: &mut Vec<FieldError>) {
    let containers = template.spec.as_ref().map_or(0, |pod| pod.containers.len());
    if containers == 0 {
        errors.push(FieldError::new(
            "spec.template.spec.containers",
            "must list at least one container",
        ));
    }
}

fn canary_errors(canary: &CanaryStrategy, errors: &mut Vec<FieldError>) {
    const PREFIX: &str = "spec.strategy.canary";
    service_name_errors(
        &format!("{PREFIX}.stableService"),
        &canary.stable_service,
        "the stable pods",
        errors,
    );
    service_name_errors(
        &format!("{PREFIX}.canaryService"),
        &canary.canary_service,
        "the canary pods",
        errors,
    );
    if !canary.stable_service.is_empty() && canary.stable_service == canary.canary_service {
        errors.push(FieldError::new(
            format!("{PREFIX}.canaryService"),
            format!(
                "must differ from stableService (both are {:?}); each revision needs its own \
                 Service",
                canary.canary_service
            ),
        ));
    }
    if canary.steps.len() > MAX_STEPS {
        errors.push(FieldError::new(
            format!("{PREFIX}.steps"),
            format!(
                "must have at most {MAX_STEPS} steps, got {}",
                canary.steps.len()
            ),
        ));
    }
    for (index, step) in canary.steps.iter().enumerate() {
        let prefix = format!("{PREFIX}.steps[{index}]");
        errors.extend(step_errors(step).into_iter().map(|e| e.under(&prefix)));
    }
    match &canary.traffic_routing {
        Some(routing) => traffic_routing_errors(routing, errors),
        None => errors.push(FieldError::new(
            format!("{PREFIX}.trafficRouting"),
            "is required; name one router: gatewayAPI or plugin",
        )),
    }
    non_negative(
        &format!("{PREFIX}.scaleDownDelaySeconds"),
        canary.scale_down_delay_seconds,
        errors,
    );
}

fn service_name_errors(path: &str, name: &str, selects: &str, errors: &mut Vec<FieldError>) {
    if name.is_empty() {
        errors.push(FieldError::new(
            path,
            format!("must not be empty; name the Service that selects {selects}"),
        ));
    } else if !is_dns1035_label(name) {
        errors.push(FieldError::new(
            path,
            format!(
                "must be a valid Service name (lowercase letters, digits and '-', starting with \
                 a letter, ending with a letter or digit, at most 63 characters), got {name:?}"
            ),
        ));
    }
}

fn traffic_routing_errors(routing: &TrafficRouting, errors: &mut Vec<FieldError>) {
    const PREFIX: &str = "spec.strategy.canary.trafficRouting";
    match (&routing.gateway_api, &routing.plugin) {
        (None, None) => errors.push(FieldError::new(
            PREFIX,
            "names no router; set gatewayAPI or plugin",
        )),
        (Some(_), Some(_)) => errors.push(FieldError::new(
            PREFIX,
            "names two routers (gatewayAPI and plugin); keep exactly one",
        )),
        (Some(gateway), None) => gateway_errors(gateway, errors),
        (None, Some(plugin)) => plugin_errors(plugin, errors),
    }
}

fn gateway_errors(gateway: &GatewayApiRouting, errors: &mut Vec<FieldError>) {
    const PREFIX: &str = "spec.strategy.canary.trafficRouting.gatewayAPI";
    match (&gateway.http_route, &gateway.http_routes) {
        (None, None) => errors.push(FieldError::new(
            PREFIX,
            "sets neither httpRoute nor httpRoutes; name the HTTPRoute whose backendRefs carry \
             the stable and canary Services",
        )),
        (Some(_), Some(_)) => errors.push(FieldError::new(
            PREFIX,
            "sets both httpRoute and httpRoutes; keep one (httpRoutes can list several routes)",
        )),
        (Some(name), None) => route_name_errors(&format!("{PREFIX}.httpRoute"), name, errors),
        (None, Some(routes)) => {
            let path = format!("{PREFIX}.httpRoutes");
            if routes.is_empty() {
                errors.push(FieldError::new(
                    path,
                    "must list at least one HTTPRoute, or use httpRoute",
                ));
            } else if routes.len() > MAX_HTTP_ROUTES {
                errors.push(FieldError::new(
                    path,
                    format!(
                        "must list at most {MAX_HTTP_ROUTES} HTTPRoutes, got {}",
                        routes.len()
                    ),
                ));
            }
            for (index, route) in routes.iter().enumerate() {
                let item = format!("{PREFIX}.httpRoutes[{index}]");
                route_name_errors(&format!("{item}.name"), &route.name, errors);
                if let Some(namespace) = &route.namespace
                    && !is_dns1123_label(namespace)
                {
                    errors.push(FieldError::new(
                        format!("{item}.namespace"),
                        format!(
                            "must be a valid namespace name (lowercase letters, digits and '-', \
                             at most 63 characters), got {namespace:?}; omit it to use the \
                             Rollout's namespace"
                        ),
                    ));
                }
            }
        }
    }
}

fn route_name_errors(path: &str, name: &str, errors: &mut Vec<FieldError>) {
    if name.is_empty() {
        errors.push(FieldError::new(
            path,
            "must not be empty; name the HTTPRoute",
        ));
    } else if !is_dns1123_subdomain(name) {
        errors.push(FieldError::new(
            path,
            format!(
                "must be a valid HTTPRoute name (lowercase letters, digits, '-' and '.', at \
                 most 253 characters), got {name:?}"
            ),
        ));
    }
}

fn plugin_errors(plugin: &PluginRouting, errors: &mut Vec<FieldError>) {
    const PREFIX: &str = "spec.strategy.canary.trafficRouting.plugin";
    if plugin.name.trim().is_empty() {
        errors.push(FieldError::new(
            format!("{PREFIX}.name"),
            "must not be empty; use the name the router was registered under",
        ));
    }
    if let Some(config) = &plugin.config
        && !config.is_object()
    {
        errors.push(FieldError::new(
            format!("{PREFIX}.config"),
            "must be an object; put the router's settings under named keys",
        ));
    }
}

/// A DNS-1035 label (the rule for Service names): `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63
/// characters.
pub fn is_dns1035_label(name: &str) -> bool {
    name.as_bytes().first().is_some_and(u8::is_ascii_lowercase) && is_dns1123_label(name)
}

/// A DNS-1123 label (the rule for namespace names): `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63
/// characters.
pub fn is_dns1123_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let alphanumeric = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|b| alphanumeric(b) || *b == b'-')
        && bytes.first().is_some_and(alphanumeric)
        && bytes.last().is_some_and(alphanumeric)
}

/// A DNS-1123 subdomain (the rule for most object names): dot-separated DNS-1123 labels, at most
/// 253 characters.
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns1123_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_joins_path_and_message() {
        let error = FieldError::new("spec.replicas", "must not be negative, got -1");
        assert_eq!(
            error.to_string(),
            "spec.replicas: must not be negative, got -1"
        );
        assert_eq!(FieldError::new("", "bad").to_string(), "bad");
    }

    #[test]
    fn under_prefixes_paths() {
        assert_eq!(FieldError::new("a", "m").under("x.y").path, "x.y.a");
        assert_eq!(FieldError::new("", "m").under("x.y").path, "x.y");
        assert_eq!(FieldError::new("a", "m").under("").path, "a");
    }

    #[test]
    fn selector_matching() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
        let labels = BTreeMap::from([
            ("app".to_owned(), "web".to_owned()),
            ("tier".to_owned(), "front".to_owned()),
        ]);
        let requirement = |operator: &str, values: &[&str]| LabelSelectorRequirement {
            key: "tier".into(),
            operator: operator.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        };
        let selector = |match_labels: &[(&str, &str)], expressions| LabelSelector {
            match_labels: Some(
                match_labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            match_expressions: Some(expressions),
        };
        assert!(selector_matches(
            &selector(&[("app", "web")], vec![]),
            &labels
        ));
        assert!(!selector_matches(
            &selector(&[("app", "api")], vec![]),
            &labels
        ));
        assert!(!selector_matches(&selector(&[], vec![]), &labels));
        for (operator, values, want) in [
            ("In", &["front", "back"][..], true),
            ("In", &["back"][..], false),
            ("NotIn", &["back"][..], true),
            ("NotIn", &["front"][..], false),
            ("Exists", &[][..], true),
            ("DoesNotExist", &[][..], false),
            ("Equals", &["front"][..], false),
        ] {
            let with_expression = selector(&[("app", "web")], vec![requirement(operator, values)]);
            assert_eq!(
                selector_matches(&with_expression, &labels),
                want,
                "{operator} {values:?}"
            );
        }
    }

    #[test]
    fn dns_names() {
        for good in ["a", "my-app-stable", "a1", &"a".repeat(63)] {
            assert!(is_dns1035_label(good), "{good}");
        }
        for bad in ["", "1a", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_dns1035_label(bad), "{bad}");
        }
        assert!(is_dns1123_label("1a"));
        assert!(is_dns1123_subdomain("route.v1"));
        assert!(!is_dns1123_subdomain("route..v1"));
        assert!(!is_dns1123_subdomain("Route"));
    }
}
