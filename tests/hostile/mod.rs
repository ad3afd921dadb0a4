//! The hostile-input corpus of `tests/hostile_input.rs`: what a bad body is and what it must get,
//! and the builders of valid events, spans and payloads that the cases start from.

pub mod doors;
pub mod events;
pub mod slow;

use flate2::write::{GzEncoder, ZlibEncoder};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The default TOKENLEDGER_MAX_BODY and TOKENLEDGER_MAX_BATCH, which the corpus runs against.
pub const MAX_BODY: usize = 10 * 1024 * 1024;
pub const MAX_BATCH: usize = 10_000;
/// The longest error message a client may get back (the service cuts them at 1 KiB).
pub const MAX_MESSAGE: usize = 1024;

pub static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

pub fn fresh_id() -> String {
    format!("h{}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// A valid canonical event with a new id.
pub fn event() -> Value {
    json!({"id": fresh_id(), "timestamp": "2026-11-02T10:00:00Z", "team": "t", "provider": "openai",
           "model": "gpt-4o", "usage": {"input_tokens": 100, "output_tokens": 10}})
}

/// A valid event with one field replaced (or removed, for `None`).
pub fn event_with(field: &str, value: Option<Value>) -> Value {
    let mut e = event();
    match value {
        Some(v) => e[field] = v,
        None => {
            e.as_object_mut().unwrap().remove(field);
        }
    }
    e
}

/// A valid event with this usage block.
pub fn usage(block: Value) -> Value {
    event_with("usage", Some(block))
}

/// An event's JSON text with timestamp, team, provider and model, then `rest` as written (for
/// what serde_json cannot write: invalid UTF-8, raw control bytes, duplicate keys, huge literals).
pub fn raw(rest: &[u8]) -> Vec<u8> {
    [
        br#"{"timestamp": "2026-11-02T10:00:00Z", "team": "t", "provider": "openai", "model": "gpt-4o", "#
            .to_vec(),
        rest.to_vec(),
        b"}".to_vec(),
    ]
    .concat()
}

/// A valid event's JSON text (new id, small usage) with `value` as written for `field`.
pub fn raw_event(field: &str, value: &[u8]) -> Vec<u8> {
    let id = fresh_id();
    raw(&[
        format!(r#""id": "{id}", "usage": {{"input_tokens": 1}}, "{field}": "#).into_bytes(),
        value.to_vec(),
    ]
    .concat())
}

/// A valid event's JSON text (new id) whose usage block is `block` as written.
pub fn usage_raw(block: &[u8]) -> Vec<u8> {
    let id = fresh_id();
    raw(&[format!(r#""id": "{id}", "usage": "#).into_bytes(), block.to_vec()].concat())
}

pub fn bytes(value: &Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

pub fn ndjson(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.join(&b'\n')
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

pub fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// What a hostile body must get.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Refused whole: this status, this error code, nothing stored.
    Refused(u16, &'static str),
    /// 200 with an IngestReport: this many stored, these (index, code) rejected.
    Report {
        accepted: i64,
        rejected: Vec<(usize, &'static str)>,
    },
    /// 200 with an OTLP answer: this many stored, this many spans rejected.
    Otlp { stored: i64, rejected_spans: i64 },
}

pub fn refused(status: u16, code: &'static str) -> Expect {
    Expect::Refused(status, code)
}

pub fn report(accepted: i64, rejected: &[(usize, &'static str)]) -> Expect {
    Expect::Report {
        accepted,
        rejected: rejected.to_vec(),
    }
}

/// A single event (or payload) rejected alone is answered 422 with its code.
pub fn invalid(code: &'static str) -> Expect {
    refused(422, code)
}

pub fn accepted() -> Expect {
    report(1, &[])
}

pub struct Case {
    pub category: &'static str,
    pub label: String,
    /// POST, or GET for the query-string cases (`path` then carries the query).
    pub method: &'static str,
    pub path: &'static str,
    pub content_type: Option<String>,
    pub encoding: Option<&'static str>,
    pub body: Vec<u8>,
    pub expect: Expect,
}

/// The cases of one category, built with a few short calls.
pub struct Cases {
    pub category: &'static str,
    pub path: &'static str,
    pub content_type: &'static str,
    pub cases: Vec<Case>,
}

impl Cases {
    pub fn new(category: &'static str, path: &'static str) -> Self {
        Self {
            category,
            path,
            content_type: "application/json",
            cases: Vec::new(),
        }
    }

    pub fn add(&mut self, label: impl Into<String>, body: Vec<u8>, expect: Expect) -> &mut Self {
        let content_type = Some(self.content_type.to_owned());
        self.full(label, content_type, None, body, expect)
    }

    pub fn json(&mut self, label: impl Into<String>, body: Value, expect: Expect) -> &mut Self {
        self.add(label, bytes(&body), expect)
    }

    pub fn full(
        &mut self,
        label: impl Into<String>,
        content_type: Option<String>,
        encoding: Option<&'static str>,
        body: Vec<u8>,
        expect: Expect,
    ) -> &mut Self {
        self.cases.push(Case {
            category: self.category,
            label: label.into(),
            method: "POST",
            path: self.path,
            content_type,
            encoding,
            body,
            expect,
        });
        self
    }
}
