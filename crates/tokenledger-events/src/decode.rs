//! Body → raw events. A body that is not JSON (or NDJSON) at all is a 400 and nothing is stored;
//! an element that is JSON but not a well-typed event is rejected alone.

use crate::event::bounded;
use crate::EventError;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fmt;

/// Why a whole body is refused; nothing of it is stored. The service answers each with its
/// status (see `code`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// 415: a Content-Type that is neither JSON nor NDJSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 400 `malformed_body`: not JSON, or JSON that is neither an object nor an array.
    #[error("{0}")]
    Malformed(String),
    /// 422 `batch_too_large`: more events than `TOKENLEDGER_MAX_BATCH`.
    #[error("{0}")]
    BatchTooLarge(String),
}

/// How the events are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// One event object, or an array of them.
    Json,
    /// One event object per line.
    Ndjson,
}

/// Picks the framing from the Content-Type, or says what is accepted.
pub fn body_format(content_type: Option<&str>) -> Result<BodyFormat, BodyError> {
    let essence = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|ct| ct.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match essence.as_str() {
        "application/json" => Ok(BodyFormat::Json),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "application/x-jsonlines" => {
            Ok(BodyFormat::Ndjson)
        }
        other => Err(BodyError::UnsupportedMediaType(format!(
            "Content-Type {:?} is not accepted; send application/json (an event or an array of events) \
             or application/x-ndjson (one event per line)",
            if other.is_empty() { "(none)" } else { other }
        ))),
    }
}

/// An event as sent, every field optional so that validation can name what is missing.
#[derive(Debug, Default)]
pub struct RawEvent {
    pub id: Option<String>,
    pub timestamp: Option<String>,
    pub team: Option<String>,
    pub project: Option<String>,
    pub user: Option<String>,
    pub tags: Option<Vec<(String, String)>>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub service_tier: Option<String>,
    pub usage: Option<Box<RawValue>>,
    pub usage_format: Option<String>,
    pub cost: Option<Box<RawValue>>,
    pub currency: Option<String>,
}

/// The decoded body: one entry per event, in order.
pub struct Decoded {
    pub events: Vec<Result<RawEvent, EventError>>,
    /// The body was a single object (not an array or NDJSON).
    pub single: bool,
}

/// Decodes a body. Errors are whole-body 400s.
pub fn decode(body: &[u8], format: BodyFormat, max_batch: usize) -> Result<Decoded, BodyError> {
    let framed = frame(body, format, max_batch)?;
    Ok(Decoded {
        events: framed
            .items
            .into_iter()
            .map(|item| item.and_then(|raw| decode_event(raw.get())))
            .collect(),
        single: framed.single,
    })
}

/// The records of a body, still as JSON text, before any of them is read as an event.
pub struct Framed<'a> {
    /// One entry per record; an NDJSON line that is not JSON is an `invalid_json` error.
    pub items: Vec<Result<&'a RawValue, EventError>>,
    /// The body was a single object (not an array or NDJSON).
    pub single: bool,
}

/// Splits a body into records: one object, a JSON array, or NDJSON lines. Errors are whole-body
/// 400s (not JSON, not an object or array) or 422s (over `TOKENLEDGER_MAX_BATCH`).
pub fn frame(body: &[u8], format: BodyFormat, max_batch: usize) -> Result<Framed<'_>, BodyError> {
    let malformed = |detail: String| {
        BodyError::Malformed(bounded(format!(
            "the body is not valid JSON: {detail}; nothing was stored"
        )))
    };
    let too_many = |n: usize| {
        BodyError::BatchTooLarge(format!(
            "{n} events in one request; the limit is {max_batch} (TOKENLEDGER_MAX_BATCH); nothing was stored"
        ))
    };
    match format {
        BodyFormat::Json => {
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            match first {
                Some(b'[') => {
                    let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
                    if items.len() > max_batch {
                        return Err(too_many(items.len()));
                    }
                    Ok(Framed { items: items.into_iter().map(Ok).collect(), single: false })
                }
                Some(b'{') => {
                    let raw: &RawValue = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
                    Ok(Framed { items: vec![Ok(raw)], single: true })
                }
                Some(_) => Err(BodyError::Malformed(
                    "the body must be a JSON object (one event) or a JSON array of events; nothing was stored"
                        .into(),
                )),
                None => Err(BodyError::Malformed("the body is empty; nothing was stored".into())),
            }
        }
        BodyFormat::Ndjson => {
            // Line by line, bytes first: a line that is not UTF-8 is rejected alone, like any other
            // line that is not JSON. Lines end at \n, with an optional \r, as `str::lines` has it.
            let lines: Vec<&[u8]> = body
                .split(|&b| b == b'\n')
                .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
                .filter(|line| !std::str::from_utf8(line).is_ok_and(|l| l.trim().is_empty()))
                .collect();
            if lines.len() > max_batch {
                return Err(too_many(lines.len()));
            }
            let items = lines
                .into_iter()
                .map(|line| {
                    let line = std::str::from_utf8(line).map_err(|e| {
                        EventError::new("invalid_json", format!("this line is not valid UTF-8: {e}"))
                    })?;
                    serde_json::from_str::<&RawValue>(line).map_err(|e| {
                        EventError::new("invalid_json", format!("this line is not valid JSON: {e}"))
                    })
                })
                .collect();
            Ok(Framed { items, single: false })
        }
    }
}

/// Decodes one event object; a type error names the field.
pub fn decode_event(json: &str) -> Result<RawEvent, EventError> {
    serde_json::from_str::<RawEvent>(json).map_err(|e| {
        let message = e.to_string();
        let code = if message.starts_with("duplicate field") {
            "duplicate_field"
        } else {
            "invalid_field"
        };
        EventError::new(code, message)
    })
}

enum Field {
    Id,
    Timestamp,
    Team,
    Project,
    User,
    Tags,
    Provider,
    Model,
    ServiceTier,
    Usage,
    UsageFormat,
    Cost,
    Currency,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Field, E> {
                Ok(match name {
                    "id" => Field::Id,
                    "timestamp" => Field::Timestamp,
                    "team" => Field::Team,
                    "project" => Field::Project,
                    "user" => Field::User,
                    "tags" => Field::Tags,
                    "provider" => Field::Provider,
                    "model" => Field::Model,
                    "service_tier" => Field::ServiceTier,
                    "usage" => Field::Usage,
                    "usage_format" => Field::UsageFormat,
                    "cost" => Field::Cost,
                    "currency" => Field::Currency,
                    _ => Field::Other,
                })
            }
        }
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

/// Reads the next value into `slot`, naming the field in any error, and refusing a second value.
fn take<'de, A, T>(map: &mut A, slot: &mut Option<T>, seen: &mut bool, name: &str) -> Result<(), A::Error>
where
    A: MapAccess<'de>,
    T: Deserialize<'de>,
{
    if *seen {
        return Err(de::Error::custom(format_args!("duplicate field `{name}`")));
    }
    *seen = true;
    *slot = map
        .next_value()
        .map_err(|e| de::Error::custom(format_args!("field `{name}`: {e}")))?;
    Ok(())
}

/// Tags: a JSON object of string values, read in order (duplicate keys are refused later).
struct Tags(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TagsVisitor;
        impl<'de> Visitor<'de> for TagsVisitor {
            type Value = Tags;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tags, A::Error> {
                let mut pairs = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, String>()? {
                    pairs.push((key, value));
                    if pairs.len() > 1_000 {
                        return Err(de::Error::custom("far more than 16 tags"));
                    }
                }
                Ok(Tags(pairs))
            }
        }
        deserializer.deserialize_map(TagsVisitor)
    }
}

impl<'de> Deserialize<'de> for RawEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EventVisitor;
        impl<'de> Visitor<'de> for EventVisitor {
            type Value = RawEvent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEvent, A::Error> {
                let mut e = RawEvent::default();
                let mut seen = [false; 13];
                let mut tags: Option<Tags> = None;
                while let Some(field) = map.next_key::<Field>()? {
                    match field {
                        Field::Id => take(&mut map, &mut e.id, &mut seen[0], "id")?,
                        Field::Timestamp => take(&mut map, &mut e.timestamp, &mut seen[1], "timestamp")?,
                        Field::Team => take(&mut map, &mut e.team, &mut seen[2], "team")?,
                        Field::Project => take(&mut map, &mut e.project, &mut seen[3], "project")?,
                        Field::User => take(&mut map, &mut e.user, &mut seen[4], "user")?,
                        Field::Tags => take(&mut map, &mut tags, &mut seen[5], "tags")?,
                        Field::Provider => take(&mut map, &mut e.provider, &mut seen[6], "provider")?,
                        Field::Model => take(&mut map, &mut e.model, &mut seen[7], "model")?,
                        Field::ServiceTier => {
                            take(&mut map, &mut e.service_tier, &mut seen[8], "service_tier")?
                        }
                        Field::Usage => take(&mut map, &mut e.usage, &mut seen[9], "usage")?,
                        Field::UsageFormat => {
                            take(&mut map, &mut e.usage_format, &mut seen[10], "usage_format")?
                        }
                        Field::Cost => take(&mut map, &mut e.cost, &mut seen[11], "cost")?,
                        Field::Currency => take(&mut map, &mut e.currency, &mut seen[12], "currency")?,
                        Field::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                e.tags = tags.map(|t| t.0);
                Ok(e)
            }
        }
        deserializer.deserialize_map(EventVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrongly_typed_field_is_named() {
        let err = decode_event(r#"{"id": "a", "team": 5}"#).unwrap_err();
        assert_eq!(err.code, "invalid_field");
        assert!(err.message.contains("`team`"), "{}", err.message);
    }

    #[test]
    fn a_repeated_field_is_refused() {
        let err = decode_event(r#"{"id": "a", "id": "b"}"#).unwrap_err();
        assert_eq!(err.code, "duplicate_field");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let raw = decode_event(r#"{"id": "a", "extra": {"deep": [1, 2]}}"#).unwrap();
        assert_eq!(raw.id.as_deref(), Some("a"));
    }

    #[test]
    fn an_array_element_that_is_not_an_object_is_rejected_alone() {
        let decoded = decode(br#"[{"id": "a"}, 5]"#, BodyFormat::Json, 10).unwrap();
        assert!(decoded.events[0].is_ok());
        assert!(decoded.events[1].is_err());
    }

    #[test]
    fn a_truncated_array_is_a_malformed_body() {
        assert!(matches!(
            decode(br#"[{"id": "a"}"#, BodyFormat::Json, 10),
            Err(BodyError::Malformed(_))
        ));
    }

    #[test]
    fn ndjson_skips_blank_lines_and_rejects_bad_lines_alone() {
        let decoded = decode(b"{\"id\": \"a\"}\n\n not json\n", BodyFormat::Ndjson, 10).unwrap();
        assert_eq!(decoded.events.len(), 2);
        assert_eq!(decoded.events[1].as_ref().unwrap_err().code, "invalid_json");
    }

    #[test]
    fn an_ndjson_line_that_is_not_utf8_is_rejected_alone() {
        let decoded = decode(b"{\"id\": \"a\"}\r\n{\"id\": \"\xff\"}\n", BodyFormat::Ndjson, 10).unwrap();
        assert_eq!(decoded.events.len(), 2);
        assert!(decoded.events[0].is_ok());
        assert_eq!(decoded.events[1].as_ref().unwrap_err().code, "invalid_json");
    }

    #[test]
    fn batches_over_the_limit_are_refused_whole() {
        assert!(matches!(
            decode(b"[{}, {}, {}]", BodyFormat::Json, 2),
            Err(BodyError::BatchTooLarge(_))
        ));
    }

    #[test]
    fn content_types_are_matched_on_their_essence() {
        assert_eq!(
            body_format(Some("application/json; charset=utf-8")).unwrap(),
            BodyFormat::Json
        );
        assert_eq!(
            body_format(Some("application/x-ndjson")).unwrap(),
            BodyFormat::Ndjson
        );
        assert!(body_format(Some("text/plain")).is_err());
        assert!(body_format(None).is_err());
    }
}
