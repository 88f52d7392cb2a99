//! Request parsing: query strings, URL paths into routes, and request bodies (JSON or YAML).

use std::collections::HashMap;

use serde_json::Value;

use crate::api_error::{ApiError, ApiResult};

/// Decoded query parameters (last value wins).
#[derive(Debug, Clone, Default)]
pub struct Query {
    values: HashMap<String, String>,
}

fn percent_decode(input: &str) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input.as_bytes();
    while let Some((&first, after_first)) = rest.split_first() {
        match (first, after_first) {
            (b'+', _) => {
                out.push(b' ');
                rest = after_first;
            }
            (b'%', [high, low, after_escape @ ..]) => {
                let pair = [*high, *low];
                let hex = std::str::from_utf8(&pair).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        rest = after_escape;
                    }
                    Err(_) => {
                        out.push(b'%');
                        rest = after_first;
                    }
                }
            }
            (other, _) => {
                out.push(other);
                rest = after_first;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        let mut values = HashMap::new();
        for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            values.insert(percent_decode(key), percent_decode(value));
        }
        Query { values }
    }

    /// A parameter's value.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// A parameter's value, `None` when empty.
    pub(crate) fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// A boolean parameter (`true`/`1`).
    pub(crate) fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true") | Some("1"))
    }

    /// `dryRun=All`.
    ///
    /// # Errors
    /// 400 for another value.
    pub(crate) fn dry_run(&self) -> ApiResult<bool> {
        match self.non_empty("dryRun") {
            None => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
            ))),
        }
    }

    /// An unsigned integer parameter.
    ///
    /// # Errors
    /// 400 when it is not a number.
    pub(crate) fn number(&self, key: &str) -> ApiResult<Option<u64>> {
        match self.non_empty(key) {
            None => Ok(None),
            Some(text) => text
                .parse::<u64>()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid {key}: {text:?}"))),
        }
    }
}

/// A resource request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    /// API group (empty for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Namespace from the path.
    pub namespace: Option<String>,
    /// Plural.
    pub plural: String,
    /// Object name.
    pub name: Option<String>,
    /// Subresource.
    pub subresource: Option<String>,
}

/// Every path the sim serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/version`
    Version,
    /// `/healthz`, `/livez`, `/readyz`
    Health,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/{group}`
    Group(String),
    /// `/api/v1`, `/apis/{group}/{version}`
    GroupVersion(String, String),
    /// A resource or object.
    Resource(ResourcePath),
    /// `/openapi/v3`
    OpenApiIndex,
    /// `/openapi/v3/api/v1`, `/openapi/v3/apis/{group}/{version}`
    OpenApiDocument(String, String),
    /// `/sim/faults`
    SimFaults,
    /// `/sim/requests`
    SimRequests,
    /// Anything else.
    Unknown,
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    let (namespace, rest) = match rest {
        ["namespaces", ns, resource, tail @ ..] if !matches!(*resource, "status" | "finalize") => {
            (Some(ns.to_string()), {
                let mut v = vec![*resource];
                v.extend_from_slice(tail);
                v
            })
        }
        other => (None, other.to_vec()),
    };
    let path = match rest.as_slice() {
        [plural] => ResourcePath {
            group: group.into(),
            version: version.into(),
            namespace,
            plural: plural.to_string(),
            name: None,
            subresource: None,
        },
        [plural, name] => ResourcePath {
            group: group.into(),
            version: version.into(),
            namespace,
            plural: plural.to_string(),
            name: Some(name.to_string()),
            subresource: None,
        },
        [plural, name, sub] => ResourcePath {
            group: group.into(),
            version: version.into(),
            namespace,
            plural: plural.to_string(),
            name: Some(name.to_string()),
            subresource: Some(sub.to_string()),
        },
        _ => return Route::Unknown,
    };
    Route::Resource(path)
}

/// Parses a request path.
pub fn route(path: &str) -> Route {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segments.as_slice() {
        ["version"] => Route::Version,
        ["healthz"] | ["livez"] | ["readyz"] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["api", version] => Route::GroupVersion(String::new(), version.to_string()),
        ["apis", group] => Route::Group(group.to_string()),
        ["apis", group, version] => Route::GroupVersion(group.to_string(), version.to_string()),
        ["api", version, rest @ ..] => resource_route("", version, rest),
        ["apis", group, version, rest @ ..] => resource_route(group, version, rest),
        ["openapi", "v3"] => Route::OpenApiIndex,
        ["openapi", "v3", "api", version] => {
            Route::OpenApiDocument(String::new(), version.to_string())
        }
        ["openapi", "v3", "apis", group, version] => {
            Route::OpenApiDocument(group.to_string(), version.to_string())
        }
        ["sim", "faults"] => Route::SimFaults,
        ["sim", "requests"] => Route::SimRequests,
        _ => Route::Unknown,
    }
}

/// Parses a body as JSON, or as YAML for apply patches.
///
/// # Errors
/// 400 BadRequest when it is neither.
pub(crate) fn parse_body(body: &[u8], allow_yaml: bool) -> ApiResult<Value> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => Ok(value),
        Err(json_error) => {
            if allow_yaml {
                let text = std::str::from_utf8(body)
                    .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
                serde_saphyr::from_str::<Value>(text)
                    .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
            } else {
                Err(ApiError::bad_request(format!(
                    "the body of the request could not be decoded: {json_error}"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resource_paths() {
        assert_eq!(
            route("/apis/apps/v1/namespaces/default/replicasets/web/scale"),
            Route::Resource(ResourcePath {
                group: "apps".into(),
                version: "v1".into(),
                namespace: Some("default".into()),
                plural: "replicasets".into(),
                name: Some("web".into()),
                subresource: Some("scale".into()),
            })
        );
        assert_eq!(
            route("/api/v1/namespaces/default"),
            Route::Resource(ResourcePath {
                group: "".into(),
                version: "v1".into(),
                namespace: None,
                plural: "namespaces".into(),
                name: Some("default".into()),
                subresource: None,
            })
        );
        assert!(
            matches!(route("/api/v1/namespaces/x/status"), Route::Resource(p) if p.subresource.as_deref() == Some("status"))
        );
        assert!(
            matches!(route("/apis/apps/v1/replicasets"), Route::Resource(p) if p.namespace.is_none() && p.name.is_none())
        );
    }

    #[test]
    fn decodes_queries() {
        let query = Query::parse(Some("labelSelector=app%3Dweb%2Ctier+in+(a)&watch=1"));
        assert_eq!(query.get("labelSelector"), Some("app=web,tier in (a)"));
        assert!(query.flag("watch"));
    }
}
