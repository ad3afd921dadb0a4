//! Budget alerts: fired exactly once per (budget, period, threshold), also with two replicas on one
//! database; delivered to a real local webhook receiver, signed, retried with backoff; periods in a
//! budget's time zone; forecast alerts; re-evaluation when the amount changes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod budget_support;
mod common;

use budget_support::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn budget(team: &str, amount: &str, receiver: &Receiver, secret: &str) -> Value {
    json!({
        "name": format!("{team} monthly"), "team": team, "period": "monthly", "amount": amount,
        "thresholds": [50, 80, 100], "notify": [{"webhook": receiver.url, "secret": secret}]
    })
}

fn thresholds_of(hits: &[Hit]) -> Vec<i64> {
    let mut t: Vec<i64> = hits
        .iter()
        .map(|h| h.json()["threshold"].as_i64().unwrap())
        .collect();
    t.sort_unstable();
    t
}

#[tokio::test]
async fn crossing_50_80_and_100_percent_delivers_exactly_three_signed_alerts() {
    let app = spawn_budget_app().await;
    let receiver = Receiver::start(0).await;
    let id = create_budget(&app, budget("search", "100", &receiver, "s3cret")).await["id"]
        .as_i64()
        .unwrap();
    let pool = app.db().await;
    for cost in ["50", "30", "20"] {
        spend(&app, "search", just_now(), &[cost]).await;
        evaluate(&app).await;
        deliver_all(&pool).await;
    }
    // Evaluating and delivering again changes nothing.
    assert_eq!(evaluate(&app).await, 0);
    deliver_all(&pool).await;

    let hits = receiver.hits();
    assert_eq!(hits.len(), 3, "{hits:?}");
    assert_eq!(thresholds_of(&hits), vec![50, 80, 100]);
    for hit in &hits {
        assert_eq!(
            hit.signature.as_deref(),
            Some(expected_signature("s3cret", &hit.body).as_str())
        );
        let body = hit.json();
        assert_eq!(body["budget_id"], id);
        assert_eq!(body["team"], "search");
        assert_eq!(body["amount"], "100");
        assert_eq!(body["currency"], "USD");
        assert_eq!(body["kind"], "threshold");
        assert!(
            body["text"].as_str().unwrap().contains("search monthly"),
            "{body}"
        );
        assert_eq!(
            hit.alert_id.as_deref(),
            Some(body["alert_id"].to_string().as_str())
        );
    }
    let hundred = hits.iter().find(|h| h.json()["threshold"] == 100).unwrap().json();
    assert_eq!(hundred["spend"], "100");
    assert_eq!(hundred["utilization"], "1");

    let listed = alerts(&app, Some(id)).await;
    assert_eq!(listed.len(), 3);
    // Newest first.
    let listed_thresholds: Vec<i64> = listed.iter().map(|a| a["threshold"].as_i64().unwrap()).collect();
    assert_eq!(listed_thresholds, vec![100, 80, 50]);
    for alert in &listed {
        assert_eq!(alert["deliveries"][0]["state"], "delivered");
        assert_eq!(alert["deliveries"][0]["attempts"], 1);
    }
    assert_eq!(alerts(&app, Some(id + 1000)).await.len(), 0);
}

#[tokio::test]
async fn a_webhook_that_fails_twice_gets_the_alert_once_after_retries() {
    let app = spawn_budget_app().await;
    let receiver = Receiver::start(2).await;
    let mut body = budget("search", "100", &receiver, "k");
    body["thresholds"] = json!([50]);
    create_budget(&app, body).await;
    spend(&app, "search", just_now(), &["60"]).await;
    evaluate(&app).await;
    let pool = app.db().await;
    deliver_all(&pool).await;

    let hits = receiver.hits();
    assert_eq!(hits.len(), 3, "two failures, then the delivery: {hits:?}");
    assert_eq!(receiver.accepted().len(), 1);
    // Every attempt carries the same body and signature.
    assert!(hits
        .iter()
        .all(|h| h.body == hits[0].body && h.signature == hits[0].signature));
    let delivery = &alerts(&app, None).await[0]["deliveries"][0];
    assert_eq!(delivery["state"], "delivered");
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["last_status"], 200);
}

#[tokio::test]
async fn a_webhook_that_keeps_failing_is_given_up_after_the_last_attempt() {
    let app = spawn_budget_app().await;
    let receiver = Receiver::start(1000).await;
    let mut body = budget("search", "10", &receiver, "k");
    body["thresholds"] = json!([100]);
    create_budget(&app, body).await;
    spend(&app, "search", just_now(), &["10"]).await;
    evaluate(&app).await;
    deliver_all(&app.db().await).await;

    assert_eq!(receiver.hits().len(), fast_delivery().max_attempts as usize);
    let delivery = &alerts(&app, None).await[0]["deliveries"][0];
    assert_eq!(delivery["state"], "failed");
    assert_eq!(delivery["attempts"], fast_delivery().max_attempts);
    assert_eq!(delivery["last_status"], 500);
    assert!(delivery["last_error"].as_str().unwrap().contains("500"));
    assert!(delivery["next_attempt_at"].is_null());
}

#[tokio::test]
async fn two_replicas_on_one_database_deliver_each_alert_exactly_once() {
    let one = spawn_budget_app().await;
    let mut config = common::test_config(&one.database_url, &one.admin_key);
    config.webhooks = fast_delivery();
    let two = common::start(config, one.admin_key.clone(), one.database_url.clone()).await;
    let receiver = Receiver::start(0).await;
    create_budget(&one, budget("search", "100", &receiver, "shared")).await;
    spend(&two, "search", just_now(), &["40", "45", "15"]).await;
    one.rollup().await;

    let (pool_one, pool_two) = (one.db().await, two.db().await);
    let now = chrono::Utc::now();
    for _ in 0..5 {
        let (a, b) = tokio::join!(
            tokenledger::jobs::budget_alerts::evaluate(
                &pool_one,
                tokenledger::config::CostSource::Computed,
                None,
                now
            ),
            tokenledger::jobs::budget_alerts::evaluate(
                &pool_two,
                tokenledger::config::CostSource::Computed,
                None,
                now
            ),
        );
        a.unwrap();
        b.unwrap();
    }
    tokio::join!(deliver_all(&pool_one), deliver_all(&pool_two));

    let hits = receiver.hits();
    assert_eq!(hits.len(), 3, "{hits:?}");
    let ids: BTreeSet<String> = hits.iter().map(|h| h.alert_id.clone().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(thresholds_of(&hits), vec![50, 80, 100]);
    assert_eq!(alerts(&two, None).await.len(), 3);
    two.stop().await;
}

#[tokio::test]
async fn a_daily_budget_in_new_york_starts_a_new_period_at_local_midnight() {
    let app = spawn_budget_app().await;
    let receiver = Receiver::start(0).await;
    let id = create_budget(
        &app,
        json!({"name": "ny daily", "team": "ops", "period": "daily", "amount": "100",
               "thresholds": [50], "tz": "America/New_York", "notify": [{"webhook": receiver.url}]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    // 23:59 and 00:01 in New York (UTC-5 in November) on either side of midnight.
    spend(&app, "ops", at("2026-11-10T04:59:00Z"), &["60"]).await;
    spend(&app, "ops", at("2026-11-10T05:01:00Z"), &["10"]).await;

    assert_eq!(evaluate_at(&app, at("2026-11-10T04:59:30Z")).await, 1);
    // In the new day the 60 belongs to yesterday: 10 of 100 crosses nothing.
    assert_eq!(evaluate_at(&app, at("2026-11-10T05:30:00Z")).await, 0);
    let listed = alerts(&app, Some(id)).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        at(listed[0]["period_start"].as_str().unwrap()),
        at("2026-11-09T05:00:00Z")
    );
    assert_eq!(
        at(listed[0]["period_end"].as_str().unwrap()),
        at("2026-11-10T05:00:00Z")
    );
    assert_eq!(listed[0]["spend"], "60");

    // The new period has keys of its own: crossing 50% again fires again.
    spend(&app, "ops", at("2026-11-10T05:10:00Z"), &["45"]).await;
    assert_eq!(evaluate_at(&app, at("2026-11-10T05:30:00Z")).await, 1);
    let listed = alerts(&app, Some(id)).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(
        at(listed[0]["period_start"].as_str().unwrap()),
        at("2026-11-10T05:00:00Z")
    );
    assert_eq!(listed[0]["spend"], "55");
}

#[tokio::test]
async fn spend_in_the_last_seconds_of_a_period_still_fires_it_after_midnight() {
    let app = spawn_budget_app().await;
    let receiver = Receiver::start(0).await;
    create_budget(
        &app,
        json!({"name": "kolkata daily", "team": "ops", "period": "daily", "amount": "100",
               "thresholds": [100], "tz": "Asia/Kolkata", "notify": [{"webhook": receiver.url}]}),
    )
    .await;
    // 23:59:59 in Kolkata on 2026-11-10 is 18:29:59Z; evaluated only after midnight.
    spend(&app, "ops", at("2026-11-10T18:29:59Z"), &["100"]).await;
    assert_eq!(evaluate_at(&app, at("2026-11-10T18:31:00Z")).await, 1);
    let listed = alerts(&app, None).await;
    assert_eq!(
        at(listed[0]["period_start"].as_str().unwrap()),
        at("2026-11-09T18:30:00Z")
    );
}

#[tokio::test]
async fn a_steep_burn_fires_one_forecast_alert() {
    let app = spawn_budget_app().await;
    let receiver = Receiver::start(0).await;
    let make = |name: &str, forecast: bool| {
        json!({"name": name, "team": "ml", "period": "daily", "amount": "100", "thresholds": [100],
               "forecast": forecast, "notify": [{"webhook": receiver.url, "secret": "f"}]})
    };
    let watched = create_budget(&app, make("watched", true)).await["id"]
        .as_i64()
        .unwrap();
    let quiet = create_budget(&app, make("quiet", false)).await["id"]
        .as_i64()
        .unwrap();
    // 30 in the first six hours of the day: 5 an hour, 18 hours left: 30 + 90 = 120 > 100.
    spend(&app, "ml", at("2026-11-10T05:10:00Z"), &["10", "10", "10"]).await;
    let now = at("2026-11-10T06:00:00Z");
    assert_eq!(evaluate_at(&app, now).await, 1);
    assert_eq!(evaluate_at(&app, now).await, 0);
    deliver_all(&app.db().await).await;

    let listed = alerts(&app, Some(watched)).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["kind"], "forecast");
    assert_eq!(listed[0]["forecast_spend"], "120");
    assert!(listed[0]["threshold"].is_null());
    assert_eq!(alerts(&app, Some(quiet)).await.len(), 0);
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].json()["kind"], "forecast");
    assert!(hits[0].json()["text"].as_str().unwrap().contains("forecast"));
    assert_eq!(
        hits[0].signature.as_deref(),
        Some(expected_signature("f", &hits[0].body).as_str())
    );
}

#[tokio::test]
async fn changing_the_amount_fires_the_thresholds_now_crossed_and_never_refires() {
    let app = spawn_budget_app().await;
    let receiver = Receiver::start(0).await;
    let id = create_budget(&app, budget("search", "1000", &receiver, "p")).await["id"]
        .as_i64()
        .unwrap();
    spend(&app, "search", just_now(), &["500"]).await;
    evaluate(&app).await;
    let fired = |listed: Vec<Value>| -> Vec<i64> {
        listed.iter().map(|a| a["threshold"].as_i64().unwrap()).collect()
    };
    assert_eq!(fired(alerts(&app, Some(id)).await), vec![50]);

    let patch = |amount: &str| {
        app.client
            .patch(app.url(&format!("/v1/budgets/{id}")))
            .bearer_auth(&app.admin_key)
            .json(&json!({"amount": amount}))
            .send()
    };
    // 500 of 600 is 83%: 80 fires at once, without waiting for the job; 50 does not again.
    assert_eq!(patch("600").await.unwrap().status(), 200);
    assert_eq!(fired(alerts(&app, Some(id)).await), vec![80, 50]);
    assert_eq!(patch("500").await.unwrap().status(), 200);
    assert_eq!(fired(alerts(&app, Some(id)).await), vec![100, 80, 50]);
    assert_eq!(patch("1000").await.unwrap().status(), 200);
    assert_eq!(patch("400").await.unwrap().status(), 200);
    assert_eq!(evaluate(&app).await, 0);
    assert_eq!(alerts(&app, Some(id)).await.len(), 3);
    deliver_all(&app.db().await).await;
    assert_eq!(receiver.hits().len(), 3);
}

#[tokio::test]
async fn a_claim_left_by_a_crashed_worker_is_retried_after_its_lease_and_the_late_worker_cannot_finish_it() {
    // The service's own delivery worker stays out of the way: this test plays the workers.
    let app = common::spawn_app_with(|c| {
        c.webhooks = fast_delivery();
        c.webhook_poll = std::time::Duration::from_secs(3600);
    })
    .await;
    let receiver = Receiver::start(0).await;
    let mut body = budget("search", "10", &receiver, "c");
    body["thresholds"] = json!([100]);
    create_budget(&app, body).await;
    spend(&app, "search", just_now(), &["10"]).await;
    evaluate(&app).await;
    let pool = app.db().await;
    // A worker claims the delivery for 300 ms and dies before sending it.
    let team: i64 = sqlx::query_scalar("SELECT team_id FROM teams WHERE name = 'search'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let claimed = tokenledger::store::alerts::claim_due(&pool, team, 10, 300)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    // While the lease holds, nobody else takes it.
    assert!(tokenledger::store::alerts::claim_due(&pool, team, 10, 300)
        .await
        .unwrap()
        .is_empty());

    deliver_all(&pool).await;
    assert_eq!(receiver.accepted().len(), 1);
    let delivery = &alerts(&app, None).await[0]["deliveries"][0];
    assert_eq!(delivery["state"], "delivered");
    assert_eq!(delivery["attempts"], 2);
    // The dead worker's claim no longer counts.
    assert!(!tokenledger::store::alerts::delivered(&pool, &claimed[0], 200)
        .await
        .unwrap());
}
