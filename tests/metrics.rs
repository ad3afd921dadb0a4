//! GET /metrics: business series from the rollups, bounded labels, service series.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;
#[path = "support/usage_seed.rs"]
mod usage_seed;

use common::{spawn_app, spawn_app_with, TestApp};
use rust_decimal::Decimal;
use std::collections::HashSet;
use usage_seed::{decimal_sum, samples, seed, spend_total};

async fn metrics_text(app: &TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test]
async fn spend_series_add_up_exactly_to_the_spend_total() {
    let app = spawn_app().await;
    seed(&app).await;
    let (total, requests) = spend_total(&app).await;
    let text = metrics_text(&app).await;
    // Each sample is written as the shortest float text that reads back as the same f64; seeded
    // amounts have at most 15 significant digits, which f64 holds exactly, so the text is the decimal.
    assert_eq!(decimal_sum(&text, "tokenledger_spend_total"), total);
    assert_eq!(
        decimal_sum(&text, "tokenledger_requests_total"),
        Decimal::from(requests)
    );
    assert_eq!(
        decimal_sum(&text, "tokenledger_unpriced_events_total"),
        Decimal::from(2)
    );
    assert_eq!(
        decimal_sum(&text, "tokenledger_reported_spend_total"),
        "0.2623".parse::<Decimal>().unwrap()
    );
    assert_eq!(decimal_sum(&text, "tokenledger_month_spend"), total);
    assert!(text.contains("# TYPE tokenledger_spend_total counter"));
    assert!(text.contains("# TYPE tokenledger_month_spend gauge"));
}

#[tokio::test]
async fn teams_and_models_beyond_the_configured_top_fold_into_other_and_still_add_up() {
    let app = spawn_app_with(|config| {
        config.metrics_top_teams = 1;
        config.metrics_top_models = 2;
    })
    .await;
    seed(&app).await;
    let (total, _) = spend_total(&app).await;
    let text = metrics_text(&app).await;
    let spend = samples(&text, "tokenledger_spend_total");
    let teams: HashSet<&str> = spend.iter().map(|(l, _)| l["team"].as_str()).collect();
    let models: HashSet<&str> = spend.iter().map(|(l, _)| l["model"].as_str()).collect();
    // chat spends most: 0.25 reported for its unpriced model.
    assert_eq!(teams, HashSet::from(["chat", "other"]));
    assert_eq!(models.len(), 3, "two models and other: {models:?}");
    assert!(models.contains("other"));
    assert_eq!(decimal_sum(&text, "tokenledger_spend_total"), total);
    let tokens = samples(&text, "tokenledger_tokens_total");
    let input: Decimal = tokens
        .iter()
        .filter(|(l, _)| l["kind"] == "input")
        .map(|(_, v)| v.parse::<Decimal>().unwrap())
        .sum();
    assert_eq!(
        input,
        Decimal::from(12000 + 3000 + 12033 + 5000 + 100 + 700 + 40 + 10)
    );
}

#[tokio::test]
async fn service_series_label_routes_by_pattern_and_report_the_pool_and_rollup_lag() {
    let app = spawn_app().await;
    let response = app
        .client
        .delete(app.url("/v1/keys/12345"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    app.rollup().await;
    let text = metrics_text(&app).await;
    let routes: HashSet<String> = samples(&text, "tokenledger_http_requests_total")
        .into_iter()
        .map(|(l, _)| l["route"].clone())
        .collect();
    assert!(routes.contains("/v1/keys/{id}"), "{routes:?}");
    assert!(!routes.iter().any(|r| r.contains("12345")), "{routes:?}");
    for gauge in [
        "tokenledger_db_pool_max_connections",
        "tokenledger_db_pool_connections",
        "tokenledger_db_pool_idle_connections",
        "tokenledger_db_pool_in_use_connections",
        "tokenledger_rollup_lag_seconds",
        "tokenledger_rollup_oldest_pending_event_age_seconds",
    ] {
        assert_eq!(samples(&text, gauge).len(), 1, "{gauge} in\n{text}");
    }
    assert_eq!(samples(&text, "tokenledger_db_pool_max_connections")[0].1, "4");
    let lag: f64 = samples(&text, "tokenledger_rollup_lag_seconds")[0]
        .1
        .parse()
        .unwrap();
    assert!((0.0..60.0).contains(&lag), "lag {lag}");
    assert!(
        text.contains("# TYPE tokenledger_spend_total counter") || !text.contains("tokenledger_spend_total{")
    );
}

#[tokio::test]
async fn metrics_need_the_metrics_key_when_one_is_set() {
    let app = spawn_app_with(|config| config.metrics_key = Some("scrape-secret".into())).await;
    let anonymous = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let keyed = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), 200);
}

#[test]
fn metrics_settings_default_to_five_seconds_and_fifty_names_and_are_read_from_the_environment() {
    use tokenledger::config::Config;
    let defaults = Config::from_lookup(|_| None).unwrap();
    assert_eq!(defaults.metrics_cache, std::time::Duration::from_secs(5));
    assert_eq!(
        (defaults.metrics_top_teams, defaults.metrics_top_models),
        (50, 50)
    );
    let set = Config::from_lookup(|name| match name {
        "TOKENLEDGER_METRICS_CACHE_SECS" => Some("0".into()),
        "TOKENLEDGER_METRICS_TOP_TEAMS" => Some("7".into()),
        "TOKENLEDGER_METRICS_TOP_MODELS" => Some("9".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(set.metrics_cache, std::time::Duration::ZERO);
    assert_eq!((set.metrics_top_teams, set.metrics_top_models), (7, 9));
    for (name, bad) in [
        ("TOKENLEDGER_METRICS_CACHE_SECS", "soon"),
        ("TOKENLEDGER_METRICS_TOP_TEAMS", "0"),
    ] {
        let error = Config::from_lookup(|n| (n == name).then(|| bad.to_owned()))
            .err()
            .unwrap();
        assert!(error.to_string().contains(name), "{error}");
    }
}
