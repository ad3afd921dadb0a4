//! API keys: scopes, team restriction, revocation, hashing at rest, the error shape.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::{event, spawn_app};
use serde_json::{json, Value};

#[tokio::test]
async fn requests_without_a_valid_key_are_401_with_the_error_shape() {
    let app = spawn_app().await;
    let none = app.client.get(app.url("/v1/spend")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(app.get_with("tl_not_a_key", "/v1/spend").await.status(), 401);
}

#[tokio::test]
async fn health_and_openapi_need_no_key() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz", "/openapi.json", "/metrics"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn each_scope_reaches_only_its_endpoints() {
    let app = spawn_app().await;
    let ingest = app.create_key("ingest", None).await;
    let read = app.create_key("read", None).await;
    let e = event("a", "t", "openai", "gpt-4o", json!({"input_tokens": 1}));
    assert_eq!(app.post_events_with(&ingest, &e).await.status(), 200);
    assert_eq!(app.post_events_with(&read, &e).await.status(), 403);
    assert_eq!(app.get_with(&ingest, "/v1/spend").await.status(), 403);
    assert_eq!(app.get_with(&read, "/v1/spend").await.status(), 200);
    assert_eq!(app.get_with(&read, "/v1/keys").await.status(), 403);
    assert_eq!(app.get_with(&ingest, "/v1/keys").await.status(), 403);
    let put = |key: String| {
        let app = &app;
        async move {
            app.client
                .put(app.url("/v1/prices"))
                .bearer_auth(key)
                .json(&json!({"prices": []}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(put(read.clone()).await, 403);
    assert_eq!(put(app.admin_key.clone()).await, 200);
    let forbidden: Value = app.get_with(&ingest, "/v1/spend").await.json().await.unwrap();
    assert_eq!(forbidden["error"]["code"], "forbidden");
}

#[tokio::test]
async fn a_team_read_key_sees_only_its_team_and_naming_another_is_403() {
    let app = spawn_app().await;
    app.post_events(&json!([
        event("a", "search", "openai", "gpt-4o", json!({"input_tokens": 1})),
        event("b", "ads", "openai", "gpt-4o", json!({"input_tokens": 2})),
    ]))
    .await;
    let key = app.create_key("read", Some("search")).await;
    let range = "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z";
    let spend: Value = app
        .get_with(&key, &format!("/v1/spend?{range}&group_by=team"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(spend["rows"], json!([spend["rows"][0].clone()]));
    assert_eq!(spend["rows"][0]["team"], "search");
    assert_eq!(spend["total"]["input_tokens"], 1);
    assert_eq!(
        app.get_with(&key, &format!("/v1/spend?{range}&team=ads"))
            .await
            .status(),
        403
    );
    assert_eq!(
        app.get_with(&key, &format!("/v1/spend?{range}&team=search"))
            .await
            .status(),
        200
    );
    let events: Value = app.get_with(&key, "/v1/events").await.json().await.unwrap();
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
    assert_eq!(events["events"][0]["team"], "search");
    assert_eq!(app.get_with(&key, "/v1/events?team=ads").await.status(), 403);
    let teams: Value = app
        .get_with(&key, &format!("/v1/teams?{range}"))
        .await
        .json()
        .await
        .unwrap();
    // One gpt-4o input token at $2.50 per million.
    assert_eq!(
        teams["teams"],
        json!([{"team": "search", "requests": 1, "cost": "0.0000025", "currency": "USD"}])
    );
}

#[tokio::test]
async fn a_team_ingest_key_writes_only_its_team() {
    let app = spawn_app().await;
    let key = app.create_key("ingest", Some("search")).await;
    let batch = json!([
        event("a", "search", "openai", "gpt-4o", json!({"input_tokens": 1})),
        event("b", "ads", "openai", "gpt-4o", json!({"input_tokens": 2})),
    ]);
    let body: Value = app.post_events_with(&key, &batch).await.json().await.unwrap();
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["rejected"][0]["error"]["code"], "team_not_allowed");
}

#[tokio::test]
async fn a_revoked_key_fails_at_once() {
    let app = spawn_app().await;
    let key = app.create_key("read", None).await;
    assert_eq!(app.get_with(&key, "/v1/spend").await.status(), 200);
    let listed: Value = app.get_json("/v1/keys").await;
    let id = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["scope"] == "read")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let revoked = app
        .client
        .delete(app.url(&format!("/v1/keys/{id}")))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(app.get_with(&key, "/v1/spend").await.status(), 401);
    let missing = app
        .client
        .delete(app.url("/v1/keys/999999"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn secrets_are_stored_only_as_hashes() {
    let app = spawn_app().await;
    let key = app.create_key("ingest", None).await;
    assert!(key.starts_with("tl_"));
    let db = app.db().await;
    let rows: Vec<(Vec<u8>, String)> = sqlx::query_as("SELECT secret_hash, prefix FROM api_keys")
        .fetch_all(&db)
        .await
        .unwrap();
    for (hash, prefix) in &rows {
        assert_eq!(hash.len(), 32);
        assert!(!String::from_utf8_lossy(hash).contains(&key));
        assert!(key.starts_with(prefix.as_str()) || app.admin_key.starts_with(prefix.as_str()));
        assert!(prefix.len() < 12);
    }
    let listed = app.get_json("/v1/keys").await.to_string();
    assert!(!listed.contains(&key) && !listed.contains(&app.admin_key));
}

#[tokio::test]
async fn invalid_key_requests_are_4xx_json() {
    let app = spawn_app().await;
    let cases = [
        (json!({"name": "x", "scope": "superuser"}), 400),
        (json!({"name": "", "scope": "read"}), 422),
        (json!({"name": "x", "scope": "admin", "team": "t"}), 422),
        (json!({"scope": "read"}), 400),
    ];
    for (body, status) in cases {
        let response = app
            .client
            .post(app.url("/v1/keys"))
            .bearer_auth(&app.admin_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(error["error"]["code"].is_string());
    }
}
