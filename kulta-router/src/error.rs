//! Errors of routers and of the registry, each with a bounded category for metric labels and
//! Event reasons.

/// An error of a [`crate::TrafficRouter`] call.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum RouterError {
    /// An object the router needs does not exist, e.g. `HTTPRoute default/my-app-route`, or a
    /// referenced object lacks a part the router needs, e.g.
    /// `backendRef for Service my-app-canary in HTTPRoute default/r rule 1`.
    #[error("{what} not found")]
    NotFound {
        /// What is missing, naming the object.
        what: String,
    },
    /// Writes kept conflicting with other writers after a bounded number of attempts.
    #[error("unable to update {what}: it kept changing underneath us (conflict after retries)")]
    Conflict {
        /// The object that kept changing.
        what: String,
    },
    /// The router's section of the Rollout spec is wrong; nothing heals without a spec change.
    #[error("invalid traffic router config: {message}")]
    InvalidConfig {
        /// What is wrong, with the field path.
        message: String,
    },
    /// A failure that may heal by itself: network, API server, timeouts.
    #[error("{message}")]
    Transient {
        /// What was being done, e.g. `unable to read HTTPRoute default/r`.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The router does not implement this operation (see [`crate::Capabilities`]).
    #[error("the traffic router does not support {operation}")]
    Unsupported {
        /// The trait method, e.g. `set_header_route`.
        operation: &'static str,
    },
}

impl RouterError {
    /// A [`RouterError::NotFound`] naming `what`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }

    /// A [`RouterError::Conflict`] naming `what`.
    pub fn conflict(what: impl Into<String>) -> Self {
        Self::Conflict { what: what.into() }
    }

    /// A [`RouterError::InvalidConfig`] with `message`.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::InvalidConfig {
            message: message.into(),
        }
    }

    /// A [`RouterError::Transient`] with `message` and an underlying error.
    pub fn transient(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Transient {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A bounded, stable label: `not_found`, `conflict`, `invalid_config`, `transient` or
    /// `unsupported`.
    pub fn category(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::InvalidConfig { .. } => "invalid_config",
            Self::Transient { .. } => "transient",
            Self::Unsupported { .. } => "unsupported",
        }
    }

    /// Whether calling again later, without a change to the Rollout, may succeed.
    ///
    /// `true` for conflicts, transient failures and missing objects (a user may still create the
    /// route); `false` for invalid config and unsupported operations, which wait for a spec
    /// change.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::NotFound { .. } | Self::Conflict { .. } | Self::Transient { .. } => true,
            Self::InvalidConfig { .. } | Self::Unsupported { .. } => false,
        }
    }
}

/// An error of [`crate::RouterRegistry::resolve`]; both variants mean the Rollout spec needs a
/// change (the controller shows them as `InvalidSpec`).
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum RegistryError {
    /// No factory is registered under the spec's key.
    #[error("unknown traffic router \"{key}\"; {}", known_routers(known))]
    UnknownRouter {
        /// The key from the spec.
        key: String,
        /// The registered keys, sorted.
        known: Vec<String>,
    },
    /// The factory refused the router's config.
    #[error("unable to set up traffic router \"{key}\": {source}")]
    Build {
        /// The key from the spec.
        key: String,
        /// Why the factory refused, usually [`RouterError::InvalidConfig`].
        #[source]
        source: RouterError,
    },
}

impl RegistryError {
    /// A bounded label: `unknown_router`, or the category of the factory's error.
    pub fn category(&self) -> &'static str {
        match self {
            Self::UnknownRouter { .. } => "unknown_router",
            Self::Build { source, .. } => source.category(),
        }
    }
}

fn known_routers(known: &[String]) -> String {
    if known.is_empty() {
        "no traffic routers are registered".to_owned()
    } else {
        format!("registered routers: {}", known.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_bounded_and_retryability_follows_them() {
        let cases = [
            (
                RouterError::not_found("HTTPRoute default/r"),
                "not_found",
                true,
            ),
            (
                RouterError::conflict("HTTPRoute default/r"),
                "conflict",
                true,
            ),
            (RouterError::invalid_config("x"), "invalid_config", false),
            (
                RouterError::transient("unable to read", "boom"),
                "transient",
                true,
            ),
            (
                RouterError::Unsupported {
                    operation: "set_header_route",
                },
                "unsupported",
                false,
            ),
        ];
        for (error, category, retryable) in cases {
            assert_eq!(error.category(), category, "{error}");
            assert_eq!(error.is_retryable(), retryable, "{error}");
        }
    }

    #[test]
    fn messages_name_the_object_and_keep_the_source() {
        assert_eq!(
            RouterError::not_found("HTTPRoute default/my-app-route").to_string(),
            "HTTPRoute default/my-app-route not found"
        );
        let error =
            RouterError::transient("unable to read HTTPRoute default/r", "connection reset");
        assert_eq!(error.to_string(), "unable to read HTTPRoute default/r");
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("connection reset"));
    }

    #[test]
    fn registry_messages_say_what_to_do() {
        let unknown = RegistryError::UnknownRouter {
            key: "foo".into(),
            known: vec!["gatewayAPI".into(), "nginx".into()],
        };
        assert_eq!(
            unknown.to_string(),
            "unknown traffic router \"foo\"; registered routers: gatewayAPI, nginx"
        );
        assert_eq!(unknown.category(), "unknown_router");
        let none = RegistryError::UnknownRouter {
            key: "foo".into(),
            known: vec![],
        };
        assert_eq!(
            none.to_string(),
            "unknown traffic router \"foo\"; no traffic routers are registered"
        );
        let build = RegistryError::Build {
            key: "gatewayAPI".into(),
            source: RouterError::invalid_config("gatewayAPI.httpRoute: must be a string"),
        };
        assert_eq!(
            build.to_string(),
            "unable to set up traffic router \"gatewayAPI\": invalid traffic router config: \
             gatewayAPI.httpRoute: must be a string"
        );
        assert_eq!(build.category(), "invalid_config");
    }
}
