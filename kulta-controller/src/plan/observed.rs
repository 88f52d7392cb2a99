//! What the observe step saw of the cluster, in the plain shape the plan needs.

use chrono::{DateTime, Utc};

/// A ReplicaSet owned by the Rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedReplicaSet {
    /// Object name.
    pub name: String,
    /// Revision hash (its `pod-template-hash` label).
    pub hash: String,
    /// `spec.replicas`.
    pub replicas: i32,
    /// `status.replicas`.
    pub current: i32,
    /// `status.readyReplicas`.
    pub ready: i32,
    /// `status.availableReplicas`.
    pub available: i32,
    /// Rollout revision number from its annotation (0 when absent).
    pub revision: i64,
    /// When it is due to be scaled to zero, from its annotation.
    pub scale_down_deadline: Option<DateTime<Utc>>,
}

/// A Service the Rollout pins to a revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceObservation {
    /// The Service does not exist.
    Missing,
    /// The Service exists; the revision hash its selector pins, if any.
    Selects(Option<String>),
}

impl ServiceObservation {
    /// Whether the Service selects exactly revision `hash`.
    pub fn selects(&self, hash: &str) -> bool {
        matches!(self, ServiceObservation::Selects(Some(h)) if h == hash)
    }
}

/// What KULTA recorded on a Service it pins (see `kulta_api::labels`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceRecord {
    /// The Rollout that claimed it.
    pub claimed_by: Option<String>,
    /// The revision KULTA last pinned it to.
    pub pinned: Option<String>,
    /// Its resourceVersion (a first claim is conditional on it).
    pub resource_version: Option<String>,
}

/// What the router said about the weight last requested (`status.desiredCanaryWeight`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteObservation {
    /// No weight was requested yet, so nothing was verified.
    NotRequested,
    /// The router verified this canary weight.
    Verified(u8),
    /// The router cannot verify; the weight was written.
    Unsupported(u8),
    /// Not there yet, with the router's reason.
    Pending {
        /// Weight checked.
        weight: u8,
        /// Why it is not verified.
        reason: String,
    },
    /// The router failed to check.
    Failed {
        /// Weight checked.
        weight: u8,
        /// Error category.
        category: &'static str,
        /// The error.
        reason: String,
    },
}

impl RouteObservation {
    /// Whether traffic is known to be at `weight` (verified, or written to a router that cannot
    /// verify).
    pub fn is_at(&self, weight: u8) -> bool {
        matches!(self, RouteObservation::Verified(w) | RouteObservation::Unsupported(w) if *w == weight)
    }

    /// The weight known to be in effect, if any.
    pub fn weight_in_effect(&self) -> Option<u8> {
        match self {
            RouteObservation::Verified(w) | RouteObservation::Unsupported(w) => Some(*w),
            _ => None,
        }
    }
}

/// Everything the plan knows about the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// ReplicaSets owned by the Rollout.
    pub replica_sets: Vec<ObservedReplicaSet>,
    /// The stable Service.
    pub stable_service: ServiceObservation,
    /// The canary Service.
    pub canary_service: ServiceObservation,
    /// The canary Service's selector (empty when it is missing or selects by nothing).
    pub canary_selector: std::collections::BTreeMap<String, String>,
    /// KULTA's record on the stable Service.
    pub stable_record: ServiceRecord,
    /// KULTA's record on the canary Service.
    pub canary_record: ServiceRecord,
    /// Why the route cannot carry this Rollout's weights, when the router says it cannot (no
    /// rule sends to the stable and canary Services, backends it cannot tell apart, no route).
    pub route_problem: Option<String>,
    /// The router's view of the requested weight.
    pub route: RouteObservation,
    /// Whether every object the router references is watched (and the watches are healthy):
    /// a change to them wakes the Rollout, so a pending verification need not be polled.
    pub route_watched: bool,
}

impl Observed {
    /// The ReplicaSet of revision `hash`.
    pub fn replica_set(&self, hash: &str) -> Option<&ObservedReplicaSet> {
        self.replica_sets.iter().find(|rs| rs.hash == hash)
    }
}
