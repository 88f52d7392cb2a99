//! Label selectors (equality- and set-based) and the `metadata.name`/`metadata.namespace` field
//! selectors, parsed from list and watch query strings.

use serde_json::Value;

use crate::api_error::{ApiError, ApiResult};

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Requirement {
    /// `key=value` or `key==value`.
    Equals(String, String),
    /// `key!=value`.
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)`.
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
}

/// A parsed label selector (all requirements must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector {
    requirements: Vec<Requirement>,
}

fn split_top_level(input: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in input.chars() {
        match c {
            '(' => {
                depth = depth.saturating_add(1);
                current.push(c);
            }
            ')' => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            ',' if depth == 0 => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|part| part.trim().to_string())
        .filter(|part| !part.is_empty())
        .collect()
}

fn parse_set(rest: &str, selector: &str) -> ApiResult<Vec<String>> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| ApiError::bad_request(format!("unable to parse requirement: found '{rest}', expected: '(' in selector {selector:?}")))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

impl LabelSelector {
    /// Parses the `labelSelector` query value.
    ///
    /// # Errors
    /// 400 BadRequest for a malformed selector.
    pub(crate) fn parse(selector: &str) -> ApiResult<Self> {
        let mut requirements = Vec::new();
        for part in split_top_level(selector) {
            let bad = || {
                ApiError::bad_request(format!(
                    "unable to parse requirement: invalid label selector: {part:?}"
                ))
            };
            let requirement = if let Some(key) = part.strip_prefix('!') {
                Requirement::DoesNotExist(key.trim().to_string())
            } else if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotEquals(key.trim().to_string(), value.trim().to_string())
            } else if let Some((key, value)) = part.split_once("==") {
                Requirement::Equals(key.trim().to_string(), value.trim().to_string())
            } else if let Some((key, value)) = part.split_once('=') {
                Requirement::Equals(key.trim().to_string(), value.trim().to_string())
            } else if let Some((key, set)) = part.split_once(" notin ") {
                Requirement::NotIn(key.trim().to_string(), parse_set(set, selector)?)
            } else if let Some((key, set)) = part.split_once(" in ") {
                Requirement::In(key.trim().to_string(), parse_set(set, selector)?)
            } else {
                Requirement::Exists(part.trim().to_string())
            };
            let key = match &requirement {
                Requirement::Equals(k, _)
                | Requirement::NotEquals(k, _)
                | Requirement::In(k, _)
                | Requirement::NotIn(k, _)
                | Requirement::Exists(k)
                | Requirement::DoesNotExist(k) => k,
            };
            if !valid_key(key) {
                return Err(bad());
            }
            requirements.push(requirement);
        }
        Ok(LabelSelector { requirements })
    }

    /// True when the selector selects everything.
    pub(crate) fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object's `metadata.labels` satisfy the selector.
    pub(crate) fn matches(&self, object: &Value) -> bool {
        let labels = object["metadata"]["labels"].as_object();
        let get = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.requirements
            .iter()
            .all(|requirement| match requirement {
                Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
                Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
                Requirement::In(k, values) => get(k).is_some_and(|l| values.iter().any(|v| v == l)),
                Requirement::NotIn(k, values) => {
                    !get(k).is_some_and(|l| values.iter().any(|v| v == l))
                }
                Requirement::Exists(k) => get(k).is_some(),
                Requirement::DoesNotExist(k) => get(k).is_none(),
            })
    }
}

/// A parsed field selector: `metadata.name`, `metadata.namespace`, and the fields a kind
/// declares selectable (Events' `involvedObject.*`, Pods' `spec.nodeName`, a CRD's
/// `selectableFields`...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector {
    requirements: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses the `fieldSelector` query value; `allowed` lists the kind's extra selectable
    /// fields, each a path (`spec.nodeName`) or `label=path` where the field label names another
    /// path (core Events' `source=source.component`).
    ///
    /// # Errors
    /// 400 BadRequest for a malformed selector or a field the kind does not support.
    pub(crate) fn parse(selector: &str, allowed: &[String]) -> ApiResult<Self> {
        let mut requirements = Vec::new();
        for part in split_top_level(selector) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{selector}'; can't understand '{part}'"
                )));
            };
            let field = field.trim();
            let path = if field == "metadata.name" || field == "metadata.namespace" {
                Some(field)
            } else {
                allowed.iter().find_map(|entry| {
                    let (label, path) = entry.split_once('=').unwrap_or((entry, entry));
                    (label == field).then_some(path)
                })
            };
            let Some(path) = path else {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            };
            requirements.push((path.to_string(), equal, value.trim().to_string()));
        }
        Ok(FieldSelector { requirements })
    }

    /// Whether the selector selects everything.
    pub(crate) fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object matches (a missing field reads as the empty string).
    pub(crate) fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|(field, equal, value)| {
            let mut current = object;
            for segment in field.split('.') {
                current = current.get(segment).unwrap_or(&Value::Null);
            }
            let actual = match current {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (actual == *value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn label_selectors_match_like_kubernetes() {
        let o = object(json!({"app": "web", "tier": "front"}));
        let cases = [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web, api)", true),
            ("app notin (web)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("app=web,tier in (front)", true),
            ("app=web,missing", false),
            ("missing!=x", true),
            ("", true),
        ];
        for (selector, expected) in cases {
            let parsed = LabelSelector::parse(selector).unwrap();
            assert_eq!(parsed.matches(&o), expected, "{selector}");
        }
    }

    #[test]
    fn field_selectors_accept_name_namespace_and_declared_fields() {
        let o = object(json!({}));
        assert!(
            FieldSelector::parse("metadata.name=a", &[])
                .unwrap()
                .matches(&o)
        );
        assert!(
            !FieldSelector::parse("metadata.namespace!=ns", &[])
                .unwrap()
                .matches(&o)
        );
        assert_eq!(
            FieldSelector::parse("spec.nodeName=x", &[])
                .unwrap_err()
                .code,
            400
        );
        let allowed = vec!["spec.nodeName".to_string()];
        assert!(
            FieldSelector::parse("spec.nodeName=", &allowed)
                .unwrap()
                .matches(&o)
        );
        let event = json!({"source": {"component": "kulta", "host": "node-1"}});
        let allowed = vec!["source=source.component".to_string()];
        assert!(
            FieldSelector::parse("source=kulta", &allowed)
                .unwrap()
                .matches(&event)
        );
        assert_eq!(
            FieldSelector::parse("source.component=kulta", &allowed)
                .unwrap_err()
                .code,
            400
        );
    }
}
