//! Provider-native usage blocks forwarded unchanged are normalized and priced by the shipped catalog.
//! Expected costs are worked by hand from catalog/default_prices.json (per token × 1e6 = per million).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::{fixture, spawn_app};
use serde_json::{json, Value};

fn native(id: &str, provider: &str, model: &str, format: &str, usage: Value) -> Value {
    json!({
        "id": id, "timestamp": "2026-11-02T10:00:00Z", "team": "t",
        "provider": provider, "model": model, "usage_format": format, "usage": usage,
    })
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(&format!("native/{name}"))).unwrap()).unwrap()
}

async fn stored(app: &common::TestApp, id: &str) -> Value {
    let page = app.get_json("/v1/events?limit=1000").await;
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn native_blocks_are_normalized_and_priced_from_the_default_catalog() {
    let app = spawn_app().await;
    let batch = json!([
        // {"input_tokens":18,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":254}
        native(
            "anthropic",
            "anthropic",
            "claude-sonnet-4-5",
            "anthropic",
            fixture_json("anthropic_messages.json")
        ),
        // input 12033 of which 11904 cached, output 44
        native(
            "openai",
            "openai",
            "gpt-4o",
            "openai",
            fixture_json("openai_responses_cached.json")
        ),
        // prompt 559, candidates 1327, thoughts 1257
        native(
            "gemini",
            "gemini",
            "gemini/gemini-2.5-pro",
            "gemini",
            fixture_json("gemini_usage_metadata.json")
        ),
    ]);
    let body: Value = app.post_events(&batch).await.json().await.unwrap();
    assert_eq!(body["accepted"], 3, "{body}");

    let anthropic = stored(&app, "anthropic").await;
    assert_eq!(anthropic["usage"]["input_tokens"], 18);
    assert_eq!(anthropic["usage"]["output_tokens"], 254);
    // 18 × $3 + 254 × $15 = 54 + 3810 = 3864 per million
    assert_eq!(anthropic["cost"], "0.003864");

    let openai = stored(&app, "openai").await;
    assert_eq!(openai["usage"]["cache_read_tokens"], 11904);
    // 129 uncached × $2.5 + 11904 × $1.25 + 44 × $10 = 322.5 + 14880 + 440 = 15642.5 per million
    assert_eq!(openai["cost"], "0.0156425");

    let gemini = stored(&app, "gemini").await;
    assert_eq!(gemini["usage"]["input_tokens"], 559);
    assert_eq!(gemini["usage"]["output_tokens"], 1327 + 1257);
    assert_eq!(gemini["usage"]["reasoning_tokens"], 1257);
    // 559 × $1.25 + 2584 × $10 (thinking billed as output) = 698.75 + 25840 = 26538.75 per million
    assert_eq!(gemini["cost"], "0.02653875");
}

#[tokio::test]
async fn the_priority_tier_of_the_default_catalog_is_used() {
    let app = spawn_app().await;
    let mut e = native(
        "p",
        "openai",
        "gpt-4o",
        "openai",
        json!({"prompt_tokens": 1000, "completion_tokens": 1000}),
    );
    e["service_tier"] = json!("priority");
    app.post_events(&e).await;
    // 1000 × $4.25 + 1000 × $17 = 21250 per million
    assert_eq!(stored(&app, "p").await["cost"], "0.02125");
}

#[tokio::test]
async fn a_native_block_and_its_canonical_form_are_the_same_event() {
    let app = spawn_app().await;
    let anthropic = native(
        "same",
        "anthropic",
        "claude-sonnet-4-5",
        "anthropic",
        json!({"input_tokens": 3, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20, "output_tokens": 7}),
    );
    let canonical = native(
        "same",
        "anthropic",
        "claude-sonnet-4-5",
        "canonical",
        json!({"input_tokens": 123, "cache_read_tokens": 100, "cache_write_tokens": 20, "output_tokens": 7}),
    );
    let first: Value = app.post_events(&anthropic).await.json().await.unwrap();
    assert_eq!(first["accepted"], 1);
    let second: Value = app.post_events(&canonical).await.json().await.unwrap();
    assert_eq!(second["duplicates"], 1, "{second}");
}

#[tokio::test]
async fn a_block_of_another_format_is_an_invalid_usage() {
    let app = spawn_app().await;
    let wrong = native(
        "w",
        "openai",
        "gpt-4o",
        "anthropic",
        json!({"prompt_tokens": 10, "completion_tokens": 5}),
    );
    let response = app.post_events(&wrong).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_usage");
}
