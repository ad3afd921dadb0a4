//! POST /v1/reprice and its audit trail, against hand-computed Decimal values (never floats).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::{event, spawn_app, TestApp};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tokenledger::reprice::Request;
use tokenledger::store::reprice::RunScope;

fn d(text: &str) -> Decimal {
    Decimal::from_str_exact(text).unwrap()
}

fn at(id: &str, provider: &str, model: &str, ts: &str, usage: Value) -> Value {
    let mut e = event(id, "t", provider, model, usage);
    e["timestamp"] = json!(ts);
    e
}

async fn post_reprice_with(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/reprice"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Re-prices, expecting 200.
async fn reprice(app: &TestApp, body: Value) -> Value {
    let response = post_reprice_with(app, &app.admin_key, &body).await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    answer
}

/// The stored (cost, list_cost, price_id) of an event.
async fn stored(app: &TestApp, id: &str) -> (Option<Decimal>, Option<Decimal>, Option<i64>) {
    sqlx::query_as("SELECT cost, list_cost, price_id FROM events WHERE event_id = $1")
        .bind(id)
        .fetch_one(&app.db().await)
        .await
        .unwrap()
}

async fn price_id(app: &TestApp, provider: &str, model: &str, from: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT price_id FROM prices WHERE provider = $1 AND model = $2 AND effective_from = $3::timestamptz",
    )
    .bind(provider)
    .bind(model)
    .bind(from)
    .fetch_one(&app.db().await)
    .await
    .unwrap()
}

async fn changes_recorded(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM reprice_changes")
        .fetch_one(&app.db().await)
        .await
        .unwrap()
}

/// acme/acme-1 costs $1/M input and $2/M output from 2025. Four events are stored and priced at
/// that; then a version dated in the past (from 2026-06-01: $3/M input, $4/M output) is added.
/// Adding a price only prices *unpriced* events, so the three events after June keep the old price:
///
/// | event | time       | usage              | stored (old price)          | right (new price)            |
/// |-------|------------|--------------------|-----------------------------|------------------------------|
/// | jan   | 2026-01-15 | 1000 in, 1000 out  | 1000×1 + 1000×2 = 0.003     | same version: 0.003          |
/// | jul   | 2026-07-15 | 2000 in            | 2000×1 = 0.002              | 2000×3 = 0.006               |
/// | aug   | 2026-08-15 | 1000 in, 500 out   | 1000×1 + 500×2 = 0.002      | 1000×3 + 500×4 = 0.005       |
/// | oct   | 2026-10-15 | 1000 in            | 1000×1 = 0.001              | 1000×3 = 0.003               |
async fn stale_history(app: &TestApp, provider: &str) {
    app.put_prices(
        json!([{"provider": provider, "model": "acme-1", "effective_from": "2025-01-01T00:00:00Z",
                           "input": "1", "output": "2"}]),
    )
    .await;
    let id = |name: &str| format!("{provider}-{name}");
    let events = json!([
        at(
            &id("jan"),
            provider,
            "acme-1",
            "2026-01-15T00:00:00Z",
            json!({"input_tokens": 1000, "output_tokens": 1000})
        ),
        at(
            &id("jul"),
            provider,
            "acme-1",
            "2026-07-15T00:00:00Z",
            json!({"input_tokens": 2000})
        ),
        at(
            &id("aug"),
            provider,
            "acme-1",
            "2026-08-15T00:00:00Z",
            json!({"input_tokens": 1000, "output_tokens": 500})
        ),
        at(
            &id("oct"),
            provider,
            "acme-1",
            "2026-10-15T00:00:00Z",
            json!({"input_tokens": 1000})
        ),
    ]);
    let answer: Value = app.post_events(&events).await.json().await.unwrap();
    assert_eq!(answer["accepted"], 4, "{answer}");
    app.put_prices(
        json!([{"provider": provider, "model": "acme-1", "effective_from": "2026-06-01T00:00:00Z",
                           "input": "3", "output": "4"}]),
    )
    .await;
    assert_eq!(stored(app, &id("jul")).await.0, Some(d("0.002")));
}

/// January to October (exclusive): jan, jul and aug; not oct.
fn jan_to_oct() -> Value {
    json!({"from": "2026-01-01T00:00:00Z", "to": "2026-10-01T00:00:00Z"})
}

#[tokio::test]
async fn a_dry_run_reports_before_and_after_and_changes_nothing() {
    let app = spawn_app().await;
    stale_history(&app, "acme").await;
    let mut body = jan_to_oct();
    body["dry_run"] = json!(true);

    let answer = reprice(&app, body).await;

    assert_eq!(answer["dry_run"], true);
    assert_eq!(answer["status"], "completed");
    assert_eq!(answer["events_examined"], 3);
    assert_eq!(answer["events_changed"], 2);
    // before: 0.003 + 0.002 + 0.002 = 0.007; after: 0.003 + 0.006 + 0.005 = 0.014
    assert_eq!(
        answer["before"],
        json!({"USD": {"cost": "0.007", "list_cost": "0.007"}})
    );
    assert_eq!(
        answer["after"],
        json!({"USD": {"cost": "0.014", "list_cost": "0.014"}})
    );
    assert_eq!(answer["by_model"][0]["model"], "acme-1");
    assert_eq!(answer["by_model"][0]["events_changed"], 2);
    // Nothing changed: the events keep their old prices and no change is recorded.
    let old = price_id(&app, "acme", "acme-1", "2025-01-01T00:00:00Z").await;
    assert_eq!(
        stored(&app, "acme-jul").await,
        (Some(d("0.002")), Some(d("0.002")), Some(old))
    );
    assert_eq!(
        stored(&app, "acme-aug").await,
        (Some(d("0.002")), Some(d("0.002")), Some(old))
    );
    assert_eq!(changes_recorded(&app).await, 0);
}

#[tokio::test]
async fn a_run_reprices_exactly_the_events_in_its_range() {
    let app = spawn_app().await;
    stale_history(&app, "acme").await;
    let old = price_id(&app, "acme", "acme-1", "2025-01-01T00:00:00Z").await;
    let new = price_id(&app, "acme", "acme-1", "2026-06-01T00:00:00Z").await;

    let answer = reprice(&app, jan_to_oct()).await;

    assert_eq!(answer["dry_run"], false);
    assert_eq!(answer["events_examined"], 3);
    assert_eq!(answer["events_changed"], 2);
    assert_eq!(
        answer["before"],
        json!({"USD": {"cost": "0.007", "list_cost": "0.007"}})
    );
    assert_eq!(
        answer["after"],
        json!({"USD": {"cost": "0.014", "list_cost": "0.014"}})
    );
    assert_eq!(
        stored(&app, "acme-jan").await,
        (Some(d("0.003")), Some(d("0.003")), Some(old))
    );
    assert_eq!(
        stored(&app, "acme-jul").await,
        (Some(d("0.006")), Some(d("0.006")), Some(new))
    );
    assert_eq!(
        stored(&app, "acme-aug").await,
        (Some(d("0.005")), Some(d("0.005")), Some(new))
    );
    // oct is after `to`: left at the old price.
    assert_eq!(
        stored(&app, "acme-oct").await,
        (Some(d("0.001")), Some(d("0.001")), Some(old))
    );
    // Spend reads the new amounts: 0.003 + 0.006 + 0.005 + 0.001 = 0.015.
    let spend = app
        .get_json("/v1/spend?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z")
        .await;
    assert_eq!(spend["total"]["cost"], "0.015");
}

#[tokio::test]
async fn the_run_and_each_change_it_made_can_be_read_back() {
    let app = spawn_app().await;
    stale_history(&app, "acme").await;
    let old = price_id(&app, "acme", "acme-1", "2025-01-01T00:00:00Z").await;
    let new = price_id(&app, "acme", "acme-1", "2026-06-01T00:00:00Z").await;
    let answer = reprice(&app, jan_to_oct()).await;
    let run_id = answer["run_id"].as_i64().unwrap();

    let run = app.get_json(&format!("/v1/reprice/{run_id}")).await;
    let changes = app.get_json(&format!("/v1/reprice/{run_id}/changes")).await;
    let runs = app.get_json("/v1/reprice").await;

    assert_eq!(run, answer);
    assert_eq!(run["from"], "2026-01-01T00:00:00Z");
    assert!(run["finished_at"].is_string());
    assert!(run["requested_by"].is_i64());
    assert_eq!(runs["runs"][0]["run_id"], run_id);
    assert_eq!(
        changes["changes"],
        json!([
            {"team": "t", "id": "acme-jul", "timestamp": "2026-07-15T00:00:00Z", "provider": "acme", "model": "acme-1",
             "before": {"price_id": old, "cost": "0.002", "list_cost": "0.002", "currency": "USD"},
             "after": {"price_id": new, "cost": "0.006", "list_cost": "0.006", "currency": "USD"}},
            {"team": "t", "id": "acme-aug", "timestamp": "2026-08-15T00:00:00Z", "provider": "acme", "model": "acme-1",
             "before": {"price_id": old, "cost": "0.002", "list_cost": "0.002", "currency": "USD"},
             "after": {"price_id": new, "cost": "0.005", "list_cost": "0.005", "currency": "USD"}},
        ])
    );
    assert_eq!(changes["next_cursor"], Value::Null);
    assert_eq!(app.get("/v1/reprice/999999").await.status(), 404);
}

#[tokio::test]
async fn the_changes_of_a_run_are_paged() {
    let app = spawn_app().await;
    stale_history(&app, "acme").await;
    let run_id = reprice(&app, jan_to_oct()).await["run_id"].as_i64().unwrap();

    let first = app
        .get_json(&format!("/v1/reprice/{run_id}/changes?limit=1"))
        .await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app
        .get_json(&format!("/v1/reprice/{run_id}/changes?limit=1&cursor={cursor}"))
        .await;

    assert_eq!(first["changes"][0]["id"], "acme-jul");
    assert_eq!(second["changes"][0]["id"], "acme-aug");
    let bad = app
        .get(&format!("/v1/reprice/{run_id}/changes?cursor=nonsense"))
        .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn provider_and_model_filters_limit_the_scope() {
    let app = spawn_app().await;
    stale_history(&app, "acme").await;
    stale_history(&app, "zeta").await;

    let acme = reprice(
        &app,
        json!({"from": "2026-01-01T00:00:00Z", "to": "2026-10-01T00:00:00Z", "provider": "acme", "model": "ACME-1"}),
    )
    .await;
    let other_model = reprice(
        &app,
        json!({"from": "2026-01-01T00:00:00Z", "to": "2026-10-01T00:00:00Z", "model": "acme-2"}),
    )
    .await;

    assert_eq!(acme["model"], "acme-1");
    assert_eq!(
        (acme["events_examined"].as_u64(), acme["events_changed"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(stored(&app, "acme-jul").await.0, Some(d("0.006")));
    assert_eq!(stored(&app, "zeta-jul").await.0, Some(d("0.002")));
    assert_eq!(other_model["events_examined"], 0);
    assert_eq!(other_model["before"], json!({}));
    assert_eq!(other_model["by_model"], json!([]));

    // By model alone: zeta's acme-1 now (acme's are already right).
    let by_model = reprice(
        &app,
        json!({"from": "2026-01-01T00:00:00Z", "to": "2026-10-01T00:00:00Z", "model": "acme-1"}),
    )
    .await;
    assert_eq!(by_model["events_examined"], 6);
    assert_eq!(by_model["events_changed"], 2);
    assert_eq!(stored(&app, "zeta-aug").await.0, Some(d("0.005")));
    let providers: Vec<&Value> = by_model["by_model"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["provider"])
        .collect();
    assert_eq!(providers, [&json!("acme"), &json!("zeta")]);
}

#[tokio::test]
async fn running_it_twice_changes_nothing_the_second_time() {
    let app = spawn_app().await;
    stale_history(&app, "acme").await;
    reprice(&app, jan_to_oct()).await;

    let again = reprice(&app, jan_to_oct()).await;

    assert_eq!(again["events_examined"], 3);
    assert_eq!(again["events_changed"], 0);
    assert_eq!(
        again["before"],
        json!({"USD": {"cost": "0.014", "list_cost": "0.014"}})
    );
    assert_eq!(again["after"], again["before"]);
    assert_eq!(changes_recorded(&app).await, 2);
}

#[tokio::test]
async fn an_unpriced_event_that_now_has_a_price_is_priced() {
    let app = spawn_app().await;
    let e = at(
        "u",
        "acme",
        "acme-3",
        "2026-03-01T00:00:00Z",
        json!({"input_tokens": 1000}),
    );
    app.post_events(&e).await;
    // A price written straight to the table (as by another replica) prices nothing by itself.
    sqlx::query(
        "INSERT INTO prices (provider, model, effective_from, input, output, source)
         VALUES ('acme', 'acme-3', '2026-01-01T00:00:00Z', 5, 5, 'test')",
    )
    .execute(&app.db().await)
    .await
    .unwrap();
    assert_eq!(stored(&app, "u").await.2, None);

    let answer = reprice(
        &app,
        json!({"from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z"}),
    )
    .await;

    // 1000 × $5/M = 0.005
    assert_eq!(answer["events_changed"], 1);
    assert_eq!(
        (
            answer["unpriced_before"].as_u64(),
            answer["unpriced_after"].as_u64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(answer["before"], json!({"USD": {"cost": "0", "list_cost": "0"}}));
    assert_eq!(
        answer["after"],
        json!({"USD": {"cost": "0.005", "list_cost": "0.005"}})
    );
    let priced = stored(&app, "u").await;
    assert_eq!((priced.0, priced.1), (Some(d("0.005")), Some(d("0.005"))));
    assert!(priced.2.is_some());
}

#[tokio::test]
async fn an_event_no_price_covers_becomes_unpriced() {
    let app = spawn_app().await;
    app.put_prices(
        json!([{"provider": "acme", "model": "acme-1", "effective_from": "2025-01-01T00:00:00Z",
                           "input": "1", "output": "2"}]),
    )
    .await;
    let e = at(
        "early",
        "acme",
        "acme-1",
        "2024-06-01T00:00:00Z",
        json!({"input_tokens": 1000}),
    );
    app.post_events(&e).await;
    let v1 = price_id(&app, "acme", "acme-1", "2025-01-01T00:00:00Z").await;
    // A price that was never in effect at the event's time (written by hand, or by a past bug).
    sqlx::query(
        "UPDATE events SET price_id = $1, cost = 1, list_cost = 1, currency = 'USD' WHERE event_id = 'early'",
    )
    .bind(v1)
    .execute(&app.db().await)
    .await
    .unwrap();

    let answer = reprice(
        &app,
        json!({"from": "2024-01-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"}),
    )
    .await;

    assert_eq!(answer["events_changed"], 1);
    assert_eq!(answer["unpriced_after"], 1);
    assert_eq!(answer["before"], json!({"USD": {"cost": "1", "list_cost": "1"}}));
    assert_eq!(answer["after"], json!({"USD": {"cost": "0", "list_cost": "0"}}));
    assert_eq!(stored(&app, "early").await, (None, None, None));
    let run_id = answer["run_id"].as_i64().unwrap();
    let changes = app.get_json(&format!("/v1/reprice/{run_id}/changes")).await;
    assert_eq!(changes["changes"][0]["before"]["price_id"], v1);
    assert_eq!(changes["changes"][0]["after"]["price_id"], Value::Null);
}

async fn admin_key_id(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT key_id FROM api_keys WHERE scope = 'admin' ORDER BY key_id LIMIT 1")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn request(requested_by: i64) -> Request {
    Request {
        scope: RunScope {
            from: "2026-01-01T00:00:00Z".parse().unwrap(),
            to: "2026-10-01T00:00:00Z".parse().unwrap(),
            provider: None,
            model: None,
        },
        dry_run: false,
        requested_by,
    }
}

#[tokio::test]
async fn a_run_walks_every_page_and_its_totals_add_up() {
    let app = spawn_app().await;
    stale_history(&app, "acme").await;
    let pool = app.db().await;
    let key = admin_key_id(&pool).await;

    let report = tokenledger::reprice::run(&pool, &request(key), 1).await.unwrap();

    assert_eq!((report.events_examined, report.events_changed), (3, 2));
    assert_eq!(report.before["USD"].cost, "0.007");
    assert_eq!(report.after["USD"].cost, "0.014");
    assert_eq!(stored(&app, "acme-aug").await.0, Some(d("0.005")));
}

#[tokio::test]
async fn concurrent_runs_over_the_same_events_change_each_event_once() {
    let app = spawn_app().await;
    stale_history(&app, "acme").await;
    let pool = app.db().await;
    let key = admin_key_id(&pool).await;
    let (one, two) = (request(key), request(key));

    let (a, b) = tokio::join!(
        tokenledger::reprice::run(&pool, &one, 1),
        tokenledger::reprice::run(&pool, &two, 1),
    );

    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.events_changed + b.events_changed, 2);
    assert_eq!(changes_recorded(&app).await, 2);
    // Whatever each found, both end at the catalog's amounts: 0.003 + 0.006 + 0.005.
    assert_eq!(a.after["USD"].cost, "0.014");
    assert_eq!(b.after["USD"].cost, "0.014");
    assert_eq!(stored(&app, "acme-jul").await.0, Some(d("0.006")));
    assert_eq!(stored(&app, "acme-aug").await.0, Some(d("0.005")));
}

#[tokio::test]
async fn bad_bodies_are_json_errors() {
    let app = spawn_app().await;
    let cases = [
        ("not json", 400, "malformed_body"),
        (r#"{"from": "2026-01-01T00:00:00Z"}"#, 400, "malformed_body"),
        (
            r#"{"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "dryrun": true}"#,
            400,
            "malformed_body",
        ),
        (
            r#"{"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "dry_run": "yes"}"#,
            400,
            "malformed_body",
        ),
        (
            r#"{"from": "yesterday", "to": "2026-02-01T00:00:00Z"}"#,
            422,
            "invalid_field",
        ),
        (
            r#"{"from": "2026-02-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}"#,
            422,
            "invalid_range",
        ),
        (
            r#"{"from": "2026-03-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}"#,
            422,
            "invalid_range",
        ),
        (
            r#"{"from": "2025-01-01T00:00:00Z", "to": "2026-01-03T00:00:00Z"}"#,
            422,
            "range_too_large",
        ),
        (
            r#"{"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "provider": " "}"#,
            422,
            "invalid_field",
        ),
    ];
    for (body, status, code) in cases {
        let response = app
            .client
            .post(app.url("/v1/reprice"))
            .bearer_auth(&app.admin_key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
    }
    // None of them started a run.
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM reprice_runs")
        .fetch_one(&app.db().await)
        .await
        .unwrap();
    assert_eq!(runs, 0);
}

#[tokio::test]
async fn only_admin_keys_may_reprice_or_read_runs() {
    let app = spawn_app().await;
    let read = app.create_key("read", None).await;
    let ingest = app.create_key("ingest", None).await;

    for key in [&read, &ingest] {
        let response = post_reprice_with(&app, key, &jan_to_oct()).await;
        assert_eq!(response.status(), 403);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "forbidden");
        assert_eq!(app.get_with(key, "/v1/reprice").await.status(), 403);
        assert_eq!(app.get_with(key, "/v1/reprice/1").await.status(), 403);
        assert_eq!(app.get_with(key, "/v1/reprice/1/changes").await.status(), 403);
    }
    assert_eq!(
        post_reprice_with(&app, "tl_nope", &jan_to_oct()).await.status(),
        401
    );
}
