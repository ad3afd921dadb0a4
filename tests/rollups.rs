//! Rollups equal raw events: for random event sets (late events, duplicates, re-pricing, prices
//! added for unpriced models, tags, reported costs in two currencies), every group_by × granularity
//! × time zone answer of the rollup path equals the same aggregation over raw events, exactly.
//! Also: several replicas rolling up one database count every event once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::{spawn_app_with, TestApp};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{json, Value};
use tokenledger::config::CostSource;
use tokenledger::jobs::rollup;
use tokenledger::store::spend::{raw::spend_raw, spend, Dimension, Granularity, SpendQuery, SpendRow};

/// Models of the scenario: (provider, model). The last has no price until a scenario adds one.
const MODELS: [(&str, &str); 4] = [
    ("openai", "gpt-4o"),
    ("anthropic", "claude-x"),
    ("mistral", "mistral-eu"),
    ("acme", "mystery-1"),
];
const TEAMS: [&str; 3] = ["search", "ads", "infra"];

/// One generated event.
#[derive(Debug, Clone)]
struct Spec {
    team: usize,
    project: Option<usize>,
    user: Option<usize>,
    model: usize,
    tier: usize,
    /// Seconds after 2026-10-01T00:00:00Z (the range spans the DST ends of Sydney, Europe and the US).
    at: i64,
    input: u64,
    cached: u64,
    output: u64,
    reasoning: u64,
    feature: Option<usize>,
    /// A reported cost: (units of 0.000001, in EUR rather than USD).
    reported: Option<(u32, bool)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (
            0..3usize,
            proptest::option::of(0..2usize),
            proptest::option::of(0..3usize),
            0..4usize,
            0..3usize,
        ),
        0..(46 * 86_400i64),
        (0..5_000u64, 0..100u64, 0..2_000u64, 0..100u64),
        (
            proptest::option::of(0..2usize),
            proptest::option::of((1..100_000u32, any::<bool>())),
        ),
    )
        .prop_map(
            |(
                (team, project, user, model, tier),
                at,
                (input, cached_pct, output, reasoning_pct),
                (feature, reported),
            )| {
                Spec {
                    team,
                    project,
                    user,
                    model,
                    tier,
                    at,
                    input,
                    cached: input * cached_pct / 100,
                    output,
                    reasoning: output * reasoning_pct / 100,
                    feature,
                    reported,
                }
            },
        )
}

/// A scenario: events in batches, with rollup passes, resends and price changes between them.
#[derive(Debug, Clone)]
struct Scenario {
    batches: Vec<Vec<Spec>>,
    /// After which batch a rollup pass runs.
    passes: Vec<bool>,
    /// After which batch the earliest batch is sent again (duplicates).
    resend_after: usize,
    /// After which batch gpt-4o gets a new price and the whole range is re-priced.
    reprice_after: usize,
    /// After which batch the unpriced model gets a price (its stored events are priced then).
    price_unpriced_after: usize,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (1..5usize)
        .prop_flat_map(|n| {
            (
                proptest::collection::vec(proptest::collection::vec(spec(), 1..25), n),
                proptest::collection::vec(any::<bool>(), n),
                0..n,
                0..n,
                0..n,
            )
        })
        .prop_map(
            |(batches, passes, resend_after, reprice_after, price_unpriced_after)| Scenario {
                batches,
                passes,
                resend_after,
                reprice_after,
                price_unpriced_after,
            },
        )
}

fn base() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z")
        .unwrap()
        .to_utc()
}

fn event_json(batch: usize, index: usize, s: &Spec) -> Value {
    let (provider, model) = MODELS[s.model];
    let tier = ["standard", "batch", "priority"][s.tier];
    let mut e = json!({
        "id": format!("b{batch}-e{index}"),
        "timestamp": (base() + TimeDelta::seconds(s.at)).to_rfc3339(),
        "team": TEAMS[s.team],
        "provider": provider,
        "model": model,
        "service_tier": tier,
        "usage": {"input_tokens": s.input, "cache_read_tokens": s.cached,
                  "output_tokens": s.output, "reasoning_tokens": s.reasoning},
    });
    if let Some(p) = s.project {
        e["project"] = json!(format!("p{p}"));
    }
    if let Some(u) = s.user {
        e["user"] = json!(format!("u{u}"));
    }
    if let Some(f) = s.feature {
        let feature = ["chat", "rerank"][f];
        e["tags"] = json!({"feature": feature, "env": "prod"});
    }
    if let Some((micros, eur)) = s.reported {
        e["cost"] = json!(format!("0.{micros:06}"));
        e["currency"] = json!(if eur { "EUR" } else { "USD" });
    }
    e
}

async fn post(app: &TestApp, path: &str, method: reqwest::Method, body: Value) -> Value {
    let response = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&app.admin_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {answer}");
    answer
}

async fn play(app: &TestApp, scenario: &Scenario) {
    app.put_prices(json!([
        {"provider": "openai", "model": "gpt-4o", "effective_from": "1970-01-01T00:00:00Z",
         "input": "2.5", "cache_read": "1.25", "output": "10"},
        {"provider": "openai", "model": "gpt-4o", "effective_from": "1970-01-01T00:00:00Z",
         "service_tier": "batch", "input": "1.25", "output": "5"},
        {"provider": "anthropic", "model": "claude-x", "effective_from": "1970-01-01T00:00:00Z",
         "input": "3", "cache_read": "0.3", "output": "15", "reasoning": "20"},
        {"provider": "mistral", "model": "mistral-eu", "effective_from": "1970-01-01T00:00:00Z",
         "currency": "EUR", "input": "1.8", "output": "5.4"},
    ]))
    .await;
    let pool = app.db().await;
    for (i, batch) in scenario.batches.iter().enumerate() {
        let events: Vec<Value> = batch
            .iter()
            .enumerate()
            .map(|(j, s)| event_json(i, j, s))
            .collect();
        post(app, "/v1/events", reqwest::Method::POST, json!(events)).await;
        if scenario.resend_after == i {
            let first: Vec<Value> = scenario.batches[0]
                .iter()
                .enumerate()
                .map(|(j, s)| event_json(0, j, s))
                .collect();
            post(app, "/v1/events", reqwest::Method::POST, json!(first)).await;
        }
        if scenario.reprice_after == i {
            app.put_prices(json!([{"provider": "openai", "model": "gpt-4o",
                "effective_from": "2026-10-20T12:00:00Z", "input": "2", "cache_read": "1", "output": "8"}]))
                .await;
            post(
                app,
                "/v1/reprice",
                reqwest::Method::POST,
                json!({"from": "2026-09-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}),
            )
            .await;
        }
        if scenario.price_unpriced_after == i {
            app.put_prices(json!([{"provider": "acme", "model": "mystery-1",
                "effective_from": "1970-01-01T00:00:00Z", "input": "0.5", "output": "1.5"}]))
                .await;
        }
        if scenario.passes[i] {
            rollup::run_once(&pool).await.unwrap();
        }
    }
    rollup::catch_up(&pool, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    pool.close().await;
}

fn sorted(mut rows: Vec<SpendRow>) -> Vec<SpendRow> {
    rows.sort_by(|a, b| (a.bucket, &a.dimensions).cmp(&(b.bucket, &b.dimensions)));
    rows
}

/// Every question of the matrix, answered both ways.
async fn check_all_answers(app: &TestApp) {
    let pool = app.db().await;
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    let ranges = [
        (t("2026-09-30T00:00:00Z"), t("2026-11-20T00:00:00Z")),
        (t("2026-10-03T07:41:13Z"), t("2026-11-02T18:15:00Z")),
    ];
    let group_bys = [
        vec![],
        vec![Dimension::Team],
        vec![Dimension::Team, Dimension::Provider, Dimension::Model],
        vec![Dimension::Project, Dimension::User],
        vec![Dimension::ServiceTier, Dimension::Tag("feature".into())],
        vec![Dimension::Tag("env".into()), Dimension::Model],
        vec![Dimension::User, Dimension::Tag("feature".into())],
    ];
    let granularities = [
        None,
        Some(Granularity::Hour),
        Some(Granularity::Day),
        Some(Granularity::Week),
        Some(Granularity::Month),
    ];
    let zones = [
        "UTC",
        "Asia/Kolkata",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kathmandu",
    ];
    let mut asked = 0;
    for (from, to) in ranges {
        for group_by in &group_bys {
            for granularity in granularities {
                let zones: &[&str] = if granularity.is_some() { &zones } else { &["UTC"] };
                for tz in zones {
                    for (cost_source, currency) in
                        [(CostSource::Computed, "USD"), (CostSource::Reported, "EUR")]
                    {
                        let query = SpendQuery {
                            from,
                            to,
                            group_by: group_by.clone(),
                            granularity,
                            tz: (*tz).to_owned(),
                            team_ids: None,
                            providers: vec![],
                            models: vec![],
                            projects: vec![],
                            currency: currency.to_owned(),
                            cost_source,
                        };
                        let rolled = sorted(spend(&pool, &query).await.unwrap());
                        let raw = sorted(spend_raw(&pool, &query).await.unwrap());
                        assert_eq!(rolled, raw, "{query:?}");
                        asked += 1;
                    }
                }
            }
        }
    }
    // Filters, on a few shapes.
    let filtered = SpendQuery {
        from: ranges[0].0,
        to: ranges[0].1,
        group_by: vec![Dimension::Model],
        granularity: Some(Granularity::Day),
        tz: "Asia/Kolkata".into(),
        team_ids: Some(vec![1, 2]),
        providers: vec!["openai".into(), "acme".into()],
        models: vec![],
        projects: vec!["p1".into()],
        currency: "USD".into(),
        cost_source: CostSource::Computed,
    };
    assert_eq!(
        sorted(spend(&pool, &filtered).await.unwrap()),
        sorted(spend_raw(&pool, &filtered).await.unwrap())
    );
    assert!(asked > 100);
    pool.close().await;
}

#[test]
fn every_spend_answer_from_rollups_equals_the_raw_events() {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 4,
        max_shrink_iters: 8,
        ..ProptestConfig::default()
    });
    runner
        .run(&scenario(), |scenario| {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async {
                let app = spawn_app_with(|_| {}).await;
                play(&app, &scenario).await;
                check_all_answers(&app).await;
                app.stop().await;
            });
            Ok(())
        })
        .unwrap();
}

#[tokio::test]
async fn a_rollup_pass_that_finds_nothing_new_changes_nothing() {
    // The service's own job passes once at start, then not for an hour: the passes here are ours.
    let app = spawn_app_with(|c| c.rollup_interval = std::time::Duration::from_secs(3600)).await;
    let pool = app.db().await;
    app.post_events(&common::event(
        "a",
        "t",
        "openai",
        "gpt-4o",
        json!({"input_tokens": 10}),
    ))
    .await;
    let first = rollup::catch_up(&pool, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(first.events_added, 1);
    let again = rollup::run_once(&pool).await.unwrap();
    assert_eq!(again.events_added, 0);
    let requests: i64 = sqlx::query_scalar("SELECT sum(requests)::bigint FROM rollup_hourly")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(requests, 1);
}

#[tokio::test]
async fn replicas_rolling_up_one_database_count_each_event_once() {
    // Two serve processes on one database, each running its rollup job every 5 ms, while clients
    // send overlapping batches to both and the test runs passes of its own.
    let first = spawn_app_with(|c| c.rollup_interval = std::time::Duration::from_millis(5)).await;
    let mut config = common::test_config(&first.database_url, &first.admin_key);
    config.rollup_interval = std::time::Duration::from_millis(5);
    let second = common::start(config, first.admin_key.clone(), first.database_url.clone()).await;
    let pool = first.db().await;
    let mut sends = Vec::new();
    for round in 0..20 {
        for (k, app) in [&first, &second].into_iter().enumerate() {
            let batch: Vec<Value> = (0..25)
                .map(|i| {
                    let n = round * 10 + i; // consecutive rounds overlap by 15 ids
                    let mut e = common::event(
                        &format!("e{n}"),
                        TEAMS[n % 3],
                        "openai",
                        "gpt-4o",
                        json!({"input_tokens": 1000 + n, "output_tokens": 10}),
                    );
                    e["timestamp"] = json!((base() + TimeDelta::minutes(n as i64 * 7)).to_rfc3339());
                    e
                })
                .collect();
            let client = app.client.clone();
            let url = app.url("/v1/events");
            let key = app.admin_key.clone();
            sends.push(tokio::spawn(async move {
                let _ = k;
                client
                    .post(url)
                    .bearer_auth(key)
                    .json(&batch)
                    .send()
                    .await
                    .unwrap()
                    .status()
            }));
        }
        rollup::run_once(&pool).await.unwrap();
    }
    for send in sends {
        assert_eq!(send.await.unwrap(), 200);
    }
    rollup::catch_up(&pool, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    // Ids e0..e214 exist once each: 215 events, input 1000+n each.
    let query = SpendQuery {
        from: base(),
        to: base() + TimeDelta::days(60),
        group_by: vec![Dimension::Team],
        granularity: Some(Granularity::Day),
        tz: "UTC".into(),
        team_ids: None,
        providers: vec![],
        models: vec![],
        projects: vec![],
        currency: "USD".into(),
        cost_source: CostSource::Computed,
    };
    let rows = spend(&pool, &query).await.unwrap();
    let requests: i64 = rows.iter().map(|r| r.totals.requests).sum();
    let input: i64 = rows.iter().map(|r| r.totals.input_tokens).sum();
    assert_eq!(requests, 215);
    assert_eq!(input, (0..215).map(|n| 1000 + n).sum::<i64>());
    assert_eq!(sorted(rows), sorted(spend_raw(&pool, &query).await.unwrap()));
    second.stop().await;
    first.stop().await;
}
