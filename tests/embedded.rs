//! The embedded default database: created on first start, data kept across restarts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::event;
use serde_json::{json, Value};
use sqlx::Connection;
use tokenledger::config::DatabaseConfig;

#[tokio::test]
async fn the_embedded_cluster_keeps_data_across_restarts() {
    let dir = std::env::temp_dir().join(format!("tokenledger-embedded-{:016x}", rand::random::<u64>()));
    let admin = "tl_test_embedded_admin".to_owned();
    let config = || {
        let mut config = common::test_config("unused", &admin);
        config.database = DatabaseConfig::Embedded {
            data_dir: dir.join("postgres"),
        };
        config
    };

    let app = common::start(config(), admin.clone(), String::new()).await;
    let body: Value = app
        .post_events(&event("a", "t", "openai", "gpt-4o", json!({"input_tokens": 7})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["accepted"], 1);
    app.stop().await;
    assert!(dir.join("postgres/cluster/PG_VERSION").exists());

    let app = common::start(config(), admin.clone(), String::new()).await;
    // The serve process's own rollup job brings spend up to date within a few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let spend = app
            .get_json("/v1/spend?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z")
            .await;
        if spend["total"]["input_tokens"] == 7 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "spend never showed the event: {spend}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let again: Value = app
        .post_events(&event("a", "t", "openai", "gpt-4o", json!({"input_tokens": 7})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["duplicates"], 1);
    app.stop().await;

    // The cluster asks the kernel to write back what its backends write as they go, so the page
    // cache does not flush hundreds of megabytes at once behind the WAL's fsync (README,
    // Performance).
    let cluster = tokenledger::embedded_postgres::EmbeddedPostgres::start(&dir.join("postgres"))
        .await
        .unwrap();
    let mut conn = sqlx::PgConnection::connect(&cluster.url_for("postgres"))
        .await
        .unwrap();
    let flush_after: String = sqlx::query_scalar("SHOW backend_flush_after")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(flush_after, "256kB");
    conn.close().await.unwrap();
    cluster.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}
