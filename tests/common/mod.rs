//! The test harness: the real server on a real socket (port 0), against a fresh database per test.
//! With `DATABASE_URL` set, test databases are made on that server; otherwise on a private cluster
//! started once from the installed PostgreSQL binaries (shared by the test processes, left running
//! for the next run).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use tokenledger::config::Config;
use tokenledger::embedded_postgres::EmbeddedPostgres;
use tokenledger::startup::Application;

static CLUSTER: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// A URL of a server where tests may create databases, without the database name.
async fn server_url() -> String {
    CLUSTER
        .get_or_init(|| async {
            if let Ok(url) = std::env::var("DATABASE_URL") {
                return url;
            }
            let dir = std::env::temp_dir().join("tokenledger-test-postgres");
            std::fs::create_dir_all(&dir).unwrap();
            let lock =
                std::fs::File::create(std::env::temp_dir().join("tokenledger-test-postgres.lock")).unwrap();
            lock.lock().unwrap();
            let cluster = EmbeddedPostgres::start(&dir)
                .await
                .expect("starting the test PostgreSQL cluster");
            lock.unlock().unwrap();
            cluster.url_for("postgres")
        })
        .await
        .clone()
}

/// Drops test databases left by runs more than an hour ago (their names carry their creation time),
/// so a shared server does not fill up. Databases still in use refuse to drop and are left alone.
async fn drop_stale_databases(server: &str) {
    use sqlx::{ConnectOptions, Connection, Executor};
    let Ok(mut conn) = sqlx::postgres::PgConnectOptions::from_str(server)
        .unwrap()
        .connect()
        .await
    else {
        return;
    };
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'tl_test_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    for name in names {
        let created = name
            .split('_')
            .nth(2)
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0);
        if now - created > 3600 {
            let _ = conn
                .execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
                .await;
        }
    }
    let _ = conn.close().await;
}

static CLEANUP: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

fn with_database(url: &str, database: &str) -> String {
    // Replace the path component (the database name), keeping query parameters such as host=.
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..path_start], database);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Creates an empty database and returns its URL.
pub async fn fresh_database() -> String {
    use sqlx::{ConnectOptions, Connection, Executor};
    let server = server_url().await;
    CLEANUP.get_or_init(|| drop_stale_databases(&server)).await;
    let name = format!(
        "tl_test_{}_{:016x}",
        chrono::Utc::now().timestamp(),
        rand::random::<u64>()
    );
    let mut conn = sqlx::postgres::PgConnectOptions::from_str(&server)
        .unwrap()
        .connect()
        .await
        .unwrap();
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    conn.close().await.unwrap();
    with_database(&server, &name)
}

/// A running service.
pub struct TestApp {
    pub address: String,
    pub admin_key: String,
    pub database_url: String,
    pub client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

/// The configuration tests start from.
pub fn test_config(database_url: &str, admin_key: &str) -> Config {
    let mut config = Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some(database_url.to_owned()),
        "TOKENLEDGER_LISTEN" => Some("127.0.0.1:0".to_owned()),
        "TOKENLEDGER_ADMIN_KEY" => Some(admin_key.to_owned()),
        "TOKENLEDGER_HTTP_WORKERS" => Some("2".to_owned()),
        "TOKENLEDGER_WRITER_CONNECTIONS" => Some("2".to_owned()),
        "TOKENLEDGER_DB_POOL_SIZE" => Some("4".to_owned()),
        _ => None,
    })
    .unwrap();
    config.handle_signals = false;
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the service on a fresh database, after `customize` adjusts the configuration.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Config)) -> TestApp {
    let database_url = fresh_database().await;
    let admin_key = format!("tl_test_admin_{:016x}", rand::random::<u64>());
    let mut config = test_config(&database_url, &admin_key);
    customize(&mut config);
    start(config, admin_key, database_url).await
}

/// Starts the service with this configuration, in a thread and runtime of its own, like a process.
pub async fn start(config: Config, admin_key: String, database_url: String) -> TestApp {
    let (ready, started) = mpsc::channel();
    let thread = std::thread::spawn(move || -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            match Application::build(config).await {
                Ok(app) => {
                    let _ = ready.send(Ok((app.port(), app.handle())));
                    app.run_until_stopped().await
                }
                Err(error) => {
                    let _ = ready.send(Err(format!("{error:#}")));
                    Ok(())
                }
            }
        })
    });
    let (port, handle) = tokio::task::spawn_blocking(move || started.recv().unwrap())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("the service did not start: {e}"));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        admin_key,
        database_url,
        client: reqwest::Client::new(),
        handle,
        thread: Some(thread),
    }
}

impl TestApp {
    /// Stops gracefully and waits until everything (writer, embedded database) has stopped.
    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(thread) = self.thread.take() {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_events_with(&self, key: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/events"))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_events(&self, body: &Value) -> reqwest::Response {
        self.post_events_with(&self.admin_key, body).await
    }

    /// GET with a key. Spend reads come from the rollups, which the serve process brings up to
    /// date every second; so that a test reads what it just wrote, a read of `/v1/spend` or
    /// `/v1/teams` first lets the rollup job catch up (`tests/rollups.rs` checks the job does so
    /// on its own).
    pub async fn get_with(&self, key: &str, path: &str) -> reqwest::Response {
        if path.starts_with("/v1/spend") || path.starts_with("/v1/teams") {
            self.rollup().await;
        }
        self.client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.get_with(&self.admin_key, path).await
    }

    /// GET, expecting 200 and JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// Creates a key and returns its secret.
    pub async fn create_key(&self, scope: &str, team: Option<&str>) -> String {
        let response = self
            .client
            .post(self.url("/v1/keys"))
            .bearer_auth(&self.admin_key)
            .json(&json!({"name": format!("{scope} key"), "scope": scope, "team": team}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.unwrap()["key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Puts price rows (per million tokens), expecting success.
    pub async fn put_prices(&self, prices: Value) {
        let response = self
            .client
            .put(self.url("/v1/prices"))
            .bearer_auth(&self.admin_key)
            .json(&json!({ "prices": prices }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    /// Runs rollup passes until every event acknowledged so far is in the rollups.
    /// Without a database URL (the embedded cluster's tests) this does nothing: those tests wait
    /// for the serve process's own rollup job.
    pub async fn rollup(&self) -> tokenledger::jobs::rollup::PassReport {
        if self.database_url.is_empty() {
            return Default::default();
        }
        let pool = self.db().await;
        let report = tokenledger::jobs::rollup::catch_up(&pool, std::time::Duration::from_secs(30))
            .await
            .unwrap();
        pool.close().await;
        report
    }

    /// Direct database access for assertions.
    pub async fn db(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.database_url).await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command at once (the returned future only waits for completion).
        drop(self.handle.stop(true));
    }
}

/// A canonical event with the given id, team and usage, at a fixed recent time.
pub fn event(id: &str, team: &str, provider: &str, model: &str, usage: Value) -> Value {
    json!({
        "id": id,
        "timestamp": "2026-11-02T10:00:00Z",
        "team": team,
        "provider": provider,
        "model": model,
        "usage": usage,
    })
}

/// A fixture of this repository.
pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}
