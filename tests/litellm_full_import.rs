//! Importing LiteLLM's whole price map end to end, then pricing calls of 22 models across 8
//! providers. Every expected cost was worked out from the rates in the map (per token × 1e6 = per
//! million), not by the code under test; the arithmetic is beside each case.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::spawn_app;
use serde_json::{json, Value};

/// (id, provider, model as the gateway sends it, service tier,
///  [input, cache_read, cache_write, cache_write_1h, output, reasoning], expected cost)
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    [u64; 6],
    &'static str,
);

const CASES: &[Case] = &[
    // gpt-4o: in 2.5, cache read 1.25, out 10 — 6000×2.5 + 4000×1.25 + 500×10 = 25000
    (
        "openai-gpt-4o",
        "openai",
        "gpt-4o",
        "standard",
        [10000, 4000, 0, 0, 500, 0],
        "0.025",
    ),
    // batch: in 1.25, out 5 — 10000×1.25 + 500×5 = 15000
    (
        "openai-gpt-4o-batch",
        "openai",
        "openai/gpt-4o",
        "batch",
        [10000, 0, 0, 0, 500, 0],
        "0.015",
    ),
    // priority: in 4.25, cache read 2.125, out 17 — 6000×4.25 + 4000×2.125 + 500×17 = 42500
    (
        "openai-gpt-4o-priority",
        "openai",
        "gpt-4o",
        "priority",
        [10000, 4000, 0, 0, 500, 0],
        "0.0425",
    ),
    // gpt-4.1-mini: in 0.4, out 1.6 — 20000×0.4 + 1000×1.6 = 9600
    (
        "openai-gpt-4.1-mini",
        "openai",
        "gpt-4.1-mini",
        "standard",
        [20000, 0, 0, 0, 1000, 0],
        "0.0096",
    ),
    // o3: in 2, out 8, reasoning billed as output — 5000×2 + 500×8 + 2500×8 = 34000
    (
        "openai-o3",
        "openai",
        "o3",
        "standard",
        [5000, 0, 0, 0, 3000, 2500],
        "0.034",
    ),
    // o4-mini flex: in 0.55, cache read 0.138, out 2.2 — 4000×0.55 + 1000×0.138 + 2000×2.2 = 6738
    (
        "openai-o4-mini-flex",
        "openai",
        "o4-mini",
        "flex",
        [5000, 1000, 0, 0, 2000, 0],
        "0.006738",
    ),
    // claude-sonnet-4-5: in 3, read 0.3, write 3.75, 1h write 6, out 15 —
    // 1000×3 + 25000×0.3 + 3000×3.75 + 1000×6 + 800×15 = 39750
    (
        "anthropic-sonnet",
        "anthropic",
        "claude-sonnet-4-5",
        "standard",
        [30000, 25000, 4000, 1000, 800, 0],
        "0.03975",
    ),
    // claude-haiku-4-5 batch: in 0.5, out 2.5 — 10000×0.5 + 1000×2.5 = 7500
    (
        "anthropic-haiku-batch",
        "anthropic",
        "claude-haiku-4-5",
        "batch",
        [10000, 0, 0, 0, 1000, 0],
        "0.0075",
    ),
    // Bedrock sonnet 4.5 above 200k input: in 6, read 0.6, out 22.5 — 200000×6 + 50000×0.6 + 2000×22.5 = 1275000
    (
        "bedrock-sonnet-long",
        "bedrock",
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "standard",
        [250000, 50000, 0, 0, 2000, 0],
        "1.275",
    ),
    // the same model under 200k: in 3, out 15 — 1000×3 + 100×15 = 4500
    (
        "bedrock-sonnet-short",
        "bedrock",
        "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0",
        "standard",
        [1000, 0, 0, 0, 100, 0],
        "0.0045",
    ),
    // Nova Pro: in 0.8, out 3.2 — 10000×0.8 + 1000×3.2 = 11200
    (
        "bedrock-nova-pro",
        "bedrock",
        "amazon.nova-pro-v1:0",
        "standard",
        [10000, 0, 0, 0, 1000, 0],
        "0.0112",
    ),
    // Bedrock haiku 4.5, 1-hour cache writes: in 1, 1h write 2, out 5 — 1000×1 + 1000×2 + 100×5 = 3500
    (
        "bedrock-haiku-1h",
        "bedrock",
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        "standard",
        [2000, 0, 1000, 1000, 100, 0],
        "0.0035",
    ),
    // Azure gpt-4o: in 2.5, out 10 — 10000×2.5 + 500×10 = 30000
    (
        "azure-gpt-4o",
        "azure",
        "azure/gpt-4o",
        "standard",
        [10000, 0, 0, 0, 500, 0],
        "0.03",
    ),
    // Azure gpt-4.1 priority: in 3.5, out 14 — 1000×3.5 + 1000×14 = 17500
    (
        "azure-gpt-4.1-priority",
        "azure",
        "gpt-4.1",
        "priority",
        [1000, 0, 0, 0, 1000, 0],
        "0.0175",
    ),
    // Vertex claude-sonnet-4-5: in 3, out 15 — 1000×3 + 1000×15 = 18000
    (
        "vertex-sonnet",
        "vertex_ai",
        "vertex_ai/claude-sonnet-4-5",
        "standard",
        [1000, 0, 0, 0, 1000, 0],
        "0.018",
    ),
    // Vertex gemini-2.5-pro above 200k: in 2.5, out 15 — 300000×2.5 + 1000×15 = 765000
    (
        "vertex-gemini-pro-long",
        "vertex_ai",
        "gemini-2.5-pro",
        "standard",
        [300000, 0, 0, 0, 1000, 0],
        "0.765",
    ),
    // Gemini 2.5 flash with thinking: in 0.3, out 2.5, reasoning 2.5 — 1000×0.3 + 500×2.5 + 1500×2.5 = 5300
    (
        "gemini-flash-thinking",
        "gemini",
        "gemini/gemini-2.5-flash",
        "standard",
        [1000, 0, 0, 0, 2000, 1500],
        "0.0053",
    ),
    // Gemini 2.5 pro cached: in 1.25, read 0.125, out 10 — 50000×1.25 + 50000×0.125 + 1000×10 = 78750
    (
        "gemini-pro-cached",
        "gemini",
        "gemini-2.5-pro",
        "standard",
        [100000, 50000, 0, 0, 1000, 0],
        "0.07875",
    ),
    // Mistral large: in 0.5, out 1.5 — 10000×0.5 + 1000×1.5 = 6500
    (
        "mistral-large",
        "mistral",
        "mistral-large-latest",
        "standard",
        [10000, 0, 0, 0, 1000, 0],
        "0.0065",
    ),
    // Mistral small: in 0.15, out 0.6 — 10000×0.15 + 1000×0.6 = 2100
    (
        "mistral-small",
        "mistral",
        "mistral/mistral-small-latest",
        "standard",
        [10000, 0, 0, 0, 1000, 0],
        "0.0021",
    ),
    // Codestral: in 0.3, out 0.9 — 10000×0.3 + 1000×0.9 = 3900
    (
        "mistral-codestral",
        "mistral",
        "codestral-latest",
        "standard",
        [10000, 0, 0, 0, 1000, 0],
        "0.0039",
    ),
    // DeepSeek chat (not in the shipped catalog: priced only by the import): in 0.28, read 0.028, out 0.42 —
    // 5000×0.28 + 5000×0.028 + 1000×0.42 = 1960
    (
        "deepseek-chat",
        "deepseek",
        "deepseek-chat",
        "standard",
        [10000, 5000, 0, 0, 1000, 0],
        "0.00196",
    ),
];

#[tokio::test]
async fn the_whole_litellm_map_imports_and_prices_calls_as_the_price_sheets_say() {
    let app = spawn_app().await;
    let map = std::fs::read_to_string(common::fixture("litellm_model_prices.json")).unwrap();
    let response = app
        .client
        .post(app.url("/v1/prices/import"))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body(map)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    // Models outside the shipped catalog are new: priced from the beginning of time.
    let deepseek = report["imported"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["provider"] == "deepseek" && v["model"] == "deepseek-chat")
        .unwrap_or_else(|| panic!("deepseek-chat not imported"));
    assert_eq!(deepseek["effective_from"], "1970-01-01T00:00:00Z");
    assert!(
        report["unchanged"].as_u64().unwrap() > 500,
        "the shipped models are unchanged: {}",
        report["unchanged"]
    );
    let skipped = report["skipped"].as_array().unwrap();
    assert!(skipped.iter().any(|s| s["key"] == "sample_spec"));
    assert!(report["merged"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["model"] == "deepseek-chat"));

    let events: Vec<Value> = CASES
        .iter()
        .map(|(id, provider, model, tier, u, _)| {
            json!({
                "id": id, "timestamp": "2026-11-02T10:00:00Z", "team": "t", "provider": provider, "model": model,
                "service_tier": tier,
                "usage": {"input_tokens": u[0], "cache_read_tokens": u[1], "cache_write_tokens": u[2],
                          "cache_write_1h_tokens": u[3], "output_tokens": u[4], "reasoning_tokens": u[5]},
            })
        })
        .collect();
    let body: Value = app.post_events(&json!(events)).await.json().await.unwrap();
    assert_eq!(body["accepted"], CASES.len(), "{body}");

    let listed = app.get_json("/v1/events?limit=1000").await;
    let stored = listed["events"].as_array().unwrap();
    let mut wrong = Vec::new();
    for (id, _, _, _, _, expected) in CASES {
        let event = stored.iter().find(|e| e["id"] == *id).unwrap();
        if event["cost"] != *expected {
            wrong.push(format!("{id}: expected {expected}, got {}", event["cost"]));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    let providers: std::collections::BTreeSet<&str> = CASES.iter().map(|c| c.1).collect();
    assert_eq!(providers.len(), 8);
}
