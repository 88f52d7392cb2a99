//! Watch semantics through kube-runtime: a watcher and a Controller converge, resumption
//! survives dropped watches, 410 after compaction forces a re-list that recovers, bookmarks and
//! streaming lists.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use rand::{RngExt, SeedableRng};

fn config_map(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("n".to_string(), value.to_string())])),
        ..Default::default()
    }
}

fn value_of(cm: &ConfigMap) -> Option<String> {
    cm.data.as_ref()?.get("n").cloned()
}

/// Runs a reflector over config maps in `default` and returns its reader.
fn spawn_reflector(
    client: kube::Client,
    config: watcher::Config,
) -> (reflector::Store<ConfigMap>, tokio::task::JoinHandle<()>) {
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let (reader, writer) = reflector::store();
    let task = tokio::spawn(async move {
        reflector(writer, watcher(api, config))
            .default_backoff()
            .applied_objects()
            .for_each(|_| async {})
            .await;
    });
    (reader, task)
}

async fn wait_for_values(
    reader: &reflector::Store<ConfigMap>,
    expected: &BTreeMap<String, String>,
    deadline: Duration,
) {
    eventually(deadline, || async {
        let state: BTreeMap<String, String> = reader
            .state()
            .iter()
            .filter_map(|cm| Some((cm.metadata.name.clone()?, value_of(cm)?)))
            .collect();
        (state == *expected).then_some(())
    })
    .await;
}

#[tokio::test]
async fn watcher_and_controller_converge() {
    let sim = quiet_sim().await;
    let client = sim.client();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..10 {
        api.create(&PostParams::default(), &config_map(&format!("c{i}"), "0"))
            .await
            .unwrap();
    }

    // The reflector follows creates, updates and deletes.
    let (reader, task) = spawn_reflector(client.clone(), watcher::Config::default());
    let mut expected: BTreeMap<String, String> = (0..10)
        .map(|i| (format!("c{i}"), "0".to_string()))
        .collect();
    wait_for_values(&reader, &expected, Duration::from_secs(10)).await;

    // A controller labels every config map it reconciles.
    #[derive(Debug, thiserror::Error)]
    #[error("reconcile failed")]
    struct ReconcileError(#[source] kube::Error);
    let reconciler_api = api.clone();
    let controller = tokio::spawn(
        Controller::new(api.clone(), watcher::Config::default())
            .run(
                move |cm: Arc<ConfigMap>, api: Arc<Api<ConfigMap>>| async move {
                    let name = cm.metadata.name.clone().unwrap_or_default();
                    let wanted = value_of(&cm).unwrap_or_default();
                    let labelled = cm
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("seen"))
                        .cloned();
                    if labelled.as_deref() != Some(wanted.as_str()) {
                        api.patch(
                            &name,
                            &PatchParams::default(),
                            &Patch::Merge(
                                serde_json::json!({"metadata": {"labels": {"seen": wanted}}}),
                            ),
                        )
                        .await
                        .map_err(ReconcileError)?;
                    }
                    Ok::<_, ReconcileError>(Action::await_change())
                },
                |_, _, _| Action::requeue(Duration::from_millis(100)),
                Arc::new(reconciler_api),
            )
            .for_each(|_| async {}),
    );

    for i in 0..10 {
        api.patch(
            &format!("c{i}"),
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"n": "1"}})),
        )
        .await
        .unwrap();
        expected.insert(format!("c{i}"), "1".to_string());
    }
    api.delete("c9", &Default::default()).await.unwrap();
    expected.remove("c9");
    wait_for_values(&reader, &expected, Duration::from_secs(10)).await;

    eventually(Duration::from_secs(10), || async {
        let list = api.list(&Default::default()).await.ok()?;
        list.items
            .iter()
            .all(|cm| {
                cm.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("seen"))
                    .map(String::as_str)
                    == Some("1")
            })
            .then_some(())
    })
    .await;
    controller.abort();
    task.abort();
    sim.shutdown().await;
}

#[tokio::test]
async fn thousand_updates_with_dropped_watches_lose_nothing() {
    let sim = kulta_sim::Sim::builder()
        .controllers(false)
        .bookmark_interval(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let client = sim.client();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let objects = 20;
    for i in 0..objects {
        api.create(&PostParams::default(), &config_map(&format!("o{i}"), "0"))
            .await
            .unwrap();
    }
    let (reader, task) = spawn_reflector(client.clone(), watcher::Config::default());
    let mut expected: BTreeMap<String, String> = (0..objects)
        .map(|i| (format!("o{i}"), "0".to_string()))
        .collect();
    wait_for_values(&reader, &expected, Duration::from_secs(10)).await;

    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut drops = 0;
    for update in 1..=1000u32 {
        let name = format!("o{}", update % objects);
        api.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"n": update.to_string()}})),
        )
        .await
        .unwrap();
        expected.insert(name, update.to_string());
        if rng.random_bool(0.02) {
            let watches = || {
                sim.request_log().count(
                    &kulta_sim::RequestFilter::new()
                        .verb("watch")
                        .resource("configmaps"),
                )
            };
            let before = watches();
            sim.faults().drop_watches();
            drops += 1;
            // Updates keep flowing while the watcher reconnects; wait only for the reconnection.
            eventually(Duration::from_secs(10), || async {
                (watches() > before).then_some(())
            })
            .await;
        }
    }
    assert!(drops >= 5, "the seed drops watches several times ({drops})");
    wait_for_values(&reader, &expected, Duration::from_secs(20)).await;
    let lists = sim.request_log().count(
        &kulta_sim::RequestFilter::new()
            .verb("list")
            .resource("configmaps"),
    );
    assert_eq!(
        lists, 1,
        "every dropped watch resumed from its resourceVersion without a re-list"
    );
    task.abort();
    sim.shutdown().await;
}

#[tokio::test]
async fn gone_after_compaction_and_the_watcher_relists() {
    let sim = quiet_sim().await;
    let client = sim.client();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let first = api
        .create(&PostParams::default(), &config_map("g", "0"))
        .await
        .unwrap();
    let old_rv = first.metadata.resource_version.clone().unwrap();
    api.patch(
        "g",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"n": "1"}})),
    )
    .await
    .unwrap();
    sim.faults().compact_history();

    // A raw watch from before the compaction gets an ERROR event with a 410 Status.
    let mut stream = api
        .watch(&WatchParams::default(), &old_rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(status)) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
        }
        other => panic!("expected a 410 error event, got {other:?}"),
    }
    drop(stream);

    // A watcher whose resume point is compacted away re-lists and recovers.
    let (reader, task) = spawn_reflector(client.clone(), watcher::Config::default());
    let mut expected = BTreeMap::from([("g".to_string(), "1".to_string())]);
    wait_for_values(&reader, &expected, Duration::from_secs(10)).await;
    sim.faults().add_latency(
        kulta_sim::RequestFilter::new().verb("watch"),
        Duration::from_millis(300),
    );
    sim.faults().drop_watches();
    for n in 2..6 {
        api.patch(
            "g",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"n": n.to_string()}})),
        )
        .await
        .unwrap();
    }
    api.create(&PostParams::default(), &config_map("h", "x"))
        .await
        .unwrap();
    sim.faults().compact_history();
    let lists_before = sim
        .request_log()
        .count(&kulta_sim::RequestFilter::new().verb("list"));
    sim.faults().clear();
    expected.insert("g".into(), "5".into());
    expected.insert("h".into(), "x".into());
    wait_for_values(&reader, &expected, Duration::from_secs(15)).await;
    let lists_after = sim
        .request_log()
        .count(&kulta_sim::RequestFilter::new().verb("list"));
    assert!(
        lists_after > lists_before,
        "the watcher re-listed after 410"
    );
    task.abort();
    sim.shutdown().await;
}

#[tokio::test]
async fn bookmarks_and_streaming_lists() {
    let sim = kulta_sim::Sim::builder()
        .controllers(false)
        .bookmark_interval(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let client = sim.client();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..3 {
        api.create(&PostParams::default(), &config_map(&format!("s{i}"), "0"))
            .await
            .unwrap();
    }
    let rv = sim.resource_version().to_string();
    let mut stream = api
        .watch(
            &WatchParams {
                bookmarks: true,
                ..WatchParams::default()
            },
            &rv,
        )
        .await
        .unwrap()
        .boxed();
    let bookmark = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap();
    match bookmark {
        Some(WatchEvent::Bookmark(bookmark)) => assert_eq!(bookmark.metadata.resource_version, rv),
        other => panic!("expected a bookmark, got {other:?}"),
    }
    drop(stream);

    // sendInitialEvents: ADDED for each object, then the initial-events-end bookmark.
    let mut stream = api
        .watch(&WatchParams::default().initial_events(), "")
        .await
        .unwrap()
        .boxed();
    let mut added = 0;
    loop {
        match stream.try_next().await.unwrap() {
            Some(WatchEvent::Added(_)) => added += 1,
            Some(WatchEvent::Bookmark(bookmark)) => {
                assert_eq!(
                    bookmark
                        .metadata
                        .annotations
                        .get("k8s.io/initial-events-end")
                        .map(String::as_str),
                    Some("true")
                );
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(added, 3);
    drop(stream);

    // kube-runtime's streaming-list watcher syncs from it.
    let (reader, task) =
        spawn_reflector(client.clone(), watcher::Config::default().streaming_lists());
    let expected: BTreeMap<String, String> =
        (0..3).map(|i| (format!("s{i}"), "0".to_string())).collect();
    wait_for_values(&reader, &expected, Duration::from_secs(10)).await;
    task.abort();
    sim.shutdown().await;
}

#[tokio::test]
async fn label_selected_watch_sees_objects_leave_and_join() {
    let sim = quiet_sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let mut cm = config_map("sel", "0");
    cm.metadata.labels = Some(BTreeMap::from([("team".to_string(), "a".to_string())]));
    api.create(&PostParams::default(), &cm).await.unwrap();
    let rv = sim.resource_version().to_string();
    let mut stream = api
        .watch(&WatchParams::default().labels("team=a"), &rv)
        .await
        .unwrap()
        .boxed();
    api.patch(
        "sel",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"labels": {"team": "b"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "sel",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"labels": {"team": "a"}}})),
    )
    .await
    .unwrap();
    let first = stream.try_next().await.unwrap();
    assert!(matches!(first, Some(WatchEvent::Deleted(_))), "{first:?}");
    let second = stream.try_next().await.unwrap();
    assert!(matches!(second, Some(WatchEvent::Added(_))), "{second:?}");
    sim.shutdown().await;
}
