//! Bad bodies for the other ingest doors (`POST /v1/traces`, `POST /v1/integrations/litellm`),
//! and NUL bytes in the text of other resources.

use super::*;

/// Every case of these doors.
pub fn all() -> Vec<Case> {
    [traces(), litellm(), other_doors()]
        .into_iter()
        .flatten()
        .collect()
}

// --- /v1/traces -------------------------------------------------------------------------------

pub const T: &str = "1793613600000000000"; // 2026-11-02T10:00:00Z
pub const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

pub fn attr(key: &str, value: Value) -> Value {
    json!({"key": key, "value": value})
}

/// A GenAI span with these extra (or replacing) attributes.
pub fn span(extra: Vec<Value>) -> Value {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut attributes = vec![
        attr("gen_ai.provider.name", json!({"stringValue": "openai"})),
        attr("gen_ai.request.model", json!({"stringValue": "gpt-4.1"})),
        attr("tokenledger.team", json!({"stringValue": "t"})),
        attr("gen_ai.usage.output_tokens", json!({"intValue": "7"})),
    ];
    attributes.splice(0..0, extra);
    json!({"traceId": TRACE, "spanId": format!("{n:016x}"), "name": "chat", "startTimeUnixNano": T,
           "endTimeUnixNano": T, "attributes": attributes})
}

pub fn export(spans: Vec<Value>) -> Value {
    json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})
}

pub fn traces() -> Vec<Case> {
    let mut c = Cases::new("otlp_traces", "/v1/traces");
    let otlp = |stored, rejected_spans| Expect::Otlp {
        stored,
        rejected_spans,
    };
    let malformed = || refused(400, "malformed_body");
    let input = |value: Value| span(vec![attr("gen_ai.usage.input_tokens", value)]);
    c.json("one valid span", export(vec![span(vec![])]), otlp(1, 0))
        .json(
            "input_tokens beyond i64 (as text)",
            export(vec![input(json!({"intValue": "99999999999999999999"}))]),
            malformed(),
        )
        .json(
            "input_tokens beyond i128 (as text)",
            export(vec![input(json!({"intValue": "9".repeat(60)}))]),
            malformed(),
        )
        .json(
            "input_tokens -5",
            export(vec![input(json!({"intValue": "-5"})), span(vec![])]),
            otlp(1, 1),
        )
        .json(
            "input_tokens as a double",
            export(vec![input(json!({"doubleValue": 1.5}))]),
            otlp(0, 1),
        )
        .json(
            "input_tokens as a bool",
            export(vec![input(json!({"boolValue": true}))]),
            otlp(0, 1),
        )
        .json(
            "input_tokens as a non-numeric string",
            export(vec![input(json!({"stringValue": "many"}))]),
            otlp(0, 1),
        )
        .json(
            "input_tokens 2^53 + 1",
            export(vec![input(json!({"intValue": "9007199254740993"}))]),
            otlp(0, 1),
        )
        .json(
            "intValue as an object",
            export(vec![input(json!({"intValue": {"a": 1}}))]),
            malformed(),
        )
        .json(
            "a NUL in the team",
            export(vec![span(vec![attr(
                "tokenledger.team",
                json!({"stringValue": "a\u{0}b"}),
            )])]),
            otlp(0, 1),
        )
        .json(
            "a NUL in the model",
            export(vec![span(vec![attr(
                "gen_ai.request.model",
                json!({"stringValue": "\u{0}"}),
            )])]),
            otlp(0, 1),
        )
        .json(
            "a NUL in a tag",
            export(vec![span(vec![attr(
                "tokenledger.tag.k",
                json!({"stringValue": "\u{0}"}),
            )])]),
            otlp(0, 1),
        )
        .json(
            "end time beyond i64",
            export(vec![{
                let mut s = span(vec![]);
                s["endTimeUnixNano"] = json!("18446744073709551615");
                s["startTimeUnixNano"] = json!("0");
                s
            }]),
            otlp(0, 1),
        )
        .json(
            "end time beyond u64",
            export(vec![{
                let mut s = span(vec![]);
                s["endTimeUnixNano"] = json!("18446744073709551616");
                s
            }]),
            malformed(),
        )
        .json(
            "no times",
            export(vec![{
                let mut s = span(vec![]);
                s.as_object_mut().unwrap().remove("endTimeUnixNano");
                s.as_object_mut().unwrap().remove("startTimeUnixNano");
                s
            }]),
            otlp(0, 1),
        )
        .json(
            "a trace id that is not hex",
            export(vec![{
                let mut s = span(vec![]);
                s["traceId"] = json!("zz");
                s
            }]),
            malformed(),
        )
        .json(
            "a 10 MB trace id that is not hex",
            export(vec![{
                let mut s = span(vec![]);
                s["traceId"] = json!("z".repeat(10_000_000));
                s
            }]),
            malformed(),
        )
        .json(
            "a short span id",
            export(vec![{
                let mut s = span(vec![]);
                s["spanId"] = json!("ab");
                s
            }]),
            otlp(0, 1),
        )
        .json(
            "a 5 MB span name on a rejected span",
            export(vec![{
                let mut s = input(json!({"intValue": "-1"}));
                s["name"] = json!("n".repeat(5_000_000));
                s
            }]),
            otlp(0, 1),
        )
        .json(
            "a span without usage (ignored)",
            export(vec![
                json!({"traceId": TRACE, "spanId": "00000000000000aa", "name": "GET /", "attributes": []}),
            ]),
            otlp(0, 0),
        )
        .json(
            "100k empty spans (ignored; 10 x TOKENLEDGER_MAX_BATCH is the most)",
            export(vec![json!({}); 100_000]),
            otlp(0, 0),
        )
        .add(
            "3.5 million empty spans in 10 MiB (once 420 MB of memory)",
            [
                br#"{"resourceSpans":[{"scopeSpans":[{"spans":["#.to_vec(),
                vec!["{}"; 3_495_000].join(",").into_bytes(),
                b"]}]}]}".to_vec(),
            ]
            .concat(),
            refused(422, "batch_too_large"),
        )
        .json(
            format!("{} GenAI spans", MAX_BATCH + 1),
            export((0..=MAX_BATCH).map(|_| span(vec![])).collect()),
            refused(422, "batch_too_large"),
        )
        .add(
            "100k [ as OTLP/JSON",
            "[".repeat(100_000).into_bytes(),
            malformed(),
        )
        .add(
            "200 nested arrays in an attribute value",
            {
                let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
                export(vec![span(vec![attr("x", json!({"doubleValue": "PLACEHOLDER"}))])])
                    .to_string()
                    .replace("\"PLACEHOLDER\"", &deep)
                    .into_bytes()
            },
            malformed(),
        )
        .add(
            "resourceSpans as a string",
            br#"{"resourceSpans": "x"}"#.to_vec(),
            malformed(),
        )
        .add("not JSON", b"hello".to_vec(), malformed())
        .add(
            "invalid UTF-8",
            b"{\"resourceSpans\": [\"\xFF\"]}".to_vec(),
            malformed(),
        );
    c.content_type = "application/x-protobuf";
    c.add(
        "100k protobuf start-group tags (nesting)",
        vec![0x7B; 100_000],
        malformed(),
    )
    .add(
        "a protobuf length past the end",
        vec![0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01],
        malformed(),
    )
    .add("protobuf wire type 7", vec![0xFF; 64], malformed())
    .add(
        "a JSON body sent as protobuf",
        bytes(&export(vec![span(vec![])])),
        malformed(),
    )
    .add("an empty protobuf body (an empty export)", vec![], otlp(0, 0))
    .add(
        "5 million empty protobuf spans in 10 MiB (once 620 MB of memory)",
        {
            // ExportTraceServiceRequest { resource_spans: [{ scope_spans: [{ spans: [{}; n] }] }] }
            let varint = |mut n: usize| {
                let mut out = Vec::new();
                while n >= 0x80 {
                    out.push((n as u8) | 0x80);
                    n >>= 7;
                }
                out.push(n as u8);
                out
            };
            let scope = [0x12, 0x00].repeat(5_000_000);
            let resource = [vec![0x12], varint(scope.len()), scope].concat();
            [vec![0x0a], varint(resource.len()), resource].concat()
        },
        refused(422, "batch_too_large"),
    )
    .full(
        "a gzip bomb (64 MiB of zeros)",
        Some("application/x-protobuf".into()),
        Some("gzip"),
        gzip(&vec![0; 64 * 1024 * 1024]),
        refused(413, "payload_too_large"),
    )
    .full(
        "a deflate bomb (64 MiB of zeros)",
        Some("application/x-protobuf".into()),
        Some("deflate"),
        zlib(&vec![0; 64 * 1024 * 1024]),
        refused(413, "payload_too_large"),
    )
    .full(
        "gzip of gzip of a valid export",
        Some("application/json".into()),
        Some("gzip"),
        gzip(&gzip(&bytes(&export(vec![span(vec![])])))),
        malformed(),
    )
    .full(
        "a truncated gzip body",
        Some("application/json".into()),
        Some("gzip"),
        {
            let g = gzip(&bytes(&export(vec![span(vec![])])));
            g[..g.len() / 2].to_vec()
        },
        malformed(),
    )
    .full(
        "Content-Encoding: gzip on a plain body",
        Some("application/json".into()),
        Some("gzip"),
        bytes(&export(vec![span(vec![])])),
        malformed(),
    )
    .full(
        "Content-Encoding: br",
        Some("application/json".into()),
        Some("br"),
        bytes(&export(vec![span(vec![])])),
        refused(415, "unsupported_media_type"),
    )
    .full(
        "Content-Encoding: gzip, gzip",
        Some("application/json".into()),
        Some("gzip, gzip"),
        gzip(&gzip(b"{}")),
        refused(415, "unsupported_media_type"),
    )
    .full(
        "Content-Type text/plain",
        Some("text/plain".into()),
        None,
        bytes(&export(vec![span(vec![])])),
        refused(415, "unsupported_media_type"),
    )
    .full(
        "no Content-Type",
        None,
        None,
        bytes(&export(vec![span(vec![])])),
        refused(415, "unsupported_media_type"),
    )
    .full(
        "a gzip body over the limit before decompression",
        Some("application/x-protobuf".into()),
        Some("gzip"),
        vec![0x1f; MAX_BODY + 1],
        refused(413, "payload_too_large"),
    );
    c.cases
}

// --- /v1/integrations/litellm -------------------------------------------------------------------

pub fn payload() -> Value {
    json!({"id": fresh_id(), "status": "success", "custom_llm_provider": "openai", "model": "gpt-4o",
           "startTime": 1793613600.0, "endTime": 1793613601.0, "prompt_tokens": 10, "completion_tokens": 5,
           "metadata": {"user_api_key_team_alias": "t"}})
}

pub fn payload_with(field: &str, value: Value) -> Value {
    let mut p = payload();
    p[field] = value;
    p
}

/// `replace` on JSON text held as bytes.
pub trait PipeReplace {
    fn pipe_replace(self, from: &str, to: &str) -> Vec<u8>;
}

impl PipeReplace for Vec<u8> {
    fn pipe_replace(self, from: &str, to: &str) -> Vec<u8> {
        String::from_utf8(self).unwrap().replace(from, to).into_bytes()
    }
}

pub fn litellm() -> Vec<Case> {
    let mut c = Cases::new("litellm", "/v1/integrations/litellm");
    let malformed = || refused(400, "malformed_body");
    c.json("one valid payload", payload(), accepted())
        .add("not JSON", b"<xml/>".to_vec(), malformed())
        .add("a number", b"5".to_vec(), malformed())
        .add("empty", vec![], malformed())
        .add("100k [", "[".repeat(100_000).into_bytes(), malformed())
        .add(
            "invalid UTF-8",
            [b"[".to_vec(), bytes(&payload()), b", \"\xFF\"]".to_vec()].concat(),
            malformed(),
        )
        .json("an empty object", json!({}), invalid("missing_field"))
        .add(
            "endTime 1e27 seconds",
            bytes(&payload_with("endTime", json!(12345.5))).pipe_replace("12345.5", "1e27"),
            invalid("invalid_timestamp"),
        )
        .add(
            "endTime 1e28 seconds (as written)",
            bytes(&payload_with("endTime", json!(12345.5))).pipe_replace("12345.5", "1e28"),
            invalid("invalid_timestamp"),
        )
        .add(
            "endTime with 40 digits",
            bytes(&payload_with("endTime", json!(12345.5))).pipe_replace("12345.5", &"9".repeat(40)),
            invalid("invalid_timestamp"),
        )
        .add(
            "endTime 1e-400",
            bytes(&payload_with("endTime", json!(12345.5))).pipe_replace("12345.5", "1e-400"),
            invalid("invalid_timestamp"),
        )
        .json(
            "endTime -1e20",
            payload_with("endTime", json!(-1e20)),
            invalid("invalid_timestamp"),
        )
        .json(
            "endTime garbage text",
            payload_with("endTime", json!("soon")),
            invalid("invalid_timestamp"),
        )
        .json(
            "endTime far future",
            payload_with("endTime", json!("9999-01-01T00:00:00Z")),
            invalid("timestamp_in_future"),
        )
        .json(
            "response_cost 1e400",
            payload_with("response_cost", json!("1e400")),
            invalid("invalid_cost"),
        )
        .json(
            "response_cost negative",
            payload_with("response_cost", json!(-0.5)),
            invalid("invalid_cost"),
        )
        .json(
            "response_cost as an object",
            payload_with("response_cost", json!({"usd": 1})),
            invalid("invalid_cost"),
        )
        .add(
            "prompt_tokens 2^64",
            bytes(&payload_with("prompt_tokens", json!(18446744073709551615_u64)))
                .pipe_replace("18446744073709551615", "18446744073709551616"),
            invalid("invalid_field"),
        )
        .json(
            "prompt_tokens -1",
            payload_with("prompt_tokens", json!(-1)),
            invalid("invalid_field"),
        )
        .json(
            "prompt_tokens 2^53 + 1",
            payload_with("prompt_tokens", json!(9007199254740993_u64)),
            invalid("invalid_usage"),
        )
        .json(
            "prompt_tokens 1.5",
            payload_with("prompt_tokens", json!(1.5)),
            invalid("invalid_field"),
        )
        .json(
            "usage_object with a negative count",
            payload_with(
                "metadata",
                json!({"user_api_key_team_alias": "t", "usage_object": {"prompt_tokens": -3}}),
            ),
            invalid("invalid_usage"),
        )
        .json(
            "a NUL in the team alias",
            payload_with("metadata", json!({"user_api_key_team_alias": "a\u{0}"})),
            invalid("invalid_field"),
        )
        .json(
            "a NUL in the model",
            payload_with("model", json!("gpt\u{0}")),
            invalid("invalid_field"),
        )
        .json(
            "a NUL in the id",
            payload_with("id", json!("\u{0}")),
            invalid("invalid_field"),
        )
        .json(
            "a NUL in a request tag (dropped, the call is billed)",
            payload_with("request_tags", json!(["k:\u{0}"])),
            accepted(),
        )
        .json(
            "a 10 MB model",
            payload_with("model", json!("m".repeat(10_000_000))),
            invalid("invalid_field"),
        )
        .add(
            "metadata 100k deep (raw)",
            {
                let p = payload_with("metadata", Value::Null);
                p.to_string()
                    .replace(
                        "\"metadata\":null",
                        &format!("\"metadata\":{}{}", "[".repeat(100_000), "]".repeat(100_000)),
                    )
                    .into_bytes()
            },
            invalid("missing_field"),
        )
        .json(
            "a failure without usage (ignored)",
            json!({"id": fresh_id(), "status": "failure", "metadata": {"user_api_key_team_alias": "t"}}),
            report(0, &[]),
        )
        .json(
            "id as a number",
            payload_with("id", json!(5)),
            invalid("invalid_field"),
        )
        .json(
            format!("{} payloads", MAX_BATCH + 1),
            Value::Array((0..=MAX_BATCH).map(|_| payload()).collect()),
            refused(422, "batch_too_large"),
        )
        .json(
            "a batch: two valid, three bad",
            json!([
                payload(),
                payload_with("endTime", json!("1e27")),
                7,
                payload(),
                payload_with("metadata", json!("t"))
            ]),
            report(
                2,
                &[
                    (1, "invalid_timestamp"),
                    (2, "invalid_field"),
                    (4, "missing_field"),
                ],
            ),
        )
        .full(
            "a gzip bomb",
            Some("application/json".into()),
            Some("gzip"),
            gzip(&vec![b' '; 64 * 1024 * 1024]),
            refused(413, "payload_too_large"),
        )
        .full(
            "Content-Type text/plain",
            Some("text/plain".into()),
            None,
            bytes(&payload()),
            refused(415, "unsupported_media_type"),
        );
    c.content_type = "application/x-ndjson";
    c.add(
        "NDJSON with garbage lines",
        ndjson(&[
            bytes(&payload()),
            b"garbage".to_vec(),
            b"\xFF".to_vec(),
            bytes(&payload()),
        ]),
        report(2, &[(1, "invalid_json"), (2, "invalid_json")]),
    );
    c.cases
}

/// Other bodies that end up in text columns: a NUL must be a 4xx there too, never a 500.
pub fn other_doors() -> Vec<Case> {
    let mut c = Cases::new("nul_elsewhere", "/v1/keys");
    c.json(
        "a NUL in a key name",
        json!({"name": "a\u{0}b", "scope": "read"}),
        refused(422, "invalid_key"),
    )
    .json(
        "a NUL in a key's team",
        json!({"name": "k", "scope": "read", "team": "\u{0}"}),
        refused(422, "invalid_key"),
    );
    let mut cases = c.cases;
    let mut b = Cases::new("nul_elsewhere", "/v1/budgets");
    b.json("a NUL in a budget name", json!({"name": "b\u{0}", "team": "t", "period": "monthly", "amount": "10", "currency": "USD", "thresholds": [100]}), refused(422, "invalid_name"))
        .json("a NUL in a budget team", json!({"name": "b", "team": "t\u{0}", "period": "monthly", "amount": "10", "currency": "USD", "thresholds": [100]}), refused(422, "invalid_team"));
    cases.extend(b.cases);
    // Filters reach SQL as text parameters: PostgreSQL's 22021 for a NUL was a 500 (schemathesis).
    for path in [
        "/v1/prices?provider=a%00b",
        "/v1/aliases?provider=%00",
        "/v1/budgets?team=t%00",
        "/v1/events?team=t%00",
        "/v1/spend?team=t%00&group_by=team",
        "/v1/unpriced?team=%00",
        "/v1/alerts?team=%00",
        "/v1/teams?currency=US%00",
    ] {
        cases.push(Case {
            category: "nul_elsewhere",
            label: format!("GET {path}"),
            method: "GET",
            path,
            content_type: None,
            encoding: None,
            body: Vec::new(),
            expect: refused(400, "invalid_text"),
        });
    }
    cases
}
