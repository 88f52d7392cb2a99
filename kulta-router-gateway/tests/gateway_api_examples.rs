//! The upstream Gateway API v1.5.1 traffic-splitting examples parse into the gateway-api types,
//! and KULTA handles them: weights change in place, a split across rules is refused clearly.
//! Skipped (with a note) when the reference data is not present.

#![allow(clippy::panic)] // helpers outside #[test] functions fail the test by panicking

mod common;

use std::path::{Path, PathBuf};

use common::{changed_paths, typed};
use kulta_router::{BackendRef, RouteTarget};
use kulta_router_gateway::weight_patch;
use serde_json::{Value, json};

/// The Gateway API v1.5.1 examples kept beside the repository (`../shared/data`), found
/// relative to this crate. Missing, the test skips, except under `CI=true`, where it fails: CI
/// must never pass a test that skipped for want of its data.
fn examples_dir() -> Option<PathBuf> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/gateway-api-v1.5.1/examples");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "reference data {} is missing: CI must have shared/ beside the repository",
        dir.display()
    );
    None
}

fn load(path: &Path) -> Value {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => panic!("{}: {error}", path.display()),
    };
    match serde_saphyr::from_str::<Value>(&text) {
        Ok(value) => value,
        Err(error) => panic!("{}: {error}", path.display()),
    }
}

fn foo_target() -> RouteTarget {
    RouteTarget::new(
        "default",
        "foo",
        BackendRef::new("foo-v1").with_port(8080),
        BackendRef::new("foo-v2").with_port(8080),
        json!({"httpRoute": "foo-route"}),
    )
}

/// The example as the API server would return it: namespaced, with a resourceVersion.
fn as_stored(mut route: Value) -> Value {
    route["metadata"]["namespace"] = json!("default");
    route["metadata"]["resourceVersion"] = json!("1");
    route
}

#[test]
fn traffic_splitting_examples_parse_and_patch() {
    let Some(dir) = examples_dir() else {
        eprintln!("skipped: Gateway API reference examples not present");
        return;
    };
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .collect(),
        Err(error) => panic!("{}: {error}", dir.display()),
    };
    entries.sort();
    let mut checked = 0;
    for path in entries {
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default();
        if !name.starts_with("traffic-splitting") || !name.ends_with(".yaml") {
            continue;
        }
        let route = load(&path);
        if route["kind"] != "HTTPRoute" {
            continue;
        }
        let stored = as_stored(route);
        let parsed = typed(&stored);
        assert_eq!(
            serde_json::to_value(&parsed)
                .ok()
                .map(|value| changed_paths(&stored, &value)),
            Some(Default::default()),
            "{name}: the typed route round-trips without losing fields"
        );
        let rules = stored["spec"]["rules"].as_array().map_or(0, Vec::len);
        match weight_patch(&parsed, &foo_target(), 30) {
            Ok(Some(patch)) => {
                let mut patched = stored.clone();
                assert!(json_patch::patch(&mut patched, &patch).is_ok(), "{name}");
                let changed: Vec<String> = changed_paths(&stored, &patched).into_keys().collect();
                assert_eq!(
                    changed,
                    [
                        "/spec/rules/0/backendRefs/0/weight",
                        "/spec/rules/0/backendRefs/1/weight"
                    ],
                    "{name}"
                );
                assert_eq!(patched["spec"]["rules"][0]["backendRefs"][0]["weight"], 70);
                assert_eq!(patched["spec"]["rules"][0]["backendRefs"][1]["weight"], 30);
            }
            Ok(None) => panic!("{name}: no example is at 70/30 already"),
            Err(error) => {
                // traffic-split-1 sends the canary only through a header-matched rule: KULTA
                // cannot weight that and says where.
                assert_eq!(rules, 2, "{name}: {error}");
                assert_eq!(
                    error.to_string(),
                    "invalid traffic router config: HTTPRoute default/foo-route rule 0 sends to \
                     one of the Rollout's Services but has no backendRef for Service \
                     foo-v2:8080: a rule must name both, or neither",
                    "{name}"
                );
            }
        }
        checked += 1;
    }
    assert!(
        checked >= 3,
        "expected the traffic-splitting HTTPRoute examples, found {checked}"
    );
}
