//! The end-to-end harness: a [`TestCluster`] starts a backend (its own kulta-sim, or a fresh
//! namespace of the real control plane when `KULTA_TEST_CLUSTER` names one, see
//! [`kulta_test_support::Backend`]), installs the Rollout and Gateway API CRDs, creates an
//! application's Services and HTTPRoute, runs the real KULTA controller in process under its own
//! identity, and offers waits with deadlines (never fixed sleeps) and recorders of what the
//! controller did (route weights over time, writes from the request log, Events).
// Harness code: a failed setup or a missed deadline is a test failure, so panicking is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::events::v1::Event;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use kulta_api::{Phase, Rollout, RolloutStatus};
use kulta_test_support::{Backend, Request, RequestMark};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use kulta_api::steps;
pub use kulta_api::testing::RolloutBuilder;

/// A generous cap for anything the controller should do promptly.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// Polling interval of the waits.
pub use kulta_test_support::POLL;

/// The Gateway API HTTPRoute resource.
pub fn route_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "httproutes",
    )
}

/// The controller's clock in tests: the system time, or, once frozen, a time that moves only
/// when the test advances it, so that a test about timers asserts what the controller did at a
/// known time instead of guessing from the wall clock.
#[derive(Debug, Default)]
pub struct TestClock {
    frozen: Mutex<Option<chrono::DateTime<chrono::Utc>>>,
}

impl TestClock {
    /// Stops the clock at the current time.
    pub fn freeze(&self) {
        *self.frozen.lock().unwrap() = Some(chrono::Utc::now());
    }

    /// Moves a frozen clock on by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        if let Some(now) = self.frozen.lock().unwrap().as_mut() {
            *now += by;
        }
    }

    /// Follows the system time again.
    pub fn thaw(&self) {
        *self.frozen.lock().unwrap() = None;
    }
}

impl kulta_controller::clock::Clock for TestClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.frozen.lock().unwrap().unwrap_or_else(chrono::Utc::now)
    }
}

/// A running controller and the way to stop it.
struct RunningController {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

/// A cluster with the KULTA controller running against it.
pub struct TestCluster {
    /// The API server: kulta-sim or the real control plane.
    pub backend: Backend,
    /// Admin client: what a person or a pipeline does.
    pub client: Client,
    /// Where [`TestCluster::controller_writes`] starts reading.
    log_mark: Mutex<RequestMark>,
    /// Distinguishes successive [`TestCluster::touch_and_wait_reconcile`] annotations.
    touches: std::sync::atomic::AtomicU64,
    controller: Mutex<Option<RunningController>>,
    events: EventLog,
    /// The controller's metrics (shared by every controller this cluster starts).
    pub metrics: std::sync::Arc<kulta_controller::runtime::metrics::Metrics>,
    /// The controller's clock (shared by every controller this cluster starts).
    pub clock: std::sync::Arc<TestClock>,
    /// A router registered with every controller this cluster starts, replacing the built-in
    /// one with its key ([`TestCluster::start_with_router`]).
    router: Option<kulta_router::StaticRouterFactory>,
}

impl TestCluster {
    /// Starts the backend (pods ready after 20 ms), installs the CRDs and starts the controller.
    pub async fn start() -> TestCluster {
        let cluster = Self::start_without_controller().await;
        cluster.start_controller().await;
        cluster
    }

    /// Starts the backend and the controller with `router` registered, under its key: a
    /// `MockTrafficRouter` under `gatewayAPI` takes the place of the Gateway API router, so
    /// the reconcile and apply run against the mock's expectations.
    pub async fn start_with_router(router: kulta_router::StaticRouterFactory) -> TestCluster {
        let mut cluster = Self::start_without_controller().await;
        cluster.router = Some(router);
        cluster.start_controller().await;
        cluster
    }

    /// Starts the backend and installs the CRDs, without the controller.
    pub async fn start_without_controller() -> TestCluster {
        // `RUST_LOG=kulta_controller=debug cargo test -p kulta-tests` shows the controller's logs
        // with a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        // On the real control plane the agent started by scripts/real-cluster.sh has the same
        // delays (its defaults).
        let backend =
            Backend::start(|builder| builder.bookmark_interval(Duration::from_secs(1))).await;
        if let Some(sim) = backend.sim() {
            sim.knobs().set_pod_ready_delay(Duration::from_millis(20));
            sim.knobs()
                .set_route_status_delay(Duration::from_millis(20));
        }
        backend.install_gateway_api().await;
        backend.install_crds(&kulta_api::crd::all_crds()).await;
        let client = backend.client();
        let events = EventLog::start(&client, backend.namespace()).await;
        let log_mark = Mutex::new(backend.mark());
        TestCluster {
            backend,
            client,
            log_mark,
            touches: Default::default(),
            controller: Mutex::new(None),
            events,
            metrics: Default::default(),
            clock: Default::default(),
            router: None,
        }
    }

    /// Starts the controller (identity [`TestCluster::controller_identity`]) and waits until
    /// its caches synced.
    pub async fn start_controller(&self) {
        let client = self.backend.controller_client().await;
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, is_ready) = oneshot::channel::<()>();
        let mut builder = kulta_controller::Controller::builder(client);
        if let Some(router) = &self.router {
            builder = builder.router(router.clone());
        }
        let builder = builder
            .metrics(self.metrics.clone())
            .clock(self.clock.clone())
            .namespace(Some(self.namespace().to_string()))
            .concurrency(16)
            .shutdown_on(async move {
                let _ = stopped.await;
            })
            .on_ready(move || {
                let _ = ready.send(());
            });
        let handle = tokio::spawn(builder.run());
        *self.controller.lock().unwrap() = Some(RunningController { stop, handle });
        tokio::time::timeout(DEADLINE, is_ready)
            .await
            .expect("the controller reports ready (on_ready) once its watches listed")
            .expect("the controller calls on_ready");
    }

    /// Stops the controller (in-flight reconciles finish) and waits until it has stopped.
    pub async fn stop_controller(&self) {
        let running = self.controller.lock().unwrap().take();
        if let Some(running) = running {
            let _ = running.stop.send(());
            let abort = running.handle.abort_handle();
            if tokio::time::timeout(DEADLINE, running.handle)
                .await
                .is_err()
            {
                abort.abort();
                panic!("controller did not stop within {DEADLINE:?}");
            }
        }
    }

    /// Stops and starts the controller.
    pub async fn restart_controller(&self) {
        self.stop_controller().await;
        self.start_controller().await;
    }

    // ----- objects -----

    /// The namespace of this test (`default` on kulta-sim, a fresh one on a real cluster).
    pub fn namespace(&self) -> &str {
        self.backend.namespace()
    }

    /// The user name the API server sees for the controller.
    pub fn controller_identity(&self) -> &str {
        self.backend.controller_identity()
    }

    /// The sim, on kulta-sim (fault injection and knobs exist only there).
    pub fn sim(&self) -> Option<&kulta_sim::Sim> {
        self.backend.sim()
    }

    /// The fault injector of the API server the controller talks to.
    pub fn faults(&self) -> &kulta_sim::Faults {
        self.backend.faults()
    }

    /// Rollouts API.
    pub fn rollouts(&self) -> Api<Rollout> {
        Api::namespaced(self.client.clone(), self.namespace())
    }

    /// ReplicaSets API.
    pub fn replica_sets(&self) -> Api<ReplicaSet> {
        Api::namespaced(self.client.clone(), self.namespace())
    }

    /// Services API.
    pub fn services(&self) -> Api<Service> {
        Api::namespaced(self.client.clone(), self.namespace())
    }

    /// HTTPRoutes API.
    pub fn routes(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), self.namespace(), &route_resource())
    }

    /// Creates Services `<app>-stable` and `<app>-canary` (selector `app: <app>`) and the
    /// HTTPRoute `<app>-route` with one rule: stable 100, canary 0.
    pub async fn create_app(&self, app: &str) {
        self.create_service(&format!("{app}-stable"), app).await;
        self.create_service(&format!("{app}-canary"), app).await;
        self.create_route(default_route(app)).await;
    }

    /// Creates Service `name` selecting `app: <app>`.
    pub async fn create_service(&self, name: &str, app: &str) {
        let service: Service = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": { "name": name, "namespace": self.namespace() },
            "spec": { "selector": { "app": app }, "ports": [{ "port": 80, "targetPort": 8080 }] }
        }))
        .unwrap();
        self.services()
            .create(&PostParams::default(), &service)
            .await
            .expect("create Service");
    }

    /// Creates an HTTPRoute from JSON (name from its metadata) in this test's namespace.
    pub async fn create_route(&self, mut route: Value) {
        route["metadata"]["namespace"] = json!(self.namespace());
        let object: DynamicObject = serde_json::from_value(route).unwrap();
        self.routes()
            .create(&PostParams::default(), &object)
            .await
            .expect("create HTTPRoute");
    }

    /// Creates a Rollout (as admin) in this test's namespace.
    pub async fn create_rollout(&self, rollout: &Rollout) -> Rollout {
        self.try_create_rollout(rollout)
            .await
            .expect("create Rollout")
    }

    /// Creates a Rollout from JSON, as a client that does not know the type would (as admin, in
    /// this test's namespace), returning the API server's answer.
    pub async fn try_create_rollout_json(
        &self,
        mut rollout: Value,
    ) -> Result<DynamicObject, kube::Error> {
        rollout["metadata"]["namespace"] = json!(self.namespace());
        let object: DynamicObject = serde_json::from_value(rollout).expect("a Rollout object");
        let resource = kube::discovery::ApiResource::erase::<Rollout>(&());
        Api::<DynamicObject>::namespaced_with(self.client.clone(), self.namespace(), &resource)
            .create(&PostParams::default(), &object)
            .await
    }

    /// Creates a Rollout (as admin) in this test's namespace, returning the API server's answer.
    pub async fn try_create_rollout(&self, rollout: &Rollout) -> Result<Rollout, kube::Error> {
        let mut rollout = rollout.clone();
        rollout.metadata.namespace = Some(self.namespace().to_owned());
        self.rollouts()
            .create(&PostParams::default(), &rollout)
            .await
    }

    /// The Rollout `name`.
    pub async fn rollout(&self, name: &str) -> Rollout {
        self.rollouts().get(name).await.expect("get Rollout")
    }

    /// The status of Rollout `name` (default when none).
    pub async fn status(&self, name: &str) -> RolloutStatus {
        self.rollout(name).await.status.unwrap_or_default()
    }

    /// Changes the image of Rollout `name` with a merge patch (a new revision).
    pub async fn set_image(&self, name: &str, image: &str) {
        let rollout = self.rollout(name).await;
        let mut containers = rollout
            .spec
            .template
            .raw()
            .pointer("/spec/containers")
            .cloned()
            .expect("the template has containers");
        containers[0]["image"] = json!(image);
        let patch = json!({ "spec": { "template": { "spec": { "containers": containers } } } });
        self.rollouts()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch image");
    }

    /// Merge-patches the Rollout `name` (as admin).
    pub async fn patch_rollout(&self, name: &str, patch: Value) {
        self.rollouts()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch Rollout");
    }

    /// Sets a user-action annotation, as `kubectl annotate` would.
    pub async fn annotate(&self, name: &str, key: &str, value: &str) {
        self.patch_rollout(
            name,
            json!({ "metadata": { "annotations": { key: value } } }),
        )
        .await;
    }

    /// Owned ReplicaSets of Rollout `name`: revision hash → spec.replicas.
    pub async fn replica_set_scales(&self, name: &str) -> BTreeMap<String, i32> {
        let params =
            ListParams::default().labels(&format!("{}={name}", kulta_api::labels::ROLLOUT_LABEL));
        self.replica_sets()
            .list(&params)
            .await
            .expect("list ReplicaSets")
            .items
            .into_iter()
            .map(|rs| {
                let hash = rs
                    .labels()
                    .get(kulta_api::labels::POD_TEMPLATE_HASH_LABEL)
                    .cloned()
                    .unwrap_or_default();
                (hash, rs.spec.and_then(|s| s.replicas).unwrap_or(1))
            })
            .collect()
    }

    /// The pod-template-hash the Service `name` selects.
    pub async fn service_pin(&self, name: &str) -> Option<String> {
        let service = self.services().get(name).await.expect("get Service");
        service
            .spec?
            .selector?
            .get(kulta_api::labels::POD_TEMPLATE_HASH_LABEL)
            .cloned()
    }

    /// The route `name` as JSON.
    pub async fn route_json(&self, name: &str) -> Value {
        serde_json::to_value(self.routes().get(name).await.expect("get HTTPRoute")).unwrap()
    }

    /// `(stable, canary)` weights of every rule of route `name` that names `<app>-stable`.
    pub async fn route_weights(&self, route: &str, app: &str) -> Vec<(i64, i64)> {
        weights_of(&self.route_json(route).await, app)
    }

    /// Reasons of the Events about Rollout `name`, in the order they were recorded, counting
    /// each occurrence of a repeated Event (kube's recorder turns a repeat into a series count
    /// on the first Event of that reason).
    pub fn event_reasons(&self, name: &str) -> Vec<String> {
        self.events.reasons(name)
    }

    /// Notes of the Events about Rollout `name`, like [`TestCluster::event_reasons`]. A
    /// reconcile publishes one Event telling everything that happened in it, so a step's
    /// weight, completion and the pause after it share one note.
    pub fn event_notes(&self, name: &str) -> Vec<String> {
        self.events.notes(name)
    }

    /// Waits until an Event with `reason` about Rollout `name` was recorded.
    pub async fn wait_event(&self, name: &str, reason: &str) {
        self.wait_for(
            &format!("Event {reason} about {name}"),
            DEADLINE,
            || async {
                self.event_reasons(name)
                    .iter()
                    .any(|r| r == reason)
                    .then_some(())
            },
        )
        .await;
    }

    /// Waits until the Events about Rollout `name` include `expected` in this order (Events are
    /// published after the status write that a test usually waits for).
    pub async fn wait_events_in_order(&self, name: &str, expected: &[&str]) -> Vec<String> {
        self.wait_for(
            &format!("Events {expected:?} about {name}"),
            DEADLINE,
            || async {
                let reasons = self.event_reasons(name);
                appears_in_order(&reasons, expected).then_some(reasons)
            },
        )
        .await
    }

    // ----- waits -----

    /// Waits until `probe` returns `Some`, polling every [`POLL`] until `deadline`; panics with
    /// `what` and the last Rollout statuses on timeout.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, deadline: Duration, probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        if let Some(value) = kulta_test_support::wait_until(deadline, probe).await {
            return value;
        }
        let statuses: Vec<_> = self
            .rollouts()
            .list(&ListParams::default())
            .await
            .map(|list| {
                list.items
                    .into_iter()
                    .map(|r| {
                        (
                            r.name_any(),
                            serde_json::to_string_pretty(&r.status).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        panic!("timed out after {deadline:?} waiting for {what}; rollouts: {statuses:#?}");
    }

    /// Waits until the status of Rollout `name` satisfies `condition`; returns it.
    pub async fn wait_status(
        &self,
        name: &str,
        what: &str,
        condition: impl Fn(&RolloutStatus) -> bool,
    ) -> RolloutStatus {
        self.wait_status_within(name, what, DEADLINE, condition)
            .await
    }

    /// [`TestCluster::wait_status`] with its own deadline.
    pub async fn wait_status_within(
        &self,
        name: &str,
        what: &str,
        deadline: Duration,
        condition: impl Fn(&RolloutStatus) -> bool,
    ) -> RolloutStatus {
        let api = self.rollouts();
        let condition = &condition;
        self.wait_for(what, deadline, || {
            let api = api.clone();
            async move {
                let rollout = api.get(name).await.ok()?;
                let status = rollout.status.unwrap_or_default();
                condition(&status).then_some(status)
            }
        })
        .await
    }

    /// Waits until Rollout `name` is Healthy and Ready at its latest generation, with no canary.
    pub async fn wait_healthy(&self, name: &str) -> RolloutStatus {
        self.wait_healthy_within(name, DEADLINE).await
    }

    /// [`TestCluster::wait_healthy`] with its own deadline.
    pub async fn wait_healthy_within(&self, name: &str, deadline: Duration) -> RolloutStatus {
        let api = self.rollouts();
        self.wait_for(&format!("{name} Healthy"), deadline, || {
            let api = api.clone();
            async move {
                let rollout = api.get(name).await.ok()?;
                let generation = rollout.metadata.generation;
                let status = rollout.status.unwrap_or_default();
                (status.phase == Some(Phase::Healthy)
                    && status.observed_generation == generation
                    && status.canary_revision.is_none()
                    && condition_is(&status, "Ready", "True"))
                .then_some(status)
            }
        })
        .await
    }

    /// Waits until Rollout `name` is paused at step `step` (0-based).
    pub async fn wait_paused_at(&self, name: &str, step: i32) -> RolloutStatus {
        self.wait_status(name, &format!("{name} paused at step {step}"), |s| {
            s.phase == Some(Phase::Paused) && s.current_step_index == Some(step)
        })
        .await
    }

    /// Waits for the end state of a completed rollout of `app` (made by [`create_app`]) from
    /// revision `old` to `new`: `old` at zero pods and `new` at three, canary weight 0
    /// verified, the stable Service pinned to `new` and the route sending everything to it.
    ///
    /// [`create_app`]: TestCluster::create_app
    pub async fn wait_completed(&self, app: &str, old: &str, new: &str) {
        self.wait_scales(
            app,
            &BTreeMap::from([(old.to_string(), 0), (new.to_string(), 3)]),
        )
        .await;
        self.wait_status(app, "canary weight 0 verified", |s| {
            s.canary_weight == Some(0)
        })
        .await;
        assert_eq!(
            self.service_pin(&format!("{app}-stable")).await.as_deref(),
            Some(new),
            "the stable Service selects the new revision"
        );
        assert_eq!(
            self.route_weights(&format!("{app}-route"), app).await,
            vec![(100, 0)],
            "the route sends everything to stable"
        );
    }

    /// Waits until the owned ReplicaSets of `name` have exactly these scales.
    pub async fn wait_scales(&self, name: &str, expected: &BTreeMap<String, i32>) {
        self.wait_for(
            &format!("{name} ReplicaSets scaled to {expected:?}"),
            DEADLINE,
            || async {
                let scales = self.replica_set_scales(name).await;
                (&scales == expected).then_some(())
            },
        )
        .await;
    }

    // ----- request log -----

    /// Triggers a reconcile of Rollout `name` (routed by `<app>-route`) by touching a label,
    /// and waits until the controller has read the route after the touch (the observe step of
    /// that reconcile). Reconciles of one object never overlap, so after two calls the first
    /// triggered reconcile has finished entirely.
    pub async fn touch_and_wait_reconcile(&self, name: &str, _route: &str) {
        let before = self.reconciles();
        // The store's resourceVersion differs after every write, so the annotation always
        // changes (annotations wake a reconcile: they carry user actions; labels do not).
        let value = self
            .touches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            .to_string();
        self.patch_rollout(
            name,
            json!({ "metadata": { "annotations": { "test.kulta.io/touch": value } } }),
        )
        .await;
        // A settled reconcile makes no request at all, so it is seen in the controller's own
        // count of finished reconciles.
        self.wait_for(
            &format!("a reconcile of {name} after a touch"),
            DEADLINE,
            || async { (self.reconciles() > before).then_some(()) },
        )
        .await;
    }

    /// Reconciles the controller finished so far (`kulta_reconcile_duration_seconds_count`).
    pub fn reconciles(&self) -> u64 {
        self.metrics
            .encode()
            .lines()
            .find_map(|line| line.strip_prefix("kulta_reconcile_duration_seconds_count "))
            .and_then(|count| count.trim().parse::<f64>().ok())
            .map_or(0, |count| count as u64)
    }

    /// Forgets the requests logged so far (for [`TestCluster::controller_writes`]).
    pub fn clear_request_log(&self) {
        *self.log_mark.lock().unwrap() = self.backend.mark();
    }

    /// A point in the request log, for [`TestCluster::requests_since`].
    pub fn mark(&self) -> RequestMark {
        self.backend.mark()
    }

    /// Requests served since `mark`, in the order they were received (on the real control
    /// plane: those in this test's namespace, from the audit log).
    pub async fn requests_since(&self, mark: &RequestMark) -> Vec<Request> {
        self.backend.requests_since(mark).await
    }

    /// Write requests made by the controller since the log was last cleared.
    pub async fn controller_writes(&self) -> Vec<Request> {
        let mark = self.log_mark.lock().unwrap().clone();
        self.controller_writes_since(&mark).await
    }

    /// Write requests the controller made since `mark` to anything but Rollouts (their status
    /// and finalizer) and Events: what a Rollout that only reports wrote beyond its report.
    pub async fn controller_writes_beside_rollouts(&self, mark: &RequestMark) -> Vec<Request> {
        self.controller_writes_since(mark)
            .await
            .into_iter()
            .filter(|r| r.resource != "events" && r.resource != "rollouts")
            .collect()
    }

    /// Write requests made by the controller since `mark`.
    pub async fn controller_writes_since(&self, mark: &RequestMark) -> Vec<Request> {
        self.requests_since(mark)
            .await
            .into_iter()
            .filter(|r| r.is_write() && r.identity == self.controller_identity())
            .collect()
    }
}

/// Whether condition `type_` has status `status`.
pub fn condition_is(status: &RolloutStatus, type_: &str, value: &str) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == value)
}

/// The reason of condition `type_`.
pub fn condition_reason(status: &RolloutStatus, type_: &str) -> Option<String> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.reason.clone())
}

/// The message of condition `type_`, if present.
pub fn condition_message(status: &RolloutStatus, type_: &str) -> Option<String> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.message.clone())
}

/// The default HTTPRoute of `app`: one rule, stable 100 and canary 0, a parentRef to Gateway
/// `gateway` (the simulated gateway accepts any parent). [`TestCluster::create_route`] puts it in
/// the test's namespace.
pub fn default_route(app: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": { "name": format!("{app}-route") },
        "spec": {
            "parentRefs": [{ "name": "gateway" }],
            "rules": [{
                "backendRefs": [
                    { "name": format!("{app}-stable"), "port": 80, "weight": 100 },
                    { "name": format!("{app}-canary"), "port": 80, "weight": 0 }
                ]
            }]
        }
    })
}

/// `(stable, canary)` weights of every rule of `route` naming `<app>-stable` and `<app>-canary`.
pub fn weights_of(route: &Value, app: &str) -> Vec<(i64, i64)> {
    let stable = format!("{app}-stable");
    let canary = format!("{app}-canary");
    let weight = |backends: &[Value], name: &str| {
        backends
            .iter()
            .find(|b| b["name"] == name)
            .map(|b| b["weight"].as_i64().unwrap_or(1))
    };
    route["spec"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|rule| {
            let backends = rule["backendRefs"].as_array()?;
            Some((weight(backends, &stable)?, weight(backends, &canary)?))
        })
        .collect()
}

/// Records every distinct weight pair an HTTPRoute goes through, from a watch (consecutive
/// duplicates collapsed), with the store's resourceVersion of each change.
pub struct WeightRecorder {
    seen: Arc<Mutex<Vec<(i64, i64)>>>,
    task: JoinHandle<()>,
}

impl WeightRecorder {
    /// Starts watching route `route` of `app` (first rule naming the app's Services).
    pub async fn start(cluster: &TestCluster, route: &str, app: &str) -> WeightRecorder {
        let api = cluster.routes();
        let seen: Arc<Mutex<Vec<(i64, i64)>>> = Arc::default();
        let (started, is_started) = oneshot::channel::<()>();
        let config = watcher::Config::default().fields(&format!("metadata.name={route}"));
        let app = app.to_string();
        let record = seen.clone();
        let task = tokio::spawn(async move {
            let mut started = Some(started);
            let mut stream = watcher(api, config).default_backoff().boxed();
            while let Some(event) = stream.next().await {
                let Ok(event) = event else { continue };
                if matches!(event, watcher::Event::InitDone)
                    && let Some(started) = started.take()
                {
                    let _ = started.send(());
                }
                let objects: Vec<DynamicObject> = match event {
                    watcher::Event::Apply(object) | watcher::Event::InitApply(object) => {
                        vec![object]
                    }
                    _ => Vec::new(),
                };
                for object in objects {
                    let value = serde_json::to_value(&object).unwrap();
                    if let Some(pair) = weights_of(&value, &app).first().copied() {
                        let mut seen = record.lock().unwrap();
                        if seen.last() != Some(&pair) {
                            seen.push(pair);
                        }
                    }
                }
            }
        });
        tokio::time::timeout(DEADLINE, is_started)
            .await
            .expect("route watch starts")
            .ok();
        WeightRecorder { seen, task }
    }

    /// The distinct weight pairs seen so far.
    pub fn pairs(&self) -> Vec<(i64, i64)> {
        self.seen.lock().unwrap().clone()
    }

    /// The canary weights seen so far.
    pub fn canary_weights(&self) -> Vec<i64> {
        self.pairs().into_iter().map(|(_, canary)| canary).collect()
    }
}

impl Drop for WeightRecorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every occurrence of an Event in the namespace, from a watch started with the cluster.
struct EventLog {
    /// (regarding, reason, note) of every occurrence.
    seen: Arc<Mutex<Vec<(String, String, String)>>>,
    task: JoinHandle<()>,
}

impl EventLog {
    async fn start(client: &Client, namespace: &str) -> EventLog {
        let api: Api<Event> = Api::namespaced(client.clone(), namespace);
        let seen: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
        let record = seen.clone();
        let (started, is_started) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut started = Some(started);
            let mut counted: BTreeMap<String, i32> = BTreeMap::new();
            let mut stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(event) = stream.next().await {
                let object = match event {
                    Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => object,
                    Ok(watcher::Event::InitDone) => {
                        if let Some(started) = started.take() {
                            let _ = started.send(());
                        }
                        continue;
                    }
                    _ => continue,
                };
                let count = object.series.as_ref().map_or(1, |series| series.count);
                let previous = counted.insert(object.name_any(), count).unwrap_or(0);
                let regarding = object
                    .regarding
                    .as_ref()
                    .and_then(|r| r.name.clone())
                    .unwrap_or_default();
                let reason = object.reason.clone().unwrap_or_default();
                let note = object.note.clone().unwrap_or_default();
                let mut seen = record.lock().unwrap();
                for _ in previous..count {
                    seen.push((regarding.clone(), reason.clone(), note.clone()));
                }
            }
        });
        tokio::time::timeout(DEADLINE, is_started)
            .await
            .expect("event watch starts")
            .ok();
        EventLog { seen, task }
    }

    fn reasons(&self, regarding: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, _, _)| r == regarding)
            .map(|(_, reason, _)| reason.clone())
            .collect()
    }

    fn notes(&self, regarding: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, _, _)| r == regarding)
            .map(|(_, _, note)| note.clone())
            .collect()
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether `expected` appears in `reasons` in this order (not necessarily adjacent).
pub fn appears_in_order(reasons: &[String], expected: &[&str]) -> bool {
    let mut position = 0;
    for wanted in expected {
        match reasons[position..].iter().position(|r| r == wanted) {
            Some(found) => position += found + 1,
            None => return false,
        }
    }
    true
}

/// The revision hash of a Rollout's current template.
pub fn template_hash(rollout: &Rollout) -> String {
    kulta_api::hash::revision_hash(&rollout.spec.template)
}

/// A Rollout of `app` with the defaults of [`RolloutBuilder`], 3 replicas.
pub fn rollout(app: &str) -> RolloutBuilder {
    RolloutBuilder::new(app).replicas(3)
}

/// The original README's steps with a short timed pause: setWeight 20 with a 1 s pause, setWeight
/// 50 with a pause until promoted, setWeight 100.
pub fn readme_steps() -> Vec<kulta_api::CanaryStep> {
    vec![
        steps::set_weight_then_pause(20, Some("1s")),
        steps::set_weight_then_pause(50, None),
        steps::set_weight(100),
    ]
}
