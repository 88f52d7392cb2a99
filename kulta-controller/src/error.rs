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
    /// The API server refused the ReplicaSet of the template as invalid (422, with its field
    /// errors in the source): the template cannot run until the Rollout changes.
    #[error("unable to create ReplicaSet {namespace}/{name}")]
    ReplicaSetRefused {
        /// Namespace.
        namespace: String,
        /// ReplicaSet name.
        name: String,
        /// The API server's answer.
        #[source]
        source: Box<kube::Error>,
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

/// What kind of failure an [`Error`] is: how it is retried, and its metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Category {
    /// 409: optimistic concurrency doing its job; retried at once on a fresh view.
    Conflict,
    /// 404 from the API server.
    NotFound,
    /// 429 from the API server.
    Throttled,
    /// 5xx from the API server.
    ApiServer,
    /// Another 4xx from the API server.
    ApiRejected,
    /// No answer from the API server.
    ApiUnreachable,
    /// The router found an object missing.
    RouterNotFound,
    /// The router lost races with other writers.
    RouterConflict,
    /// The router refused its config.
    RouterInvalidConfig,
    /// The router's API failed.
    RouterTransient,
    /// The router does not support the operation.
    RouterUnsupported,
    /// The spec names no registered router.
    InvalidRouter,
    /// The object lacks a field the API server always sets.
    InvalidObject,
    /// Serialising an object failed.
    Serialize,
    /// The finalizer could not be managed.
    Finalizer,
    /// A ReplicaSet with a revision's name is someone else's.
    ReplicaSetConflict,
}

impl Category {
    /// The metric label (`snake_case`, bounded).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Conflict => "conflict",
            Category::NotFound => "not_found",
            Category::Throttled => "throttled",
            Category::ApiServer => "api_server",
            Category::ApiRejected => "api_rejected",
            Category::ApiUnreachable => "api_unreachable",
            Category::RouterNotFound => "router_not_found",
            Category::RouterConflict => "router_conflict",
            Category::RouterInvalidConfig => "router_invalid_config",
            Category::RouterTransient => "router_transient",
            Category::RouterUnsupported => "router_unsupported",
            Category::InvalidRouter => "invalid_router",
            Category::InvalidObject => "invalid_object",
            Category::Serialize => "serialize",
            Category::Finalizer => "finalizer",
            Category::ReplicaSetConflict => "replicaset_conflict",
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// What kind of failure this is (a bounded metric label, and how it is retried).
    pub fn category(&self) -> Category {
        match self {
            Error::Kube { source, .. } => match source.as_ref() {
                kube::Error::Api(status) if status.code == 409 => Category::Conflict,
                kube::Error::Api(status) if status.code == 404 => Category::NotFound,
                kube::Error::Api(status) if status.code == 429 => Category::Throttled,
                kube::Error::Api(status) if status.code >= 500 => Category::ApiServer,
                kube::Error::Api(_) => Category::ApiRejected,
                _ => Category::ApiUnreachable,
            },
            Error::Router { source, .. } => match source {
                RouterError::NotFound { .. } => Category::RouterNotFound,
                RouterError::Conflict { .. } => Category::RouterConflict,
                RouterError::InvalidConfig { .. } => Category::RouterInvalidConfig,
                RouterError::Transient { .. } => Category::RouterTransient,
                RouterError::Unsupported { .. } => Category::RouterUnsupported,
                // A kind this build does not know: retried or not as the router says.
                _ => Category::RouterTransient,
            },
            Error::Registry(_) => Category::InvalidRouter,
            Error::MissingField(_) => Category::InvalidObject,
            Error::Serialize { .. } => Category::Serialize,
            Error::Finalizer { .. } => Category::Finalizer,
            Error::ReplicaSetConflict { .. } => Category::ReplicaSetConflict,
            Error::ReplicaSetRefused { .. } => Category::ApiRejected,
        }
    }

    /// The Event reason for this error (PascalCase).
    pub fn event_reason(&self) -> &'static str {
        match self {
            Error::Router { .. } => "RouterError",
            Error::Registry(_) => "InvalidRouter",
            Error::Finalizer { .. } => "FinalizerError",
            Error::ReplicaSetConflict { .. } => "ReplicaSetConflict",
            Error::ReplicaSetRefused { .. } => "RejectedByAPIServer",
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
            Error::ReplicaSetRefused { .. } => true,
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
