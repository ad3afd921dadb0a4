#![allow(clippy::unwrap_used, clippy::panic)] // tests may unwrap (STYLE.md)

use super::*;
use serde_json::Value;

fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).unwrap()
}

fn norm(format: UsageFormat, text: &str) -> Result<Usage, NormalizeError> {
    normalize(format, &raw(text))
}

fn ok(format: UsageFormat, text: &str) -> Usage {
    norm(format, text).unwrap()
}

fn fixture(name: &str) -> Value {
    let text = match name {
        "anthropic_messages" => include_str!("../../../../tests/fixtures/native/anthropic_messages.json"),
        "anthropic_via_bedrock_invoke" => {
            include_str!("../../../../tests/fixtures/native/anthropic_via_bedrock_invoke.json")
        }
        "bedrock_converse_invocation_log" => {
            include_str!("../../../../tests/fixtures/native/bedrock_converse_invocation_log.json")
        }
        "gemini_usage_metadata" => {
            include_str!("../../../../tests/fixtures/native/gemini_usage_metadata.json")
        }
        "openai_chat" => include_str!("../../../../tests/fixtures/native/openai_chat.json"),
        "openai_chat_stream_final_chunk" => {
            include_str!("../../../../tests/fixtures/native/openai_chat_stream_final_chunk.json")
        }
        "openai_responses_cached" => {
            include_str!("../../../../tests/fixtures/native/openai_responses_cached.json")
        }
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap()
}

fn block(value: &Value) -> Box<RawValue> {
    raw(&value.to_string())
}

// Fixtures. Expected numbers are read off the fixture text by hand. otlp_genai_span.json and
// litellm_standard_logging_payload.json are not usage blocks of these formats (they are mapped by the
// /v1/traces and LiteLLM integrations), so they have no test here.

#[test]
fn openai_chat_fixture_is_normalized() {
    let usage = normalize(UsageFormat::Openai, &block(&fixture("openai_chat")["usage"])).unwrap();
    assert_eq!(
        usage,
        Usage {
            input_tokens: 19,      // prompt_tokens, already inclusive
            cache_read_tokens: 0,  // prompt_tokens_details.cached_tokens
            cache_write_tokens: 5, // prompt_tokens_details.cache_write_tokens
            cache_write_1h_tokens: 0,
            output_tokens: 200, // completion_tokens
            reasoning_tokens: 0,
        }
    );
}

#[test]
fn openai_chat_stream_final_chunk_fixture_is_normalized() {
    let chunk = fixture("openai_chat_stream_final_chunk");
    let usage = normalize(UsageFormat::Openai, &block(&chunk["usage"])).unwrap();
    let expected = Usage {
        input_tokens: 19,      // prompt_tokens
        cache_write_tokens: 5, // prompt_tokens_details.cache_write_tokens
        output_tokens: 238,    // completion_tokens (total_tokens 257 = 19 + 238)
        ..Usage::default()
    };
    assert_eq!(usage, expected);
    // The whole chunk is accepted too: we descend into its `usage`.
    assert_eq!(normalize(UsageFormat::Openai, &block(&chunk)).unwrap(), expected);
}

#[test]
fn openai_responses_fixture_is_normalized() {
    let usage = normalize(
        UsageFormat::Openai,
        &block(&fixture("openai_responses_cached")["usage"]),
    )
    .unwrap();
    assert_eq!(
        usage,
        Usage {
            input_tokens: 12033,      // input_tokens, inclusive of the cached ones
            cache_read_tokens: 11904, // input_tokens_details.cached_tokens
            output_tokens: 44,        // output_tokens
            reasoning_tokens: 0,      // output_tokens_details.reasoning_tokens
            ..Usage::default()
        }
    );
    assert_eq!(usage.uncached_input_tokens(), 129); // 12033 - 11904
}

#[test]
fn anthropic_messages_fixture_is_normalized() {
    let file = fixture("anthropic_messages");
    let expected = Usage {
        input_tokens: 18, // 18 input + 0 cache read + 0 cache creation
        output_tokens: 254,
        ..Usage::default()
    };
    assert_eq!(
        normalize(UsageFormat::Anthropic, &block(&file["usage"])).unwrap(),
        expected
    );
    assert_eq!(
        normalize(UsageFormat::Anthropic, &block(&file)).unwrap(),
        expected
    );
}

#[test]
fn anthropic_stream_final_usage_is_normalized() {
    // A gateway reports the usage of the finished stream: message_start's `message.usage`
    // (input_tokens 42, cache_creation 0, cache_read 0, output_tokens 1) overlaid with the fields of
    // the last message_delta's `usage` (output_tokens 40). Anthropic's message_delta counts are
    // cumulative, so output is 40, not 1 + 40.
    let text = include_str!("../../../../tests/fixtures/native/anthropic_stream_events.jsonl");
    let mut usage = Value::Null;
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let event: Value = serde_json::from_str(line).unwrap();
        match event["type"].as_str() {
            Some("message_start") => usage = event["message"]["usage"].clone(),
            Some("message_delta") => {
                for (key, value) in event["usage"].as_object().unwrap() {
                    usage[key] = value.clone();
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        normalize(UsageFormat::Anthropic, &block(&usage)).unwrap(),
        Usage {
            input_tokens: 42,  // 42 input + 0 cache read + 0 cache creation, from message_start
            output_tokens: 40, // message_delta's cumulative output_tokens
            ..Usage::default()
        }
    );
}

#[test]
fn anthropic_via_bedrock_invoke_fixture_is_normalized() {
    let file = fixture("anthropic_via_bedrock_invoke");
    assert_eq!(
        normalize(UsageFormat::Anthropic, &block(&file["usage"])).unwrap(),
        Usage {
            input_tokens: 18,         // 18 input + 0 cache read + 0 cache creation
            cache_write_1h_tokens: 0, // cache_creation.ephemeral_1h_input_tokens
            output_tokens: 50,
            ..Usage::default()
        }
    );
}

#[test]
fn bedrock_converse_usage_from_invocation_log_is_normalized() {
    let log = fixture("bedrock_converse_invocation_log");
    let expected = Usage {
        input_tokens: 35, // 35 inputTokens + 0 cache read + 0 cache write
        output_tokens: 446,
        ..Usage::default()
    };
    let converse_usage = &log["output"]["outputBodyJson"]["usage"];
    assert_eq!(
        normalize(UsageFormat::Bedrock, &block(converse_usage)).unwrap(),
        expected
    );
    // The log's own counts use the ...TokenCount spelling and agree.
    let counts = serde_json::json!({
        "inputTokenCount": log["input"]["inputTokenCount"],
        "outputTokenCount": log["output"]["outputTokenCount"],
    });
    assert_eq!(
        normalize(UsageFormat::Bedrock, &block(&counts)).unwrap(),
        expected
    );
}

#[test]
fn gemini_usage_metadata_fixture_is_normalized() {
    let metadata = fixture("gemini_usage_metadata");
    let usage = normalize(UsageFormat::Gemini, &block(&metadata)).unwrap();
    assert_eq!(
        usage,
        Usage {
            input_tokens: 559,      // promptTokenCount
            output_tokens: 2584,    // 1327 candidates + 1257 thoughts
            reasoning_tokens: 1257, // thoughtsTokenCount
            ..Usage::default()
        }
    );
    // totalTokenCount 3143 = 559 + 2584: nothing is counted twice or lost.
    assert_eq!(usage.input_tokens + usage.output_tokens, 3143);
}

// Mapping rules beyond the fixtures.

#[test]
fn gemini_tool_use_prompt_tokens_are_input() {
    // A Google Search grounded call: totalTokenCount 20689 = 151 + 1089 + 18329 + 1120.
    let usage = ok(
        UsageFormat::Gemini,
        r#"{"promptTokenCount":151,"candidatesTokenCount":1089,"totalTokenCount":20689,
            "toolUsePromptTokenCount":18329,"thoughtsTokenCount":1120}"#,
    );
    assert_eq!(usage.input_tokens, 18480); // 151 prompt + 18329 tool-use prompt
    assert_eq!(usage.output_tokens, 2209); // 1089 candidates + 1120 thoughts
    assert_eq!(usage.input_tokens + usage.output_tokens, 20689);
}

#[test]
fn gemini_snake_case_and_whole_responses_are_accepted() {
    let expected = Usage {
        input_tokens: 10,
        cache_read_tokens: 4,
        output_tokens: 3,
        ..Usage::default()
    };
    let snake = r#"{"prompt_token_count":10,"cached_content_token_count":4,"candidates_token_count":3}"#;
    assert_eq!(ok(UsageFormat::Gemini, snake), expected);
    let response = r#"{"candidates":[{"content":{}}],"modelVersion":"gemini-2.5-pro",
        "usageMetadata":{"promptTokenCount":10,"cachedContentTokenCount":4,"candidatesTokenCount":3}}"#;
    assert_eq!(ok(UsageFormat::Gemini, response), expected);
}

#[test]
fn anthropic_cache_writes_are_split_by_ttl() {
    let usage = ok(
        UsageFormat::Anthropic,
        r#"{"input_tokens":3,"cache_read_input_tokens":11904,"cache_creation_input_tokens":120,
            "cache_creation":{"ephemeral_5m_input_tokens":20,"ephemeral_1h_input_tokens":100},
            "output_tokens":44}"#,
    );
    assert_eq!(
        usage,
        Usage {
            input_tokens: 12027, // 3 input + 11904 cache read + 120 cache write
            cache_read_tokens: 11904,
            cache_write_tokens: 120,
            cache_write_1h_tokens: 100,
            output_tokens: 44,
            reasoning_tokens: 0,
        }
    );
}

#[test]
fn anthropic_cache_creation_breakdown_stands_in_for_a_missing_total() {
    let usage = ok(
        UsageFormat::Anthropic,
        r#"{"input_tokens":1,"cache_creation":{"ephemeral_5m_input_tokens":20,"ephemeral_1h_input_tokens":30}}"#,
    );
    assert_eq!(usage.cache_write_tokens, 50); // 20 + 30
    assert_eq!(usage.cache_write_1h_tokens, 30);
    assert_eq!(usage.input_tokens, 51); // 1 input + 50 cache write
}

#[test]
fn bedrock_cache_details_give_one_hour_writes() {
    let usage = ok(
        UsageFormat::Bedrock,
        r#"{"inputTokens":10,"cacheReadInputTokens":100,"cacheWriteInputTokens":50,"outputTokens":5,
            "cacheDetails":[{"ttl":"1h","inputTokens":30},{"ttl":"5m","inputTokens":20}]}"#,
    );
    assert_eq!(
        usage,
        Usage {
            input_tokens: 160, // 10 input + 100 cache read + 50 cache write
            cache_read_tokens: 100,
            cache_write_tokens: 50,
            cache_write_1h_tokens: 30,
            output_tokens: 5,
            reasoning_tokens: 0,
        }
    );
}

#[test]
fn bedrock_token_count_spellings_are_accepted() {
    let usage = ok(
        UsageFormat::Bedrock,
        r#"{"inputTokenCount":10,"cacheReadInputTokenCount":7,"cacheWriteInputTokenCount":3,"outputTokenCount":2}"#,
    );
    assert_eq!(usage.input_tokens, 20); // 10 + 7 + 3
    assert_eq!(
        (
            usage.cache_read_tokens,
            usage.cache_write_tokens,
            usage.output_tokens
        ),
        (7, 3, 2)
    );
}

#[test]
fn two_spellings_that_disagree_are_rejected() {
    let err = norm(UsageFormat::Openai, r#"{"prompt_tokens":19,"input_tokens":20}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "usage.prompt_tokens (19) and usage.input_tokens (20) are the same count and disagree; \
         send one of them"
    );
    let same = ok(UsageFormat::Openai, r#"{"prompt_tokens":19,"input_tokens":19}"#);
    assert_eq!(same.input_tokens, 19);
}

#[test]
fn openai_details_may_be_null_or_absent() {
    let usage = ok(
        UsageFormat::Openai,
        r#"{"prompt_tokens":10,"completion_tokens":20,"prompt_tokens_details":null,
            "completion_tokens_details":null}"#,
    );
    assert_eq!(
        usage,
        Usage {
            input_tokens: 10,
            output_tokens: 20,
            ..Usage::default()
        }
    );
}

#[test]
fn null_missing_and_zero_counts_are_the_same() {
    // (format, a field set to 5 in every case, the field that is null, 0 or missing)
    let cases = [
        (UsageFormat::Canonical, "input_tokens", "cache_read_tokens"),
        (UsageFormat::Openai, "completion_tokens", "prompt_tokens"),
        (UsageFormat::Anthropic, "input_tokens", "cache_read_input_tokens"),
        (UsageFormat::Bedrock, "outputTokens", "cacheWriteInputTokens"),
        (UsageFormat::Gemini, "candidatesTokenCount", "thoughtsTokenCount"),
    ];
    for (format, anchor, field) in cases {
        let missing = ok(format, &format!(r#"{{"{anchor}":5}}"#));
        for value in ["null", "0"] {
            let present = ok(format, &format!(r#"{{"{anchor}":5,"{field}":{value}}}"#));
            assert_eq!(present, missing, "{format}: {field} = {value}");
        }
        assert_eq!(ok(format, "{}"), Usage::default(), "{format}: empty block");
    }
}

#[test]
fn each_kind_of_bad_count_is_rejected_with_the_field_named() {
    let cases = [
        ("-3", CountProblem::Negative),
        ("-1.5", CountProblem::Negative),
        ("1.5", CountProblem::NotAnInteger),
        ("1.0", CountProblem::NotAnInteger),
        ("1e3", CountProblem::NotAnInteger),
        ("1e400", CountProblem::NotAnInteger),
        ("\"12\"", CountProblem::NotANumber),
        ("true", CountProblem::NotANumber),
        ("[1]", CountProblem::NotANumber),
        ("{\"n\":1}", CountProblem::NotANumber),
        ("9007199254740993", CountProblem::TooLarge),
        ("18446744073709551616", CountProblem::TooLarge),
        ("123456789012345678901234567890", CountProblem::TooLarge),
    ];
    for (literal, expected) in cases {
        let text = format!(r#"{{"prompt_tokens_details":{{"cached_tokens":{literal}}}}}"#);
        match norm(UsageFormat::Openai, &text) {
            Err(NormalizeError::InvalidCount {
                block,
                field,
                problem,
                got,
            }) => {
                assert_eq!(
                    (block, field),
                    ("usage", "prompt_tokens_details.cached_tokens"),
                    "{literal}"
                );
                assert_eq!(problem, expected, "{literal}");
                assert_eq!(got, literal);
            }
            other => panic!("{literal}: {other:?}"),
        }
    }
}

#[test]
fn bad_count_messages_read_well() {
    let message = |text: &str| norm(UsageFormat::Openai, text).unwrap_err().to_string();
    assert_eq!(
        message(r#"{"prompt_tokens":-3}"#),
        "usage.prompt_tokens must be a non-negative whole number, got -3"
    );
    assert_eq!(
        message(r#"{"completion_tokens":1.0}"#),
        "usage.completion_tokens must be a non-negative whole number written without a decimal point \
         or exponent, got 1.0"
    );
    assert_eq!(
        message(r#"{"prompt_tokens":"12"}"#),
        "usage.prompt_tokens must be a non-negative whole number (a JSON number, or null), got \"12\""
    );
    assert_eq!(
        message(r#"{"prompt_tokens":18446744073709551616}"#),
        "usage.prompt_tokens must be at most 2^53 (9007199254740992), got 18446744073709551616"
    );
}

#[test]
fn the_largest_count_is_two_to_the_53() {
    let usage = ok(
        UsageFormat::Canonical,
        r#"{"input_tokens":9007199254740992,"output_tokens":-0}"#,
    );
    assert_eq!(usage.input_tokens, MAX_TOKENS);
    assert_eq!(usage.output_tokens, 0);
}

#[test]
fn a_sum_above_two_to_the_53_is_rejected() {
    let err = norm(
        UsageFormat::Anthropic,
        r#"{"input_tokens":9007199254740992,"cache_read_input_tokens":1}"#,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        NormalizeError::Invalid {
            error: UsageError::TooLarge {
                field: "input_tokens",
                ..
            },
            ..
        }
    ));
}

#[test]
fn subset_law_violations_surface_as_the_usage_error() {
    let err = norm(
        UsageFormat::Openai,
        r#"{"prompt_tokens":10,"prompt_tokens_details":{"cached_tokens":11}}"#,
    )
    .unwrap_err();
    assert_eq!(
        err,
        NormalizeError::Invalid {
            format: UsageFormat::Openai,
            error: UsageError::CacheExceedsInput {
                cache_read: 11,
                cache_write: 0,
                input: 10
            },
        }
    );
    assert_eq!(
        err.to_string(),
        "usage (converted from the openai format) is not valid: cache_read_tokens (11) + \
         cache_write_tokens (0) exceed input_tokens (10)"
    );
    let err = norm(
        UsageFormat::Canonical,
        r#"{"input_tokens":5,"cache_write_tokens":2,"cache_write_1h_tokens":3}"#,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        NormalizeError::Invalid {
            error: UsageError::OneHourExceedsWrite { .. },
            ..
        }
    ));
    let err = norm(
        UsageFormat::Gemini,
        r#"{"promptTokenCount":5,"cachedContentTokenCount":6}"#,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        NormalizeError::Invalid {
            error: UsageError::CacheExceedsInput { .. },
            ..
        }
    ));
}

#[test]
fn unknown_fields_are_ignored() {
    let usage = ok(
        UsageFormat::Openai,
        r#"{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12,"brand_new_tokens":"x",
            "prompt_tokens_details":{"audio_tokens":1,"future":{"deep":[1,2]}},"service_tier":null}"#,
    );
    assert_eq!(
        usage,
        Usage {
            input_tokens: 10,
            output_tokens: 2,
            ..Usage::default()
        }
    );
}

#[test]
fn a_block_with_only_foreign_fields_is_rejected() {
    let err = norm(
        UsageFormat::Anthropic,
        r#"{"prompt_tokens":10,"completion_tokens":2}"#,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        NormalizeError::NoKnownFields {
            block: "usage",
            format: UsageFormat::Anthropic,
            ..
        }
    ));
    assert!(
        err.to_string().contains("check that usage_format matches"),
        "{err}"
    );
}

#[test]
fn a_usage_that_is_not_an_object_is_rejected() {
    for text in ["[1,2]", "12", "\"usage\"", "null", "true"] {
        let err = norm(UsageFormat::Openai, text).unwrap_err();
        assert_eq!(
            err,
            NormalizeError::NotAnObject {
                format: UsageFormat::Openai,
                got: text.to_owned()
            }
        );
    }
    assert_eq!(
        norm(UsageFormat::Openai, "[1]").unwrap_err().to_string(),
        "usage must be a JSON object holding the openai token counts, got [1]"
    );
}

#[test]
fn nested_values_of_the_wrong_type_are_rejected() {
    let err = norm(
        UsageFormat::Openai,
        r#"{"prompt_tokens":1,"prompt_tokens_details":5}"#,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "usage.prompt_tokens_details must be an object or null, got a number"
    );
    let err = norm(UsageFormat::Bedrock, r#"{"inputTokens":1,"cacheDetails":{}}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "usage.cacheDetails must be an array or null, got an object"
    );
    let err = norm(
        UsageFormat::Bedrock,
        r#"{"cacheDetails":[{"ttl":"1h","inputTokens":-1}]}"#,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        NormalizeError::InvalidCount {
            field: "cacheDetails[].inputTokens",
            ..
        }
    ));
    let err = norm(
        UsageFormat::Bedrock,
        r#"{"cacheDetails":[{"ttl":"5m","inputTokens":1},5]}"#,
    )
    .unwrap_err();
    assert!(
        matches!(err, NormalizeError::Malformed { block: "usage", .. }),
        "{err}"
    );
    let err = norm(UsageFormat::Openai, r#"{"usage":[1]}"#).unwrap_err();
    assert_eq!(err.to_string(), "usage.usage must be an object or null, got [1]");
}

#[test]
fn a_field_sent_twice_is_rejected() {
    let err = norm(UsageFormat::Openai, r#"{"prompt_tokens":1,"prompt_tokens":2}"#).unwrap_err();
    assert!(
        matches!(err, NormalizeError::Malformed { block: "usage", .. }),
        "{err}"
    );
}

#[test]
fn wrapper_is_descended_once_and_only_without_counts() {
    let wrapped = r#"{"id":"x","usage":{"prompt_tokens":7}}"#;
    assert_eq!(ok(UsageFormat::Openai, wrapped).input_tokens, 7);
    // With counts at the top, `usage` is just an unknown field.
    let both = r#"{"prompt_tokens":3,"usage":{"prompt_tokens":7}}"#;
    assert_eq!(ok(UsageFormat::Openai, both).input_tokens, 3);
    // Errors inside the wrapper name the full path.
    let err = norm(UsageFormat::Openai, r#"{"usage":{"prompt_tokens":-1}}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "usage.usage.prompt_tokens must be a non-negative whole number, got -1"
    );
    // A non-final stream chunk has `"usage": null`: no tokens.
    assert_eq!(
        ok(UsageFormat::Openai, r#"{"choices":[],"usage":null}"#),
        Usage::default()
    );
    let twice = r#"{"usage":{"usage":{"prompt_tokens":7}}}"#;
    assert!(matches!(
        norm(UsageFormat::Openai, twice),
        Err(NormalizeError::NoKnownFields {
            block: "usage.usage",
            ..
        })
    ));
}

#[test]
fn usage_format_names_parse_case_insensitively() {
    assert_eq!(UsageFormat::parse("openai"), Some(UsageFormat::Openai));
    assert_eq!(UsageFormat::parse("Anthropic"), Some(UsageFormat::Anthropic));
    assert_eq!(UsageFormat::parse("BEDROCK"), Some(UsageFormat::Bedrock));
    assert_eq!(UsageFormat::parse("gemini"), Some(UsageFormat::Gemini));
    assert_eq!(UsageFormat::parse("Canonical"), Some(UsageFormat::Canonical));
    for unknown in ["", "azure", "vertex_ai", "openai "] {
        assert_eq!(UsageFormat::parse(unknown), None, "{unknown:?}");
    }
}

#[test]
fn every_error_is_invalid_usage() {
    let errors = [
        norm(UsageFormat::Openai, "1"),
        norm(UsageFormat::Openai, r#"{"prompt_tokens":-1}"#),
        norm(UsageFormat::Openai, r#"{"prompt_tokens_details":1}"#),
        norm(UsageFormat::Openai, r#"{"prompt_tokens":1,"input_tokens":2}"#),
        norm(UsageFormat::Openai, r#"{"x":1}"#),
        norm(UsageFormat::Openai, r#"{"prompt_tokens":1,"prompt_tokens":1}"#),
        norm(
            UsageFormat::Openai,
            r#"{"completion_tokens_details":{"reasoning_tokens":1}}"#,
        ),
    ];
    for error in errors {
        assert_eq!(error.unwrap_err().code(), "invalid_usage");
    }
}

proptest::proptest! {
    #[test]
    fn canonical_usage_round_trips(
        input in 0..=MAX_TOKENS, read in 0..=MAX_TOKENS, write in 0..=MAX_TOKENS, hour in 0..=MAX_TOKENS,
        output in 0..=MAX_TOKENS, reasoning in 0..=MAX_TOKENS,
    ) {
        let usage = Usage {
            input_tokens: input,
            cache_read_tokens: read.min(input),
            cache_write_tokens: write.min(input - read.min(input)),
            cache_write_1h_tokens: hour.min(write.min(input - read.min(input))),
            output_tokens: output,
            reasoning_tokens: reasoning.min(output),
        };
        let text = serde_json::to_string(&usage).unwrap();
        proptest::prop_assert_eq!(norm(UsageFormat::Canonical, &text), Ok(usage));
    }

    #[test]
    fn any_integer_literal_reads_as_itself_up_to_the_limit(value in proptest::num::u64::ANY) {
        let parsed = parse_count(&value.to_string());
        if value <= MAX_TOKENS {
            proptest::prop_assert_eq!(parsed, Ok(value));
        } else {
            proptest::prop_assert_eq!(parsed, Err(CountProblem::TooLarge));
        }
    }
}
