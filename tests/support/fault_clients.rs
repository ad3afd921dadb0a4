//! The clients of the fault tests: each sends its batches until each is answered 200, counting
//! what it saw (acknowledged ids, outcomes, failures, 503s, every request's time) in one `Tally`;
//! and the end-state check every test shares.

use crate::workload::{batch_body, spend_once_fresh, stored, Ev, Totals, TEAM};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The answer to one POST /v1/events.
pub enum Answer {
    /// 200 with its report.
    Ok(Value),
    /// Another status, with its Retry-After header.
    Status(u16, Option<String>),
    /// No answer (connection refused or cut).
    Failed,
}

pub async fn post(client: &reqwest::Client, address: &str, key: &str, body: &Value) -> Answer {
    let sent = client
        .post(format!("{address}/v1/events"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(_) => return Answer::Failed,
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if status != 200 {
        return Answer::Status(status, retry_after);
    }
    // The process may die between the headers and the body: then there is no answer.
    match response.json::<Value>().await {
        Ok(report) => Answer::Ok(report),
        Err(_) => Answer::Failed,
    }
}

/// What the clients of a test saw, all together.
#[derive(Default)]
pub struct Tally {
    /// Ids of events in batches answered 200.
    pub acked: Mutex<HashSet<String>>,
    pub acked_events: AtomicUsize,
    pub accepted: AtomicUsize,
    pub duplicates: AtomicUsize,
    pub requests: AtomicUsize,
    /// Requests that got no answer (process killed, connection refused).
    pub failed: AtomicUsize,
    /// 503 answers (all with Retry-After, else they are in `unexpected`).
    pub unavailable: AtomicUsize,
    pub in_flight: AtomicUsize,
    /// Requests sent again after a 200 (as after a lost answer) or after a failure.
    pub retries: AtomicUsize,
    /// Answers no client should see, described.
    pub unexpected: Mutex<Vec<String>>,
    /// (when sent, how long it took, status; 0 for no answer) of every request.
    pub samples: Mutex<Vec<(Instant, Duration, u16)>>,
}

impl Tally {
    pub fn ack(&self, batch: &[Ev], report: &Value) {
        let accepted = report["accepted"].as_u64().unwrap() as usize;
        let duplicates = report["duplicates"].as_u64().unwrap() as usize;
        if report["rejected"].as_array().is_none_or(|r| !r.is_empty()) || accepted + duplicates != batch.len()
        {
            self.unexpected
                .lock()
                .unwrap()
                .push(format!("batch of {}: {report}", batch.len()));
        }
        self.accepted.fetch_add(accepted, SeqCst);
        self.duplicates.fetch_add(duplicates, SeqCst);
        self.acked_events.fetch_add(batch.len(), SeqCst);
        self.acked
            .lock()
            .unwrap()
            .extend(batch.iter().map(|e| e.id.clone()));
    }

    pub fn unexpected(&self, what: String) {
        self.unexpected.lock().unwrap().push(what);
    }

    /// Sends `batch` to `address()` until it is answered 200. `wait_503` is how long to wait
    /// after a 503 (`None`: what Retry-After says).
    pub async fn send_until_acked(
        &self,
        client: &reqwest::Client,
        mut address: impl FnMut() -> String,
        key: &str,
        batch: &[Ev],
        wait_503: Option<Duration>,
    ) {
        let body = batch_body(batch, TEAM);
        for attempt in 0.. {
            if attempt > 0 {
                self.retries.fetch_add(1, SeqCst);
            }
            let started = Instant::now();
            self.in_flight.fetch_add(1, SeqCst);
            self.requests.fetch_add(1, SeqCst);
            let answer = post(client, &address(), key, &body).await;
            self.in_flight.fetch_sub(1, SeqCst);
            let status = match &answer {
                Answer::Ok(_) => 200,
                Answer::Status(status, _) => *status,
                Answer::Failed => 0,
            };
            self.samples
                .lock()
                .unwrap()
                .push((started, started.elapsed(), status));
            let pause = match answer {
                Answer::Ok(report) => return self.ack(batch, &report),
                Answer::Status(503, Some(retry_after)) => {
                    self.unavailable.fetch_add(1, SeqCst);
                    let asked = Duration::from_secs(retry_after.parse().unwrap());
                    wait_503.unwrap_or(asked)
                }
                Answer::Status(status, retry_after) => {
                    self.unexpected(format!("status {status}, Retry-After {retry_after:?}"));
                    Duration::from_millis(100)
                }
                Answer::Failed => {
                    self.failed.fetch_add(1, SeqCst);
                    Duration::from_millis(20)
                }
            };
            tokio::time::sleep(pause).await;
        }
    }

    pub fn assert_nothing_unexpected(&self) {
        let unexpected = self.unexpected.lock().unwrap();
        assert!(
            unexpected.is_empty(),
            "{} unexpected answers, e.g. {:?}",
            unexpected.len(),
            &unexpected[..unexpected.len().min(5)]
        );
    }
}

/// Polls `done` every 10 ms until it holds; panics with `what` after `limit`.
pub async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "gave up after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn join_all(clients: Vec<tokio::task::JoinHandle<()>>, limit: Duration) {
    tokio::time::timeout(limit, async {
        for client in clients {
            client.await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the clients did not finish within {limit:?}"));
}

/// Asserts the database and `GET /v1/spend` hold exactly `events`, each once.
pub async fn assert_exact(database_url: &str, address: &str, read_key: &str, events: &[Ev]) -> Totals {
    let expected = Totals::of(events);
    let n = events.len() as i64;
    let db = stored(database_url).await;
    assert_eq!(
        (db.rows, db.distinct_ids, db.keys),
        (n, n, n),
        "stored rows, distinct ids, idempotency keys"
    );
    assert_eq!(db.cost, expected.cost, "sum of stored costs");
    let spend = spend_once_fresh(address, read_key, expected.requests).await;
    assert_eq!(spend, expected, "GET /v1/spend at {address}");
    spend
}
