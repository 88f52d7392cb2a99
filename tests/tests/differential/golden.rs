//! The golden file: kube-apiserver's normalized answers, recorded from the real server, read
//! when there is none to ask, and checked against it when there is.

use std::path::Path;

use serde_json::{Value, json};

use super::{Entry, GOLDEN, RECORD_HOW, normalize};

/// Entries of the golden file kulta-sim did not answer, and the reverse: the script and the
/// golden file went apart.
pub fn missing(sim: &[Entry], golden: &[Entry], golden_version: &str) -> Vec<String> {
    let mut failures = Vec::new();
    for entry in golden {
        if !sim.iter().any(|answered| answered.key == entry.key) {
            failures.push(format!(
                "{} ({}) is in the golden file (recorded from {golden_version}) but no longer \
                 in the test; re-record: {RECORD_HOW}",
                entry.key, entry.request
            ));
        }
    }
    for entry in sim {
        if !golden.iter().any(|recorded| recorded.key == entry.key) {
            failures.push(format!(
                "{} ({}) has no recorded answer in {GOLDEN}; re-record: {RECORD_HOW}",
                entry.key, entry.request
            ));
        }
    }
    failures
}

/// Whether the real server answers now what the golden file says it does.
pub fn check(
    version: &str,
    real: &[Entry],
    golden_version: &str,
    golden: &[Entry],
    with_kubectl: bool,
) -> Vec<String> {
    let mut failures = Vec::new();
    if version != golden_version {
        failures.push(format!(
            "{GOLDEN} was recorded from {golden_version}, the cluster runs {version}"
        ));
    }
    let golden: Vec<Entry> = golden
        .iter()
        .filter(|entry| with_kubectl || !entry.key.starts_with("kubectl:"))
        .cloned()
        .collect();
    failures.extend(missing(real, &golden, golden_version));
    for entry in real {
        let Some(recorded) = golden.iter().find(|recorded| recorded.key == entry.key) else {
            continue;
        };
        let changed = normalize::differences(&entry.answer, &recorded.answer);
        if !changed.is_empty() {
            let lines: Vec<String> = changed
                .iter()
                .map(|difference| format!("  {}", difference.show("now", "recorded")))
                .collect();
            failures.push(format!(
                "{GOLDEN} is not what kube-apiserver answers now to {}: {}\n{}\n  re-record: {RECORD_HOW}",
                entry.key,
                entry.request,
                lines.join("\n")
            ));
        }
    }
    failures
}

/// The golden file's text: the server version, then per part the requests and answers, in
/// script order, keys sorted.
pub fn text(version: &str, entries: &[Entry]) -> String {
    let section = |prefix: Option<&str>| -> Vec<Value> {
        entries
            .iter()
            .filter(|entry| match prefix {
                Some(prefix) => entry.key.starts_with(prefix),
                None => !entry.key.contains(':'),
            })
            .map(|entry| {
                let id = entry.key.split_once(':').map_or(&*entry.key, |(_, id)| id);
                json!({ "id": id, "request": entry.request, "answer": entry.answer })
            })
            .collect()
    };
    let golden = json!({
        "server": version,
        "requests": section(None),
        "watches": section(Some("watch:")),
        "kubectl": section(Some("kubectl:")),
    });
    let mut text = serde_json::to_string_pretty(&normalize::sorted(&golden)).expect("JSON");
    text.push('\n');
    text
}

/// The golden file's server version and entries.
pub fn read(path: &Path) -> (String, Vec<Entry>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| {
        panic!("read {}: {error}; record it: {RECORD_HOW}", path.display())
    });
    let golden: Value = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()));
    let mut entries = Vec::new();
    for (section, prefix) in [
        ("requests", ""),
        ("watches", "watch:"),
        ("kubectl", "kubectl:"),
    ] {
        for entry in golden[section].as_array().into_iter().flatten() {
            entries.push(Entry {
                key: format!("{prefix}{}", entry["id"].as_str().unwrap_or_default()),
                request: entry["request"].as_str().unwrap_or_default().to_string(),
                answer: entry["answer"].clone(),
            });
        }
    }
    let version = golden["server"].as_str().unwrap_or_default().to_string();
    (version, entries)
}
