//! The number of spans in an export, counted before it is decoded. A decoded span takes about a
//! hundred bytes however small it was on the wire (`{}` in JSON, two bytes in protobuf), so a
//! 10 MiB body of empty spans became 3.5 to 5 million spans and 400 to 600 MB of memory for one
//! request. Counting walks the body without building anything, and stops at the limit.

use super::Encoding;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::cell::Cell;
use std::fmt;

/// Whether the export holds more than `limit` spans. A body that is not a well-formed export is
/// not judged here (`false`): decoding it reports what is wrong.
pub fn exceeds(body: &[u8], encoding: Encoding, limit: usize) -> bool {
    let count = Cell::new(0);
    match encoding {
        Encoding::Protobuf => {
            let _ = protobuf(body, 0, &count, limit);
        }
        Encoding::Json => {
            let mut deserializer = serde_json::Deserializer::from_slice(body);
            let _ = Level {
                depth: 0,
                count: &count,
                limit,
            }
            .deserialize(&mut deserializer);
        }
    }
    count.get() > limit
}

/// The field that leads to the spans at each depth: ExportTraceServiceRequest.resource_spans (1),
/// ResourceSpans.scope_spans (2), ScopeSpans.spans (2).
const PROTOBUF_PATH: [u64; 3] = [1, 2, 2];
const JSON_PATH: [[&str; 2]; 3] = [
    ["resourceSpans", "resource_spans"],
    ["scopeSpans", "scope_spans"],
    ["spans", "spans"],
];

/// Walks one protobuf message; `Err` on a malformed one or once past the limit.
fn protobuf(mut buf: &[u8], depth: usize, count: &Cell<usize>, limit: usize) -> Result<(), ()> {
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let (field, wire_type) = (key >> 3, key & 7);
        match wire_type {
            0 => {
                varint(&mut buf)?;
            }
            1 => buf = buf.get(8..).ok_or(())?,
            5 => buf = buf.get(4..).ok_or(())?,
            2 => {
                let len = usize::try_from(varint(&mut buf)?).map_err(|_| ())?;
                let value = buf.get(..len).ok_or(())?;
                buf = &buf[len..];
                if PROTOBUF_PATH.get(depth) == Some(&field) {
                    if depth + 1 == PROTOBUF_PATH.len() {
                        count.set(count.get() + 1);
                        if count.get() > limit {
                            return Err(());
                        }
                    } else {
                        protobuf(value, depth + 1, count, limit)?;
                    }
                }
            }
            _ => return Err(()),
        }
    }
    Ok(())
}

fn varint(buf: &mut &[u8]) -> Result<u64, ()> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first().ok_or(())?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(())
}

/// One JSON object on the way to the spans (`depth` 0 is the request), read without building it.
struct Level<'a> {
    depth: usize,
    count: &'a Cell<usize>,
    limit: usize,
}

impl<'de> DeserializeSeed<'de> for Level<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Level<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if JSON_PATH
                .get(self.depth)
                .is_some_and(|names| names.contains(&key.as_ref()))
            {
                map.next_value_seed(List { level: self })?;
                return skip_rest(map);
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

fn skip_rest<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// The array under a key of `JSON_PATH`: its elements are the next level, or the spans.
struct List<'a> {
    level: Level<'a>,
}

impl<'de> DeserializeSeed<'de> for List<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for List<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Level { depth, count, limit } = self.level;
        if depth + 1 == JSON_PATH.len() {
            while seq.next_element::<IgnoredAny>()?.is_some() {
                count.set(count.get() + 1);
                if count.get() > limit {
                    return Err(de::Error::custom("too many spans"));
                }
            }
        } else {
            while seq
                .next_element_seed(Level {
                    depth: depth + 1,
                    count,
                    limit,
                })?
                .is_some()
            {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_export(spans: usize) -> Vec<u8> {
        let spans = vec!["{}"; spans].join(",");
        format!(r#"{{"resourceSpans":[{{"resource":{{}},"scopeSpans":[{{"spans":[{spans}]}},{{"spans":[{{}}]}}]}}]}}"#)
            .into_bytes()
    }

    #[test]
    fn json_spans_are_counted_across_scopes() {
        assert!(!exceeds(&json_export(9), Encoding::Json, 10));
        assert!(exceeds(&json_export(10), Encoding::Json, 10));
    }

    #[test]
    fn protobuf_spans_are_counted() {
        let request = crate::ingest::otlp::proto::ExportTraceServiceRequest {
            resource_spans: vec![crate::ingest::otlp::proto::ResourceSpans {
                resource: None,
                scope_spans: vec![crate::ingest::otlp::proto::ScopeSpans {
                    spans: vec![Default::default(); 11],
                }],
            }],
        };
        let body = prost::Message::encode_to_vec(&request);
        assert!(!exceeds(&body, Encoding::Protobuf, 11));
        assert!(exceeds(&body, Encoding::Protobuf, 10));
    }

    #[test]
    fn a_malformed_body_is_left_to_the_decoder() {
        assert!(!exceeds(b"[[[", Encoding::Json, 0));
        assert!(!exceeds(&[0xff; 8], Encoding::Protobuf, 0));
    }
}
