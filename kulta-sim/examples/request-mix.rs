//! Benchmark of kulta-sim's cost per request (not a test) under the request mix KULTA's
//! controller sends during canaries: Rollout status PUTs (the real Rollout CRD, with its CEL
//! rules), HTTPRoute JSON Patches (the Gateway API CRD), `events.k8s.io` Event creates, Rollout
//! JSON Patches, Service merge patches and ReplicaSet merge patches, with watches open on every
//! one of those resources.
//!
//! `cargo run --release -p kulta-sim --example request-mix [-- APPS ROUNDS]`
//!
//! The sim runs on its own runtime (threads named `sim-server`) and the clients on another, so
//! the CPU time printed is the server's alone, read per thread from `/proc/self/task`. Under
//! `valgrind --tool=callgrind --separate-threads=yes` the `sim-server` threads' instruction
//! counts give the same figure without timer noise. The simulated controllers are off: this
//! measures the API server.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::runtime::watcher;
use serde_json::{Value, json};

const NAMESPACE: &str = "default";
const PARALLEL: usize = 16;

/// CPU seconds of this process's threads whose name starts with `prefix`.
fn thread_cpu_seconds(prefix: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut ticks = 0.0;
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !name.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        let Some((_, after)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        let user: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let system: f64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        ticks += user + system;
    }
    // Clock ticks are 100 Hz on Linux.
    ticks / 100.0
}

fn app_name(i: usize) -> String {
    format!("app-{i:04}")
}

/// The pod template of app `name`'s Rollout and ReplicaSet.
fn pod_template(name: &str) -> serde_json::Value {
    json!({
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}
    })
}

fn rollout_crd() -> anyhow::Result<CustomResourceDefinition> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/crds/rollouts.kulta.io.yaml"
    );
    let text = std::fs::read_to_string(path)?;
    Ok(serde_saphyr::from_str(&text)?)
}

fn dynamic(
    client: &kube::Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(group, version, kind);
    Api::namespaced_with(
        client.clone(),
        NAMESPACE,
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

fn routes(client: &kube::Client) -> Api<DynamicObject> {
    dynamic(
        client,
        "gateway.networking.k8s.io",
        "v1",
        "HTTPRoute",
        "httproutes",
    )
}

fn rollouts(client: &kube::Client) -> Api<DynamicObject> {
    dynamic(client, "kulta.io", "v1alpha1", "Rollout", "rollouts")
}

async fn create_app(client: &kube::Client, i: usize) -> anyhow::Result<()> {
    let name = app_name(i);
    let services: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    for role in ["stable", "canary"] {
        let service: Service = serde_json::from_value(json!({
            "metadata": {"name": format!("{name}-{role}")},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 80}]}
        }))?;
        services.create(&PostParams::default(), &service).await?;
    }
    let route: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {
            "parentRefs": [{"name": "bench-gateway"}],
            "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": format!("/{name}")}}],
                "backendRefs": [
                    {"name": format!("{name}-stable"), "port": 80, "weight": 100},
                    {"name": format!("{name}-canary"), "port": 80, "weight": 0}
                ]
            }]
        }
    }))?;
    routes(client)
        .create(&PostParams::default(), &route)
        .await?;
    let rollout: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kulta.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(&name),
            "strategy": {"canary": {
                "stableService": format!("{name}-stable"),
                "canaryService": format!("{name}-canary"),
                "scaleDownDelaySeconds": 0,
                "steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}, {"setWeight": 100}],
                "trafficRouting": {"gatewayAPI": {"httpRoute": name}}
            }}
        }
    }))?;
    rollouts(client)
        .create(&PostParams::default(), &rollout)
        .await?;
    let replica_set: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": format!("{name}-abc"), "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(&name)
        }
    }))?;
    Api::<ReplicaSet>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &replica_set)
        .await?;
    Ok(())
}

fn status(round: usize, generation: Value) -> Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let condition = |kind: &str, state: &str, reason: &str| {
        json!({"type": kind, "status": state, "reason": reason,
            "message": format!("round {round}"), "lastTransitionTime": now,
            "observedGeneration": generation})
    };
    json!({
        "observedGeneration": generation,
        "phase": if round.is_multiple_of(2) { "Progressing" } else { "Paused" },
        "message": format!("step {round}"),
        "currentStepIndex": round % 5,
        "canaryWeight": (round * 10) % 100,
        "desiredCanaryWeight": (round * 10) % 100,
        "stableRevision": "6d4cf56db6",
        "canaryRevision": "7b9c8d5f4",
        "replicas": 2, "readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 1,
        "progressStartTime": now,
        "conditions": [
            condition("Ready", "False", "Progressing"),
            condition("Progressing", "True", "StepAdvanced"),
            condition("Paused", "False", "Running"),
            condition("TrafficRouted", "True", "WeightVerified"),
        ],
    })
}

/// Six writes of the controller's kinds for app `i` in round `round`.
async fn round_for(client: &kube::Client, i: usize, round: usize) -> anyhow::Result<usize> {
    let name = app_name(i);
    let rollouts = rollouts(client);
    let current = rollouts.get_status(&name).await?;
    let mut next = current.clone();
    next.data["status"] = status(round, current.metadata.generation.into());
    rollouts
        .replace_status(&name, &PostParams::default(), &next)
        .await?;
    let weight = (round * 10) % 100;
    let route_patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 100 - weight},
        {"op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": weight},
    ]))?;
    routes(client)
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::<()>::Json(route_patch),
        )
        .await?;
    let event: Event = serde_json::from_value(json!({
        "metadata": {"generateName": format!("{name}.")},
        "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "reportingController": "kulta.io/rollout-controller",
        "reportingInstance": "kulta-0",
        "action": "Reconcile",
        "reason": "StepAdvanced",
        "note": format!("advanced to step {round}"),
        "type": "Normal",
        "regarding": {"apiVersion": "kulta.io/v1alpha1", "kind": "Rollout", "name": name, "namespace": NAMESPACE},
    }))?;
    Api::<Event>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &event)
        .await?;
    let annotation_patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "add", "path": "/metadata/annotations", "value": {"kulta.io/last-round": round.to_string()}},
    ]))?;
    rollouts
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::<()>::Json(annotation_patch),
        )
        .await?;
    let role = if round.is_multiple_of(2) {
        "stable"
    } else {
        "canary"
    };
    Api::<Service>::namespaced(client.clone(), NAMESPACE)
        .patch(
            &format!("{name}-{role}"),
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"selector": {"pod-template-hash": format!("h{round}")}}}),
            ),
        )
        .await?;
    Api::<ReplicaSet>::namespaced(client.clone(), NAMESPACE)
        .patch(
            &format!("{name}-abc"),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1 + round % 2}})),
        )
        .await?;
    Ok(7)
}

/// A watch that only counts events, as an informer would consume them.
fn spawn_watch<K>(api: Api<K>) -> tokio::task::JoinHandle<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    tokio::spawn(async move {
        let _ = watcher(api, watcher::Config::default())
            .try_for_each(|_| async { Ok(()) })
            .await;
    })
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let apps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);

    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sim-server")
        .enable_all()
        .build()?;
    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("mix-client")
        .enable_all()
        .build()?;
    let sim = server_runtime.block_on(
        kulta_sim::Sim::builder()
            .controllers(false)
            .history_size(200_000)
            .watch_channel_capacity(1 << 16)
            .crds([rollout_crd()?])
            .gateway_api()
            .start(),
    )?;
    let base_url = sim.base_url().to_string();
    client_runtime.block_on(async move {
        let client = kulta_sim::client_for(&base_url, "request-mix")?;
        futures::stream::iter(0..apps)
            .map(|i| create_app(&client, i))
            .buffer_unordered(PARALLEL)
            .try_collect::<Vec<()>>()
            .await?;
        let watches = vec![
            spawn_watch(rollouts(&client)),
            spawn_watch(routes(&client)),
            spawn_watch(Api::<Event>::namespaced(client.clone(), NAMESPACE)),
            spawn_watch(Api::<Service>::namespaced(client.clone(), NAMESPACE)),
            spawn_watch(Api::<ReplicaSet>::namespaced(client.clone(), NAMESPACE)),
        ];
        tokio::time::sleep(Duration::from_millis(500)).await;

        let cpu_before = thread_cpu_seconds("sim-server");
        let started = Instant::now();
        let mut requests = 0;
        for round in 0..rounds {
            let counts: Vec<usize> = futures::stream::iter(0..apps)
                .map(|i| round_for(&client, i, round))
                .buffer_unordered(PARALLEL)
                .try_collect()
                .await?;
            requests += counts.iter().sum::<usize>();
        }
        let wall = started.elapsed().as_secs_f64();
        let cpu = thread_cpu_seconds("sim-server") - cpu_before;
        println!(
            "{apps} apps x {rounds} rounds: {requests} requests in {wall:.2} s ({:.0}/s); \
             server CPU {cpu:.2} s = {:.1} us/request",
            requests as f64 / wall,
            cpu * 1e6 / requests as f64
        );
        for watch in watches {
            watch.abort();
        }
        anyhow::Ok(())
    })?;
    server_runtime.block_on(sim.shutdown());
    Ok(())
}
