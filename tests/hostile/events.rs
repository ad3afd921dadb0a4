//! Bad bodies for `POST /v1/events`, by category.

use super::*;

/// Every case of this door.
pub fn all() -> Vec<Case> {
    [
        framing(),
        utf8(),
        nul(),
        nesting(),
        sizes(),
        numbers(),
        duplicates(),
        wrong_types(),
        timestamps(),
        usage_formats(),
        batches(),
        content_types(),
        ndjson_garbage(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

pub fn framing() -> Vec<Case> {
    let mut c = Cases::new("framing", "/v1/events");
    let malformed = || refused(400, "malformed_body");
    c.add("empty body", vec![], malformed())
        .add("whitespace only", b" \r\n\t ".to_vec(), malformed())
        .add("null", b"null".to_vec(), malformed())
        .add("a number", b"5".to_vec(), malformed())
        .add("a string", b"\"event\"".to_vec(), malformed())
        .add("true", b"true".to_vec(), malformed())
        .add("truncated object", b"{\"id\": ".to_vec(), malformed())
        .add("truncated array", br#"[{"id": "a"}, {"id""#.to_vec(), malformed())
        .add(
            "trailing garbage",
            [bytes(&event()), b" xyz".to_vec()].concat(),
            malformed(),
        )
        .add(
            "two objects",
            [bytes(&event()), bytes(&event())].concat(),
            malformed(),
        )
        .add(
            "byte order mark",
            [b"\xEF\xBB\xBF".to_vec(), bytes(&event())].concat(),
            malformed(),
        )
        .add("single quotes", b"{'id': 'a'}".to_vec(), malformed())
        .add("trailing comma", br#"{"id": "a",}"#.to_vec(), malformed())
        .add("comment", b"/* x */ {}".to_vec(), malformed())
        .add(
            "NaN literal",
            br#"{"usage": {"input_tokens": NaN}}"#.to_vec(),
            malformed(),
        )
        .add("unquoted key", b"{id: 1}".to_vec(), malformed())
        .add("an empty object", b"{}".to_vec(), invalid("missing_field"))
        .add("an empty array", b"[]".to_vec(), report(0, &[]))
        .add(
            "an array of scalars",
            b"[1, \"a\", null, true]".to_vec(),
            report(
                0,
                &[
                    (0, "invalid_field"),
                    (1, "invalid_field"),
                    (2, "invalid_field"),
                    (3, "invalid_field"),
                ],
            ),
        )
        .add(
            "an array of arrays",
            b"[[], [{}]]".to_vec(),
            report(0, &[(0, "invalid_field"), (1, "invalid_field")]),
        );
    c.cases
}

pub fn utf8() -> Vec<Case> {
    let mut c = Cases::new("invalid_utf8", "/v1/events");
    let malformed = || refused(400, "malformed_body");
    c.add(
        "0xFF before the object",
        [b"\xFF".to_vec(), bytes(&event())].concat(),
        malformed(),
    )
    .add(
        "0xFF in a string",
        raw_event("project", b"\"ab\xFFcd\""),
        malformed(),
    )
    .add(
        "overlong encoding of /",
        raw_event("project", b"\"\xC0\xAF\""),
        malformed(),
    )
    .add(
        "encoded surrogate",
        raw_event("project", b"\"\xED\xA0\x80\""),
        malformed(),
    )
    .add(
        "truncated sequence",
        raw_event("project", b"\"\xE2\x82\""),
        malformed(),
    )
    .add(
        "invalid UTF-8 in an array element",
        [b"[".to_vec(), raw_event("user", b"\"\xFE\""), b"]".to_vec()].concat(),
        malformed(),
    )
    .add(
        "invalid UTF-8 in an unknown field",
        raw_event("extra", b"\"\xFF\""),
        malformed(),
    )
    .add(
        "lone surrogate escape in the id",
        raw(br#""id": "\ud800", "usage": {}"#),
        invalid("invalid_field"),
    )
    .add(
        "lone surrogate escape in the team",
        br#"{"id": "x1", "team": "\udfff"}"#.to_vec(),
        invalid("invalid_field"),
    );
    c.content_type = "application/x-ndjson";
    c.add(
        "NDJSON: a line of invalid UTF-8 among valid ones",
        ndjson(&[bytes(&event()), b"\xFF\xFE".to_vec(), bytes(&event())]),
        report(2, &[(1, "invalid_json")]),
    );
    c.cases
}

pub fn nul() -> Vec<Case> {
    let mut c = Cases::new("nul_bytes", "/v1/events");
    for field in ["id", "team", "project", "user", "provider", "model"] {
        c.json(
            format!("NUL in {field}"),
            event_with(field, Some(json!("a\u{0}b"))),
            invalid("invalid_field"),
        );
    }
    c.json(
        "NUL alone as the team",
        event_with("team", Some(json!("\u{0}"))),
        invalid("invalid_field"),
    )
    .json(
        "NUL in a tag key",
        event_with("tags", Some(json!({"a\u{0}": "v"}))),
        invalid("invalid_field"),
    )
    .json(
        "NUL in a tag value",
        event_with("tags", Some(json!({"k": "v\u{0}"}))),
        invalid("invalid_field"),
    )
    .json(
        "NUL in service_tier",
        event_with("service_tier", Some(json!("batch\u{0}"))),
        invalid("invalid_service_tier"),
    )
    .json(
        "NUL in usage_format",
        event_with("usage_format", Some(json!("openai\u{0}"))),
        invalid("unknown_usage_format"),
    )
    .json(
        "NUL in currency",
        event_with("currency", Some(json!("US\u{0}"))),
        invalid("invalid_currency"),
    )
    .json(
        "NUL in timestamp",
        event_with("timestamp", Some(json!("2026-11-02T10:00:00Z\u{0}"))),
        invalid("invalid_timestamp"),
    )
    .json(
        "NUL in cost",
        event_with("cost", Some(json!("1\u{0}"))),
        invalid("invalid_cost"),
    )
    .json(
        "NUL in a usage key",
        usage(json!({"input_tokens\u{0}": 5})),
        invalid("invalid_usage"),
    )
    .json(
        "NUL in an unknown field is ignored",
        event_with("note", Some(json!("\u{0}"))),
        accepted(),
    )
    .add(
        "a raw NUL byte inside a string",
        raw_event("project", b"\"a\x00b\""),
        refused(400, "malformed_body"),
    )
    .add(
        "a raw NUL byte between tokens",
        [bytes(&event()), b"\x00".to_vec()].concat(),
        refused(400, "malformed_body"),
    );
    c.json(
        "a batch: NUL events rejected, the others stored",
        json!([
            event(),
            event_with("team", Some(json!("\u{0}"))),
            event(),
            event_with("id", Some(json!("\u{0}")))
        ]),
        report(2, &[(1, "invalid_field"), (3, "invalid_field")]),
    );
    c.cases
}

pub fn nesting() -> Vec<Case> {
    let mut c = Cases::new("deep_nesting", "/v1/events");
    let deep = |n: usize, open: &str, close: &str, inner: &str| -> Vec<u8> {
        [open.repeat(n), inner.to_owned(), close.repeat(n)]
            .concat()
            .into_bytes()
    };
    c.add("100k unclosed [", "[".repeat(100_000).into_bytes(), refused(400, "malformed_body"))
        .add("100k unclosed {\"a\":", "{\"a\":".repeat(100_000).into_bytes(), refused(400, "malformed_body"))
        .add("100k balanced [ ] as the body", deep(100_000, "[", "]", ""), report(0, &[(0, "invalid_field")]))
        .add("100k balanced nesting in an unknown field", raw_event("extra", &deep(100_000, "[", "]", "")), accepted())
        .add("100k nested objects in an unknown field", raw_event("extra", &deep(100_000, "{\"a\":", "}", "1")), accepted())
        .add("100k nesting as usage", usage_raw(&deep(100_000, "[", "]", "")), invalid("invalid_usage"))
        .json("deep nesting in a usage count", usage(json!({"input_tokens": [[[[[[[[[[1]]]]]]]]]]})), invalid("invalid_usage"))
        .add("100k nesting in an unknown usage field", usage_raw(&[b"{\"input_tokens\": 1, \"x\": ".to_vec(), deep(100_000, "[", "]", ""), b"}".to_vec()].concat()), accepted())
        .add("100k nested objects in an unknown usage field", usage_raw(&[b"{\"x\": ".to_vec(), deep(100_000, "{\"a\":", "}", "1"), b", \"input_tokens\": 2}".to_vec()].concat()), accepted())
        .add("200 nested arrays as openai details", {
            let id = fresh_id();
            raw(&[format!(r#""id": "{id}", "usage_format": "openai", "usage": {{"prompt_tokens": 1, "prompt_tokens_details": "#).into_bytes(), deep(200, "[", "]", ""), b"}".to_vec()].concat())
        }, invalid("invalid_usage"))
        .add("200 nested objects as openai details", {
            let id = fresh_id();
            raw(&[format!(r#""id": "{id}", "usage_format": "openai", "usage": {{"prompt_tokens": 1, "prompt_tokens_details": "#).into_bytes(), deep(200, "{\"cached_tokens\":", "}", "1"), b"}".to_vec()].concat())
        }, invalid("invalid_usage"))
        .add("tags nested 100k deep", raw_event("tags", &deep(100_000, "{\"a\":", "}", "\"v\"")), invalid("invalid_field"));
    c.cases
}

pub fn sizes() -> Vec<Case> {
    let mut c = Cases::new("huge_strings", "/v1/events");
    let ten_mb = "x".repeat(10_000_000);
    c.json(
        "a 10 MB id",
        event_with("id", Some(json!(ten_mb))),
        invalid("invalid_id"),
    )
    .json(
        "a 10 MB team",
        event_with("team", Some(json!(ten_mb))),
        invalid("invalid_field"),
    )
    .json(
        "a 10 MB service_tier",
        event_with("service_tier", Some(json!(ten_mb))),
        invalid("invalid_service_tier"),
    )
    .json(
        "a 10 MB usage_format",
        event_with("usage_format", Some(json!(ten_mb))),
        invalid("unknown_usage_format"),
    )
    .json(
        "a 10 MB currency",
        event_with("currency", Some(json!(ten_mb))),
        invalid("invalid_currency"),
    )
    .json(
        "a 10 MB timestamp",
        event_with("timestamp", Some(json!(ten_mb))),
        invalid("invalid_timestamp"),
    )
    .json(
        "a 10 MB cost",
        event_with("cost", Some(json!(ten_mb))),
        invalid("invalid_cost"),
    )
    .json(
        "a 10 MB tag value",
        event_with("tags", Some(json!({"k": ten_mb}))),
        invalid("invalid_field"),
    )
    .json(
        "a 10 MB string as tags",
        event_with("tags", Some(json!(ten_mb))),
        invalid("invalid_field"),
    )
    .json(
        "a 10 MB string as usage",
        usage(json!(ten_mb)),
        invalid("invalid_usage"),
    )
    .json(
        "a 10 MB string as a count",
        usage(json!({"input_tokens": ten_mb})),
        invalid("invalid_usage"),
    )
    .json(
        "a 10 MB unknown field is ignored",
        event_with("note", Some(json!(ten_mb))),
        accepted(),
    )
    .json(
        "1000 tags",
        event_with(
            "tags",
            Some(Value::Object(
                (0..1000).map(|i| (format!("k{i}"), json!("v"))).collect(),
            )),
        ),
        invalid("too_many_tags"),
    )
    .json(
        "100k tags",
        event_with(
            "tags",
            Some(Value::Object(
                (0..100_000).map(|i| (format!("k{i}"), json!("v"))).collect(),
            )),
        ),
        invalid("invalid_field"),
    )
    .add(
        "a 10 MB digit string as a count",
        usage_raw(format!("{{\"output_tokens\": {}}}", "9".repeat(10_000_000)).as_bytes()),
        invalid("invalid_usage"),
    )
    .add(
        "a 10 MB digit string as the cost",
        raw_event("cost", "9".repeat(10_000_000).as_bytes()),
        invalid("invalid_cost"),
    )
    .add(
        "a 10 MB fraction as the cost",
        raw_event("cost", format!("0.{}", "1".repeat(10_000_000)).as_bytes()),
        invalid("invalid_cost"),
    )
    .add(
        "a body one byte over the limit",
        {
            let mut e = event_with("note", Some(json!("")));
            let size = bytes(&e).len();
            e["note"] = json!("x".repeat(MAX_BODY + 1 - size));
            let body = bytes(&e);
            assert_eq!(body.len(), MAX_BODY + 1);
            body
        },
        refused(413, "payload_too_large"),
    )
    .add(
        "a body exactly at the limit",
        {
            let mut e = event_with("note", Some(json!("")));
            let size = bytes(&e).len();
            e["note"] = json!("x".repeat(MAX_BODY - size));
            bytes(&e)
        },
        accepted(),
    )
    .add(
        "a 30 MB body",
        vec![b' '; 30 * 1024 * 1024],
        refused(413, "payload_too_large"),
    );
    c.cases
}

pub fn numbers() -> Vec<Case> {
    let mut c = Cases::new("numbers", "/v1/events");
    let count = |literal: &str| {
        usage_raw(format!(r#"{{"input_tokens": 10, "output_tokens": {literal}}}"#).as_bytes())
    };
    let cost = |literal: &str| raw_event("cost", literal.as_bytes());
    for (literal, ok) in [
        ("9007199254740992", true), // 2^53: the largest count
        ("0", true),
        ("-0", true),
        ("null", true),
        ("9007199254740993", false),     // 2^53 + 1
        ("9223372036854775807", false),  // i64::MAX
        ("9223372036854775808", false),  // i64::MAX + 1
        ("18446744073709551616", false), // u64::MAX + 1
        (
            "123456789012345678901234567890123456789012345678901234567890",
            false,
        ),
        ("1e400", false),
        ("-1", false),
        ("-9223372036854775809", false),
        ("1.5", false),
        ("1.0", false),
        ("1e3", false),
        ("0.0000001", false),
        ("\"12\"", false),
        ("true", false),
        ("[]", false),
        ("{}", false),
    ] {
        c.add(
            format!("output_tokens {literal}"),
            count(literal),
            if ok { accepted() } else { invalid("invalid_usage") },
        );
    }
    for (literal, ok) in [
        ("0.1", true),
        ("\"0.0123\"", true),
        ("\"-0\"", true),
        ("1e-12", true),
        ("999999999999999.999999999999", true), // the largest: just below 10^15
        ("1000000000000000", false),            // 10^15
        ("1e15", false),
        ("99999999999999999999999999", false), // 26 integer digits: a few of these overflowed the rollups
        ("999999999999999999999999999", false),
        ("1e-13", false),
        ("1e-30", false),
        ("1e400", false),
        ("-1e400", false),
        ("1e99999999999999999999", false),
        ("-0.01", false),
        ("\"NaN\"", false),
        ("\"Infinity\"", false),
        ("\"1,5\"", false),
        ("\"0x10\"", false),
        ("\" 1 \"", true),
        ("\"\"", false),
        ("true", false),
        ("{}", false),
    ] {
        c.add(
            format!("cost {literal}"),
            cost(literal),
            if ok { accepted() } else { invalid("invalid_cost") },
        );
    }
    c.json("anthropic counts whose sum passes 2^53",
        json!({"id": fresh_id(), "timestamp": "2026-11-02T10:00:00Z", "team": "t", "provider": "anthropic",
               "model": "claude", "usage_format": "anthropic",
               "usage": {"input_tokens": 9007199254740992_u64, "cache_read_input_tokens": 9007199254740992_u64}}),
        invalid("invalid_usage"))
        .json("cache reads above input", usage(json!({"input_tokens": 1, "cache_read_tokens": 2})), invalid("invalid_usage"))
        .json("reasoning above output", usage(json!({"output_tokens": 1, "reasoning_tokens": 2})), invalid("invalid_usage"))
        .json("1h writes above writes", usage(json!({"input_tokens": 5, "cache_write_tokens": 1, "cache_write_1h_tokens": 2})), invalid("invalid_usage"));
    c.cases
}

pub fn duplicates() -> Vec<Case> {
    let mut c = Cases::new("duplicate_keys", "/v1/events");
    c.add(
        "id twice",
        raw_event("id", b"\"other\""),
        invalid("duplicate_field"),
    )
    .add(
        "usage twice",
        raw_event("usage", b"{\"input_tokens\": 999}"),
        invalid("duplicate_field"),
    )
    .add(
        "team twice, same value",
        raw_event("team", b"\"t\""),
        invalid("duplicate_field"),
    )
    .add(
        "a usage count twice",
        usage_raw(b"{\"input_tokens\": 1, \"input_tokens\": 1000}"),
        invalid("invalid_usage"),
    )
    .add(
        "a tag twice",
        raw_event("tags", b"{\"k\": \"a\", \"k\": \"b\"}"),
        invalid("duplicate_field"),
    )
    .add(
        "an unknown key twice is ignored",
        raw_event("x", b"1, \"x\": 2"),
        accepted(),
    );
    c.cases
}

/// Every field with values of every wrong JSON type, one event each.
pub fn wrong_type_events() -> Vec<(String, Value, &'static str)> {
    let strings = [
        "id",
        "timestamp",
        "team",
        "project",
        "user",
        "provider",
        "model",
        "service_tier",
        "usage_format",
        "currency",
    ];
    let wrong: [(&str, Value); 5] = [
        ("a number", json!(12)),
        ("a boolean", json!(true)),
        ("an array", json!(["x"])),
        ("an object", json!({"x": "y"})),
        ("a float", json!(1.5)),
    ];
    let mut cases = Vec::new();
    for field in strings {
        for (what, value) in &wrong {
            cases.push((
                format!("{field} as {what}"),
                event_with(field, Some(value.clone())),
                "invalid_field",
            ));
        }
    }
    for (what, value) in [
        ("a string", json!("k=v")),
        ("an array", json!(["k"])),
        ("a number", json!(1)),
        ("a boolean", json!(false)),
    ] {
        cases.push((
            format!("tags as {what}"),
            event_with("tags", Some(value)),
            "invalid_field",
        ));
    }
    for (what, value) in [
        ("a number", json!(1)),
        ("null", Value::Null),
        ("an array", json!(["v"])),
        ("an object", json!({"a": "b"})),
    ] {
        cases.push((
            format!("a tag value as {what}"),
            event_with("tags", Some(json!({"k": value}))),
            "invalid_field",
        ));
    }
    for (what, value) in [
        ("a string", json!("100")),
        ("a number", json!(100)),
        ("an array", json!([100])),
        ("a boolean", json!(true)),
    ] {
        cases.push((format!("usage as {what}"), usage(value), "invalid_usage"));
    }
    for (what, value) in [
        ("a boolean", json!(true)),
        ("an array", json!(["1"])),
        ("an object", json!({"amount": "1"})),
    ] {
        cases.push((
            format!("cost as {what}"),
            event_with("cost", Some(value)),
            "invalid_cost",
        ));
    }
    for (format, details) in [
        ("openai", "prompt_tokens_details"),
        ("anthropic", "cache_creation"),
        ("bedrock", "cacheDetails"),
    ] {
        let mut e = event();
        e["usage_format"] = json!(format);
        e["usage"] = json!({details: "five"});
        cases.push((format!("{format} {details} as a string"), e, "invalid_usage"));
    }
    for field in ["id", "timestamp", "team", "provider", "model", "usage"] {
        cases.push((
            format!("{field} missing"),
            event_with(field, None),
            "missing_field",
        ));
        cases.push((
            format!("{field} null"),
            event_with(field, Some(Value::Null)),
            "missing_field",
        ));
    }
    cases
}

pub fn wrong_types() -> Vec<Case> {
    let mut c = Cases::new("wrong_types", "/v1/events");
    let events = wrong_type_events();
    let mut batch = vec![event()];
    let mut rejected = Vec::new();
    for (label, e, code) in &events {
        c.json(label.clone(), e.clone(), invalid(code));
        rejected.push((batch.len(), *code));
        // Each batch member gets its own id, so none is a duplicate of the single sent above.
        let mut e = e.clone();
        if e.get("id").is_some_and(Value::is_string) {
            e["id"] = json!(fresh_id());
        }
        batch.push(e);
    }
    batch.push(event());
    c.json(
        format!(
            "one batch of all {} wrong-typed events between two valid ones",
            events.len()
        ),
        Value::Array(batch),
        report(2, &rejected),
    );
    c.cases
}

pub fn timestamps() -> Vec<Case> {
    let mut c = Cases::new("timestamps", "/v1/events");
    let now = chrono::Utc::now();
    let rfc = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (ts, expect) in [
        ("0000-01-01T00:00:00Z", invalid("timestamp_out_of_range")),
        ("0001-01-01T00:00:00Z", invalid("timestamp_out_of_range")),
        ("1970-01-01T00:00:00Z", invalid("timestamp_out_of_range")),
        ("1999-12-31T23:59:59.999Z", invalid("timestamp_out_of_range")),
        ("2000-01-01T00:00:00Z", accepted()),
        ("9999-12-31T23:59:59Z", invalid("timestamp_in_future")),
        ("+275760-09-13T00:00:00Z", invalid("invalid_timestamp")),
        ("-000001-01-01T00:00:00Z", invalid("invalid_timestamp")),
        ("275760-09-13T00:00:00Z", invalid("invalid_timestamp")),
        ("2016-12-31T23:59:60Z", accepted()), // a real leap second
        ("2016-12-31T23:59:60.999999999Z", accepted()),
        // No leap second that day, but a parser cannot know which minutes had one: read as 10:01:00.
        ("2026-11-02T10:00:60Z", accepted()),
        ("2026-11-02T10:00:61Z", invalid("invalid_timestamp")),
        ("2026-11-02T10:00:00", invalid("invalid_timestamp")), // no zone
        ("2026-11-02 10:00:00", invalid("invalid_timestamp")),
        ("2026-11-02", invalid("invalid_timestamp")),
        ("10:00:00Z", invalid("invalid_timestamp")),
        ("2026-02-30T00:00:00Z", invalid("invalid_timestamp")),
        ("2026-13-01T00:00:00Z", invalid("invalid_timestamp")),
        ("2026-11-02T24:00:00Z", invalid("invalid_timestamp")),
        ("2026-11-02T10:00:00+24:00", invalid("invalid_timestamp")),
        ("2026-11-02T10:00:00+23:59", accepted()),
        ("2026-11-02T10:00:00-23:59", accepted()),
        ("2026-11-02T10:00:00.123456789123456789Z", accepted()),
        ("2026-11-02t10:00:00z", accepted()),
        (" 2026-11-02T10:00:00Z ", accepted()),
        ("2026-11-02T10:00:00ZZ", invalid("invalid_timestamp")),
        ("1793613600", invalid("invalid_timestamp")),
        ("", invalid("invalid_timestamp")),
        ("yesterday", invalid("invalid_timestamp")),
    ] {
        c.json(
            format!("timestamp {ts:?}"),
            event_with("timestamp", Some(json!(ts))),
            expect,
        );
    }
    c.json(
        "4 minutes ahead",
        event_with("timestamp", Some(json!(rfc(now + chrono::Duration::minutes(4))))),
        accepted(),
    )
    .json(
        "6 minutes ahead",
        event_with("timestamp", Some(json!(rfc(now + chrono::Duration::minutes(6))))),
        invalid("timestamp_in_future"),
    )
    .json(
        "a unix number",
        event_with("timestamp", Some(json!(1793613600))),
        invalid("invalid_field"),
    );
    c.cases
}

pub fn usage_formats() -> Vec<Case> {
    let mut c = Cases::new("usage_format", "/v1/events");
    let with_format = |format: Value, block: Value| {
        let mut e = usage(block);
        e["usage_format"] = format;
        e
    };
    for name in [
        "cohere",
        "",
        " ",
        "openai ",
        "open-ai",
        "canonical\u{200b}",
        "CANONICAL_",
        "OpenAI/v1",
    ] {
        c.json(
            format!("usage_format {name:?}"),
            with_format(json!(name), json!({"input_tokens": 1})),
            invalid("unknown_usage_format"),
        );
    }
    c.json(
        "usage_format OPENAI (case is ignored)",
        with_format(json!("OPENAI"), json!({"prompt_tokens": 3})),
        accepted(),
    )
    .json(
        "usage_format as a number",
        with_format(json!(3), json!({"input_tokens": 1})),
        invalid("invalid_field"),
    )
    .json(
        "an openai block sent as anthropic",
        with_format(
            json!("anthropic"),
            json!({"prompt_tokens": 3, "completion_tokens": 1}),
        ),
        invalid("invalid_usage"),
    )
    .json(
        "an anthropic block sent as gemini",
        with_format(
            json!("gemini"),
            json!({"input_tokens": 3, "cache_read_input_tokens": 1}),
        ),
        invalid("invalid_usage"),
    )
    .json(
        "a canonical block with only unknown fields",
        with_format(json!("canonical"), json!({"tokens": 3})),
        invalid("invalid_usage"),
    )
    .json(
        "two spellings that disagree",
        with_format(json!("openai"), json!({"prompt_tokens": 3, "input_tokens": 4})),
        invalid("invalid_usage"),
    );
    c.cases
}

pub fn batches() -> Vec<Case> {
    let mut c = Cases::new("batch_limit", "/v1/events");
    let over: Vec<Value> = (0..=MAX_BATCH).map(|_| event()).collect();
    c.json(
        format!("{} valid events in an array", MAX_BATCH + 1),
        Value::Array(over.clone()),
        refused(422, "batch_too_large"),
    )
    .add(
        format!("{} empty objects", MAX_BATCH + 1),
        [
            b"[".to_vec(),
            vec!["{}"; MAX_BATCH + 1].join(",").into_bytes(),
            b"]".to_vec(),
        ]
        .concat(),
        refused(422, "batch_too_large"),
    )
    .add(
        "a million zeros in an array",
        [
            b"[".to_vec(),
            vec!["0"; 1_000_000].join(",").into_bytes(),
            b"]".to_vec(),
        ]
        .concat(),
        refused(422, "batch_too_large"),
    )
    .add(
        format!("{MAX_BATCH} empty objects: each rejected, none stored"),
        [
            b"[".to_vec(),
            vec!["{}"; MAX_BATCH].join(",").into_bytes(),
            b"]".to_vec(),
        ]
        .concat(),
        report(
            0,
            &(0..MAX_BATCH).map(|i| (i, "missing_field")).collect::<Vec<_>>(),
        ),
    );
    c.content_type = "application/x-ndjson";
    c.add(
        format!("{} NDJSON lines", MAX_BATCH + 1),
        ndjson(&over.iter().map(bytes).collect::<Vec<_>>()),
        refused(422, "batch_too_large"),
    )
    .add(
        "5 million blank NDJSON lines",
        vec![b'\n'; 5_000_000],
        report(0, &[]),
    );
    c.cases
}

pub fn content_types() -> Vec<Case> {
    let mut c = Cases::new("content_type", "/v1/events");
    let body = || bytes(&event());
    for ct in [
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/jsonx",
        "json",
        "*/*",
        "application/octet-stream",
        "application/x-protobuf",
    ] {
        c.full(
            format!("Content-Type {ct}"),
            Some(ct.to_owned()),
            None,
            body(),
            refused(415, "unsupported_media_type"),
        );
    }
    c.full(
        "no Content-Type",
        None,
        None,
        body(),
        refused(415, "unsupported_media_type"),
    )
    .full(
        "Content-Type: application/json; charset=utf-8",
        Some("application/json; charset=utf-8".into()),
        None,
        body(),
        accepted(),
    )
    .full(
        "Content-Type: APPLICATION/JSON",
        Some("APPLICATION/JSON".into()),
        None,
        body(),
        accepted(),
    )
    .full(
        "NDJSON lines sent as application/json",
        Some("application/json".into()),
        None,
        ndjson(&[body(), body()]),
        refused(400, "malformed_body"),
    )
    .full(
        "a JSON array sent as NDJSON",
        Some("application/x-ndjson".into()),
        None,
        bytes(&json!([event()])),
        report(0, &[(0, "invalid_field")]),
    )
    .full(
        "a pretty-printed object sent as NDJSON",
        Some("application/x-ndjson".into()),
        None,
        serde_json::to_vec_pretty(&event()).unwrap(),
        report(
            0,
            &[
                (0, "invalid_json"),
                (1, "invalid_json"),
                (2, "invalid_json"),
                (3, "invalid_json"),
                (4, "invalid_json"),
                (5, "invalid_json"),
                (6, "invalid_json"),
                (7, "invalid_json"),
                (8, "invalid_json"),
                (9, "invalid_json"),
                (10, "invalid_json"),
            ],
        ),
    )
    .full(
        "a gzip body with Content-Encoding: gzip (not decoded on /v1/events)",
        Some("application/json".into()),
        Some("gzip"),
        gzip(&body()),
        refused(400, "malformed_body"),
    );
    c.cases
}

pub fn ndjson_garbage() -> Vec<Case> {
    let mut c = Cases::new("ndjson_garbage", "/v1/events");
    c.content_type = "application/x-ndjson";
    let lines = vec![
        bytes(&event()),
        b"not json".to_vec(),
        b"{".to_vec(),
        b"}".to_vec(),
        b"[]".to_vec(),
        b"5".to_vec(),
        b"\x00".to_vec(),
        b"\"\x00\"".to_vec(),
        [bytes(&event()), b" trailing".to_vec()].concat(),
        [bytes(&event()), bytes(&event())].concat(),
        "[".repeat(100_000).into_bytes(),
        bytes(&event()),
        b"{\"id\": \"unterminated".to_vec(),
        b"\r".to_vec(), // blank once the \r is stripped: skipped
        b"   ".to_vec(),
        bytes(&event()),
    ];
    c.add(
        "16 lines: 3 events, 11 garbage, 2 blank",
        ndjson(&lines),
        report(
            3,
            &[
                (1, "invalid_json"),
                (2, "invalid_json"),
                (3, "invalid_json"),
                (4, "invalid_field"),
                (5, "invalid_field"),
                (6, "invalid_json"),
                (7, "invalid_json"),
                (8, "invalid_json"),
                (9, "invalid_json"),
                (10, "invalid_json"),
                (12, "invalid_json"),
            ],
        ),
    )
    .add(
        "only garbage",
        b"a\nb\nc".to_vec(),
        report(
            0,
            &[(0, "invalid_json"), (1, "invalid_json"), (2, "invalid_json")],
        ),
    )
    .add(
        "CRLF line ends",
        [
            bytes(&event()),
            b"\r\n".to_vec(),
            bytes(&event()),
            b"\r\n".to_vec(),
        ]
        .concat(),
        report(2, &[]),
    )
    .add("an empty NDJSON body", vec![], report(0, &[]));
    c.cases
}
