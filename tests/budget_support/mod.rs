//! Helpers of the budget tests: a real local webhook receiver (a tiny actix-web server on port 0),
//! budget and event shorthands, and driving the evaluator and the delivery job with `run_once`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::TestApp;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokenledger::config::CostSource;
use tokenledger::jobs::webhooks::DeliverySettings;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub signature: Option<String>,
    pub alert_id: Option<String>,
    pub body: Vec<u8>,
    /// Whether the receiver answered 2xx.
    pub accepted: bool,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Shared {
    hits: Mutex<Vec<Hit>>,
    fail_first: AtomicUsize,
}

/// A webhook receiver that records every request and answers 500 to the first `fail_first`.
pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
    handle: actix_web::dev::ServerHandle,
}

async fn record(req: HttpRequest, body: web::Bytes, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let fail = shared
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    shared.hits.lock().unwrap().push(Hit {
        signature: header("x-tokenledger-signature"),
        alert_id: header("x-tokenledger-alert-id"),
        body: body.to_vec(),
        accepted: !fail,
    });
    if fail {
        HttpResponse::InternalServerError().body("try again")
    } else {
        HttpResponse::Ok().body("ok")
    }
}

impl Receiver {
    /// Starts a receiver in a thread of its own.
    pub async fn start(fail_first: usize) -> Self {
        let shared = Arc::new(Shared::default());
        shared.fail_first.store(fail_first, Ordering::SeqCst);
        let (ready, started) = mpsc::channel();
        let data = shared.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let data = web::Data::new(data);
                let server = HttpServer::new(move || {
                    App::new().app_data(data.clone()).default_service(web::to(record))
                })
                .workers(1)
                .disable_signals()
                .bind("127.0.0.1:0")
                .unwrap();
                let port = server.addrs()[0].port();
                let server = server.run();
                ready.send((port, server.handle())).unwrap();
                server.await.unwrap();
            });
        });
        let (port, handle) = tokio::task::spawn_blocking(move || started.recv().unwrap())
            .await
            .unwrap();
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            shared,
            handle,
        }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// The requests answered 2xx.
    pub fn accepted(&self) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.accepted).collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// `sha256=<hex>` of the body with the secret, computed independently of the server's code.
pub fn expected_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delivery settings that do not make tests wait: 10 ms backoff, doubling up to 100 ms.
pub fn fast_delivery() -> DeliverySettings {
    DeliverySettings {
        timeout: Duration::from_secs(5),
        backoff: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        max_attempts: 5,
        batch: 100,
    }
}

/// Starts the service with fast webhook retries.
pub async fn spawn_budget_app() -> TestApp {
    crate::common::spawn_app_with(|c| c.webhooks = fast_delivery()).await
}

/// POSTs a budget, expecting 201; returns the answer.
pub async fn create_budget(app: &TestApp, body: Value) -> Value {
    let response = app
        .client
        .post(app.url("/v1/budgets"))
        .bearer_auth(&app.admin_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{answer}");
    answer
}

/// Sends events of an unpriced model with these reported costs (decimal strings): spend counts the
/// reported cost of unpriced events, so each event costs exactly what it says.
pub async fn spend(app: &TestApp, team: &str, at: DateTime<Utc>, costs: &[&str]) {
    let events: Vec<Value> = costs
        .iter()
        .map(|cost| {
            json!({
                "id": format!("ev_{:016x}", rand::random::<u64>()),
                "timestamp": at.to_rfc3339(),
                "team": team,
                "provider": "acme",
                "model": "acme-unpriced",
                "usage": {"input_tokens": 1, "output_tokens": 1},
                "cost": cost,
            })
        })
        .collect();
    let response = app.post_events(&Value::Array(events)).await;
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["accepted"], costs.len(), "{report}");
}

/// A moment a little before now (events may not be in the future).
pub fn just_now() -> DateTime<Utc> {
    Utc::now() - chrono::TimeDelta::seconds(2)
}

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// Catches the rollups up, then runs the evaluator at `now`; returns the alerts it created.
pub async fn evaluate_at(app: &TestApp, now: DateTime<Utc>) -> usize {
    app.rollup().await;
    let pool = app.db().await;
    let report = tokenledger::jobs::budget_alerts::evaluate(&pool, CostSource::Computed, None, now)
        .await
        .unwrap();
    pool.close().await;
    report.fired
}

pub async fn evaluate(app: &TestApp) -> usize {
    evaluate_at(app, Utc::now()).await
}

/// Runs delivery passes until nothing is pending (or 20 s pass).
pub async fn deliver_all(pool: &sqlx::PgPool) {
    let settings = fast_delivery();
    let client = tokenledger::jobs::webhooks::client(&settings).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        tokenledger::jobs::webhooks::run_once_with(pool, &client, &settings)
            .await
            .unwrap();
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM alert_deliveries WHERE state = 'pending'")
                .fetch_one(pool)
                .await
                .unwrap();
        if pending == 0 || tokio::time::Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The alerts listed by the API (newest first), optionally of one budget.
pub async fn alerts(app: &TestApp, budget: Option<i64>) -> Vec<Value> {
    let path = match budget {
        Some(id) => format!("/v1/alerts?budget={id}"),
        None => "/v1/alerts".to_owned(),
    };
    app.get_json(&path).await["alerts"].as_array().unwrap().clone()
}
