//! The [`Sim`] handle: starts the server on loopback, hands out clients and a kubeconfig, exposes
//! the fault injector, the request log and the controller knobs, and shuts everything down.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::server::{self, App, Settings};
use crate::controllers::{self, ControllerKnobs};
use crate::crds::{self, CrdError};
use crate::faults::Faults;
use crate::kubeconfig;
use crate::requestlog::RequestLog;
use crate::storage::store::{Store, StoreConfig};

/// The bearer token of [`Sim::client`] and of the kubeconfig.
pub const ADMIN_IDENTITY: &str = "admin";

/// The bearer token the simulated controllers use, so their requests are attributable.
pub const CONTROLLER_IDENTITY: &str = "system:kulta-sim-controllers";

/// Why a sim could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address is not loopback and non-loopback was not allowed.
    #[error("refusing to listen on non-loopback address {0} (allow it explicitly)")]
    NonLoopback(SocketAddr),
    /// Binding the listener failed.
    #[error("unable to bind {address}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing the kubeconfig failed.
    #[error("unable to write the kubeconfig")]
    Kubeconfig(#[source] std::io::Error),
    /// Building a client failed.
    #[error("unable to build a kube client")]
    Client(#[source] kube::Error),
    /// The base URL could not be parsed.
    #[error("invalid base url {0}")]
    Url(String),
    /// The CRDs asked for at start could not be installed.
    #[error("unable to install the CRDs asked for at start")]
    Crds(#[source] Box<CrdError>),
}

/// Options of a sim; see the README for what each one changes.
#[derive(Debug, Clone)]
pub struct SimBuilder {
    address: SocketAddr,
    allow_non_loopback: bool,
    history_size: usize,
    channel_capacity: usize,
    bookmark_interval: Duration,
    controllers: bool,
    knobs: Option<Arc<ControllerKnobs>>,
    fault_seed: u64,
    kubeconfig_path: Option<PathBuf>,
    gateway_api: bool,
    crds: Vec<CustomResourceDefinition>,
}

impl Default for SimBuilder {
    fn default() -> Self {
        SimBuilder {
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            allow_non_loopback: false,
            history_size: StoreConfig::default().history_size,
            channel_capacity: StoreConfig::default().channel_capacity,
            bookmark_interval: Duration::from_secs(5),
            controllers: true,
            knobs: None,
            fault_seed: 0x6b756c7461,
            kubeconfig_path: None,
            gateway_api: false,
            crds: Vec::new(),
        }
    }
}

impl SimBuilder {
    /// Installs the Gateway API CRDs ([`crds::install_gateway_api`]) before `start` returns.
    pub fn gateway_api(mut self) -> Self {
        self.gateway_api = true;
        self
    }

    /// Installs `crds` (for example KULTA's) before `start` returns, each served by then.
    pub fn crds(mut self, crds: impl IntoIterator<Item = CustomResourceDefinition>) -> Self {
        self.crds.extend(crds);
        self
    }

    /// Listen address (default `127.0.0.1:0`, a free port).
    pub fn address(mut self, address: SocketAddr) -> Self {
        self.address = address;
        self
    }
    /// Allows a non-loopback listen address.
    pub fn allow_non_loopback(mut self, allow: bool) -> Self {
        self.allow_non_loopback = allow;
        self
    }
    /// Number of events kept for watch resumption (default 10,000); older resumes get 410.
    pub fn history_size(mut self, events: usize) -> Self {
        self.history_size = events;
        self
    }
    /// Per-resource broadcast capacity; a watcher lagging further is disconnected (default 4,096).
    pub fn watch_channel_capacity(mut self, events: usize) -> Self {
        self.channel_capacity = events;
        self
    }
    /// Interval of watch bookmarks (default 5 s).
    pub fn bookmark_interval(mut self, interval: Duration) -> Self {
        self.bookmark_interval = interval;
        self
    }
    /// Runs the simulated controllers (default true).
    pub fn controllers(mut self, enabled: bool) -> Self {
        self.controllers = enabled;
        self
    }
    /// Uses these controller knobs instead of the defaults.
    pub fn knobs(mut self, knobs: Arc<ControllerKnobs>) -> Self {
        self.knobs = Some(knobs);
        self
    }
    /// Seed of the fault injector's RNG (fractional failures).
    pub fn fault_seed(mut self, seed: u64) -> Self {
        self.fault_seed = seed;
        self
    }
    /// Writes the kubeconfig here instead of a temporary directory.
    pub fn kubeconfig_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.kubeconfig_path = Some(path.into());
        self
    }

    /// Binds, starts serving and starts the controllers.
    ///
    /// # Errors
    /// [`SimError`] when the address is refused or cannot be bound, or the kubeconfig cannot be
    /// written.
    pub async fn start(self) -> Result<Sim, SimError> {
        if !self.address.ip().is_loopback() && !self.allow_non_loopback {
            return Err(SimError::NonLoopback(self.address));
        }
        let listener = tokio::net::TcpListener::bind(self.address)
            .await
            .map_err(|source| SimError::Bind {
                address: self.address,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| SimError::Bind {
            address: self.address,
            source,
        })?;
        let base_url = format!("http://{address}");
        let store = Arc::new(Store::new(StoreConfig {
            history_size: self.history_size,
            channel_capacity: self.channel_capacity,
        }));
        let faults = Arc::new(Faults::new(
            store.clone(),
            self.fault_seed,
            CONTROLLER_IDENTITY,
        ));
        let log = Arc::new(RequestLog::default());
        let app = Arc::new(App {
            store,
            faults,
            log,
            settings: Settings {
                bookmark_interval: self.bookmark_interval,
                address: address.to_string(),
            },
        });
        let (tempdir, kubeconfig_path) = match self.kubeconfig_path {
            Some(path) => (None, path),
            None => {
                let dir = tempfile::tempdir().map_err(SimError::Kubeconfig)?;
                let path = dir.path().join("kubeconfig");
                (Some(dir), path)
            }
        };
        kubeconfig::write(&kubeconfig_path, &base_url, ADMIN_IDENTITY)
            .map_err(SimError::Kubeconfig)?;

        let shutdown = CancellationToken::new();
        let router = server::router(app.clone());
        let server_shutdown = shutdown.clone();
        let server = tokio::spawn(async move {
            // Watch events are small writes on a busy connection: with Nagle's algorithm each
            // can wait for the client's delayed ACK (40 ms) before it leaves.
            let listener = listener.tap_io(|stream| {
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%error, "unable to set TCP_NODELAY on a connection");
                }
            });
            let result = axum::serve(listener, router)
                .with_graceful_shutdown(server_shutdown.cancelled_owned())
                .await;
            if let Err(error) = result {
                tracing::warn!(%error, "kulta-sim server stopped with an error");
            }
        });
        let client = client_for(&base_url, ADMIN_IDENTITY)?;
        let knobs = self.knobs.unwrap_or_default();
        let controller_handles = if self.controllers {
            controllers::spawn(
                client_for(&base_url, CONTROLLER_IDENTITY)?,
                knobs.clone(),
                shutdown.child_token(),
            )
        } else {
            Vec::new()
        };
        let sim = Sim {
            address,
            base_url,
            app,
            client,
            knobs,
            shutdown,
            server: Some(server),
            controllers: controller_handles,
            kubeconfig_path,
            _tempdir: tempdir,
        };
        if self.gateway_api {
            crds::install_gateway_api(&sim.client)
                .await
                .map_err(|error| SimError::Crds(Box::new(error)))?;
        }
        if !self.crds.is_empty() {
            crds::install(&sim.client, &self.crds, crds::DEFAULT_ESTABLISH_TIMEOUT)
                .await
                .map_err(|error| SimError::Crds(Box::new(error)))?;
        }
        Ok(sim)
    }
}

/// A kube client for the sim at `base_url` whose bearer token is `identity`.
///
/// # Errors
/// [`SimError`] when the URL or the client cannot be built.
pub fn client_for(base_url: &str, identity: &str) -> Result<kube::Client, SimError> {
    let uri: http::Uri = base_url
        .parse()
        .map_err(|_| SimError::Url(base_url.to_string()))?;
    let mut config = kube::Config::new(uri);
    let value = http::HeaderValue::from_str(&format!("Bearer {identity}"))
        .map_err(|_| SimError::Url(format!("invalid identity {identity:?}")))?;
    config.headers.push((http::header::AUTHORIZATION, value));
    kube::Client::try_from(config).map_err(SimError::Client)
}

/// A running sim. Dropping it stops the server and the controllers.
pub struct Sim {
    address: SocketAddr,
    base_url: String,
    app: Arc<App>,
    client: kube::Client,
    knobs: Arc<ControllerKnobs>,
    shutdown: CancellationToken,
    server: Option<JoinHandle<()>>,
    controllers: Vec<JoinHandle<()>>,
    kubeconfig_path: PathBuf,
    _tempdir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// Options for a new sim.
    pub fn builder() -> SimBuilder {
        SimBuilder::default()
    }

    /// Starts a sim with default options.
    ///
    /// # Errors
    /// See [`SimBuilder::start`].
    pub async fn start() -> Result<Sim, SimError> {
        SimBuilder::default().start().await
    }

    /// A client with bearer token `admin`.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A client whose bearer token (and so its identity in the request log) is `identity`.
    ///
    /// # Errors
    /// [`SimError::Client`] if the client cannot be built.
    pub fn client_as(&self, identity: &str) -> Result<kube::Client, SimError> {
        client_for(&self.base_url, identity)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The listen address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// A kubeconfig file for kubectl (token `admin`, namespace `default`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The fault injector.
    pub fn faults(&self) -> &Faults {
        &self.app.faults
    }

    /// The request log.
    pub fn request_log(&self) -> &RequestLog {
        &self.app.log
    }

    /// The simulated controllers' knobs.
    pub fn knobs(&self) -> Arc<ControllerKnobs> {
        self.knobs.clone()
    }

    /// The latest resourceVersion of the store.
    pub fn resource_version(&self) -> u64 {
        self.app.store.lock().current_resource_version()
    }

    /// Number of open watch subscriptions.
    pub fn open_watches(&self) -> usize {
        self.app.store.lock().subscriber_count()
    }

    /// Stops the controllers and the server, ending every watch.
    pub async fn shutdown(mut self) {
        self.stop();
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        for handle in self.controllers.drain(..) {
            let abort = handle.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), handle)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    fn stop(&self) {
        self.shutdown.cancel();
        self.app.store.drop_watches();
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop();
        if let Some(server) = &self.server {
            server.abort();
        }
        for handle in &self.controllers {
            handle.abort();
        }
    }
}
