//! The watch part: ConfigMap watches opened from a resourceVersion (all of the namespace, and
//! through a label selector an object leaves and joins) and one resumed from history after the
//! writes; the event types and object names each delivers, bookmarks left out.

use std::time::{Duration, Instant};

use futures::{AsyncBufRead, AsyncBufReadExt, StreamExt};
use kube::api::WatchParams;
use serde_json::{Value, json};

use super::normalize::Names;
use super::script::MERGE;
use super::{Entry, Server, send};

/// How long a watch may take to deliver every event of the writes.
const WATCH_DEADLINE: Duration = Duration::from_secs(30);
/// The last event every watch must deliver.
const LAST: (&str, &str) = ("DELETED", "watched-c");

fn configmap(name: &str, watched: bool) -> Value {
    let labels = if watched {
        json!({ "watched": "yes" })
    } else {
        json!({})
    };
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": name, "labels": labels },
        "data": { "n": "1" }
    })
}

/// Opens the watches, makes the writes, reads each watch until [`LAST`] or the deadline.
pub async fn run(server: &Server) -> Vec<Entry> {
    let mut names = Names::default();
    names
        .placeholders
        .insert("{ns}".to_string(), server.namespace.clone());
    let collection = names.fill("/api/v1/namespaces/{ns}/configmaps");
    let (code, body) = send(&server.client, "GET", &collection, None, None).await;
    assert_eq!(code, 200, "{}: list ConfigMaps", server.name);
    let list: Value = serde_json::from_slice(&body).expect("a list");
    let listed = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("a list resourceVersion")
        .to_string();
    let all = open(server, &collection, WatchParams::default(), &listed).await;
    let selected = open(
        server,
        &collection,
        WatchParams::default().labels("watched=yes"),
        &listed,
    )
    .await;

    let item = |name: &str| format!("{collection}/{name}");
    let writes: Vec<(&str, String, Option<&str>, Option<Value>)> = vec![
        (
            "POST",
            collection.clone(),
            Some(super::script::JSON),
            Some(configmap("watched-a", true)),
        ),
        (
            "POST",
            collection.clone(),
            Some(super::script::JSON),
            Some(configmap("watched-b", true)),
        ),
        (
            "POST",
            collection.clone(),
            Some(super::script::JSON),
            Some(configmap("watched-c", false)),
        ),
        (
            "PATCH",
            item("watched-a"),
            Some(MERGE),
            Some(json!({ "data": { "n": "2" } })),
        ),
        // Changes nothing: no event.
        (
            "PATCH",
            item("watched-a"),
            Some(MERGE),
            Some(json!({ "data": { "n": "2" } })),
        ),
        // Leaves the selector: DELETED through it.
        (
            "PATCH",
            item("watched-b"),
            Some(MERGE),
            Some(json!({ "metadata": { "labels": { "watched": null } } })),
        ),
        // Joins the selector: ADDED through it.
        (
            "PATCH",
            item("watched-c"),
            Some(MERGE),
            Some(json!({ "metadata": { "labels": { "watched": "yes" } } })),
        ),
        ("DELETE", item("watched-a"), None, None),
        ("DELETE", item("watched-b"), None, None),
        ("DELETE", item("watched-c"), None, None),
    ];
    let mut first_version = None;
    for (method, path, content_type, body) in writes {
        let body = body.map(|body| body.to_string().into_bytes());
        let (code, answer) = send(&server.client, method, &path, content_type, body).await;
        assert!(
            (200..300).contains(&code),
            "{}: {method} {path}: {code} {}",
            server.name,
            String::from_utf8_lossy(&answer)
        );
        if first_version.is_none() {
            let created: Value = serde_json::from_slice(&answer).expect("an object");
            first_version = created["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_string);
        }
    }
    let first_version = first_version.expect("the first create's resourceVersion");
    let resumed = open(server, &collection, WatchParams::default(), &first_version).await;

    let mut entries = Vec::new();
    for (id, request, stream) in [
        (
            "all",
            "GET /api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion=<before the writes>",
            all,
        ),
        (
            "selected",
            "GET /api/v1/namespaces/{ns}/configmaps?watch=true&labelSelector=watched%3Dyes&resourceVersion=<before the writes>",
            selected,
        ),
        (
            "resumed",
            "GET /api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion=<of the first create, after the writes>",
            resumed,
        ),
    ] {
        let events = read_until_last(stream).await;
        entries.push(Entry {
            key: format!("watch:{id}"),
            request: request.to_string(),
            answer: json!({ "events": events }),
        });
    }
    entries
}

async fn open(
    server: &Server,
    collection: &str,
    params: WatchParams,
    version: &str,
) -> impl AsyncBufRead + use<> {
    let request = kube::core::Request::new(collection)
        .watch(&params, version)
        .expect("a watch request");
    server
        .client
        .request_stream(request)
        .await
        .unwrap_or_else(|error| panic!("{}: watch {collection}: {error}", server.name))
}

/// `[type, name]` of every event about the test's objects (bookmarks left out), up to and with
/// [`LAST`]; `["<deadline>"]` at the end when the deadline passed first, `["<end>"]` when the
/// stream ended first.
async fn read_until_last(stream: impl AsyncBufRead + Unpin) -> Vec<Value> {
    let until = Instant::now() + WATCH_DEADLINE;
    let mut lines = stream.lines();
    let mut events = Vec::new();
    loop {
        let remaining = until.saturating_duration_since(Instant::now());
        let line = match tokio::time::timeout(remaining, lines.next()).await {
            Err(_) => {
                events.push(json!(["<deadline>"]));
                return events;
            }
            Ok(None) | Ok(Some(Err(_))) => {
                events.push(json!(["<end>"]));
                return events;
            }
            Ok(Some(Ok(line))) => line,
        };
        if line.trim().is_empty() {
            continue;
        }
        let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        let kind = event["type"]
            .as_str()
            .unwrap_or("<not an event>")
            .to_string();
        if kind == "BOOKMARK" {
            continue;
        }
        // An ERROR event carries a Status: its reason stands for the name.
        let name = event["object"]["metadata"]["name"]
            .as_str()
            .or_else(|| event["object"]["reason"].as_str())
            .unwrap_or_default()
            .to_string();
        // Only the test's own objects: kube-controller-manager publishes `kube-root-ca.crt` into
        // every new namespace, possibly after the list this watch started from. An ERROR event
        // is always kept.
        if kind != "ERROR" && !name.starts_with("watched-") {
            continue;
        }
        let last = (kind.as_str(), name.as_str()) == LAST;
        events.push(json!([kind, name]));
        if last {
            return events;
        }
    }
}
