//! CustomResourceDefinition hooks: validation and defaults of the CRD object, its status
//! (`Established`, `NamesAccepted`, `acceptedNames`, `storedVersions`), and registering or
//! unregistering its kinds when it is created, updated or deleted.

use serde_json::{Value, json};

use crate::api_error::{ApiError, ApiResult};
use crate::kinds::resources::{self, GroupResource};
use crate::kinds::schema::{FieldViolation, ViolationReason};
use crate::storage::store::{StoreInner, now_timestamp};

/// Whether a group-resource is `customresourcedefinitions.apiextensions.k8s.io`.
pub(crate) fn is_crd(group_resource: &GroupResource) -> bool {
    group_resource.group == "apiextensions.k8s.io"
        && group_resource.resource == "customresourcedefinitions"
}

fn invalid(field: &str, reason: ViolationReason, message: String) -> FieldViolation {
    FieldViolation {
        field: field.to_string(),
        reason,
        message,
    }
}

fn check(crd: &Value) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    if group.is_empty() {
        violations.push(invalid(
            "spec.group",
            ViolationReason::Required,
            "Required value".into(),
        ));
    }
    if plural.is_empty() {
        violations.push(invalid(
            "spec.names.plural",
            ViolationReason::Required,
            "Required value".into(),
        ));
    }
    if spec["names"]["kind"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
    {
        violations.push(invalid(
            "spec.names.kind",
            ViolationReason::Required,
            "Required value".into(),
        ));
    }
    match spec["scope"].as_str() {
        Some("Namespaced") | Some("Cluster") => {}
        other => violations.push(invalid(
            "spec.scope",
            ViolationReason::NotSupported,
            format!(
                "Unsupported value: \"{}\": supported values: \"Cluster\", \"Namespaced\"",
                other.unwrap_or_default()
            ),
        )),
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        violations.push(invalid(
            "metadata.name",
            ViolationReason::Invalid,
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    match spec["versions"].as_array() {
        Some(versions) if !versions.is_empty() => {
            let storage = versions
                .iter()
                .filter(|v| v["storage"].as_bool().unwrap_or(false))
                .count();
            if storage != 1 {
                violations.push(invalid(
                    "spec.versions",
                    ViolationReason::Invalid,
                    format!("Invalid value: []apiextensions.CustomResourceDefinitionVersion{{...}}: must have exactly one version marked as storage version (found {storage})"),
                ));
            }
        }
        _ => violations.push(invalid(
            "spec.versions",
            ViolationReason::Invalid,
            "Invalid value: null: must have exactly one version marked as storage version".into(),
        )),
    }
    violations
}

fn accepted_names(crd: &Value) -> Value {
    let mut names = crd["spec"]["names"].clone();
    let kind = names["kind"].as_str().unwrap_or_default().to_string();
    if names.get("singular").is_none() {
        names["singular"] = Value::String(kind.to_lowercase());
    }
    if names.get("listKind").is_none() {
        names["listKind"] = Value::String(format!("{kind}List"));
    }
    names
}

/// Validates a new CRD, fills its defaults and sets its status as the real server's
/// controllers would shortly after creation.
///
/// # Errors
/// 422 Invalid for a malformed CRD.
pub(crate) fn prepare(store: &StoreInner, crd: &mut Value) -> ApiResult<()> {
    let violations = check(crd);
    let name = crd["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !violations.is_empty() {
        return Err(ApiError::invalid_kind(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            &name,
            &violations,
        ));
    }
    let _ = store;
    crd["spec"]["names"] = accepted_names(crd);
    if crd["spec"].get("conversion").is_none() {
        crd["spec"]["conversion"] = json!({"strategy": "None"});
    }
    let now = now_timestamp();
    let storage: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .map(|versions| {
            versions
                .iter()
                .filter(|v| v["storage"].as_bool().unwrap_or(false))
                .map(|v| v["name"].clone())
                .collect()
        })
        .unwrap_or_default();
    crd["status"] = json!({
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
                "lastTransitionTime": now,
            },
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
                "lastTransitionTime": now,
            }
        ],
        "acceptedNames": crd["spec"]["names"].clone(),
        "storedVersions": storage,
    });
    Ok(())
}

/// Checks an updated CRD and keeps `acceptedNames` and `storedVersions` in step with its spec.
///
/// # Errors
/// 422 Invalid for a malformed CRD.
pub(crate) fn prepare_update(crd: &mut Value, old: &Value) -> ApiResult<()> {
    let violations = check(crd);
    if !violations.is_empty() {
        let name = crd["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        return Err(ApiError::invalid_kind(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            &name,
            &violations,
        ));
    }
    crd["spec"]["names"] = accepted_names(crd);
    if !crd.get("status").is_some_and(Value::is_object) {
        crd["status"] = if old["status"].is_object() {
            old["status"].clone()
        } else {
            json!({})
        };
    }
    crd["status"]["acceptedNames"] = crd["spec"]["names"].clone();
    let mut stored: Vec<Value> = crd["status"]["storedVersions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if let Some(versions) = crd["spec"]["versions"].as_array() {
        for version in versions {
            if version["storage"].as_bool().unwrap_or(false) && !stored.contains(&version["name"]) {
                stored.push(version["name"].clone());
            }
        }
    }
    crd["status"]["storedVersions"] = Value::Array(stored);
    Ok(())
}

/// Registers (or re-registers) every served version of a stored CRD.
pub(crate) fn register(store: &mut StoreInner, crd: &Value) {
    let group = crd["spec"]["group"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let plural = crd["spec"]["names"]["plural"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let types = resources::from_crd(crd);
    let before: Vec<_> = store
        .registry
        .all()
        .filter(|rt| rt.custom && rt.group == group && rt.plural == plural)
        .cloned()
        .collect();
    store.registry.remove_custom(&group, &plural);
    for mut resource in types {
        // Every write of the CRD (its status too) registers it again: a version whose schema
        // did not change keeps its prepared schema and the CEL rules compiled for it.
        if let Some(previous) = before
            .iter()
            .find(|previous| previous.version == resource.version)
            .and_then(|previous| previous.schema.as_ref())
            && resource.schema.as_deref() == Some(previous.as_ref())
        {
            resource.schema = Some(previous.clone());
        }
        store.registry.insert(resource);
    }
    let after: Vec<_> = store
        .registry
        .all()
        .filter(|rt| rt.custom && rt.group == group && rt.plural == plural)
        .cloned()
        .collect();
    if before != after {
        store.registry_generation = store.registry_generation.saturating_add(1);
    }
}

/// Unregisters a deleted CRD's kinds and deletes every object of them.
pub(crate) fn unregister(store: &mut StoreInner, crd: &Value) {
    let group = crd["spec"]["group"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let plural = crd["spec"]["names"]["plural"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    store.registry.remove_custom(&group, &plural);
    store.registry_generation = store.registry_generation.saturating_add(1);
    let group_resource = GroupResource::new(&group, &plural);
    for (key, _) in store.list(&group_resource, None) {
        store.finish_deletion(&group_resource, &key);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::kinds::resources::ResourceType;
    use crate::storage::store::{Store, StoreConfig};
    use crate::storage::write::{Part, WriteOptions};

    const NAME: &str = "gadgets.test.kulta.io";

    fn crd(rule: &str) -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": NAME},
            "spec": {"group": "test.kulta.io", "scope": "Namespaced",
                "names": {"plural": "gadgets", "kind": "Gadget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {
                        "type": "object",
                        "properties": {"size": {"type": "integer"}},
                        "x-kubernetes-validations": [{"rule": rule}],
                    }}}}}]},
        })
    }

    fn gadget(size: i64) -> Value {
        json!({"apiVersion": "test.kulta.io/v1", "kind": "Gadget", "metadata": {"name": "g"},
            "spec": {"size": size}})
    }

    fn gadgets(inner: &StoreInner) -> Arc<ResourceType> {
        inner
            .registry
            .get("test.kulta.io", "v1", "gadgets")
            .unwrap()
    }

    #[test]
    fn crd_writes_keep_compiled_rules_until_the_schema_changes() {
        let store = Store::new(StoreConfig::default());
        let mut inner = store.lock();
        let crds = inner
            .registry
            .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .unwrap();
        let crd_key = crds.group_resource();
        let options = WriteOptions::default();
        inner
            .create(&crds, "", crd("self.size < 10"), options)
            .unwrap();
        let first = gadgets(&inner);
        let schema = first.schema.clone().unwrap();
        assert!(!schema.is_compiled());
        inner.create(&first, "default", gadget(3), options).unwrap();
        assert!(schema.is_compiled(), "the first write compiles the rules");

        // A write that leaves the schema alone keeps the prepared schema and its programs.
        let mut labelled = (*inner.get(&crd_key, "", NAME).unwrap()).clone();
        labelled["metadata"]["labels"] = json!({"touched": "yes"});
        inner
            .update(&crds, "", NAME, labelled, Part::Main, options)
            .unwrap();
        let kept = gadgets(&inner);
        assert!(Arc::ptr_eq(&schema, kept.schema.as_ref().unwrap()));
        let error = inner
            .update(&kept, "default", "g", gadget(12), Part::Main, options)
            .unwrap_err();
        assert_eq!(error.code, 422);

        // A changed rule is a new schema: the next write compiles and applies it.
        let mut changed = crd("self.size < 2");
        changed["metadata"]["resourceVersion"] =
            inner.get(&crd_key, "", NAME).unwrap()["metadata"]["resourceVersion"].clone();
        inner
            .update(&crds, "", NAME, changed, Part::Main, options)
            .unwrap();
        let replaced = gadgets(&inner);
        assert!(!Arc::ptr_eq(&schema, replaced.schema.as_ref().unwrap()));
        let error = inner
            .update(&replaced, "default", "g", gadget(3), Part::Main, options)
            .unwrap_err();
        assert_eq!(error.code, 422);
        inner
            .update(&replaced, "default", "g", gadget(1), Part::Main, options)
            .unwrap();
    }
}
