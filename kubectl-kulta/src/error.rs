//! The plugin's errors and exit codes.
//!
//! Every message names the object and the cause, lowercase without a trailing period, the way
//! kubectl's own messages read. `main` prints the error and its source chain on stderr.

use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code of a command that did its job (for `status`: the rollout is Healthy).
pub const EXIT_OK: u8 = 0;
/// Exit code of `status` when the rollout is Degraded.
pub const EXIT_DEGRADED: u8 = 1;
/// Exit code of `status` when the timeout passed first.
pub const EXIT_TIMEOUT: u8 = 2;
/// Exit code of any command that could not do its job: bad arguments, no kubeconfig, the
/// rollout does not exist, the API server refused or could not be reached.
pub const EXIT_ERROR: u8 = 3;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig could not be read or has no usable context.
    #[error("unable to load kubeconfig{}", path_suffix(path))]
    Kubeconfig {
        /// The file given with `--kubeconfig`, if any.
        path: Option<PathBuf>,
        /// What kube reported.
        #[source]
        source: Box<kube::config::KubeconfigError>,
    },
    /// No kubeconfig was found and the process does not run in a cluster.
    #[error(
        "unable to find a kubeconfig: set KUBECONFIG, pass --kubeconfig or create ~/.kube/config"
    )]
    NoKubeconfig,
    /// The client could not be built from the kubeconfig.
    #[error("unable to create a Kubernetes client")]
    Client(#[source] Box<kube::Error>),
    /// The rollout does not exist.
    #[error("rollout {name:?} not found in namespace {namespace:?}")]
    NotFound {
        /// Name of the rollout.
        name: String,
        /// Namespace searched.
        namespace: String,
    },
    /// The API server does not serve `rollouts.kulta.io`.
    #[error(
        "the server does not serve rollouts.kulta.io/v1alpha1: is the KULTA CRD installed? \
         (kubectl apply -f deploy/crds/)"
    )]
    CrdMissing,
    /// A request about one rollout failed.
    #[error("unable to {action} rollout {name:?} in namespace {namespace:?}")]
    Rollout {
        /// What was attempted (`get`, `patch`, `watch`).
        action: &'static str,
        /// Name of the rollout.
        name: String,
        /// Its namespace.
        namespace: String,
        /// The client error.
        #[source]
        source: Box<kube::Error>,
    },
    /// A request about other objects (lists of rollouts, ReplicaSets, events) failed.
    #[error("unable to {action} {what}")]
    Request {
        /// What was attempted (`list`, `watch`).
        action: &'static str,
        /// The objects, e.g. `rollouts in namespace "default"`.
        what: String,
        /// The client error.
        #[source]
        source: Box<kube::Error>,
    },
    /// `set image` named a container the rollout's template does not have.
    #[error(
        "rollout {name:?} has no container {container:?}; its containers are: {}",
        existing.join(", ")
    )]
    NoSuchContainer {
        /// Name of the rollout.
        name: String,
        /// The container asked for.
        container: String,
        /// The containers (and init containers) the template has.
        existing: Vec<String>,
    },
    /// `set image` on a rollout whose pod template does not decode.
    #[error("rollout {name:?} has an invalid pod template: {problem}; fix it with kubectl edit")]
    InvalidTemplate {
        /// Name of the rollout.
        name: String,
        /// The field and what is wrong with it.
        problem: String,
    },
    /// `set image` on a rollout whose template changed while the patch was being built, more
    /// times than the retry budget.
    #[error("failed to set the image of rollout {name:?}: it kept changing while being patched")]
    Conflict {
        /// Name of the rollout.
        name: String,
    },
    /// The command line was not understood beyond what clap checks.
    #[error("{0}")]
    Usage(String),
    /// Writing to stdout failed (e.g. a closed pipe).
    #[error("unable to write output")]
    Output(#[source] std::io::Error),
}

/// The API server's Status inside a cause, when the cause is a `kube::Error::Api`.
fn api_status<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a kube::core::Status> {
    let error = cause.downcast_ref::<kube::Error>().or_else(|| {
        cause
            .downcast_ref::<Box<kube::Error>>()
            .map(|boxed| &**boxed)
    })?;
    match error {
        kube::Error::Api(status) => Some(status),
        _ => None,
    }
}

fn path_suffix(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|path| format!(" from {}", path.display()))
        .unwrap_or_default()
}

impl Error {
    /// The error followed by its causes, `: `-separated, for one line on stderr.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            // An API server's refusal: its message, as kubectl prints it, not kube's debug dump.
            if let Some(status) = api_status(cause) {
                let message = if status.message.is_empty() {
                    format!("{} ({})", status.reason, status.code)
                } else {
                    status.message.clone()
                };
                if !text.ends_with(&message) {
                    text.push_str(": ");
                    text.push_str(&message);
                }
                break;
            }
            let cause_text = cause.to_string();
            if !text.ends_with(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        text
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(EXIT_ERROR)
    }
}

/// Maps a client error about one rollout: a 404 naming the rollout becomes [`Error::NotFound`], a
/// 404 for the resource type itself [`Error::CrdMissing`], anything else [`Error::Rollout`].
pub fn rollout_error(
    action: &'static str,
    name: &str,
    namespace: &str,
    error: kube::Error,
) -> Error {
    match &error {
        // A missing object is a 404 whose details name it; a 404 without a name is the
        // resource type itself missing ("the server could not find the requested resource").
        kube::Error::Api(status)
            if status.code == 404
                && status
                    .details
                    .as_ref()
                    .is_some_and(|details| !details.name.is_empty()) =>
        {
            Error::NotFound {
                name: name.to_string(),
                namespace: namespace.to_string(),
            }
        }
        kube::Error::Api(status) if status.code == 404 => Error::CrdMissing,
        _ => Error::Rollout {
            action,
            name: name.to_string(),
            namespace: namespace.to_string(),
            source: Box::new(error),
        },
    }
}

/// Maps a client error about a list of objects; a 404 on rollouts means the CRD is missing.
pub fn list_error(action: &'static str, what: String, error: kube::Error) -> Error {
    match &error {
        kube::Error::Api(status) if status.code == 404 && what.starts_with("rollouts") => {
            Error::CrdMissing
        }
        _ => Error::Request {
            action,
            what,
            source: Box::new(error),
        },
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(body: serde_json::Value) -> kube::Error {
        kube::Error::Api(Box::new(serde_json::from_value(body).unwrap()))
    }

    #[test]
    fn not_found_object_versus_missing_crd() {
        let object = api_error(serde_json::json!({
            "code": 404, "reason": "NotFound", "message": "rollouts.kulta.io \"x\" not found",
            "details": {"name": "x", "group": "kulta.io", "kind": "rollouts"}
        }));
        assert_eq!(
            rollout_error("get", "x", "shop", object).to_string(),
            "rollout \"x\" not found in namespace \"shop\""
        );
        let resource = api_error(serde_json::json!({
            "code": 404, "reason": "NotFound", "details": {},
            "message": "the server could not find the requested resource"
        }));
        assert!(matches!(
            rollout_error("get", "x", "shop", resource),
            Error::CrdMissing
        ));
        let refused = api_error(serde_json::json!({
            "code": 403, "reason": "Forbidden", "message": "rollouts.kulta.io \"x\" is forbidden"
        }));
        let error = rollout_error("patch", "x", "shop", refused);
        assert_eq!(
            error.chain(),
            "unable to patch rollout \"x\" in namespace \"shop\": rollouts.kulta.io \"x\" is forbidden"
        );
    }
}
