//! Requests as a test reads them, from kulta-sim's request log or kube-apiserver's audit log.

use std::time::SystemTime;

use serde_json::Value;

/// One request the API server served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The client's identity: on kulta-sim its bearer token; on the real control plane the name
    /// a test gave a client of the fault proxy (its user agent), else the authenticated user.
    pub identity: String,
    /// The authenticated user (kulta-sim: the bearer token).
    pub user: String,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: String,
    /// API group, empty for core.
    pub group: String,
    /// Plural resource, empty for non-resource paths.
    pub resource: String,
    /// Subresource (`status`, `scale`...), empty for the main resource.
    pub subresource: String,
    /// Namespace, empty when none.
    pub namespace: String,
    /// Object name, empty for collections.
    pub name: String,
    /// HTTP status code of the answer.
    pub code: u16,
    /// When the request was received (wall clock; the API server's clock is this machine's).
    pub received: SystemTime,
}

impl Request {
    /// Whether the verb changes state.
    pub fn is_write(&self) -> bool {
        kulta_sim::request::is_write_verb(&self.verb)
    }
}

impl From<&kulta_sim::RequestRecord> for Request {
    fn from(record: &kulta_sim::RequestRecord) -> Self {
        Request {
            identity: record.identity.to_string(),
            user: record.identity.to_string(),
            verb: record.verb.to_string(),
            group: record.group.clone(),
            resource: record.resource.clone(),
            subresource: record.subresource.clone(),
            namespace: record.namespace.clone(),
            name: record.name.clone(),
            code: record.code,
            received: record.wall_time,
        }
    }
}

/// One line of kube-apiserver's JSON audit log (`audit.k8s.io/v1` Event, stage
/// ResponseComplete); `None` for another stage, a non-resource request or a line that is not an
/// audit event.
pub(crate) fn parse_audit_line(line: &str) -> Option<Request> {
    let event: Value = serde_json::from_str(line).ok()?;
    if event["stage"] != "ResponseComplete" {
        return None;
    }
    let object = event.get("objectRef")?;
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    let user = text(&event["user"]["username"]);
    let identity = event["userAgent"]
        .as_str()
        .and_then(|agent| agent.strip_prefix(crate::proxy::USER_AGENT_PREFIX))
        .map_or_else(|| user.clone(), str::to_string);
    let request = Request {
        identity,
        user,
        verb: text(&event["verb"]),
        group: text(&object["apiGroup"]),
        resource: text(&object["resource"]),
        subresource: text(&object["subresource"]),
        namespace: text(&object["namespace"]),
        name: text(&object["name"]),
        code: event["responseStatus"]["code"]
            .as_u64()
            .and_then(|code| u16::try_from(code).ok())
            .unwrap_or(0),
        received: chrono::DateTime::parse_from_rfc3339(event["requestReceivedTimestamp"].as_str()?)
            .ok()?
            .into(),
    };
    Some(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_event_becomes_a_request() {
        let line = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete","requestURI":"/apis/apps/v1/namespaces/e2e/replicasets/web-1/scale","verb":"patch","user":{"username":"system:serviceaccount:kulta-system:kulta-controller"},"userAgent":"kulta-test/kulta-controller","objectRef":{"resource":"replicasets","namespace":"e2e","name":"web-1","apiGroup":"apps","apiVersion":"v1","subresource":"scale"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-12-02T22:00:00.000001Z","stageTimestamp":"2026-12-02T22:00:00.000200Z"}"#;
        let request = parse_audit_line(line).unwrap();
        assert_eq!(
            request,
            Request {
                identity: "kulta-controller".into(),
                user: "system:serviceaccount:kulta-system:kulta-controller".into(),
                verb: "patch".into(),
                group: "apps".into(),
                resource: "replicasets".into(),
                subresource: "scale".into(),
                namespace: "e2e".into(),
                name: "web-1".into(),
                code: 200,
                received: SystemTime::UNIX_EPOCH
                    + std::time::Duration::from_micros(1_796_248_800_000_001),
            }
        );
        assert!(request.is_write());
    }

    #[test]
    fn other_stages_and_non_resource_requests_are_skipped() {
        assert!(parse_audit_line(r#"{"stage":"ResponseStarted","objectRef":{}}"#).is_none());
        assert!(
            parse_audit_line(r#"{"stage":"ResponseComplete","requestURI":"/version"}"#).is_none()
        );
        assert!(parse_audit_line("not json").is_none());
    }
}
