//! The resource table: every kind the sim serves, built-in or registered by a CRD, as data.
//!
//! Handlers never know a kind by name; they look up a [`ResourceType`] by group, version and
//! plural and act on what it declares (scope, subresources, schema, printer columns).
//!
//! Long because it is a table: the built-in kinds the sim serves, one entry each (the code is
//! ~220 lines; the rest is its tests).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::kinds::schema::Schema;

/// The verbs every resource of the sim supports.
pub(crate) const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Where a scale subresource reads and writes replicas (`.spec.replicas` style JSONPaths).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScaleSpec {
    /// Path of the desired replicas, e.g. `.spec.replicas`.
    pub spec_replicas_path: String,
    /// Path of the observed replicas, e.g. `.status.replicas`.
    pub status_replicas_path: String,
    /// Path of the label selector string in status, if any.
    pub label_selector_path: Option<String>,
    /// Built-in apps kinds compute the selector from `spec.selector` instead.
    pub selector_from_spec: bool,
}

/// One `additionalPrinterColumns` entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// OpenAPI type of the cell (`string`, `integer`, `date`...).
    pub column_type: String,
    /// Simple JSONPath of the value, e.g. `.status.phase`.
    pub json_path: String,
    /// Column description.
    pub description: String,
    /// Priority (0 shows in the default view).
    pub priority: i64,
}

/// Group and plural: how objects are stored (all versions of a kind share storage).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct GroupResource {
    /// API group, empty for the core group.
    pub group: String,
    /// Plural resource name.
    pub resource: String,
}

impl GroupResource {
    /// Builds a group-resource pair.
    pub(crate) fn new(group: &str, resource: &str) -> Self {
        GroupResource {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }
}

/// One served resource at one version.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourceType {
    /// API group, empty for core.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `ReplicaSet`.
    pub kind: String,
    /// Plural resource name.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Short names (`rs`).
    pub short_names: Vec<String>,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Has a `/status` subresource.
    pub status_subresource: bool,
    /// Has a `/scale` subresource.
    pub scale: Option<ScaleSpec>,
    /// Extra table columns.
    pub printer_columns: Vec<PrinterColumn>,
    /// The version's `openAPIV3Schema`, for custom resources, prepared for writes (its CEL
    /// rules are compiled once and shared by every copy of this type).
    pub schema: Option<Arc<Schema>>,
    /// Registered by a CRD.
    pub custom: bool,
    /// The storage version of the kind (informational).
    pub storage_version: bool,
    /// Fields usable in field selectors besides `metadata.name` and `metadata.namespace`: a
    /// path, or `label=path` when the field label names another path.
    pub selectable_fields: Vec<String>,
}

impl ResourceType {
    /// `apps/v1` or `v1`.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The storage key.
    pub(crate) fn group_resource(&self) -> GroupResource {
        GroupResource::new(&self.group, &self.plural)
    }

    /// `ReplicaSetList`.
    pub(crate) fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The URL prefix of this group-version: `/api/v1` or `/apis/apps/v1`.
    pub(crate) fn gv_prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn builtin(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    short_names: &[&str],
    namespaced: bool,
    categories: &[&str],
    status: bool,
    scale: bool,
) -> ResourceType {
    ResourceType {
        group: group.to_string(),
        version: version.to_string(),
        kind: kind.to_string(),
        plural: plural.to_string(),
        singular: kind.to_lowercase(),
        short_names: short_names.iter().map(|s| s.to_string()).collect(),
        namespaced,
        categories: categories.iter().map(|s| s.to_string()).collect(),
        status_subresource: status,
        scale: scale.then(|| ScaleSpec {
            spec_replicas_path: ".spec.replicas".to_string(),
            status_replicas_path: ".status.replicas".to_string(),
            label_selector_path: None,
            selector_from_spec: true,
        }),
        printer_columns: Vec::new(),
        schema: None,
        custom: false,
        storage_version: true,
        selectable_fields: builtin_selectable_fields(group, kind),
    }
}

fn builtin_selectable_fields(group: &str, kind: &str) -> Vec<String> {
    let fields: &[&str] = match (group, kind) {
        ("", "Event") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source=source.component",
            "type",
        ],
        ("events.k8s.io", "Event") => &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reason",
            "reportingController",
            "type",
        ],
        ("", "Pod") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "Secret") => &["type"],
        ("", "Namespace") => &["status.phase"],
        ("apps", "ReplicaSet") => &["status.replicas"],
        _ => &[],
    };
    fields.iter().map(|f| f.to_string()).collect()
}

/// The built-in kinds the sim serves.
/// The built-in kind `group`/`kind`, for tests.
#[cfg(test)]
pub(crate) fn builtin_kind(group: &str, kind: &str) -> ResourceType {
    builtin_resources()
        .into_iter()
        .find(|resource| resource.group == group && resource.kind == kind)
        .unwrap_or_else(|| panic!("{group}/{kind} is built in"))
}

pub(crate) fn builtin_resources() -> Vec<ResourceType> {
    vec![
        builtin(
            "",
            "v1",
            "Namespace",
            "namespaces",
            &["ns"],
            false,
            &[],
            true,
            false,
        ),
        builtin(
            "",
            "v1",
            "Service",
            "services",
            &["svc"],
            true,
            &["all"],
            true,
            false,
        ),
        builtin(
            "",
            "v1",
            "Pod",
            "pods",
            &["po"],
            true,
            &["all"],
            true,
            false,
        ),
        builtin(
            "",
            "v1",
            "ConfigMap",
            "configmaps",
            &["cm"],
            true,
            &[],
            false,
            false,
        ),
        builtin("", "v1", "Secret", "secrets", &[], true, &[], false, false),
        builtin(
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            &["sa"],
            true,
            &[],
            false,
            false,
        ),
        builtin(
            "",
            "v1",
            "Event",
            "events",
            &["ev"],
            true,
            &[],
            false,
            false,
        ),
        builtin(
            "events.k8s.io",
            "v1",
            "Event",
            "events",
            &["ev"],
            true,
            &[],
            false,
            false,
        ),
        builtin(
            "apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            &["rs"],
            true,
            &["all"],
            true,
            true,
        ),
        builtin(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            &["deploy"],
            true,
            &["all"],
            true,
            true,
        ),
        builtin(
            "coordination.k8s.io",
            "v1",
            "Lease",
            "leases",
            &[],
            true,
            &[],
            false,
            false,
        ),
        builtin(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            &["pdb"],
            true,
            &[],
            true,
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "Role",
            "roles",
            &[],
            true,
            &[],
            false,
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            &[],
            true,
            &[],
            false,
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            &[],
            false,
            &[],
            false,
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            &[],
            false,
            &[],
            false,
            false,
        ),
        builtin(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            &["crd", "crds"],
            false,
            &["api-extensions"],
            true,
            false,
        ),
    ]
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The resource types a CRD object registers: one per served version.
pub(crate) fn from_crd(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let names = &spec["names"];
    let kind = names["kind"].as_str().unwrap_or_default();
    let plural = names["plural"].as_str().unwrap_or_default();
    let singular = names["singular"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let Some(versions) = spec["versions"].as_array() else {
        return Vec::new();
    };
    versions
        .iter()
        .filter(|version| version["served"].as_bool().unwrap_or(true))
        .filter_map(|version| {
            let name = version["name"].as_str()?;
            let subresources = &version["subresources"];
            let scale = subresources.get("scale").map(|scale| ScaleSpec {
                spec_replicas_path: scale["specReplicasPath"]
                    .as_str()
                    .unwrap_or(".spec.replicas")
                    .to_string(),
                status_replicas_path: scale["statusReplicasPath"]
                    .as_str()
                    .unwrap_or(".status.replicas")
                    .to_string(),
                label_selector_path: scale["labelSelectorPath"].as_str().map(str::to_string),
                selector_from_spec: false,
            });
            let printer_columns = version["additionalPrinterColumns"]
                .as_array()
                .map(|columns| {
                    columns
                        .iter()
                        .map(|column| PrinterColumn {
                            name: column["name"].as_str().unwrap_or_default().to_string(),
                            column_type: column["type"].as_str().unwrap_or("string").to_string(),
                            json_path: column["jsonPath"].as_str().unwrap_or_default().to_string(),
                            description: column["description"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                            priority: column["priority"].as_i64().unwrap_or(0),
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(ResourceType {
                group: group.to_string(),
                version: name.to_string(),
                kind: kind.to_string(),
                plural: plural.to_string(),
                singular: singular.clone(),
                short_names: strings(&names["shortNames"]),
                namespaced,
                categories: strings(&names["categories"]),
                status_subresource: subresources.get("status").is_some(),
                scale,
                printer_columns,
                schema: version["schema"]
                    .get("openAPIV3Schema")
                    .map(|schema| Arc::new(Schema::new(schema.clone()))),
                custom: true,
                storage_version: version["storage"].as_bool().unwrap_or(false),
                selectable_fields: version["selectableFields"]
                    .as_array()
                    .map(|fields| {
                        fields
                            .iter()
                            .filter_map(|f| f["jsonPath"].as_str())
                            .map(|path| path.trim_start_matches('.').to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// All served resource types, keyed by group, version and plural.
#[derive(Debug, Default, Clone)]
pub(crate) struct Registry {
    by_gvr: BTreeMap<(String, String, String), Arc<ResourceType>>,
}

impl Registry {
    /// A registry holding the built-in kinds.
    pub(crate) fn with_builtins() -> Self {
        let mut registry = Registry::default();
        for resource in builtin_resources() {
            registry.insert(resource);
        }
        registry
    }

    /// Registers (or replaces) one resource type.
    pub(crate) fn insert(&mut self, resource: ResourceType) {
        self.by_gvr.insert(
            (
                resource.group.clone(),
                resource.version.clone(),
                resource.plural.clone(),
            ),
            Arc::new(resource),
        );
    }

    /// Removes every version of a custom group-resource.
    pub(crate) fn remove_custom(&mut self, group: &str, plural: &str) {
        self.by_gvr
            .retain(|(g, _, p), rt| !(rt.custom && g == group && p == plural));
    }

    /// Looks a resource up by group, version and plural.
    pub(crate) fn get(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<Arc<ResourceType>> {
        self.by_gvr
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// Any version of a group-resource (the storage version first).
    pub(crate) fn any_version(&self, group: &str, plural: &str) -> Option<Arc<ResourceType>> {
        let mut found: Option<Arc<ResourceType>> = None;
        for ((g, _, p), rt) in &self.by_gvr {
            if g == group && p == plural {
                if rt.storage_version {
                    return Some(rt.clone());
                }
                found.get_or_insert_with(|| rt.clone());
            }
        }
        found
    }

    /// Every served resource type.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.by_gvr.values()
    }

    /// Every version served for a group, in a stable order (preferred first, `v1` style sort).
    pub(crate) fn versions_of(&self, group: &str) -> Vec<String> {
        let mut versions: Vec<String> = self
            .by_gvr
            .keys()
            .filter(|(g, _, _)| g == group)
            .map(|(_, v, _)| v.clone())
            .collect();
        versions.dedup();
        versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        versions
    }

    /// Every group served, core (`""`) first.
    pub(crate) fn groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = self.by_gvr.keys().map(|(g, _, _)| g.clone()).collect();
        groups.dedup();
        groups.sort_by_key(|g| {
            (
                !g.is_empty(),
                g.contains('.') && !g.ends_with(".k8s.io"),
                g.clone(),
            )
        });
        groups.dedup();
        groups
    }

    /// Every resource type of one group-version.
    pub(crate) fn of_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceType>> {
        self.by_gvr
            .iter()
            .filter(|((g, v, _), _)| g == group && v == version)
            .map(|(_, rt)| rt.clone())
            .collect()
    }
}

/// Kubernetes version priority: GA > beta > alpha, higher numbers first.
pub(crate) fn version_priority(version: &str) -> (u8, u64, u64) {
    let rest = version.strip_prefix('v').unwrap_or(version);
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major = digits.parse::<u64>().unwrap_or(0);
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        (3, major, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, major, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, major, n.parse().unwrap_or(0))
    } else {
        (0, major, 0)
    }
}
