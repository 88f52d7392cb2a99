//! A fault-injecting proxy in front of a real API server: what kulta-sim's fault injector does
//! inside the sim, done on the wire, so the fault and operator suites run on the real control
//! plane too.
//!
//! One listener per client identity (a test's name for a client: `kulta-controller`, `kulta-a`):
//! it answers with kulta-sim's [`Faults`] decisions (failures with the real Status bodies,
//! latency, outages) and forwards everything else through an upstream `kube::Client`, which
//! authenticates as the ServiceAccount and verifies the server's certificate. Watches are
//! streamed and end when [`Faults::drop_watches`] is called, as a restarted API server ends
//! them. Each forwarded request carries the user agent `kulta-test/<identity>`, so the audit log
//! tells the identities apart although they share one ServiceAccount.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http_body_util::BodyExt;
use kulta_sim::ApiError;
use kulta_sim::Faults;
use kulta_sim::{Store, StoreConfig};

/// The user-agent prefix that names a proxied identity in the audit log.
pub(crate) const USER_AGENT_PREFIX: &str = "kulta-test/";

/// The fault injector shared by every listener of one test, and its watch-drop signal.
pub(crate) struct FaultInjector {
    store: Arc<Store>,
    faults: Arc<Faults>,
}

impl FaultInjector {
    pub(crate) fn new() -> Self {
        let store = Arc::new(Store::new(StoreConfig::default()));
        // The exempt "controller" identity of kulta-sim is its own simulated controllers, which
        // never go through this proxy.
        let faults = Arc::new(Faults::new(
            store.clone(),
            0x6b756c7461,
            kulta_sim::CONTROLLER_IDENTITY,
        ));
        FaultInjector { store, faults }
    }

    pub(crate) fn faults(&self) -> &Faults {
        &self.faults
    }
}

struct Listener {
    identity: String,
    upstream: kube::Client,
    store: Arc<Store>,
    faults: Arc<Faults>,
}

/// Starts a listener for `identity` on loopback that forwards to `upstream`; returns its
/// address. It serves until the runtime that started it ends.
pub(crate) async fn listen(
    injector: &FaultInjector,
    identity: &str,
    upstream: kube::Client,
) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the fault proxy");
    let address = listener.local_addr().expect("proxy address");
    let state = Arc::new(Listener {
        identity: identity.to_string(),
        upstream,
        store: injector.store.clone(),
        faults: injector.faults.clone(),
    });
    let app = axum::Router::new().fallback(forward).with_state(state);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    address
}

async fn forward(State(listener): State<Arc<Listener>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let query = kulta_sim::request::Query::parse(parts.uri.query());
    let mut failed_after_write = None;
    if let kulta_sim::request::Route::Resource(resource) = kulta_sim::request::route(path) {
        let verb = kulta_sim::request::verb_of(&parts.method, &resource, &query);
        let decision = listener.faults.decide(
            verb,
            &resource.plural,
            resource.subresource.as_deref().unwrap_or_default(),
            resource.namespace.as_deref().unwrap_or_default(),
            resource.name.as_deref().unwrap_or_default(),
            &listener.identity,
        );
        if !decision.delay.is_zero() {
            tokio::time::sleep(decision.delay).await;
        }
        match decision.fail {
            Some(failure) if decision.fail_after_write => failed_after_write = Some(failure),
            Some((code, retry_after)) => {
                return ApiError::injected(code, retry_after).into_response();
            }
            None => {}
        }
    }
    let Ok(body) = body.collect().await.map(|collected| collected.to_bytes()) else {
        return ApiError::bad_request("unable to read the request body".to_string())
            .into_response();
    };
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.to_string(), ToString::to_string);
    let mut upstream = http::Request::builder()
        .method(parts.method.clone())
        .uri(target);
    for (name, value) in &parts.headers {
        // The upstream client authenticates itself and names the identity in the user agent.
        if name != http::header::AUTHORIZATION
            && name != http::header::HOST
            && name != http::header::USER_AGENT
        {
            upstream = upstream.header(name, value);
        }
    }
    upstream = upstream.header(
        http::header::USER_AGENT,
        format!("{USER_AGENT_PREFIX}{}", listener.identity),
    );
    let Ok(upstream) = upstream.body(kube::client::Body::from(body.to_vec())) else {
        return ApiError::bad_request("unable to forward the request".to_string()).into_response();
    };
    let response = match listener.upstream.send(upstream).await {
        Ok(response) => response,
        Err(error) => {
            return ApiError::service_unavailable(format!("proxy: {error}")).into_response();
        }
    };
    if let Some((code, retry_after)) = failed_after_write {
        // Carried out by the API server; the client sees the failure instead.
        let _ = response.into_body().collect().await;
        return ApiError::injected(code, retry_after).into_response();
    }
    // A watch (or any streamed answer) ends when the watches are dropped.
    let mut dropped = listener.store.watch_epoch.subscribe();
    dropped.mark_unchanged();
    let (parts, body) = response.into_parts();
    let stream = body.into_data_stream().take_until(async move {
        let _ = dropped.changed().await;
    });
    Response::from_parts(parts, Body::from_stream(stream))
}
