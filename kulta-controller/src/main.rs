//! The `kulta` binary: parses arguments and hands over.
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

use clap::Parser;
use kulta_controller::Controller;
use kulta_controller::cli::{self, Cli, Command, RunArgs};
use kulta_controller::runtime::{self, Exit, Handles};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cli::install_crypto_provider();
    let args = Cli::parse();
    match args.command {
        None => run(args.run).await,
        Some(Command::Run(run_args)) => run(run_args).await,
        Some(Command::Crd) => {
            print!("{}", kulta_api::crd::crds_yaml()?);
            Ok(())
        }
        #[cfg(feature = "sandbox")]
        Some(Command::Sandbox(sandbox_args)) => {
            cli::init_logging_with_default(cli::LogFormat::Text, "warn");
            kulta_controller::sandbox::run(sandbox_args).await
        }
        #[cfg(not(feature = "sandbox"))]
        Some(Command::Sandbox { .. }) => anyhow::bail!(
            "this kulta was built without the `sandbox` feature (the operator image); \
             `cargo run --release -p kulta-controller -- sandbox` builds and runs the sandbox"
        ),
        Some(Command::Version) => {
            println!("kulta {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    cli::init_logging(args.log_format);
    let clients = runtime::Clients::infer(args.kube_qps, args.kube_burst).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cli::shutdown_on_signals(shutdown.clone()));
    tracing::info!(namespace = ?args.namespace, concurrency = args.concurrency, leader_election = args.leader_election, "starting");
    let namespace = args.namespace.clone();
    let concurrency = args.concurrency;
    let exit = runtime::run(
        clients,
        move |client| {
            Controller::builder(client)
                .namespace(namespace.clone())
                .concurrency(concurrency)
        },
        args.runtime_options(),
        Handles::default(),
        shutdown,
        None,
    )
    .await?;
    match exit {
        Exit::Shutdown => Ok(()),
        // Exit so the pod restarts clean and rejoins the election as a candidate.
        Exit::LostLeadership => std::process::exit(1),
    }
}
