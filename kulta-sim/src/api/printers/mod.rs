//! Table columns of the built-in kinds, as the real server's printers (`pkg/printers/
//! internalversion`) compute them from an object: `kubectl get deployments` shows NAME READY
//! UP-TO-DATE AVAILABLE AGE, pods NAME READY STATUS RESTARTS AGE, and so on. Priority-1 columns
//! appear with `-o wide`. [`crate::api::table`] uses these for built-in kinds; custom resources use
//! their CRD's `additionalPrinterColumns`.
//!
//! The printers themselves are in this directory's files; the length here is their shared tests.

use serde_json::{Value, json};

use crate::api::table::human_age;
use crate::kinds::resources::ResourceType;

mod pods;
#[cfg(test)]
mod tests;

use pods::pod_row;

/// One column definition of a Table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Column {
    /// Header, e.g. `Up-to-date` (kubectl upper-cases it).
    pub name: &'static str,
    /// OpenAPI type of the cells: `string`, `integer` or `date`.
    pub column_type: &'static str,
    /// 0 in the default view, 1 with `-o wide`.
    pub priority: i64,
    /// What the column shows.
    pub description: &'static str,
}

impl Column {
    /// The column's `TableColumnDefinition` JSON.
    pub(crate) fn definition(&self) -> Value {
        let format = if self.name == "Name" { "name" } else { "" };
        json!({
            "name": self.name, "type": self.column_type, "format": format,
            "description": self.description, "priority": self.priority,
        })
    }
}

/// Computes a row's cells, one per column, from an object.
pub(crate) type RowFn = fn(&Value) -> Vec<Value>;

/// The columns of one built-in kind and how to compute a row's cells from an object.
#[derive(Debug, Clone)]
pub(crate) struct Printer {
    /// Column definitions, in order.
    pub columns: Vec<Column>,
    /// One cell per column.
    pub row: RowFn,
}

const fn column(name: &'static str, column_type: &'static str, priority: i64) -> Column {
    Column {
        name,
        column_type,
        priority,
        description: "",
    }
}

const NAME: Column = Column {
    name: "Name",
    column_type: "string",
    priority: 0,
    description: "Name must be unique within a namespace.",
};
const AGE: Column = Column {
    name: "Age",
    column_type: "string",
    priority: 0,
    description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
};
const CREATED_AT: Column = Column {
    name: "Created At",
    column_type: "date",
    priority: 0,
    description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
};

/// The printer of a built-in kind; `None` for custom resources.
pub(crate) fn printer(resource: &ResourceType) -> Option<Printer> {
    if resource.custom {
        return None;
    }
    let (columns, row): (Vec<Column>, RowFn) =
        match (resource.group.as_str(), resource.kind.as_str()) {
            ("apps", "Deployment") => (
                vec![
                    NAME,
                    column("Ready", "string", 0),
                    column("Up-to-date", "integer", 0),
                    column("Available", "integer", 0),
                    AGE,
                    column("Containers", "string", 1),
                    column("Images", "string", 1),
                    column("Selector", "string", 1),
                ],
                deployment_row,
            ),
            ("apps", "ReplicaSet") => (
                vec![
                    NAME,
                    column("Desired", "integer", 0),
                    column("Current", "integer", 0),
                    column("Ready", "integer", 0),
                    AGE,
                    column("Containers", "string", 1),
                    column("Images", "string", 1),
                    column("Selector", "string", 1),
                ],
                replicaset_row,
            ),
            ("", "Pod") => (
                vec![
                    NAME,
                    column("Ready", "string", 0),
                    column("Status", "string", 0),
                    column("Restarts", "string", 0),
                    AGE,
                    column("IP", "string", 1),
                    column("Node", "string", 1),
                    column("Nominated Node", "string", 1),
                    column("Readiness Gates", "string", 1),
                ],
                pod_row,
            ),
            ("", "Service") => (
                vec![
                    NAME,
                    column("Type", "string", 0),
                    column("Cluster-IP", "string", 0),
                    column("External-IP", "string", 0),
                    column("Port(s)", "string", 0),
                    AGE,
                    column("Selector", "string", 1),
                ],
                service_row,
            ),
            ("", "Namespace") => (vec![NAME, column("Status", "string", 0), AGE], |o| {
                vec![name(o), text(&o["status"]["phase"]), age(o)]
            }),
            ("", "ConfigMap") => (vec![NAME, column("Data", "integer", 0), AGE], |o| {
                vec![
                    name(o),
                    json!(count(&o["data"]).saturating_add(count(&o["binaryData"]))),
                    age(o),
                ]
            }),
            ("", "Secret") => (
                vec![
                    NAME,
                    column("Type", "string", 0),
                    column("Data", "integer", 0),
                    AGE,
                ],
                |o| vec![name(o), text(&o["type"]), json!(count(&o["data"])), age(o)],
            ),
            ("", "ServiceAccount") => (vec![NAME, column("Secrets", "integer", 0), AGE], |o| {
                vec![name(o), json!(count(&o["secrets"])), age(o)]
            }),
            ("coordination.k8s.io", "Lease") => {
                (vec![NAME, column("Holder", "string", 0), AGE], |o| {
                    vec![name(o), text(&o["spec"]["holderIdentity"]), age(o)]
                })
            }
            ("", "Event") | ("events.k8s.io", "Event") => (
                vec![
                    column("Last Seen", "string", 0),
                    column("Type", "string", 0),
                    column("Reason", "string", 0),
                    column("Object", "string", 0),
                    column("Subobject", "string", 1),
                    column("Source", "string", 1),
                    column("Message", "string", 0),
                    column("First Seen", "string", 1),
                    column("Count", "integer", 1),
                    column("Name", "string", 1),
                ],
                event_row,
            ),
            ("policy", "PodDisruptionBudget") => (
                vec![
                    NAME,
                    column("Min Available", "string", 0),
                    column("Max Unavailable", "string", 0),
                    column("Allowed Disruptions", "integer", 0),
                    AGE,
                ],
                |o| {
                    vec![
                        name(o),
                        int_or_string_or_na(&o["spec"]["minAvailable"]),
                        int_or_string_or_na(&o["spec"]["maxUnavailable"]),
                        json!(int(&o["status"]["disruptionsAllowed"])),
                        age(o),
                    ]
                },
            ),
            ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => (
                vec![
                    NAME,
                    column("Role", "string", 0),
                    AGE,
                    column("Users", "string", 1),
                    column("Groups", "string", 1),
                    column("ServiceAccounts", "string", 1),
                ],
                binding_row,
            ),
            // Kinds without a printer of their own get the server's default convertor.
            _ => (vec![NAME, CREATED_AT], |o| {
                vec![name(o), o["metadata"]["creationTimestamp"].clone()]
            }),
        };
    Some(Printer { columns, row })
}

fn name(object: &Value) -> Value {
    object["metadata"]["name"].clone()
}

fn age(object: &Value) -> Value {
    json!(human_age(
        object["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap_or_default()
    ))
}

/// A string field, `""` when absent (the Go printers read zero values).
fn text(value: &Value) -> Value {
    json!(value.as_str().unwrap_or_default())
}

fn int(value: &Value) -> i64 {
    value.as_i64().unwrap_or(0)
}

fn count(value: &Value) -> usize {
    match value {
        Value::Object(map) => map.len(),
        Value::Array(items) => items.len(),
        _ => 0,
    }
}

fn or_none(items: Vec<String>) -> Value {
    if items.is_empty() {
        json!("<none>")
    } else {
        json!(items.join(","))
    }
}

fn int_or_string_or_na(value: &Value) -> Value {
    match value {
        Value::Number(number) => json!(number.to_string()),
        Value::String(text) => json!(text),
        _ => json!("N/A"),
    }
}

fn strings_of(items: &Value, field: &str) -> Vec<String> {
    items
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| item[field].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `metav1.LabelSelectorAsSelector(...).String()`: sorted requirements, `<none>` when empty.
fn label_selector(selector: &Value) -> Value {
    let mut requirements = Vec::new();
    if let Some(labels) = selector["matchLabels"].as_object() {
        for (key, value) in labels {
            requirements.push((
                key.clone(),
                format!("{key}={}", value.as_str().unwrap_or_default()),
            ));
        }
    }
    for expression in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = expression["key"].as_str().unwrap_or_default();
        let mut values: Vec<&str> = expression["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let rendered = match expression["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other}"),
        };
        requirements.push((key.to_string(), rendered));
    }
    requirements.sort();
    or_none(requirements.into_iter().map(|(_, text)| text).collect())
}

fn map_selector(selector: &Value) -> Value {
    let pairs = selector
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    or_none(pairs)
}

fn template_cells(spec: &Value) -> [Value; 3] {
    let containers = &spec["template"]["spec"]["containers"];
    [
        json!(strings_of(containers, "name").join(",")),
        json!(strings_of(containers, "image").join(",")),
        label_selector(&spec["selector"]),
    ]
}

fn deployment_row(object: &Value) -> Vec<Value> {
    let (spec, status) = (&object["spec"], &object["status"]);
    let [containers, images, selector] = template_cells(spec);
    vec![
        name(object),
        json!(format!(
            "{}/{}",
            int(&status["readyReplicas"]),
            int(&spec["replicas"])
        )),
        json!(int(&status["updatedReplicas"])),
        json!(int(&status["availableReplicas"])),
        age(object),
        containers,
        images,
        selector,
    ]
}

fn replicaset_row(object: &Value) -> Vec<Value> {
    let (spec, status) = (&object["spec"], &object["status"]);
    let [containers, images, selector] = template_cells(spec);
    vec![
        name(object),
        json!(int(&spec["replicas"])),
        json!(int(&status["replicas"])),
        json!(int(&status["readyReplicas"])),
        age(object),
        containers,
        images,
        selector,
    ]
}

fn service_row(object: &Value) -> Vec<Value> {
    let spec = &object["spec"];
    let service_type = spec["type"].as_str().unwrap_or_default();
    let external_ips: Vec<String> = spec["externalIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let external = match service_type {
        "ExternalName" => text(&spec["externalName"]),
        "LoadBalancer" => {
            let mut addresses: Vec<String> = object["status"]["loadBalancer"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|ingress| ingress["ip"].as_str().or(ingress["hostname"].as_str()))
                .map(str::to_string)
                .collect();
            addresses.extend(external_ips);
            if addresses.is_empty() {
                json!("<pending>")
            } else {
                json!(addresses.join(","))
            }
        }
        _ => or_none(external_ips),
    };
    let ports = spec["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|port| {
            let protocol = port["protocol"].as_str().unwrap_or("TCP");
            match int(&port["nodePort"]) {
                0 => format!("{}/{protocol}", int(&port["port"])),
                node_port => format!("{}:{node_port}/{protocol}", int(&port["port"])),
            }
        })
        .collect();
    let cluster_ip = match spec["clusterIP"].as_str().filter(|ip| !ip.is_empty()) {
        Some(ip) => json!(ip),
        None => json!("<none>"),
    };
    vec![
        name(object),
        json!(service_type),
        cluster_ip,
        external,
        or_none(ports),
        age(object),
        map_selector(&spec["selector"]),
    ]
}

fn binding_row(object: &Value) -> Vec<Value> {
    let role_ref = &object["roleRef"];
    let subjects = object["subjects"].as_array().cloned().unwrap_or_default();
    let names_of = |kind: &str| -> Vec<String> {
        subjects
            .iter()
            .filter(|subject| subject["kind"] == kind)
            .map(|subject| match subject["namespace"].as_str() {
                Some(namespace) if kind == "ServiceAccount" => {
                    format!(
                        "{namespace}/{}",
                        subject["name"].as_str().unwrap_or_default()
                    )
                }
                _ => subject["name"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    };
    vec![
        name(object),
        json!(format!(
            "{}/{}",
            role_ref["kind"].as_str().unwrap_or_default(),
            role_ref["name"].as_str().unwrap_or_default()
        )),
        age(object),
        json!(names_of("User").join(", ")),
        json!(names_of("Group").join(", ")),
        json!(names_of("ServiceAccount").join(", ")),
    ]
}

/// Events of both groups: core v1 (`involvedObject`, `message`, `count`, `source`) and
/// `events.k8s.io/v1` (`regarding`, `note`, `deprecatedCount`, `reportingController`).
fn event_row(object: &Value) -> Vec<Value> {
    let first = |keys: &[&str]| -> Option<String> {
        keys.iter()
            .find_map(|key| object[*key].as_str().filter(|s| !s.is_empty()))
            .map(str::to_string)
    };
    let regarding = if object.get("regarding").is_some() {
        &object["regarding"]
    } else {
        &object["involvedObject"]
    };
    let first_seen = first(&["eventTime", "firstTimestamp", "deprecatedFirstTimestamp"])
        .or_else(|| first(&["lastTimestamp", "deprecatedLastTimestamp"]))
        .unwrap_or_default();
    let last_seen = object["series"]["lastObservedTime"]
        .as_str()
        .map(str::to_string)
        .or_else(|| first(&["lastTimestamp", "deprecatedLastTimestamp"]))
        .unwrap_or_else(|| first_seen.clone());
    let event_count = object["series"]["count"]
        .as_i64()
        .or(object["count"].as_i64())
        .or(object["deprecatedCount"].as_i64())
        .unwrap_or(1);
    let first_age = human_age(&first_seen);
    let last_seen = if event_count > 1 {
        format!(
            "{} (x{event_count} over {first_age})",
            human_age(&last_seen)
        )
    } else {
        first_age.clone()
    };
    let source = first(&["reportingController", "reportingComponent"])
        .or_else(|| {
            object["source"]["component"]
                .as_str()
                .or(object["deprecatedSource"]["component"].as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let message = first(&["note", "message"]).unwrap_or_default();
    vec![
        json!(last_seen),
        text(&object["type"]),
        text(&object["reason"]),
        json!(format!(
            "{}/{}",
            regarding["kind"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase(),
            regarding["name"].as_str().unwrap_or_default()
        )),
        text(&regarding["fieldPath"]),
        json!(source),
        json!(message),
        json!(first_age),
        json!(event_count),
        name(object),
    ]
}
