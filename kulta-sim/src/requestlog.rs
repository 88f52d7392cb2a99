//! The request log: every request the sim served, with who sent it (the bearer token), the
//! Kubernetes verb, the resource addressed and the status code, plus query helpers for tests
//! (writes per identity, writes matching a filter, timestamps for latency measurements).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

/// One served request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// When the request arrived (monotonic, for latency measurements).
    pub at: Instant,
    /// When the request arrived (wall clock).
    pub wall_time: SystemTime,
    /// The bearer token of the request (`anonymous` without one).
    pub identity: Arc<str>,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`, or
    /// `discovery`/`openapi`/`admin`/`other` for non-resource paths.
    pub verb: &'static str,
    /// API group of the resource (empty for core).
    pub group: String,
    /// Plural resource name (empty for non-resource paths).
    pub resource: String,
    /// Subresource (`status`, `scale`), empty for the main resource.
    pub subresource: String,
    /// Namespace, empty when none.
    pub namespace: String,
    /// Object name, empty for collections.
    pub name: String,
    /// HTTP status code.
    pub code: u16,
    /// The request path.
    pub path: String,
}

impl RequestRecord {
    /// Whether the verb changes state.
    pub fn is_write(&self) -> bool {
        is_write_verb(self.verb)
    }
}

/// Whether a verb changes state.
pub fn is_write_verb(verb: &str) -> bool {
    matches!(
        verb,
        "create" | "update" | "patch" | "delete" | "deletecollection"
    )
}

/// A filter over requests; every field set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RequestFilter {
    /// Verb (`patch`...).
    pub verb: Option<String>,
    /// Plural resource (`rollouts`).
    pub resource: Option<String>,
    /// Subresource (`status`); `Some("")` means the main resource only.
    pub subresource: Option<String>,
    /// Namespace.
    pub namespace: Option<String>,
    /// Object name.
    pub name: Option<String>,
    /// Bearer-token identity.
    pub identity: Option<String>,
}

impl RequestFilter {
    /// A filter matching everything.
    pub fn new() -> Self {
        Self::default()
    }
    /// Restricts to a verb.
    pub fn verb(mut self, verb: &str) -> Self {
        self.verb = Some(verb.to_string());
        self
    }
    /// Restricts to a plural resource.
    pub fn resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.to_string());
        self
    }
    /// Restricts to a subresource (`""` for the main resource).
    pub fn subresource(mut self, subresource: &str) -> Self {
        self.subresource = Some(subresource.to_string());
        self
    }
    /// Restricts to a namespace.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_string());
        self
    }
    /// Restricts to an object name.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }
    /// Restricts to an identity.
    pub fn identity(mut self, identity: &str) -> Self {
        self.identity = Some(identity.to_string());
        self
    }

    /// Whether a request matches (with the given verb, resource... fields).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn matches_parts(
        &self,
        verb: &str,
        resource: &str,
        subresource: &str,
        namespace: &str,
        name: &str,
        identity: &str,
    ) -> bool {
        let check =
            |wanted: &Option<String>, actual: &str| wanted.as_deref().is_none_or(|w| w == actual);
        check(&self.verb, verb)
            && check(&self.resource, resource)
            && check(&self.subresource, subresource)
            && check(&self.namespace, namespace)
            && check(&self.name, name)
            && check(&self.identity, identity)
    }

    /// Whether a recorded request matches.
    pub(crate) fn matches(&self, record: &RequestRecord) -> bool {
        self.matches_parts(
            record.verb,
            &record.resource,
            &record.subresource,
            &record.namespace,
            &record.name,
            &record.identity,
        )
    }
}

/// The log. Appending is a mutex push; queries copy what they return.
#[derive(Debug, Default)]
pub struct RequestLog {
    records: Mutex<Vec<RequestRecord>>,
}

impl RequestLog {
    fn lock(&self) -> MutexGuard<'_, Vec<RequestRecord>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends a record.
    pub(crate) fn record(&self, record: RequestRecord) {
        self.lock().push(record);
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets every record.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// A copy of every record.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> Vec<RequestRecord> {
        self.lock().clone()
    }

    /// Records matching a filter.
    pub(crate) fn matching(&self, filter: &RequestFilter) -> Vec<RequestRecord> {
        self.lock()
            .iter()
            .filter(|r| filter.matches(r))
            .cloned()
            .collect()
    }

    /// Number of records matching a filter.
    pub fn count(&self, filter: &RequestFilter) -> usize {
        self.lock().iter().filter(|r| filter.matches(r)).count()
    }

    /// Write requests (create, update, patch, delete, deletecollection) matching a filter.
    pub fn writes(&self, filter: &RequestFilter) -> Vec<RequestRecord> {
        self.lock()
            .iter()
            .filter(|r| r.is_write() && filter.matches(r))
            .cloned()
            .collect()
    }

    /// Number of write requests per identity.
    pub fn writes_by_identity(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for record in self.lock().iter().filter(|r| r.is_write()) {
            let count = counts.entry(record.identity.to_string()).or_insert(0usize);
            *count = count.saturating_add(1);
        }
        counts
    }

    /// Records that arrived at or after `since`.
    pub fn since(&self, since: Instant) -> Vec<RequestRecord> {
        self.lock()
            .iter()
            .filter(|r| r.at >= since)
            .cloned()
            .collect()
    }
}
