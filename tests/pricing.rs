//! Costs computed at ingest, against hand-computed Decimal values (never floats).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::{event, spawn_app};
use rust_decimal::Decimal;
use serde_json::{json, Value};

fn d(text: &str) -> Decimal {
    Decimal::from_str_exact(text).unwrap()
}

async fn cost_of(app: &common::TestApp, id: &str) -> (Option<Decimal>, Option<i64>) {
    sqlx::query_as("SELECT cost, price_id FROM events WHERE event_id = $1")
        .bind(id)
        .fetch_one(&app.db().await)
        .await
        .unwrap()
}

async fn sonnet(app: &common::TestApp) {
    app.put_prices(json!([{
        "provider": "anthropic", "model": "claude-sonnet-4-5", "effective_from": "2025-01-01T00:00:00Z",
        "input": "3", "cache_read": "0.3", "cache_write": "3.75", "cache_write_1h": "6", "output": "15",
        "reasoning": "20", "per_request": "0.0001"
    }]))
    .await;
}

#[tokio::test]
async fn each_token_kind_is_priced_at_its_own_rate() {
    let app = spawn_app().await;
    sonnet(&app).await;
    // Each event exercises one token kind; the expected costs are worked by hand, per million:
    let cases = [
        // 1000 uncached input × $3 = 3000 → 0.003, + 0.0001 fee
        ("input", json!({"input_tokens": 1000}), "0.0031"),
        // 1000 input of which 1000 cache reads × $0.3 = 300 → 0.0003, + fee
        (
            "read",
            json!({"input_tokens": 1000, "cache_read_tokens": 1000}),
            "0.0004",
        ),
        // 1000 input of which 1000 5-minute writes × $3.75 = 3750 → 0.00375, + fee
        (
            "write",
            json!({"input_tokens": 1000, "cache_write_tokens": 1000}),
            "0.00385",
        ),
        // 1000 input, all 1-hour writes × $6 = 6000 → 0.006, + fee
        (
            "write1h",
            json!({"input_tokens": 1000, "cache_write_tokens": 1000, "cache_write_1h_tokens": 1000}),
            "0.0061",
        ),
        // 1000 output × $15 = 15000 → 0.015, + fee
        ("output", json!({"output_tokens": 1000}), "0.0151"),
        // 1000 output, all reasoning × $20 = 20000 → 0.02, + fee
        (
            "reasoning",
            json!({"output_tokens": 1000, "reasoning_tokens": 1000}),
            "0.0201",
        ),
        // zero usage: the fee alone
        ("zero", json!({}), "0.0001"),
        // everything at once: 12033 input = 100 uncached + 11904 read + 29 writes (9 of them 1h);
        // 100×3 + 11904×0.3 + 20×3.75 + 9×6 = 300 + 3571.2 + 75 + 54 = 4000.2;
        // 44 output = 30 plain + 14 reasoning: 30×15 + 14×20 = 450 + 280 = 730;
        // (4000.2 + 730) / 1e6 = 0.0047302, + 0.0001 = 0.0048302
        (
            "mixed",
            json!({"input_tokens": 12033, "cache_read_tokens": 11904, "cache_write_tokens": 29,
                         "cache_write_1h_tokens": 9, "output_tokens": 44, "reasoning_tokens": 14}),
            "0.0048302",
        ),
    ];
    let batch: Vec<Value> = cases
        .iter()
        .map(|(id, u, _)| event(id, "t", "anthropic", "claude-sonnet-4-5", u.clone()))
        .collect();
    let body: Value = app.post_events(&json!(batch)).await.json().await.unwrap();
    assert_eq!(body["accepted"], cases.len() as u64, "{body}");
    for (id, _, expected) in cases {
        let (cost, price_id) = cost_of(&app, id).await;
        assert_eq!(cost, Some(d(expected)), "{id}");
        assert!(price_id.is_some());
    }
}

#[tokio::test]
async fn the_price_in_effect_at_the_event_time_is_used() {
    let app = spawn_app().await;
    app.put_prices(json!([
        {"provider": "openai", "model": "acme-1", "effective_from": "2026-01-01T00:00:00Z", "input": "5", "output": "15"},
        {"provider": "openai", "model": "acme-1", "effective_from": "2026-06-01T00:00:00Z", "input": "2.5", "output": "10"},
    ]))
    .await;
    let at = |id: &str, ts: &str| {
        let mut e = event(
            id,
            "t",
            "openai",
            "acme-1",
            json!({"input_tokens": 1000000, "output_tokens": 1000000}),
        );
        e["timestamp"] = json!(ts);
        e
    };
    let batch = json!([
        at("before-any", "2025-12-31T23:59:59Z"),
        at("first", "2026-05-31T23:59:59Z"),
        at("second", "2026-06-01T00:00:00Z"),
    ]);
    app.post_events(&batch).await;
    assert_eq!(cost_of(&app, "before-any").await.0, None);
    // 1M input × $5 + 1M output × $15 = $20
    assert_eq!(cost_of(&app, "first").await.0, Some(d("20")));
    // 1M × $2.5 + 1M × $10 = $12.5
    assert_eq!(cost_of(&app, "second").await.0, Some(d("12.5")));
}

#[tokio::test]
async fn an_unknown_model_is_stored_unpriced_never_dropped() {
    let app = spawn_app().await;
    let mut e = event("u", "t", "openai", "gpt-nonexistent", json!({"input_tokens": 10}));
    e["cost"] = json!("0.25");
    let body: Value = app.post_events(&e).await.json().await.unwrap();
    assert_eq!(body["accepted"], 1);
    let listed = app.get_json("/v1/events").await;
    let stored = &listed["events"][0];
    assert_eq!(stored["priced"], false);
    assert_eq!(stored["cost"], Value::Null);
    assert_eq!(stored["reported_cost"], "0.25");
    // With no catalog price, the reported cost counts.
    let spend = app
        .get_json("/v1/spend?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z")
        .await;
    assert_eq!(spend["total"]["cost"], "0.25");
    assert_eq!(spend["total"]["unpriced_requests"], 1);
}

#[tokio::test]
async fn the_reported_cost_is_kept_beside_the_computed_one() {
    let app = spawn_app().await;
    sonnet(&app).await;
    // The cost is a JSON number in the body text; it must be read exactly from that text.
    let body = r#"{"id": "r", "timestamp": "2026-11-02T10:00:00Z", "team": "t", "provider": "anthropic",
                   "model": "claude-sonnet-4-5", "usage": {"output_tokens": 1000}, "cost": 0.0123}"#;
    let response = app
        .client
        .post(app.url("/v1/events"))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let listed = app.get_json("/v1/events").await;
    assert_eq!(listed["events"][0]["cost"], "0.0151");
    assert_eq!(listed["events"][0]["reported_cost"], "0.0123");
}

#[tokio::test]
async fn service_tier_and_long_context_rows_are_chosen_by_the_request() {
    let app = spawn_app().await;
    let base =
        json!({"provider": "gemini", "model": "gemini-2.5-pro", "effective_from": "2025-01-01T00:00:00Z"});
    let row = |extra: Value| {
        let mut r = base.clone();
        r.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        r
    };
    app.put_prices(json!([
        row(json!({"input": "1.25", "output": "10"})),
        row(json!({"above_input_tokens": 200000, "input": "2.5", "output": "15"})),
        row(json!({"service_tier": "batch", "input": "0.625", "output": "5"})),
    ]))
    .await;
    let call = |id: &str, input: u64, tier: &str| {
        let mut e = event(
            id,
            "t",
            "gemini",
            "gemini/gemini-2.5-pro",
            json!({"input_tokens": input, "output_tokens": 1000}),
        );
        e["service_tier"] = json!(tier);
        e
    };
    app.post_events(&json!([
        call("short", 200000, "standard"),
        call("long", 200001, "standard"),
        call("batch", 1000, "batch"),
        call("flex", 1000, "flex"),
    ]))
    .await;
    // 200000 × 1.25 + 1000 × 10 = 260000 → 0.26
    assert_eq!(cost_of(&app, "short").await.0, Some(d("0.26")));
    // the whole request at the long-context rates: 200001 × 2.5 + 1000 × 15 = 515002.5 → 0.5150025
    assert_eq!(cost_of(&app, "long").await.0, Some(d("0.5150025")));
    // 1000 × 0.625 + 1000 × 5 = 5625 → 0.005625
    assert_eq!(cost_of(&app, "batch").await.0, Some(d("0.005625")));
    // no flex row: standard rates, 1000 × 1.25 + 1000 × 10 = 11250 → 0.01125
    assert_eq!(cost_of(&app, "flex").await.0, Some(d("0.01125")));
}

#[tokio::test]
async fn a_price_row_is_never_rewritten() {
    let app = spawn_app().await;
    sonnet(&app).await;
    // The same row again is unchanged; other rates for the same key are a conflict.
    sonnet(&app).await;
    let response = app
        .client
        .put(app.url("/v1/prices"))
        .bearer_auth(&app.admin_key)
        .json(
            &json!({"prices": [{"provider": "anthropic", "model": "claude-sonnet-4-5",
                                   "effective_from": "2025-01-01T00:00:00Z", "input": "4", "output": "15"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let prices = app
        .get_json("/v1/prices?provider=anthropic&model=claude-sonnet-4-5")
        .await;
    let ours: Vec<&Value> = prices["prices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["effective_from"] == "2025-01-01T00:00:00Z")
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0]["input"], "3");
}

#[tokio::test]
async fn prices_with_more_than_six_decimals_per_million_are_refused() {
    let app = spawn_app().await;
    let response = app
        .client
        .put(app.url("/v1/prices"))
        .bearer_auth(&app.admin_key)
        .json(&json!({"prices": [{"provider": "x", "model": "y", "input": "0.0000001", "output": "1"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
}

#[tokio::test]
async fn adding_a_price_prices_the_stored_unpriced_events_of_that_model() {
    let app = spawn_app().await;
    let mut old = event(
        "old",
        "t",
        "acme",
        "acme-1",
        json!({"input_tokens": 1000, "output_tokens": 1000}),
    );
    old["timestamp"] = json!("2025-03-01T00:00:00Z");
    let new = event("new", "t", "acme", "acme-1", json!({"input_tokens": 2000}));
    let other = event("other", "t", "acme", "acme-2", json!({"input_tokens": 1}));
    app.post_events(&json!([old, new, other])).await;
    assert_eq!(cost_of(&app, "old").await.0, None);

    app.put_prices(json!([
        {"provider": "acme", "model": "acme-1", "effective_from": "2025-01-01T00:00:00Z", "input": "1", "output": "2"},
        {"provider": "acme", "model": "acme-1", "effective_from": "2026-01-01T00:00:00Z", "input": "3", "output": "4"},
    ]))
    .await;
    // Each at the version in effect at its time: 1000 × $1 + 1000 × $2 = 3000 per million;
    // 2000 × $3 = 6000 per million.
    assert_eq!(cost_of(&app, "old").await.0, Some(d("0.003")));
    assert_eq!(cost_of(&app, "new").await.0, Some(d("0.006")));
    assert_eq!(cost_of(&app, "other").await.0, None);
    let spend = app
        .get_json("/v1/spend?from=2025-01-01T00:00:00Z&to=2027-01-01T00:00:00Z")
        .await;
    assert_eq!(spend["total"]["cost"], "0.009");
    assert_eq!(spend["total"]["unpriced_requests"], 1);
}
