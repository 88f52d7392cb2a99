//! Run-time knobs of the simulated controllers: shared, lock-light settings that tests and the
//! sandbox flip while the controllers run. Every setter wakes the controllers so a change takes
//! effect at once (for example, unfreezing the gateway re-evaluates every route).

use std::collections::BTreeSet;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Default delay before a created pod becomes ready.
pub(super) const DEFAULT_POD_READY_DELAY: Duration = Duration::from_millis(200);
/// Default delay before the gateway controller writes a route's status.
pub(super) const DEFAULT_ROUTE_STATUS_DELAY: Duration = Duration::from_millis(50);

/// Run-time tunable settings of the simulated controllers.
///
/// Share it as `Arc<ControllerKnobs>`; every method takes `&self`. [`ControllerKnobs::default`]
/// turns every controller on with a 200 ms pod readiness delay and a 50 ms route status delay.
/// Users of the crate tune the two delays; the switches (ReplicaSet controller off, gateway
/// frozen, routes rejected) exist for the crate's own tests.
#[derive(Debug)]
pub struct ControllerKnobs {
    replicasets: AtomicBool,
    gateway_frozen: AtomicBool,
    reject_all_routes: AtomicBool,
    pod_ready_delay_ms: AtomicU64,
    route_status_delay_ms: AtomicU64,
    rejected_routes: RwLock<BTreeSet<String>>,
    changes: tokio::sync::watch::Sender<u64>,
}

impl Default for ControllerKnobs {
    fn default() -> Self {
        let (changes, _) = tokio::sync::watch::channel(0);
        Self {
            replicasets: AtomicBool::new(true),
            gateway_frozen: AtomicBool::new(false),
            reject_all_routes: AtomicBool::new(false),
            pod_ready_delay_ms: AtomicU64::new(duration_ms(DEFAULT_POD_READY_DELAY)),
            route_status_delay_ms: AtomicU64::new(duration_ms(DEFAULT_ROUTE_STATUS_DELAY)),
            rejected_routes: RwLock::new(BTreeSet::new()),
            changes,
        }
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl ControllerKnobs {
    /// Knobs with every controller on and the default delays.
    pub fn new() -> Self {
        Self::default()
    }

    fn changed(&self) {
        self.changes
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    /// A receiver that sees a new value after every knob change (used by the controllers to
    /// re-evaluate everything).
    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// ReplicaSet controller on or off (default on). Off: pods are neither created, deleted nor
    /// made ready, and ReplicaSet status is left as it is.
    #[cfg(test)]
    pub(crate) fn set_replicasets_enabled(&self, enabled: bool) -> &Self {
        self.replicasets.store(enabled, Ordering::SeqCst);
        self.changed();
        self
    }

    /// Whether the ReplicaSet controller acts.
    pub(crate) fn replicasets_enabled(&self) -> bool {
        self.replicasets.load(Ordering::SeqCst)
    }

    /// Freeze the gateway (default off): route status is no longer written, so
    /// `observedGeneration` goes stale after a spec change. Unfreezing re-evaluates every route.
    #[cfg(test)]
    pub(crate) fn set_gateway_frozen(&self, frozen: bool) -> &Self {
        self.gateway_frozen.store(frozen, Ordering::SeqCst);
        self.changed();
        self
    }

    /// Whether the gateway is frozen.
    pub(crate) fn gateway_frozen(&self) -> bool {
        self.gateway_frozen.load(Ordering::SeqCst)
    }

    /// Delay between a pod's creation and its readiness (default 200 ms; zero allowed). Applies
    /// to pods created after the change.
    pub fn set_pod_ready_delay(&self, delay: Duration) -> &Self {
        self.pod_ready_delay_ms
            .store(duration_ms(delay), Ordering::SeqCst);
        self.changed();
        self
    }

    /// Current pod readiness delay.
    pub fn pod_ready_delay(&self) -> Duration {
        Duration::from_millis(self.pod_ready_delay_ms.load(Ordering::SeqCst))
    }

    /// Delay between a route change and the gateway writing its status (default 50 ms).
    pub fn set_route_status_delay(&self, delay: Duration) -> &Self {
        self.route_status_delay_ms
            .store(duration_ms(delay), Ordering::SeqCst);
        self.changed();
        self
    }

    /// Current route status delay.
    pub fn route_status_delay(&self) -> Duration {
        Duration::from_millis(self.route_status_delay_ms.load(Ordering::SeqCst))
    }

    /// Reject every route (`Accepted=False`, reason `NotAllowedByListeners`), default off.
    #[cfg(test)]
    pub(crate) fn set_reject_all_routes(&self, reject: bool) -> &Self {
        self.reject_all_routes.store(reject, Ordering::SeqCst);
        self.changed();
        self
    }

    /// Reject one route, named `name` (any namespace) or `namespace/name`.
    #[cfg(test)]
    pub(crate) fn reject_route(&self, route: &str) -> &Self {
        self.rejected_routes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(route.to_string());
        self.changed();
        self
    }

    /// Undo [`ControllerKnobs::reject_route`] for the same string.
    #[cfg(test)]
    pub(crate) fn accept_route(&self, route: &str) -> &Self {
        self.rejected_routes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(route);
        self.changed();
        self
    }

    /// Whether the route `namespace/name` is to be rejected.
    pub(crate) fn is_route_rejected(&self, namespace: &str, name: &str) -> bool {
        if self.reject_all_routes.load(Ordering::SeqCst) {
            return true;
        }
        let rejected = self
            .rejected_routes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rejected.contains(name) || rejected.contains(&format!("{namespace}/{name}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_turn_everything_on() {
        let knobs = ControllerKnobs::default();
        assert!(knobs.replicasets_enabled() && !knobs.gateway_frozen());
        assert_eq!(knobs.pod_ready_delay(), DEFAULT_POD_READY_DELAY);
        assert_eq!(knobs.route_status_delay(), DEFAULT_ROUTE_STATUS_DELAY);
        assert!(!knobs.is_route_rejected("default", "web"));
    }

    #[test]
    fn rejection_by_name_namespace_or_all() {
        let knobs = ControllerKnobs::default();
        let changes = knobs.subscribe();
        knobs.reject_route("web");
        assert!(changes.has_changed().unwrap_or(false));
        assert!(knobs.is_route_rejected("any", "web"));
        knobs.accept_route("web").reject_route("prod/api");
        assert!(!knobs.is_route_rejected("any", "web"));
        assert!(knobs.is_route_rejected("prod", "api"));
        assert!(!knobs.is_route_rejected("dev", "api"));
        knobs.set_reject_all_routes(true);
        assert!(knobs.is_route_rejected("dev", "other"));
    }
}
