//! Parsing of the Rollout's `trafficRouting.gatewayAPI` section (validate step: pure).

use kulta_router::RouterError;
use serde_json::Value;

/// The typed `trafficRouting.gatewayAPI` section: the HTTPRoutes whose weights KULTA manages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayApiConfig {
    /// The referenced routes, in spec order; never empty.
    pub http_routes: Vec<HttpRouteRef>,
}

/// One HTTPRoute named by the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRouteRef {
    /// Name of the HTTPRoute.
    pub name: String,
    /// Namespace of the HTTPRoute; `None` means the Rollout's namespace.
    pub namespace: Option<String>,
}

/// The namespace and name of one HTTPRoute; displays as `HTTPRoute namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteKey {
    /// Namespace of the HTTPRoute.
    pub namespace: String,
    /// Name of the HTTPRoute.
    pub name: String,
}

impl RouteKey {
    /// The key of `namespace/name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for RouteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTPRoute {}/{}", self.namespace, self.name)
    }
}

impl GatewayApiConfig {
    /// Parses the section. Accepts `{"httpRoute": "name"}` (the original README's form) or
    /// `{"httpRoutes": [{"name": "...", "namespace": "..."}]}`, exactly one of the two; a `null`
    /// member counts as absent and other members are ignored.
    ///
    /// # Errors
    ///
    /// [`RouterError::InvalidConfig`] with the field path of the first problem found.
    pub fn parse(config: &Value) -> Result<Self, RouterError> {
        let Value::Object(fields) = config else {
            return Err(invalid(format!(
                "gatewayAPI: must be an object with httpRoute or httpRoutes, got {}",
                type_name(config)
            )));
        };
        let single = fields.get("httpRoute").filter(|value| !value.is_null());
        let list = fields.get("httpRoutes").filter(|value| !value.is_null());
        let http_routes = match (single, list) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "gatewayAPI: set either httpRoute or httpRoutes, not both",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    "gatewayAPI: one of httpRoute or httpRoutes is required",
                ));
            }
            (Some(single), None) => vec![HttpRouteRef {
                name: name_at(single, "gatewayAPI.httpRoute")?,
                namespace: None,
            }],
            (None, Some(list)) => parse_list(list)?,
        };
        Ok(Self { http_routes })
    }

    /// The keys of the referenced routes, defaulting the namespace to `default_namespace` (the
    /// Rollout's).
    pub fn route_keys(&self, default_namespace: &str) -> Vec<RouteKey> {
        self.http_routes
            .iter()
            .map(|route| {
                RouteKey::new(
                    route.namespace.as_deref().unwrap_or(default_namespace),
                    route.name.as_str(),
                )
            })
            .collect()
    }
}

fn parse_list(list: &Value) -> Result<Vec<HttpRouteRef>, RouterError> {
    let Value::Array(items) = list else {
        return Err(invalid(format!(
            "gatewayAPI.httpRoutes: must be a list of {{name, namespace}}, got {}",
            type_name(list)
        )));
    };
    if items.is_empty() {
        return Err(invalid(
            "gatewayAPI.httpRoutes: must name at least one HTTPRoute",
        ));
    }
    let mut routes = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let path = format!("gatewayAPI.httpRoutes[{index}]");
        let Value::Object(fields) = item else {
            return Err(invalid(format!(
                "{path}: must be an object with name and optional namespace, got {}",
                type_name(item)
            )));
        };
        let name = match fields.get("name") {
            Some(name) => name_at(name, &format!("{path}.name"))?,
            None => return Err(invalid(format!("{path}.name: required"))),
        };
        let namespace = match fields.get("namespace").filter(|value| !value.is_null()) {
            Some(namespace) => Some(name_at(namespace, &format!("{path}.namespace"))?),
            None => None,
        };
        let route = HttpRouteRef { name, namespace };
        if routes.contains(&route) {
            return Err(invalid(format!(
                "{path}: names the same HTTPRoute as an earlier entry"
            )));
        }
        routes.push(route);
    }
    Ok(routes)
}

/// A Kubernetes object name: a non-empty string of at most 253 lowercase alphanumerics, `-` and
/// `.`, starting and ending with an alphanumeric.
fn name_at(value: &Value, path: &str) -> Result<String, RouterError> {
    let Value::String(name) = value else {
        return Err(invalid(format!(
            "{path}: must be a string, got {}",
            type_name(value)
        )));
    };
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| alphanumeric(c) || c == '-' || c == '.')
        && name.starts_with(alphanumeric)
        && name.ends_with(alphanumeric);
    if valid {
        Ok(name.clone())
    } else {
        Err(invalid(format!(
            "{path}: must be a Kubernetes object name (lowercase letters, digits, '-' and '.'), \
             got {name:?}"
        )))
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn invalid(message: impl Into<String>) -> RouterError {
    RouterError::invalid_config(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route(name: &str, namespace: Option<&str>) -> HttpRouteRef {
        HttpRouteRef {
            name: name.into(),
            namespace: namespace.map(Into::into),
        }
    }

    #[test]
    fn accepts_both_forms() {
        let single = GatewayApiConfig::parse(&json!({"httpRoute": "my-app-route"}));
        assert_eq!(
            single.ok().map(|config| config.http_routes),
            Some(vec![route("my-app-route", None)])
        );

        let list = GatewayApiConfig::parse(&json!({
            "httpRoutes": [
                {"name": "public"},
                {"name": "internal", "namespace": "infra"},
                {"name": "public", "namespace": "infra"},
            ],
            "httpRoute": null,
        }));
        let config = match list {
            Ok(config) => config,
            Err(error) => panic!("{error}"),
        };
        assert_eq!(
            config.http_routes,
            [
                route("public", None),
                route("internal", Some("infra")),
                route("public", Some("infra"))
            ]
        );
        assert_eq!(
            config.route_keys("shop"),
            [
                RouteKey::new("shop", "public"),
                RouteKey::new("infra", "internal"),
                RouteKey::new("infra", "public")
            ]
        );
        assert_eq!(
            RouteKey::new("infra", "internal").to_string(),
            "HTTPRoute infra/internal"
        );
    }

    #[test]
    fn refuses_wrong_configs_with_the_field_path() {
        let cases = [
            (
                json!({"httpRoute": "a", "httpRoutes": [{"name": "b"}]}),
                "gatewayAPI: set either httpRoute or httpRoutes, not both",
            ),
            (
                json!({}),
                "gatewayAPI: one of httpRoute or httpRoutes is required",
            ),
            (
                json!({"httpRoute": null, "httpRoutes": null}),
                "gatewayAPI: one of httpRoute or httpRoutes is required",
            ),
            (
                json!("my-app-route"),
                "gatewayAPI: must be an object with httpRoute or httpRoutes, got a string",
            ),
            (
                json!({"httpRoute": 7}),
                "gatewayAPI.httpRoute: must be a string, got a number",
            ),
            (
                json!({"httpRoute": ["a"]}),
                "gatewayAPI.httpRoute: must be a string, got a list",
            ),
            (
                json!({"httpRoute": ""}),
                "gatewayAPI.httpRoute: must be a Kubernetes object name (lowercase letters, \
                 digits, '-' and '.'), got \"\"",
            ),
            (
                json!({"httpRoute": "My_Route"}),
                "gatewayAPI.httpRoute: must be a Kubernetes object name (lowercase letters, \
                 digits, '-' and '.'), got \"My_Route\"",
            ),
            (
                json!({"httpRoutes": "a"}),
                "gatewayAPI.httpRoutes: must be a list of {name, namespace}, got a string",
            ),
            (
                json!({"httpRoutes": []}),
                "gatewayAPI.httpRoutes: must name at least one HTTPRoute",
            ),
            (
                json!({"httpRoutes": ["a"]}),
                "gatewayAPI.httpRoutes[0]: must be an object with name and optional namespace, \
                 got a string",
            ),
            (
                json!({"httpRoutes": [{"name": "a"}, {"namespace": "x"}]}),
                "gatewayAPI.httpRoutes[1].name: required",
            ),
            (
                json!({"httpRoutes": [{"name": "a", "namespace": true}]}),
                "gatewayAPI.httpRoutes[0].namespace: must be a string, got a boolean",
            ),
            (
                json!({"httpRoutes": [{"name": "a"}, {"name": "a"}]}),
                "gatewayAPI.httpRoutes[1]: names the same HTTPRoute as an earlier entry",
            ),
        ];
        for (config, expected) in cases {
            match GatewayApiConfig::parse(&config) {
                Err(RouterError::InvalidConfig { message }) => {
                    assert_eq!(message, expected, "config {config}");
                }
                other => panic!("config {config}: expected InvalidConfig, got {other:?}"),
            }
        }
    }
}
