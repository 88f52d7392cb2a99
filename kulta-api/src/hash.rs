//! Revision hashing: the name of a pod template's revision.
//!
//! The controller compares the hash of `spec.template` with the stable and canary hashes in
//! status to notice a new revision, names the canary ReplicaSet `<rollout>-<hash>`, and puts the
//! hash on pods as the [`POD_TEMPLATE_HASH_LABEL`] that pins each Service to one revision.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::labels::POD_TEMPLATE_HASH_LABEL;
use crate::template::PodTemplate;

/// Characters of a revision hash: lowercase consonants and digits without vowels or look-alikes,
/// the alphabet Kubernetes uses for generated names, so a hash never spells a word.
const ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";
/// Length of a revision hash.
pub const REVISION_HASH_LEN: usize = 10;

/// The revision hash of a pod template: 10 characters from `bcdfghjklmnpqrstvwxz2456789`.
///
/// # Guarantees
///
/// - Deterministic across processes, Rust versions and platforms: SHA-256 over a canonical JSON
///   form of the template (object keys sorted, no whitespace), never `DefaultHasher`. Changing
///   this function renames every revision and makes a running controller start a rollout, so a
///   test pins its output.
/// - Safe as a label value and in an object name: lowercase alphanumerics only.
/// - The [`POD_TEMPLATE_HASH_LABEL`] label in the template is ignored (and an empty `labels` map
///   is treated as absent), so a template read back from a ReplicaSet, which carries that label,
///   hashes the same as the Rollout's template.
/// - Any other change (an image, an env var, a label, an annotation) changes the hash.
/// - The template is hashed as stored ([`PodTemplate::raw`]), with `null` members left out
///   (they mean "not set", as an absent member does): a field this build's `k8s-openapi` does
///   not know counts, so an upgrade of `k8s-openapi` cannot change the hash of an unchanged
///   template. A template with only known fields hashes as its typed form always did.
pub fn revision_hash(template: &PodTemplate) -> String {
    let mut value = template.raw().clone();
    strip_nulls(&mut value);
    strip_pod_template_hash(&mut value);
    let mut canonical = String::new();
    write_canonical(&value, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let mut number = u64::from_be_bytes(first);
    let mut hash = String::with_capacity(REVISION_HASH_LEN);
    for _ in 0..REVISION_HASH_LEN {
        hash.push(char::from(ALPHABET[(number % 27) as usize]));
        number /= 27;
    }
    hash
}

/// The revision hash of a typed template (one read back from a ReplicaSet, or built in code).
pub fn revision_hash_of(template: &PodTemplateSpec) -> String {
    revision_hash(&PodTemplate::from(template))
}

/// Removes every `null` object member, at any depth.
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, item| !item.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Removes `metadata.labels["pod-template-hash"]`, then an empty `labels`, then an empty
/// `metadata`.
fn strip_pod_template_hash(template: &mut Value) {
    let Some(root) = template.as_object_mut() else {
        return;
    };
    let Some(metadata) = root.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(labels) = metadata.get_mut("labels").and_then(Value::as_object_mut) {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
        if labels.is_empty() {
            metadata.remove("labels");
        }
    }
    if metadata.is_empty() {
        root.remove("metadata");
    }
}

/// Writes `value` as JSON with object keys sorted by their UTF-8 bytes and no whitespace,
/// whatever map type serde_json was built with (its `preserve_order` feature keeps insertion
/// order, which would make the hash depend on how the template was built).
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(text) => write_string(text, out),
        // null, booleans and numbers have one JSON spelling in serde_json.
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(text: &str, out: &mut String) {
    out.push_str(&Value::String(text.to_owned()).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    fn template(labels: &[(&str, &str)], image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<BTreeMap<_, _>>(),
                ),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "nginx".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn pinned_output_for_a_fixed_template() {
        // If this fails, every running Rollout would see a new revision after an upgrade.
        // Change the expected value only together with a migration plan.
        // The value was cross-checked with an independent implementation (Python's hashlib
        // over the canonical JSON below).
        let fixed = template(&[("app", "my-app")], "nginx:1.25");
        let mut canonical = String::new();
        write_canonical(&serde_json::to_value(&fixed).unwrap(), &mut canonical);
        assert_eq!(
            canonical,
            r#"{"metadata":{"labels":{"app":"my-app"}},"spec":{"containers":[{"image":"nginx:1.25","name":"nginx"}]}}"#
        );
        assert_eq!(revision_hash_of(&fixed), "xhqz2q85pm");
    }

    #[test]
    fn the_stored_template_hashes_as_its_typed_form_did() {
        // The JSON as kubectl sends it, with a `null` kubectl's generators write: the same hash
        // as the typed template of `pinned_output_for_a_fixed_template`.
        let stored = PodTemplate::from(serde_json::json!({
            "metadata": {"creationTimestamp": null, "labels": {"app": "my-app"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "resources": {}}]}
        }));
        let typed = template(&[("app", "my-app")], "nginx:1.25");
        let mut with_resources = typed.clone();
        if let Some(pod) = with_resources.spec.as_mut() {
            pod.containers[0].resources = Some(Default::default());
        }
        assert_eq!(revision_hash(&stored), revision_hash_of(&with_resources));
        let plain = PodTemplate::from(serde_json::json!({
            "metadata": {"labels": {"app": "my-app"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}
        }));
        assert_eq!(revision_hash(&plain), "xhqz2q85pm");
    }

    #[test]
    fn fields_the_typed_template_does_not_know_count() {
        // A field of a newer Kubernetes release: kept, so an upgrade of the typed library that
        // learns it does not rename the revision, and a change to it is a new revision.
        let with = |value: &str| {
            PodTemplate::from(serde_json::json!({
                "metadata": {"labels": {"app": "my-app"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}],
                         "futureField": {"mode": value}}
            }))
        };
        assert_ne!(revision_hash(&with("a")), "xhqz2q85pm");
        assert_ne!(revision_hash(&with("a")), revision_hash(&with("b")));
        // Cross-checked with Python's hashlib over the canonical JSON, as above.
        assert_eq!(revision_hash(&with("a")), "sxchvz59w8");
    }

    #[test]
    fn canonical_json_is_sorted_and_compact() {
        let value = serde_json::json!({"b": [1, {"z": null, "a": "x\"y"}], "a": true});
        let mut out = String::new();
        write_canonical(&value, &mut out);
        assert_eq!(out, r#"{"a":true,"b":[1,{"a":"x\"y","z":null}]}"#);
    }

    #[test]
    fn is_label_safe() {
        for image in ["nginx:1.25", "nginx:1.26", "busybox", ""] {
            let hash = revision_hash_of(&template(&[("app", "a")], image));
            assert_eq!(hash.len(), REVISION_HASH_LEN);
            assert!(
                hash.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
                "{hash}"
            );
        }
    }

    #[test]
    fn label_order_does_not_matter() {
        let one = template(
            &[("app", "my-app"), ("tier", "web"), ("zone", "a")],
            "nginx",
        );
        let two = template(
            &[("zone", "a"), ("tier", "web"), ("app", "my-app")],
            "nginx",
        );
        assert_eq!(revision_hash_of(&one), revision_hash_of(&two));
        // Also when the JSON arrives with keys in another order.
        let json = r#"{"spec":{"containers":[{"image":"nginx","name":"nginx"}]},
            "metadata":{"labels":{"zone":"a","app":"my-app","tier":"web"}}}"#;
        let parsed: PodTemplateSpec = serde_json::from_str(json).unwrap();
        assert_eq!(revision_hash_of(&parsed), revision_hash_of(&one));
    }

    #[test]
    fn image_change_changes_the_hash() {
        assert_ne!(
            revision_hash_of(&template(&[("app", "a")], "nginx:1.25")),
            revision_hash_of(&template(&[("app", "a")], "nginx:1.26"))
        );
    }

    #[test]
    fn label_change_changes_the_hash() {
        assert_ne!(
            revision_hash_of(&template(&[("app", "a")], "nginx")),
            revision_hash_of(&template(&[("app", "b")], "nginx"))
        );
    }

    #[test]
    fn pod_template_hash_label_is_ignored() {
        let plain = template(&[("app", "a")], "nginx");
        let from_replica_set = template(&[("app", "a"), (POD_TEMPLATE_HASH_LABEL, "abc")], "nginx");
        assert_eq!(
            revision_hash_of(&plain),
            revision_hash_of(&from_replica_set)
        );

        // A template whose only label is the hash equals one without labels at all.
        let mut no_labels = template(&[], "nginx");
        no_labels.metadata = None;
        let only_hash = template(&[(POD_TEMPLATE_HASH_LABEL, "abc")], "nginx");
        assert_eq!(revision_hash_of(&no_labels), revision_hash_of(&only_hash));
    }
}
