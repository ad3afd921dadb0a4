//! The few OTLP trace messages we read, for both encodings: protobuf through `prost` (field
//! numbers from opentelemetry-proto's `trace/v1/trace.proto`, `common/v1/common.proto` and
//! `collector/trace/v1/trace_service.proto`) and OTLP/JSON through serde (lowerCamelCase keys,
//! trace and span ids as hex, 64-bit integers as decimal strings or numbers). Fields we do not
//! read (events, links, status, array and kvlist attribute values, ...) are skipped by both decoders,
//! as OTLP requires of unknown fields.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// `ExportTraceServiceRequest`: the body of `POST /v1/traces`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExportTraceServiceRequest {
    #[prost(message, repeated, tag = "1")]
    #[serde(alias = "resource_spans")]
    pub resource_spans: Vec<ResourceSpans>,
}

/// Spans of one resource (a process or service).
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceSpans {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    #[serde(alias = "scope_spans")]
    pub scope_spans: Vec<ScopeSpans>,
}

/// The resource's attributes (`service.name`, and possibly the team).
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

/// Spans of one instrumentation scope.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScopeSpans {
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<Span>,
}

/// One span: the fields the GenAI mapping reads.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Span {
    /// 16 bytes (32 hex digits in JSON).
    #[prost(bytes = "vec", tag = "1")]
    #[serde(alias = "trace_id", deserialize_with = "hex_bytes")]
    pub trace_id: Vec<u8>,
    /// 8 bytes (16 hex digits in JSON).
    #[prost(bytes = "vec", tag = "2")]
    #[serde(alias = "span_id", deserialize_with = "hex_bytes")]
    pub span_id: Vec<u8>,
    #[prost(string, tag = "5")]
    pub name: String,
    #[prost(fixed64, tag = "7")]
    #[serde(alias = "start_time_unix_nano", deserialize_with = "lenient_u64")]
    pub start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    #[serde(alias = "end_time_unix_nano", deserialize_with = "lenient_u64")]
    pub end_time_unix_nano: u64,
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
}

/// One attribute.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(default)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// An attribute value. Only scalar values are kept; arrays, maps and bytes read as `None`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    #[prost(oneof = "Value", tags = "1, 2, 3, 4")]
    pub value: Option<Value>,
}

/// The scalar kinds of [`AnyValue`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Value {
    #[prost(string, tag = "1")]
    StringValue(String),
    #[prost(bool, tag = "2")]
    BoolValue(bool),
    #[prost(int64, tag = "3")]
    IntValue(i64),
    #[prost(double, tag = "4")]
    DoubleValue(f64),
}

/// `ExportTraceServiceResponse`: the answer of `POST /v1/traces`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportTraceServiceResponse {
    /// Unset when every span was accepted.
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportTracePartialSuccess>,
}

/// How many spans were rejected, and why.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportTracePartialSuccess {
    #[prost(int64, tag = "1")]
    pub rejected_spans: i64,
    #[prost(string, tag = "2")]
    pub error_message: String,
}

impl ExportTraceServiceResponse {
    /// The OTLP/JSON form (int64 as a decimal string, per the protobuf JSON mapping).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.partial_success {
            None => serde_json::json!({}),
            Some(p) => serde_json::json!({"partialSuccess": {
                "rejectedSpans": p.rejected_spans.to_string(),
                "errorMessage": p.error_message,
            }}),
        }
    }
}

fn hex_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    hex::decode(&text).map_err(|e| {
        de::Error::custom(format_args!(
            "trace and span ids must be hex in OTLP/JSON ({text:?}: {e})"
        ))
    })
}

/// A protobuf 64-bit integer in JSON: a decimal string (the mapping's form) or a plain number.
#[derive(Deserialize)]
#[serde(untagged)]
enum IntText {
    Unsigned(u64),
    Signed(i64),
    Text(String),
}

impl IntText {
    fn parse<T: TryFrom<i128>, E: de::Error>(self) -> Result<T, E> {
        let value = match self {
            Self::Unsigned(n) => i128::from(n),
            Self::Signed(n) => i128::from(n),
            Self::Text(text) => text
                .trim()
                .parse::<i128>()
                .map_err(|_| E::custom(format_args!("{text:?} is not an integer")))?,
        };
        T::try_from(value).map_err(|_| E::custom(format_args!("{value} is out of range")))
    }
}

fn lenient_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    IntText::deserialize(deserializer)?.parse()
}

impl<'de> Deserialize<'de> for AnyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AnyValueVisitor;
        impl<'de> Visitor<'de> for AnyValueVisitor {
            type Value = AnyValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an OTLP AnyValue object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyValue, A::Error> {
                let mut value = None;
                while let Some(key) = map.next_key::<String>()? {
                    value = match key.as_str() {
                        "stringValue" | "string_value" => Some(Value::StringValue(map.next_value()?)),
                        "boolValue" | "bool_value" => Some(Value::BoolValue(map.next_value()?)),
                        "intValue" | "int_value" => {
                            Some(Value::IntValue(map.next_value::<IntText>()?.parse()?))
                        }
                        "doubleValue" | "double_value" => {
                            // "NaN" and "Infinity" are strings in the JSON mapping: read as no value.
                            let number = map.next_value::<serde_json::Value>()?.as_f64();
                            number.map(Value::DoubleValue).or(value)
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            value
                        }
                    };
                }
                Ok(AnyValue { value })
            }
        }
        deserializer.deserialize_map(AnyValueVisitor)
    }
}
