//! `meta.k8s.io/v1` Table rendering for `kubectl get`: a Name column, the CRD's
//! `additionalPrinterColumns` (or Age), with each row's object as `PartialObjectMetadata` or in
//! full.

use serde_json::{Value, json};

use crate::jsonpath;
use crate::resources::ResourceType;

/// Whether an `Accept` header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

/// A Kubernetes-style short age: `42s`, `5m10s`, `3h`, `2d`.
pub fn human_age(created: &str) -> String {
    let Ok(created) = chrono::DateTime::parse_from_rfc3339(created) else {
        return "<unknown>".to_string();
    };
    let seconds = (chrono::Utc::now() - created.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn cell(value: Option<&Value>, column_type: &str) -> Value {
    match (value, column_type) {
        (None, _) => Value::Null,
        (Some(Value::String(s)), "date") => Value::String(human_age(s)),
        (Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))), _) => v.clone(),
        (Some(other), _) => Value::String(other.to_string()),
    }
}

/// Renders objects as a Table.
pub fn to_table(
    resource: &ResourceType,
    objects: &[Value],
    list_metadata: Value,
    full_objects: bool,
) -> Value {
    let mut columns = vec![json!({
        "name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace."
    })];
    let custom_columns = !resource.printer_columns.is_empty();
    for column in &resource.printer_columns {
        columns.push(json!({
            "name": column.name, "type": column.column_type, "format": "",
            "description": column.description, "priority": column.priority,
        }));
    }
    if !custom_columns {
        columns.push(json!({
            "name": "Age", "type": "string", "format": "", "priority": 0,
            "description": "CreationTimestamp is a timestamp representing the server time when this object was created."
        }));
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut cells = vec![object["metadata"]["name"].clone()];
            if custom_columns {
                for column in &resource.printer_columns {
                    cells.push(cell(
                        jsonpath::evaluate(object, &column.json_path),
                        &column.column_type,
                    ));
                }
            } else {
                cells.push(Value::String(human_age(
                    object["metadata"]["creationTimestamp"]
                        .as_str()
                        .unwrap_or_default(),
                )));
            }
            let row_object = if full_objects {
                object.clone()
            } else {
                json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": object["metadata"],
                })
            };
            json!({"cells": cells, "object": row_object})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
        "columnDefinitions": columns,
        "rows": rows,
    })
}
