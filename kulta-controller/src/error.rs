//! The controller's error type. Every variant names what it was doing and to which object, and
//! maps to a bounded [`Error::category`] used as a metric label and in Event reasons.

use kulta_router::{RegistryError, RouterError};

/// Errors of one reconcile.
#[derive(thiserror::Error, Debug)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("unable to {action} {kind} {namespace}/{name}")]
    Kube {
        /// What was attempted: "create", "scale", "patch", ...
        action: &'static str,
        /// Kind of the object.
        kind: &'static str,
        /// Namespace of the object.
        namespace: String,
        /// Name of the object.
        name: String,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The traffic router failed.
    #[error("traffic router {router} unable to {operation} for rollout {namespace}/{rollout}")]
    Router {
        /// The router's kind.
        router: &'static str,
        /// The router operation.
        operation: &'static str,
        /// Rollout namespace.
        namespace: String,
        /// Rollout name.
        rollout: String,
        /// The router's error.
        #[source]
        source: RouterError,
    },
    /// The spec names a router that is not registered, or its config was refused.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The object lacks a field the API server always sets.
    #[error("rollout is missing {0}")]
    MissingField(&'static str),
    /// Serialising an object failed.
    #[error("failed to serialise {what}")]
    Serialize {
        /// What was being serialised.
        what: &'static str,
        /// The error.
        #[source]
        source: serde_json::Error,
    },
    /// A ReplicaSet with the name of one of this Rollout's revisions exists and is not this
    /// Rollout's to take.
    #[error("ReplicaSet {namespace}/{name} exists and is not this Rollout's: {why}")]
    ReplicaSetConflict {
        /// Namespace.
        namespace: String,
        /// ReplicaSet name.
        name: String,
        /// Whose it is, or how it differs.
        why: String,
    },
    /// Adding or removing the finalizer failed.
    #[error("unable to manage the finalizer of rollout {namespace}/{name}: {message}")]
    Finalizer {
        /// Rollout namespace.
        namespace: String,
        /// Rollout name.
        name: String,
        /// What failed.
        message: String,
    },
}

impl Error {
    /// A bounded label for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube { source, .. } => match source.as_ref() {
                kube::Error::Api(status) if status.code == 409 => "conflict",
                kube::Error::Api(status) if status.code == 404 => "not_found",
                kube::Error::Api(status) if status.code == 429 => "throttled",
                kube::Error::Api(status) if status.code >= 500 => "api_server",
                kube::Error::Api(_) => "api_rejected",
                _ => "api_unreachable",
            },
            Error::Router { source, .. } => match source {
                RouterError::NotFound { .. } => "router_not_found",
                RouterError::Conflict { .. } => "router_conflict",
                RouterError::InvalidConfig { .. } => "router_invalid_config",
                RouterError::Transient { .. } => "router_transient",
                RouterError::Unsupported { .. } => "router_unsupported",
            },
            Error::Registry(_) => "invalid_router",
            Error::MissingField(_) => "invalid_object",
            Error::Serialize { .. } => "serialize",
            Error::Finalizer { .. } => "finalizer",
            Error::ReplicaSetConflict { .. } => "replicaset_conflict",
        }
    }

    /// The Event reason for this error (PascalCase).
    pub fn event_reason(&self) -> &'static str {
        match self {
            Error::Router { .. } => "RouterError",
            Error::Registry(_) => "InvalidRouter",
            Error::Finalizer { .. } => "FinalizerError",
            Error::ReplicaSetConflict { .. } => "ReplicaSetConflict",
            Error::Kube { source, .. } if matches!(source.as_ref(), kube::Error::Api(status) if status.code == 422) => {
                "RejectedByAPIServer"
            }
            _ => "ReconcileError",
        }
    }

    /// Whether the error waits for a change to the Rollout (or to what it names) rather than
    /// for a retry: the API server refusing the ReplicaSet of the template as invalid (422), or
    /// a router refusing its config or the operation.
    /// Such an error is reported like an invalid spec.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::Kube {
                action: "create",
                kind: "ReplicaSet",
                source,
                ..
            } => matches!(source.as_ref(), kube::Error::Api(status) if status.code == 422),
            Error::Router { source, .. } => !source.is_retryable(),
            // Retried: it is resolved by deleting or renaming a ReplicaSet that is not watched.
            _ => false,
        }
    }

    /// The error and its sources, joined, for conditions and Events.
    pub fn full_message(&self) -> String {
        let mut message = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        message
    }

    pub(crate) fn kube(
        action: &'static str,
        kind: &'static str,
        namespace: &str,
        name: &str,
        source: kube::Error,
    ) -> Self {
        Error::Kube {
            action,
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
            source: Box::new(source),
        }
    }
}

/// Result alias of the controller.
pub type Result<T, E = Error> = std::result::Result<T, E>;
