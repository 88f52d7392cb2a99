//! The operator in one call: what `kulta run` runs, and what a binary that registers routers of
//! its own runs, with the same flags ([`RunArgs`]) and the same behaviour.
//!
//! A binary names its routers as a function from the client to a list of factories (each
//! leadership term runs on fresh clients, so the factories are made again for each); the
//! Gateway API router is always registered, and a factory with its key replaces it. The rest —
//! logging, clients and their rate limits, leader election, the admin server, signals and the
//! exit code — is done here. A whole `main`:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use kulta_router::{RouterError, RouterFactory, TrafficRouter};
//! # struct MyRouterFactory(kube::Client);
//! # impl RouterFactory for MyRouterFactory {
//! #     fn key(&self) -> &str { "my-router" }
//! #     fn build(&self, _: &serde_json::Value) -> Result<Arc<dyn TrafficRouter>, RouterError> {
//! #         unimplemented!()
//! #     }
//! # }
//! fn main() -> std::process::ExitCode {
//!     kulta_controller::operator::main(clap::Command::new("kulta-my-router"), |client| {
//!         vec![Box::new(MyRouterFactory(client.clone()))]
//!     })
//! }
//! ```

use std::process::ExitCode;

use clap::{Args as _, FromArgMatches as _};
use kulta_router::RouterFactory;
use tokio_util::sync::CancellationToken;

use crate::Controller;
use crate::cli::{self, RunArgs};
use crate::runtime::{self, Clients, Exit, Handles};

/// The routers a binary registers, made for the client the reconciles use.
pub trait Routers:
    Fn(&kube::Client) -> Vec<Box<dyn RouterFactory>> + Send + Sync + 'static
{
}

impl<F> Routers for F where
    F: Fn(&kube::Client) -> Vec<Box<dyn RouterFactory>> + Send + Sync + 'static
{
}

/// No routers beyond the built-in ones (`kulta run`).
pub fn built_in_routers(_client: &kube::Client) -> Vec<Box<dyn RouterFactory>> {
    Vec::new()
}

/// Runs the operator as `args` say, with `routers` registered, until a signal (SIGTERM or
/// SIGINT: in-flight reconciles finish, the Lease is released) or until this replica loses its
/// leadership. Sets up logging; the caller installs the crypto provider
/// ([`cli::install_crypto_provider`]) before any client is made.
///
/// # Errors
/// When no kubeconfig or in-cluster config is found, or the admin server cannot bind.
pub async fn run(args: RunArgs, routers: impl Routers) -> anyhow::Result<Exit> {
    cli::init_logging(args.log_format);
    let clients = Clients::infer(args.kube_qps, args.kube_burst).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cli::shutdown_on_signals(shutdown.clone()));
    tracing::info!(
        namespace = ?args.namespace,
        concurrency = args.concurrency,
        leader_election = args.leader_election,
        "starting"
    );
    let namespace = args.namespace.clone();
    let concurrency = args.concurrency;
    let exit = runtime::run(
        clients,
        move |client| {
            let factories = routers(&client);
            factories.into_iter().fold(
                Controller::builder(client)
                    .namespace(namespace.clone())
                    .concurrency(concurrency),
                |builder, factory| builder.router(factory),
            )
        },
        args.runtime_options(),
        Handles::default(),
        shutdown,
        None,
    )
    .await?;
    Ok(exit)
}

/// A binary's whole `main`: parses the operator's flags into `command` (its name, version and
/// help are the binary's), runs [`run`] on a multi-threaded runtime and exits: 0 after a
/// signal, 1 when leadership was lost (so that the pod restarts and rejoins the election as a
/// candidate) or on an error, which is printed.
pub fn main(command: clap::Command, routers: impl Routers) -> ExitCode {
    cli::install_crypto_provider();
    // The flags' own description would replace the binary's.
    let about = command.get_about().cloned();
    let command = match about {
        Some(about) => RunArgs::augment_args(command).about(about),
        None => RunArgs::augment_args(command).about(None::<&str>),
    };
    let parsed = command
        .try_get_matches()
        .and_then(|matches| RunArgs::from_arg_matches(&matches));
    let args = match parsed {
        Ok(args) => args,
        // `--help` and `--version` land here too, and exit 0.
        Err(error) => error.exit(),
    };
    let exit = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(args, routers)));
    match exit {
        Ok(Exit::Shutdown) => ExitCode::SUCCESS,
        Ok(Exit::LostLeadership) => std::process::exit(1),
        Err(error) => {
            eprintln!("Error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
