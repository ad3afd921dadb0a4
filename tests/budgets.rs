//! Budgets: create, list, read, change and delete; validation; scopes and team isolation; status
//! and period bounds in the budget's time zone.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod budget_support;
mod common;

use budget_support::{at, create_budget, just_now, spawn_budget_app, spend};
use chrono::{Datelike, TimeZone, Utc};
use serde_json::{json, Value};

fn budget(team: &str) -> Value {
    json!({
        "name": "search monthly", "team": team, "period": "monthly", "amount": "1000",
        "currency": "USD", "thresholds": [80, 50, 100], "forecast": true, "tz": "UTC",
        "notify": [{"webhook": "https://hooks.example.com/T000/B000/XXX"}]
    })
}

#[tokio::test]
async fn a_budget_is_created_listed_read_changed_and_deleted() {
    let app = spawn_budget_app().await;
    let created = create_budget(&app, budget("search")).await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["amount"], "1000");
    assert_eq!(created["thresholds"], json!([50, 80, 100]));
    assert_eq!(created["period"], "monthly");
    let secret = created["notify"][0]["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() == 70, "{secret}");

    let listed = app.get_json("/v1/budgets").await;
    assert_eq!(listed["budgets"].as_array().unwrap().len(), 1);
    // The secret is shown only once.
    assert!(listed["budgets"][0]["notify"][0].get("secret").is_none());
    let one = app.get_json(&format!("/v1/budgets/{id}")).await;
    assert_eq!(one["name"], "search monthly");
    assert_eq!(
        one["notify"][0]["webhook"],
        "https://hooks.example.com/T000/B000/XXX"
    );

    let patched = app
        .client
        .patch(app.url(&format!("/v1/budgets/{id}")))
        .bearer_auth(&app.admin_key)
        .json(&json!({"amount": "1500.50", "name": "search (raised)"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["amount"], "1500.5");
    assert_eq!(patched["name"], "search (raised)");

    let immutable = app
        .client
        .patch(app.url(&format!("/v1/budgets/{id}")))
        .bearer_auth(&app.admin_key)
        .json(&json!({"period": "daily"}))
        .send()
        .await
        .unwrap();
    assert_eq!(immutable.status(), 422);
    assert_eq!(
        immutable.json::<Value>().await.unwrap()["error"]["code"],
        "immutable_field"
    );

    let deleted = app
        .client
        .delete(app.url(&format!("/v1/budgets/{id}")))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(app.get(&format!("/v1/budgets/{id}")).await.status(), 404);
}

#[tokio::test]
async fn an_invalid_budget_is_refused_with_a_code_naming_the_field() {
    let app = spawn_budget_app().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"period": "yearly"}), "invalid_period"),
        (json!({"amount": "-5"}), "invalid_amount"),
        (json!({"amount": "0"}), "invalid_amount"),
        (json!({"amount": "ten"}), "invalid_amount"),
        (json!({"amount": "0.0000000000001"}), "invalid_amount"),
        (json!({"thresholds": [0, 50]}), "invalid_thresholds"),
        (json!({"thresholds": [50.5]}), "invalid_thresholds"),
        (json!({"tz": "Mars/Olympus_Mons"}), "invalid_tz"),
        (json!({"tz": "UTC+5"}), "invalid_tz"),
        (
            json!({"notify": [{"webhook": "ftp://example.com/x"}]}),
            "invalid_webhook",
        ),
        (json!({"notify": [{"webhook": "not a url"}]}), "invalid_webhook"),
        (json!({"currency": "dollars"}), "invalid_currency"),
        (json!({"name": "  "}), "invalid_name"),
        (json!({"name": null}), "missing_field"),
        (json!({"amount": null}), "missing_field"),
    ];
    for (change, code) in cases {
        let mut body = budget("search");
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let response = app
            .client
            .post(app.url("/v1/budgets"))
            .bearer_auth(&app.admin_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{change}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{change}: {error}");
    }
    let unknown_field = app
        .client
        .post(app.url("/v1/budgets"))
        .bearer_auth(&app.admin_key)
        .json(&json!({"name": "x", "team": "t", "period": "daily", "amount": "1", "hard": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_field.status(), 400);
    assert_eq!(app.get_json("/v1/budgets").await["budgets"], json!([]));
}

#[tokio::test]
async fn only_admin_keys_write_budgets_and_ingest_keys_cannot_read_them() {
    let app = spawn_budget_app().await;
    let read = app.create_key("read", None).await;
    let ingest = app.create_key("ingest", None).await;
    let by_read = app
        .client
        .post(app.url("/v1/budgets"))
        .bearer_auth(&read)
        .json(&budget("search"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_read.status(), 403);
    assert_eq!(app.get_with(&ingest, "/v1/budgets").await.status(), 403);
    assert_eq!(app.get_with(&read, "/v1/budgets").await.status(), 200);
    assert_eq!(
        app.client
            .get(app.url("/v1/budgets"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn a_team_bound_read_key_sees_only_its_teams_budgets_and_others_are_not_found() {
    let app = spawn_budget_app().await;
    let ours = create_budget(&app, budget("search")).await["id"]
        .as_i64()
        .unwrap();
    let theirs = create_budget(&app, budget("ads")).await["id"].as_i64().unwrap();
    let key = app.create_key("read", Some("search")).await;

    let listed: Value = app.get_with(&key, "/v1/budgets").await.json().await.unwrap();
    let ids: Vec<i64> = listed["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![ours]);
    assert_eq!(
        app.get_with(&key, &format!("/v1/budgets/{ours}")).await.status(),
        200
    );
    assert_eq!(
        app.get_with(&key, &format!("/v1/budgets/{theirs}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get_with(&key, &format!("/v1/budgets/{theirs}/status"))
            .await
            .status(),
        404
    );
    assert_eq!(app.get_with(&key, "/v1/budgets?team=ads").await.status(), 403);
    assert_eq!(app.get_with(&key, "/v1/alerts?team=ads").await.status(), 403);
}

#[tokio::test]
async fn the_status_reports_spend_utilization_and_the_current_period() {
    let app = spawn_budget_app().await;
    let mut body = budget("search");
    body["amount"] = json!("100");
    let id = create_budget(&app, body).await["id"].as_i64().unwrap();
    spend(&app, "search", just_now(), &["20.25", "29.75"]).await;
    spend(&app, "ads", just_now(), &["500"]).await;
    app.rollup().await;

    let status = app.get_json(&format!("/v1/budgets/{id}/status")).await;
    assert_eq!(status["spend"], "50");
    assert_eq!(status["amount"], "100");
    assert_eq!(status["utilization"], "0.5");
    assert_eq!(status["thresholds_crossed"], json!([50]));
    let now = Utc::now();
    let month_start = Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).unwrap();
    assert_eq!(at(status["period_start"].as_str().unwrap()), month_start);
    assert!(at(status["period_end"].as_str().unwrap()) > now);
    // The forecast projects the burn rate to the end of the month, so it is at least what was spent.
    let forecast: rust_decimal::Decimal = status["forecast_spend"].as_str().unwrap().parse().unwrap();
    assert!(forecast >= rust_decimal::Decimal::from(50));
}

#[tokio::test]
async fn periods_start_at_local_midnight_on_monday_and_the_first_and_follow_dst() {
    let app = spawn_budget_app().await;
    let pool = app.db().await;
    let make = |period: &str, tz: &str| {
        let mut body = budget("search");
        body["period"] = json!(period);
        body["tz"] = json!(tz);
        body
    };
    let ny_day = create_budget(&app, make("daily", "America/New_York")).await["id"]
        .as_i64()
        .unwrap();
    let kolkata_week = create_budget(&app, make("weekly", "Asia/Kolkata")).await["id"]
        .as_i64()
        .unwrap();
    let ny_month = create_budget(&app, make("monthly", "America/New_York")).await["id"]
        .as_i64()
        .unwrap();
    let bounds = |id: i64, now: &str| {
        let pool = pool.clone();
        let now = at(now);
        async move {
            let row = tokenledger::store::budgets::get(&pool, id, now)
                .await
                .unwrap()
                .unwrap();
            (row.period_start, row.period_end)
        }
    };
    // 2026-11-01 is the day New York leaves daylight saving time: a 25-hour day.
    assert_eq!(
        bounds(ny_day, "2026-11-01T12:00:00Z").await,
        (at("2026-11-01T04:00:00Z"), at("2026-11-02T05:00:00Z"))
    );
    // Wednesday 2026-11-04 in Kolkata: the week began on Monday 2026-11-02 at 00:00 +05:30.
    assert_eq!(
        bounds(kolkata_week, "2026-11-04T12:00:00Z").await,
        (at("2026-11-01T18:30:00Z"), at("2026-11-08T18:30:00Z"))
    );
    assert_eq!(
        bounds(ny_month, "2026-11-15T12:00:00Z").await,
        (at("2026-11-01T04:00:00Z"), at("2026-12-01T05:00:00Z"))
    );
}
