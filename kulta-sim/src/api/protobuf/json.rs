//! From k8s-pb's prost messages to the JSON that Go's `encoding/json` writes for the same
//! object: the field names of the Go API types, their `omitempty` rules, embedded (inline)
//! structs, and the custom encodings of `Time`, `MicroTime`, `Quantity`, `IntOrString`,
//! `FieldsV1` and `[]byte`.
//!
//! The per-message tables (`go_json!` in the sibling modules) list every field of every
//! message; the pattern they expand to names all fields without `..`, so a k8s-pb upgrade that
//! adds a field fails to compile until the field is given its JSON name.

use std::collections::BTreeMap;

use chrono::DateTime;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1::{FieldsV1, MicroTime, Time};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Map, Value};

/// A value that has no JSON form (a time out of range, an `IntOrString` of unknown type),
/// with the path of the field that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConvertError {
    path: Vec<String>,
    problem: String,
}

impl ConvertError {
    fn new(problem: impl Into<String>) -> Self {
        ConvertError {
            path: Vec::new(),
            problem: problem.into(),
        }
    }

    /// The same error one level further out: `name` holds the value.
    fn within(mut self, name: &str) -> Self {
        self.path.push(name.to_string());
        self
    }
}

impl std::fmt::Display for ConvertError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut path = String::new();
        for segment in self.path.iter().rev() {
            if !path.is_empty() && !segment.starts_with('[') {
                path.push('.');
            }
            path.push_str(segment);
        }
        write!(formatter, "{path}: {}", self.problem)
    }
}

impl std::error::Error for ConvertError {}

/// A protobuf value with a JSON form.
pub(crate) trait ToJson {
    /// The JSON of the value, or `None` when Go writes `null` for it (a zero `metav1.Time`),
    /// which the object then leaves out.
    ///
    /// # Errors
    /// [`ConvertError`] when the value has no JSON form.
    fn to_json(&self) -> Result<Option<Value>, ConvertError>;

    /// Whether the value is its type's zero value, which an `omitempty` field leaves out.
    /// Messages never are: Go writes a struct even when it is empty.
    fn is_zero(&self) -> bool {
        false
    }
}

/// What a field does with a zero value (`""`, `0`, `false`) that came on the wire.
///
/// Protobuf cannot tell a Go pointer set to zero from a plain field left at zero: generated
/// Go code writes plain scalar fields even when they are zero, and pointer fields whenever they
/// are set. The Go type decides, so the tables say which kind each field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zero {
    /// A plain field with `omitempty`: a zero value is left out, as Go's JSON does.
    Omit,
    /// A pointer field (`replicas: 0` means zero replicas) or one without `omitempty`: kept.
    Keep,
}

/// A message field: optional, repeated or a map.
pub(crate) trait Field {
    /// The field's JSON, or `None` when Go's JSON would leave it out.
    ///
    /// # Errors
    /// [`ConvertError`] when a value has no JSON form.
    fn field_json(&self, zero: Zero) -> Result<Option<Value>, ConvertError>;
}

impl<T: ToJson> Field for Option<T> {
    fn field_json(&self, zero: Zero) -> Result<Option<Value>, ConvertError> {
        match self {
            None => Ok(None),
            Some(value) if zero == Zero::Omit && value.is_zero() => Ok(None),
            Some(value) => value.to_json(),
        }
    }
}

impl<T: ToJson> Field for Vec<T> {
    /// An empty list is left out: protobuf does not tell an empty list from an absent one,
    /// and Go decodes both to a nil slice.
    fn field_json(&self, _zero: Zero) -> Result<Option<Value>, ConvertError> {
        if self.is_empty() {
            return Ok(None);
        }
        let mut items = Vec::with_capacity(self.len());
        for (index, item) in self.iter().enumerate() {
            let json = item
                .to_json()
                .map_err(|error| error.within(&format!("[{index}]")))?;
            items.push(json.unwrap_or(Value::Null));
        }
        Ok(Some(Value::Array(items)))
    }
}

impl<T: ToJson> Field for BTreeMap<String, T> {
    /// An empty map is left out, as for lists.
    fn field_json(&self, _zero: Zero) -> Result<Option<Value>, ConvertError> {
        if self.is_empty() {
            return Ok(None);
        }
        let mut entries = Map::new();
        for (key, value) in self {
            let json = value
                .to_json()
                .map_err(|error| error.within(&format!("[{key}]")))?;
            entries.insert(key.clone(), json.unwrap_or(Value::Null));
        }
        Ok(Some(Value::Object(entries)))
    }
}

/// Sets `object[name]` to the field's JSON, if Go's JSON has the field.
///
/// # Errors
/// [`ConvertError`] when a value has no JSON form.
pub(crate) fn put(
    object: &mut Map<String, Value>,
    name: &str,
    field: &impl Field,
    zero: Zero,
) -> Result<(), ConvertError> {
    if let Some(json) = field.field_json(zero).map_err(|error| error.within(name))? {
        object.insert(name.to_string(), json);
    }
    Ok(())
}

/// Merges the fields of an embedded Go struct (`json:",inline"`, a nested message on the
/// wire) into `object`.
///
/// # Errors
/// [`ConvertError`] when a value has no JSON form.
pub(crate) fn inline<T: ToJson>(
    object: &mut Map<String, Value>,
    field: &Option<T>,
) -> Result<(), ConvertError> {
    if let Some(Value::Object(fields)) = field.field_json(Zero::Keep)? {
        object.extend(fields);
    }
    Ok(())
}

impl ToJson for String {
    fn to_json(&self) -> Result<Option<Value>, ConvertError> {
        Ok(Some(Value::String(self.clone())))
    }

    fn is_zero(&self) -> bool {
        self.is_empty()
    }
}

impl ToJson for bool {
    fn to_json(&self) -> Result<Option<Value>, ConvertError> {
        Ok(Some(Value::Bool(*self)))
    }

    fn is_zero(&self) -> bool {
        !*self
    }
}

impl ToJson for i32 {
    fn to_json(&self) -> Result<Option<Value>, ConvertError> {
        Ok(Some(Value::from(*self)))
    }

    fn is_zero(&self) -> bool {
        *self == 0
    }
}

impl ToJson for i64 {
    fn to_json(&self) -> Result<Option<Value>, ConvertError> {
        Ok(Some(Value::from(*self)))
    }

    fn is_zero(&self) -> bool {
        *self == 0
    }
}

/// `[]byte`: base64, as Go's JSON writes it.
impl ToJson for Vec<u8> {
    fn to_json(&self) -> Result<Option<Value>, ConvertError> {
        serde_json::to_value(k8s_openapi::ByteString(self.clone()))
            .map(Some)
            .map_err(|error| ConvertError::new(format!("unable to encode bytes: {error}")))
    }

    fn is_zero(&self) -> bool {
        self.is_empty()
    }
}

/// A timestamp in UTC with `fraction_digits` (0 or 6) digits of seconds, as Go's `RFC3339`
/// and `RFC3339Micro` layouts print it.
fn timestamp(seconds: i64, nanos: i32, micro: bool) -> Result<Value, ConvertError> {
    let nanos = u32::try_from(nanos)
        .ok()
        .filter(|nanos| *nanos < 1_000_000_000)
        .ok_or_else(|| ConvertError::new(format!("nanos {nanos} out of range")))?;
    let time = DateTime::from_timestamp(seconds, if micro { nanos } else { 0 })
        .filter(|time| (0..=9999).contains(&chrono::Datelike::year(time)))
        .ok_or_else(|| ConvertError::new(format!("time {seconds}s out of range")))?;
    let format = if micro {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    Ok(Value::String(time.format(format).to_string()))
}

/// `metav1.Time`: RFC 3339 in seconds; an empty message is the zero time, which Go writes as
/// `null` (protobuf carries seconds and nanoseconds, but Go keeps only the seconds).
impl ToJson for Time {
    fn to_json(&self) -> Result<Option<Value>, ConvertError> {
        match (self.seconds, self.nanos) {
            (None, None) => Ok(None),
            (seconds, _) => timestamp(seconds.unwrap_or_default(), 0, false).map(Some),
        }
    }
}

/// `metav1.MicroTime`: RFC 3339 with microseconds (nanoseconds are truncated, as Go does).
impl ToJson for MicroTime {
    fn to_json(&self) -> Result<Option<Value>, ConvertError> {
        match (self.seconds, self.nanos) {
            (None, None) => Ok(None),
            (seconds, nanos) => {
                timestamp(seconds.unwrap_or_default(), nanos.unwrap_or_default(), true).map(Some)
            }
        }
    }
}

/// `resource.Quantity`: its string; an empty quantity is `"0"`, as Go prints it.
impl ToJson for Quantity {
    fn to_json(&self) -> Result<Option<Value>, ConvertError> {
        let text = self.string.as_deref().unwrap_or_default();
        Ok(Some(Value::String(if text.is_empty() {
            "0".to_string()
        } else {
            text.to_string()
        })))
    }
}

/// `intstr.IntOrString`: a number (type 0) or a string (type 1).
impl ToJson for IntOrString {
    fn to_json(&self) -> Result<Option<Value>, ConvertError> {
        match self.r#type.unwrap_or_default() {
            0 => Ok(Some(Value::from(self.int_val.unwrap_or_default()))),
            1 => Ok(Some(Value::String(
                self.str_val.clone().unwrap_or_default(),
            ))),
            other => Err(ConvertError::new(format!(
                "IntOrString of unknown type {other}"
            ))),
        }
    }
}

/// `metav1.FieldsV1`: the JSON document it carries.
impl ToJson for FieldsV1 {
    fn to_json(&self) -> Result<Option<Value>, ConvertError> {
        match self.raw.as_deref() {
            None | Some([]) => Ok(None),
            Some(raw) => serde_json::from_slice(raw)
                .map(Some)
                .map_err(|error| ConvertError::new(format!("FieldsV1 is not JSON: {error}"))),
        }
    }
}

/// Implements [`ToJson`] for prost messages from a table of their fields.
///
/// Each entry is `Message { field: <how>, ... }` naming every field of the message, where
/// `<how>` is one of:
/// - `"jsonName"`: a Go field with `omitempty` (zero scalars are left out);
/// - `"jsonName" keep`: a Go pointer or a field without `omitempty` (zero scalars are kept);
/// - `inline`: an embedded Go struct whose fields join the parent object;
/// - `ignore`: a field the Kubernetes version the sim serves does not have.
macro_rules! go_json {
    ($($message:ident $(:: $segment:ident)* { $($field:ident: $json:tt $($keep:ident)?),* $(,)? })*) => {
        $(
            impl $crate::api::protobuf::json::ToJson for $message $(:: $segment)* {
                fn to_json(
                    &self,
                ) -> Result<Option<::serde_json::Value>, $crate::api::protobuf::json::ConvertError> {
                    let $message $(:: $segment)* { $($field),* } = self;
                    let mut object = ::serde_json::Map::new();
                    $( $crate::api::protobuf::json::go_json!(@field object, $field, $json $($keep)?); )*
                    Ok(Some(::serde_json::Value::Object(object)))
                }
            }

            #[cfg(test)]
            impl $crate::api::protobuf::samples::Sample for $message $(:: $segment)* {
                fn sample() -> Self {
                    $message $(:: $segment)* {
                        $($field: $crate::api::protobuf::json::go_json!(@sample $json)),*
                    }
                }
            }
        )*
    };
    (@sample ignore) => {
        Default::default()
    };
    (@sample $json:tt) => {
        $crate::api::protobuf::samples::Sample::sample()
    };
    (@field $object:ident, $field:ident, inline) => {
        $crate::api::protobuf::json::inline(&mut $object, $field)?;
    };
    (@field $object:ident, $field:ident, ignore) => {
        let _ = $field;
    };
    (@field $object:ident, $field:ident, $json:literal keep) => {
        $crate::api::protobuf::json::put(&mut $object, $json, $field, $crate::api::protobuf::json::Zero::Keep)?;
    };
    (@field $object:ident, $field:ident, $json:literal) => {
        $crate::api::protobuf::json::put(&mut $object, $json, $field, $crate::api::protobuf::json::Zero::Omit)?;
    };
}

pub(crate) use go_json;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_go_does() {
        let time = Time {
            seconds: Some(1_700_000_000),
            nanos: Some(123),
        };
        assert_eq!(
            time.to_json(),
            Ok(Some(Value::from("2023-11-14T22:13:20Z")))
        );
        assert_eq!(Time::default().to_json(), Ok(None));
        let micro = MicroTime {
            seconds: Some(1_700_000_000),
            nanos: Some(123_456_789),
        };
        assert_eq!(
            micro.to_json(),
            Ok(Some(Value::from("2023-11-14T22:13:20.123456Z")))
        );
        let far = Time {
            seconds: Some(i64::MAX),
            nanos: None,
        };
        assert!(far.to_json().is_err());
    }

    #[test]
    fn int_or_string_and_quantity() {
        let number = IntOrString {
            r#type: Some(0),
            int_val: Some(8080),
            str_val: Some(String::new()),
        };
        assert_eq!(number.to_json(), Ok(Some(Value::from(8080))));
        let text = IntOrString {
            r#type: Some(1),
            int_val: Some(0),
            str_val: Some("25%".into()),
        };
        assert_eq!(text.to_json(), Ok(Some(Value::from("25%"))));
        let odd = IntOrString {
            r#type: Some(7),
            ..IntOrString::default()
        };
        assert!(odd.to_json().is_err());
        assert_eq!(Quantity::default().to_json(), Ok(Some(Value::from("0"))));
    }

    #[test]
    fn zero_scalars_follow_the_go_type() {
        let mut object = Map::new();
        put(&mut object, "omitted", &Some(0_i32), Zero::Omit).unwrap();
        put(&mut object, "kept", &Some(0_i32), Zero::Keep).unwrap();
        put(&mut object, "absent", &None::<i32>, Zero::Keep).unwrap();
        put(&mut object, "list", &Vec::<String>::new(), Zero::Keep).unwrap();
        put(&mut object, "bytes", &Some(b"hi".to_vec()), Zero::Omit).unwrap();
        assert_eq!(
            Value::Object(object),
            serde_json::json!({"kept": 0, "bytes": "aGk="})
        );
    }

    #[test]
    fn errors_name_the_field() {
        let times = vec![
            Time::default(),
            Time {
                seconds: Some(i64::MIN),
                nanos: None,
            },
        ];
        let mut object = Map::new();
        let error = put(&mut object, "times", &times, Zero::Keep).unwrap_err();
        let error = error.within("status");
        assert_eq!(
            error.to_string(),
            format!("status.times[1]: time {}s out of range", i64::MIN)
        );
    }
}
