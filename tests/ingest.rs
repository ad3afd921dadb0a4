//! POST /v1/events: body forms, validation, idempotency, partial acceptance, limits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::{event, spawn_app, spawn_app_with};
use serde_json::{json, Value};

async fn stored_events(app: &common::TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.db().await)
        .await
        .unwrap()
}

fn usage() -> Value {
    json!({"input_tokens": 100, "output_tokens": 10})
}

#[tokio::test]
async fn a_single_event_object_is_accepted() {
    let app = spawn_app().await;
    let response = app
        .post_events(&event("a", "search", "openai", "gpt-4o", usage()))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"accepted": 1, "duplicates": 0, "rejected": []}));
    assert_eq!(stored_events(&app).await, 1);
}

#[tokio::test]
async fn a_json_array_of_events_is_accepted() {
    let app = spawn_app().await;
    let batch = json!([
        event("a", "t", "openai", "gpt-4o", usage()),
        event("b", "t", "openai", "gpt-4o", usage())
    ]);
    let body: Value = app.post_events(&batch).await.json().await.unwrap();
    assert_eq!(body["accepted"], 2);
    assert_eq!(stored_events(&app).await, 2);
}

#[tokio::test]
async fn ndjson_events_are_accepted_line_by_line() {
    let app = spawn_app().await;
    let lines = [
        event("a", "t", "openai", "gpt-4o", usage()),
        event("b", "t", "openai", "gpt-4o", usage()),
    ]
    .iter()
    .map(|e| e.to_string())
    .collect::<Vec<_>>()
    .join("\n");
    let response = app
        .client
        .post(app.url("/v1/events"))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/x-ndjson")
        .body(format!("{lines}\n\nnot json\n"))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 2);
    assert_eq!(body["rejected"][0]["index"], 2);
    assert_eq!(body["rejected"][0]["error"]["code"], "invalid_json");
}

#[tokio::test]
async fn every_validation_rule_rejects_with_its_code() {
    let app = spawn_app().await;
    let valid = event("ok", "t", "openai", "gpt-4o", usage());
    let with = |field: &str, value: Value| {
        let mut e = valid.clone();
        e[field] = value;
        e
    };
    let without = |field: &str| {
        let mut e = valid.clone();
        e.as_object_mut().unwrap().remove(field);
        e
    };
    let cases = vec![
        (without("id"), "missing_field"),
        (without("timestamp"), "missing_field"),
        (without("team"), "missing_field"),
        (without("provider"), "missing_field"),
        (without("model"), "missing_field"),
        (without("usage"), "missing_field"),
        (with("id", json!("")), "invalid_id"),
        (with("id", json!("x".repeat(257))), "invalid_id"),
        (with("id", json!(5)), "invalid_field"),
        (with("timestamp", json!("24/11/2026")), "invalid_timestamp"),
        (
            with("timestamp", json!("2999-01-01T00:00:00Z")),
            "timestamp_in_future",
        ),
        (
            with("timestamp", json!("1990-01-01T00:00:00Z")),
            "timestamp_out_of_range",
        ),
        (with("team", json!("")), "invalid_field"),
        (with("team", json!("a\u{0}b")), "invalid_field"),
        (with("service_tier", json!("turbo")), "invalid_service_tier"),
        (with("usage_format", json!("cohere")), "unknown_usage_format"),
        (with("usage", json!({"input_tokens": -1})), "invalid_usage"),
        (with("usage", json!({"input_tokens": 1.5})), "invalid_usage"),
        (with("usage", json!({"input_tokens": "12"})), "invalid_usage"),
        (
            with("usage", json!({"input_tokens": 9007199254740993u64})),
            "invalid_usage",
        ),
        (
            with("usage", json!({"input_tokens": 10, "cache_read_tokens": 11})),
            "invalid_usage",
        ),
        (
            with("usage", json!({"output_tokens": 1, "reasoning_tokens": 2})),
            "invalid_usage",
        ),
        (
            with(
                "usage",
                json!({"input_tokens": 5, "cache_write_tokens": 2, "cache_write_1h_tokens": 3}),
            ),
            "invalid_usage",
        ),
        (with("usage", json!([1])), "invalid_usage"),
        (with("cost", json!("-0.5")), "invalid_cost"),
        (with("cost", json!("cheap")), "invalid_cost"),
        (with("currency", json!("dollars")), "invalid_currency"),
        (
            with(
                "tags",
                json!((0..17)
                    .map(|i| (format!("k{i}"), json!("v")))
                    .collect::<serde_json::Map<_, _>>()),
            ),
            "too_many_tags",
        ),
        (with("tags", json!({"a": 1})), "invalid_field"),
        (json!(42), "invalid_field"),
    ];
    let batch: Vec<Value> = cases.iter().map(|(e, _)| e.clone()).collect();
    let body: Value = app.post_events(&json!(batch)).await.json().await.unwrap();
    assert_eq!(body["accepted"], 0, "{body}");
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), cases.len(), "{body}");
    for (i, (_, code)) in cases.iter().enumerate() {
        assert_eq!(rejected[i]["index"], i, "{body}");
        assert_eq!(rejected[i]["error"]["code"], *code, "case {i}: {}", rejected[i]);
        assert!(!rejected[i]["error"]["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(stored_events(&app).await, 0);
}

#[tokio::test]
async fn a_single_invalid_event_is_a_422_with_the_error_shape() {
    let app = spawn_app().await;
    let mut e = event("a", "t", "openai", "gpt-4o", usage());
    e["service_tier"] = json!("turbo");
    let response = app.post_events(&e).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_service_tier");
}

#[tokio::test]
async fn invalid_events_do_not_stop_valid_ones_in_the_same_batch() {
    let app = spawn_app().await;
    let mut bad = event("bad", "t", "openai", "gpt-4o", usage());
    bad["timestamp"] = json!("nope");
    let batch = json!([
        event("a", "t", "openai", "gpt-4o", usage()),
        bad,
        event("b", "t", "openai", "gpt-4o", usage())
    ]);
    let body: Value = app.post_events(&batch).await.json().await.unwrap();
    assert_eq!(body["accepted"], 2);
    assert_eq!(
        body["rejected"],
        json!([{"index": 1, "id": "bad", "error": body["rejected"][0]["error"].clone()}])
    );
    assert_eq!(stored_events(&app).await, 2);
}

#[tokio::test]
async fn resending_the_same_event_is_a_duplicate_counted_once() {
    let app = spawn_app().await;
    let e = event("a", "t", "openai", "gpt-4o", usage());
    app.post_events(&e).await;
    let body: Value = app.post_events(&e).await.json().await.unwrap();
    assert_eq!(body, json!({"accepted": 0, "duplicates": 1, "rejected": []}));
    assert_eq!(stored_events(&app).await, 1);
}

#[tokio::test]
async fn the_same_id_with_other_content_is_an_id_conflict_and_the_first_stands() {
    let app = spawn_app().await;
    app.post_events(&event("a", "t", "openai", "gpt-4o", usage()))
        .await;
    let response = app
        .post_events(&event("a", "t", "openai", "gpt-4o", json!({"input_tokens": 999})))
        .await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "id_conflict");
    let stored: i64 = sqlx::query_scalar("SELECT input_tokens FROM events")
        .fetch_one(&app.db().await)
        .await
        .unwrap();
    assert_eq!(stored, 100);
}

/// The writer first claims a batch's keys with a plain INSERT, which fails as a whole when one key
/// is taken; the batch is then written again with ON CONFLICT. Either way each event gets its own
/// outcome and only the new ones are stored.
#[tokio::test]
async fn a_batch_mixing_resent_conflicting_and_new_events_stores_exactly_the_new_ones() {
    let app = spawn_app().await;
    let first: Vec<Value> = (0..50)
        .map(|i| event(&format!("e{i}"), "t", "openai", "gpt-4o", usage()))
        .collect();
    let body: Value = app.post_events(&json!(first)).await.json().await.unwrap();
    assert_eq!(body["accepted"], 50);

    // 20 resent as they were, 5 resent with other content, 25 new.
    let mut mixed: Vec<Value> = first[..20].to_vec();
    mixed.extend((20..25).map(|i| {
        event(
            &format!("e{i}"),
            "t",
            "openai",
            "gpt-4o",
            json!({"input_tokens": 7}),
        )
    }));
    mixed.extend((50..75).map(|i| event(&format!("e{i}"), "t", "openai", "gpt-4o", usage())));
    let body: Value = app.post_events(&json!(mixed)).await.json().await.unwrap();
    assert_eq!(body["accepted"], 25);
    assert_eq!(body["duplicates"], 20);
    let conflicts: Vec<usize> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|r| assert_eq!(r["error"]["code"], "id_conflict"))
        .map(|r| r["index"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(conflicts, (20..25).collect::<Vec<_>>());
    assert_eq!(stored_events(&app).await, 75);

    // The plain claim failed and the batch was written again.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("tokenledger_writer_claim_retries_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
    // The next batches (written with ON CONFLICT for a while) are judged just as exactly.
    let again: Vec<Value> = (70..80)
        .map(|i| event(&format!("e{i}"), "t", "openai", "gpt-4o", usage()))
        .collect();
    let body: Value = app.post_events(&json!(again)).await.json().await.unwrap();
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(5), Some(5))
    );
    let input: i64 = sqlx::query_scalar("SELECT sum(input_tokens)::bigint FROM events")
        .fetch_one(&app.db().await)
        .await
        .unwrap();
    assert_eq!(input, 80 * 100);
}

#[tokio::test]
async fn the_same_id_in_two_teams_is_two_events() {
    let app = spawn_app().await;
    let batch = json!([
        event("a", "t1", "openai", "gpt-4o", usage()),
        event("a", "t2", "openai", "gpt-4o", usage())
    ]);
    let body: Value = app.post_events(&batch).await.json().await.unwrap();
    assert_eq!(body["accepted"], 2);
}

#[tokio::test]
async fn duplicates_within_one_batch_are_judged_against_the_first() {
    let app = spawn_app().await;
    let first = event("a", "t", "openai", "gpt-4o", usage());
    let other = event("a", "t", "openai", "gpt-4o", json!({"input_tokens": 1}));
    let body: Value = app
        .post_events(&json!([first, first, other]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["duplicates"], 1);
    assert_eq!(body["rejected"][0]["error"]["code"], "id_conflict");
    assert_eq!(body["rejected"][0]["index"], 2);
}

#[tokio::test]
async fn the_same_batch_sent_concurrently_from_eight_tasks_is_stored_once() {
    let app = spawn_app().await;
    let batch: Vec<Value> = (0..200)
        .map(|i| {
            event(
                &format!("e{i}"),
                &format!("team{}", i % 3),
                "openai",
                "gpt-4o",
                json!({"input_tokens": i + 1}),
            )
        })
        .collect();
    let batch = json!(batch);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (client, url, key, body) = (
            app.client.clone(),
            app.url("/v1/events"),
            app.admin_key.clone(),
            batch.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }));
    }
    let (mut accepted, mut duplicates) = (0, 0);
    for task in tasks {
        let body = task.await.unwrap();
        assert_eq!(body["rejected"], json!([]));
        accepted += body["accepted"].as_i64().unwrap();
        duplicates += body["duplicates"].as_i64().unwrap();
    }
    assert_eq!(accepted, 200);
    assert_eq!(duplicates, 7 * 200);
    let db = app.db().await;
    let (count, tokens): (i64, i64) =
        sqlx::query_as("SELECT count(*), sum(input_tokens)::bigint FROM events")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(count, 200);
    assert_eq!(tokens, (1..=200).sum::<i64>());
}

#[tokio::test]
async fn a_malformed_body_is_a_400_and_stores_nothing() {
    let app = spawn_app().await;
    for body in ["[{\"id\": \"a\"}", "not json", "\"a string\"", "", "[1, 2,]"] {
        let response = app
            .client
            .post(app.url("/v1/events"))
            .bearer_auth(&app.admin_key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body:?}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "malformed_body");
    }
    let invalid_utf8 = b"[{\"id\": \"\xff\xfe\"}]".to_vec();
    let response = app
        .client
        .post(app.url("/v1/events"))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body(invalid_utf8)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(stored_events(&app).await, 0);
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_and_stores_nothing() {
    let app = spawn_app_with(|c| c.max_body_bytes = 4096).await;
    let batch: Vec<Value> = (0..100)
        .map(|i| event(&format!("e{i}"), "t", "openai", "gpt-4o", usage()))
        .collect();
    let response = app.post_events(&json!(batch)).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert_eq!(stored_events(&app).await, 0);
}

#[tokio::test]
async fn a_batch_over_the_event_limit_is_refused_whole() {
    let app = spawn_app_with(|c| c.max_batch = 3).await;
    let batch: Vec<Value> = (0..4)
        .map(|i| event(&format!("e{i}"), "t", "openai", "gpt-4o", usage()))
        .collect();
    let response = app.post_events(&json!(batch)).await;
    assert_eq!(response.status(), 422);
    assert_eq!(stored_events(&app).await, 0);
}

#[tokio::test]
async fn a_wrong_content_type_is_a_415() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/events"))
        .bearer_auth(&app.admin_key)
        .header("content-type", "text/plain")
        .body(event("a", "t", "openai", "gpt-4o", usage()).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_media_type");
}

#[tokio::test]
async fn events_of_any_age_are_accepted() {
    let app = spawn_app().await;
    let mut old = event("old", "t", "openai", "gpt-4o", usage());
    old["timestamp"] = json!("2003-05-01T00:00:00Z");
    let mut soon = event("soon", "t", "openai", "gpt-4o", usage());
    soon["timestamp"] = json!((chrono::Utc::now() + chrono::Duration::minutes(4)).to_rfc3339());
    let body: Value = app.post_events(&json!([old, soon])).await.json().await.unwrap();
    assert_eq!(body["accepted"], 2, "{body}");
}

#[tokio::test]
async fn every_outcome_is_counted_in_the_metrics() {
    let app = spawn_app().await;
    let mut bad = event("bad", "t", "openai", "gpt-4o", usage());
    bad["currency"] = json!("xx");
    let e = event("a", "t", "openai", "gpt-4o", usage());
    app.post_events(&json!([e, e, bad])).await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"tokenledger_events_total{outcome="accepted",reason=""} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"tokenledger_events_total{outcome="duplicate",reason=""} 1"#));
    assert!(text.contains(r#"tokenledger_events_total{outcome="rejected",reason="invalid_currency"} 1"#));
}

/// The migration that turned `event_keys.id_hash` from `bytea` into `uuid` keeps every stored key:
/// a retry, after the upgrade, of an event stored before it is a duplicate, not a second event.
#[tokio::test]
async fn keys_stored_before_the_uuid_migration_still_catch_retries() {
    const UUID_MIGRATION: i64 = 20261203000001;
    let sent = event("stored-before-the-upgrade", "search", "openai", "gpt-4o", usage());

    // The key the writer stores for this event, learned from a database at the current schema.
    let reference = spawn_app().await;
    assert_eq!(reference.post_events(&sent).await.status(), 200);
    let (id_hash, content_hash): (sqlx::types::Uuid, Vec<u8>) =
        sqlx::query_as("SELECT id_hash, content_hash FROM event_keys")
            .fetch_one(&reference.db().await)
            .await
            .unwrap();
    reference.stop().await;

    // A database at the schema before that migration, holding the key as it was stored then.
    let database_url = common::fresh_database().await;
    let old = sqlx::PgPool::connect(&database_url).await.unwrap();
    let mut migrator = sqlx::migrate!();
    let before: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version < UUID_MIGRATION)
        .cloned()
        .collect();
    assert!(
        before.len() < migrator.migrations.len(),
        "the uuid migration is gone"
    );
    migrator.migrations = before.into();
    migrator.run(&old).await.unwrap();
    sqlx::query("INSERT INTO teams (name) VALUES ('search')")
        .execute(&old)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO event_keys (team_id, id_hash, content_hash, ts)
         SELECT team_id, $1, $2, '2026-11-02T10:00:00Z' FROM teams WHERE name = 'search'",
    )
    .bind(id_hash.as_bytes().as_slice())
    .bind(&content_hash)
    .execute(&old)
    .await
    .unwrap();
    old.close().await;

    // The service migrates the database as it starts; the retry finds the converted key.
    let admin_key = format!("tl_test_admin_{:016x}", rand::random::<u64>());
    let config = common::test_config(&database_url, &admin_key);
    let app = common::start(config, admin_key, database_url).await;
    let response = app.post_events(&sent).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"accepted": 0, "duplicates": 1, "rejected": []}));
    assert_eq!(stored_events(&app).await, 0, "the retry was stored a second time");
    let converted: sqlx::types::Uuid = sqlx::query_scalar("SELECT id_hash FROM event_keys")
        .fetch_one(&app.db().await)
        .await
        .unwrap();
    assert_eq!(converted, id_hash);
    app.stop().await;
}
