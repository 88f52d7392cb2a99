//! Command-line arguments. kubectl hands a plugin every argument typed after `kubectl kulta`,
//! so the connection flags (`--kubeconfig`, `--context`, `-n`) are global and may appear before
//! or after the subcommand, as with kubectl itself.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::error::{Error, Result};

/// See and drive KULTA Rollouts.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-kulta",
    bin_name = "kubectl kulta",
    version,
    about = "See and drive KULTA canary Rollouts",
    after_help = "Exit codes: 0 success (status: Healthy), 1 status: Degraded, 2 status: timed out, 3 error."
)]
pub struct Args {
    /// Which cluster and namespace to talk to.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The kubectl flags that choose the cluster, user and namespace.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectionArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current-context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig cluster to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The kubeconfig user to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
    /// Namespace (default: the context's namespace, else `default`).
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

/// The plugin's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show one rollout: strategy, step, weights, revisions, pause, conditions and events.
    ///
    /// `get rollout NAME`, `get rollout/NAME` and `get NAME` are the same.
    Get {
        /// `rollout NAME`, `rollout/NAME` or `NAME`.
        #[arg(required = true, num_args = 1..=2, value_name = "[rollout] NAME")]
        target: Vec<String>,
        /// Keep watching and redraw on every change.
        #[arg(short = 'w', long)]
        watch: bool,
    },
    /// List rollouts: phase, step, canary weight, ready pods and age.
    #[command(visible_alias = "ls")]
    List {
        /// List rollouts in every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
    /// Continue past the current pause (`kulta.io/promote=true`), or with `--full` skip every
    /// remaining step (`kulta.io/promote=full`).
    Promote {
        /// Name of the rollout.
        name: String,
        /// Skip every remaining step and make the canary stable.
        #[arg(long)]
        full: bool,
    },
    /// Abort the canary: traffic back to stable, canary scaled down (`kulta.io/abort=true`).
    Abort {
        /// Name of the rollout.
        name: String,
    },
    /// Restart an aborted canary from its first step (`kulta.io/retry=true`).
    Retry {
        /// Name of the rollout.
        name: String,
    },
    /// Wait until the rollout's latest generation is Healthy (exit 0); exit 1 when it is
    /// Degraded, 2 when the timeout passes first.
    Status {
        /// Name of the rollout.
        name: String,
        /// How long to wait, in Go syntax (`30s`, `5m`, `1h`); `0` waits forever.
        #[arg(long, default_value = "10m", value_parser = parse_timeout)]
        timeout: Duration,
    },
    /// Change a rollout's template.
    Set {
        /// What to change.
        #[command(subcommand)]
        what: SetCommand,
    },
}

/// `set` subcommands.
#[derive(Debug, Subcommand)]
pub enum SetCommand {
    /// Set the image of one or more containers: `set image NAME CONTAINER=IMAGE...`.
    Image {
        /// Name of the rollout.
        name: String,
        /// `CONTAINER=IMAGE` pairs.
        #[arg(required = true, value_name = "CONTAINER=IMAGE", value_parser = parse_container_image)]
        images: Vec<ContainerImage>,
    },
}

/// One `CONTAINER=IMAGE` argument of `set image`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerImage {
    /// The container name.
    pub container: String,
    /// The new image.
    pub image: String,
}

fn parse_container_image(text: &str) -> std::result::Result<ContainerImage, String> {
    match text.split_once('=') {
        Some((container, image)) if !container.is_empty() && !image.is_empty() => {
            Ok(ContainerImage {
                container: container.to_string(),
                image: image.to_string(),
            })
        }
        _ => Err(format!(
            "{text:?} is not CONTAINER=IMAGE, e.g. app=nginx:1.27"
        )),
    }
}

fn parse_timeout(text: &str) -> std::result::Result<Duration, String> {
    kulta_api::duration::parse_duration(text).map_err(|error| error.to_string())
}

/// The rollout name of `get`'s positional arguments: `NAME`, `rollout NAME` or `rollout/NAME`.
///
/// # Errors
/// [`Error::Usage`] for another resource type or too many names.
pub fn rollout_name(target: &[String]) -> Result<String> {
    match target {
        [single] => match single.split_once('/') {
            Some((kind, name)) if is_rollout_kind(kind) && !name.is_empty() => Ok(name.to_string()),
            Some((kind, _)) => Err(unknown_kind(kind)),
            None => Ok(single.clone()),
        },
        [kind, name] if is_rollout_kind(kind) => Ok(name.clone()),
        [kind, _] => Err(unknown_kind(kind)),
        _ => Err(Error::Usage(
            "get takes one rollout: get rollout NAME".to_string(),
        )),
    }
}

fn is_rollout_kind(kind: &str) -> bool {
    matches!(
        kind.to_ascii_lowercase().as_str(),
        "rollout" | "rollouts" | "kr" | "rollout.kulta.io" | "rollouts.kulta.io"
    )
}

fn unknown_kind(kind: &str) -> Error {
    Error::Usage(format!(
        "kubectl kulta shows rollouts only, not {kind:?}: get rollout NAME"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> std::result::Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("kubectl-kulta").chain(args.iter().copied()))
    }

    #[test]
    fn get_accepts_every_spelling() {
        for target in [
            vec!["app".to_string()],
            vec!["rollout".to_string(), "app".to_string()],
            vec!["rollouts".to_string(), "app".to_string()],
            vec!["rollout/app".to_string()],
        ] {
            assert_eq!(rollout_name(&target).unwrap(), "app");
        }
        assert!(rollout_name(&["deployment".to_string(), "app".to_string()]).is_err());
        assert!(rollout_name(&["pod/app".to_string()]).is_err());
    }

    #[test]
    fn connection_flags_are_global() {
        let args = parse(&[
            "--kubeconfig",
            "/k",
            "get",
            "rollout",
            "app",
            "-n",
            "ns",
            "--context",
            "c",
        ])
        .unwrap();
        assert_eq!(args.connection.kubeconfig, Some(PathBuf::from("/k")));
        assert_eq!(args.connection.namespace.as_deref(), Some("ns"));
        assert_eq!(args.connection.context.as_deref(), Some("c"));
    }

    #[test]
    fn status_timeout_uses_go_durations() {
        let args = parse(&["status", "app", "--timeout", "1m30s"]).unwrap();
        match args.command {
            Command::Status { timeout, .. } => assert_eq!(timeout, Duration::from_secs(90)),
            other => panic!("unexpected {other:?}"),
        }
        assert!(parse(&["status", "app", "--timeout", "5 minutes"]).is_err());
    }

    #[test]
    fn set_image_needs_container_equals_image() {
        let args = parse(&["set", "image", "app", "web=nginx:1.27", "sidecar=envoy:1"]).unwrap();
        let Command::Set {
            what: SetCommand::Image { name, images },
        } = args.command
        else {
            panic!("not set image");
        };
        assert_eq!(name, "app");
        assert_eq!(images[1].container, "sidecar");
        assert_eq!(images[0].image, "nginx:1.27");
        assert!(parse(&["set", "image", "app", "nginx:1.27"]).is_err());
        assert!(parse(&["set", "image", "app", "=nginx"]).is_err());
    }

    #[test]
    fn list_all_namespaces() {
        let args = parse(&["list", "-A"]).unwrap();
        assert!(matches!(
            args.command,
            Command::List {
                all_namespaces: true
            }
        ));
    }
}
