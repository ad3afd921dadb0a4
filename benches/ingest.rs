//! The ingest benchmark: `cargo bench --bench ingest`. Starts the release service as its own
//! process against a fresh database and measures, in one run, side by side:
//!
//! - the floor: the same rows written by PostgreSQL alone (COPY into a staging table, then
//!   `INSERT ... ON CONFLICT DO NOTHING` into a table with the same uniqueness), 4 connections;
//! - batch ingest: HTTP batches of 1,000 unique events from 4 connections, and its ratio to the floor;
//! - duplicate-heavy ingest: batches of which half were sent before;
//! - single-event ingest: one event per request from 64 connections, as fast as it answers;
//! - latency at a fixed 2,000 requests/s, open loop (requests are scheduled by the clock, and
//!   latency counts from the scheduled time, so a slow answer cannot slow the sender down);
//! - per phase: peak RSS of the service, CPU seconds of the service and of PostgreSQL;
//! - rollup lag: how long after the last acknowledged event the rollups hold every event.
//!
//! It prints one table and writes `target/bench-ingest.json`. Nothing here asserts a speed.
//! `BENCH_TIMELINE=1` also prints every answer of the fixed-rate phase slower than 10 ms, with the
//! wall-clock time it came, to match against the database's log or the disk's statistics.
//! Sizes can be scaled with `BENCH_SCALE` (default 1.0). `DATABASE_URL` (a server where it may
//! create a database) is used when set; otherwise a private cluster is started.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark: a failed unwrap is a failed run

use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ADMIN_KEY: &str = "tl_bench_admin_key_0123456789";

fn scale(n: usize) -> usize {
    let factor: f64 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((n as f64) * factor).max(1.0) as usize
}

/// The time events are dated back from, fixed for the run: an event sent again must be the same
/// event (a duplicate), not the same id with a new timestamp (an id conflict).
static EPOCH: std::sync::LazyLock<chrono::DateTime<chrono::Utc>> = std::sync::LazyLock::new(chrono::Utc::now);

/// A usage event as a gateway would send it; `n` makes it unique.
fn event(n: usize) -> Value {
    let models = [
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-sonnet-4-5"),
        ("openai", "gpt-4o"),
        ("vertex_ai", "gemini-2.5-flash"),
        ("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ];
    let (provider, model) = models[n % models.len()];
    let ts = *EPOCH - chrono::TimeDelta::seconds((n % 86_400) as i64);
    let feature = ["chat", "search", "rerank"][n % 3];
    json!({
        "id": format!("bench-{n}"),
        "timestamp": ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "team": format!("team-{}", n % 20),
        "project": format!("p{}", n % 3),
        "user": format!("u{}", n % 40),
        "tags": {"feature": feature},
        "provider": provider,
        "model": model,
        "usage": {"input_tokens": 1_000 + n % 5_000, "cache_read_tokens": (n % 7) * 100,
                  "output_tokens": 50 + n % 700},
    })
}

/// Fields of /proc/<pid>/stat after the command name (which is in parentheses and may hold spaces).
fn stat_fields(pid: u32) -> Vec<f64> {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Vec::new();
    };
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect()
}

/// CPU seconds (user + system) of a process, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let fields = stat_fields(pid);
    (fields.get(11).unwrap_or(&0.0) + fields.get(12).unwrap_or(&0.0)) / 100.0
}

/// The bench's PostgreSQL server: its postmaster's pid, when the server runs on this machine.
static POSTMASTER: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();

/// CPU seconds of the bench's PostgreSQL server: its live processes, plus what its postmaster has
/// collected from backends that have exited (cutime + cstime), so a closed connection's work still
/// counts. Other PostgreSQL servers on the machine are left out when the postmaster is known.
fn postgres_cpu_seconds() -> f64 {
    let postmaster = POSTMASTER.get().copied().flatten();
    let mut total = 0.0;
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() != "postgres" {
                continue;
            }
            let fields = stat_fields(pid);
            let field = |i: usize| fields.get(i).copied().unwrap_or(0.0);
            let parent = field(1) as u32;
            match postmaster {
                Some(pm) if pid == pm => total += field(11) + field(12) + field(13) + field(14),
                Some(pm) if parent == pm => total += field(11) + field(12),
                Some(_) => {}
                None => total += field(11) + field(12) + field(13) + field(14),
            }
        }
    }
    total / 100.0
}

/// Finds the postmaster of the server `pool` talks to, through its data directory's postmaster.pid.
async fn find_postmaster(pool: &sqlx::PgPool) -> Option<u32> {
    let dir: String = sqlx::query_scalar("SELECT current_setting('data_directory')")
        .fetch_one(pool)
        .await
        .ok()?;
    let pid = std::fs::read_to_string(std::path::Path::new(&dir).join("postmaster.pid")).ok()?;
    pid.lines().next()?.trim().parse().ok()
}

/// The resident set of a process in bytes.
fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        })
        .map_or(0, |kb| kb * 1024)
}

/// What one phase cost the machine.
#[derive(Debug, Default, Clone, serde::Serialize)]
struct Cost {
    seconds: f64,
    peak_rss_mb: f64,
    service_cpu_seconds: f64,
    postgres_cpu_seconds: f64,
}

/// Runs `work` while sampling the service's RSS; returns its result and the phase's cost.
async fn measured<T>(pid: u32, work: impl std::future::Future<Output = T>) -> (T, Cost) {
    let cpu0 = (cpu_seconds(pid), postgres_cpu_seconds());
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(rss_bytes(pid));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak.max(rss_bytes(pid))
        })
    };
    let started = Instant::now();
    let out = work.await;
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let peak = sampler.await.unwrap();
    let cost = Cost {
        seconds,
        peak_rss_mb: peak as f64 / 1_048_576.0,
        service_cpu_seconds: cpu_seconds(pid) - cpu0.0,
        postgres_cpu_seconds: postgres_cpu_seconds() - cpu0.1,
    };
    (out, cost)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Service {
    child: Child,
    url: String,
    client: reqwest::Client,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
        // The default log level (one line per request), as a user runs it; RUST_LOG overrides.
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the service");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while client
        .get(format!("{url}/readyz"))
        .send()
        .await
        .map(|r| r.status().is_success())
        .ok()
        != Some(true)
    {
        assert!(Instant::now() < deadline, "the service did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Service { child, url, client }
}

/// Sends prepared bodies from `connections` tasks; returns (events accepted, duplicates).
async fn send_batches(service: &Service, bodies: Vec<Vec<u8>>, connections: usize) -> (u64, u64) {
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let queue = queue.clone();
        let client = service.client.clone();
        let url = format!("{}/v1/events", service.url);
        tasks.push(tokio::spawn(async move {
            let (mut accepted, mut duplicates) = (0, 0);
            loop {
                let Some(body) = queue.lock().unwrap().pop() else {
                    return (accepted, duplicates);
                };
                let answer: Value = client
                    .post(&url)
                    .bearer_auth(ADMIN_KEY)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                accepted += answer["accepted"].as_u64().unwrap_or(0);
                duplicates += answer["duplicates"].as_u64().unwrap_or(0);
            }
        }));
    }
    let mut total = (0, 0);
    for task in tasks {
        let (a, d) = task.await.unwrap();
        total.0 += a;
        total.1 += d;
    }
    total
}

/// One event per request from `connections` tasks for `duration`; returns requests answered 200.
async fn closed_loop_singles(service: &Service, first: usize, connections: usize, duration: Duration) -> u64 {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(first));
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let next = next.clone();
        let client = service.client.clone();
        let url = format!("{}/v1/events", service.url);
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let body = serde_json::to_vec(&event(n)).unwrap();
                let response = client
                    .post(&url)
                    .bearer_auth(ADMIN_KEY)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                ok += u64::from(response.status() == 200);
            }
            ok
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total
}

/// Open loop: request i is due at start + i/rate; latency counts from when it was due.
async fn open_loop_latencies(
    service: &Service,
    first: usize,
    rate: f64,
    duration: Duration,
    connections: usize,
) -> (Vec<f64>, u64) {
    let total = (rate * duration.as_secs_f64()) as usize;
    let timeline = std::env::var_os("BENCH_TIMELINE").is_some();
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let client = service.client.clone();
        let url = format!("{}/v1/events", service.url);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0u64;
            // This connection sends requests c, c + connections, ...: each on its schedule.
            let mut i = c;
            while i < total {
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due).await;
                let body = serde_json::to_vec(&event(first + i)).unwrap();
                let response = client
                    .post(&url)
                    .bearer_auth(ADMIN_KEY)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                if !matches!(&response, Ok(r) if r.status() == 200) {
                    failed += 1;
                }
                let latency_ms = due.elapsed().as_secs_f64() * 1e3;
                latencies.push(latency_ms);
                if timeline && latency_ms > 10.0 {
                    // For finding what stalls: match these against the database's log or iostat.
                    eprintln!(
                        "slow answer: due {:.3} s into the phase, {latency_ms:.1} ms, answered at {}",
                        (due - start).as_secs_f64(),
                        chrono::Utc::now().format("%H:%M:%S%.3f UTC")
                    );
                }
                i += connections;
            }
            (latencies, failed)
        }));
    }
    let mut all = Vec::with_capacity(total);
    let mut failed = 0;
    for task in tasks {
        let (l, f) = task.await.unwrap();
        all.extend(l);
        failed += f;
    }
    all.sort_by(f64::total_cmp);
    (all, failed)
}

/// The floor: PostgreSQL alone writing the same rows (COPY to staging, INSERT ... ON CONFLICT).
async fn floor(pool: &sqlx::PgPool, rows: usize, connections: usize, batch: usize) -> (f64, Cost) {
    sqlx::query(
        "CREATE TABLE floor_events (team_id bigint NOT NULL, ts timestamptz NOT NULL, event_id text NOT NULL, \
         project text, user_id text, tags jsonb, provider text NOT NULL, model text NOT NULL, \
         input_tokens bigint NOT NULL, cache_read_tokens bigint NOT NULL, output_tokens bigint NOT NULL, \
         cost numeric(38, 12), PRIMARY KEY (team_id, event_id))",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("CREATE INDEX ON floor_events (team_id, ts)")
        .execute(pool)
        .await
        .unwrap();
    let mut chunks: Vec<String> = Vec::new();
    for start in (0..rows).step_by(batch) {
        let mut text = String::new();
        for n in start..(start + batch).min(rows) {
            let e = event(n);
            text.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t0.00{}\n",
                n % 20,
                e["timestamp"].as_str().unwrap(),
                e["id"].as_str().unwrap(),
                e["project"].as_str().unwrap(),
                e["user"].as_str().unwrap(),
                e["tags"],
                e["provider"].as_str().unwrap(),
                e["model"].as_str().unwrap(),
                e["usage"]["input_tokens"],
                e["usage"]["cache_read_tokens"],
                e["usage"]["output_tokens"],
                n % 997
            ));
        }
        chunks.push(text);
    }
    let queue = Arc::new(std::sync::Mutex::new(chunks));
    let work = async {
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let queue = queue.clone();
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = pool.acquire().await.unwrap();
                sqlx::query("CREATE TEMP TABLE staging (LIKE floor_events)")
                    .execute(&mut *conn)
                    .await
                    .unwrap();
                loop {
                    let Some(text) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    let mut copy = conn.copy_in_raw("COPY staging FROM STDIN").await.unwrap();
                    copy.send(text.as_bytes()).await.unwrap();
                    copy.finish().await.unwrap();
                    sqlx::query("INSERT INTO floor_events SELECT * FROM staging ON CONFLICT DO NOTHING")
                        .execute(&mut *conn)
                        .await
                        .unwrap();
                    sqlx::query("TRUNCATE staging").execute(&mut *conn).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    };
    let (_, cost) = measured(std::process::id(), work).await;
    (rows as f64 / cost.seconds, cost)
}

#[tokio::main]
async fn main() {
    let server = match std::env::var("DATABASE_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let dir = std::env::temp_dir().join("tokenledger-bench-postgres");
            let cluster = tokenledger::embedded_postgres::EmbeddedPostgres::start(&dir)
                .await
                .unwrap();
            (cluster.url_for("postgres"), Some(cluster))
        }
    };
    let name = format!("tl_bench_{}", chrono::Utc::now().timestamp());
    let admin = sqlx::PgPool::connect(&server.0).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let base = server
        .0
        .rsplit_once('/')
        .map_or(server.0.clone(), |(b, _)| b.to_owned());
    let (base, query) = match server.0.split_once('?') {
        Some((b, q)) => (
            b.rsplit_once('/').map_or(b.to_owned(), |(b, _)| b.to_owned()),
            format!("?{q}"),
        ),
        None => (base, String::new()),
    };
    let database_url = format!("{base}/{name}{query}");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect(&database_url)
        .await
        .unwrap();

    let postmaster = find_postmaster(&pool).await;
    let _ = POSTMASTER.set(postmaster);

    // BENCH_PHASES=floor,batch,duplicates,single,latency runs only those (to profile one phase).
    let phases: Option<Vec<String>> = std::env::var("BENCH_PHASES")
        .ok()
        .map(|list| list.split(',').map(|p| p.trim().to_owned()).collect());
    let on = |phase: &str| phases.as_ref().is_none_or(|list| list.iter().any(|p| p == phase));

    let batch_events = scale(400_000);
    let mut figures: HashMap<&str, Value> = HashMap::new();

    // The floor first, on an empty database of its own table.
    let mut floor_rate = f64::NAN;
    if on("floor") {
        let (rate, floor_cost) = floor(&pool, batch_events, 4, 1_000).await;
        floor_rate = rate;
        sqlx::query("DROP TABLE floor_events")
            .execute(&pool)
            .await
            .unwrap();
        figures.insert("floor", json!({"rows_per_second": rate, "cost": floor_cost}));
    }

    let service = start_service(&database_url).await;
    let pid = service.child.id();
    // Warm the connection pools and the catalog.
    send_batches(
        &service,
        vec![serde_json::to_vec(&json!([event(usize::MAX / 2)])).unwrap()],
        1,
    )
    .await;

    if on("batch") {
        let bodies: Vec<Vec<u8>> = (0..batch_events)
            .step_by(1_000)
            .map(|s| {
                serde_json::to_vec(&(s..(s + 1_000).min(batch_events)).map(event).collect::<Vec<_>>())
                    .unwrap()
            })
            .collect();
        let ((accepted, _), batch_cost) = measured(pid, send_batches(&service, bodies, 4)).await;
        let acked_at = Instant::now();
        let batch_rate = accepted as f64 / batch_cost.seconds;
        // Rollup lag: from the last acknowledgement until the rollups hold every event.
        let expected = accepted as i64 + 1;
        let caught_up = loop {
            let rolled: i64 =
                sqlx::query_scalar("SELECT COALESCE(sum(requests), 0)::bigint FROM rollup_hourly")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            if rolled >= expected || acked_at.elapsed() > Duration::from_secs(120) {
                break acked_at.elapsed().as_secs_f64();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        figures.insert(
            "batch",
            json!({"events_per_second": batch_rate, "ratio_to_floor": batch_rate / floor_rate,
                   "accepted": accepted, "cost": batch_cost, "rollup_caught_up_seconds_after_last_ack": caught_up}),
        );
    }

    if on("duplicates") {
        // Half of each batch was sent before: events 0..half (by the batch phase, or here first,
        // unmeasured, when it did not run), beside as many never sent (from batch_events on).
        let half = batch_events / 2;
        if !on("batch") {
            let primer = (0..half).step_by(1_000).map(|s| {
                serde_json::to_vec(&(s..(s + 1_000).min(half)).map(event).collect::<Vec<_>>()).unwrap()
            });
            send_batches(&service, primer.collect(), 4).await;
        }
        let dup_bodies: Vec<Vec<u8>> = (0..half)
            .step_by(500)
            .map(|s| {
                let end = (s + 500).min(half);
                let old = (s..end).map(event);
                let new = (batch_events + s..batch_events + end).map(event);
                serde_json::to_vec(&old.chain(new).collect::<Vec<_>>()).unwrap()
            })
            .collect();
        let ((dup_accepted, duplicates), dup_cost) =
            measured(pid, send_batches(&service, dup_bodies, 4)).await;
        // Not a speed: the phase must have measured what it says, half new and half duplicates.
        assert_eq!(
            (dup_accepted, duplicates),
            (half as u64, half as u64),
            "the duplicate phase did not see the duplicates it sent"
        );
        figures.insert(
            "duplicates",
            json!({"events_per_second": (dup_accepted + duplicates) as f64 / dup_cost.seconds,
                   "accepted": dup_accepted, "duplicates": duplicates, "cost": dup_cost}),
        );
    }

    let singles_first = 10 * batch_events;
    let single_seconds = Duration::from_secs_f64(10.0 * scale(100) as f64 / 100.0);
    if on("single") {
        let (ok, single_cost) = measured(
            pid,
            closed_loop_singles(&service, singles_first, 64, single_seconds),
        )
        .await;
        figures.insert(
            "single_max",
            json!({"requests_per_second": ok as f64 / single_cost.seconds, "requests": ok, "cost": single_cost}),
        );
    }

    if on("latency") {
        let ((latencies, failed), open_cost) = measured(
            pid,
            open_loop_latencies(&service, 20 * batch_events, 2_000.0, single_seconds, 64),
        )
        .await;
        figures.insert(
            "single_at_2000_rps",
            json!({"p50_ms": quantile(&latencies, 0.5), "p99_ms": quantile(&latencies, 0.99),
                   "p999_ms": quantile(&latencies, 0.999), "requests": latencies.len(), "failed": failed,
                   "cost": open_cost}),
        );
    }

    drop(service);

    // A Value answers Null for phases that did not run.
    let figures = serde_json::to_value(&figures).unwrap();
    let row = |name: &str, figure: String, cost: &Value| {
        if cost.is_null() {
            return String::new();
        }
        format!(
            "{:<34} {:>22} {:>9.1} {:>10.1} {:>10.1}\n",
            name,
            figure,
            cost["peak_rss_mb"].as_f64().unwrap_or(0.0),
            cost["service_cpu_seconds"].as_f64().unwrap_or(0.0),
            cost["postgres_cpu_seconds"].as_f64().unwrap_or(0.0)
        )
    };
    let f = |k: &str, field: &str| figures[k][field].as_f64().unwrap_or(f64::NAN);
    let mut out = format!(
        "{:<34} {:>22} {:>9} {:>10} {:>10}\n",
        "phase", "figure", "RSS MB", "svc CPU s", "pg CPU s"
    );
    out += &row(
        "floor: COPY + INSERT ON CONFLICT",
        format!("{:.0} rows/s", f("floor", "rows_per_second")),
        &figures["floor"]["cost"],
    );
    out += &row(
        "batch ingest (1000/req, 4 conns)",
        format!(
            "{:.0} ev/s ({:.2}x)",
            f("batch", "events_per_second"),
            f("batch", "ratio_to_floor")
        ),
        &figures["batch"]["cost"],
    );
    out += &row(
        "50% duplicates (1000/req, 4 conns)",
        format!("{:.0} ev/s", f("duplicates", "events_per_second")),
        &figures["duplicates"]["cost"],
    );
    out += &row(
        "single events, 64 conns",
        format!("{:.0} req/s", f("single_max", "requests_per_second")),
        &figures["single_max"]["cost"],
    );
    out += &row(
        "single events at 2000 req/s",
        format!(
            "p50 {:.1} p99 {:.1} p99.9 {:.1} ms",
            f("single_at_2000_rps", "p50_ms"),
            f("single_at_2000_rps", "p99_ms"),
            f("single_at_2000_rps", "p999_ms")
        ),
        &figures["single_at_2000_rps"]["cost"],
    );
    if !figures["batch"].is_null() {
        out += &format!(
            "rollups held every event {:.2} s after the last batch was acknowledged\n",
            f("batch", "rollup_caught_up_seconds_after_last_ack")
        );
    }
    print!("{out}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-ingest.json");
    std::fs::write(&path, serde_json::to_string_pretty(&figures).unwrap()).unwrap();
    println!("figures written to {}", path.display());

    pool.close().await;
    let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&admin)
        .await;
    if let Some(cluster) = server.1 {
        let _ = cluster.stop().await;
    }
}
