use super::*;
use crate::domain::UsageEvent;
use crate::ingest::validate::validate;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
}

fn fixture() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/litellm_standard_logging_payload.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn payload(team: &str) -> Value {
    json!({
        "id": "call-1", "status": "success", "custom_llm_provider": "anthropic",
        "model": "claude-sonnet-4-5", "model_group": "smart",
        "startTime": 1764547200.25, "endTime": 1764547201.5,
        "response_cost": 0.0123, "prompt_tokens": 100, "completion_tokens": 20,
        "metadata": {"user_api_key_team_alias": team, "user_api_key_user_id": "u_1"},
        "request_tags": [],
    })
}

fn event(json: &Value, key_team: Option<&str>) -> Result<UsageEvent, EventError> {
    match map_payload(&json.to_string(), key_team)? {
        Mapped::Event(raw) => validate(*raw, now()),
        Mapped::SkippedFailure => panic!("skipped"),
    }
}

#[test]
fn the_shared_fixture_maps_with_the_team_of_a_bound_key() {
    let e = event(&fixture(), Some("search")).unwrap();
    assert_eq!(e.id, "chatcmpl-2299b6a2-82a3-465a-b47c-04e685a2227f");
    assert_eq!(e.team, "search");
    assert_eq!((e.provider.as_str(), e.model.as_str()), ("openai", "gpt-4o"));
    assert_eq!((e.usage.input_tokens, e.usage.output_tokens), (10, 20));
    assert_eq!(e.timestamp.to_rfc3339(), "2025-01-24T09:20:46.851954+00:00");
    // 0.00022500000000000002 is float noise past the 12th decimal.
    assert_eq!(
        e.reported_cost,
        Some(Decimal::from_str_exact("0.000225").unwrap())
    );
    assert_eq!(e.user, None, "empty end_user is no user");
}

#[test]
fn the_shared_fixture_without_any_team_is_rejected_naming_the_fields() {
    let error = event(&fixture(), None).unwrap_err();
    assert_eq!(error.code, "missing_field");
    assert!(
        error.message.contains("user_api_key_team_alias"),
        "{}",
        error.message
    );
}

#[test]
fn the_team_alias_wins_over_the_team_id() {
    let mut p = payload("search");
    p["metadata"]["user_api_key_team_id"] = json!("team-uuid");
    assert_eq!(event(&p, None).unwrap().team, "search");
    p["metadata"]["user_api_key_team_alias"] = Value::Null;
    assert_eq!(event(&p, None).unwrap().team, "team-uuid");
}

#[test]
fn a_cost_is_read_from_its_decimal_text_not_through_a_float() {
    let mut p = payload("t");
    let text = p.to_string().replace("0.0123", "0.100000000001");
    p = serde_json::from_str(&text).unwrap();
    let raw = serde_json::to_string(&p).unwrap();
    assert!(raw.contains("0.100000000001"));
    let e = event(&p, None).unwrap();
    assert_eq!(
        e.reported_cost,
        Some(Decimal::from_str_exact("0.100000000001").unwrap())
    );
}

#[test]
fn unix_seconds_with_a_fraction_become_an_exact_timestamp() {
    let e = event(&payload("t"), None).unwrap();
    assert_eq!(
        e.timestamp,
        Utc.timestamp_opt(1_764_547_201, 500_000_000).unwrap()
    );
}

#[test]
fn the_usage_object_in_metadata_is_the_most_precise_source() {
    let mut p = payload("t");
    p["metadata"]["usage_object"] = json!({
        "prompt_tokens": 1000, "completion_tokens": 50,
        "prompt_tokens_details": {"cached_tokens": 600, "cache_creation_tokens": 300},
        "completion_tokens_details": {"reasoning_tokens": 10},
        "cache_creation_token_details": {"ephemeral_1h_input_tokens": 100},
    });
    p["response"] = json!({"usage": {"prompt_tokens": 1, "completion_tokens": 1}});
    let u = event(&p, None).unwrap().usage;
    assert_eq!(
        (
            u.input_tokens,
            u.cache_read_tokens,
            u.cache_write_tokens,
            u.cache_write_1h_tokens
        ),
        (1000, 600, 300, 100)
    );
    assert_eq!((u.output_tokens, u.reasoning_tokens), (50, 10));
}

#[test]
fn the_response_usage_is_used_when_there_is_no_usage_object() {
    let mut p = payload("t");
    p["response"] = json!({"usage": {"prompt_tokens": 40, "completion_tokens": 9,
        "prompt_tokens_details": {"cached_tokens": 32}, "completion_tokens_details": {"reasoning_tokens": 4}}});
    let u = event(&p, None).unwrap().usage;
    assert_eq!(
        (
            u.input_tokens,
            u.cache_read_tokens,
            u.output_tokens,
            u.reasoning_tokens
        ),
        (40, 32, 9, 4)
    );
}

#[test]
fn cache_writes_left_out_of_prompt_tokens_by_older_litellm_are_added() {
    let mut p = payload("t");
    p["response"] = json!({"usage": {"prompt_tokens": 110, "completion_tokens": 5,
        "cache_read_input_tokens": 100, "cache_creation_input_tokens": 50}});
    let u = event(&p, None).unwrap().usage;
    assert_eq!(
        (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens),
        (160, 100, 50)
    );
}

#[test]
fn model_is_preferred_over_the_model_group_alias() {
    let mut p = payload("t");
    assert_eq!(event(&p, None).unwrap().model, "claude-sonnet-4-5");
    p["model"] = json!("");
    p["hidden_params"] = json!({"litellm_model_name": "claude-haiku-4-5"});
    assert_eq!(event(&p, None).unwrap().model, "claude-haiku-4-5");
}

#[test]
fn request_tags_become_pairs_and_are_capped_at_sixteen() {
    let mut p = payload("t");
    let mut list: Vec<String> = vec!["feature:rerank".into(), "prod".into(), "env=eu".into()];
    list.extend((0..20).map(|i| format!("k{i}:v")));
    p["request_tags"] = json!(list);
    let tags = event(&p, None).unwrap().tags.unwrap();
    assert_eq!(tags.len(), 16);
    assert_eq!(tags["feature"], "rerank");
    assert_eq!(tags["prod"], "true");
    assert_eq!(tags["env"], "eu");
}

#[test]
fn a_failure_without_usage_is_skipped() {
    let mut p = payload("t");
    p["status"] = json!("failure");
    p["prompt_tokens"] = json!(0);
    p["completion_tokens"] = json!(0);
    p["response_cost"] = json!(0.0);
    assert!(matches!(
        map_payload(&p.to_string(), None).unwrap(),
        Mapped::SkippedFailure
    ));
}

#[test]
fn a_failure_that_carries_tokens_is_recorded() {
    let mut p = payload("t");
    p["status"] = json!("failure");
    assert_eq!(event(&p, None).unwrap().usage.output_tokens, 20);
}

#[test]
fn a_negative_count_is_invalid_usage() {
    let mut p = payload("t");
    p["response"] = json!({"usage": {"prompt_tokens": -1}});
    assert_eq!(event(&p, None).unwrap_err().code, "invalid_usage");
}

#[test]
fn litellm_date_strings_are_read_as_utc() {
    let mut p = payload("t");
    p["endTime"] = json!("2025-01-24 09:20:46.851954");
    let e = event(&p, None).unwrap();
    assert_eq!(e.timestamp.to_rfc3339(), "2025-01-24T09:20:46.851954+00:00");
}
