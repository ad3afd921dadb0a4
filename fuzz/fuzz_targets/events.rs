//! Any bytes through the pure half of the ingest path: decode (as a JSON body and as NDJSON) →
//! normalize → validate, and every usage format's normalizer on its own. Nothing may panic, and
//! what comes out valid must obey the laws downstream code relies on (subset laws, bounds, exact
//! decimals, bounded error messages).
//!
//! Run: `scripts/fuzz` (what CI runs; no cargo-fuzz needed), or `cargo fuzz run events --sanitizer none`.

#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use tokenledger_events::decode::{decode, BodyError, BodyFormat};
use tokenledger_events::event::MAX_MESSAGE_BYTES;
use tokenledger_events::money::parse_decimal;
use tokenledger_events::normalize::{normalize, UsageFormat};
use tokenledger_events::usage::MAX_TOKENS;
use tokenledger_events::validate::{earliest_timestamp, validate, MAX_FUTURE_SKEW};
use tokenledger_events::{EventError, Usage, UsageEvent};

const FORMATS: [UsageFormat; 5] = [
    UsageFormat::Canonical,
    UsageFormat::Openai,
    UsageFormat::Anthropic,
    UsageFormat::Bedrock,
    UsageFormat::Gemini,
];

/// A batch limit small enough that the fuzzer also reaches "too many".
const MAX_BATCH: usize = 64;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fuzz_target!(|data: &[u8]| {
    for format in [BodyFormat::Json, BodyFormat::Ndjson] {
        match decode(data, format, MAX_BATCH) {
            Ok(decoded) => {
                assert!(decoded.events.len() <= MAX_BATCH);
                assert!(!decoded.single || decoded.events.len() == 1);
                for raw in decoded.events {
                    match raw.and_then(|raw| validate(raw, now())) {
                        Ok(event) => check_event(&event),
                        Err(error) => check_error(&error),
                    }
                }
            }
            Err(BodyError::Malformed(message)) | Err(BodyError::BatchTooLarge(message)) => {
                assert!(
                    message.len() <= MAX_MESSAGE_BYTES,
                    "whole-body message of {} bytes",
                    message.len()
                );
            }
            Err(BodyError::UnsupportedMediaType(_)) => unreachable!("decode never looks at a content type"),
        }
    }
    if let Some(block) = std::str::from_utf8(data)
        .ok()
        .and_then(|text| serde_json::from_str::<&RawValue>(text).ok())
    {
        for format in FORMATS {
            match normalize(format, block) {
                Ok(usage) => check_usage(usage),
                Err(error) => {
                    assert_eq!(error.code(), "invalid_usage");
                    check_error(&EventError::new(error.code(), error.to_string()));
                }
            }
        }
    }
});

/// The laws of canonical counts that pricing relies on (it subtracts subsets from totals).
fn check_usage(usage: Usage) {
    assert_eq!(
        usage.validate(),
        Ok(usage),
        "a normalized usage must pass its own laws"
    );
    for count in [
        usage.input_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        usage.cache_write_1h_tokens,
        usage.output_tokens,
        usage.reasoning_tokens,
    ] {
        assert!(count <= MAX_TOKENS);
    }
    assert!(usage.cache_read_tokens + usage.cache_write_tokens <= usage.input_tokens);
    assert!(usage.cache_write_1h_tokens <= usage.cache_write_tokens);
    assert!(usage.reasoning_tokens <= usage.output_tokens);
    assert_eq!(
        usage.uncached_input_tokens(),
        usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens
    );
    // Canonical counts read back as canonical are themselves (normalization is idempotent).
    let canonical = serde_json::to_string(&usage).unwrap_or_default();
    let reread = RawValue::from_string(canonical).map_err(|e| e.to_string());
    match reread {
        Ok(block) => assert_eq!(normalize(UsageFormat::Canonical, &block), Ok(usage)),
        Err(error) => panic!("canonical usage did not serialize: {error}"),
    }
}

fn check_event(event: &UsageEvent) {
    check_usage(event.usage);
    let chars = event.id.chars().count();
    assert!((1..=256).contains(&chars), "id of {chars} characters");
    for text in [&event.id, &event.team, &event.provider, &event.model] {
        assert!(!text.is_empty());
        assert!(
            !text.chars().any(char::is_control),
            "control character in {text:?}"
        );
    }
    for text in [&event.project, &event.user].into_iter().flatten() {
        assert!(!text.is_empty() && !text.chars().any(char::is_control));
    }
    if let Some(tags) = &event.tags {
        assert!(tags.len() <= 16);
        for (key, value) in tags {
            assert!(!key.is_empty());
            assert!(!key.chars().any(char::is_control) && !value.chars().any(char::is_control));
        }
    }
    assert!(event.timestamp >= earliest_timestamp());
    assert!(event.timestamp <= now() + MAX_FUTURE_SKEW);
    assert!(
        event.reported_currency.len() == 3 && event.reported_currency.chars().all(|c| c.is_ascii_uppercase())
    );
    if let Some(cost) = event.reported_cost {
        assert!(!cost.is_sign_negative() || cost.is_zero(), "negative cost {cost}");
        assert!(cost.scale() <= 12);
        // The decimal reads back exactly as written out (it is stored as NUMERIC text).
        assert_eq!(parse_decimal(&cost.to_string()), Ok(cost.normalize()));
    }
    assert_eq!(event.content_hash(), event.content_hash());
    let _ = event.id_hash();
}

fn check_error(error: &EventError) {
    assert!(!error.code.is_empty());
    assert!(
        error.message.len() <= MAX_MESSAGE_BYTES,
        "a {}-byte message for {}",
        error.message.len(),
        error.code
    );
}
