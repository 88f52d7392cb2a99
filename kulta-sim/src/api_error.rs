//! `metav1.Status` error bodies with the codes, reasons and messages a real API server uses.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::kinds::resources::ResourceType;
use crate::kinds::schema::FieldViolation;

/// An API error, rendered as a `metav1.Status` body.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status code.
    pub(crate) code: u16,
    /// `Status.reason` (`NotFound`, `Conflict`...).
    pub(crate) reason: &'static str,
    /// `Status.message`.
    pub(crate) message: String,
    /// `Status.details`, when the real server sends them.
    pub(crate) details: Option<Value>,
    /// `Retry-After` seconds (429 and 503).
    pub(crate) retry_after: Option<u64>,
}

/// Result alias for request handling.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// `pods` or `rollouts.kulta.io`: the qualified resource name used in messages.
pub(crate) fn qualified_resource(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

/// `Pod` or `Rollout.kulta.io`: the qualified kind used in `Invalid` messages.
pub(crate) fn qualified_kind(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    }
}

impl ApiError {
    /// An error with the given code, reason and message and no details.
    pub(crate) fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 404 NotFound for an object of a known resource.
    pub(crate) fn not_found(group: &str, plural: &str, name: &str) -> Self {
        let mut error = Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified_resource(group, plural)),
        );
        error.details = Some(details(name, group, plural));
        error
    }

    /// 404 for a path the server does not serve (an unknown kind or group).
    pub(crate) fn no_route() -> Self {
        let mut error = Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
        error.details = Some(json!({}));
        error
    }

    /// 405 MethodNotAllowed.
    pub(crate) fn method_not_allowed(method: &str, what: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!(
                "the server does not allow this method on the requested resource ({method} {what})"
            ),
        )
    }

    /// 409 AlreadyExists.
    pub(crate) fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        let mut error = Self::new(
            409,
            "AlreadyExists",
            format!(
                "{} \"{name}\" already exists",
                qualified_resource(group, plural)
            ),
        );
        error.details = Some(details(name, group, plural));
        error
    }

    /// 409 Conflict on a stale `resourceVersion`.
    pub(crate) fn conflict(group: &str, plural: &str, name: &str) -> Self {
        Self::conflict_with(
            group,
            plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 Conflict with a custom cause.
    pub(crate) fn conflict_with(group: &str, plural: &str, name: &str, cause: &str) -> Self {
        let mut error = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {cause}",
                qualified_resource(group, plural)
            ),
        );
        error.details = Some(details(name, group, plural));
        error
    }

    /// 410 Expired for a resourceVersion older than the retained history.
    pub(crate) fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 415 UnsupportedMediaType for a patch type the resource does not accept.
    pub(crate) fn unsupported_media_type(accepted: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {accepted}"
            ),
        )
    }

    /// 422 Invalid with one cause per violated field.
    pub(crate) fn invalid(rt: &ResourceType, name: &str, violations: &[FieldViolation]) -> Self {
        Self::invalid_kind(&rt.group, &rt.kind, name, violations)
    }

    /// 422 Invalid for a group and kind.
    pub(crate) fn invalid_kind(
        group: &str,
        kind: &str,
        name: &str,
        violations: &[FieldViolation],
    ) -> Self {
        let parts: Vec<String> = violations
            .iter()
            .map(|v| {
                if v.field.is_empty() {
                    v.message.clone()
                } else {
                    format!("{}: {}", v.field, v.message)
                }
            })
            .collect();
        let joined = if parts.len() == 1 {
            parts.join("")
        } else {
            format!("[{}]", parts.join(", "))
        };
        let causes: Vec<Value> = violations
            .iter()
            .map(|v| json!({"reason": v.reason.as_str(), "message": v.message, "field": v.field}))
            .collect();
        let mut error = Self::new(
            422,
            "Invalid",
            format!(
                "{} \"{name}\" is invalid: {joined}",
                qualified_kind(group, kind)
            ),
        );
        let mut details = details(name, group, kind);
        details["causes"] = Value::Array(causes);
        error.details = Some(details);
        error
    }

    /// 422 with reason Invalid and a plain message.
    pub(crate) fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }

    /// 422 Invalid as kube-apiserver's generic error path builds it, for a JSON Patch an
    /// operation of which failed (a `test` that did not match, a path that is not there): a
    /// fixed message and empty details, the patch library's own error left out. Clients tell a
    /// lost race by this message (KULTA's route writer does).
    pub(crate) fn patch_not_applicable() -> Self {
        let mut error =
            Self::unprocessable("the server rejected our request due to an error in our request");
        error.details = Some(json!({}));
        error
    }

    /// 429 TooManyRequests with Retry-After.
    pub(crate) fn too_many_requests(retry_after: u64) -> Self {
        let mut error = Self::new(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        );
        error.details = Some(json!({"retryAfterSeconds": retry_after}));
        error.retry_after = Some(retry_after);
        error
    }

    /// 500 InternalError.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        let mut error = Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        );
        error.details = Some(json!({"causes": [{"message": message}]}));
        error
    }

    /// 503 ServiceUnavailable.
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    /// An error for an injected fault with an arbitrary code.
    pub fn injected(code: u16, retry_after: Option<u64>) -> Self {
        match code {
            400 => Self::bad_request("injected fault"),
            404 => Self::new(404, "NotFound", "injected fault"),
            409 => Self::new(
                409,
                "Conflict",
                "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again (injected fault)",
            ),
            410 => Self::expired("injected fault"),
            422 => Self::unprocessable("injected fault"),
            429 => Self::too_many_requests(retry_after.unwrap_or(1)),
            500 => Self::internal("injected fault"),
            503 => {
                let mut error = Self::service_unavailable("injected fault");
                error.retry_after = retry_after;
                error
            }
            504 => Self::new(504, "Timeout", "injected fault"),
            other => Self::new(other, "InternalError", "injected fault"),
        }
    }

    /// The `metav1.Status` body.
    pub(crate) fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.to_status().to_string();
        let mut response = (code, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// A `Status` with `status: Success`, as returned by an immediate delete.
pub(crate) fn success_status(group: &str, plural: &str, name: &str, uid: &str) -> Value {
    let mut details = details(name, group, plural);
    if !uid.is_empty() {
        details["uid"] = json!(uid);
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}

/// `StatusDetails` with its name, group and kind, each left out when empty (`omitempty` in Go:
/// errors about core resources carry no `group`).
fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut details = json!({});
    for (field, value) in [("name", name), ("group", group), ("kind", kind)] {
        if !value.is_empty() {
            details[field] = json!(value);
        }
    }
    details
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_leave_out_an_empty_group_as_go_does() {
        let core = ApiError::not_found("", "configmaps", "settings");
        assert_eq!(
            core.details,
            Some(json!({"name": "settings", "kind": "configmaps"}))
        );
        let grouped = ApiError::conflict("apps", "replicasets", "web");
        assert_eq!(
            grouped.details,
            Some(json!({"name": "web", "group": "apps", "kind": "replicasets"}))
        );
        let deleted = success_status("", "configmaps", "settings", "u-1");
        assert_eq!(
            deleted["details"],
            json!({"name": "settings", "kind": "configmaps", "uid": "u-1"})
        );
    }

    #[test]
    fn a_failed_json_patch_is_the_generic_invalid_answer() {
        let status = ApiError::patch_not_applicable().to_status();
        assert_eq!(status["code"], 422);
        assert_eq!(status["reason"], "Invalid");
        assert_eq!(
            status["message"],
            "the server rejected our request due to an error in our request"
        );
        assert_eq!(status["details"], json!({}));
    }
}
