//! Secondary indexes over watch streams.
//!
//! kube's reflector stores find an object by namespace and name only. The controller also needs
//! "which Rollouts name this Service" on every Service event, and
//! "which ReplicaSets does this Rollout own" on every reconcile. Scanning a store for those is
//! linear in the cluster: with a thousand Rollouts, every route event looked at a thousand
//! Rollouts and every reconcile at three thousand ReplicaSets. An [`Index`] answers them from a
//! map kept up to date by the same watch events that fill the store.
//!
//! An index holds names, not objects: callers read the objects from the store, which stays the
//! one source of truth. A name whose object the store lacks (a relist in progress) is skipped.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Mutex;

use kube::Resource;
use kube::runtime::watcher;

/// Namespace and name of an indexed object.
pub type ObjectName = (String, String);

/// Objects of kind `K` by the keys `keys` derives from each.
pub struct Index<K, Key> {
    keys: fn(&K) -> Vec<Key>,
    inner: Mutex<Inner<Key>>,
}

struct Inner<Key> {
    by_key: HashMap<Key, HashSet<ObjectName>>,
    of_object: HashMap<ObjectName, Vec<Key>>,
    /// Objects listed since a relist began (`Init`), to drop the rest at `InitDone`.
    relisted: Option<HashSet<ObjectName>>,
}

impl<K: Resource, Key: Clone + Eq + Hash> Index<K, Key> {
    /// An empty index whose keys of an object are `keys(object)`.
    pub fn new(keys: fn(&K) -> Vec<Key>) -> Self {
        Index {
            keys,
            inner: Mutex::new(Inner {
                by_key: HashMap::new(),
                of_object: HashMap::new(),
                relisted: None,
            }),
        }
    }

    /// Takes one watch event (after the store took it).
    pub fn observe(&self, event: &watcher::Event<K>) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        match event {
            watcher::Event::Apply(object) => inner.upsert(name_of(object), (self.keys)(object)),
            watcher::Event::Delete(object) => inner.remove(&name_of(object)),
            watcher::Event::Init => inner.relisted = Some(HashSet::new()),
            watcher::Event::InitApply(object) => {
                let name = name_of(object);
                if let Some(relisted) = inner.relisted.as_mut() {
                    relisted.insert(name.clone());
                }
                inner.upsert(name, (self.keys)(object));
            }
            watcher::Event::InitDone => {
                if let Some(relisted) = inner.relisted.take() {
                    let gone: Vec<ObjectName> = inner
                        .of_object
                        .keys()
                        .filter(|name| !relisted.contains(*name))
                        .cloned()
                        .collect();
                    for name in gone {
                        inner.remove(&name);
                    }
                }
            }
        }
    }

    /// The objects indexed under `key`.
    pub fn get(&self, key: &Key) -> Vec<ObjectName> {
        let Ok(inner) = self.inner.lock() else {
            return Vec::new();
        };
        inner
            .by_key
            .get(key)
            .map(|names| names.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl<Key: Clone + Eq + Hash> Inner<Key> {
    fn upsert(&mut self, name: ObjectName, keys: Vec<Key>) {
        self.remove(&name);
        for key in &keys {
            self.by_key
                .entry(key.clone())
                .or_default()
                .insert(name.clone());
        }
        if !keys.is_empty() {
            self.of_object.insert(name, keys);
        }
    }

    fn remove(&mut self, name: &ObjectName) {
        for key in self.of_object.remove(name).unwrap_or_default() {
            if let Some(names) = self.by_key.get_mut(&key) {
                names.remove(name);
                if names.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
    }
}

fn name_of<K: Resource>(object: &K) -> ObjectName {
    let meta = object.meta();
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    /// A ConfigMap indexed by the values of its data.
    fn map(name: &str, values: &[&str]) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                namespace: Some("ns".into()),
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            data: Some(
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (i.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..ConfigMap::default()
        }
    }

    fn by_value() -> Index<ConfigMap, String> {
        Index::new(|cm| cm.data.iter().flatten().map(|(_, v)| v.clone()).collect())
    }

    fn names(index: &Index<ConfigMap, String>, key: &str) -> Vec<String> {
        let mut names: Vec<String> = index
            .get(&key.to_string())
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn applies_move_and_deletes_drop_an_object_between_keys() {
        let index = by_value();
        index.observe(&watcher::Event::Apply(map("a", &["x", "y"])));
        index.observe(&watcher::Event::Apply(map("b", &["y"])));
        assert_eq!(names(&index, "x"), vec!["a"]);
        assert_eq!(names(&index, "y"), vec!["a", "b"]);
        // a now names z only.
        index.observe(&watcher::Event::Apply(map("a", &["z"])));
        assert!(names(&index, "x").is_empty());
        assert_eq!(names(&index, "y"), vec!["b"]);
        assert_eq!(names(&index, "z"), vec!["a"]);
        index.observe(&watcher::Event::Delete(map("b", &["y"])));
        assert!(names(&index, "y").is_empty());
        assert_eq!(
            index.get(&"z".to_string()),
            vec![("ns".to_string(), "a".to_string())]
        );
    }

    #[test]
    fn a_relist_drops_objects_deleted_while_the_watch_was_down() {
        let index = by_value();
        index.observe(&watcher::Event::Apply(map("kept", &["k"])));
        index.observe(&watcher::Event::Apply(map("deleted", &["k"])));
        index.observe(&watcher::Event::Init);
        index.observe(&watcher::Event::InitApply(map("kept", &["k"])));
        index.observe(&watcher::Event::InitApply(map("new", &["n"])));
        // Until the relist is done, the old names stay (the store still has them too).
        assert_eq!(names(&index, "k"), vec!["deleted", "kept"]);
        index.observe(&watcher::Event::InitDone);
        assert_eq!(names(&index, "k"), vec!["kept"]);
        assert_eq!(names(&index, "n"), vec!["new"]);
    }
}
