//! The Rollout's pod template, kept as the JSON the API server stored.
//!
//! The CRD stores `spec.template` with `x-kubernetes-preserve-unknown-fields`: the API server
//! accepts any object there, so a template can hold what `PodTemplateSpec` cannot decode
//! (`env: [{name: PORT, value: 8080}]`, `containerPort: "80"`). Decoded with the rest of the
//! Rollout, one such template would fail the whole list of a watch, and no Rollout would be
//! reconciled after the next relist. [`PodTemplate`] keeps the JSON as stored, so every Rollout
//! decodes; the typed template is decoded where it is used ([`PodTemplate::decode`]), and a
//! template that does not decode makes only its own Rollout invalid, with the field path.
//!
//! Kept as JSON, the template also keeps fields this build's `k8s-openapi` does not know (a
//! newer Kubernetes release's): the ReplicaSets get them, and the revision hash covers them,
//! so upgrading `k8s-openapi` does not rename an unchanged template's revision.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::validation::FieldError;

/// A pod template as stored (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PodTemplate(Value);

impl Default for PodTemplate {
    fn default() -> Self {
        PodTemplate(Value::Object(Map::new()))
    }
}

impl PodTemplate {
    /// The template as stored.
    pub fn raw(&self) -> &Value {
        &self.0
    }

    /// The template decoded as a `PodTemplateSpec`, or the first field that does not decode,
    /// with its path under `spec.template`. Fields `PodTemplateSpec` does not know are ignored
    /// here and kept in [`PodTemplate::raw`].
    ///
    /// # Errors
    /// A [`FieldError`] naming the field (e.g. `spec.template.spec.containers[0].env[0].value`)
    /// and what the API's type expects there.
    pub fn decode(&self) -> Result<PodTemplateSpec, FieldError> {
        if !self.0.is_object() {
            return Err(FieldError::new(
                "spec.template",
                format!("must be an object, not {}", kind_of(&self.0)),
            ));
        }
        serde_path_to_error::deserialize(&self.0).map_err(|error| {
            let path = error.path().to_string();
            let path = if path == "." || path.is_empty() {
                "spec.template".to_string()
            } else {
                format!("spec.template.{path}")
            };
            FieldError::new(path, error.into_inner().to_string())
        })
    }

    /// Replaces the template with `template`'s JSON form.
    pub fn set(&mut self, template: &PodTemplateSpec) {
        *self = PodTemplate::from(template);
    }

    /// The template as stored, to change in place (fields `PodTemplateSpec` does not know are
    /// kept as they are).
    pub fn raw_mut(&mut self) -> &mut Value {
        &mut self.0
    }
}

impl From<&PodTemplateSpec> for PodTemplate {
    fn from(template: &PodTemplateSpec) -> Self {
        PodTemplate(serde_json::to_value(template).unwrap_or_else(|_| Value::Object(Map::new())))
    }
}

impl From<PodTemplateSpec> for PodTemplate {
    fn from(template: PodTemplateSpec) -> Self {
        PodTemplate::from(&template)
    }
}

impl From<Value> for PodTemplate {
    fn from(raw: Value) -> Self {
        PodTemplate(raw)
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
