//! `kulta-configmap-router`: the KULTA controller with the ConfigMap router registered beside the
//! Gateway API one. It takes the same flags as `kulta run`.
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

use clap::Parser;
use kulta_controller::Controller;
use kulta_controller::cli::RunArgs;
use kulta_controller::runtime::{self, Exit, Handles};
use kulta_example_configmap_router::ConfigMapRouterFactory;
use tokio_util::sync::CancellationToken;

/// KULTA with the example ConfigMap router.
#[derive(Parser)]
#[command(name = "kulta-configmap-router", version)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    kulta_controller::cli::install_crypto_provider();
    let args = Cli::parse().run;
    kulta_controller::cli::init_logging(args.log_format);
    let clients = runtime::Clients::infer(args.kube_qps, args.kube_burst).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(kulta_controller::cli::shutdown_on_signals(shutdown.clone()));
    let namespace = args.namespace.clone();
    let exit = runtime::run(
        clients,
        move |client| {
            Controller::builder(client.clone())
                .namespace(namespace.clone())
                .router(ConfigMapRouterFactory::new(client))
        },
        args.runtime_options(),
        Handles::default(),
        shutdown,
        None,
    )
    .await?;
    if exit == Exit::LostLeadership {
        std::process::exit(1);
    }
    Ok(())
}
