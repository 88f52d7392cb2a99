//! The operator's flags (`kulta run`, and every binary built on [`crate::operator`]), logging,
//! and signals. Every flag has a `KULTA_*` environment fallback so the same image is configured
//! from a manifest.

use clap::{Args, ValueEnum};

use crate::controller::DEFAULT_CONCURRENCY;

/// The operator's flags: the arguments of `kulta run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "KULTA_NAMESPACE")]
    pub namespace: Option<String>,
    /// Rollouts reconciled at once. A reconcile mostly waits on the API server, and the client's
    /// QPS limit (`--kube-qps`) is what bounds the load it sees.
    #[arg(long, env = "KULTA_CONCURRENCY", default_value_t = DEFAULT_CONCURRENCY)]
    pub concurrency: u16,
    /// Log format.
    #[arg(long, env = "KULTA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Address of the admin server (/healthz, /readyz, /metrics).
    #[arg(long, env = "KULTA_ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    pub admin_addr: std::net::SocketAddr,
    /// Elect a leader among replicas through a Lease; only the leader reconciles.
    #[arg(long, env = "KULTA_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Name of the Lease.
    #[arg(long, env = "KULTA_LEASE_NAME", default_value = "kulta-controller")]
    pub lease_name: String,
    /// Namespace of the Lease (default: the pod's namespace from POD_NAMESPACE, else `default`).
    #[arg(long, env = "KULTA_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// This replica's identity in the election (default: POD_NAME, else the host name).
    #[arg(long, env = "KULTA_IDENTITY")]
    pub identity: Option<String>,
    /// How long a Lease is valid without renewal.
    #[arg(long, env = "KULTA_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: std::time::Duration,
    /// How long the leader tries to renew before it steps down.
    #[arg(long, env = "KULTA_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    pub renew_deadline: std::time::Duration,
    /// Pause between election attempts.
    #[arg(long, env = "KULTA_RETRY_PERIOD", default_value = "2s", value_parser = parse_duration)]
    pub retry_period: std::time::Duration,
    /// Average API requests per second the controller may send.
    #[arg(long, env = "KULTA_KUBE_QPS", default_value_t = 50.0)]
    pub kube_qps: f64,
    /// Requests the controller may send in a burst above the average.
    #[arg(long, env = "KULTA_KUBE_BURST", default_value_t = 100)]
    pub kube_burst: u32,
    /// How long in-flight reconciles may take to finish on shutdown.
    #[arg(long, env = "KULTA_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: std::time::Duration,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    kulta_api::duration::parse_duration(text).map_err(|e| e.to_string())
}

impl RunArgs {
    /// The runtime options these arguments describe.
    pub fn runtime_options(&self) -> crate::runtime::RuntimeOptions {
        let leader_election = self
            .leader_election
            .then(|| crate::runtime::LeaderElection {
                namespace: self
                    .lease_namespace
                    .clone()
                    .or_else(|| std::env::var("POD_NAMESPACE").ok())
                    .unwrap_or_else(|| "default".to_string()),
                name: self.lease_name.clone(),
                identity: self
                    .identity
                    .clone()
                    .or_else(|| std::env::var("POD_NAME").ok())
                    .unwrap_or_else(default_identity),
                timings: crate::runtime::leader::LeaseTimings {
                    lease_duration: self.lease_duration,
                    renew_deadline: self.renew_deadline,
                    retry_period: self.retry_period,
                },
            });
        crate::runtime::RuntimeOptions {
            admin_address: self.admin_addr,
            leader_election,
            shutdown_grace: self.shutdown_grace,
        }
    }
}

/// Host name plus process id: unique per process on a machine.
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "kulta".to_string());
    format!("{host}-{}", std::process::id())
}

/// Log output format.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Sets up `tracing` with `RUST_LOG`-style filters (default `info`).
pub fn init_logging(format: LogFormat) {
    init_logging_with_default(format, "info");
}

/// Sets up `tracing` with `RUST_LOG`-style filters, `default` when `RUST_LOG` is unset.
pub fn init_logging_with_default(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A subscriber already set (tests, embedding binaries) is fine.
    let _ = result;
}

/// Installs the rustls `ring` crypto provider once per process. kube uses ring; if another crate
/// in the graph turned on `aws-lc-rs`, rustls could not pick one by itself and every client would
/// fail at start.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Cancels `shutdown` on the first SIGTERM or SIGINT; a second one exits at once.
pub async fn shutdown_on_signals(shutdown: tokio_util::sync::CancellationToken) {
    wait_for_signal().await;
    tracing::info!("shutting down: finishing in-flight work (signal again to exit at once)");
    shutdown.cancel();
    wait_for_signal().await;
    tracing::warn!("second signal: exiting now");
    std::process::exit(130);
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
