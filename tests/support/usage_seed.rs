//! Seeds a service with varied usage for the metrics tests: several teams, providers and models,
//! cached and reasoning tokens, a gateway-reported cost, an unpriced model and a rejected event,
//! all timestamped just now (so the current month has spend), then catches the rollups up.

use crate::common::TestApp;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::str::FromStr;

pub async fn seed(app: &TestApp) {
    app.put_prices(json!([
        {"provider": "openai", "model": "gpt-4o", "effective_from": "2020-01-01T00:00:00Z",
         "input": "2.5", "cache_read": "1.25", "output": "10"},
        {"provider": "openai", "model": "o3", "effective_from": "2020-01-01T00:00:00Z",
         "input": "2", "cache_read": "0.5", "output": "8", "reasoning": "8"},
        {"provider": "anthropic", "model": "claude-sonnet-4-5", "effective_from": "2020-01-01T00:00:00Z",
         "input": "3", "cache_read": "0.3", "cache_write": "3.75", "output": "15"},
    ]))
    .await;
    // Just now, and in the current UTC month (right after a month starts, "now" itself).
    let now = chrono::Utc::now();
    let before = now - chrono::Duration::seconds(2);
    let now = if chrono::Datelike::month(&before) == chrono::Datelike::month(&now) {
        before
    } else {
        now
    }
    .to_rfc3339();
    let e = |id: &str, team: &str, provider: &str, model: &str, usage: Value| json!({"id": id, "timestamp": now, "team": team, "provider": provider, "model": model, "usage": usage});
    let mut reported = e(
        "r1",
        "ads",
        "anthropic",
        "claude-sonnet-4-5",
        json!({"input_tokens": 5000, "cache_read_tokens": 4000, "cache_write_tokens": 500, "output_tokens": 200}),
    );
    reported["cost"] = json!("0.0123");
    let mut unpriced_reported = e(
        "u2",
        "chat",
        "mistral",
        "mistral-unknown-9",
        json!({"input_tokens": 10, "output_tokens": 5}),
    );
    unpriced_reported["cost"] = json!("0.25");
    let batch = json!([
        e(
            "s1",
            "search",
            "openai",
            "gpt-4o",
            json!({"input_tokens": 12000, "cache_read_tokens": 8000, "output_tokens": 300})
        ),
        e(
            "s2",
            "search",
            "openai",
            "o3",
            json!({"input_tokens": 3000, "output_tokens": 2000, "reasoning_tokens": 1500})
        ),
        e(
            "s3",
            "search",
            "anthropic",
            "claude-sonnet-4-5",
            json!({"input_tokens": 12033, "cache_read_tokens": 11904, "output_tokens": 44})
        ),
        reported,
        e(
            "a2",
            "ads",
            "openai",
            "gpt-4o",
            json!({"input_tokens": 100, "output_tokens": 10})
        ),
        e(
            "c1",
            "chat",
            "openai",
            "o3",
            json!({"input_tokens": 700, "cache_read_tokens": 100, "output_tokens": 900, "reasoning_tokens": 800})
        ),
        e(
            "u1",
            "chat",
            "mistral",
            "mistral-unknown-9",
            json!({"input_tokens": 40, "output_tokens": 4})
        ),
        unpriced_reported,
        // Rejected: more cache reads than input tokens.
        e(
            "bad",
            "chat",
            "openai",
            "gpt-4o",
            json!({"input_tokens": 1, "cache_read_tokens": 2})
        ),
    ]);
    let response: Value = app.post_events(&batch).await.json().await.unwrap();
    assert_eq!(response["accepted"], 8, "{response}");
    assert_eq!(response["rejected"].as_array().unwrap().len(), 1, "{response}");
    app.rollup().await;
}

/// The exact total of `GET /v1/spend` over everything seeded.
pub async fn spend_total(app: &TestApp) -> (Decimal, i64) {
    let from = (chrono::Utc::now() - chrono::Duration::days(40)).format("%Y-%m-%dT%H:%M:%SZ");
    let to = (chrono::Utc::now() + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let spend = app.get_json(&format!("/v1/spend?from={from}&to={to}")).await;
    let cost = Decimal::from_str(spend["total"]["cost"].as_str().unwrap()).unwrap();
    (cost, spend["total"]["requests"].as_i64().unwrap())
}

/// Samples of one metric in a Prometheus text exposition: labels → the value as written.
pub fn samples(text: &str, name: &str) -> Vec<(HashMap<String, String>, String)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = if let Some(rest) = rest.strip_prefix('{') {
                let (labels, value) = rest.rsplit_once("} ")?;
                (labels, value)
            } else {
                ("", rest.strip_prefix(' ')?)
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .filter_map(|pair| {
                    let (k, v) = pair.split_once("=\"")?;
                    Some((k.to_owned(), v.trim_end_matches('"').to_owned()))
                })
                .collect();
            Some((labels, value.to_owned()))
        })
        .collect()
}

/// The exact sum of a metric's samples, each read back as the decimal it was written as.
pub fn decimal_sum(text: &str, name: &str) -> Decimal {
    samples(text, name)
        .iter()
        .map(|(_, value)| Decimal::from_str(value).unwrap_or_else(|_| panic!("{name} value {value}")))
        .sum()
}
