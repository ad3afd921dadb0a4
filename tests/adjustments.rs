//! Negotiated discounts and markups, applied on top of list price, with the list cost kept beside.
//! The shipped catalog prices gpt-4o at $2.5 input and $10 output per million.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::{event, spawn_app};
use serde_json::{json, Value};

async fn put(app: &common::TestApp, adjustments: Value) -> reqwest::Response {
    app.client
        .put(app.url("/v1/adjustments"))
        .bearer_auth(&app.admin_key)
        .json(&json!({ "adjustments": adjustments }))
        .send()
        .await
        .unwrap()
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

/// 1000 input × $2.5 + 100 output × $10 = 3500 per million: list cost 0.0035.
fn call(id: &str, team: &str, ts: &str) -> Value {
    let mut e = event(
        id,
        team,
        "openai",
        "gpt-4o",
        json!({"input_tokens": 1000, "output_tokens": 100}),
    );
    e["timestamp"] = json!(ts);
    e
}

#[tokio::test]
async fn a_team_discount_applies_to_that_team_only_and_keeps_the_list_cost_visible() {
    let app = spawn_app().await;
    let response = put(
        &app,
        json!([{"team": "search", "provider": "openai", "factor": "0.8", "effective_from": "2025-01-01T00:00:00Z",
                "note": "2025 enterprise agreement"}]),
    )
    .await;
    assert_eq!(response.status(), 200);
    app.post_events(&json!([
        call("s", "search", "2026-11-02T10:00:00Z"),
        call("a", "ads", "2026-11-02T10:00:00Z")
    ]))
    .await;
    let search = stored(&app, "s").await;
    // 0.0035 × 0.8
    assert_eq!(search["cost"], "0.0028");
    assert_eq!(search["list_cost"], "0.0035");
    assert_eq!(stored(&app, "a").await["cost"], "0.0035");
    let spend = app
        .get_json("/v1/spend?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z")
        .await;
    assert_eq!(spend["total"]["cost"], "0.0063");
    let listed = app.get_json("/v1/adjustments").await;
    assert_eq!(listed["adjustments"][0]["factor"], "0.8");
    assert_eq!(listed["adjustments"][0]["note"], "2025 enterprise agreement");
}

#[tokio::test]
async fn the_most_specific_adjustment_wins_and_versions_follow_event_time() {
    let app = spawn_app().await;
    put(
        &app,
        json!([
            {"provider": "openai", "model": "gpt-4o", "factor": "0.9", "effective_from": "2025-01-01T00:00:00Z"},
            {"team": "search", "factor": "0.5", "effective_from": "2025-01-01T00:00:00Z"},
            // the team's deal ends on 2026-11-10: factor 1 from then on
            {"team": "search", "factor": "1", "effective_from": "2026-11-10T00:00:00Z"},
        ]),
    )
    .await;
    app.post_events(&json!([
        call("search-early", "search", "2026-11-02T10:00:00Z"),
        call("search-late", "search", "2026-11-12T10:00:00Z"),
        call("ads", "ads", "2026-11-02T10:00:00Z"),
    ]))
    .await;
    // the team's deal beats the model-wide one: 0.0035 × 0.5
    assert_eq!(stored(&app, "search-early").await["cost"], "0.00175");
    // after it ended, factor 1 (the team's version still wins over the model-wide 0.9)
    assert_eq!(stored(&app, "search-late").await["cost"], "0.0035");
    // the model-wide one: 0.0035 × 0.9
    assert_eq!(stored(&app, "ads").await["cost"], "0.00315");
}

#[tokio::test]
async fn stored_events_get_a_new_adjustment_by_re_pricing() {
    let app = spawn_app().await;
    app.post_events(&call("old", "search", "2026-11-02T10:00:00Z"))
        .await;
    put(
        &app,
        json!([{"team": "search", "factor": "1.1", "effective_from": "2026-01-01T00:00:00Z"}]),
    )
    .await;
    // An adjustment does not rewrite history by itself...
    assert_eq!(stored(&app, "old").await["cost"], "0.0035");
    // ...re-pricing the range applies it: 0.0035 × 1.1 = 0.00385
    let run = app
        .client
        .post(app.url("/v1/reprice"))
        .bearer_auth(&app.admin_key)
        .json(&json!({"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), 200, "{}", run.text().await.unwrap());
    let old = stored(&app, "old").await;
    assert_eq!(old["cost"], "0.00385");
    assert_eq!(old["list_cost"], "0.0035");
}

#[tokio::test]
async fn an_unpriced_event_priced_later_gets_its_teams_adjustment() {
    let app = spawn_app().await;
    put(
        &app,
        json!([{"team": "search", "factor": "0.5", "effective_from": "2020-01-01T00:00:00Z"}]),
    )
    .await;
    let mut e = event("u", "search", "acme", "acme-1", json!({"input_tokens": 1000}));
    e["timestamp"] = json!("2026-11-02T10:00:00Z");
    app.post_events(&e).await;
    app.put_prices(
        json!([{"provider": "acme", "model": "acme-1", "effective_from": "2020-01-01T00:00:00Z",
                            "input": "4", "output": "8"}]),
    )
    .await;
    // 1000 × $4 = 4000 per million = 0.004 list, × 0.5
    let u = stored(&app, "u").await;
    assert_eq!(u["list_cost"], "0.004");
    assert_eq!(u["cost"], "0.002");
}

#[tokio::test]
async fn adjustments_are_admin_only_never_rewritten_and_validated() {
    let app = spawn_app().await;
    let first = json!([{"team": "t", "factor": "0.8", "effective_from": "2025-01-01T00:00:00Z"}]);
    assert_eq!(put(&app, first.clone()).await.status(), 200);
    let same: Value = put(&app, first).await.json().await.unwrap();
    assert_eq!(same["unchanged"], 1);
    let other = put(
        &app,
        json!([{"team": "t", "factor": "0.7", "effective_from": "2025-01-01T00:00:00Z"}]),
    )
    .await;
    assert_eq!(other.status(), 409);
    for (bad, status) in [
        (json!([{"factor": "-1"}]), 422),
        (json!([{"factor": "abc"}]), 422),
        (json!([{"factor": "1000"}]), 422),
        (json!([{"team": "", "factor": "1"}]), 422),
        (json!([{"factor": "1", "colour": "red"}]), 400),
    ] {
        let response = put(&app, bad.clone()).await;
        assert_eq!(response.status(), status, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"]["code"].is_string());
    }
    let read = app.create_key("read", None).await;
    assert_eq!(app.get_with(&read, "/v1/adjustments").await.status(), 403);
}
