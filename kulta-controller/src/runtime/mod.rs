//! Running the controller as an operator: admin server (probes and metrics), leader election,
//! graceful shutdown, and a rate-limited API client.

pub mod admin;
pub mod leader;
pub mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::ControllerBuilder;
use admin::Health;
use leader::{Held, LeaderElector, LeaseTimings};
use metrics::Metrics;

/// Leader election settings.
#[derive(Clone, Debug)]
pub struct LeaderElection {
    /// Namespace of the Lease (the controller's own).
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This instance's identity (the pod name).
    pub identity: String,
    /// Timings.
    pub timings: LeaseTimings,
}

/// How the operator runs.
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// Where the admin server listens.
    pub admin_address: SocketAddr,
    /// Leader election, or `None` to lead unconditionally (a single replica).
    pub leader_election: Option<LeaderElection>,
    /// How long in-flight reconciles may take to finish on shutdown.
    pub shutdown_grace: Duration,
}

/// Why [`run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Asked to stop; the lease (if any) was released.
    Shutdown,
    /// Leadership was lost: the controller stopped writing at once. The process should exit
    /// and restart clean.
    LostLeadership,
}

/// Errors that keep the operator from starting.
#[derive(thiserror::Error, Debug)]
pub enum RuntimeError {
    /// The admin server could not bind.
    #[error("unable to listen on {address}")]
    Admin {
        /// The address.
        address: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Leader election is misconfigured.
    #[error(transparent)]
    Leader(#[from] leader::LeaderError),
}

/// A running operator's shared pieces, handed to `run` so tests can look at them.
#[derive(Clone, Default)]
pub struct Handles {
    /// Probe state.
    pub health: Arc<Health>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

/// Runs the operator until `shutdown` fires or leadership is lost. Reconciles use
/// `clients.reconcile`, leader election `clients.lease` (see [`Clients`]).
///
/// `controller` builds the controller (it is called once per term of leadership). The admin
/// server reports ready once the controller's caches synced, or at once while standing by.
///
/// # Errors
/// When the admin server cannot bind or leader election is misconfigured.
pub async fn run(
    clients: Clients,
    controller: impl Fn(kube::Client) -> ControllerBuilder,
    options: RuntimeOptions,
    handles: Handles,
    shutdown: CancellationToken,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<Exit, RuntimeError> {
    let admin_stop = CancellationToken::new();
    let (address, serve) = admin::bind(
        options.admin_address,
        handles.health.clone(),
        handles.metrics.clone(),
        admin_stop.clone(),
    )
    .await
    .map_err(|source| RuntimeError::Admin {
        address: options.admin_address,
        source,
    })?;
    info!(%address, "admin server listening (/healthz, /readyz, /metrics)");
    if let Some(bound) = bound {
        let _ = bound.send(address);
    }
    let admin = tokio::spawn(serve);

    let mut elector = match &options.leader_election {
        Some(election) => Some(LeaderElector::new(
            clients.lease.clone(),
            &election.namespace,
            &election.name,
            &election.identity,
            election.timings,
        )?),
        None => None,
    };
    let exit = 'run: {
        if let Some(elector) = elector.as_mut() {
            // A standby is live and ready, and idle.
            handles.health.set_ready(true);
            info!(identity = %elector.identity(), "waiting for leadership");
            if !elector.acquire(&shutdown).await {
                break 'run Exit::Shutdown;
            }
            handles.health.set_ready(false);
        }
        let graceful = CancellationToken::new();
        let health = handles.health.clone();
        let stop = graceful.clone();
        let mut task = tokio::spawn(
            controller(clients.reconcile.clone())
                .metrics(handles.metrics.clone())
                .on_ready(move || health.set_ready(true))
                .shutdown_on(async move { stop.cancelled().await })
                .run(),
        );
        let held = async {
            match elector.as_mut() {
                Some(elector) => elector.hold(&shutdown).await,
                None => {
                    shutdown.cancelled().await;
                    Held::Stopped
                }
            }
        };
        tokio::select! {
            held = held => match held {
                Held::Lost => {
                    // Stop writing now: dropping the controller cancels in-flight requests.
                    task.abort();
                    error!("lost leadership; stopped reconciling");
                    break 'run Exit::LostLeadership;
                }
                Held::Stopped => {}
            },
            _ = &mut task => {
                warn!("controller ended on its own");
            }
        }
        handles.health.shutting_down();
        graceful.cancel();
        if tokio::time::timeout(options.shutdown_grace, &mut task)
            .await
            .is_err()
        {
            warn!(grace = ?options.shutdown_grace, "in-flight reconciles did not finish in time; stopping them");
            task.abort();
        }
        Exit::Shutdown
    };
    handles.health.shutting_down();
    if exit == Exit::Shutdown
        && let Some(elector) = elector.as_mut()
        && let Err(error) = elector.release().await
    {
        warn!(%error, "unable to release the lease; it expires on its own");
    }
    admin_stop.cancel();
    let _ = admin.await;
    Ok(exit)
}

/// The operator's API clients, built from one configuration: reconciles share a rate-limited
/// client, and leader election has its own, without the limit and with its own connections, so
/// that lease renewals never wait behind a burst of reconcile requests (a leader that cannot
/// renew in time steps down, and a burst is exactly when it is busiest).
#[derive(Clone)]
pub struct Clients {
    /// For reconciles, watches and Events: limited to `--kube-qps` / `--kube-burst`.
    pub reconcile: kube::Client,
    /// For the Lease only.
    pub lease: kube::Client,
}

impl Clients {
    /// Clients for the current kubeconfig or in-cluster config; reconcile requests are limited
    /// to `qps` per second on average, with bursts of up to `burst`.
    ///
    /// # Errors
    /// When no configuration is found or a client cannot be built.
    pub async fn infer(qps: f64, burst: u32) -> Result<Clients, kube::Error> {
        let config = kube::Config::infer()
            .await
            .map_err(kube::Error::InferConfig)?;
        Clients::from_config(config, qps, burst)
    }

    /// As [`Clients::infer`], from a given configuration.
    ///
    /// # Errors
    /// When a client cannot be built.
    pub fn from_config(config: kube::Config, qps: f64, burst: u32) -> Result<Clients, kube::Error> {
        Ok(Clients {
            reconcile: rate_limited_client_from(config.clone(), qps, burst)?,
            lease: kube::Client::try_from(config)?,
        })
    }

    /// One client for both (tests, and callers that limit nothing).
    pub fn single(client: kube::Client) -> Clients {
        Clients {
            reconcile: client.clone(),
            lease: client,
        }
    }
}

/// A client for the current kubeconfig or in-cluster config whose requests are limited to
/// `qps` per second on average, with bursts of up to `burst`.
///
/// # Errors
/// When no configuration is found or the client cannot be built.
pub async fn rate_limited_client(qps: f64, burst: u32) -> Result<kube::Client, kube::Error> {
    let config = kube::Config::infer()
        .await
        .map_err(kube::Error::InferConfig)?;
    rate_limited_client_from(config, qps, burst)
}

/// As [`rate_limited_client`], from a given configuration. A `qps` that is not a positive
/// number is the default, 50; any other value, however small or large, gives a window the
/// limiter can hold (at most a day per burst, at least a nanosecond).
///
/// # Errors
/// When the client cannot be built.
pub fn rate_limited_client_from(
    config: kube::Config,
    qps: f64,
    burst: u32,
) -> Result<kube::Client, kube::Error> {
    let builder = kube::client::ClientBuilder::try_from(config)?;
    let burst = u64::from(burst.max(1));
    Ok(builder
        .with_layer(&tower::limit::RateLimitLayer::new(
            burst,
            rate_window(qps, burst),
        ))
        .build())
}

/// The window in which `burst` requests average `qps` per second: `burst / qps` seconds,
/// bounded to what a `Duration` and the limiter hold.
fn rate_window(qps: f64, burst: u64) -> Duration {
    const LONGEST: Duration = Duration::from_secs(86_400);
    let qps = if qps.is_finite() && qps > 0.0 {
        qps
    } else {
        50.0
    };
    // A u64 burst is exact in an f64 up to 2^53; beyond, the rounding is of no consequence.
    #[allow(clippy::cast_precision_loss)]
    let seconds = burst as f64 / qps;
    Duration::try_from_secs_f64(seconds)
        .unwrap_or(LONGEST)
        .clamp(Duration::from_nanos(1), LONGEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_qps_gives_a_window_without_panicking() {
        assert_eq!(rate_window(50.0, 100), Duration::from_secs(2));
        assert_eq!(rate_window(0.0, 100), Duration::from_secs(2), "the default");
        assert_eq!(rate_window(-3.0, 100), Duration::from_secs(2));
        assert_eq!(rate_window(f64::NAN, 100), Duration::from_secs(2));
        assert_eq!(rate_window(f64::INFINITY, 100), Duration::from_secs(2));
        // Tiny: burst / qps overflows a Duration (Duration::from_secs_f64 panics on it).
        assert_eq!(rate_window(1e-300, 100), Duration::from_secs(86_400));
        assert_eq!(
            rate_window(f64::MIN_POSITIVE, u64::MAX),
            Duration::from_secs(86_400)
        );
        // Huge: the window never reaches zero.
        assert_eq!(rate_window(1e300, 1), Duration::from_nanos(1));
    }
}
