//! The thin layer of Kubernetes API calls (apply step): read an HTTPRoute, send a JSON Patch,
//! and classify API errors. Everything above it is pure or works against [`RouteStore`].

use std::sync::Arc;

use gateway_api::httproutes::HttpRoute;
use kube::api::{Api, Patch, PatchParams};
use kube::core::Status;

use kulta_router::{ObjectCache, ResourceRef};
use tracing::debug;

use crate::RouteKey;

/// The apiVersion of the HTTPRoutes the router reads and writes.
pub(crate) const HTTP_ROUTE_API_VERSION: &str = "gateway.networking.k8s.io/v1";

/// The field manager KULTA's writes are recorded under.
pub(crate) const FIELD_MANAGER: &str = "kulta";

/// Reads and patches HTTPRoutes. Implemented on a `kube::Client` (with or without the
/// controller's [`ObjectCache`]), and by fakes in tests.
#[async_trait::async_trait]
pub(crate) trait RouteStore: Send + Sync {
    /// The route as the API server has it now, or `None` when it does not exist.
    async fn get(&self, key: &RouteKey) -> Result<Option<HttpRoute>, kube::Error>;

    /// The route as a cache has it, when the store has a cache and the route is in it.
    fn cached(&self, key: &RouteKey) -> Option<Arc<HttpRoute>> {
        let _ = key;
        None
    }

    /// Applies `patch` as `application/json-patch+json`.
    async fn patch(&self, key: &RouteKey, patch: json_patch::Patch) -> Result<(), kube::Error>;
}

/// The object reference of the route `key`, as the controller's cache knows it.
pub(crate) fn route_ref(key: &RouteKey) -> ResourceRef {
    ResourceRef {
        api_version: HTTP_ROUTE_API_VERSION.to_owned(),
        kind: "HTTPRoute".to_owned(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
    }
}

/// [`RouteStore`] on a real client, with the controller's cache when there is one.
pub(crate) struct KubeRouteStore {
    pub(crate) client: kube::Client,
    pub(crate) cache: Option<Arc<dyn ObjectCache>>,
}

#[async_trait::async_trait]
impl RouteStore for KubeRouteStore {
    async fn get(&self, key: &RouteKey) -> Result<Option<HttpRoute>, kube::Error> {
        let api: Api<HttpRoute> = Api::namespaced(self.client.clone(), &key.namespace);
        api.get_opt(&key.name).await
    }

    /// A cached route that does not parse as an HTTPRoute is treated as not cached: the fresh
    /// read decides (and reports what is wrong with it).
    fn cached(&self, key: &RouteKey) -> Option<Arc<HttpRoute>> {
        let object = self.cache.as_ref()?.get(&route_ref(key))?;
        match serde_json::from_value(object) {
            Ok(route) => Some(Arc::new(route)),
            Err(error) => {
                debug!(route = %key, %error, "cached route unreadable; reading afresh");
                None
            }
        }
    }

    async fn patch(&self, key: &RouteKey, patch: json_patch::Patch) -> Result<(), kube::Error> {
        let api: Api<HttpRoute> = Api::namespaced(self.client.clone(), &key.namespace);
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        let stored = api
            .patch(&key.name, &params, &Patch::Json::<()>(patch))
            .await?;
        if let Some(cache) = &self.cache
            && let Ok(stored) = serde_json::to_value(&stored)
        {
            cache.record(&route_ref(key), stored);
        }
        Ok(())
    }
}

/// How a failed patch is handled.
#[derive(Debug)]
pub(crate) enum PatchFailure {
    /// Someone else wrote the route since we read it: re-read and try again.
    Stale,
    /// The route is gone.
    NotFound,
    /// Anything else.
    Other(kube::Error),
}

/// The message of a 422 built by the API server's generic error path, which is what a failed
/// JSON Patch `test` operation returns (with no further detail in the body).
const GENERIC_UNPROCESSABLE: &str =
    "the server rejected our request due to an error in our request";

pub(crate) fn classify_patch_error(error: kube::Error) -> PatchFailure {
    match &error {
        kube::Error::Api(status) if status.is_not_found() => PatchFailure::NotFound,
        kube::Error::Api(status) if is_stale_write(status) => PatchFailure::Stale,
        _ => PatchFailure::Other(error),
    }
}

/// Whether `status` says our patch lost a race with another writer.
///
/// - 409 Conflict.
/// - 422 `Invalid` with the generic message: current API servers answer a failed `test`
///   operation this way (the JSON Patch library's error text is not in the body).
/// - 422 or 500 whose message says the `test` of the resourceVersion failed: older API servers
///   answered 500 `Testing value /metadata/resourceVersion failed`; servers that pass the JSON
///   Patch library's error on (kulta-sim) say e.g. `operation '/0' failed at path
///   '/metadata/resourceVersion': value did not match`.
///
/// A 422 with the generic message can also mean another operation of the patch did not apply
/// (e.g. a path vanished); re-reading and rebuilding the patch is the right answer there too.
pub(crate) fn is_stale_write(status: &Status) -> bool {
    let message = status.message.to_ascii_lowercase();
    let test_failed = message.contains("testing value")
        || message.contains("test failed")
        || message.contains("/metadata/resourceversion");
    match status.code {
        409 => true,
        422 => message.contains(GENERIC_UNPROCESSABLE) || test_failed,
        500 => test_failed,
        _ => status.is_conflict(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, reason: &str, message: &str) -> Status {
        Status::failure(message, reason).with_code(code)
    }

    #[test]
    fn recognises_lost_races_and_nothing_else() {
        let cases = [
            (
                status(409, "Conflict", "Operation cannot be fulfilled"),
                true,
            ),
            (status(422, "Invalid", GENERIC_UNPROCESSABLE), true),
            (
                status(500, "", "Testing value /metadata/resourceVersion failed"),
                true,
            ),
            (
                status(
                    422,
                    "Invalid",
                    "testing value /metadata/resourceVersion failed: test failed",
                ),
                true,
            ),
            (
                status(
                    422,
                    "Invalid",
                    "HTTPRoute.gateway.networking.k8s.io \"r\" is invalid: spec.rules[0].\
                     backendRefs[0].weight: Invalid value: 1000001",
                ),
                false,
            ),
            (
                status(
                    422,
                    "Invalid",
                    "operation '/0' failed at path '/metadata/resourceVersion': value did not \
                     match",
                ),
                true,
            ),
            (
                status(500, "InternalError", "etcdserver: request timed out"),
                false,
            ),
            (status(403, "Forbidden", "httproutes is forbidden"), false),
        ];
        for (status, stale) in cases {
            assert_eq!(is_stale_write(&status), stale, "{status:?}");
        }
    }

    #[test]
    fn classifies_not_found_stale_and_other() {
        let not_found = kube::Error::Api(status(404, "NotFound", "not found").boxed());
        assert!(matches!(
            classify_patch_error(not_found),
            PatchFailure::NotFound
        ));
        let stale = kube::Error::Api(status(422, "Invalid", GENERIC_UNPROCESSABLE).boxed());
        assert!(matches!(classify_patch_error(stale), PatchFailure::Stale));
        let other = kube::Error::Api(status(503, "ServiceUnavailable", "try later").boxed());
        assert!(matches!(
            classify_patch_error(other),
            PatchFailure::Other(_)
        ));
    }
}
