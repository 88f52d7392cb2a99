//! The workload: N independent apps (two Services, an HTTPRoute and a Rollout each) in one
//! namespace, the template change that starts N canaries at once, promotions, and waits on the
//! Rollouts' status through a watch (so waiting costs the API server nothing per poll).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Service;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use kulta_api::{Phase, Rollout, labels};
use serde_json::json;

/// How many requests the bench keeps in flight when it creates or patches N objects.
const PARALLEL: usize = 32;

/// Image of the first revision and of the canary.
pub const IMAGE_STABLE: &str = "nginx:1.25";
/// The canary's image.
pub const IMAGE_CANARY: &str = "nginx:1.26";

/// Name of app `i`'s Rollout (also its HTTPRoute's).
pub fn app_name(i: usize) -> String {
    format!("app-{i:04}")
}

/// The canary steps every Rollout runs. Each step's eligibility is a request the sim sees: the
/// canary's ReplicaSet status turning available (step 1), the bench's promote PATCH (steps 3
/// and 5).
pub fn steps() -> serde_json::Value {
    json!([
        { "setWeight": 20 },
        { "pause": {} },
        { "setWeight": 50 },
        { "pause": {} },
        { "setWeight": 100 }
    ])
}

fn http_routes(client: &Client, namespace: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "httproutes");
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// Creates app `i` in `namespace`: Services `<app>-stable` and `<app>-canary`, HTTPRoute
/// `<app>`, Rollout `<app>` (1 replica, the steps above, scaleDownDelaySeconds 0).
async fn create_app(client: &Client, namespace: &str, i: usize) -> Result<()> {
    let name = app_name(i);
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    for role in ["stable", "canary"] {
        let service: Service = serde_json::from_value(json!({
            "metadata": { "name": format!("{name}-{role}"), "namespace": namespace },
            "spec": { "selector": { "app": name }, "ports": [{ "name": "http", "port": 80, "targetPort": 80 }] }
        }))?;
        services.create(&PostParams::default(), &service).await?;
    }
    let route: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": { "name": name, "namespace": namespace },
        "spec": {
            "parentRefs": [{ "name": "bench-gateway" }],
            "rules": [{
                "matches": [{ "path": { "type": "PathPrefix", "value": format!("/{name}") } }],
                "backendRefs": [
                    { "name": format!("{name}-stable"), "port": 80, "weight": 100 },
                    { "name": format!("{name}-canary"), "port": 80, "weight": 0 }
                ]
            }]
        }
    }))?;
    http_routes(client, namespace)
        .create(&PostParams::default(), &route)
        .await?;
    let rollout: Rollout = serde_json::from_value(json!({
        "apiVersion": "kulta.io/v1alpha1",
        "kind": "Rollout",
        "metadata": { "name": name, "namespace": namespace },
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "web", "image": IMAGE_STABLE }] }
            },
            "strategy": { "canary": {
                "stableService": format!("{name}-stable"),
                "canaryService": format!("{name}-canary"),
                "scaleDownDelaySeconds": 0,
                "steps": steps(),
                "trafficRouting": { "gatewayAPI": { "httpRoute": name } }
            } }
        }
    }))?;
    Api::<Rollout>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &rollout)
        .await?;
    Ok(())
}

/// Creates apps `0..n` in `namespace`.
pub async fn create_apps(client: &Client, namespace: &str, n: usize) -> Result<()> {
    futures::stream::iter(0..n)
        .map(|i| create_app(client, namespace, i))
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await
        .map(drop)
}

/// Applies `patch` (a merge patch) to every Rollout `0..n` of `namespace`; returns nothing but
/// errors.
async fn patch_all(
    client: &Client,
    namespace: &str,
    n: usize,
    patch: serde_json::Value,
) -> Result<()> {
    let api: Api<Rollout> = Api::namespaced(client.clone(), namespace);
    let patch = Arc::new(patch);
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let patch = patch.clone();
            async move {
                api.patch(
                    &app_name(i),
                    &PatchParams::default(),
                    &Patch::Merge(patch.as_ref()),
                )
                .await
            }
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<Rollout>>()
        .await
        .map(drop)
        .context("unable to patch the Rollouts")
}

/// Changes every Rollout's image: N canaries start at once.
pub async fn start_canaries(client: &Client, namespace: &str, n: usize) -> Result<()> {
    patch_all(
        client,
        namespace,
        n,
        json!({ "spec": { "template": { "spec": { "containers": [{ "name": "web", "image": IMAGE_CANARY }] } } } }),
    )
    .await
}

/// Annotates every Rollout with `kulta.io/promote=true`.
pub async fn promote_all(client: &Client, namespace: &str, n: usize) -> Result<()> {
    patch_all(
        client,
        namespace,
        n,
        json!({ "metadata": { "annotations": { labels::PROMOTE_ANNOTATION: labels::PROMOTE_STEP } } }),
    )
    .await
}

/// Bumps every Rollout's generation without changing its template (progressDeadlineSeconds).
pub async fn bump_generation(
    client: &Client,
    namespace: &str,
    n: usize,
    deadline_seconds: i32,
) -> Result<()> {
    patch_all(
        client,
        namespace,
        n,
        json!({ "spec": { "progressDeadlineSeconds": deadline_seconds } }),
    )
    .await
}

/// Removes the controller's finalizer from every Rollout, so that their namespace can be
/// deleted once the controller is gone (it would otherwise wait for a cleanup that no
/// controller runs).
/// Every Rollout there is, however far the run got.
pub async fn remove_finalizers(client: &Client, namespace: &str) -> Result<()> {
    let api: Api<Rollout> = Api::namespaced(client.clone(), namespace);
    let patch = json!({ "metadata": { "finalizers": null } });
    let names: Vec<String> = api
        .list_metadata(&Default::default())
        .await
        .context("unable to list the Rollouts")?
        .items
        .iter()
        .filter(|rollout| rollout.finalizers().iter().next().is_some())
        .map(ResourceExt::name_any)
        .collect();
    futures::stream::iter(names)
        .map(|name| {
            let api = api.clone();
            let patch = patch.clone();
            async move {
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
            }
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<Rollout>>()
        .await
        .map(drop)
        .context("unable to remove the Rollouts' finalizer")
}

/// A watch-fed cache of the Rollouts.
pub struct Rollouts {
    store: Store<Rollout>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Rollouts {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Rollouts {
    /// Starts watching the Rollouts of `namespace`.
    pub async fn watch(client: &Client, namespace: &str) -> Result<Self> {
        let (store, writer) = reflector::store::<Rollout>();
        let api: Api<Rollout> = Api::namespaced(client.clone(), namespace);
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .applied_objects();
        let trace = std::env::var("BENCH_TRACE_STATUS").is_ok();
        let task = tokio::spawn(async move {
            let mut last = String::new();
            stream
                .for_each(|event| {
                    if trace
                        && let Ok(r) = &event
                        && r.name_any() == "app-0000"
                    {
                        let now = serde_json::to_string(&r.status).unwrap_or_default();
                        if now != last {
                            println!("TRACE {:?} {}", r.resource_version(), now);
                            last = now;
                        }
                    }
                    futures::future::ready(())
                })
                .await;
        });
        tokio::time::timeout(Duration::from_secs(10), store.wait_until_ready())
            .await
            .context("the bench's Rollout watch did not sync")??;
        Ok(Rollouts { store, task })
    }

    /// Waits until `n` Rollouts satisfy `done`; returns when (wall clock, to compare with the
    /// request log), or fails at `deadline` with how many did.
    pub async fn wait_all(
        &self,
        n: usize,
        what: &str,
        deadline: Duration,
        done: impl Fn(&Rollout) -> bool,
    ) -> Result<SystemTime> {
        let waiting = Instant::now();
        loop {
            let count = self.store.state().iter().filter(|r| done(r)).count();
            if count >= n {
                return Ok(SystemTime::now());
            }
            if waiting.elapsed() > deadline {
                let example = self
                    .store
                    .state()
                    .iter()
                    .find(|r| !done(r))
                    .map(|r| {
                        let status = r.status.clone().unwrap_or_default();
                        format!(
                            "{}: phase {:?} step {:?} message {:?}",
                            r.name_any(),
                            status.phase,
                            status.current_step_index,
                            status.message
                        )
                    })
                    .unwrap_or_default();
                bail!("only {count} of {n} Rollouts {what} within {deadline:?} (e.g. {example})");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The canary ReplicaSet name of each Rollout (from `status.canaryRevision`).
    pub fn canary_replica_sets(&self) -> std::collections::HashMap<String, String> {
        self.store
            .state()
            .iter()
            .filter_map(|r| {
                let hash = r.status.as_ref()?.canary_revision.clone()?;
                Some((r.name_any(), format!("{}-{hash}", r.name_any())))
            })
            .collect()
    }
}

/// Whether the latest generation is fully rolled out with `image`, with the pod counts in
/// status settled (the old pods gone): the controller's last write of a rollout is the one that
/// records those counts, and it belongs to that rollout's cost.
pub fn healthy_with(rollout: &Rollout, image: &str) -> bool {
    let Some(status) = rollout.status.as_ref() else {
        return false;
    };
    let current_image = rollout
        .spec
        .template
        .raw()
        .pointer("/spec/containers/0/image")
        .and_then(serde_json::Value::as_str);
    let replicas = rollout.spec.replicas.unwrap_or(1);
    status.phase == Some(Phase::Healthy)
        && status.replicas == replicas
        && status.updated_replicas == replicas
        && status.available_replicas == replicas
        && status.observed_generation == rollout.metadata.generation
        && current_image == Some(image)
        && status.canary_revision.is_none()
}

/// Whether the Rollout waits for promotion at step `index` (0-based) of its canary.
pub fn paused_at(rollout: &Rollout, index: i32) -> bool {
    rollout.status.as_ref().is_some_and(|status| {
        status.phase == Some(Phase::Paused)
            && status.current_step_index == Some(index)
            && status.canary_revision.is_some()
            && status.observed_generation == rollout.metadata.generation
    })
}

/// Whether the controller has recorded the Rollout's current generation.
pub fn observed_current(rollout: &Rollout) -> bool {
    rollout
        .status
        .as_ref()
        .is_some_and(|status| status.observed_generation == rollout.metadata.generation)
}
