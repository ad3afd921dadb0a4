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
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN_KEY: &str = "tl_overload_admin_0123456789abcdef";
const CLIENTS: usize = 128;
const EVENTS_PER_REQUEST: usize = 20;
/// Commits stall for this long, then the lock is released and the service must recover.
const STALLED: Duration = Duration::from_secs(3);
const RECOVERING: Duration = Duration::from_secs(2);
/// A request not answered within this long counts as hung.
const HUNG: Duration = Duration::from_secs(10);
const PEAK_RSS_BOUND_KB: u64 = 300 * 1024;

/// The tests here overload a service on purpose; one at a time, so that one's load is not
/// another's stall.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
    start_service_with(
        database_url,
        &[
            // A tiny queue and one writer connection: overload comes quickly.
            ("TOKENLEDGER_WRITER_QUEUE_EVENTS", "200"),
            ("TOKENLEDGER_WRITER_CONNECTIONS", "1"),
        ],
    )
    .await
}

async fn start_service_with(database_url: &str, settings: &[(&str, &str)]) -> Service {
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
        .env("TOKENLEDGER_DB_TIMEOUT_MS", "500")
        .env("TOKENLEDGER_HTTP_WORKERS", "2")
        .env("RUST_LOG", "error")
        .envs(settings.iter().copied())
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

/// One event with this id and team (the same usage every time).
fn usage_event(id: String, team: String) -> Value {
    json!({
        "id": id,
        "timestamp": "2026-11-02T10:00:00Z",
        "team": team,
        "provider": "openai",
        "model": "gpt-4o",
        "usage": {"input_tokens": 1000, "output_tokens": 10},
    })
}

fn batch(client: usize, n: u64) -> Vec<u8> {
    let events: Vec<Value> = (0..EVENTS_PER_REQUEST)
        .map(|i| usage_event(format!("c{client}-r{n}-e{i}"), format!("team{}", client % 8)))
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
    let _serial = ONE_AT_A_TIME.lock().await;
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
    // the writer's connections, 500 ms here), not left waiting behind the lock to land late: no
    // statement has waited for more than twice that. (A writer that timed out drops its
    // connection and opens another; for a moment the old backend still waits beside the new
    // one's statement, until its own lock timeout ends it.)
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT left(query, 80) || ' waiting for ' || (clock_timestamp() - query_start)::text          FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'          AND clock_timestamp() - query_start > interval '1 second'",
    )
    .fetch_all(&mut locker)
    .await
    .unwrap();
    assert!(
        stale.is_empty(),
        "statements left waiting behind the lock: {stale:?}"
    );
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

const BODY_MEMORY: usize = 48 * 1024 * 1024;
const LARGE_CLIENTS: usize = 32;
const LARGE_ROUNDS: usize = 3;
const LARGE_EVENTS: usize = 2_000;
/// Each event is followed by this much JSON whitespace: an 8 MiB body of 2,000 events.
const PADDING: usize = 4 * 1024;
const PIECE: usize = 512 * 1024;

/// A batch of `LARGE_EVENTS` events, about 8 MiB with its padding.
fn large_batch(client: usize, round: usize) -> Vec<u8> {
    let padding = " ".repeat(PADDING);
    let mut body = b"[".to_vec();
    for i in 0..LARGE_EVENTS {
        if i > 0 {
            body.push(b',');
        }
        let event = usage_event(
            format!("large-c{client}-r{round}-e{i}"),
            format!("team{}", client % 4),
        );
        body.extend_from_slice(&serde_json::to_vec(&event).unwrap());
        body.extend_from_slice(padding.as_bytes());
    }
    body.push(b']');
    body
}

/// One answer read off a raw connection.
struct RawAnswer {
    status: u16,
    retry_after: bool,
    body: String,
}

/// Reads one HTTP/1.1 answer with a Content-Length body.
async fn read_answer(reader: &mut tokio::net::tcp::OwnedReadHalf) -> Option<RawAnswer> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                let status = head.split_whitespace().nth(1)?.parse().ok()?;
                return Some(RawAnswer {
                    status,
                    retry_after: head.lines().any(|l| l.starts_with("retry-after:")),
                    body: String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]).into_owned(),
                });
            }
        }
        let n = reader.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// Sends `body` in pieces with pauses (with a Content-Length, or chunked), stopping as soon as
/// the answer arrives (a refused body is answered before it is read).
async fn send_slowly(address: &str, body: &[u8], declared: bool) -> Option<RawAnswer> {
    let stream = tokio::net::TcpStream::connect(address).await.ok()?;
    let (mut reader, mut writer) = stream.into_split();
    let framing = if declared {
        format!("Content-Length: {}\r\n", body.len())
    } else {
        "Transfer-Encoding: chunked\r\n".to_owned()
    };
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ADMIN_KEY}\r\n\
         Content-Type: application/json\r\n{framing}Connection: close\r\n\r\n"
    );
    let answer = tokio::spawn(async move { read_answer(&mut reader).await });
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    for piece in body.chunks(PIECE) {
        if declared {
            pieces.push(piece.to_vec());
        } else {
            let mut framed = format!("{:x}\r\n", piece.len()).into_bytes();
            framed.extend_from_slice(piece);
            framed.extend_from_slice(b"\r\n");
            pieces.push(framed);
        }
    }
    if !declared {
        pieces.push(b"0\r\n\r\n".to_vec());
    }
    if writer.write_all(head.as_bytes()).await.is_ok() {
        for piece in pieces {
            if answer.is_finished() || writer.write_all(&piece).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    tokio::time::timeout(HUNG, answer).await.ok()?.ok()?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_large_bodies_at_once_are_refused_429_past_the_body_budget_and_memory_stays_bounded() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let database_url = common::fresh_database().await;
    let budget = BODY_MEMORY.to_string();
    let service = start_service_with(
        &database_url,
        &[
            ("TOKENLEDGER_BODY_MEMORY", &budget),
            ("TOKENLEDGER_DB_TIMEOUT_MS", "5000"),
        ],
    )
    .await;
    let rss_at_start = service.status_field("VmRSS:");
    let address = service.url.trim_start_matches("http://").to_owned();
    let bodies: Arc<Vec<Vec<Vec<u8>>>> = Arc::new(
        (0..LARGE_CLIENTS)
            .map(|c| (0..LARGE_ROUNDS).map(|r| large_batch(c, r)).collect())
            .collect(),
    );
    let body_size = bodies[0][0].len();

    let mut tasks = Vec::new();
    for c in 0..LARGE_CLIENTS {
        let (address, bodies) = (address.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for r in 0..LARGE_ROUNDS {
                // Half the clients declare their length, half send chunked bodies of unknown length.
                let answer = send_slowly(&address, &bodies[c][r], c % 2 == 0).await;
                answers.push(answer);
            }
            answers
        }));
    }
    let mut rss_samples = Vec::new();
    while !tasks.iter().all(|t| t.is_finished()) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rss_samples.push(service.status_field("VmRSS:") / 1024);
    }
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut unanswered = 0;
    let mut accepted = 0u64;
    let mut bad = Vec::new();
    for task in tasks {
        for answer in task.await.unwrap() {
            let Some(answer) = answer else {
                unanswered += 1;
                continue;
            };
            *statuses.entry(answer.status).or_default() += 1;
            let parsed: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
            match answer.status {
                200 => {
                    assert_eq!(parsed["rejected"], json!([]), "{}", answer.body);
                    accepted += parsed["accepted"].as_u64().unwrap();
                }
                429 if answer.retry_after && parsed["error"]["code"] == "overloaded" => {}
                _ => bad.push(format!("{}: {}", answer.status, answer.body)),
            }
        }
    }
    let peak_kb = service.status_field("VmHWM:");
    println!(
        "large bodies: {LARGE_CLIENTS} clients x {LARGE_ROUNDS} bodies of {} MiB, sent in {} KiB pieces, \
         body budget {} MiB: {statuses:?}, {unanswered} unanswered",
        body_size / (1024 * 1024),
        PIECE / 1024,
        BODY_MEMORY / (1024 * 1024)
    );
    println!(
        "large bodies: peak RSS (VmHWM) {} MiB; RSS at start {} MiB, samples (MiB) {rss_samples:?}",
        peak_kb / 1024,
        rss_at_start / 1024
    );

    assert!(bad.is_empty(), "{:?}", &bad[..bad.len().min(5)]);
    assert_eq!(unanswered, 0, "connections closed or hung without an answer");
    assert!(
        statuses.get(&429).is_some_and(|&n| n > 0),
        "no 429: the budget was never reached"
    );
    assert!(statuses.get(&200).is_some_and(|&n| n > 0), "nothing was accepted");
    // What was acknowledged is stored, once.
    let mut db = sqlx::PgConnection::connect(&database_url).await.unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE event_id LIKE 'large-%'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(u64::try_from(stored).unwrap(), accepted);
    // Bodies in memory stayed within the budget: without it, 32 bodies of 8 MiB (16 MiB of
    // capacity for a chunked one) would be held at once.
    let bound_kb = rss_at_start + (BODY_MEMORY as u64 + 64 * 1024 * 1024) / 1024;
    assert!(
        peak_kb < bound_kb,
        "peak RSS {} MiB is over {} MiB (start + body budget + 64 MiB)",
        peak_kb / 1024,
        bound_kb / 1024
    );
}

/// Sends one keep-alive request on `stream` and reads its answer's status.
async fn request_on(stream: &mut tokio::net::TcpStream, address: &str) -> Option<u16> {
    let head = format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.ok()?;
    let mut buffer = [0u8; 4096];
    let n = stream.read(&mut buffer).await.ok()?;
    let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
    text.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_wait_until_one_closes() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let database_url = common::fresh_database().await;
    let service = start_service_with(
        &database_url,
        &[
            ("TOKENLEDGER_MAX_CONNECTIONS", "2"),
            ("TOKENLEDGER_HTTP_WORKERS", "1"),
        ],
    )
    .await;
    let address = service.url.trim_start_matches("http://").to_owned();
    // start_service_with's readiness probe has closed its connections; two open ones fill the limit.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut first = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut second = tokio::net::TcpStream::connect(&address).await.unwrap();
    assert_eq!(request_on(&mut first, &address).await, Some(200));
    assert_eq!(request_on(&mut second, &address).await, Some(200));
    // A third connection is accepted by the kernel but not served while both stay open.
    let mut third = tokio::net::TcpStream::connect(&address).await.unwrap();
    let waiting = tokio::time::timeout(Duration::from_secs(1), request_on(&mut third, &address)).await;
    assert!(
        waiting.is_err(),
        "a third connection was served past the limit of 2: {waiting:?}"
    );
    // One closes: the waiting request is answered.
    drop(first);
    let served = tokio::time::timeout(HUNG, async {
        let mut buffer = [0u8; 4096];
        let n = third.read(&mut buffer).await.unwrap();
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    })
    .await
    .expect("the waiting connection was not served after another closed");
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    drop(second);
}
