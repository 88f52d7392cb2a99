//! The state shared by every reconcile: the client, caches, routers, clock and backoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::runtime::reflector::Store;
use kulta_api::{Rollout, RolloutStatus};
use kulta_router::RouterRegistry;

use crate::clock::Clock;
use crate::index::Index;
use crate::own_writes::OwnWrites;
use crate::runtime::metrics::Metrics;

/// Shared context of the reconciler.
pub struct Context {
    /// Kubernetes client.
    pub client: kube::Client,
    /// Routers by spec key.
    pub routers: RouterRegistry,
    /// The objects routers reference, watched for them.
    pub watched: Arc<crate::watched::WatchedObjects>,
    /// Event publisher.
    pub events: crate::events::EventPublisher,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The ReplicaSets and Services as this controller knows them without a request.
    pub caches: Caches,
    /// The last status this controller wrote per Rollout, to plan from it when the cache has not
    /// caught up with our own write yet.
    pub(crate) written: Mutex<HashMap<String, WrittenStatus>>,
    /// Per-Rollout error backoff.
    pub(crate) backoff: Backoff,
    /// Pod counts waiting to reach status.
    pub(crate) counts: PendingCounts,
}

/// The ReplicaSets and Services as this controller knows them without a request: the watches'
/// caches, with this controller's own writes laid over them until the watches deliver them
/// ([`OwnWrites`]).
pub struct Caches {
    /// The ReplicaSets KULTA manages.
    pub replica_sets: Store<ReplicaSet>,
    /// The same ReplicaSets by the uid of their controlling owner.
    pub(crate) replica_sets_by_owner: Arc<Index<ReplicaSet, String>>,
    /// ReplicaSets we created or changed, until the ReplicaSets cache shows the change.
    pub(crate) own_replica_sets: Arc<OwnWrites<ReplicaSet>>,
    /// Services.
    pub services: Store<Service>,
    /// Services we pinned, until the Services cache shows the pin.
    pub(crate) own_services: Arc<OwnWrites<Service>>,
}

/// Pod counts reach status at most [`PendingCounts::DELAY`] after they changed, together with
/// the next other change when one comes sooner. Pods come and go one at a time (each a watch
/// event of their ReplicaSet), and a status write for every one would cost as many writes as
/// there are pods; the phase, step, weights, conditions and actions are written at once.
#[derive(Debug, Default)]
pub struct PendingCounts {
    since: Mutex<HashMap<String, std::time::Instant>>,
}

impl PendingCounts {
    /// The longest pod counts wait to be written.
    pub const DELAY: Duration = Duration::from_secs(1);

    /// How much longer the changed counts of `key` may wait; `None` when they are due now.
    pub fn wait(&self, key: &str) -> Option<Duration> {
        let Ok(mut since) = self.since.lock() else {
            return None;
        };
        let first = *since
            .entry(key.to_string())
            .or_insert_with(std::time::Instant::now);
        Self::DELAY
            .checked_sub(first.elapsed())
            .filter(|left| !left.is_zero())
    }

    /// The status of `key`, counts included, was written (or needed no write).
    pub fn written(&self, key: &str) {
        if let Ok(mut since) = self.since.lock() {
            since.remove(key);
        }
    }
}

/// A status the controller wrote, with the object version it produced; or the status of a plan
/// whose effects were carried out but whose status write failed, with the version it was
/// planned from.
#[derive(Clone, Debug)]
pub(crate) struct WrittenStatus {
    pub uid: String,
    pub resource_version: String,
    pub status: RolloutStatus,
    /// Action annotations (key, value) that the write producing `resource_version` removed.
    pub removed: Vec<(String, String)>,
    /// `None` when the API server stored `status` (at `resource_version`). For the status of
    /// effects carried out on the Rollout at `resource_version` that could not be stored: the
    /// status that plan was made from.
    pub unstored_from: Option<RolloutStatus>,
}

impl Context {
    /// The Rollout to plan from: the cached one, or, when the cache still shows an older version
    /// than the one our last status write produced, the cached one with our status and that
    /// version. Planning from a stale status would repeat finished work (move traffic back to
    /// an earlier step). If anyone else changed the Rollout in between, the status write
    /// carries a version that is no longer current and fails with a conflict, so nothing stale
    /// is ever stored.
    pub(crate) fn freshest(&self, rollout: &Rollout) -> Rollout {
        let key = object_key(rollout);
        let Ok(written) = self.written.lock() else {
            return rollout.clone();
        };
        let Some(last) = written.get(&key) else {
            return rollout.clone();
        };
        fresher_view(rollout, last)
    }

    pub(crate) fn remember(&self, rollout: &Rollout, status: &RolloutStatus) {
        self.remember_removal(rollout, status, Vec::new());
    }

    /// Like [`Context::remember`], for the write that removed the action annotations `removed`
    /// (after `status` recorded them).
    pub(crate) fn remember_removal(
        &self,
        rollout: &Rollout,
        status: &RolloutStatus,
        removed: Vec<(String, String)>,
    ) {
        self.record(rollout, status, Some(removed), None);
    }

    /// Remembers `status`, the status of effects carried out on `rollout` (the version they
    /// were planned from) whose status write failed, so that the next reconcile plans from it:
    /// planning from the stored status would undo what was done (a promotion's Service pin and
    /// route, put back to the last step), and storing it is all that is left to do. It is laid
    /// over the Rollout while the Rollout is at most the version the effects were planned from,
    /// or its stored status is still the one they were planned from (someone changed its spec
    /// or metadata since, and the status write conflicted): only this controller writes status.
    pub(crate) fn remember_unstored(&self, rollout: &Rollout, status: &RolloutStatus) {
        let planned_from = rollout.status.clone().unwrap_or_default();
        self.record(rollout, status, None, Some(planned_from));
    }

    /// Records `status` for `rollout`'s uid and resourceVersion. `removed: None` keeps what the
    /// entry of that same version removed (planned from our last write: it is still gone).
    fn record(
        &self,
        rollout: &Rollout,
        status: &RolloutStatus,
        removed: Option<Vec<(String, String)>>,
        unstored_from: Option<RolloutStatus>,
    ) {
        let (Some(uid), Some(resource_version)) = (
            rollout.metadata.uid.clone(),
            rollout.metadata.resource_version.clone(),
        ) else {
            return;
        };
        let Ok(mut written) = self.written.lock() else {
            return;
        };
        let key = object_key(rollout);
        let removed = removed.unwrap_or_else(|| {
            written
                .get(&key)
                .filter(|last| last.resource_version == resource_version)
                .map(|last| last.removed.clone())
                .unwrap_or_default()
        });
        written.insert(
            key,
            WrittenStatus {
                uid,
                resource_version,
                status: status.clone(),
                removed,
                unstored_from,
            },
        );
    }

    /// Whether `rollout`'s status is one [`Context::remember_unstored`] laid over it: equal to
    /// what a plan wants, yet not stored.
    pub(crate) fn is_unstored(&self, rollout: &Rollout) -> bool {
        let Ok(written) = self.written.lock() else {
            return false;
        };
        written.get(&object_key(rollout)).is_some_and(|last| {
            last.unstored_from.is_some()
                && rollout.metadata.uid.as_deref() == Some(last.uid.as_str())
                && rollout.status.as_ref() == Some(&last.status)
        })
    }

    pub(crate) fn forget(&self, rollout: &Rollout) {
        if let Ok(mut written) = self.written.lock() {
            written.remove(&object_key(rollout));
        }
        self.counts.written(&object_key(rollout));
        self.backoff.reset(&object_key(rollout));
    }
}

/// The Rollout to plan from given our last status write `last` (see [`Context::freshest`]).
fn fresher_view(rollout: &Rollout, last: &WrittenStatus) -> Rollout {
    let same_object = rollout.metadata.uid.as_deref() == Some(last.uid.as_str());
    let cached_version = rollout.metadata.resource_version.as_deref();
    let at_ours = cached_version == Some(last.resource_version.as_str());
    let behind = !at_ours && is_older(cached_version, &last.resource_version);
    let cached_status = rollout.status.clone().unwrap_or_default();
    let use_ours = same_object
        && match &last.unstored_from {
            // Nothing but our own status write happened since (else the cache would be newer),
            // so the status write may carry the version that write produced.
            None => behind && cached_status != last.status,
            // Effects carried out, status not stored: they stand while the Rollout is (at most)
            // the version they were planned from, or while its status is still the one they
            // were planned from.
            Some(from) => at_ours || behind || cached_status == *from,
        };
    if !use_ours {
        return rollout.clone();
    }
    let mut fresher = rollout.clone();
    fresher.status = Some(last.status.clone());
    if !(at_ours || behind) {
        // Changed since, by someone else: their version, our status.
        return fresher;
    }
    fresher.metadata.resource_version = Some(last.resource_version.clone());
    // Annotations our write removed are gone at that version. Those it did not remove are
    // still there; an action among them that our status lists in `appliedActions` is not
    // carried out again (the plan consumes it without acting).
    if let Some(annotations) = fresher.metadata.annotations.as_mut() {
        for (key, value) in &last.removed {
            if annotations.get(key) == Some(value) {
                annotations.remove(key);
            }
        }
    }
    fresher
}

/// Whether resourceVersion `cached` is older than `written`. resourceVersions are opaque
/// strings; when both parse as integers (etcd revisions, and kulta-sim) they are compared as
/// such, otherwise any difference counts as older.
pub(crate) fn is_older(cached: Option<&str>, written: &str) -> bool {
    match (
        cached.and_then(|c| c.parse::<u64>().ok()),
        written.parse::<u64>().ok(),
    ) {
        (Some(cached), Some(written)) => cached < written,
        _ => true,
    }
}

/// `namespace/name` of a Rollout.
pub fn object_key(rollout: &Rollout) -> String {
    format!(
        "{}/{}",
        rollout.metadata.namespace.as_deref().unwrap_or_default(),
        rollout.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Exponential per-object backoff: 1s, 2s, 4s ... capped, reset on success.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempts: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// A backoff starting at `base`, doubling, capped at `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// The delay before the next attempt for `key`, counting this failure.
    pub fn next(&self, key: &str) -> Duration {
        let attempt = match self.attempts.lock() {
            Ok(mut attempts) => {
                let n = attempts.entry(key.to_string()).or_insert(0);
                *n = n.saturating_add(1);
                *n
            }
            Err(_) => 1,
        };
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Forgets the failures of `key`.
    pub fn reset(&self, key: &str) {
        if let Ok(mut attempts) = self.attempts.lock() {
            attempts.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::ResourceExt;
    use kulta_api::labels;

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let delays: Vec<u64> = (0..5).map(|_| backoff.next("a").as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 5, 5]);
        assert_eq!(backoff.next("b").as_secs(), 1, "per object");
        backoff.reset("a");
        assert_eq!(backoff.next("a").as_secs(), 1);
    }

    #[test]
    fn a_cache_behind_our_write_does_not_replay_consumed_actions() {
        let mut cached = kulta_api::testing::RolloutBuilder::new("app")
            .uid("u")
            .annotation(labels::PROMOTE_ANNOTATION, "true")
            .annotation("team", "a")
            .build();
        cached.metadata.resource_version = Some("10".into());
        let last = WrittenStatus {
            uid: "u".into(),
            resource_version: "12".into(),
            status: RolloutStatus {
                current_step_index: Some(2),
                ..RolloutStatus::default()
            },
            removed: vec![(labels::PROMOTE_ANNOTATION.into(), "true".into())],
            unstored_from: None,
        };
        let view = fresher_view(&cached, &last);
        assert_eq!(view.metadata.resource_version.as_deref(), Some("12"));
        assert_eq!(
            view.status.as_ref().and_then(|s| s.current_step_index),
            Some(2)
        );
        let annotations = view.metadata.annotations.unwrap_or_default();
        assert!(!annotations.contains_key(labels::PROMOTE_ANNOTATION));
        assert!(annotations.contains_key("team"));
        // A cache at or past our write is planned from as it is.
        cached.metadata.resource_version = Some("13".into());
        let view = fresher_view(&cached, &last);
        assert!(view.annotations().contains_key(labels::PROMOTE_ANNOTATION));
    }

    #[test]
    fn effects_whose_status_was_not_stored_stand_until_another_status_is() {
        let mut cached = kulta_api::testing::RolloutBuilder::new("app")
            .uid("u")
            .build();
        cached.metadata.resource_version = Some("10".into());
        cached.status = Some(RolloutStatus {
            current_step_index: Some(1),
            ..RolloutStatus::default()
        });
        let unstored = WrittenStatus {
            uid: "u".into(),
            resource_version: "10".into(),
            status: RolloutStatus {
                current_step_index: Some(2),
                ..RolloutStatus::default()
            },
            removed: Vec::new(),
            unstored_from: Some(RolloutStatus {
                current_step_index: Some(1),
                ..RolloutStatus::default()
            }),
        };
        let step = |view: &Rollout| view.status.as_ref().and_then(|s| s.current_step_index);
        let view = fresher_view(&cached, &unstored);
        assert_eq!(step(&view), Some(2), "planned from what was carried out");
        assert_eq!(
            view.metadata.resource_version.as_deref(),
            Some("10"),
            "its status write is conditional on the version it was planned from"
        );
        cached.metadata.resource_version = Some("9".into());
        let view = fresher_view(&cached, &unstored);
        assert_eq!(
            step(&view),
            Some(2),
            "a cache behind the version planned from"
        );
        assert_eq!(view.metadata.resource_version.as_deref(), Some("10"));
        // Someone changed its spec or metadata since (the status write conflicted): their
        // version, our status.
        cached.metadata.resource_version = Some("11".into());
        let view = fresher_view(&cached, &unstored);
        assert_eq!(step(&view), Some(2));
        assert_eq!(view.metadata.resource_version.as_deref(), Some("11"));
        // Its status changed since (another reconcile stored one): planned from as it is.
        cached.status = Some(RolloutStatus {
            current_step_index: Some(3),
            ..RolloutStatus::default()
        });
        assert_eq!(step(&fresher_view(&cached, &unstored)), Some(3));
        cached.metadata.uid = Some("other".into());
        cached.metadata.resource_version = Some("10".into());
        assert_eq!(
            step(&fresher_view(&cached, &unstored)),
            Some(3),
            "another object"
        );
    }

    #[test]
    fn pod_counts_wait_at_most_the_delay_from_their_first_change() {
        let counts = PendingCounts::default();
        let first = counts.wait("a").expect("a fresh change waits");
        assert!(first <= PendingCounts::DELAY);
        assert!(counts.wait("b").is_some(), "per object");
        // Still pending: the wait shrinks, it does not restart.
        let again = counts.wait("a").expect("still within the delay");
        assert!(again <= first);
        counts.written("a");
        assert!(
            counts.wait("a").is_some(),
            "a new change after a write waits again"
        );
        if let (Ok(mut since), Some(long_ago)) = (
            counts.since.lock(),
            std::time::Instant::now().checked_sub(PendingCounts::DELAY * 2),
        ) {
            since.insert("c".into(), long_ago);
        }
        assert_eq!(counts.wait("c"), None, "due");
    }

    #[test]
    fn resource_versions_compare_as_numbers_when_they_are() {
        assert!(is_older(Some("9"), "10"));
        assert!(!is_older(Some("11"), "10"));
        assert!(is_older(Some("abc"), "10"));
    }
}
