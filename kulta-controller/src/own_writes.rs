//! Our own writes, laid over the watch caches until the caches show them.
//!
//! A reconcile plans from the caches, and a cache learns of our write one watch event later. A
//! reconcile in between (woken by another object's event) would see the world before the write
//! and make it again: pin a Service a second time, create a ReplicaSet that exists (409). Each
//! such repeat is a wasted write, and at a thousand Rollouts they add up.
//!
//! An entry is the object as the API server returned it from our write. It is used while the
//! cache shows an older version of the object (or none), and dropped as soon as the cache shows
//! that version or a later one. Entries also expire after [`TTL`]: a watch delivers in well
//! under that, so an entry that old describes an object the cache saw deleted since, and the
//! cache is right.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::Resource;

use crate::context::is_older;

/// How long an entry can stand in for the cache at most.
pub const TTL: Duration = Duration::from_secs(30);

/// Objects of kind `K` this controller wrote, by namespace and name.
pub struct OwnWrites<K> {
    entries: Mutex<HashMap<(String, String), Entry<K>>>,
}

struct Entry<K> {
    object: Arc<K>,
    at: Instant,
}

impl<K> Default for OwnWrites<K> {
    fn default() -> Self {
        OwnWrites {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Resource> OwnWrites<K> {
    /// Records `written`, the object the API server returned from our write.
    pub fn record(&self, written: K) {
        self.record_at(written, Instant::now());
    }

    fn record_at(&self, written: K, at: Instant) {
        let meta = written.meta();
        let (Some(namespace), Some(name), Some(_)) = (
            meta.namespace.clone(),
            meta.name.clone(),
            meta.resource_version.as_ref(),
        ) else {
            return;
        };
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, entry| entry.at.elapsed() < TTL);
            entries.insert(
                (namespace, name),
                Entry {
                    object: Arc::new(written),
                    at,
                },
            );
        }
    }

    /// Forgets `namespace/name` (we deleted it).
    pub fn forget(&self, namespace: &str, name: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&(namespace.to_string(), name.to_string()));
        }
    }

    /// The version of `namespace/name` to plan from: our write while `cached` is older than
    /// it (or absent), else `cached`.
    pub fn view(&self, namespace: &str, name: &str, cached: Option<Arc<K>>) -> Option<Arc<K>> {
        let Ok(mut entries) = self.entries.lock() else {
            return cached;
        };
        let key = (namespace.to_string(), name.to_string());
        let Some(entry) = entries.get(&key) else {
            return cached;
        };
        let ours = entry
            .object
            .meta()
            .resource_version
            .as_deref()
            .unwrap_or_default();
        let cache_behind = cached
            .as_ref()
            .is_none_or(|c| is_older(c.meta().resource_version.as_deref(), ours));
        if cache_behind && entry.at.elapsed() < TTL {
            Some(entry.object.clone())
        } else {
            entries.remove(&key);
            cached
        }
    }

    /// Whether `object` (from a watch event) is the echo of our own write: the very version
    /// the API server returned to us. The reconcile that wrote it planned with it already, so
    /// its event need not wake another.
    pub fn is_echo(&self, object: &K) -> bool {
        let meta = object.meta();
        let (Some(namespace), Some(name), Some(version)) = (
            meta.namespace.as_ref(),
            meta.name.as_ref(),
            meta.resource_version.as_ref(),
        ) else {
            return false;
        };
        self.wrote(namespace, name, version)
    }

    /// Whether version `version` of `namespace/name` is the one our write produced.
    pub fn wrote(&self, namespace: &str, name: &str, version: &str) -> bool {
        let Ok(entries) = self.entries.lock() else {
            return false;
        };
        entries
            .get(&(namespace.to_string(), name.to_string()))
            .is_some_and(|entry| entry.object.meta().resource_version.as_deref() == Some(version))
    }

    /// Our written objects in `namespace` that `cached` (the names the cache has there) lacks.
    pub fn unseen(&self, namespace: &str, cached: impl Fn(&str) -> bool) -> Vec<Arc<K>> {
        let Ok(entries) = self.entries.lock() else {
            return Vec::new();
        };
        entries
            .iter()
            .filter(|((ns, name), entry)| {
                ns == namespace && entry.at.elapsed() < TTL && !cached(name)
            })
            .map(|(_, entry)| entry.object.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn service(name: &str, resource_version: &str) -> Service {
        Service {
            metadata: ObjectMeta {
                namespace: Some("ns".into()),
                name: Some(name.into()),
                resource_version: Some(resource_version.into()),
                ..ObjectMeta::default()
            },
            ..Service::default()
        }
    }

    fn version(object: Option<Arc<Service>>) -> Option<String> {
        object.and_then(|o| o.metadata.resource_version.clone())
    }

    #[test]
    fn our_write_stands_in_until_the_cache_shows_it_or_later() {
        let writes = OwnWrites::default();
        writes.record(service("web", "12"));
        let cached = Some(Arc::new(service("web", "10")));
        assert_eq!(version(writes.view("ns", "web", cached)), Some("12".into()));
        assert_eq!(version(writes.view("ns", "web", None)), Some("12".into()));
        assert_eq!(
            version(writes.view("ns", "other", None)),
            None,
            "other objects are untouched"
        );
        // The cache caught up: the entry goes, and an older cache afterwards is believed.
        let caught_up = Some(Arc::new(service("web", "12")));
        assert_eq!(
            version(writes.view("ns", "web", caught_up)),
            Some("12".into())
        );
        let older = Some(Arc::new(service("web", "11")));
        assert_eq!(version(writes.view("ns", "web", older)), Some("11".into()));
        // A cache past our write (someone else wrote after us) wins.
        writes.record(service("web", "20"));
        let later = Some(Arc::new(service("web", "21")));
        assert_eq!(version(writes.view("ns", "web", later)), Some("21".into()));
    }

    #[test]
    fn only_the_version_we_wrote_is_an_echo() {
        let writes = OwnWrites::default();
        writes.record(service("web", "12"));
        assert!(writes.is_echo(&service("web", "12")));
        assert!(!writes.is_echo(&service("web", "13")), "a later change");
        assert!(!writes.is_echo(&service("web", "11")));
        assert!(!writes.is_echo(&service("api", "12")), "another object");
    }

    #[test]
    fn unseen_lists_our_creates_the_cache_lacks_and_entries_expire() {
        let writes = OwnWrites::default();
        writes.record(service("a", "5"));
        writes.record(service("b", "6"));
        let unseen: Vec<_> = writes
            .unseen("ns", |name| name == "a")
            .iter()
            .filter_map(|s| s.metadata.name.clone())
            .collect();
        assert_eq!(unseen, vec!["b".to_string()]);
        assert!(writes.unseen("elsewhere", |_| false).is_empty());
        writes.forget("ns", "b");
        assert!(writes.unseen("ns", |name| name == "a").is_empty());

        let Some(long_ago) = Instant::now().checked_sub(TTL + Duration::from_secs(1)) else {
            return;
        };
        writes.record_at(service("old", "7"), long_ago);
        assert_eq!(version(writes.view("ns", "old", None)), None);
        assert!(
            writes
                .unseen("ns", |_| false)
                .iter()
                .all(|s| s.metadata.name.as_deref() != Some("old"))
        );
    }
}
