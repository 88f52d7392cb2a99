//! The `kulta` binary: parses arguments and hands over.
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

use clap::Parser;
use kulta::cli::{Cli, Command};
use kulta_controller::cli::{self, RunArgs};
use kulta_controller::operator;
use kulta_controller::runtime::Exit;

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
            kulta::sandbox::run(sandbox_args).await
        }
        #[cfg(not(feature = "sandbox"))]
        Some(Command::Sandbox { .. }) => anyhow::bail!(
            "this kulta was built without the `sandbox` feature (the operator image); \
             `cargo run --release -p kulta -- sandbox` builds and runs the sandbox"
        ),
        Some(Command::Version) => {
            println!("kulta {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    match operator::run(args, operator::built_in_routers).await? {
        Exit::Shutdown => Ok(()),
        // Exit so the pod restarts clean and rejoins the election as a candidate.
        Exit::LostLeadership => std::process::exit(1),
    }
}
