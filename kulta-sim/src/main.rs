//! The `kulta-sim` binary: runs the sim standalone and writes a kubeconfig for kubectl.
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// An embedded Kubernetes API server with simulated controllers, for tests and sandboxes.
///
/// Plain HTTP on loopback; every request's bearer token is recorded as its identity (no
/// authentication, no RBAC). Faults can be injected over `POST /sim/faults` (see README).
#[derive(Debug, Parser)]
#[command(
    name = "kulta-sim",
    version,
    after_help = "Knobs: see `kulta-sim serve --help` (listen address, kubeconfig path, watch history \
size, bookmark interval, controllers on/off, fault seed).\n\
Admin endpoints of a running sim:\n  \
POST /sim/faults {\"action\":\"fail\",\"code\":503,\"verb\":\"patch\",\"resource\":\"rollouts\",\"times\":3}\n  \
POST /sim/faults {\"action\":\"latency\",\"millis\":200}\n  \
POST /sim/faults {\"action\":\"dropWatches\"} | {\"action\":\"compact\"} | {\"action\":\"restart\",\"unavailableMillis\":500} | {\"action\":\"clear\"}\n  \
GET /sim/faults, GET /sim/requests?verb=patch&identity=NAME\n\
Every request's bearer token is recorded as its identity; there is no authentication."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API until interrupted (SIGINT) or terminated (SIGTERM), then shut down
    /// gracefully: watches end and the listener closes.
    Serve(ServeArgs),
    /// Run the simulated kubelet (one fake node: pods bound, Running, Ready, graceful deletions
    /// finished) and gateway (HTTPRoute/GRPCRoute status) against any API server, such as a real
    /// kube-apiserver with kube-controller-manager (scripts/real-cluster.sh), until SIGINT or
    /// SIGTERM.
    Agent(AgentArgs),
}

#[derive(Debug, clap::Args)]
struct AgentArgs {
    /// Kubeconfig of the API server (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Milliseconds from a pod's creation until it is reported ready.
    #[arg(long, default_value_t = 20)]
    pod_ready_delay_ms: u64,
    /// Milliseconds before the gateway writes a route's status.
    #[arg(long, default_value_t = 20)]
    route_status_delay_ms: u64,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:6443", env = "KULTA_SIM_ADDR")]
    addr: SocketAddr,
    /// Where to write a kubeconfig (server URL, token `admin`, namespace `default`).
    #[arg(long, env = "KULTA_SIM_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Allow listening on a non-loopback address (there is no authentication).
    #[arg(long)]
    allow_non_loopback: bool,
    /// Watch events retained for resumption; older resourceVersions get 410 Gone.
    #[arg(long, default_value_t = 10_000)]
    history_size: usize,
    /// Seconds between watch bookmarks.
    #[arg(long, default_value_t = 5)]
    bookmark_interval_seconds: u64,
    /// Do not run the simulated ReplicaSet/Deployment/Gateway controllers.
    #[arg(long)]
    no_controllers: bool,
    /// Seed of the fault injector's random choices.
    #[arg(long, default_value_t = 0x6b756c7461)]
    fault_seed: u64,
}

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: unable to start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = match Cli::parse().command {
        Command::Serve(args) => args,
        Command::Agent(args) => return agent(args).await,
    };
    // Registered before serving, so that a signal sent as soon as the kubeconfig appears (as
    // scripts/check-deploy.sh does) is not lost.
    let mut signals = ShutdownSignals::register()?;
    let mut builder = kulta_sim::Sim::builder()
        .address(args.addr)
        .allow_non_loopback(args.allow_non_loopback)
        .history_size(args.history_size)
        .bookmark_interval(Duration::from_secs(args.bookmark_interval_seconds.max(1)))
        .controllers(!args.no_controllers)
        .fault_seed(args.fault_seed);
    if let Some(path) = &args.kubeconfig {
        builder = builder.kubeconfig_path(path);
    }
    let sim = builder.start().await?;
    println!("kulta-sim serving {}", sim.base_url());
    println!("kubeconfig: {}", sim.kubeconfig_path().display());
    let signal = signals.next().await;
    tracing::info!(signal, "shutting down");
    sim.shutdown().await;
    Ok(())
}

async fn agent(args: AgentArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    // One rustls provider for the TLS client, whatever else the dependency graph enables.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut signals = ShutdownSignals::register()?;
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("unable to read kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    let client = kube::Client::try_from(config)?;
    let knobs = std::sync::Arc::new(kulta_sim::controllers::ControllerKnobs::new());
    knobs.set_pod_ready_delay(Duration::from_millis(args.pod_ready_delay_ms));
    knobs.set_route_status_delay(Duration::from_millis(args.route_status_delay_ms));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let handles = kulta_sim::controllers::spawn_agent(client, knobs, shutdown.clone());
    println!(
        "kulta-sim agent running (node {})",
        kulta_sim::controllers::NODE_NAME
    );
    let signal = signals.next().await;
    tracing::info!(signal, "shutting down");
    shutdown.cancel();
    for handle in handles {
        let _ = handle.await;
    }
    Ok(())
}

/// SIGINT and SIGTERM (what `kill`, process supervisors and container runtimes send).
#[cfg(unix)]
struct ShutdownSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl ShutdownSignals {
    fn register() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(ShutdownSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The name of the first signal received.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// Ctrl-C only, where there are no Unix signals.
#[cfg(not(unix))]
struct ShutdownSignals;

#[cfg(not(unix))]
impl ShutdownSignals {
    fn register() -> std::io::Result<Self> {
        Ok(ShutdownSignals)
    }

    async fn next(&mut self) -> &'static str {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "ctrl-c",
            // Without a signal handler there is nothing to wait for: serve until killed.
            Err(_) => std::future::pending().await,
        }
    }
}
