//! Pairing a route's `spec.parentRefs` with the entries of its `status.parents` (pure).
//!
//! A gateway controller writes one `status.parents` entry per parentRef it serves, copying the
//! parentRef. Entries can outlive their parentRef: a controller that stopped, or one that no
//! longer owns the parent, may never clean its entry up. Only entries whose parentRef is in the
//! spec say anything about how the route is served now.

use gateway_api::httproutes::{HttpRoute, HttpRouteParentRefs, HttpRouteStatusParents};

/// The API group a parentRef means when it names none.
const DEFAULT_GROUP: &str = "gateway.networking.k8s.io";
/// The kind a parentRef means when it names none.
const DEFAULT_KIND: &str = "Gateway";

/// A parentRef with the API's defaults filled in, so that a reference written with and without
/// its defaults (`group`, `kind`, the route's namespace) compares equal.
#[derive(Debug, PartialEq, Eq)]
struct ParentKey<'a> {
    group: &'a str,
    kind: &'a str,
    namespace: &'a str,
    name: &'a str,
    section_name: Option<&'a str>,
    port: Option<i32>,
}

/// The [`ParentKey`] of a parentRef: the spec's and the status's are two generated types with
/// the same fields.
macro_rules! parent_key {
    ($reference:expr, $route_namespace:expr) => {{
        let reference = $reference;
        ParentKey {
            // `""` is the core group (a Service parent), not the default.
            group: reference.group.as_deref().unwrap_or(DEFAULT_GROUP),
            kind: reference.kind.as_deref().unwrap_or(DEFAULT_KIND),
            namespace: reference.namespace.as_deref().unwrap_or($route_namespace),
            name: &reference.name,
            section_name: reference
                .section_name
                .as_deref()
                .filter(|section| !section.is_empty()),
            port: reference.port,
        }
    }};
}

impl<'a> ParentKey<'a> {
    fn of_spec(reference: &'a HttpRouteParentRefs, route_namespace: &'a str) -> Self {
        parent_key!(reference, route_namespace)
    }

    fn of_status(entry: &'a HttpRouteStatusParents, route_namespace: &'a str) -> Self {
        parent_key!(&entry.parent_ref, route_namespace)
    }
}

/// One parentRef of the route's spec and the status entries reporting on it.
pub(crate) struct SpecParent<'a> {
    /// The parentRef as a person reads it: `namespace/name`, the kind when not a Gateway, the
    /// listener (section) and port when given.
    pub(crate) name: String,
    /// The `status.parents` entries for this parentRef (one per controller that reported).
    pub(crate) entries: Vec<&'a HttpRouteStatusParents>,
}

/// The route's spec parentRefs, each with its status entries, and the status entries that match
/// no parentRef of the spec (left over). Defaults are filled in on both sides before comparing.
pub(crate) fn pair_parents<'a>(
    route: &'a HttpRoute,
    route_namespace: &'a str,
) -> (Vec<SpecParent<'a>>, Vec<&'a HttpRouteStatusParents>) {
    let entries = route
        .status
        .as_ref()
        .map(|status| status.parents.as_slice())
        .unwrap_or_default();
    let references = route.spec.parent_refs.as_deref().unwrap_or_default();
    let paired = references
        .iter()
        .map(|reference| {
            let key = ParentKey::of_spec(reference, route_namespace);
            SpecParent {
                name: describe(reference),
                entries: entries
                    .iter()
                    .filter(|entry| ParentKey::of_status(entry, route_namespace) == key)
                    .collect(),
            }
        })
        .collect();
    let left_over = entries
        .iter()
        .filter(|entry| {
            let key = ParentKey::of_status(entry, route_namespace);
            !references
                .iter()
                .any(|reference| ParentKey::of_spec(reference, route_namespace) == key)
        })
        .collect();
    (paired, left_over)
}

/// `reference` as written in the spec, e.g. `infra/public-gw (listener https)`.
pub(crate) fn describe(reference: &HttpRouteParentRefs) -> String {
    let mut name = match &reference.namespace {
        Some(namespace) => format!("{namespace}/{}", reference.name),
        None => reference.name.clone(),
    };
    let kind = reference.kind.as_deref().unwrap_or(DEFAULT_KIND);
    if kind != DEFAULT_KIND {
        name = format!("{kind} {name}");
    }
    let section = reference.section_name.as_deref().map(|section| {
        if kind == DEFAULT_KIND {
            format!("listener {section}")
        } else {
            format!("section {section}")
        }
    });
    let port = reference.port.map(|port| format!("port {port}"));
    let details: Vec<String> = section.into_iter().chain(port).collect();
    if details.is_empty() {
        name
    } else {
        format!("{name} ({})", details.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route(parent_refs: serde_json::Value, parents: serde_json::Value) -> HttpRoute {
        let route = json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "r", "namespace": "apps"},
            "spec": {"parentRefs": parent_refs},
            "status": {"parents": parents}
        });
        serde_json::from_value(route).expect("an HTTPRoute")
    }

    fn entry(parent_ref: serde_json::Value) -> serde_json::Value {
        json!({"parentRef": parent_ref, "controllerName": "example.com/gw", "conditions": []})
    }

    #[test]
    fn defaults_are_filled_in_before_comparing() {
        let route = route(
            json!([
                {"name": "gw"},
                {"name": "edge", "namespace": "infra", "sectionName": "https"},
                {"group": "", "kind": "Service", "name": "mesh", "port": 8080}
            ]),
            json!([
                entry(
                    json!({"group": "gateway.networking.k8s.io", "kind": "Gateway",
                             "namespace": "apps", "name": "gw"})
                ),
                entry(json!({"name": "edge", "namespace": "infra", "sectionName": "http"})),
                entry(json!({"group": "", "kind": "Service", "name": "mesh", "port": 8080})),
                entry(json!({"name": "mesh", "port": 8080})),
                entry(json!({"name": "gone"}))
            ]),
        );
        let (paired, left_over) = pair_parents(&route, "apps");
        let counts: Vec<(String, usize)> = paired
            .iter()
            .map(|parent| (parent.name.clone(), parent.entries.len()))
            .collect();
        assert_eq!(
            counts,
            [
                ("gw".to_owned(), 1),
                ("infra/edge (listener https)".to_owned(), 0),
                ("Service mesh (port 8080)".to_owned(), 1)
            ]
        );
        let left_over: Vec<&str> = left_over
            .iter()
            .map(|entry| entry.parent_ref.name.as_str())
            .collect();
        assert_eq!(left_over, ["edge", "mesh", "gone"]);
    }
}
