//! End-to-end tests of the simulated controllers against a real sim, through `kube::Client`.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::requestlog::RequestFilter;
use crate::sim::{CONTROLLER_IDENTITY, Sim};

const DEADLINE: Duration = Duration::from_secs(15);

/// Polls `check` until it returns `Some`, failing the test after `DEADLINE`.
async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(what, DEADLINE, check).await
}

/// Polls `check` until it returns `Some`, failing the test after `limit`.
async fn eventually_within<T, F, Fut>(what: &str, limit: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    kulta_test_support::wait_for(what, limit, check).await
}

fn replicaset(name: &str, replicas: i32, annotations: Value) -> ReplicaSet {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "pod-template-hash": "abc12"}, "annotations": annotations},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    }))
    .unwrap()
}

async fn rs_status(api: &Api<ReplicaSet>, name: &str) -> Value {
    let rs = api.get(name).await.unwrap();
    serde_json::to_value(rs.status).unwrap()
}

async fn pods_of(client: &Client, app: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .collect()
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|condition| condition.type_ == "Ready" && condition.status == "True")
        })
}

#[tokio::test]
async fn replicaset_pods_become_ready_and_scale_down() {
    let sim = Sim::start().await.unwrap();
    let client = sim.client();
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let created = api
        .create(&PostParams::default(), &replicaset("web", 3, json!({})))
        .await
        .unwrap();

    eventually("3 ready replicas", || async {
        let status = rs_status(&api, "web").await;
        (status["readyReplicas"] == 3
            && status["availableReplicas"] == 3
            && status["fullyLabeledReplicas"] == 3
            && status["replicas"] == 3
            && status["observedGeneration"] == 1)
            .then_some(())
    })
    .await;
    let pods = pods_of(&client, "web").await;
    assert_eq!(pods.len(), 3);
    for pod in &pods {
        assert!(pod.name_any().starts_with("web-") && pod.name_any().len() == "web-".len() + 5);
        assert_eq!(
            pod.labels().get("pod-template-hash").map(String::as_str),
            Some("abc12")
        );
        let owner = &pod.owner_references()[0];
        assert_eq!(owner.uid, created.uid().unwrap());
        assert_eq!(
            (owner.controller, owner.block_owner_deletion),
            (Some(true), Some(true))
        );
        assert!(is_ready(pod));
        assert_eq!(
            pod.status.as_ref().unwrap().phase.as_deref(),
            Some("Running")
        );
    }

    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    eventually("scale down to 1", || async {
        let status = rs_status(&api, "web").await;
        (status["replicas"] == 1
            && status["readyReplicas"] == 1
            && status["observedGeneration"] == 2)
            .then_some(())
    })
    .await;
    eventually("one pod left", || async {
        (pods_of(&client, "web").await.len() == 1).then_some(())
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_bad_release_never_becomes_ready() {
    let sim = Sim::start().await.unwrap();
    sim.knobs().set_pod_ready_delay(Duration::ZERO);
    let client = sim.client();
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    api.create(
        &PostParams::default(),
        &replicaset("bad", 2, json!({"sim.kulta.io/ready": "false"})),
    )
    .await
    .unwrap();
    eventually("2 running, unready pods", || async {
        let pods = pods_of(&client, "bad").await;
        (pods.len() == 2
            && pods.iter().all(|pod| {
                pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                    && !is_ready(pod)
            }))
        .then_some(())
    })
    .await;
    let status = eventually("status replicas 2", || async {
        let status = rs_status(&api, "bad").await;
        (status["replicas"] == 2).then_some(status)
    })
    .await;
    assert!(
        status.get("readyReplicas").is_none_or(Value::is_null),
        "{status}"
    );
    assert!(
        status.get("availableReplicas").is_none_or(Value::is_null),
        "{status}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn min_ready_seconds_delays_availability() {
    let sim = Sim::start().await.unwrap();
    sim.knobs().set_pod_ready_delay(Duration::ZERO);
    let client = sim.client();
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let mut rs = replicaset("slow", 1, json!({}));
    if let Some(spec) = rs.spec.as_mut() {
        spec.min_ready_seconds = Some(1);
    }
    api.create(&PostParams::default(), &rs).await.unwrap();
    let ready_at = eventually("ready", || async {
        let status = rs_status(&api, "slow").await;
        (status["readyReplicas"] == 1).then_some((std::time::Instant::now(), status))
    })
    .await;
    assert!(ready_at.1["availableReplicas"].is_null(), "{}", ready_at.1);
    eventually("available after minReadySeconds", || async {
        (rs_status(&api, "slow").await["availableReplicas"] == 1).then_some(())
    })
    .await;
    assert!(
        ready_at.0.elapsed() >= Duration::from_millis(700),
        "{:?}",
        ready_at.0.elapsed()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_switched_off_controller_resumes_when_switched_on() {
    let sim = Sim::start().await.unwrap();
    sim.knobs().set_replicasets_enabled(false);
    let client = sim.client();
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &replicaset("idle", 1, json!({})))
        .await
        .unwrap();
    // Nothing may happen while off; give the controller ample time to (wrongly) act.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(pods_of(&client, "idle").await.is_empty());
    sim.knobs().set_replicasets_enabled(true);
    eventually("ready after switching on", || async {
        (rs_status(&api, "idle").await["readyReplicas"] == 1).then_some(())
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn controllers_write_nothing_once_converged() {
    let sim = Sim::start().await.unwrap();
    sim.knobs().set_pod_ready_delay(Duration::from_millis(10));
    let client = sim.client();
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    for index in 0..20 {
        api.create(
            &PostParams::default(),
            &replicaset(&format!("quiet-{index}"), 2, json!({})),
        )
        .await
        .unwrap();
    }
    eventually("all ready", || async {
        let list = api.list(&ListParams::default()).await.unwrap();
        list.items
            .iter()
            .all(|rs| rs.status.as_ref().and_then(|s| s.ready_replicas) == Some(2))
            .then_some(())
    })
    .await;
    let filter = RequestFilter::new().identity(CONTROLLER_IDENTITY);
    let writes = |sim: &Sim| sim.request_log().writes(&filter).len();
    // 20 × (2 pod creates + 2 pod status + a few RS status writes).
    let settled = writes(&sim);
    let mut by_kind = std::collections::BTreeMap::<String, usize>::new();
    for record in sim.request_log().writes(&filter) {
        *by_kind
            .entry(format!(
                "{} {}/{}",
                record.verb, record.resource, record.subresource
            ))
            .or_default() += 1;
    }
    eprintln!("controller writes: {by_kind:?}");
    // Per ReplicaSet: 2 pod creates, 2 pod status writes, and one RS status write per observed
    // step (pods appearing, becoming ready), at most 6.
    assert!(
        settled <= 20 * 10,
        "too many controller writes: {by_kind:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        writes(&sim),
        settled,
        "a converged world must see zero writes"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_replicasets_converge_without_hot_loops() {
    let sim = Sim::start().await.unwrap();
    let client = sim.client();
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let started = std::time::Instant::now();
    let creates = (0..1000).map(|index| {
        let api = api.clone();
        async move {
            api.create(
                &PostParams::default(),
                &replicaset(&format!("many-{index}"), 1, json!({})),
            )
            .await
            .unwrap();
        }
    });
    futures::stream::iter(creates)
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    eventually_within(
        "1000 ready replicasets",
        Duration::from_secs(120),
        || async {
            let list = api.list(&ListParams::default()).await.unwrap();
            list.items
                .iter()
                .all(|rs| rs.status.as_ref().and_then(|s| s.ready_replicas) == Some(1))
                .then_some(())
        },
    )
    .await;
    let filter = RequestFilter::new().identity(CONTROLLER_IDENTITY);
    let settled = sim.request_log().writes(&filter).len();
    let mut per_object = std::collections::BTreeMap::<String, usize>::new();
    for record in sim.request_log().writes(&filter) {
        let key = format!(
            "{} {}/{} {}",
            record.verb, record.resource, record.subresource, record.name
        );
        *per_object.entry(key).or_default() += 1;
    }
    let mut histogram = std::collections::BTreeMap::<String, usize>::new();
    for (key, count) in &per_object {
        let kind = key.rsplit_once(' ').map_or(key.as_str(), |(kind, _)| kind);
        *histogram.entry(format!("{kind} x{count}")).or_default() += 1;
    }
    eprintln!(
        "1000 replicasets ready in {:?} with {settled} controller writes: {histogram:?}",
        started.elapsed()
    );
    assert!(settled <= 1000 * 5, "{settled} writes");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let snapshot = sim.request_log().writes(&filter);
    let late: Vec<String> = snapshot[settled..]
        .iter()
        .take(10)
        .map(|r| {
            format!(
                "{} {}/{} {} {}",
                r.verb, r.resource, r.subresource, r.name, r.code
            )
        })
        .collect();
    assert_eq!(snapshot.len(), settled, "idle once converged: {late:#?}");
    sim.shutdown().await;
}

fn http_route(name: &str, backends: &[&str]) -> DynamicObject {
    let resource = super::gateway::route_resource("HTTPRoute", "httproutes");
    let backend_refs: Vec<Value> = backends
        .iter()
        .map(|b| json!({"name": b, "port": 80}))
        .collect();
    DynamicObject::new(name, &resource)
        .within("default")
        .data(json!({
            "spec": {
                "parentRefs": [{"name": "gw"}, {"name": "gw", "sectionName": "https"}],
                "rules": [{"backendRefs": backend_refs}],
            },
        }))
}

fn service(name: &str) -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"ports": [{"port": 80}], "selector": {"app": name}},
    }))
    .unwrap()
}

/// (status, reason, observedGeneration) of condition `kind` on every parent written by the sim.
async fn route_conditions(
    api: &Api<DynamicObject>,
    name: &str,
    kind: &str,
) -> Vec<(String, String, i64)> {
    let route = api.get(name).await.unwrap();
    route.data["status"]["parents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|parent| parent["controllerName"] == super::gateway::CONTROLLER_NAME)
        .filter_map(|parent| {
            parent["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == kind)
                .map(|c| {
                    (
                        c["status"].as_str().unwrap_or_default().to_string(),
                        c["reason"].as_str().unwrap_or_default().to_string(),
                        c["observedGeneration"].as_i64().unwrap_or(-1),
                    )
                })
        })
        .collect()
}

#[tokio::test]
async fn gateway_accepts_routes_and_tracks_backends_rejection_and_freeze() {
    let sim = Sim::start().await.unwrap();
    let client = sim.client();
    // The controllers are already watching: the kinds arrive afterwards, like on a cluster.
    crate::crds::install_gateway_api(&client).await.unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    services
        .create(&PostParams::default(), &service("stable"))
        .await
        .unwrap();
    let resource = super::gateway::route_resource("HTTPRoute", "httproutes");
    let routes: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
    routes
        .create(
            &PostParams::default(),
            &http_route("web", &["stable", "canary"]),
        )
        .await
        .unwrap();

    let expect = |status: &str, reason: &str, generation: i64| {
        vec![(status.to_string(), reason.to_string(), generation); 2]
    };
    eventually("accepted, canary missing", || async {
        (route_conditions(&routes, "web", "Accepted").await == expect("True", "Accepted", 1)
            && route_conditions(&routes, "web", "ResolvedRefs").await
                == expect("False", "BackendNotFound", 1))
        .then_some(())
    })
    .await;

    services
        .create(&PostParams::default(), &service("canary"))
        .await
        .unwrap();
    eventually("refs resolved once the service exists", || async {
        (route_conditions(&routes, "web", "ResolvedRefs").await
            == expect("True", "ResolvedRefs", 1))
        .then_some(())
    })
    .await;

    sim.knobs().reject_route("web");
    eventually("rejected by knob", || async {
        (route_conditions(&routes, "web", "Accepted").await
            == expect("False", "NotAllowedByListeners", 1))
        .then_some(())
    })
    .await;
    sim.knobs().accept_route("web");

    sim.knobs().set_gateway_frozen(true);
    routes
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"rules": [{"backendRefs": [{"name": "stable", "port": 80}]}]}}),
            ),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        route_conditions(&routes, "web", "Accepted").await,
        expect("False", "NotAllowedByListeners", 1),
        "a frozen gateway leaves observedGeneration stale"
    );
    sim.knobs().set_gateway_frozen(false);
    eventually("caught up after unfreezing", || async {
        (route_conditions(&routes, "web", "Accepted").await == expect("True", "Accepted", 2))
            .then_some(())
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn gateway_follows_its_crd_being_deleted_and_reinstalled() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let sim = Sim::start().await.unwrap();
    let client = sim.client();
    crate::crds::install_gateway_api(&client).await.unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.delete("httproutes.gateway.networking.k8s.io", &Default::default())
        .await
        .unwrap();
    eventually("crd gone", || async {
        crds.get_opt("httproutes.gateway.networking.k8s.io")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    crate::crds::install_gateway_api(&client).await.unwrap();
    let resource = super::gateway::route_resource("HTTPRoute", "httproutes");
    let routes: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
    routes
        .create(&PostParams::default(), &http_route("again", &[]))
        .await
        .unwrap();
    eventually("accepted after reinstall", || async {
        (route_conditions(&routes, "again", "Accepted").await
            == vec![("True".to_string(), "Accepted".to_string(), 1); 2])
        .then_some(())
    })
    .await;
    // No stream of 404s while a kind is missing: GRPCRoute lists only happen once its CRD exists.
    let not_found = sim
        .request_log()
        .entries()
        .iter()
        .filter(|record| record.identity.as_ref() == CONTROLLER_IDENTITY && record.code == 404)
        .count();
    assert!(
        not_found <= 4,
        "{not_found} controller requests answered 404"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn grpc_routes_are_accepted_too() {
    let sim = Sim::start().await.unwrap();
    let client = sim.client();
    crate::crds::install_gateway_api(&client).await.unwrap();
    let resource = super::gateway::route_resource("GRPCRoute", "grpcroutes");
    let routes: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
    let route = DynamicObject::new("rpc", &resource)
        .within("default")
        .data(json!({"spec": {"parentRefs": [{"name": "gw"}]}}));
    routes.create(&PostParams::default(), &route).await.unwrap();
    eventually("grpc route accepted", || async {
        (route_conditions(&routes, "rpc", "Accepted").await
            == vec![("True".to_string(), "Accepted".to_string(), 1)])
        .then_some(())
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn deployment_owns_replicasets_and_rolls_to_a_new_template() {
    let sim = Sim::start().await.unwrap();
    sim.knobs().set_pod_ready_delay(Duration::from_millis(20));
    let client = sim.client();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "shop", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "shop"}},
            "template": {
                "metadata": {"labels": {"app": "shop"}},
                "spec": {"containers": [{"name": "app", "image": "shop:1"}]},
            },
        },
    }))
    .unwrap();
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    let replicasets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let available = |generation: i64| {
        let deployments = deployments.clone();
        async move {
            let status =
                serde_json::to_value(deployments.get("shop").await.unwrap().status).unwrap();
            let available = status["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Available" && c["status"] == "True")
            });
            let complete = status["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Progressing" && c["reason"] == "NewReplicaSetAvailable")
            });
            (available
                && complete
                && status["availableReplicas"] == 2
                && status["updatedReplicas"] == 2
                && status["observedGeneration"] == generation)
                .then_some(())
        }
    };
    eventually("deployment available", || available(1)).await;
    let first = replicasets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(first.len(), 1);
    let hash = first[0].labels().get("pod-template-hash").cloned().unwrap();
    assert_eq!(first[0].name_any(), format!("shop-{hash}"));

    deployments
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "shop:2"}]}}}})),
        )
        .await
        .unwrap();
    eventually("rolled to the new template", || available(2)).await;
    eventually("old replicaset scaled to zero", || async {
        let old = replicasets.get(&first[0].name_any()).await.unwrap();
        (old.spec.and_then(|s| s.replicas) == Some(0)).then_some(())
    })
    .await;
    sim.shutdown().await;
}
