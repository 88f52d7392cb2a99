//! A small JSONPath subset for printer columns and scale paths: `.a.b`, `.a[0]`, `.a[*].b` (first
//! match) and `.a[?(@.type=="Ready")].status`.

use serde_json::Value;

#[derive(Debug, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    Any,
    Filter(String, String),
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let path = path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path);
    let mut steps = Vec::new();
    let mut rest = path.strip_prefix('$').unwrap_or(path);
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end > 0 {
                steps.push(Step::Field(after[..end].to_string()));
            }
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let (inside, after_bracket) = after.split_once(']')?;
            let inside = inside.trim();
            if inside == "*" {
                steps.push(Step::Any);
            } else if let Some(filter) = inside
                .strip_prefix("?(@.")
                .and_then(|f| f.strip_suffix(')'))
            {
                let (field, value) = filter.split_once("==")?;
                let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
                steps.push(Step::Filter(field.trim().to_string(), value.to_string()));
            } else if let Ok(index) = inside.parse::<usize>() {
                steps.push(Step::Index(index));
            } else {
                let key = inside.trim_matches(|c| c == '"' || c == '\'');
                steps.push(Step::Field(key.to_string()));
            }
            rest = after_bracket;
        } else {
            return None;
        }
    }
    Some(steps)
}

fn walk<'a>(value: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    let Some((step, rest)) = steps.split_first() else {
        return Some(value);
    };
    match step {
        Step::Field(name) => walk(value.get(name)?, rest),
        Step::Index(index) => walk(value.get(*index)?, rest),
        Step::Any => value.as_array()?.iter().find_map(|item| walk(item, rest)),
        Step::Filter(field, expected) => value.as_array()?.iter().find_map(|item| {
            let actual = item.get(field)?;
            let matches = match actual {
                Value::String(s) => s == expected,
                other => *other == serde_json::from_str::<Value>(expected).unwrap_or(Value::Null),
            };
            if matches { walk(item, rest) } else { None }
        }),
    }
}

/// Evaluates a simple JSONPath against an object; `None` when the path is absent or unsupported.
pub(crate) fn evaluate<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    walk(object, &parse(path)?)
}

/// Sets the value at a path made only of field steps (`.spec.replicas`), creating objects.
pub(crate) fn set(object: &mut Value, path: &str, value: Value) -> bool {
    let Some(steps) = parse(path) else {
        return false;
    };
    let mut current = object;
    let mut steps = steps.iter().peekable();
    while let Some(step) = steps.next() {
        let Step::Field(name) = step else {
            return false;
        };
        if !current.is_object() {
            *current = Value::Object(serde_json::Map::new());
        }
        let Some(map) = current.as_object_mut() else {
            return false;
        };
        if steps.peek().is_none() {
            map.insert(name.clone(), value);
            return true;
        }
        current = map
            .entry(name.clone())
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_fields_indexes_and_filters() {
        let object = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True"}, {"type": "Progressing", "status": "False"}
        ]}, "spec": {"replicas": 3}});
        assert_eq!(evaluate(&object, ".spec.replicas"), Some(&json!(3)));
        assert_eq!(
            evaluate(&object, ".status.conditions[1].type"),
            Some(&json!("Progressing"))
        );
        assert_eq!(
            evaluate(
                &object,
                ".status.conditions[?(@.type==\"Progressing\")].status"
            ),
            Some(&json!("False"))
        );
        assert_eq!(evaluate(&object, ".status.missing"), None);
    }

    #[test]
    fn sets_nested_fields() {
        let mut object = json!({});
        assert!(set(&mut object, ".spec.replicas", json!(2)));
        assert_eq!(object, json!({"spec": {"replicas": 2}}));
    }
}
