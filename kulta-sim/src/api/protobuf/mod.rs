//! Protobuf request bodies of built-in kinds, decoded into the JSON object the store keeps.
//!
//! kubectl's typed commands (`kubectl create configmap|secret|namespace|deployment|...`) and
//! Go clients configured for protobuf send `application/vnd.kubernetes.protobuf`: the magic
//! prefix `k8s\0`, then a `runtime.Unknown` whose `typeMeta` names the kind and whose `raw` is
//! the kind's own message (`k8s.io.api.core.v1.ConfigMap`...). This module sits in front of the
//! write path: the handlers call [`decode_object`] (or [`decode_delete_options`]) instead of
//! parsing JSON, and from there on a protobuf write is a JSON write.
//!
//! The messages are k8s-pb's prost types; their JSON is what Go's `encoding/json` writes for
//! the same Go object (`json.rs`, and one table per API area beside it). Responses stay JSON:
//! the server answers in a type the client accepts, which `server.rs` checks.
//!
//! k8s-pb 0.9 carries the protobuf definitions of Kubernetes 1.35. Fields that only 1.36 has
//! (`PodSpec.schedulingGroup`, `PodStatus.nodeAllocatableResourceClaimStatuses`,
//! `VolumeMountStatus.volumeStatus`, `ResourceHealth.message`) are skipped as unknown fields,
//! as a 1.35 server would.

mod container;
mod core_v1;
mod groups;
pub(crate) mod json;
mod meta;
mod pod;
#[cfg(test)]
mod samples;
mod volume;

use k8s_pb::Resource;
use k8s_pb::api;
use k8s_pb::api::autoscaling::v1::Scale;
use k8s_pb::apimachinery::pkg::apis::meta::v1::DeleteOptions;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::{Map, Value};

use crate::api_error::ApiError;
use json::{ConvertError, ToJson};

/// The media type of Kubernetes protobuf bodies.
pub(crate) const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The prefix of every Kubernetes protobuf body.
pub(crate) const MAGIC: &[u8; 4] = b"k8s\0";

/// Whether a `Content-Type` header value names Kubernetes protobuf.
pub(crate) fn is_protobuf(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(MEDIA_TYPE))
}

/// Why a protobuf body could not be turned into an object.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ProtobufError {
    /// The kind has no protobuf form here (custom resources, CustomResourceDefinitions).
    #[error("{kind} has no protobuf encoding in this server")]
    Unsupported {
        /// The kind the request's path names.
        kind: String,
    },
    /// The body is empty or does not start with [`MAGIC`].
    #[error("the body does not appear to be a protobuf message: expected the prefix \"k8s\\0\"")]
    MissingMagic,
    /// The envelope after the prefix is not a `runtime.Unknown`.
    #[error("unable to decode the protobuf envelope (runtime.Unknown)")]
    Envelope(#[source] prost::DecodeError),
    /// The envelope names another kind than the request's path.
    #[error("the kind in the data ({found}) does not match the expected kind ({expected})")]
    KindMismatch {
        /// The kind in the envelope.
        found: String,
        /// The kind of the request's path.
        expected: String,
    },
    /// The envelope names another API version than the request's path.
    #[error(
        "the API version in the data ({found}) does not match the expected API version ({expected})"
    )]
    ApiVersionMismatch {
        /// The API version in the envelope.
        found: String,
        /// The API version of the request's path.
        expected: String,
    },
    /// The envelope's `raw` is not the kind's message.
    #[error("unable to decode the protobuf body as {api_version} {kind}")]
    Message {
        /// API version of the kind.
        api_version: String,
        /// The kind.
        kind: String,
        /// What prost found wrong.
        #[source]
        source: prost::DecodeError,
    },
    /// The message holds a value with no JSON form.
    #[error("unable to convert the protobuf {kind} to JSON")]
    Convert {
        /// The kind.
        kind: String,
        /// The field and its problem.
        #[source]
        source: ConvertError,
    },
}

impl From<ProtobufError> for ApiError {
    /// A 415 for a kind that has no protobuf form (a JSON client would succeed), else a 400
    /// BadRequest whose message carries every cause (`unable to decode ...: invalid wire type`).
    fn from(error: ProtobufError) -> Self {
        if matches!(error, ProtobufError::Unsupported { .. }) {
            return ApiError::unsupported_media_type("application/json, application/yaml");
        }
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        ApiError::bad_request(message)
    }
}

/// Failure of one message: prost's, or the JSON conversion's.
enum MessageError {
    Decode(prost::DecodeError),
    Convert(ConvertError),
}

type Decoder = fn(&[u8]) -> Result<Map<String, Value>, MessageError>;

/// A kind whose protobuf body the sim decodes.
struct ProtobufKind {
    api_version: &'static str,
    kind: &'static str,
    decode: Decoder,
}

fn decode_as<T: Message + Default + ToJson>(
    raw: &[u8],
) -> Result<Map<String, Value>, MessageError> {
    let message = T::decode(raw).map_err(MessageError::Decode)?;
    match message.to_json().map_err(MessageError::Convert)? {
        Some(Value::Object(object)) => Ok(object),
        _ => Ok(Map::new()),
    }
}

const fn kind<T: Resource + Message + Default + ToJson>() -> ProtobufKind {
    ProtobufKind {
        api_version: T::API_VERSION,
        kind: T::KIND,
        decode: decode_as::<T>,
    }
}

/// Every kind decoded: the built-in kinds the sim serves (`kinds/resources.rs`) except
/// CustomResourceDefinitions, plus the `autoscaling/v1` Scale of the scale subresource.
static KINDS: &[ProtobufKind] = &[
    kind::<api::core::v1::ConfigMap>(),
    kind::<api::core::v1::Event>(),
    kind::<api::core::v1::Namespace>(),
    kind::<api::core::v1::Pod>(),
    kind::<api::core::v1::Secret>(),
    kind::<api::core::v1::Service>(),
    kind::<api::core::v1::ServiceAccount>(),
    kind::<api::apps::v1::Deployment>(),
    kind::<api::apps::v1::ReplicaSet>(),
    kind::<api::coordination::v1::Lease>(),
    kind::<api::events::v1::Event>(),
    kind::<api::policy::v1::PodDisruptionBudget>(),
    kind::<api::rbac::v1::ClusterRole>(),
    kind::<api::rbac::v1::ClusterRoleBinding>(),
    kind::<api::rbac::v1::Role>(),
    kind::<api::rbac::v1::RoleBinding>(),
    ProtobufKind {
        api_version: "autoscaling/v1",
        kind: "Scale",
        decode: decode_as::<Scale>,
    },
];

/// Whether the sim decodes protobuf bodies of this kind.
#[cfg(test)]
pub(crate) fn supports(api_version: &str, kind: &str) -> bool {
    find(api_version, kind).is_some()
}

fn find(api_version: &str, kind: &str) -> Option<&'static ProtobufKind> {
    KINDS
        .iter()
        .find(|entry| entry.api_version == api_version && entry.kind == kind)
}

/// The `runtime.Unknown` after the magic prefix.
fn envelope(body: &[u8]) -> Result<Unknown, ProtobufError> {
    let message = body
        .strip_prefix(MAGIC.as_slice())
        .ok_or(ProtobufError::MissingMagic)?;
    Unknown::decode(message).map_err(ProtobufError::Envelope)
}

/// The envelope's API version and kind; an empty one means the expected one, as in Go's
/// protobuf serializer.
fn type_meta<'a>(
    envelope: &'a Unknown,
    expected_api_version: &'a str,
    expected_kind: &'a str,
) -> (&'a str, &'a str) {
    let type_meta = envelope.type_meta.as_ref();
    let or_expected = |value: Option<&'a String>, expected: &'a str| match value {
        Some(value) if !value.is_empty() => value.as_str(),
        _ => expected,
    };
    (
        or_expected(
            type_meta.and_then(|meta| meta.api_version.as_ref()),
            expected_api_version,
        ),
        or_expected(type_meta.and_then(|meta| meta.kind.as_ref()), expected_kind),
    )
}

/// Decodes a protobuf body of `kind` at `api_version` (what the request's path expects) into
/// its JSON object, with `apiVersion` and `kind` set.
///
/// # Errors
/// [`ProtobufError::Unsupported`] when the kind has no protobuf form here (checked before the
/// body is read); otherwise when the prefix or envelope is malformed, the envelope names
/// another kind or version, or the message does not decode.
pub(crate) fn decode_object(
    body: &[u8],
    api_version: &str,
    kind: &str,
) -> Result<Value, ProtobufError> {
    let entry = find(api_version, kind).ok_or_else(|| ProtobufError::Unsupported {
        kind: kind.to_string(),
    })?;
    let envelope = envelope(body)?;
    let (found_version, found_kind) = type_meta(&envelope, api_version, kind);
    if found_kind != kind {
        return Err(ProtobufError::KindMismatch {
            found: found_kind.to_string(),
            expected: kind.to_string(),
        });
    }
    if found_version != api_version {
        return Err(ProtobufError::ApiVersionMismatch {
            found: found_version.to_string(),
            expected: api_version.to_string(),
        });
    }
    let raw = envelope.raw.as_deref().unwrap_or_default();
    let mut object = (entry.decode)(raw).map_err(|error| match error {
        MessageError::Decode(source) => ProtobufError::Message {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            source,
        },
        MessageError::Convert(source) => ProtobufError::Convert {
            kind: kind.to_string(),
            source,
        },
    })?;
    object.insert("apiVersion".into(), Value::String(api_version.to_string()));
    object.insert("kind".into(), Value::String(kind.to_string()));
    Ok(Value::Object(object))
}

/// Decodes a protobuf `DeleteOptions` body (Go clients send one with every delete). Its
/// envelope may name any API version: `DeleteOptions` is registered in every group.
///
/// # Errors
/// As [`decode_object`], for a kind other than `DeleteOptions` too.
pub(crate) fn decode_delete_options(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = envelope(body)?;
    let (_, found_kind) = type_meta(&envelope, "", "DeleteOptions");
    if found_kind != "DeleteOptions" {
        return Err(ProtobufError::KindMismatch {
            found: found_kind.to_string(),
            expected: "DeleteOptions".to_string(),
        });
    }
    let raw = envelope.raw.as_deref().unwrap_or_default();
    match decode_as::<DeleteOptions>(raw) {
        Ok(options) => Ok(Value::Object(options)),
        Err(MessageError::Decode(source)) => Err(ProtobufError::Message {
            api_version: "meta.k8s.io/v1".to_string(),
            kind: "DeleteOptions".to_string(),
            source,
        }),
        Err(MessageError::Convert(source)) => Err(ProtobufError::Convert {
            kind: "DeleteOptions".to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests;
