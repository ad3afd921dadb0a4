//! Resource bounds under sustained overload: the real `tokenledger serve` process, a tiny writer
//! queue, a database whose commits stall (the test holds a lock on `event_keys`), and many
//! clients that never back off. Load is shed with 429/503 and Retry-After, never a hung request
//! or another 5xx; the process stays up, recovers, and its peak RSS stays under a generous bound.
//! A resource-correctness check, not a speed test: no throughput or latency is asserted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use serde_json::{json, Value};
use sqlx::{Connection, Executor};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ADMIN_KEY: &str = "tl_overload_admin_0123456789abcdef";
const CLIENTS: usize = 128;
const EVENTS_PER_REQUEST: usize = 20;
/// Commits stall for this long, then the lock is released and the service must recover.
const STALLED: Duration = Duration::from_secs(3);
const RECOVERING: Duration = Duration::from_secs(2);
/// A request not answered within this long counts as hung.
const HUNG: Duration = Duration::from_secs(10);
const PEAK_RSS_BOUND_KB: u64 = 300 * 1024;

struct Service {
    child: Child,
    url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    fn status_field(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with(field))
            .unwrap_or_else(|| panic!("no {field} in /proc status"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

async fn start_service(database_url: &str) -> Service {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_tokenledger"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("TOKENLEDGER_LISTEN", format!("127.0.0.1:{port}"))
        .env("TOKENLEDGER_ADMIN_KEY", ADMIN_KEY)
        // A tiny queue and one writer connection: overload comes quickly.
        .env("TOKENLEDGER_WRITER_QUEUE_EVENTS", "200")
        .env("TOKENLEDGER_WRITER_CONNECTIONS", "1")
        .env("TOKENLEDGER_DB_TIMEOUT_MS", "500")
        .env("TOKENLEDGER_HTTP_WORKERS", "2")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting tokenledger serve");
    let service = Service {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client.get(format!("{}/readyz", service.url)).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return service;
        }
        assert!(Instant::now() < deadline, "the service did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn batch(client: usize, n: u64) -> Vec<u8> {
    let events: Vec<Value> = (0..EVENTS_PER_REQUEST)
        .map(|i| {
            json!({
                "id": format!("c{client}-r{n}-e{i}"),
                "timestamp": "2026-11-02T10:00:00Z",
                "team": format!("team{}", client % 8),
                "provider": "openai",
                "model": "gpt-4o",
                "usage": {"input_tokens": 1000, "output_tokens": 10},
            })
        })
        .collect();
    serde_json::to_vec(&events).unwrap()
}

#[derive(Default)]
struct Tally {
    statuses: BTreeMap<u16, u64>,
    shed_without_retry_after: u64,
    bad_bodies: Vec<String>,
    hung: u64,
    transport_errors: Vec<String>,
    slowest: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_overload_is_shed_with_429_and_503_and_memory_stays_bounded() {
    let database_url = common::fresh_database().await;
    let service = start_service(&database_url).await;
    let rss_at_start = service.status_field("VmRSS:");

    // Commits stall: every insert into event_keys waits for this transaction (reads do not).
    let mut locker = sqlx::PgConnection::connect(&database_url).await.unwrap();
    locker.execute("BEGIN").await.unwrap();
    locker
        .execute("LOCK TABLE event_keys IN EXCLUSIVE MODE")
        .await
        .unwrap();

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .timeout(HUNG)
        .build()
        .unwrap();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let url = format!("{}/v1/events", service.url);
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (client, tally, stop, sent, url) = (
            client.clone(),
            tally.clone(),
            stop.clone(),
            sent.clone(),
            url.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                sent.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                let answer = client
                    .post(&url)
                    .bearer_auth(ADMIN_KEY)
                    .header("content-type", "application/json")
                    .body(batch(c, n))
                    .send()
                    .await;
                let response = match answer {
                    Ok(response) => response,
                    Err(error) => {
                        let mut t = tally.lock().unwrap();
                        if error.is_timeout() {
                            t.hung += 1;
                        } else {
                            t.transport_errors.push(error.to_string());
                        }
                        continue;
                    }
                };
                let status = response.status().as_u16();
                let retry_after = response.headers().contains_key("retry-after");
                let body = response.text().await.unwrap_or_default();
                let elapsed = started.elapsed();
                let mut t = tally.lock().unwrap();
                *t.statuses.entry(status).or_default() += 1;
                t.slowest = t.slowest.max(elapsed);
                if matches!(status, 429 | 503) && !retry_after {
                    t.shed_without_retry_after += 1;
                }
                let expected_code = match status {
                    200 => None,
                    429 => Some("overloaded"),
                    503 => Some("database_unavailable"),
                    _ => Some("(unexpected status)"),
                };
                if let Some(code) = expected_code {
                    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    if parsed["error"]["code"] != code && t.bad_bodies.len() < 5 {
                        t.bad_bodies.push(format!("{status}: {body}"));
                    }
                }
            }
        }));
    }

    // Sample RSS while overloaded (the peak is VmHWM anyway; this shows the curve).
    let mut rss_samples = Vec::new();
    let started = Instant::now();
    while started.elapsed() < STALLED {
        tokio::time::sleep(Duration::from_millis(250)).await;
        rss_samples.push(service.status_field("VmRSS:"));
    }
    let stalled_counts = tally.lock().unwrap().statuses.clone();
    // Writes the service gave up on were cancelled by the server (statement and lock timeouts on
    // the writer's connections), not left waiting behind the lock to land late: at most the one
    // writer connection's current statement waits.
    let waiting: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(&mut locker)
    .await
    .unwrap();
    assert!(waiting <= 1, "{waiting} sessions wait behind the lock");
    // The database comes back: the same clients keep pushing.
    locker.execute("ROLLBACK").await.unwrap();
    locker.close().await.unwrap();
    while started.elapsed() < STALLED + RECOVERING {
        tokio::time::sleep(Duration::from_millis(250)).await;
        rss_samples.push(service.status_field("VmRSS:"));
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let duration = started.elapsed();

    let peak_kb = service.status_field("VmHWM:");
    let t = std::mem::take(&mut *tally.lock().unwrap());
    let count = |s: u16| t.statuses.get(&s).copied().unwrap_or(0);
    println!(
        "overload: {CLIENTS} clients x {EVENTS_PER_REQUEST} events/request for {duration:.1?} \
         ({STALLED:?} with commits stalled, then {RECOVERING:?} recovering); {} requests",
        sent.load(Ordering::Relaxed)
    );
    println!(
        "overload: 200: {}, 429: {}, 503: {}, other: {:?}; while stalled: {stalled_counts:?}",
        count(200),
        count(429),
        count(503),
        t.statuses
            .iter()
            .filter(|(s, _)| !matches!(s, 200 | 429 | 503))
            .collect::<Vec<_>>()
    );
    println!(
        "overload: peak RSS (VmHWM) {} MiB; RSS at start {} MiB, samples (MiB) {:?}; slowest answer {:.2?}",
        peak_kb / 1024,
        rss_at_start / 1024,
        rss_samples.iter().map(|kb| kb / 1024).collect::<Vec<_>>(),
        t.slowest
    );

    // Load was shed, with Retry-After, in the one error shape.
    assert!(count(429) > 0, "no 429 under overload: {:?}", t.statuses);
    assert!(count(503) > 0, "no 503 while commits stalled: {:?}", t.statuses);
    assert_eq!(t.shed_without_retry_after, 0);
    assert!(t.bad_bodies.is_empty(), "{:?}", t.bad_bodies);
    // Nothing else: no 5xx but 503, no other refusal, no hung request, no dropped connection.
    let others: Vec<_> = t
        .statuses
        .iter()
        .filter(|(s, _)| !matches!(s, 200 | 429 | 503))
        .collect();
    assert!(others.is_empty(), "unexpected statuses: {others:?}");
    assert_eq!(t.hung, 0, "requests not answered within {HUNG:?}");
    assert!(
        t.transport_errors.is_empty(),
        "{:?}",
        &t.transport_errors[..t.transport_errors.len().min(5)]
    );
    // It recovered: events were acknowledged after the database came back.
    assert!(count(200) > stalled_counts.get(&200).copied().unwrap_or(0));
    // The process is up, healthy, and takes a write.
    let mut service = service;
    assert!(service.child.try_wait().unwrap().is_none(), "the service exited");
    let health = client
        .get(format!("{}/healthz", service.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let last = client
        .post(&url)
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/json")
        .body(batch(9999, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(last.status(), 200);
    // Memory stayed bounded.
    assert!(
        peak_kb < PEAK_RSS_BOUND_KB,
        "peak RSS {} MiB is over the bound of {} MiB",
        peak_kb / 1024,
        PEAK_RSS_BOUND_KB / 1024
    );
}
