//! Test samples: every message with every field set, none zero (see [`Sample`]).

use std::collections::BTreeMap;

use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1::{FieldsV1, MicroTime, Time};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;

/// A value with every field set (none zero), for tests that check the tables against
/// k8s-openapi's types: a field whose JSON name is wrong is dropped by their decoding.
pub(crate) trait Sample {
    /// The sample value.
    fn sample() -> Self;
}

impl<T: Sample> Sample for Option<T> {
    fn sample() -> Self {
        Some(T::sample())
    }
}

impl<T: Sample> Sample for Vec<T> {
    fn sample() -> Self {
        vec![T::sample()]
    }
}

impl<T: Sample> Sample for BTreeMap<String, T> {
    fn sample() -> Self {
        BTreeMap::from([("sample-key".to_string(), T::sample())])
    }
}

impl Sample for String {
    fn sample() -> Self {
        "sample".to_string()
    }
}

impl Sample for bool {
    fn sample() -> Self {
        true
    }
}

impl Sample for i32 {
    fn sample() -> Self {
        7
    }
}

impl Sample for i64 {
    fn sample() -> Self {
        11
    }
}

impl Sample for Vec<u8> {
    fn sample() -> Self {
        b"sample bytes".to_vec()
    }
}

impl Sample for Time {
    fn sample() -> Self {
        Time {
            seconds: Some(1_700_000_000),
            nanos: Some(0),
        }
    }
}

impl Sample for MicroTime {
    fn sample() -> Self {
        MicroTime {
            seconds: Some(1_700_000_000),
            nanos: Some(123_456_000),
        }
    }
}

impl Sample for Quantity {
    fn sample() -> Self {
        Quantity {
            string: Some("250m".to_string()),
        }
    }
}

impl Sample for IntOrString {
    fn sample() -> Self {
        IntOrString {
            r#type: Some(1),
            int_val: Some(0),
            str_val: Some("25%".to_string()),
        }
    }
}

impl Sample for FieldsV1 {
    fn sample() -> Self {
        FieldsV1 {
            raw: Some(br#"{"f:metadata":{"f:labels":{}}}"#.to_vec()),
        }
    }
}
