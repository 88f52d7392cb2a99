//! Deletion: preconditions, finalizers and `deletionTimestamp`, propagation policies, and the
//! final removal that hands over to the garbage collector and the CRD and namespace hooks.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::api_error::{ApiError, ApiResult, success_status};
use crate::kinds::resources::{GroupResource, ResourceType};
use crate::storage::store::{EventType, StoreInner, now_timestamp};
use crate::storage::{crd, gc, objectmeta};

/// `propagationPolicy` of a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Propagation {
    /// Dependents deleted after the owner is gone.
    Background,
    /// Dependents deleted first, the owner waits with the `foregroundDeletion` finalizer.
    Foreground,
    /// Dependents keep living without the owner reference.
    Orphan,
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOptions {
    /// `propagationPolicy`; `None` means the default (Background).
    pub propagation: Option<Propagation>,
    /// `preconditions.uid`.
    pub precondition_uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub precondition_resource_version: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

/// What a delete did.
#[derive(Debug, Clone)]
pub(crate) enum DeleteOutcome {
    /// The object is gone; the body is a `Status` of success.
    Deleted(Value),
    /// The object waits for finalizers; the body is the object.
    Pending(Arc<Value>),
}

impl DeleteOutcome {
    /// The response body.
    pub(crate) fn body(&self) -> Value {
        match self {
            DeleteOutcome::Deleted(status) => status.clone(),
            DeleteOutcome::Pending(object) => (**object).clone(),
        }
    }
}

impl StoreInner {
    /// Deletes an object following finalizers and the propagation policy.
    ///
    /// # Errors
    /// 404 when absent, 409 on a failed precondition.
    pub(crate) fn delete(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> ApiResult<DeleteOutcome> {
        let group_resource = resource.group_resource();
        let namespace = if resource.namespaced { namespace } else { "" };
        let old = self
            .get(&group_resource, namespace, name)
            .ok_or_else(|| ApiError::not_found(&resource.group, &resource.plural, name))?;
        let uid = old["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(expected) = &options.precondition_uid
            && expected != &uid
        {
            return Err(ApiError::conflict_with(
                &resource.group,
                &resource.plural,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {expected}, UID in object meta: {uid}"
                ),
            ));
        }
        let current_rv = old["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        if let Some(expected) = &options.precondition_resource_version
            && expected != current_rv
        {
            return Err(ApiError::conflict_with(
                &resource.group,
                &resource.plural,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {expected}, ResourceVersion in object meta: {current_rv}"
                ),
            ));
        }
        let key = (namespace.to_string(), name.to_string());
        let propagation = options.propagation.unwrap_or(Propagation::Background);
        let has_dependents = !gc::dependents(self, &uid).is_empty();
        let foreground = propagation == Propagation::Foreground && has_dependents;
        let finalizer_list = finalizers(&old);
        if options.dry_run {
            let mut preview = (*old).clone();
            if !finalizer_list.is_empty() || foreground {
                mark_deleting(&mut preview, foreground);
                return Ok(DeleteOutcome::Pending(Arc::new(preview)));
            }
            return Ok(DeleteOutcome::Deleted(success_status(
                &resource.group,
                &resource.plural,
                name,
                &uid,
            )));
        }
        if propagation == Propagation::Orphan {
            gc::orphan_dependents(self, &uid);
        }
        if !finalizer_list.is_empty() || foreground {
            let mut next = (*old).clone();
            mark_deleting(&mut next, foreground);
            let stored = if next == *old {
                old
            } else {
                self.commit(&group_resource, key.clone(), next, EventType::Modified)
            };
            if foreground {
                gc::delete_dependents_foreground(self, &uid);
                gc::settle_foreground(self);
                if let Some(current) = self.get(&group_resource, &key.0, &key.1) {
                    return Ok(DeleteOutcome::Pending(current));
                }
                return Ok(DeleteOutcome::Deleted(success_status(
                    &resource.group,
                    &resource.plural,
                    name,
                    &uid,
                )));
            }
            return Ok(DeleteOutcome::Pending(stored));
        }
        self.finish_deletion(&group_resource, &key);
        Ok(DeleteOutcome::Deleted(success_status(
            &resource.group,
            &resource.plural,
            name,
            &uid,
        )))
    }

    /// Removes an object whose finalizers are all gone, then lets the garbage collector and the
    /// CRD and namespace hooks react.
    pub(crate) fn finish_deletion(
        &mut self,
        group_resource: &GroupResource,
        key: &(String, String),
    ) {
        let Some(removed) = self.remove(group_resource, key) else {
            return;
        };
        if crd::is_crd(group_resource) {
            crd::unregister(self, &removed);
        }
        if group_resource.group.is_empty() && group_resource.resource == "namespaces" {
            gc::delete_namespace_contents(self, &key.1);
        }
        let uid = removed["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        gc::collect_after_removal(self, &uid, &removed);
    }
}

/// `metadata.finalizers` as strings.
pub(crate) fn finalizers(object: &Value) -> Vec<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Sets `deletionTimestamp` (once, bumping `metadata.generation` where the kind keeps one: the
/// object's controllers must now stop acting on it, as kube-apiserver's graceful deletion
/// says) and, for foreground deletion, the `foregroundDeletion` finalizer.
pub(crate) fn mark_deleting(object: &mut Value, foreground: bool) {
    if object["metadata"].get("deletionTimestamp").is_none() {
        object["metadata"]["deletionTimestamp"] = Value::String(now_timestamp());
        object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        if let Some(generation) = object["metadata"]["generation"]
            .as_i64()
            .filter(|generation| *generation > 0)
        {
            object["metadata"]["generation"] = json!(objectmeta::next_generation(generation));
        }
    }
    if foreground {
        let mut list = finalizers(object);
        if !list.iter().any(|f| f == gc::FOREGROUND_FINALIZER) {
            list.push(gc::FOREGROUND_FINALIZER.to_string());
            object["metadata"]["finalizers"] = json!(list);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_deletion_bumps_the_generation_once() {
        let mut object = json!({"metadata": {"name": "web", "generation": 2, "finalizers": ["a"]}});
        mark_deleting(&mut object, false);
        assert_eq!(object["metadata"]["generation"], 3);
        assert_eq!(object["metadata"]["deletionGracePeriodSeconds"], 0);
        mark_deleting(&mut object, true);
        assert_eq!(object["metadata"]["generation"], 3, "already deleting");
        assert_eq!(
            finalizers(&object),
            ["a".to_string(), gc::FOREGROUND_FINALIZER.to_string()]
        );

        let mut untracked = json!({"metadata": {"name": "settings", "finalizers": ["a"]}});
        mark_deleting(&mut untracked, false);
        assert!(untracked["metadata"].get("generation").is_none());
    }

    #[test]
    fn a_generation_at_its_maximum_stays_there() {
        let mut object = json!({"metadata": {"name": "web", "generation": i64::MAX}});
        mark_deleting(&mut object, false);
        assert_eq!(object["metadata"]["generation"], i64::MAX);
    }
}
