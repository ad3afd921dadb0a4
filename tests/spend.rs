//! GET /v1/spend, /v1/events and /v1/teams: grouping, filters, totals, CSV, buckets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::{event, spawn_app};
use serde_json::{json, Value};

const NOVEMBER: &str = "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z";

async fn seeded() -> common::TestApp {
    let app = spawn_app().await;
    app.put_prices(json!([
        {"provider": "openai", "model": "gpt-4o", "effective_from": "2020-01-01T00:00:00Z", "input": "2.5", "output": "10"},
        {"provider": "anthropic", "model": "claude", "effective_from": "2020-01-01T00:00:00Z", "input": "3", "output": "15"},
    ]))
    .await;
    let at = |id: &str, team: &str, provider: &str, model: &str, ts: &str, input: u64, output: u64| {
        let mut e = event(
            id,
            team,
            provider,
            model,
            json!({"input_tokens": input, "output_tokens": output}),
        );
        e["timestamp"] = json!(ts);
        e["tags"] = json!({"feature": if input.is_multiple_of(2) { "rerank" } else { "chat" }});
        e
    };
    let batch = json!([
        // search/openai: 1000×2.5 + 100×10 = 3500 → 0.0035
        at(
            "1",
            "search",
            "openai",
            "gpt-4o",
            "2026-11-02T10:00:00Z",
            1000,
            100
        ),
        // search/openai: 3000×2.5 + 0 = 7500 → 0.0075
        at("2", "search", "openai", "gpt-4o", "2026-11-03T23:30:00Z", 3000, 0),
        // search/anthropic: 1001×3 + 10×15 = 3153 → 0.003153
        at(
            "3",
            "search",
            "anthropic",
            "claude",
            "2026-11-03T10:00:00Z",
            1001,
            10
        ),
        // ads/openai: 10×2.5 + 1×10 = 35 → 0.000035
        at("4", "ads", "openai", "gpt-4o", "2026-11-04T00:00:00Z", 10, 1),
        // outside the range
        at("5", "ads", "openai", "gpt-4o", "2026-10-31T23:59:59Z", 1000000, 0),
    ]);
    let body: Value = app.post_events(&batch).await.json().await.unwrap();
    assert_eq!(body["accepted"], 5);
    app
}

fn row<'a>(rows: &'a Value, key: &[(&str, &str)]) -> &'a Value {
    rows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| key.iter().all(|(k, v)| r[*k] == *v))
        .unwrap_or_else(|| panic!("no row {key:?} in {rows}"))
}

#[tokio::test]
async fn spend_groups_by_team_and_provider_with_exact_totals() {
    let app = seeded().await;
    let spend = app
        .get_json(&format!("/v1/spend?{NOVEMBER}&group_by=team,provider"))
        .await;
    assert_eq!(spend["currency"], "USD");
    assert_eq!(spend["rows"].as_array().unwrap().len(), 3);
    // 0.0035 + 0.0075
    assert_eq!(
        row(&spend, &[("team", "search"), ("provider", "openai")])["cost"],
        "0.011"
    );
    assert_eq!(
        row(&spend, &[("team", "search"), ("provider", "anthropic")])["cost"],
        "0.003153"
    );
    assert_eq!(
        row(&spend, &[("team", "ads"), ("provider", "openai")])["cost"],
        "0.000035"
    );
    // 0.011 + 0.003153 + 0.000035
    assert_eq!(spend["total"]["cost"], "0.014188");
    assert_eq!(spend["total"]["requests"], 4);
    assert_eq!(spend["total"]["input_tokens"], 5011);
    assert_eq!(spend["total"]["output_tokens"], 111);
}

#[tokio::test]
async fn spend_filters_are_repeatable_and_combine() {
    let app = seeded().await;
    let spend = app
        .get_json(&format!(
            "/v1/spend?{NOVEMBER}&team=search&provider=openai&group_by=model"
        ))
        .await;
    assert_eq!(spend["total"]["cost"], "0.011");
    let both = app
        .get_json(&format!("/v1/spend?{NOVEMBER}&team=search&team=ads&model=gpt-4o"))
        .await;
    assert_eq!(both["total"]["cost"], "0.011035");
    let comma = app
        .get_json(&format!("/v1/spend?{NOVEMBER}&team=search,ads&model=gpt-4o"))
        .await;
    assert_eq!(comma["total"], both["total"]);
    let nobody = app.get_json(&format!("/v1/spend?{NOVEMBER}&team=nobody")).await;
    assert_eq!(nobody["total"]["requests"], 0);
    assert_eq!(nobody["total"]["cost"], "0");
}

#[tokio::test]
async fn spend_buckets_by_day_in_the_requested_time_zone() {
    let app = seeded().await;
    let utc = app
        .get_json(&format!("/v1/spend?{NOVEMBER}&granularity=day&team=search"))
        .await;
    let buckets: Vec<&str> = utc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["bucket"].as_str().unwrap())
        .collect();
    assert_eq!(buckets, ["2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"]);
    // 23:30 UTC on the 3rd is 05:00 on the 4th in Kolkata (+05:30).
    let kolkata = app
        .get_json(&format!(
            "/v1/spend?{NOVEMBER}&granularity=day&team=search&tz=Asia/Kolkata"
        ))
        .await;
    let day4 = row(&kolkata, &[("bucket", "2026-11-04T00:00:00+05:30")]);
    assert_eq!(day4["cost"], "0.0075");
    let bad = app
        .get(&format!("/v1/spend?{NOVEMBER}&granularity=day&tz=Mars/Olympus"))
        .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn spend_groups_by_tag_with_null_for_events_without_it() {
    let app = seeded().await;
    let mut untagged = event("6", "ads", "openai", "gpt-4o", json!({"input_tokens": 4}));
    untagged["timestamp"] = json!("2026-11-05T00:00:00Z");
    app.post_events(&untagged).await;
    let spend = app
        .get_json(&format!("/v1/spend?{NOVEMBER}&group_by=tag:feature"))
        .await;
    // rerank (even input): events 1, 2, 4 → 0.0035 + 0.0075 + 0.000035
    assert_eq!(row(&spend, &[("tag:feature", "rerank")])["cost"], "0.011035");
    assert_eq!(row(&spend, &[("tag:feature", "chat")])["cost"], "0.003153");
    let none = spend["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tag:feature"].is_null())
        .unwrap();
    // 4 × 2.5 = 10 → 0.00001
    assert_eq!(none["cost"], "0.00001");
}

#[tokio::test]
async fn spend_as_csv_has_the_same_rows() {
    let app = seeded().await;
    let path = format!("/v1/spend?{NOVEMBER}&group_by=team");
    let json = app.get_json(&path).await;
    let csv = app
        .client
        .get(app.url(&path))
        .bearer_auth(&app.admin_key)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "team,cost,requests,input_tokens,cache_read_tokens,cache_write_tokens,output_tokens,reasoning_tokens,unpriced_requests"
    );
    assert_eq!(lines.len(), 1 + json["rows"].as_array().unwrap().len());
    assert_eq!(lines[1], "search,0.014153,3,5001,0,0,110,0,0");
    assert_eq!(lines[2], "ads,0.000035,1,10,0,0,1,0,0");
}

#[tokio::test]
async fn spend_rejects_bad_parameters_with_400() {
    let app = seeded().await;
    for query in [
        "group_by=colour",
        "granularity=fortnight",
        "from=yesterday",
        "from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z",
    ] {
        let response = app.get(&format!("/v1/spend?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_query");
    }
}

#[tokio::test]
async fn events_are_listed_newest_first_with_keyset_paging() {
    let app = seeded().await;
    let first = app.get_json("/v1/events?limit=2").await;
    let ids: Vec<&str> = first["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["4", "2"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app.get_json(&format!("/v1/events?limit=2&cursor={cursor}")).await;
    let ids: Vec<&str> = second["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["3", "1"]);
    let filtered = app.get_json("/v1/events?provider=anthropic").await;
    assert_eq!(filtered["events"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["events"][0]["usage"]["input_tokens"], 1001);
    assert_eq!(filtered["next_cursor"], Value::Null);
}

#[tokio::test]
async fn teams_lists_teams_with_usage_in_the_period() {
    let app = seeded().await;
    let teams = app.get_json(&format!("/v1/teams?{NOVEMBER}")).await;
    assert_eq!(
        teams["teams"],
        // Most spend first; search = 0.0035 + 0.0075 + 0.003153 (see `seeded`).
        json!([
            {"team": "search", "requests": 3, "cost": "0.014153", "currency": "USD"},
            {"team": "ads", "requests": 1, "cost": "0.000035", "currency": "USD"},
        ])
    );
}

#[tokio::test]
async fn reconciliation_shows_where_the_gateway_and_the_catalog_disagree() {
    let app = seeded().await;
    let with_cost = |id: &str, model: &str, input: u64, cost: &str| {
        let mut e = event(id, "recon", "openai", model, json!({"input_tokens": input}));
        e["cost"] = json!(cost);
        e
    };
    app.post_events(&json!([
        // catalog: 1000 × $2.5 = 2500 per million → 0.0025; the gateway says 0.003
        with_cost("r1", "gpt-4o", 1000, "0.003"),
        // catalog: 2000 × $2.5 → 0.005; the gateway agrees
        with_cost("r2", "gpt-4o", 2000, "0.005"),
        // no catalog price: reported only, not reconciled
        with_cost("r3", "unknown-model", 10, "0.1"),
    ]))
    .await;
    let spend = app
        .get_json(&format!(
            "/v1/spend?{NOVEMBER}&team=recon&group_by=model&include=reconciliation"
        ))
        .await;
    let gpt = row(&spend, &[("model", "gpt-4o")]);
    assert_eq!(gpt["reconciled_requests"], 2);
    assert_eq!(gpt["computed_cost"], "0.0075");
    assert_eq!(gpt["reported_cost"], "0.008");
    assert_eq!(gpt["cost_difference"], "0.0005");
    let unknown = row(&spend, &[("model", "unknown-model")]);
    assert_eq!(unknown["reconciled_requests"], 0);
    assert_eq!(unknown["cost"], "0.1");
    assert_eq!(spend["total"]["cost_difference"], "0.0005");
    // Without include=reconciliation the rows keep their usual shape.
    let plain = app.get_json(&format!("/v1/spend?{NOVEMBER}&team=recon")).await;
    assert!(plain["total"].get("cost_difference").is_none());
    // The counted cost is the catalog's by default: 0.0025 + 0.005 + 0.1 (reported, no price).
    assert_eq!(plain["total"]["cost"], "0.1075");
}

#[tokio::test]
async fn the_cost_source_setting_picks_which_cost_counts() {
    let app = common::spawn_app_with(|c| c.cost_source = tokenledger::config::CostSource::Reported).await;
    let with_cost = |id: &str, input: u64, cost: Option<&str>| {
        let mut e = event(id, "t", "openai", "gpt-4o", json!({"input_tokens": input}));
        if let Some(cost) = cost {
            e["cost"] = json!(cost);
        }
        e
    };
    // Shipped catalog: gpt-4o input $2.5 per million.
    app.post_events(&json!([
        with_cost("a", 1000, Some("0.003")),
        with_cost("b", 2000, None)
    ]))
    .await;
    let spend = app.get_json(&format!("/v1/spend?{NOVEMBER}")).await;
    // reported where sent (0.003), else computed (2000 × $2.5 = 0.005)
    assert_eq!(spend["total"]["cost"], "0.008");
}
