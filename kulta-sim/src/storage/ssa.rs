//! Approximate server-side apply field ownership: the sim remembers each field manager's last
//! applied configuration per object, and when a manager applies again without a field it
//! applied before, that field is removed from the live object unless another manager's applied
//! configuration still sets it. Lists are owned whole (atomic); fields written by non-apply
//! requests are not owned by anyone. There are no conflicts (`force` changes nothing).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::kinds::resources::GroupResource;
use crate::storage::store::ObjectKey;
use crate::storage::write::Part;

/// The last applied configuration of every manager, per object.
#[derive(Debug, Default)]
pub(crate) struct AppliedConfigs {
    by_object: HashMap<(GroupResource, ObjectKey), BTreeMap<String, Value>>,
}

fn leaf_paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                prefix.push(key.clone());
                leaf_paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => out.push(prefix.clone()),
    }
}

fn has_path(value: &Value, path: &[String]) -> bool {
    let mut current = value;
    for segment in path {
        match current.get(segment) {
            Some(next) => current = next,
            None => return false,
        }
    }
    true
}

fn remove_path(value: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = value;
    for segment in parents {
        match current.get_mut(segment) {
            Some(next) => current = next,
            None => return,
        }
    }
    if let Some(map) = current.as_object_mut() {
        map.remove(last);
    }
}

/// Fields apply never removes: identity and system metadata.
fn protected(path: &[String]) -> bool {
    match path.first().map(String::as_str) {
        Some("apiVersion") | Some("kind") => true,
        Some("metadata") => !matches!(
            path.get(1).map(String::as_str),
            Some("labels") | Some("annotations") | Some("finalizers") | Some("ownerReferences")
        ),
        _ => false,
    }
}

/// The part of an applied configuration a write to `part` addresses.
fn restrict(applied: &Value, part: Part) -> Value {
    let Some(map) = applied.as_object() else {
        return Value::Null;
    };
    let kept = map
        .iter()
        .filter(|(key, _)| match part {
            Part::Main => key.as_str() != "status",
            Part::Status => key.as_str() == "status",
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}

impl AppliedConfigs {
    /// Removes from `target` the fields `manager` applied before (in `part`) but no longer
    /// applies, unless another manager's configuration sets them.
    pub(crate) fn release_dropped_fields(
        &self,
        key: &(GroupResource, ObjectKey),
        manager: &str,
        part: Part,
        applied: &Value,
        target: &mut Value,
    ) {
        let Some(managers) = self.by_object.get(key) else {
            return;
        };
        let Some(previous) = managers.get(manager) else {
            return;
        };
        let previous = restrict(previous, part);
        let applied = restrict(applied, part);
        let mut paths = Vec::new();
        leaf_paths(&previous, &mut Vec::new(), &mut paths);
        for path in paths {
            if protected(&path) || has_path(&applied, &path) {
                continue;
            }
            let shared = managers
                .iter()
                .any(|(other, config)| other != manager && has_path(config, &path));
            if !shared {
                remove_path(target, &path);
            }
        }
    }

    /// Records `manager`'s applied configuration for `part`.
    pub(crate) fn record(
        &mut self,
        key: (GroupResource, ObjectKey),
        manager: &str,
        part: Part,
        applied: &Value,
    ) {
        let entry = self
            .by_object
            .entry(key)
            .or_default()
            .entry(manager.to_string())
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        let incoming = restrict(applied, part);
        let (Some(entry), Some(incoming)) = (entry.as_object_mut(), incoming.as_object()) else {
            return;
        };
        entry.retain(|key, _| match part {
            Part::Main => key == "status",
            Part::Status => key != "status",
        });
        for (k, v) in incoming {
            entry.insert(k.clone(), v.clone());
        }
    }

    /// Forgets a deleted object.
    pub(crate) fn forget(&mut self, key: &(GroupResource, ObjectKey)) {
        self.by_object.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> (GroupResource, ObjectKey) {
        (GroupResource::new("g", "r"), ("ns".into(), "n".into()))
    }

    #[test]
    fn a_manager_dropping_a_field_removes_it_unless_shared() {
        let mut configs = AppliedConfigs::default();
        configs.record(
            key(),
            "a",
            Part::Main,
            &json!({"spec": {"x": 1, "y": 2, "z": 3}}),
        );
        configs.record(key(), "b", Part::Main, &json!({"spec": {"z": 3}}));
        let mut live =
            json!({"metadata": {"name": "n"}, "spec": {"x": 1, "y": 2, "z": 3, "other": 4}});
        let applied = json!({"spec": {"x": 5}});
        configs.release_dropped_fields(&key(), "a", Part::Main, &applied, &mut live);
        assert_eq!(
            live,
            json!({"metadata": {"name": "n"}, "spec": {"x": 1, "z": 3, "other": 4}})
        );
    }

    #[test]
    fn status_and_main_configurations_are_separate() {
        let mut configs = AppliedConfigs::default();
        configs.record(key(), "a", Part::Main, &json!({"spec": {"x": 1}}));
        configs.record(
            key(),
            "a",
            Part::Status,
            &json!({"status": {"phase": "A", "reason": "r"}}),
        );
        let mut live = json!({"spec": {"x": 1}, "status": {"phase": "A", "reason": "r"}});
        configs.release_dropped_fields(
            &key(),
            "a",
            Part::Status,
            &json!({"status": {"phase": "B"}}),
            &mut live,
        );
        assert_eq!(live, json!({"spec": {"x": 1}, "status": {"phase": "A"}}));
    }
}
