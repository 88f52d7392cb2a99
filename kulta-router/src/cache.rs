//! [`ObjectCache`]: the objects routers name in [`crate::TrafficRouter::referenced_objects`], as
//! the controller's watches hold them.

use crate::ResourceRef;

/// The objects routers reference, kept by the controller: it watches every kind a router names
/// in [`crate::TrafficRouter::referenced_objects`], wakes the Rollouts that name an object when
/// it changes, and keeps the objects here, with each router's own writes laid over them until
/// the watch delivers them.
///
/// The controller hands its cache to every factory once, before the first build
/// ([`crate::RouterFactory::attach`]). A router that reads its objects may read them here
/// instead of from the API server. Objects travel as JSON (`apiVersion`, `kind`, `metadata`,
/// and the rest of the object) so that this crate stays free of Kubernetes clients.
///
/// A cached object can be behind the API server: a router must only act on versions the API
/// server returned, and guard its writes (for example a JSON Patch `test` of
/// `metadata.resourceVersion`) so that a write built from a stale view is refused and rebuilt
/// from a fresh read.
pub trait ObjectCache: Send + Sync {
    /// The newest version of `object` known without a request, or `None` when its kind is not
    /// watched (yet), its watch has not listed or is failing (changes may be passing it by),
    /// or the object does not exist: the router then reads it from the API server.
    fn get(&self, object: &ResourceRef) -> Option<serde_json::Value>;

    /// Records `written`, the object as the API server returned it from the router's own write.
    /// Until the watch delivers that version, [`get`](Self::get) answers with it and its watch
    /// event wakes no Rollout.
    fn record(&self, object: &ResourceRef, written: serde_json::Value);
}
