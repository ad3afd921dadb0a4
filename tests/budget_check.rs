//! `GET /v1/check`: answered from memory, flips to not allowed at exactly 100%; and the budget
//! series of `/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod budget_support;
mod common;

use budget_support::*;
use serde_json::{json, Value};
use std::time::Duration;

async fn check(app: &common::TestApp, key: &str, query: &str) -> Value {
    let response = app.get_with(key, &format!("/v1/check?{query}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Polls `check` until `done` holds (the view refreshes every second), at most 10 s.
async fn check_until(app: &common::TestApp, query: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answer = check(app, &app.admin_key, query).await;
        if done(&answer) || tokio::time::Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn budget(name: &str, team: &str, amount: &str) -> Value {
    json!({"name": name, "team": team, "period": "monthly", "amount": amount, "thresholds": [100]})
}

#[tokio::test]
async fn check_flips_to_not_allowed_at_exactly_the_amount() {
    let app = spawn_budget_app().await;
    let id = create_budget(&app, budget("hard cap", "search", "100")).await["id"]
        .as_i64()
        .unwrap();
    let fresh = check(&app, &app.admin_key, "team=search").await;
    assert_eq!(fresh["allowed"], true);
    assert_eq!(fresh["budgets"][0]["id"], id);
    assert_eq!(fresh["budgets"][0]["remaining"], "100");

    spend(&app, "search", just_now(), &["60", "39.999999999999"]).await;
    let below = check_until(&app, "team=search", |a| {
        a["budgets"][0]["spend"] == "99.999999999999"
    })
    .await;
    assert_eq!(below["allowed"], true, "{below}");
    assert_eq!(below["budgets"][0]["remaining"], "0.000000000001");

    spend(&app, "search", just_now(), &["0.000000000001"]).await;
    let at_cap = check_until(&app, "team=search", |a| a["allowed"] == false).await;
    assert_eq!(at_cap["allowed"], false, "{at_cap}");
    assert_eq!(at_cap["budgets"][0]["spend"], "100");
    assert_eq!(at_cap["budgets"][0]["remaining"], "0");
    assert_eq!(at_cap["budgets"][0]["utilization"], "1");
    // Still exactly 100 once the view is rebuilt from the database.
    app.rollup().await;
    let rebuilt = check_until(&app, "team=search", |a| {
        a["as_of"]
            .as_str()
            .is_some_and(|t| at(t) > chrono::Utc::now() - chrono::TimeDelta::milliseconds(900))
    })
    .await;
    assert_eq!(rebuilt["budgets"][0]["spend"], "100");
    assert_eq!(rebuilt["allowed"], false);
    // Other teams are unaffected.
    assert_eq!(check(&app, &app.admin_key, "team=ads").await["allowed"], true);
}

#[tokio::test]
async fn check_counts_only_the_budgets_whose_filters_match_the_call() {
    let app = spawn_budget_app().await;
    let mut openai = budget("openai only", "search", "10");
    openai["provider"] = json!("openai");
    create_budget(&app, openai).await;
    create_budget(&app, budget("everything", "search", "1000")).await;
    let cost = |provider: &str| {
        json!([{"id": format!("e_{provider}"), "timestamp": just_now().to_rfc3339(), "team": "search",
                "provider": provider, "model": "m-unpriced", "usage": {"input_tokens": 1}, "cost": "10"}])
    };
    assert_eq!(app.post_events(&cost("openai")).await.status(), 200);

    let openai_call = check_until(&app, "team=search&provider=openai", |a| a["allowed"] == false).await;
    assert_eq!(openai_call["allowed"], false);
    assert_eq!(openai_call["budgets"].as_array().unwrap().len(), 2);
    let anthropic_call = check(&app, &app.admin_key, "team=search&provider=anthropic").await;
    assert_eq!(anthropic_call["allowed"], true);
    assert_eq!(anthropic_call["budgets"].as_array().unwrap().len(), 1);
    assert_eq!(anthropic_call["budgets"][0]["name"], "everything");
}

#[tokio::test]
async fn check_takes_ingest_or_read_keys_and_holds_a_bound_key_to_its_team() {
    let app = spawn_budget_app().await;
    create_budget(&app, budget("cap", "search", "5")).await;
    let ingest = app.create_key("ingest", None).await;
    let bound = app.create_key("ingest", Some("search")).await;
    let read = app.create_key("read", Some("ads")).await;
    assert_eq!(check(&app, &ingest, "team=search").await["allowed"], true);
    assert_eq!(check(&app, &bound, "").await["budgets"][0]["name"], "cap");
    assert_eq!(app.get_with(&bound, "/v1/check?team=ads").await.status(), 403);
    assert_eq!(check(&app, &read, "").await["budgets"], json!([]));
    assert_eq!(app.get_with(&ingest, "/v1/check").await.status(), 400);
    assert_eq!(
        app.client
            .get(app.url("/v1/check?team=search"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn metrics_expose_each_budgets_amount_spend_utilization_forecast_and_alerts() {
    let app = spawn_budget_app().await;
    let id = create_budget(&app, budget("cap", "search", "200")).await["id"]
        .as_i64()
        .unwrap();
    spend(&app, "search", just_now(), &["200"]).await;
    evaluate(&app).await;
    let line = |text: &str, name: &str| -> Option<String> {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(&format!("budget_id=\"{id}\"")))
            .map(str::to_owned)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = app.get("/metrics").await.text().await.unwrap();
        let counted = line(&text, "tokenledger_budget_alerts_total")
            .is_some_and(|l| l.contains("kind=\"threshold\"") && l.ends_with(" 1"));
        if counted || tokio::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let amount = line(&text, "tokenledger_budget_amount").unwrap();
    assert!(
        amount.contains("budget=\"cap\"") && amount.contains("team=\"search\""),
        "{amount}"
    );
    assert!(
        amount.contains("currency=\"USD\"") && amount.ends_with(" 200"),
        "{amount}"
    );
    assert!(line(&text, "tokenledger_budget_spend").unwrap().ends_with(" 200"));
    assert!(line(&text, "tokenledger_budget_utilization_ratio")
        .unwrap()
        .ends_with(" 1"));
    assert!(line(&text, "tokenledger_budget_forecast_spend").is_some());
    assert!(text.contains("# TYPE tokenledger_budget_alerts_total counter"));
    let alerts = text
        .lines()
        .filter(|l| l.starts_with("tokenledger_budget_alerts_total{") && l.contains("kind=\"threshold\""))
        .collect::<Vec<_>>();
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].ends_with(" 1"), "{alerts:?}");
}
