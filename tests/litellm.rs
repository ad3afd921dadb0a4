//! POST /v1/integrations/litellm: LiteLLM's StandardLoggingPayload, single, array and NDJSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::{spawn_app, TestApp};
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// A successful call of team `search`: 1000 input (600 read from the cache), 100 output
/// (30 reasoning), at 2026-11-02T10:00:01Z.
fn payload(id: &str) -> Value {
    json!({
        "id": id, "call_type": "acompletion", "status": "success", "stream": false,
        "custom_llm_provider": "openai", "model": "gpt-4o", "model_group": "team-gpt",
        "startTime": 1793613600.0, "endTime": 1793613601.0,
        "response_cost": 0.0012345, "prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100,
        "metadata": {"user_api_key_team_alias": "search", "user_api_key_team_id": "team-uuid",
                     "user_api_key_user_id": "u_1"},
        "request_tags": ["feature:rerank"],
        "response": {"model": "gpt-4o-2024-08-06", "usage": {"prompt_tokens": 1000, "completion_tokens": 100,
            "prompt_tokens_details": {"cached_tokens": 600}, "completion_tokens_details": {"reasoning_tokens": 30}}},
        "hidden_params": {"litellm_model_name": "gpt-4o"},
        "error_str": null,
    })
}

/// gpt-4o at 2.5 input, 1.25 cache read, 10 output per million tokens.
async fn app_with_prices() -> TestApp {
    let app = spawn_app().await;
    app.put_prices(
        json!([{"provider": "openai", "model": "gpt-4o", "effective_from": "2020-01-01T00:00:00Z",
        "input": "2.5", "cache_read": "1.25", "output": "10"}]),
    )
    .await;
    app
}

async fn post(app: &TestApp, content_type: &str, body: String) -> reqwest::Response {
    app.client
        .post(app.url("/v1/integrations/litellm"))
        .bearer_auth(&app.admin_key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn total(app: &TestApp) -> Value {
    app.get_json("/v1/spend?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z")
        .await["total"]
        .clone()
}

fn decimal(value: &Value) -> Decimal {
    Decimal::from_str_exact(value.as_str().unwrap()).unwrap()
}

/// 400 × 2.5 + 600 × 1.25 + 100 × 10 = 1000 + 750 + 1000 = 2750 per million.
const ONE_CALL: &str = "0.00275";

#[tokio::test]
async fn a_single_payload_is_stored_and_priced_from_its_usage_details() {
    let app = app_with_prices().await;

    let response = post(&app, "application/json", payload("call-1").to_string()).await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"accepted": 1, "duplicates": 0, "rejected": []})
    );
    let total = total(&app).await;
    assert_eq!(
        (
            total["cache_read_tokens"].clone(),
            total["reasoning_tokens"].clone()
        ),
        (json!(600), json!(30))
    );
    assert_eq!(
        decimal(&total["cost"]),
        Decimal::from_str_exact(ONE_CALL).unwrap()
    );
}

#[tokio::test]
async fn a_json_array_of_payloads_is_stored() {
    let app = app_with_prices().await;
    let body = json!([payload("call-1"), payload("call-2")]).to_string();

    let report: Value = post(&app, "application/json", body).await.json().await.unwrap();

    assert_eq!(report["accepted"], 2);
    assert_eq!(
        decimal(&total(&app).await["cost"]),
        Decimal::from_str_exact("0.0055").unwrap()
    );
}

#[tokio::test]
async fn ndjson_payloads_are_stored_line_by_line() {
    let app = app_with_prices().await;
    let body = format!("{}\n{}\nnot json\n", payload("call-1"), payload("call-2"));

    let report: Value = post(&app, "application/x-ndjson", body)
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(report["accepted"], 2);
    assert_eq!(report["rejected"][0]["index"], 2);
    assert_eq!(report["rejected"][0]["error"]["code"], "invalid_json");
}

#[tokio::test]
async fn a_resent_payload_counts_once() {
    let app = app_with_prices().await;
    post(&app, "application/json", payload("call-1").to_string()).await;

    let report: Value = post(&app, "application/json", payload("call-1").to_string())
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(report["duplicates"], 1);
    assert_eq!(total(&app).await["requests"], 1);
}

#[tokio::test]
async fn the_reported_cost_is_kept_exactly_as_a_decimal() {
    let app = app_with_prices().await;
    // Written out so that no float could carry it: 17 significant digits.
    let body = payload("call-1")
        .to_string()
        .replace("0.0012345", "0.123456789012");

    post(&app, "application/json", body).await;

    let events = app.get_json("/v1/events?team=search").await;
    assert_eq!(events["events"][0]["reported_cost"], "0.123456789012");
    assert_eq!(events["events"][0]["user"], "u_1");
    assert_eq!(events["events"][0]["tags"], json!({"feature": "rerank"}));
}

#[tokio::test]
async fn the_shared_fixture_is_stored_with_the_team_of_a_team_bound_key() {
    let app = app_with_prices().await;
    let key = app.create_key("ingest", Some("search")).await;
    let body = std::fs::read_to_string(common::fixture("litellm_standard_logging_payload.json")).unwrap();

    let response = app
        .client
        .post(app.url("/v1/integrations/litellm"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let events = app
        .get_json("/v1/events?team=search&from=2025-01-01T00:00:00Z&to=2025-02-01T00:00:00Z")
        .await;
    let event = &events["events"][0];
    assert_eq!(event["id"], "chatcmpl-2299b6a2-82a3-465a-b47c-04e685a2227f");
    // 10 × 2.5 + 20 × 10 = 225 per million: the same as LiteLLM's 0.00022500000000000002, whose
    // float noise past the 12th decimal is rounded off.
    assert_eq!(
        decimal(&event["cost"]),
        Decimal::from_str_exact("0.000225").unwrap()
    );
    assert_eq!(event["reported_cost"], "0.000225");
}

#[tokio::test]
async fn the_shared_fixture_without_a_team_is_rejected_with_a_clear_message() {
    let app = spawn_app().await;
    let body = std::fs::read_to_string(common::fixture("litellm_standard_logging_payload.json")).unwrap();

    let response = post(&app, "application/json", body).await;

    assert_eq!(response.status(), 422);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "missing_field");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("user_api_key_team_alias"));
}

#[tokio::test]
async fn failures_without_usage_are_skipped_and_counted() {
    let app = app_with_prices().await;
    let mut failure = payload("call-2");
    failure["status"] = json!("failure");
    failure["response_cost"] = json!(0.0);
    failure["prompt_tokens"] = json!(0);
    failure["completion_tokens"] = json!(0);
    failure["response"] = json!({});
    failure["error_str"] = json!("RateLimitError");
    let body = json!([payload("call-1"), failure]).to_string();

    let report: Value = post(&app, "application/json", body).await.json().await.unwrap();

    assert_eq!(
        report,
        json!({"accepted": 1, "duplicates": 0, "rejected": [], "ignored": 1})
    );
    assert_eq!(total(&app).await["requests"], 1);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains(r#"tokenledger_events_total{outcome="ignored",reason="litellm_failure"} 1"#));
}

#[tokio::test]
async fn a_rejected_payload_in_an_array_is_reported_at_its_position() {
    let app = app_with_prices().await;
    let mut failure = payload("call-0");
    failure["status"] = json!("failure");
    failure["response"] = json!(null);
    failure["prompt_tokens"] = json!(0);
    failure["completion_tokens"] = json!(0);
    failure["response_cost"] = json!(null);
    let mut no_team = payload("call-2");
    no_team["metadata"] = json!({});
    let body = json!([failure, payload("call-1"), no_team]).to_string();

    let report: Value = post(&app, "application/json", body).await.json().await.unwrap();

    assert_eq!(report["accepted"], 1);
    assert_eq!(report["rejected"][0]["index"], 2);
    assert_eq!(report["rejected"][0]["id"], "call-2");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_in_the_error_shape() {
    let app = spawn_app().await;
    let response = post(&app, "application/json", "[{".into()).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "malformed_body");
}
