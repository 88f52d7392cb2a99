//! Owner-reference garbage collection: background (dependents removed once their owners are
//! gone), foreground (the owner waits with the `foregroundDeletion` finalizer until dependents
//! with `blockOwnerDeletion` are gone) and orphan (owner references removed).
//!
//! Unlike the real asynchronous garbage collector, it runs synchronously inside the write that
//! triggers it, so dependents are gone (or terminating) when the delete request returns.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::kinds::resources::GroupResource;
use crate::storage::delete::{DeleteOptions, Propagation, finalizers};
use crate::storage::store::{EventType, ObjectKey, StoreInner};

pub(crate) use crate::storage::store::FOREGROUND_FINALIZER;

/// One dependent: where it lives and its current state.
pub(crate) type Dependent = (GroupResource, ObjectKey, Arc<Value>);

fn owner_uids(object: &Value) -> Vec<(String, bool)> {
    object["metadata"]["ownerReferences"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .filter_map(|r| {
                    Some((
                        r["uid"].as_str()?.to_string(),
                        r["blockOwnerDeletion"].as_bool().unwrap_or(false),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Objects with an owner reference to `uid`.
pub(crate) fn dependents(store: &StoreInner, uid: &str) -> Vec<Dependent> {
    if uid.is_empty() {
        return Vec::new();
    }
    store.dependents_of(uid)
}

fn without_owner(object: &Value, uids: &[String]) -> Value {
    let mut next = object.clone();
    if let Some(refs) = next["metadata"]["ownerReferences"].as_array_mut() {
        refs.retain(|r| {
            !r["uid"]
                .as_str()
                .is_some_and(|u| uids.iter().any(|x| x == u))
        });
        if refs.is_empty()
            && let Some(metadata) = next["metadata"].as_object_mut()
        {
            metadata.remove("ownerReferences");
        }
    }
    next
}

/// Orphan propagation: removes the owner reference from every dependent.
pub(crate) fn orphan_dependents(store: &mut StoreInner, uid: &str) {
    for (gr, key, object) in dependents(store, uid) {
        let next = without_owner(&object, &[uid.to_string()]);
        store.commit(&gr, key, next, EventType::Modified);
    }
}

fn delete_with(
    store: &mut StoreInner,
    gr: &GroupResource,
    key: &ObjectKey,
    propagation: Propagation,
) {
    let Some(resource) = store.registry.any_version(&gr.group, &gr.resource) else {
        return;
    };
    let options = DeleteOptions {
        propagation: Some(propagation),
        ..DeleteOptions::default()
    };
    // The object may already be gone or terminating; either way there is nothing to report.
    let _ = store.delete(&resource, &key.0, &key.1, &options);
}

/// Foreground propagation: deletes every dependent (themselves in the foreground).
pub(crate) fn delete_dependents_foreground(store: &mut StoreInner, uid: &str) {
    for (gr, key, object) in dependents(store, uid) {
        if object["metadata"].get("deletionTimestamp").is_none() {
            delete_with(store, &gr, &key, Propagation::Foreground);
        }
    }
}

/// Releases owners in foreground deletion whose blocking dependents are all gone.
pub(crate) fn settle_foreground(store: &mut StoreInner) {
    loop {
        let waiting: Vec<Dependent> = store.foreground_waiting();
        let mut changed = false;
        for (gr, key, object) in waiting {
            let uid = object["metadata"]["uid"].as_str().unwrap_or_default();
            let blocked = dependents(store, uid).iter().any(|(_, _, dependent)| {
                owner_uids(dependent)
                    .iter()
                    .any(|(u, block)| u == uid && *block)
            });
            if blocked {
                continue;
            }
            let mut next = (*object).clone();
            let remaining: Vec<String> = finalizers(&object)
                .into_iter()
                .filter(|f| f != FOREGROUND_FINALIZER)
                .collect();
            if remaining.is_empty() {
                if let Some(metadata) = next["metadata"].as_object_mut() {
                    metadata.remove("finalizers");
                }
            } else {
                next["metadata"]["finalizers"] = json!(remaining);
            }
            store.commit(&gr, key.clone(), next, EventType::Modified);
            if remaining.is_empty() {
                store.finish_deletion(&gr, &key);
            }
            changed = true;
        }
        if !changed {
            return;
        }
    }
}

/// Background collection after `uid` left the store: dependents whose owners are all gone are
/// deleted; dependents with other living owners lose the dangling reference.
pub(crate) fn collect_after_removal(store: &mut StoreInner, uid: &str, _removed: &Value) {
    for (gr, key, object) in dependents(store, uid) {
        let owners = owner_uids(&object);
        let dangling: Vec<String> = owners
            .iter()
            .filter(|(u, _)| store.locate_uid(u).is_none())
            .map(|(u, _)| u.clone())
            .collect();
        if dangling.len() == owners.len() {
            if object["metadata"].get("deletionTimestamp").is_none() {
                delete_with(store, &gr, &key, Propagation::Background);
            }
        } else {
            let next = without_owner(&object, &dangling);
            store.commit(&gr, key, next, EventType::Modified);
        }
    }
    settle_foreground(store);
}

/// Deletes every object of a namespace (the namespace controller's job on a real cluster).
pub(crate) fn delete_namespace_contents(store: &mut StoreInner, namespace: &str) {
    let targets: Vec<(GroupResource, ObjectKey)> = store
        .iter_all()
        .filter(|(_, key, _)| key.0 == namespace)
        .map(|(gr, key, _)| (gr.clone(), key.clone()))
        .collect();
    for (gr, key) in targets {
        delete_with(store, &gr, &key, Propagation::Background);
    }
}
