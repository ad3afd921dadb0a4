//! Importing LiteLLM's price map: over HTTP and with `tokenledger prices import`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::{event, spawn_app};
use serde_json::{json, Value};

/// A tiny map in LiteLLM's format: numbers as LiteLLM writes them.
fn map(input: &str) -> String {
    format!(
        r#"{{
        "sample_spec": {{"input_cost_per_token": 0}},
        "acme-large": {{"litellm_provider": "acme", "mode": "chat", "input_cost_per_token": {input},
                        "output_cost_per_token": 1.5e-05, "cache_read_input_token_cost": 3e-07,
                        "input_cost_per_token_batches": 1e-06}},
        "acme/acme-large": {{"litellm_provider": "acme", "input_cost_per_token": {input}, "output_cost_per_token": 1.5e-05}},
        "acme-image": {{"litellm_provider": "acme", "output_cost_per_image": 0.04}}
    }}"#
    )
}

async fn import(app: &common::TestApp, body: String, query: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/prices/import{query}")))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn importing_a_new_model_prices_all_history_and_reimporting_changes_nothing() {
    let app = spawn_app().await;
    let response = import(&app, map("3e-06"), "").await;
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["imported"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["imported"][0]["model"], "acme-large");
    assert_eq!(report["imported"][0]["effective_from"], "1970-01-01T00:00:00Z");
    assert_eq!(report["imported"][0]["rows"], 2); // standard and batch
    assert_eq!(report["merged"][0]["keys"].as_array().unwrap().len(), 2);
    let skipped: Vec<&str> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert!(
        skipped.contains(&"acme-image") && skipped.contains(&"sample_spec"),
        "{skipped:?}"
    );

    let again: Value = import(&app, map("3e-06"), "").await.json().await.unwrap();
    assert_eq!(again["imported"], json!([]));
    assert_eq!(again["rows_added"], 0);

    // An old event is priced by the imported price: 1000 × $3 + 100 × $15 = 4500 per million.
    let mut old = event(
        "old",
        "t",
        "acme",
        "acme-large",
        json!({"input_tokens": 1000, "output_tokens": 100}),
    );
    old["timestamp"] = json!("2024-01-01T00:00:00Z");
    app.post_events(&old).await;
    let listed = app.get_json("/v1/events").await;
    assert_eq!(listed["events"][0]["cost"], "0.0045");
}

#[tokio::test]
async fn a_changed_price_applies_from_now_or_from_the_given_date() {
    let app = spawn_app().await;
    import(&app, map("3e-06"), "").await;
    let changed: Value = import(&app, map("2e-06"), "").await.json().await.unwrap();
    let from = changed["imported"][0]["effective_from"].as_str().unwrap();
    assert_ne!(from, "1970-01-01T00:00:00Z");
    let dated: Value = import(&app, map("1e-06"), "?effective_from=2030-01-01T00:00:00Z")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dated["imported"][0]["effective_from"], "2030-01-01T00:00:00Z");
    let prices = app.get_json("/v1/prices?provider=acme&model=acme-large").await;
    let standard: Vec<&str> = prices["prices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["service_tier"] == "standard")
        .map(|p| p["input"].as_str().unwrap())
        .collect();
    assert_eq!(standard, ["1", "2", "3"]);
}

#[tokio::test]
async fn a_file_that_is_not_a_price_map_is_a_400() {
    let app = spawn_app().await;
    let response = import(&app, "[1, 2]".into(), "").await;
    assert_eq!(response.status(), 400);
    let read = app.create_key("read", None).await;
    let forbidden = app
        .client
        .post(app.url("/v1/prices/import"))
        .bearer_auth(read)
        .body(map("3e-06"))
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
}

#[tokio::test]
async fn the_prices_import_command_imports_a_file() {
    let database_url = common::fresh_database().await;
    let file = std::env::temp_dir().join(format!("tl-import-{:016x}.json", rand::random::<u64>()));
    std::fs::write(&file, map("3e-06")).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tokenledger"))
        .args(["prices", "import"])
        .arg(&file)
        .env("DATABASE_URL", &database_url)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["imported"][0]["model"], "acme-large");
    let db = sqlx::PgPool::connect(&database_url).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM prices WHERE provider = 'acme'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(rows, 2);
    std::fs::remove_file(file).ok();
}
