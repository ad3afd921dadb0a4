//! Hostile input at every ingest door (`/v1/events`, `/v1/traces`, `/v1/integrations/litellm`):
//! a table of bad bodies, each sent to one running server. Every answer must be the one SPEC gives
//! (a 4xx with the JSON error shape, or a 200 naming the rejected events), never a 5xx; the server
//! must keep serving after each; and nothing partial may be stored (the events table changes by
//! exactly the events the answer says were accepted). Slow clients, which send their headers and
//! then trickle the body or never finish it, are timed out with a 408 and do not hold the server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

//!
//! The cases are in `tests/hostile/` (`events.rs`, `doors.rs`; slow clients in `slow.rs`).

mod common;
mod hostile;

use common::{spawn_app, TestApp};
use hostile::{event, event_with, Case, Expect, MAX_MESSAGE};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

async fn stored(app: &TestApp, pool: &sqlx::PgPool) -> (i64, i64) {
    let _ = app;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap();
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM event_keys")
        .fetch_one(pool)
        .await
        .unwrap();
    (events, keys)
}

/// Sends one case and says what was wrong with the answer, if anything.
async fn run(app: &TestApp, pool: &sqlx::PgPool, case: &Case) -> Result<(), String> {
    let before = stored(app, pool).await;
    let method: reqwest::Method = case.method.parse().unwrap();
    let mut request = app
        .client
        .request(method, app.url(case.path))
        .bearer_auth(&app.admin_key);
    if let Some(ct) = &case.content_type {
        request = request.header("content-type", ct);
    }
    if let Some(encoding) = case.encoding {
        request = request.header("content-encoding", encoding);
    }
    let response = request
        .body(case.body.clone())
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let status = response.status().as_u16();
    let protobuf = response
        .headers()
        .get("content-type")
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/x-protobuf"));
    let answer = response
        .bytes()
        .await
        .map_err(|e| format!("unreadable answer: {e}"))?;
    let body: Value = if protobuf {
        use prost::Message;
        let decoded = tokenledger::ingest::otlp::proto::ExportTraceServiceResponse::decode(answer.as_ref())
            .map_err(|e| format!("{status}, not an OTLP answer: {e}"))?;
        decoded.to_json()
    } else {
        serde_json::from_slice(&answer)
            .map_err(|_| format!("{status}, not JSON: {:.200}", String::from_utf8_lossy(&answer)))?
    };
    let text = body.to_string();
    let after = stored(app, pool).await;
    let stored_now = after.0 - before.0;
    if after.0 - before.0 != after.1 - before.1 {
        return Err(format!("events and event_keys disagree: {before:?} -> {after:?}"));
    }
    if status >= 500 {
        return Err(format!("{status}: {text:.300}"));
    }
    // The server is still there.
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .map_err(|e| format!("server gone: {e}"))?;
    if health.status() != 200 {
        return Err(format!("healthz answered {}", health.status()));
    }
    match &case.expect {
        Expect::Refused(want_status, want_code) => {
            let code = body["error"]["code"].as_str().unwrap_or("(no error.code)");
            let message = body["error"]["message"].as_str();
            if status != *want_status || code != *want_code {
                return Err(format!(
                    "want {want_status} {want_code}, got {status} {code}: {:.300}",
                    text
                ));
            }
            match message {
                None => return Err(format!("no error.message: {text:.300}")),
                Some(m) if m.len() > MAX_MESSAGE => return Err(format!("a {}-byte message", m.len())),
                Some(_) => {}
            }
            if body.as_object().map(|o| o.len()) != Some(1)
                || body["error"].as_object().map(|o| o.len()) != Some(2)
            {
                return Err(format!("not the error shape: {text:.300}"));
            }
            if stored_now != 0 {
                return Err(format!("refused, yet {stored_now} events were stored"));
            }
        }
        Expect::Report { accepted, rejected } => {
            if status != 200 {
                return Err(format!("want 200, got {status}: {text:.300}"));
            }
            let got: Vec<(usize, String)> = body["rejected"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|r| {
                            (
                                r["index"].as_u64().unwrap_or(u64::MAX) as usize,
                                r["error"]["code"].as_str().unwrap_or("").to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let want: Vec<(usize, String)> = rejected.iter().map(|(i, c)| (*i, (*c).to_owned())).collect();
            if body["accepted"] != json!(accepted) || got != want {
                return Err(format!(
                    "want accepted {accepted} rejected {want:?}, got accepted {} rejected {got:?}",
                    body["accepted"]
                ));
            }
            if let Some(long) = body["rejected"].as_array().into_iter().flatten().find(|r| {
                r["error"]["message"]
                    .as_str()
                    .is_none_or(|m| m.len() > MAX_MESSAGE)
            }) {
                return Err(format!(
                    "a rejection without a short message: {:.300}",
                    long.to_string()
                ));
            }
            if stored_now != *accepted {
                return Err(format!("answer says {accepted} accepted, {stored_now} stored"));
            }
        }
        Expect::Otlp {
            stored: want_stored,
            rejected_spans,
        } => {
            let got = body["partialSuccess"]["rejectedSpans"]
                .as_str()
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0);
            if status != 200 || got != *rejected_spans || stored_now != *want_stored {
                return Err(format!(
                    "want 200, {rejected_spans} rejected spans, {want_stored} stored; got {status}, {got}, {stored_now}: {text:.300}"
                ));
            }
            if text.len() > 16 * 1024 {
                return Err(format!("a {}-byte OTLP answer", text.len()));
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn every_hostile_body_gets_its_4xx_or_its_rejections_and_nothing_partial_is_stored() {
    let app = spawn_app().await;
    let pool = app.db().await;
    let corpus: Vec<Case> = hostile::events::all()
        .into_iter()
        .chain(hostile::doors::all())
        .collect();

    let mut failures = Vec::new();
    // Per category: bodies sent, and the bad events inside 200 batches (each rejected alone).
    let mut tally: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut expected_stored = 0;
    for case in &corpus {
        let entry = tally.entry(case.category).or_default();
        entry.0 += 1;
        if let Expect::Report { rejected, .. } = &case.expect {
            entry.1 += rejected.len();
        }
        match run(&app, &pool, case).await {
            Ok(()) => {}
            Err(problem) => failures.push(format!(
                "[{}] {} ({}): {problem}",
                case.category, case.label, case.path
            )),
        }
        expected_stored += match &case.expect {
            Expect::Refused(..) => 0,
            Expect::Report { accepted, .. } => *accepted,
            Expect::Otlp { stored, .. } => *stored,
        };
    }
    let in_batches: usize = tally.values().map(|(_, n)| n).sum();
    println!(
        "hostile bodies sent: {}, with {in_batches} bad events rejected inside batches",
        corpus.len()
    );
    for (category, (bodies, events)) in &tally {
        println!("  {category}: {bodies} bodies, {events} rejected inside batches");
    }
    assert!(
        failures.is_empty(),
        "{} of {} hostile inputs answered wrongly:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );

    // Spend agrees: exactly the accepted events count, and the server still takes a plain event.
    let (events, _) = stored(&app, &pool).await;
    assert_eq!(events, expected_stored);
    let spend = app
        .get_json("/v1/spend?from=2000-01-01T00:00:00Z&to=2030-01-01T00:00:00Z")
        .await;
    assert_eq!(spend["total"]["requests"], json!(expected_stored), "{spend}");
    assert_eq!(app.post_events(&event()).await.status(), 200);
}

#[tokio::test]
async fn the_largest_reported_costs_still_sum_in_the_rollups() {
    // Reported costs up to 10^26 were once accepted; a few of them in one team, model and hour
    // made every rollup pass fail with a numeric overflow, and spend stopped updating.
    let app = spawn_app().await;
    let max = "999999999999999.999999999999";
    let batch: Vec<Value> = (0..1000)
        .map(|_| {
            let mut e = event_with("cost", Some(json!(max)));
            e["model"] = json!("an-unpriced-model");
            e
        })
        .collect();
    let body: Value = app.post_events(&Value::Array(batch)).await.json().await.unwrap();
    assert_eq!(body["accepted"], 1000, "{body}");
    let spend = app
        .get_json("/v1/spend?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z")
        .await;
    let want = rust_decimal::Decimal::from_str_exact(max).unwrap() * rust_decimal::Decimal::from(1000);
    let got = rust_decimal::Decimal::from_str_exact(spend["total"]["cost"].as_str().unwrap()).unwrap();
    assert_eq!(got, want, "{spend}");
    let refused = app
        .post_events(&event_with("cost", Some(json!("1000000000000000"))))
        .await;
    assert_eq!(refused.status(), 422);
}
