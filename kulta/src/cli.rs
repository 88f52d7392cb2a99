//! The `kulta` command line: the operator's flags ([`RunArgs`]) and the subcommands.

use clap::{Parser, Subcommand};
use kulta_controller::cli::RunArgs;

/// KULTA: progressive delivery for Kubernetes.
#[derive(Parser, Debug)]
#[command(name = "kulta", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; without a subcommand, `run`.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Arguments of `run` when no subcommand is given.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller against the cluster of the current kubeconfig (or in-cluster config).
    Run(RunArgs),
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
    /// Run a demo canary on an embedded simulated cluster: no Kubernetes needed.
    #[cfg(feature = "sandbox")]
    Sandbox(crate::sandbox::SandboxArgs),
    /// `kulta sandbox` in a build without the `sandbox` feature (the operator image): accepted
    /// only to say how to get it, instead of clap's "unexpected argument".
    #[cfg(not(feature = "sandbox"))]
    #[command(hide = true, disable_help_flag = true)]
    Sandbox {
        /// Whatever followed `sandbox`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print the version.
    Version,
}
