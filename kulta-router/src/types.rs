//! Plain value types exchanged between the controller and a traffic router.
//!
//! Nothing here knows about HTTP or Kubernetes clients: the controller builds these values from
//! the Rollout spec, and a router turns them into writes on whatever object it manages.

use serde::{Deserialize, Serialize};

/// A Service that receives a share of the traffic, optionally narrowed to one port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BackendRef {
    /// Name of the Service, in the Rollout's namespace.
    pub service: String,
    /// Port of the Service. `None` matches a reference to the Service on any port.
    pub port: Option<u16>,
}

impl BackendRef {
    /// A reference to `service` on any port.
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            port: None,
        }
    }

    /// The same reference, narrowed to `port`.
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }
}

impl std::fmt::Display for BackendRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(port) => write!(f, "Service {}:{port}", self.service),
            None => write!(f, "Service {}", self.service),
        }
    }
}

/// Everything a router needs to know about one Rollout to shift its traffic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTarget {
    /// The Rollout's namespace; routes named without a namespace live here.
    pub namespace: String,
    /// The Rollout's name.
    pub rollout: String,
    /// The Service selecting the stable pods.
    pub stable: BackendRef,
    /// The Service selecting the canary pods.
    pub canary: BackendRef,
    /// The router's own section of the Rollout spec, verbatim (for Gateway API, the object under
    /// `trafficRouting.gatewayAPI`; for a plugin, its `config`).
    pub config: serde_json::Value,
}

impl RouteTarget {
    /// Builds a target from its parts.
    pub fn new(
        namespace: impl Into<String>,
        rollout: impl Into<String>,
        stable: BackendRef,
        canary: BackendRef,
        config: serde_json::Value,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            rollout: rollout.into(),
            stable,
            canary,
            config,
        }
    }
}

/// Which operations a router supports, so that a step a router cannot serve is reported as an
/// invalid spec instead of being skipped silently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Capabilities {
    /// `set_weight`, `verify_weight` and `remove_managed_routes` do real work.
    pub weights: bool,
    /// `set_header_route` and `remove_header_route` are supported.
    pub header_routes: bool,
    /// `set_mirror_route` and `remove_mirror_route` are supported.
    pub mirror_routes: bool,
}

impl Capabilities {
    /// Weights only: what most routers start with.
    pub const WEIGHTS_ONLY: Self = Self {
        weights: true,
        header_routes: false,
        mirror_routes: false,
    };
}

/// Whether an idempotent write call changed anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteOutcome {
    /// The router's objects already held the desired state; nothing was written.
    Unchanged,
    /// At least one object was written.
    Written,
}

impl WriteOutcome {
    /// `true` for [`WriteOutcome::Written`].
    pub fn is_written(self) -> bool {
        matches!(self, Self::Written)
    }

    /// Combines the outcomes of writes to several objects: written if any of them was.
    #[must_use]
    pub fn and(self, other: Self) -> Self {
        if self.is_written() || other.is_written() {
            Self::Written
        } else {
            Self::Unchanged
        }
    }
}

/// The answer of [`crate::TrafficRouter::verify_weight`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verification {
    /// The data plane has accepted the desired weights.
    Verified,
    /// Not yet; the reason says what is missing in words a person can act on. Pending is not an
    /// error: the controller requeues and asks again.
    Pending(String),
    /// The router cannot tell; the controller proceeds as if verified.
    Unsupported,
}

impl Verification {
    /// `true` only for [`Verification::Verified`].
    pub fn is_verified(&self) -> bool {
        matches!(self, Self::Verified)
    }

    /// The reason of a [`Verification::Pending`] answer.
    pub fn pending_reason(&self) -> Option<&str> {
        match self {
            Self::Pending(reason) => Some(reason),
            Self::Verified | Self::Unsupported => None,
        }
    }
}

/// A route that sends requests matching all of `matches` to the canary.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HeaderRoute {
    /// Name of the route, unique per Rollout; used to remove it again.
    pub name: String,
    /// Conditions that all have to hold for a request to go to the canary.
    pub matches: Vec<HeaderMatch>,
}

/// A condition on one request header.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HeaderMatch {
    /// Header name, case-insensitive as in HTTP.
    pub header: String,
    /// How the header value is compared.
    pub value: StringMatch,
}

/// How a string is compared.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum StringMatch {
    /// Equal to the string.
    Exact(String),
    /// Starts with the string.
    Prefix(String),
    /// Matches the regular expression; the dialect is the router's.
    Regex(String),
}

/// A route that copies a share of the matching requests to the canary, discarding the answers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MirrorRoute {
    /// Name of the route, unique per Rollout; used to remove it again.
    pub name: String,
    /// Share of the matching requests to copy, 0 to 100.
    pub percentage: u8,
    /// Conditions that all have to hold for a request to be mirrored; empty mirrors every request.
    pub matches: Vec<HeaderMatch>,
}

/// A Kubernetes object a router reads or writes, so the controller can watch it and map its
/// changes back to the Rollout.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceRef {
    /// `group/version`, or `version` for the core group, e.g. `gateway.networking.k8s.io/v1`.
    pub api_version: String,
    /// Kind, e.g. `HTTPRoute`.
    pub kind: String,
    /// Namespace of the object; empty for a cluster-scoped kind.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
}

impl std::fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}
