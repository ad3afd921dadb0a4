//! Model matching against the shipped catalog: built-in rules, the alias table, `GET /v1/unpriced`.
//! Expected costs are worked by hand from catalog/default_prices.json (per token × 1e6 = per
//! million) and compared as decimal strings, never floats.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::{event, spawn_app, TestApp};
use serde_json::{json, Value};

/// The stored events by id, as `GET /v1/events` lists them.
async fn stored(app: &TestApp) -> Vec<Value> {
    app.get_json("/v1/events?limit=1000").await["events"]
        .as_array()
        .unwrap()
        .clone()
}

async fn stored_event(app: &TestApp, id: &str) -> Value {
    stored(app)
        .await
        .into_iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("event {id} is not stored"))
}

/// The price id of the standard, all-context row of a catalog model.
async fn price_id(app: &TestApp, provider: &str, model: &str) -> Value {
    let path = format!(
        "/v1/prices?provider={provider}&model={}",
        model.replace(':', "%3A")
    );
    let prices = app.get_json(&path).await;
    prices["prices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["service_tier"] == "standard" && p["above_input_tokens"] == 0)
        .unwrap_or_else(|| panic!("no price for {provider}/{model}"))["price_id"]
        .clone()
}

async fn put_aliases(app: &TestApp, key: &str, aliases: Value) -> reqwest::Response {
    app.client
        .put(app.url("/v1/aliases"))
        .bearer_auth(key)
        .json(&json!({ "aliases": aliases }))
        .send()
        .await
        .unwrap()
}

const SONNET_APAC: &str = "apac.anthropic.claude-sonnet-4-5-20250929-v1:0";
const SONNET_US: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

#[tokio::test]
async fn regional_versioned_and_dated_ids_are_priced_by_their_catalog_model() {
    let app = spawn_app().await;
    let batch = json!([
        // Bedrock's global profile of a model the catalog lists only bare (GlobalProfile rule):
        // anthropic.claude-opus-4-1-20250805-v1:0 is input 1.5e-05 → $15/M, output 7.5e-05 → $75/M,
        // cache_read 1.5e-06 → $1.5/M, cache_creation 1.875e-05 → $18.75/M (1h: none, so 18.75).
        event(
            "global",
            "t",
            "bedrock",
            "Bedrock/GLOBAL.anthropic.claude-opus-4-1-20250805-v1:0",
            json!({"input_tokens": 10000, "cache_read_tokens": 8000, "cache_write_tokens": 1000,
                   "output_tokens": 500}),
        ),
        // A geographic profile keeps its region: us.anthropic.claude-opus-4-7-20260416-v1:0 drops its
        // `-v1:0` and date to us.anthropic.claude-opus-4-7, input 5.5e-06 → $5.5/M, output 2.75e-05 →
        // $27.5/M (not the bare id's $5/$25).
        event(
            "us",
            "t",
            "bedrock",
            "us.anthropic.claude-opus-4-7-20260416-v1:0",
            json!({"input_tokens": 1000, "output_tokens": 100}),
        ),
        // Vertex's @version (VersionTag rule): vertex_ai/claude-opus-4-6 is input 5e-06 → $5/M,
        // output 2.5e-05 → $25/M, cache_creation 6.25e-06 → $6.25/M, above_1hr 1e-05 → $10/M.
        event(
            "vertex",
            "t",
            "vertex_ai",
            "claude-opus-4-6@20260205",
            json!({"input_tokens": 2000, "cache_write_tokens": 1000, "cache_write_1h_tokens": 400,
                   "output_tokens": 100}),
        ),
        // A dated OpenAI snapshot the catalog lacks (DatedSnapshot rule): gpt-5.6-sol is input
        // 4e-06 → $4/M, cache_read 4e-07 → $0.4/M, output 2e-05 → $20/M.
        event(
            "dated",
            "t",
            "openai",
            "openai/GPT-5.6-sol-2026-07-09",
            json!({"input_tokens": 3000, "cache_read_tokens": 2000, "output_tokens": 200}),
        ),
        // A dated snapshot with a price of its own keeps it: gpt-4o-2024-05-13 is input 5e-06 → $5/M,
        // output 1.5e-05 → $15/M, where gpt-4o is $2.5/$10.
        event(
            "own-price",
            "t",
            "openai",
            "gpt-4o-2024-05-13",
            json!({"input_tokens": 1000, "output_tokens": 100}),
        ),
        // Geographic profiles are priced above the bare id: no rule strips them.
        event(
            "apac",
            "t",
            "bedrock",
            SONNET_APAC,
            json!({"input_tokens": 1000, "output_tokens": 100}),
        ),
    ]);
    let body: Value = app.post_events(&batch).await.json().await.unwrap();
    assert_eq!(body["accepted"], 6, "{body}");

    let cases = [
        // 1000 uncached × 15 + 8000 × 1.5 + 1000 × 18.75 + 500 × 75
        //   = 15000 + 12000 + 18750 + 37500 = 83250 → 0.08325
        (
            "global",
            "global.anthropic.claude-opus-4-1-20250805-v1:0",
            "bedrock",
            "anthropic.claude-opus-4-1-20250805-v1:0",
            "0.08325",
        ),
        // 1000 × 5.5 + 100 × 27.5 = 5500 + 2750 = 8250 → 0.00825
        (
            "us",
            "us.anthropic.claude-opus-4-7-20260416-v1:0",
            "bedrock",
            "us.anthropic.claude-opus-4-7",
            "0.00825",
        ),
        // 1000 uncached × 5 + 600 five-minute writes × 6.25 + 400 one-hour writes × 10 + 100 × 25
        //   = 5000 + 3750 + 4000 + 2500 = 15250 → 0.01525
        (
            "vertex",
            "claude-opus-4-6@20260205",
            "vertex_ai",
            "claude-opus-4-6",
            "0.01525",
        ),
        // 1000 uncached × 4 + 2000 × 0.4 + 200 × 20 = 4000 + 800 + 4000 = 8800 → 0.0088
        (
            "dated",
            "gpt-5.6-sol-2026-07-09",
            "openai",
            "gpt-5.6-sol",
            "0.0088",
        ),
        // 1000 × 5 + 100 × 15 = 5000 + 1500 = 6500 → 0.0065
        (
            "own-price",
            "gpt-4o-2024-05-13",
            "openai",
            "gpt-4o-2024-05-13",
            "0.0065",
        ),
    ];
    for (id, sent, provider, catalog_model, cost) in cases {
        let e = stored_event(&app, id).await;
        // Stored as sent (normalized), so spend groups by what the gateway sent; the price row
        // says which catalog model priced it.
        assert_eq!(e["model"], sent, "{id}");
        assert_eq!(e["cost"], cost, "{id}");
        assert_eq!(
            e["price_id"],
            price_id(&app, provider, catalog_model).await,
            "{id}"
        );
    }
    let apac = stored_event(&app, "apac").await;
    assert_eq!(apac["priced"], false);
}

#[tokio::test]
async fn an_alias_added_by_put_prices_the_stored_unpriced_events_it_covers() {
    let app = spawn_app().await;
    let old = event(
        "old",
        "t",
        "bedrock",
        SONNET_APAC,
        json!({"input_tokens": 1000, "output_tokens": 1000}),
    );
    app.post_events(&old).await;
    assert_eq!(stored_event(&app, "old").await["priced"], false);

    let response = put_aliases(
        &app,
        &app.admin_key,
        json!([{"provider": "bedrock", "alias": SONNET_APAC, "model": SONNET_US}]),
    )
    .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer, json!({"written": 1, "unchanged": 0, "priced_events": 1}));

    // us.anthropic.claude-sonnet-4-5-20250929-v1:0 is input 3.3e-06 → $3.3/M, output 1.65e-05 →
    // $16.5/M: 1000 × 3.3 + 1000 × 16.5 = 3300 + 16500 = 19800 → 0.0198
    let old = stored_event(&app, "old").await;
    assert_eq!(old["cost"], "0.0198");
    assert_eq!(old["model"], SONNET_APAC);
    assert_eq!(old["price_id"], price_id(&app, "bedrock", SONNET_US).await);
    // New events are priced through the alias at ingest.
    let new = event(
        "new",
        "t",
        "bedrock",
        SONNET_APAC,
        json!({"input_tokens": 1000, "output_tokens": 1000}),
    );
    app.post_events(&new).await;
    assert_eq!(stored_event(&app, "new").await["cost"], "0.0198");

    let listed = app.get_json("/v1/aliases?provider=bedrock").await;
    let aliases = listed["aliases"].as_array().unwrap();
    assert_eq!(aliases.len(), 1);
    assert_eq!(aliases[0]["alias"], SONNET_APAC);
    assert_eq!(aliases[0]["model"], SONNET_US);
    let again = put_aliases(
        &app,
        &app.admin_key,
        json!([{"provider": "bedrock", "alias": SONNET_APAC, "model": SONNET_US}]),
    )
    .await;
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, json!({"written": 0, "unchanged": 1, "priced_events": 0}));
    assert_eq!(app.get_json("/v1/unpriced").await["models"], json!([]));
}

#[tokio::test]
async fn an_alias_must_point_at_a_priced_model_and_not_shadow_one() {
    let app = spawn_app().await;
    let code = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        (
            status,
            body["error"]["code"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let unknown = put_aliases(
        &app,
        &app.admin_key,
        json!([{"provider": "openai", "alias": "my-gpt", "model": "gpt-nonexistent"}]),
    )
    .await;
    assert_eq!(code(unknown).await, (422, "unknown_model".to_owned()));
    // gpt-4o has a price of its own; an exact match would win, so the alias would be dead.
    let shadowing = put_aliases(
        &app,
        &app.admin_key,
        json!([{"provider": "openai", "alias": "gpt-4o", "model": "gpt-4o-2024-05-13"}]),
    )
    .await;
    assert_eq!(code(shadowing).await, (422, "invalid_alias".to_owned()));
    // One bad alias writes nothing.
    let mixed = put_aliases(
        &app,
        &app.admin_key,
        json!([
            {"provider": "openai", "alias": "my-gpt", "model": "gpt-4o"},
            {"provider": "openai", "alias": "my-gpt-2", "model": "nothing"},
        ]),
    )
    .await;
    assert_eq!(code(mixed).await, (422, "unknown_model".to_owned()));
    assert_eq!(app.get_json("/v1/aliases").await["aliases"], json!([]));
    let reader = app.create_key("read", None).await;
    let forbidden = put_aliases(
        &app,
        &reader,
        json!([{"provider": "openai", "alias": "my-gpt", "model": "gpt-4o"}]),
    )
    .await;
    assert_eq!(forbidden.status(), 403);
}

#[tokio::test]
async fn adding_a_price_prices_unpriced_events_that_a_rule_now_matches() {
    let app = spawn_app().await;
    app.post_events(&event(
        "dated",
        "t",
        "openai",
        "acme-9-2026-10-01",
        json!({"input_tokens": 1000, "output_tokens": 1000}),
    ))
    .await;
    assert_eq!(stored_event(&app, "dated").await["priced"], false);
    app.put_prices(json!([{"provider": "openai", "model": "acme-9",
                           "effective_from": "2026-01-01T00:00:00Z", "input": "1", "output": "2"}]))
        .await;
    // 1000 × 1 + 1000 × 2 = 3000 → 0.003
    let dated = stored_event(&app, "dated").await;
    assert_eq!(dated["cost"], "0.003");
    assert_eq!(dated["model"], "acme-9-2026-10-01");
}

#[tokio::test]
async fn unpriced_models_are_listed_with_counts_and_first_and_last_seen() {
    let app = spawn_app().await;
    let at = |id: &str, team: &str, model: &str, ts: &str| {
        let mut e = event(id, team, "openai", model, json!({"input_tokens": 10}));
        e["timestamp"] = json!(ts);
        e
    };
    let batch = json!([
        at("1", "search", "acme-1", "2026-11-02T10:00:00Z"),
        at("2", "search", "acme-1", "2026-11-03T10:00:00Z"),
        at("3", "ads", "acme-1", "2026-11-04T10:00:00Z"),
        at("4", "ads", "acme-2", "2026-11-05T10:00:00Z"),
        // Priced by the shipped catalog: not listed.
        at("5", "ads", "gpt-4o", "2026-11-05T10:00:00Z"),
    ]);
    let body: Value = app.post_events(&batch).await.json().await.unwrap();
    assert_eq!(body["accepted"], 5, "{body}");

    let all = app.get_json("/v1/unpriced").await;
    assert_eq!(
        all,
        json!({"models": [
            {"provider": "openai", "model": "acme-1", "events": 3,
             "first_seen": "2026-11-02T10:00:00Z", "last_seen": "2026-11-04T10:00:00Z"},
            {"provider": "openai", "model": "acme-2", "events": 1,
             "first_seen": "2026-11-05T10:00:00Z", "last_seen": "2026-11-05T10:00:00Z"},
        ]})
    );
    let ranged = app
        .get_json("/v1/unpriced?from=2026-11-03T00:00:00Z&to=2026-11-05T00:00:00Z")
        .await;
    assert_eq!(
        ranged["models"],
        json!([{"provider": "openai", "model": "acme-1", "events": 2,
                "first_seen": "2026-11-03T10:00:00Z", "last_seen": "2026-11-04T10:00:00Z"}])
    );
    let search = app.create_key("read", Some("search")).await;
    let seen: Value = app.get_with(&search, "/v1/unpriced").await.json().await.unwrap();
    assert_eq!(
        seen["models"],
        json!([{"provider": "openai", "model": "acme-1", "events": 2,
                "first_seen": "2026-11-02T10:00:00Z", "last_seen": "2026-11-03T10:00:00Z"}])
    );
    assert_eq!(app.get_with(&search, "/v1/unpriced?team=ads").await.status(), 403);
    assert_eq!(
        app.get("/v1/unpriced?from=2026-11-05T00:00:00Z&to=2026-11-01T00:00:00Z")
            .await
            .status(),
        400
    );
}
