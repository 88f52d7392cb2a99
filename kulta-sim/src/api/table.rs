//! `meta.k8s.io/v1` Table rendering for `kubectl get`: for built-in kinds the columns of the
//! real server's printers ([`crate::api::printers`]), for custom resources a Name column and the CRD's
//! `additionalPrinterColumns` (or Age), with each row's object as `PartialObjectMetadata` or in
//! full.

use serde_json::{Value, json};

use crate::api::jsonpath;
use crate::api::printers;
use crate::kinds::resources::ResourceType;

/// Whether an `Accept` header asks for a Table.
pub(crate) fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

/// A Kubernetes-style short age (`duration.HumanDuration`): `42s`, `5m10s`, `3h10m`, `2d5h`,
/// `1y20d`; `<unknown>` for an unparsable timestamp.
pub(crate) fn human_age(created: &str) -> String {
    let Ok(created) = chrono::DateTime::parse_from_rfc3339(created) else {
        return "<unknown>".to_string();
    };
    human_duration(
        chrono::Utc::now()
            .signed_duration_since(created.with_timezone(&chrono::Utc))
            .num_seconds(),
    )
}

/// `duration.HumanDuration` of a number of seconds.
pub(crate) fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    let seconds = seconds.max(0);
    let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86400);
    let years = days / 365;
    let with = |major: i64, unit: &str, minor: i64, minor_unit: &str| {
        if minor == 0 {
            format!("{major}{unit}")
        } else {
            format!("{major}{unit}{minor}{minor_unit}")
        }
    };
    match () {
        () if seconds < 120 => format!("{seconds}s"),
        () if minutes < 10 => with(minutes, "m", seconds % 60, "s"),
        () if minutes < 3 * 60 => format!("{minutes}m"),
        () if hours < 8 => with(hours, "h", minutes % 60, "m"),
        () if hours < 48 => format!("{hours}h"),
        () if hours < 24 * 8 => with(days, "d", hours % 24, "h"),
        () if hours < 24 * 365 * 2 => format!("{days}d"),
        () if hours < 24 * 365 * 8 => with(years, "y", days % 365, "d"),
        () => format!("{years}y"),
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
pub(crate) fn to_table(
    resource: &ResourceType,
    objects: &[Value],
    list_metadata: Value,
    full_objects: bool,
) -> Value {
    let builtin = printers::printer(resource);
    let mut columns = vec![json!({
        "name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace."
    })];
    if let Some(printer) = &builtin {
        columns = printer
            .columns
            .iter()
            .map(printers::Column::definition)
            .collect();
    }
    let custom_columns = !resource.printer_columns.is_empty();
    for column in &resource.printer_columns {
        columns.push(json!({
            "name": column.name, "type": column.column_type, "format": "",
            "description": column.description, "priority": column.priority,
        }));
    }
    if !custom_columns && builtin.is_none() {
        columns.push(json!({
            "name": "Age", "type": "string", "format": "", "priority": 0,
            "description": "CreationTimestamp is a timestamp representing the server time when this object was created."
        }));
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut cells = vec![object["metadata"]["name"].clone()];
            if let Some(printer) = &builtin {
                cells = (printer.row)(object);
            } else if custom_columns {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (42, "42s"),
            (119, "119s"),
            (120, "2m"),
            (310, "5m10s"),
            (45 * 60, "45m"),
            (3 * 3600 + 600, "3h10m"),
            (5 * 3600, "5h"),
            (30 * 3600, "30h"),
            (2 * 86400 + 5 * 3600, "2d5h"),
            (40 * 86400, "40d"),
            (3 * 365 * 86400 + 86400, "3y1d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(human_duration(seconds), expected, "{seconds}");
        }
    }
}
