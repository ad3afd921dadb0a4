//! The workload of the fault tests: events with seeded random usage of one model whose price the
//! test sets, their cost computed here independently (Decimal, never floats), the keys and price
//! a test needs, and what the service and the database say afterwards.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use rand::Rng;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The team of every event.
pub const TEAM: &str = "faults";
pub const PROVIDER: &str = "acme";
pub const MODEL: &str = "meter-1";
/// Rates per million tokens, as sent to `PUT /v1/prices`.
const INPUT_RATE: &str = "3.1";
const CACHE_READ_RATE: &str = "0.31";
const OUTPUT_RATE: &str = "15.7";
/// The spend query covering every event of the workload.
pub const RANGE: &str = "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z";

/// One event of the workload.
#[derive(Debug, Clone)]
pub struct Ev {
    pub id: String,
    pub at: DateTime<Utc>,
    pub input: u64,
    pub cache_read: u64,
    pub output: u64,
}

impl Ev {
    /// An event with random usage at a random minute of 2026-11-02..05.
    pub fn random(id: String, rng: &mut impl Rng) -> Self {
        let start = DateTime::parse_from_rfc3339("2026-11-02T00:00:00Z")
            .unwrap()
            .to_utc();
        let input = rng.random_range(1..=20_000u64);
        Self {
            id,
            at: start + TimeDelta::minutes(rng.random_range(0..3 * 24 * 60)),
            input,
            cache_read: rng.random_range(0..=input / 2),
            output: rng.random_range(0..=4_000u64),
        }
    }

    pub fn json(&self, team: &str) -> Value {
        json!({
            "id": self.id,
            "timestamp": self.at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "team": team,
            "provider": PROVIDER,
            "model": MODEL,
            "usage": {
                "input_tokens": self.input,
                "cache_read_tokens": self.cache_read,
                "output_tokens": self.output,
            },
        })
    }

    /// The cost by the SPEC's formula, worked out here rather than by the service.
    pub fn cost(&self) -> Decimal {
        let per_token = |rate: &str| Decimal::from_str(rate).unwrap() / Decimal::from(1_000_000);
        Decimal::from(self.input - self.cache_read) * per_token(INPUT_RATE)
            + Decimal::from(self.cache_read) * per_token(CACHE_READ_RATE)
            + Decimal::from(self.output) * per_token(OUTPUT_RATE)
    }
}

/// For each of `clients`, `batches` batches of `batch` new events (ids `c<client>-b<batch>-e<n>`).
pub fn plans(clients: usize, batches: usize, batch: usize, rng: &mut impl Rng) -> Vec<Vec<Vec<Ev>>> {
    (0..clients)
        .map(|c| {
            (0..batches)
                .map(|b| {
                    (0..batch)
                        .map(|e| Ev::random(format!("c{c}-b{b}-e{e}"), rng))
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// The body of a batch.
pub fn batch_body(events: &[Ev], team: &str) -> Value {
    Value::Array(events.iter().map(|e| e.json(team)).collect())
}

/// What spend should say for these (distinct) events.
#[derive(Debug, PartialEq, Eq)]
pub struct Totals {
    pub cost: Decimal,
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Totals {
    pub fn of<'a>(events: impl IntoIterator<Item = &'a Ev>) -> Self {
        let mut totals = Totals {
            cost: Decimal::ZERO,
            requests: 0,
            input_tokens: 0,
            output_tokens: 0,
        };
        for e in events {
            totals.cost += e.cost();
            totals.requests += 1;
            totals.input_tokens += e.input;
            totals.output_tokens += e.output;
        }
        totals
    }

    /// The `total` object of a `GET /v1/spend` answer.
    pub fn from_spend(total: &Value) -> Self {
        Totals {
            cost: Decimal::from_str(total["cost"].as_str().unwrap_or("0")).unwrap(),
            requests: total["requests"].as_u64().unwrap_or(0),
            input_tokens: total["input_tokens"].as_u64().unwrap_or(0),
            output_tokens: total["output_tokens"].as_u64().unwrap_or(0),
        }
    }
}

/// An HTTP client whose timeout is far above any bound the tests assert, so a hung request
/// shows up as a too-slow answer rather than a hung test.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The ingest and read keys of a test, made through the API with the admin key.
pub struct Keys {
    pub ingest: String,
    pub read: String,
}

impl Keys {
    /// Creates an ingest and a read key and puts the workload's price.
    pub async fn create(address: &str, admin: &str) -> Self {
        let client = client();
        let mut secrets = Vec::new();
        for scope in ["ingest", "read"] {
            let response = client
                .post(format!("{address}/v1/keys"))
                .bearer_auth(admin)
                .json(&json!({"name": format!("faults {scope}"), "scope": scope}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            let body: Value = response.json().await.unwrap();
            secrets.push(body["key"].as_str().unwrap().to_owned());
        }
        let response = client
            .put(format!("{address}/v1/prices"))
            .bearer_auth(admin)
            .json(&json!({"prices": [{
                "provider": PROVIDER, "model": MODEL, "effective_from": "2026-01-01T00:00:00Z",
                "input": INPUT_RATE, "cache_read": CACHE_READ_RATE, "output": OUTPUT_RATE,
            }]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        let read = secrets.pop().unwrap();
        let ingest = secrets.pop().unwrap();
        Self { ingest, read }
    }
}

/// Polls `GET /v1/spend` (the serve process's own rollup job brings it up to date) until it
/// counts at least `requests` events, and returns its totals.
pub async fn spend_once_fresh(address: &str, read_key: &str, requests: u64) -> Totals {
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = client
            .get(format!("{address}/v1/spend?{RANGE}"))
            .bearer_auth(read_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        let totals = Totals::from_spend(&body["total"]);
        if totals.requests >= requests {
            return totals;
        }
        assert!(
            Instant::now() < deadline,
            "spend at {address} counted {} of {requests} events after 20 s",
            totals.requests
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the database holds: event rows, distinct event ids, idempotency keys, and the sum of the
/// stored costs.
#[derive(Debug)]
pub struct Stored {
    pub rows: i64,
    pub distinct_ids: i64,
    pub keys: i64,
    pub cost: Decimal,
}

pub async fn stored(database_url: &str) -> Stored {
    let pool = sqlx::PgPool::connect(database_url).await.unwrap();
    let (rows, distinct_ids, cost): (i64, i64, Option<Decimal>) =
        sqlx::query_as("SELECT count(*), count(DISTINCT (team_id, event_id)), sum(cost) FROM events")
            .fetch_one(&pool)
            .await
            .unwrap();
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM event_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    Stored {
        rows,
        distinct_ids,
        keys,
        cost: cost.unwrap_or_default(),
    }
}

/// How many times each stored event id is stored.
pub async fn stored_ids(database_url: &str) -> std::collections::HashMap<String, i64> {
    let pool = sqlx::PgPool::connect(database_url).await.unwrap();
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT event_id, count(*) FROM events GROUP BY event_id")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.into_iter().collect()
}

/// A directory for the serve processes' logs: removed after a passing test, kept (and named)
/// after a failing one.
pub struct LogDir(pub std::path::PathBuf);

impl LogDir {
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tl-faults-{test}-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn file(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for LogDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("serve logs kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
