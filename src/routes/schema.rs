//! Types that exist only to describe, in the OpenAPI document, what a handler reads by hand from
//! the raw body (so the document says what the server really accepts).

use std::borrow::Cow;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// The JSON body of the ingest doors: one object, or an array whose elements are each accepted or
/// rejected on their own (so any element is schema-valid).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // never built: it describes what the handlers read from the raw body
pub enum OneOrMany {
    One(std::collections::HashMap<String, serde_json::Value>),
    Many(Vec<serde_json::Value>),
}

/// A protobuf body.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // never built: it describes what the handler reads from the raw body
pub struct ProtobufBody(Vec<u8>);

/// An exact amount as sent: a decimal string (`"0.8"`) or a JSON number, read from its text as
/// written (never through a float).
pub struct DecimalInput;

impl utoipa::PartialSchema for DecimalInput {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .description(Some(
                "An exact decimal: a decimal string (\"0.8\") or a JSON number, read exactly as written",
            ))
            .into()
    }
}

impl utoipa::ToSchema for DecimalInput {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("DecimalInput")
    }
}
