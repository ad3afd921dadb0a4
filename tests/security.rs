//! Security, proven against the real server: secrets at rest, revocation (also on a second
//! replica), scopes on every route, team isolation on every read surface, request limits and slow
//! clients, and SQL built only from bind parameters.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::{spawn_app, spawn_app_with, TestApp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// Asserts the one error body: `{"error": {"code": code, "message": "..."}}` and nothing else.
fn assert_error_shape(body: &Value, code: &str, context: &str) {
    let top = body
        .as_object()
        .unwrap_or_else(|| panic!("{context}: not an object: {body}"));
    assert_eq!(top.len(), 1, "{context}: {body}");
    let error = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("{context}: no error object: {body}"));
    assert_eq!(error.len(), 2, "{context}: {body}");
    assert_eq!(body["error"]["code"], code, "{context}: {body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{context}: {body}"
    );
}

async fn key_id(app: &TestApp, secret: &str) -> i64 {
    let listed = app.get_json("/v1/keys").await;
    let prefix = tokenledger::auth::secret_prefix(secret);
    let ids: Vec<i64> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["prefix"] == prefix.as_str())
        .map(|k| k["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "prefix {prefix} in {listed}");
    ids[0]
}

async fn revoke(app: &TestApp, id: i64) {
    let response = app
        .client
        .delete(app.url(&format!("/v1/keys/{id}")))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

fn recent() -> String {
    (chrono::Utc::now() - chrono::TimeDelta::seconds(5)).to_rfc3339()
}

// ---------------------------------------------------------------------------------------------
// Keys at rest
// ---------------------------------------------------------------------------------------------

/// Every row of every table of the database, as JSON text (bytea columns come out as `\x` hex).
async fn dump_database(app: &TestApp) -> Vec<(String, String)> {
    let db = app.db().await;
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema::text, table_name::text FROM information_schema.tables
         WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(tables.iter().any(|(_, t)| t == "api_keys"), "{tables:?}");
    let mut rows = Vec::new();
    for (schema, table) in tables {
        let quoted = format!(
            "\"{}\".\"{}\"",
            schema.replace('"', "\"\""),
            table.replace('"', "\"\"")
        );
        let texts: Vec<String> = sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM {quoted} t"))
            .fetch_all(&db)
            .await
            .unwrap();
        rows.extend(texts.into_iter().map(|t| (table.clone(), t)));
    }
    db.close().await;
    rows
}

/// The pieces of a secret that must never be stored: the secret itself, its bytes in hex, and
/// every 12-character window of it (the stored prefix is shorter than 12).
fn forbidden_pieces(secret: &str) -> Vec<String> {
    let chars: Vec<char> = secret.chars().collect();
    let mut pieces = vec![secret.to_owned(), hex::encode(secret.as_bytes())];
    for window in chars.windows(12) {
        pieces.push(window.iter().collect());
    }
    pieces
}

#[tokio::test]
async fn no_api_key_secret_is_stored_in_any_column_of_any_table() {
    let app = spawn_app().await;
    let mut secrets = vec![app.admin_key.clone()];
    for (scope, team) in [
        ("admin", None),
        ("read", None),
        ("read", Some("alpha")),
        ("ingest", None),
        ("ingest", Some("alpha")),
    ] {
        secrets.push(app.create_key(scope, team).await);
    }
    // Use the keys, so that anything written on the way (events, caches, logs in tables) is there.
    let ingest = &secrets[4];
    let sent = app
        .post_events_with(
            ingest,
            &common::event("e1", "alpha", "openai", "gpt-4o", json!({"input_tokens": 10})),
        )
        .await;
    assert_eq!(sent.status(), 200);
    assert_eq!(app.get_with(&secrets[2], "/v1/spend").await.status(), 200);
    revoke(&app, key_id(&app, &secrets[3]).await).await;

    let rows = dump_database(&app).await;
    assert!(rows.iter().filter(|(t, _)| t == "api_keys").count() >= 6);
    for secret in &secrets {
        for piece in forbidden_pieces(secret) {
            for (table, row) in &rows {
                assert!(
                    !row.contains(&piece),
                    "a piece of a secret is stored in {table}: {row}"
                );
            }
        }
    }
    // What is stored is SHA-256 of the secret: every column of every key row, checked.
    let db = app.db().await;
    type KeyRow = (i64, String, String, Option<String>, Vec<u8>, String);
    let keys: Vec<KeyRow> =
        sqlx::query_as("SELECT key_id, name, scope, team, secret_hash, prefix FROM api_keys")
            .fetch_all(&db)
            .await
            .unwrap();
    for secret in &secrets {
        let hash = Sha256::digest(secret.as_bytes()).to_vec();
        let row = keys
            .iter()
            .find(|k| k.4 == hash)
            .unwrap_or_else(|| panic!("no key row holds SHA-256 of a created secret"));
        assert!(
            secret.starts_with(&row.5),
            "the prefix is the start of the secret"
        );
        assert!(row.5.len() < 12);
        assert!(!row.1.contains(secret.as_str()));
    }
    // Nor is a secret ever shown again.
    let listed = app.get_json("/v1/keys").await.to_string();
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for secret in &secrets {
        assert!(!listed.contains(secret.as_str()) && !metrics.contains(secret.as_str()));
    }
}

#[tokio::test]
async fn a_key_is_found_by_the_sha256_of_its_secret_and_by_nothing_else() {
    let app = spawn_app().await;
    let db = app.db().await;
    // A row planted with the SHA-256 of a secret authenticates that secret...
    let planted = format!("tl_{}", hex::encode(rand::random::<[u8; 24]>()));
    sqlx::query(
        "INSERT INTO api_keys (name, scope, secret_hash, prefix) VALUES ('planted', 'admin', $1, 'tl_')",
    )
    .bind(Sha256::digest(planted.as_bytes()).to_vec())
    .execute(&db)
    .await
    .unwrap();
    assert_eq!(app.get_with(&planted, "/v1/keys").await.status(), 200);
    // ...and a row holding the secret's own bytes (what a plaintext store would do) does not.
    let plain = format!("tl_{}", hex::encode(rand::random::<[u8; 24]>()));
    sqlx::query(
        "INSERT INTO api_keys (name, scope, secret_hash, prefix) VALUES ('plain', 'admin', $1, 'tl_')",
    )
    .bind(plain.as_bytes().to_vec())
    .execute(&db)
    .await
    .unwrap();
    assert_eq!(app.get_with(&plain, "/v1/keys").await.status(), 401);
    // The library's hash is plain SHA-256 (checked against an independent implementation).
    assert_eq!(
        tokenledger::auth::hash_secret(&planted).to_vec(),
        Sha256::digest(planted.as_bytes()).to_vec()
    );
    db.close().await;
}

#[test]
fn the_stored_prefix_of_a_secret_is_a_small_part_of_it() {
    use tokenledger::auth::{generate_secret, secret_prefix};
    let (secret, prefix) = generate_secret();
    assert!(secret.starts_with("tl_") && secret.len() == 51, "{secret}");
    assert_eq!(prefix, secret_prefix(&secret));
    assert_eq!(prefix.len(), 10);
    // An operator's own TOKENLEDGER_ADMIN_KEY may be short: at most a quarter of it is shown
    // (and stored) as its prefix.
    for configured in ["supersecret1", "0123456789abcdef", "x"] {
        let shown = secret_prefix(configured);
        assert!(
            shown.chars().count() * 4 <= configured.chars().count(),
            "{configured:?} -> {shown:?}"
        );
    }
}

/// Constant-time comparison: the stored hash is compared with `subtle`, and so is the metrics key.
/// (Lookup is by hash through a unique index, so the secret itself is never compared at all.)
#[test]
fn secrets_are_compared_in_constant_time() {
    let root = env!("CARGO_MANIFEST_DIR");
    let auth = std::fs::read_to_string(format!("{root}/src/auth.rs")).unwrap();
    assert!(auth.contains("use subtle::ConstantTimeEq") && auth.contains(".ct_eq("));
    let metrics = std::fs::read_to_string(format!("{root}/src/routes/metrics.rs")).unwrap();
    assert!(metrics.contains(".ct_eq("));
    for (name, text) in [("auth.rs", &auth), ("metrics.rs", &metrics)] {
        for line in text.lines() {
            let l = line.trim();
            assert!(
                !(l.contains("==")
                    && (l.contains("secret") || l.contains("expected") || l.contains("given"))),
                "{name}: a secret compared with ==: {l}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Revocation
// ---------------------------------------------------------------------------------------------

/// Replicas cache keys, so both here trust a key for a minute without asking the database: only
/// the revocation's notification can make the other replica refuse it within the bound.
#[tokio::test]
async fn a_revoked_key_fails_at_once_here_and_promptly_on_another_replica() {
    let minute = Duration::from_secs(60);
    let a = spawn_app_with(|c| c.key_cache_ttl = minute).await;
    // A second replica on the same database, with its own key cache.
    let mut config = common::test_config(&a.database_url, &a.admin_key);
    config.key_cache_ttl = minute;
    let b = common::start(config, a.admin_key.clone(), a.database_url.clone()).await;
    // Let both replicas' revocation listeners start.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let key = a.create_key("read", None).await;
    // Both replicas have seen (and cached) the key.
    for app in [&a, &b] {
        for _ in 0..3 {
            assert_eq!(app.get_with(&key, "/v1/prices?provider=none").await.status(), 200);
        }
    }
    revoke(&a, key_id(&a, &key).await).await;
    // The replica that revoked refuses at once.
    let here = a.get_with(&key, "/v1/prices?provider=none").await;
    assert_eq!(here.status(), 401);
    assert_error_shape(
        &here.json().await.unwrap(),
        "unauthorized",
        "revoked, same replica",
    );
    // The other replica refuses within the documented bound.
    let revoked_at = Instant::now();
    loop {
        let status = b.get_with(&key, "/v1/prices?provider=none").await.status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked_at.elapsed() < Duration::from_secs(2),
            "the other replica still accepts a revoked key"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "revocation seen by the other replica after {:?}",
        revoked_at.elapsed()
    );
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Scopes on every route
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cred {
    Admin,
    Read,
    ReadTeam,
    Ingest,
    IngestTeam,
    NoKey,
    /// A well-formed `tl_` key that does not exist.
    Unknown,
    /// Not a bearer token at all.
    Malformed,
    /// A revoked admin key.
    Revoked,
}

const CREDS: [Cred; 9] = [
    Cred::Admin,
    Cred::Read,
    Cred::ReadTeam,
    Cred::Ingest,
    Cred::IngestTeam,
    Cred::NoKey,
    Cred::Unknown,
    Cred::Malformed,
    Cred::Revoked,
];

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// No key needed; any Authorization header is ignored.
    Public,
    Admin,
    Read,
    Ingest,
    ReadOrIngest,
}

impl Access {
    /// The status a credential gets: `None` means allowed.
    fn refusal(self, cred: Cred) -> Option<u16> {
        use Cred::*;
        if self == Access::Public {
            return None;
        }
        match cred {
            NoKey | Unknown | Malformed | Revoked => Some(401),
            Admin => None,
            Read | ReadTeam if matches!(self, Access::Read | Access::ReadOrIngest) => None,
            Ingest | IngestTeam if matches!(self, Access::Ingest | Access::ReadOrIngest) => None,
            _ => Some(403),
        }
    }
}

/// Every route of the service: method, path as in /openapi.json, who may call it, and the status
/// of an allowed call with the request built by `request_for`.
const TABLE: &[(&str, &str, Access, u16)] = &[
    ("get", "/healthz", Access::Public, 200),
    ("get", "/readyz", Access::Public, 200),
    ("get", "/openapi.json", Access::Public, 200),
    ("get", "/metrics", Access::Public, 200),
    ("post", "/v1/events", Access::Ingest, 200),
    ("get", "/v1/events", Access::Read, 200),
    ("post", "/v1/traces", Access::Ingest, 200),
    ("post", "/v1/integrations/litellm", Access::Ingest, 200),
    ("get", "/v1/spend", Access::Read, 200),
    ("get", "/v1/teams", Access::Read, 200),
    ("get", "/v1/prices", Access::Read, 200),
    ("put", "/v1/prices", Access::Admin, 200),
    ("post", "/v1/prices/import", Access::Admin, 200),
    ("post", "/v1/reprice", Access::Admin, 200),
    ("get", "/v1/reprice", Access::Admin, 200),
    ("get", "/v1/reprice/{id}", Access::Admin, 200),
    ("get", "/v1/reprice/{id}/changes", Access::Admin, 200),
    ("get", "/v1/adjustments", Access::Admin, 200),
    ("put", "/v1/adjustments", Access::Admin, 200),
    ("get", "/v1/aliases", Access::Read, 200),
    ("put", "/v1/aliases", Access::Admin, 200),
    ("get", "/v1/unpriced", Access::Read, 200),
    ("post", "/v1/keys", Access::Admin, 201),
    ("get", "/v1/keys", Access::Admin, 200),
    ("delete", "/v1/keys/{id}", Access::Admin, 204),
    ("post", "/v1/budgets", Access::Admin, 201),
    ("get", "/v1/budgets", Access::Read, 200),
    ("get", "/v1/budgets/{id}", Access::Read, 200),
    ("patch", "/v1/budgets/{id}", Access::Admin, 200),
    ("delete", "/v1/budgets/{id}", Access::Admin, 204),
    ("get", "/v1/budgets/{id}/status", Access::Read, 200),
    ("get", "/v1/alerts", Access::Read, 200),
    ("get", "/v1/check", Access::ReadOrIngest, 200),
];

/// Resources the table's requests point at.
struct Fixtures {
    keys: Vec<(Cred, Option<String>)>,
    run_id: i64,
    alpha_budget: i64,
    doomed_budget: i64,
    doomed_key: i64,
}

impl Fixtures {
    fn header(&self, cred: Cred) -> Option<String> {
        match cred {
            Cred::NoKey => None,
            Cred::Unknown => Some(format!("Bearer tl_{}", hex::encode(rand::random::<[u8; 24]>()))),
            Cred::Malformed => Some("Basic dXNlcjpwYXNz".to_owned()),
            _ => {
                let secret = self
                    .keys
                    .iter()
                    .find(|(c, _)| *c == cred)
                    .unwrap()
                    .1
                    .clone()
                    .unwrap();
                Some(format!("Bearer {secret}"))
            }
        }
    }
}

fn budget_body(name: &str, team: &str, amount: &str, webhook: &str) -> Value {
    json!({
        "name": name, "team": team, "period": "monthly", "amount": amount, "currency": "USD",
        "thresholds": [50, 100], "forecast": false, "tz": "UTC",
        "notify": [{"webhook": webhook}],
    })
}

async fn post_admin(app: &TestApp, path: &str, body: Value) -> Value {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(&app.admin_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert!(status.is_success(), "POST {path}: {status} {answer}");
    answer
}

async fn fixtures(app: &TestApp) -> Fixtures {
    let mut keys = vec![(Cred::Admin, Some(app.admin_key.clone()))];
    for (cred, scope, team) in [
        (Cred::Read, "read", None),
        (Cred::ReadTeam, "read", Some("alpha")),
        (Cred::Ingest, "ingest", None),
        (Cred::IngestTeam, "ingest", Some("alpha")),
        (Cred::Revoked, "admin", None),
    ] {
        keys.push((cred, Some(app.create_key(scope, team).await)));
    }
    let revoked = keys.last().unwrap().1.clone().unwrap();
    revoke(app, key_id(app, &revoked).await).await;
    let doomed_key = key_id(app, &app.create_key("read", None).await).await;
    let run = post_admin(
        app,
        "/v1/reprice",
        json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z", "dry_run": true}),
    )
    .await;
    let alpha = post_admin(
        app,
        "/v1/budgets",
        budget_body("a", "alpha", "100", "http://127.0.0.1:9/a"),
    )
    .await;
    let doomed = post_admin(
        app,
        "/v1/budgets",
        budget_body("d", "alpha", "100", "http://127.0.0.1:9/d"),
    )
    .await;
    Fixtures {
        keys,
        run_id: run["run_id"].as_i64().unwrap_or_else(|| panic!("{run}")),
        alpha_budget: alpha["id"].as_i64().unwrap(),
        doomed_budget: doomed["id"].as_i64().unwrap(),
        doomed_key,
    }
}

fn litellm_payload(id: &str, team: &str) -> Value {
    let mut payload: Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixture("litellm_standard_logging_payload.json")).unwrap(),
    )
    .unwrap();
    payload["id"] = json!(id);
    payload["metadata"]["user_api_key_team_alias"] = json!(team);
    payload
}

fn otlp_export(team: &str) -> Value {
    let mut export: Value =
        serde_json::from_str(&std::fs::read_to_string(common::fixture("otlp_genai_span.json")).unwrap())
            .unwrap();
    export["resourceSpans"][0]["resource"]["attributes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "tokenledger.team", "value": {"stringValue": team}}));
    export
}

/// The request of a table row: path with ids and query filled in, and a JSON body if it takes one.
fn request_for(f: &Fixtures, method: &str, path: &str) -> (String, Option<Value>) {
    let with_id = |id: i64| path.replace("{id}", &id.to_string());
    match (method, path) {
        ("post", "/v1/events") => (
            path.into(),
            Some(common::event(
                "table",
                "alpha",
                "openai",
                "gpt-4o",
                json!({"input_tokens": 1}),
            )),
        ),
        ("post", "/v1/traces") => (path.into(), Some(otlp_export("alpha"))),
        ("post", "/v1/integrations/litellm") => {
            (path.into(), Some(litellm_payload("table-litellm", "alpha")))
        }
        ("put", "/v1/prices") => (path.into(), Some(json!({"prices": []}))),
        ("post", "/v1/prices/import") => (path.into(), Some(json!({}))),
        ("post", "/v1/reprice") => (
            path.into(),
            Some(json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z", "dry_run": true})),
        ),
        ("get", "/v1/reprice/{id}") | ("get", "/v1/reprice/{id}/changes") => (with_id(f.run_id), None),
        ("put", "/v1/adjustments") => (path.into(), Some(json!({"adjustments": []}))),
        ("put", "/v1/aliases") => (path.into(), Some(json!({"aliases": []}))),
        ("post", "/v1/keys") => (path.into(), Some(json!({"name": "table", "scope": "read"}))),
        ("delete", "/v1/keys/{id}") => (with_id(f.doomed_key), None),
        ("post", "/v1/budgets") => (
            path.into(),
            Some(budget_body("t", "alpha", "100", "http://127.0.0.1:9/t")),
        ),
        ("get", "/v1/budgets/{id}") | ("get", "/v1/budgets/{id}/status") => (with_id(f.alpha_budget), None),
        ("patch", "/v1/budgets/{id}") => (with_id(f.alpha_budget), Some(json!({"name": "renamed"}))),
        ("delete", "/v1/budgets/{id}") => (with_id(f.doomed_budget), None),
        ("get", "/v1/check") => ("/v1/check?team=alpha".into(), None),
        ("get", "/v1/spend") => ("/v1/spend?group_by=team".into(), None),
        _ => (path.into(), None),
    }
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<Vec<u8>>,
) -> (u16, String) {
    let mut request = app
        .client
        .request(method.to_uppercase().parse().unwrap(), app.url(path));
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn every_route_answers_every_credential_as_its_scope_requires() {
    let app = spawn_app().await;
    let f = fixtures(&app).await;

    // The table lists exactly the routes of /openapi.json, so a new route cannot escape it.
    let doc = app.get_json("/openapi.json").await;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let tabled: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|(m, p, _, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        documented.difference(&tabled).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes in /openapi.json missing from the security table"
    );
    assert_eq!(
        tabled.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes in the security table that are not served"
    );

    let mut cases = 0;
    for (method, template, access, ok) in TABLE {
        for cred in CREDS {
            let (path, body) = request_for(&f, method, template);
            let header = f.header(cred);
            let body = body.map(|b| serde_json::to_vec(&b).unwrap());
            let (status, text) = call(&app, method, &path, header.as_deref(), body).await;
            let context = format!("{} {path} as {cred:?}: {status} {text}", method.to_uppercase());
            match access.refusal(cred) {
                Some(refused) => {
                    assert_eq!(status, refused, "{context}");
                    let code = if refused == 401 {
                        "unauthorized"
                    } else {
                        "forbidden"
                    };
                    assert_error_shape(&serde_json::from_str(&text).unwrap(), code, &context);
                }
                None => assert_eq!(status, *ok, "{context}"),
            }
            cases += 1;
        }
    }
    println!(
        "route x credential table: {} routes x {} credentials = {cases} cases",
        TABLE.len(),
        CREDS.len()
    );
}

/// The caller is decided before the body is looked at: a refused caller gets its 401 or 403 even
/// with a body that would not parse, and the body is not read for it.
#[tokio::test]
async fn a_refused_caller_is_refused_before_its_body_is_parsed() {
    let app = spawn_app().await;
    let f = fixtures(&app).await;
    let mut cases = 0;
    for (method, template, access, _) in TABLE {
        if matches!(*method, "get" | "delete") {
            continue;
        }
        for cred in CREDS {
            let Some(refused) = access.refusal(cred) else {
                continue;
            };
            let (path, _) = request_for(&f, method, template);
            let header = f.header(cred);
            let (status, text) = call(
                &app,
                method,
                &path,
                header.as_deref(),
                Some(b"{\"not json".to_vec()),
            )
            .await;
            let context = format!(
                "{} {path} as {cred:?} with a broken body: {status} {text}",
                method.to_uppercase()
            );
            assert_eq!(status, refused, "{context}");
            cases += 1;
        }
    }
    assert!(cases > 40, "{cases}");
}

#[tokio::test]
async fn with_a_metrics_key_metrics_need_that_key_and_no_api_key_opens_them() {
    let metrics_key = format!("metrics_{:016x}", rand::random::<u64>());
    let configured = metrics_key.clone();
    let app = spawn_app_with(move |c| c.metrics_key = Some(configured)).await;
    let read_team = app.create_key("read", Some("alpha")).await;
    for auth in [
        None,
        Some(format!("Bearer {}", app.admin_key)),
        Some(format!("Bearer {read_team}")),
        Some(format!("Bearer {metrics_key}x")),
        Some(format!("Basic {metrics_key}")),
    ] {
        let (status, text) = call(&app, "get", "/metrics", auth.as_deref(), None).await;
        assert_eq!(status, 401, "{auth:?}");
        assert_error_shape(&serde_json::from_str(&text).unwrap(), "unauthorized", "metrics");
    }
    let auth = format!("Bearer {metrics_key}");
    assert_eq!(call(&app, "get", "/metrics", Some(&auth), None).await.0, 200);
}

// ---------------------------------------------------------------------------------------------
// Team isolation
// ---------------------------------------------------------------------------------------------

/// Two teams with nothing in common: every name, id, number and amount of beta carries a marker
/// that alpha's never does.
async fn seed_two_teams(app: &TestApp) -> (i64, i64) {
    app.put_prices(json!([
        {"provider": "openai", "model": "gpt-4o", "effective_from": "2020-01-01T00:00:00Z", "input": "2.5", "output": "10"},
    ]))
    .await;
    let ts = recent();
    let mut events = Vec::new();
    for i in 0..5 {
        events.push(json!({
            "id": format!("alpha-ev-{i}"), "timestamp": ts, "team": "alpha",
            "project": "alpha-project", "user": "alpha-user",
            "tags": {"feature": "alpha-feature", "shared": "s"},
            "provider": "openai", "model": "gpt-4o",
            "usage": {"input_tokens": 1000 + i, "output_tokens": 10},
        }));
        events.push(json!({
            "id": format!("beta-ev-{i}"), "timestamp": ts, "team": "beta",
            "project": "beta-project", "user": "beta-user",
            "tags": {"feature": "beta-feature", "shared": "s", "onlyb": "beta-onlyb"},
            "provider": "openai", "model": "gpt-4o",
            "usage": {"input_tokens": 987_654_321, "output_tokens": 987_654},
            "cost": "98765.4321",
        }));
        // Unpriced: listed by /v1/unpriced, counted by reported cost.
        events.push(json!({
            "id": format!("beta-unpriced-{i}"), "timestamp": ts, "team": "beta",
            "provider": "betaprovider", "model": "beta-secret-model",
            "usage": {"input_tokens": 987_654_321}, "cost": "98765.4321",
        }));
        events.push(json!({
            "id": format!("alpha-unpriced-{i}"), "timestamp": ts, "team": "alpha",
            "provider": "acme", "model": "alpha-model",
            "usage": {"input_tokens": 7}, "cost": "0.5",
        }));
    }
    // Also in November, for the fixed ranges below.
    events.push(json!({
        "id": "beta-november", "timestamp": "2026-11-02T10:00:00Z", "team": "beta", "project": "beta-project",
        "provider": "openai", "model": "gpt-4o", "usage": {"input_tokens": 987_654_321},
    }));
    events.push(json!({
        "id": "alpha-november", "timestamp": "2026-11-02T10:00:00Z", "team": "alpha",
        "provider": "openai", "model": "gpt-4o", "usage": {"input_tokens": 5},
    }));
    let report: Value = app.post_events(&Value::Array(events)).await.json().await.unwrap();
    assert_eq!(report["accepted"], 22, "{report}");
    app.rollup().await;
    // Budgets over tiny amounts, so both have fired alerts with deliveries.
    let alpha = post_admin(
        app,
        "/v1/budgets",
        budget_body("alpha-budget", "alpha", "0.01", "http://127.0.0.1:9/alpha-hook"),
    )
    .await;
    let beta = post_admin(
        app,
        "/v1/budgets",
        budget_body("beta-budget", "beta", "0.01", "http://127.0.0.1:9/beta-hook"),
    )
    .await;
    let alerts = app.get_json("/v1/alerts").await;
    let teams: BTreeSet<&str> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["team"].as_str().unwrap())
        .collect();
    assert_eq!(teams, BTreeSet::from(["alpha", "beta"]), "{alerts}");
    (alpha["id"].as_i64().unwrap(), beta["id"].as_i64().unwrap())
}

/// What beta's data looks like in any answer.
fn leaks_beta(body: &str) -> Option<&'static str> {
    ["beta", "98765", "987654", "betaprovider"]
        .into_iter()
        .find(|marker| body.contains(marker))
}

#[tokio::test]
async fn a_team_read_key_never_sees_another_teams_rows_through_any_endpoint() {
    let app = spawn_app().await;
    let (alpha_budget, beta_budget) = seed_two_teams(&app).await;
    let alpha_read = app.create_key("read", Some("alpha")).await;
    let alpha_ingest = app.create_key("ingest", Some("alpha")).await;
    // Nothing is written from here on: the rollups hold everything for every question below.
    app.rollup().await;
    // Sanity: the admin does see beta, so the markers would be found if they leaked.
    let all = app
        .get("/v1/spend?group_by=team,project")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(leaks_beta(&all), Some("beta"));

    let nov = "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z";
    let wide = "from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z";
    let year = "from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z";
    let mut paths: Vec<String> = Vec::new();
    let dimensions = [
        "team",
        "project",
        "user",
        "provider",
        "model",
        "service_tier",
        "tag:feature",
        "tag:shared",
        "tag:onlyb",
        "team,project,user,provider,model,service_tier,tag:feature",
    ];
    for range in ["", nov, year, wide] {
        paths.push(format!("/v1/spend?{range}"));
        paths.push(format!("/v1/spend?{range}&include=reconciliation"));
        for group_by in dimensions {
            paths.push(format!("/v1/spend?{range}&group_by={group_by}"));
            // Buckets over a decade take long to plan; a year shows the same.
            if range == wide {
                continue;
            }
            for granularity in ["hour", "day", "week", "month"] {
                paths.push(format!(
                    "/v1/spend?{range}&group_by={group_by}&granularity={granularity}&tz=Asia/Kolkata"
                ));
            }
        }
        // Filters on beta's values that do not name a team: silently alpha's (so empty).
        paths.push(format!("/v1/spend?{range}&project=beta-project&group_by=project"));
        paths.push(format!(
            "/v1/spend?{range}&provider=betaprovider&model=beta-secret-model&group_by=model"
        ));
        paths.push(format!("/v1/spend?{range}&team=alpha&group_by=team,tag:onlyb"));
        paths.push(format!("/v1/teams?{range}"));
        paths.push(format!("/v1/events?{range}"));
        paths.push(format!("/v1/events?{range}&limit=1000"));
        paths.push(format!(
            "/v1/events?{range}&provider=betaprovider&model=beta-secret-model"
        ));
        paths.push(format!("/v1/events?{range}&team=alpha&provider=openai"));
        paths.push(format!("/v1/unpriced?{range}"));
    }
    // A cursor from the far future pages through everything older.
    paths.push(format!(
        "/v1/events?cursor={}_999999999&limit=1000",
        4_000_000_000_000_000i64
    ));
    paths.push("/v1/budgets".into());
    paths.push("/v1/budgets?team=alpha".into());
    paths.push(format!("/v1/budgets/{alpha_budget}"));
    paths.push(format!("/v1/budgets/{alpha_budget}/status"));
    paths.push("/v1/alerts".into());
    paths.push(format!("/v1/alerts?budget={beta_budget}"));
    paths.push(format!("/v1/alerts?budget={alpha_budget}&limit=1"));
    paths.push("/v1/check".into());
    paths.push("/v1/check?team=alpha&provider=openai&model=gpt-4o".into());
    paths.push("/v1/prices".into());
    paths.push("/v1/aliases".into());

    let mut answered = 0;
    for key in [&alpha_read, &alpha_ingest] {
        for path in &paths {
            let is_check = path.starts_with("/v1/check");
            if key == &alpha_ingest && !is_check {
                continue;
            }
            for accept in ["application/json", "text/csv"] {
                if accept == "text/csv" && !path.starts_with("/v1/spend") {
                    continue;
                }
                let response = app
                    .client
                    .get(app.url(path))
                    .bearer_auth(key)
                    .header("accept", accept)
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let body = response.text().await.unwrap();
                assert_eq!(status, 200, "GET {path} ({accept}): {body}");
                assert_eq!(
                    leaks_beta(&body),
                    None,
                    "GET {path} ({accept}) leaks beta: {body}"
                );
                answered += 1;
            }
        }
    }
    // Alpha's own data is there (the answers are not trivially empty).
    let events: Value = app
        .get_with(&alpha_read, &format!("/v1/events?{wide}&limit=1000"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["events"].as_array().unwrap().len(), 11, "{events}");
    let unpriced = app
        .get_with(&alpha_read, "/v1/unpriced")
        .await
        .text()
        .await
        .unwrap();
    assert!(unpriced.contains("alpha-model"), "{unpriced}");
    let check: Value = app.get_with(&alpha_read, "/v1/check").await.json().await.unwrap();
    assert_eq!(check["budgets"][0]["name"], "alpha-budget", "{check}");

    // Keyset paging one event at a time visits exactly alpha's events.
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    loop {
        let path = match &cursor {
            None => format!("/v1/events?{wide}&limit=1"),
            Some(c) => format!("/v1/events?{wide}&limit=1&cursor={c}"),
        };
        let page: Value = app.get_with(&alpha_read, &path).await.json().await.unwrap();
        for event in page["events"].as_array().unwrap() {
            assert_eq!(event["team"], "alpha", "{page}");
            seen += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, 11);

    // Naming beta, or beta's budget, is refused; the refusal says nothing about beta's data.
    let refused = [
        format!("/v1/spend?team=beta&{wide}"),
        format!("/v1/spend?team=alpha,beta&{wide}&group_by=team"),
        format!("/v1/spend?team=alpha&team=beta&{wide}"),
        format!("/v1/events?team=beta&{wide}"),
        "/v1/unpriced?team=beta".to_owned(),
        "/v1/budgets?team=beta".to_owned(),
        "/v1/alerts?team=beta".to_owned(),
        "/v1/check?team=beta".to_owned(),
        format!("/v1/teams?team=beta&{wide}"),
    ];
    for key in [&alpha_read, &alpha_ingest] {
        for path in &refused {
            if key == &alpha_ingest && !path.starts_with("/v1/check") {
                continue;
            }
            let response = app.get_with(key, path).await;
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            if path.starts_with("/v1/teams") {
                // /v1/teams takes no team filter: the parameter is ignored, the answer is alpha's.
                assert_eq!(status, 200, "{path}");
                assert_eq!(leaks_beta(&body), None, "{path}: {body}");
                continue;
            }
            assert_eq!(status, 403, "GET {path}: {body}");
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_error_shape(&body, "forbidden", path);
            assert!(!body.to_string().contains("98765"));
            answered += 1;
        }
    }
    for path in [
        format!("/v1/budgets/{beta_budget}"),
        format!("/v1/budgets/{beta_budget}/status"),
    ] {
        let response = app.get_with(&alpha_read, &path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_error_shape(&body, "not_found", &path);
        assert_eq!(leaks_beta(&body.to_string()), None);
    }
    println!("isolation: {} paths, {answered} answers checked", paths.len());
}

#[tokio::test]
async fn a_team_ingest_key_cannot_write_another_teams_rows_through_any_door() {
    let app = spawn_app().await;
    let key = app.create_key("ingest", Some("alpha")).await;
    let beta_events = || async {
        let db = app.db().await;
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events e JOIN teams t ON t.team_id = e.team_id WHERE t.name = 'beta'",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        db.close().await;
        n
    };
    let single = app
        .post_events_with(
            &key,
            &common::event("x", "beta", "openai", "gpt-4o", json!({"input_tokens": 1})),
        )
        .await;
    assert_eq!(single.status(), 403);
    let ndjson = format!(
        "{}\n",
        common::event("y", "beta", "openai", "gpt-4o", json!({"input_tokens": 1}))
    );
    let response = app
        .client
        .post(app.url("/v1/events"))
        .bearer_auth(&key)
        .header("content-type", "application/x-ndjson")
        .body(ndjson)
        .send()
        .await
        .unwrap();
    let batch: Value = response.json().await.unwrap();
    assert_eq!(batch["accepted"], 0, "{batch}");
    assert_eq!(
        batch["rejected"][0]["error"]["code"], "team_not_allowed",
        "{batch}"
    );
    let otlp = app
        .client
        .post(app.url("/v1/traces"))
        .bearer_auth(&key)
        .json(&otlp_export("beta"))
        .send()
        .await
        .unwrap();
    let otlp_status = otlp.status();
    let otlp: Value = otlp.json().await.unwrap();
    assert_eq!(otlp_status, 200, "{otlp}");
    assert_eq!(otlp["partialSuccess"]["rejectedSpans"], "1", "{otlp}");
    let litellm = app
        .client
        .post(app.url("/v1/integrations/litellm"))
        .bearer_auth(&key)
        .json(&json!([litellm_payload("l1", "beta")]))
        .send()
        .await
        .unwrap();
    let litellm: Value = litellm.json().await.unwrap();
    assert_eq!(litellm["accepted"], 0, "{litellm}");
    assert_eq!(
        litellm["rejected"][0]["error"]["code"], "team_not_allowed",
        "{litellm}"
    );
    assert_eq!(beta_events().await, 0);
}

// ---------------------------------------------------------------------------------------------
// Request limits and slow clients
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bodies_over_the_limit_are_413_on_every_body_taking_route() {
    let app = spawn_app_with(|c| c.max_body_bytes = 16 * 1024).await;
    let big = format!(
        "[{}]",
        vec!["{\"pad\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}"; 2000].join(",")
    );
    assert!(big.len() > 64 * 1024);
    for path in [
        "/v1/events",
        "/v1/traces",
        "/v1/integrations/litellm",
        "/v1/prices/import",
    ] {
        let (status, text) = call(
            &app,
            "post",
            path,
            Some(&format!("Bearer {}", app.admin_key)),
            Some(big.clone().into_bytes()),
        )
        .await;
        assert_eq!(status, 413, "{path}: {text}");
        assert_error_shape(&serde_json::from_str(&text).unwrap(), "payload_too_large", path);
        // Without a Content-Length (chunked), the body is cut off as it passes the limit.
        let mut stream = TcpStream::connect(address(&app)).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            app.admin_key
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        for chunk in big.as_bytes().chunks(4096) {
            let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
            if stream.write_all(&framed).await.is_err() {
                break; // the server stopped reading: it has answered
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
        let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{path} chunked: {answer:?}");
    }
    // The JSON routes of the admin API take at most 1 MiB.
    let huge = json!({"prices": [], "pad": "x".repeat(1_200_000)});
    let (status, text) = call(
        &app,
        "put",
        "/v1/prices",
        Some(&format!("Bearer {}", app.admin_key)),
        Some(huge.to_string().into_bytes()),
    )
    .await;
    assert_eq!(status, 413, "{text}");
    assert_error_shape(
        &serde_json::from_str(&text).unwrap(),
        "payload_too_large",
        "put prices",
    );
}

#[tokio::test]
async fn a_batch_over_the_limit_is_422_and_stores_nothing() {
    let app = spawn_app_with(|c| c.max_batch = 10).await;
    let batch: Vec<Value> = (0..11)
        .map(|i| {
            common::event(
                &format!("b{i}"),
                "t",
                "openai",
                "gpt-4o",
                json!({"input_tokens": 1}),
            )
        })
        .collect();
    let response = app.post_events(&Value::Array(batch.clone())).await;
    assert_eq!(response.status(), 422);
    assert_error_shape(&response.json().await.unwrap(), "batch_too_large", "batch");
    let ndjson: String = batch.iter().map(|e| format!("{e}\n")).collect();
    let response = app
        .client
        .post(app.url("/v1/events"))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/x-ndjson")
        .body(ndjson)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let db = app.db().await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    db.close().await;
}

fn address(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Reads what the server sends until it closes the connection (or `limit` passes).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), None),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&received).into_owned(),
                    Some(started.elapsed()),
                )
            }
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test]
async fn an_oversized_request_head_is_431_and_too_many_headers_400() {
    let app = spawn_app().await;
    // A head that never ends and passes actix's 128 KiB buffer.
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    let mut head = b"GET /v1/spend HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    head.resize(131_072, b'a');
    stream.write_all(&head).await.unwrap();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
    assert!(closed.is_some(), "the connection stays open after a 431");
    // More headers than the parser takes.
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    let mut head = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for i in 0..120 {
        head.push_str(&format!("X-H{i}: v\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(
        answer.starts_with("HTTP/1.1 400") || answer.starts_with("HTTP/1.1 431"),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_client_that_stalls_in_its_request_head_is_cut_off() {
    let app = spawn_app_with(|c| c.header_timeout = Duration::from_secs(1)).await;
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    stream
        .write_all(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
        .await
        .unwrap();
    // Cut off within the header timeout (1 s) plus actix's disconnect timeout (2 s) and slack.
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(6)).await;
    let closed = closed.unwrap_or_else(|| panic!("still open after 6 s; got {answer:?}"));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    println!("a stalled head was cut off after {closed:?}: {answer:?}");
    // A connection that sends nothing at all is closed too.
    let mut idle = TcpStream::connect(address(&app)).await.unwrap();
    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(6)).await;
    println!("an idle connection was closed after {closed:?}");
    assert!(closed.is_some(), "an idle connection stays open");
}

#[tokio::test]
async fn a_client_that_stalls_in_its_body_is_cut_off() {
    let app = spawn_app_with(|c| c.body_timeout = Duration::from_secs(1)).await;
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[{{\"id\":",
        app.admin_key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(6)).await;
    let closed = closed.unwrap_or_else(|| panic!("still open after 6 s; got {answer:?}"));
    println!("a stalled body was cut off after {closed:?}: {answer:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    assert_error_shape(
        &serde_json::from_str(body).unwrap(),
        "request_timeout",
        "stalled body",
    );
    // The same for a JSON route of the admin API.
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    let head = format!(
        "PUT /v1/prices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"prices\":",
        app.admin_key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(6)).await;
    assert!(
        closed.is_some() && answer.starts_with("HTTP/1.1 408"),
        "{answer:?}"
    );
    // Nothing was stored.
    let db = app.db().await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    db.close().await;
}

/// Every bucket boundary of a spend question is computed before a row is read; a read key asking
/// for centuries by the hour would have the server build millions of them.
#[tokio::test]
async fn a_spend_question_over_too_many_buckets_is_refused_up_front() {
    let app = spawn_app().await;
    let key = app.create_key("read", Some("alpha")).await;
    for (query, status) in [
        (
            "from=1000-01-01T00:00:00Z&to=9000-01-01T00:00:00Z&granularity=hour&tz=Asia/Kathmandu",
            400,
        ),
        (
            "from=1926-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&granularity=hour",
            400,
        ),
        (
            "from=1000-01-01T00:00:00Z&to=9000-01-01T00:00:00Z&granularity=day",
            400,
        ),
        (
            "from=0001-01-01T00:00:00Z&to=9999-01-01T00:00:00Z&granularity=week",
            400,
        ),
        // Up to 100,000 buckets are answered: over eleven years by the hour, centuries by the month.
        (
            "from=2016-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&granularity=hour",
            200,
        ),
        (
            "from=1000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&granularity=month",
            200,
        ),
        // Without buckets, any range.
        ("from=0001-01-01T00:00:00Z&to=9999-01-01T00:00:00Z", 200),
    ] {
        let response = app.get_with(&key, &format!("/v1/spend?{query}")).await;
        assert_eq!(response.status(), status, "{query}");
        if status == 400 {
            assert_error_shape(&response.json().await.unwrap(), "invalid_query", query);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SQL is built from bind parameters only
// ---------------------------------------------------------------------------------------------

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every piece of SQL text that is not a literal is one of these reviewed names, each bound to a
/// constant chosen in code (a table or column name, a numbered alias, a date-derived partition
/// name): never a value from a request. A new interpolation fails here until it is reviewed.
const REVIEWED_NAMES: &[&str] = &[
    // store/spend: table, column and alias names picked by match arms, `d{i}` aliases.
    "time",
    "i",
    "sign",
    "metric",
    "table",
    "column",
    "first",
    "first_currency",
    "second",
    "second_currency",
    // store/partitions: DDL of a monthly partition, from dates computed in code.
    "name",
    "start",
    "end",
    // embedded_postgres: the constant database name.
    "DATABASE",
];

/// Positional `{}` arguments of SQL format strings: a granularity's fixed unit name and the ORDER
/// BY list made of fixed column names.
const REVIEWED_POSITIONAL: &[&str] = &["granularity.unit()", "order.join(\", \")"];

#[test]
fn sql_text_is_built_only_from_literals_and_reviewed_names() {
    let mut files = Vec::new();
    rust_files(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut dynamic = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let builds_queries = text.contains("QueryBuilder");
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let next = lines.get(n + 1).map(|l| l.trim()).unwrap_or("");
            let mut code = line.trim().to_owned();
            if code.starts_with("//") {
                continue;
            }
            // A format string that starts on the next line belongs to this one.
            if code.ends_with("format!(") || code.ends_with("format_args!(") {
                code.push_str(next);
            }
            let here = format!("{}:{}", file.display(), n + 1);
            // Non-macro queries must take a literal.
            for call in [
                "sqlx::query(",
                "sqlx::query_as(",
                "sqlx::query_scalar(",
                "raw_sql(",
            ] {
                if let Some(at) = code.find(call) {
                    let rest = code[at + call.len()..].trim_start();
                    let starts_literal = |s: &str| s.starts_with('"') || s.starts_with("r#\"");
                    if !(starts_literal(rest) || (rest.is_empty() && starts_literal(next))) {
                        dynamic.push(format!("{here}: {code}"));
                    }
                }
            }
            // Interpolation into SQL text: format!/format_args! in QueryBuilder pushes or next to
            // SQL keywords.
            let sqlish = (builds_queries && code.contains(".push("))
                || [
                    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "WHERE", " FROM ",
                ]
                .iter()
                .any(|k| code.contains(k));
            if sqlish && (code.contains("format!(") || code.contains("format_args!(")) {
                let (named, positional) = placeholders(&code);
                for name in named {
                    assert!(
                        REVIEWED_NAMES.contains(&name.as_str()),
                        "{here}: SQL interpolates {{{name}}}; bind it with push_bind/$n instead: {code}"
                    );
                }
                if positional > 0 {
                    assert!(
                        REVIEWED_POSITIONAL.iter().any(|p| code.contains(p)),
                        "{here}: SQL interpolates a positional argument; bind it instead: {code}"
                    );
                }
                checked += 1;
            }
            // Values of a request reach a QueryBuilder only through push_bind.
            if builds_queries
                && code.contains(".push(")
                && ["query.", "params.", "filter."].iter().any(|v| code.contains(v))
                && !code.contains("push_bind")
            {
                panic!("{here}: a query value pushed as SQL text: {code}");
            }
        }
    }
    assert!(
        checked > 10,
        "the scan found too few SQL format strings ({checked}); is it still looking?"
    );
    // The non-literal queries are the partition DDL and the embedded cluster's CREATE DATABASE.
    assert_eq!(dynamic.len(), 2, "{dynamic:#?}");
    assert!(
        dynamic.iter().any(|d| d.contains("partitions.rs")),
        "{dynamic:#?}"
    );
    assert!(
        dynamic.iter().any(|d| d.contains("embedded_postgres.rs")),
        "{dynamic:#?}"
    );
}

/// The named placeholders inside the string literals of a line (format spec removed), and how
/// many positional `{}` there are.
fn placeholders(line: &str) -> (Vec<String>, usize) {
    let chars: Vec<char> = line.chars().collect();
    let (mut named, mut positional) = (Vec::new(), 0);
    let mut in_string = false;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if in_string => i += 1,
            '"' => in_string = !in_string,
            '{' if in_string && chars.get(i + 1) == Some(&'{') => i += 1,
            '{' if in_string => {
                let end = (i..chars.len()).find(|&j| chars[j] == '}').unwrap_or(chars.len());
                let inner: String = chars[i + 1..end].iter().collect();
                let name = inner.split(':').next().unwrap_or("").trim().to_owned();
                if name.is_empty() {
                    positional += 1;
                } else {
                    named.push(name);
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    (named, positional)
}
