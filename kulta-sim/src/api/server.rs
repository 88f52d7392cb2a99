//! The HTTP front: one axum fallback handler that parses the path into a [`Route`], records the
//! request's identity and verb, applies injected faults, dispatches, and logs the outcome.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, header};
use serde_json::json;

use crate::api::discovery;
use crate::api::handlers::{self, ResourceRequest, json_response};
use crate::api::openapi;
use crate::api::protobuf;
use crate::api::query::{Query, ResourcePath, Route, route};
use crate::api_error::{ApiError, ApiResult};
use crate::faults::{FaultCommand, Faults};
use crate::requestlog::{RequestFilter, RequestLog, RequestRecord};
use crate::storage::store::Store;

/// Largest request body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Server settings fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Interval of watch bookmarks.
    pub bookmark_interval: Duration,
    /// `host:port` the server listens on.
    pub address: String,
}

/// Shared state of the server.
#[derive(Debug)]
pub(crate) struct App {
    /// Objects, registry, history.
    pub store: Arc<Store>,
    /// Fault injector.
    pub faults: Arc<Faults>,
    /// Request log.
    pub log: Arc<RequestLog>,
    /// Settings.
    pub settings: Settings,
}

/// The axum router of the sim.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new().fallback(dispatch).with_state(app)
}

fn identity(headers: &HeaderMap) -> Arc<str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|token| Arc::from(token.trim()))
        .unwrap_or_else(|| Arc::from("anonymous"))
}

struct Described {
    verb: &'static str,
    path: Option<ResourcePath>,
}

fn describe(method: &Method, route: &Route, query: &Query) -> Described {
    match route {
        Route::Resource(path) => Described {
            verb: handlers::verb_of(method, path, query),
            path: Some(path.clone()),
        },
        Route::OpenApiIndex | Route::OpenApiDocument(..) => Described {
            verb: "openapi",
            path: None,
        },
        Route::SimFaults | Route::SimRequests => Described {
            verb: "admin",
            path: None,
        },
        Route::Unknown | Route::Health => Described {
            verb: "other",
            path: None,
        },
        _ => Described {
            verb: "discovery",
            path: None,
        },
    }
}

async fn dispatch(State(app): State<Arc<App>>, request: Request) -> Response {
    let started = Instant::now();
    let wall_time = SystemTime::now();
    let (parts, body) = request.into_parts();
    let identity = identity(&parts.headers);
    let route = route(parts.uri.path());
    let query = Query::parse(parts.uri.query());
    let described = describe(&parts.method, &route, &query);
    let (group, resource, subresource, namespace, name) = match &described.path {
        Some(p) => (
            p.group.clone(),
            p.plural.clone(),
            p.subresource.clone().unwrap_or_default(),
            p.namespace.clone().unwrap_or_default(),
            p.name.clone().unwrap_or_default(),
        ),
        None => Default::default(),
    };

    let admin = matches!(route, Route::SimFaults | Route::SimRequests);
    let mut decision = crate::faults::FaultDecision::default();
    let response = 'answer: {
        if !admin {
            decision = app.faults.decide(
                described.verb,
                &resource,
                &subresource,
                &namespace,
                &name,
                &identity,
            );
            if !decision.delay.is_zero() {
                tokio::time::sleep(decision.delay).await;
            }
            if let Some((code, retry_after)) = decision.fail
                && !decision.fail_after_write
            {
                break 'answer ApiError::injected(code, retry_after).into_response();
            }
        }
        if matches!(route, Route::Resource(_))
            && let Some(error) = unsupported_body_type(&parts.method, &parts.headers)
                .or_else(|| not_acceptable(&parts.headers))
        {
            break 'answer error.into_response();
        }
        let body = match to_bytes(body, MAX_BODY).await {
            Ok(body) => body,
            Err(error) => {
                break 'answer ApiError::bad_request(format!(
                    "unable to read the request body: {error}"
                ))
                .into_response();
            }
        };
        let answered = answer(&app, &parts.method, &parts.headers, route, &query, &body);
        match decision.fail {
            // Carried out; the client sees the failure instead.
            Some((code, retry_after)) if decision.fail_after_write => {
                ApiError::injected(code, retry_after).into_response()
            }
            _ => match answered {
                Ok(response) => response,
                Err(error) => error.into_response(),
            },
        }
    };
    app.log.record(RequestRecord {
        at: started,
        wall_time,
        identity,
        verb: described.verb,
        group,
        resource,
        subresource,
        namespace,
        name,
        code: response.status().as_u16(),
        path: parts.uri.path().to_string(),
    });
    response
}

/// Bodies must be JSON (or a patch or apply media type) or Kubernetes protobuf, which the
/// handlers decode for built-in kinds (and refuse with 415 for the others); CBOR gets 415 so
/// clients fall back to JSON.
fn unsupported_body_type(method: &Method, headers: &HeaderMap) -> Option<ApiError> {
    if !matches!(*method, Method::POST | Method::PUT) {
        return None;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if media.is_empty()
        || media == "application/json"
        || media.ends_with("+json")
        || media == "application/yaml"
        || protobuf::is_protobuf(media)
    {
        return None;
    }
    Some(ApiError::unsupported_media_type(&format!(
        "application/json, application/yaml, {}",
        protobuf::MEDIA_TYPE
    )))
}

/// Resource responses are JSON only. A client whose `Accept` admits no JSON (only protobuf,
/// say) gets 406 NotAcceptable, as kube-apiserver answers for a type it cannot send in the
/// asked format; kubectl and client-go list `*/*` or `application/json` after protobuf and
/// get JSON.
fn not_acceptable(headers: &HeaderMap) -> Option<ApiError> {
    let accept = accept(headers).trim();
    if accept.is_empty() || accept.split(',').any(admits_json) {
        return None;
    }
    Some(ApiError::new(
        406,
        "NotAcceptable",
        "only the following media types are accepted: application/json",
    ))
}

/// Whether one media range of an `Accept` header admits `application/json`.
fn admits_json(range: &str) -> bool {
    let mut parts = range.split(';');
    let media = parts.next().unwrap_or_default().trim();
    let refused = parts.any(|parameter| {
        parameter
            .split_once('=')
            .is_some_and(|(name, value)| name.trim() == "q" && value.trim().parse() == Ok(0.0_f32))
    });
    let json = ["*/*", "application/*", "application/json"]
        .iter()
        .any(|admitted| media.eq_ignore_ascii_case(admitted));
    json && !refused
}

fn accept(headers: &HeaderMap) -> &str {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn discovery_response(
    headers: &HeaderMap,
    aggregated: impl FnOnce() -> serde_json::Value,
    legacy: serde_json::Value,
) -> Response {
    if discovery::wants_aggregated(accept(headers)) {
        let mut response = json_response(StatusCode::OK, &aggregated());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static(discovery::AGGREGATED_CONTENT_TYPE),
        );
        return response;
    }
    json_response(StatusCode::OK, &legacy)
}

fn answer(
    app: &App,
    method: &Method,
    headers: &HeaderMap,
    route: Route,
    query: &Query,
    body: &[u8],
) -> ApiResult<Response> {
    let read_only = |what: &str| {
        if method == Method::GET {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed(method.as_str(), what))
        }
    };
    match route {
        Route::Version => {
            read_only("version")?;
            Ok(json_response(StatusCode::OK, &discovery::version()))
        }
        Route::Health => Ok((StatusCode::OK, "ok").into_response()),
        Route::CoreVersions => {
            read_only("api")?;
            let registry = app.store.lock().registry.clone();
            Ok(discovery_response(
                headers,
                || discovery::aggregated(&registry, true),
                discovery::core_versions(&app.settings.address),
            ))
        }
        Route::Groups => {
            read_only("apis")?;
            let registry = app.store.lock().registry.clone();
            let legacy = discovery::groups(&registry);
            Ok(discovery_response(
                headers,
                || discovery::aggregated(&registry, false),
                legacy,
            ))
        }
        Route::Group(group) => {
            read_only("group")?;
            let registry = app.store.lock().registry.clone();
            discovery::group(&registry, &group)
                .map(|doc| json_response(StatusCode::OK, &doc))
                .ok_or_else(ApiError::no_route)
        }
        Route::GroupVersion(group, version) => {
            read_only("group version")?;
            let registry = app.store.lock().registry.clone();
            discovery::resource_list(&registry, &group, &version)
                .map(|doc| json_response(StatusCode::OK, &doc))
                .ok_or_else(ApiError::no_route)
        }
        Route::OpenApiIndex => {
            read_only("openapi")?;
            let registry = app.store.lock().registry.clone();
            Ok(json_response(StatusCode::OK, &openapi::index(&registry)))
        }
        Route::OpenApiDocument(group, version) => {
            read_only("openapi")?;
            let registry = app.store.lock().registry.clone();
            openapi::document(&registry, &group, &version)
                .map(|doc| json_response(StatusCode::OK, &doc))
                .ok_or_else(ApiError::no_route)
        }
        Route::SimFaults => sim_faults(app, method, body),
        Route::SimRequests => {
            read_only("requests")?;
            let filter = RequestFilter {
                verb: query.non_empty("verb").map(str::to_string),
                resource: query.non_empty("resource").map(str::to_string),
                subresource: query.get("subresource").map(str::to_string),
                namespace: query.non_empty("namespace").map(str::to_string),
                name: query.non_empty("name").map(str::to_string),
                identity: query.non_empty("identity").map(str::to_string),
            };
            let records = app.log.matching(&filter);
            let writes = app.log.writes_by_identity();
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "count": records.len(),
                    "writesByIdentity": writes,
                }),
            ))
        }
        Route::Resource(path) => {
            let resource = app
                .store
                .lock()
                .registry
                .get(&path.group, &path.version, &path.plural)
                .ok_or_else(ApiError::no_route)?;
            handlers::serve(
                app,
                ResourceRequest {
                    path: &path,
                    resource,
                    method,
                    query,
                    headers,
                    body,
                },
            )
        }
        Route::Unknown => Err(ApiError::no_route()),
    }
}

fn sim_faults(app: &App, method: &Method, body: &[u8]) -> ApiResult<Response> {
    match *method {
        Method::GET => Ok(json_response(
            StatusCode::OK,
            &json!({
                "failures": app.faults.failure_rules(),
                "latencies": app.faults.latency_rules(),
                "injected": app.faults.injected_count(),
            }),
        )),
        Method::POST => {
            let command: FaultCommand = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid fault command: {e}")))?;
            app.faults.execute(command);
            Ok(json_response(StatusCode::OK, &json!({"status": "ok"})))
        }
        Method::DELETE => {
            app.faults.clear();
            Ok(json_response(StatusCode::OK, &json!({"status": "ok"})))
        }
        _ => Err(ApiError::method_not_allowed(method.as_str(), "sim/faults")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_acceptable_unless_the_client_lists_only_other_types() {
        let admitted = |accept: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, accept.parse().unwrap());
            not_acceptable(&headers).is_none()
        };
        assert!(admitted(""));
        assert!(admitted("application/vnd.kubernetes.protobuf, */*"));
        assert!(admitted(
            "application/vnd.kubernetes.protobuf,application/json"
        ));
        assert!(admitted(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(admitted("application/json;stream=watch"));
        assert!(!admitted("application/vnd.kubernetes.protobuf"));
        assert!(!admitted(
            "application/vnd.kubernetes.protobuf;stream=watch, application/cbor"
        ));
        assert!(!admitted(
            "application/json;q=0, application/vnd.kubernetes.protobuf"
        ));
    }
}
