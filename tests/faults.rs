//! Reliability under faults, with real processes: the `tokenledger serve` binary killed with
//! SIGKILL under load and restarted; its PostgreSQL stopped `-m immediate` under load and started
//! again, or frozen (SIGSTOP) and thawed; three replicas on one database taking a storm of
//! overlapping, retried batches. Each ends with the stored events and `GET /v1/spend` compared,
//! exactly, with totals computed here (Decimal, never floats). Random choices come from fixed
//! seeds, so a failure replays.
//!
//! The tests run one at a time (they share two cores with everything else, and the outage tests
//! assert time bounds), and print their figures (`cargo test --test faults -- --nocapture`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;
#[path = "support/fault_clients.rs"]
mod fault_clients;
#[path = "support/private_postgres.rs"]
mod private_postgres;
#[path = "support/serve_process.rs"]
mod serve_process;
#[path = "support/workload.rs"]
mod workload;

use fault_clients::{assert_exact, join_all, wait_until, Tally};
use private_postgres::PrivatePostgres;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serve_process::ServeProcess;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use workload::{stored_ids, Ev, Keys, LogDir, TEAM};

/// One test at a time in this binary.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The environment every serve process of these tests gets.
fn serve_env(database_url: &str, admin: &str, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("DATABASE_URL", database_url.to_owned()),
        ("TOKENLEDGER_ADMIN_KEY", admin.to_owned()),
        ("TOKENLEDGER_HTTP_WORKERS", "2".to_owned()),
        ("TOKENLEDGER_WRITER_CONNECTIONS", "2".to_owned()),
        ("TOKENLEDGER_DB_POOL_SIZE", "4".to_owned()),
        ("TOKENLEDGER_ROLLUP_INTERVAL_MS", "200".to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    env
}

fn admin_key() -> String {
    format!("tl_test_admin_{:016x}", rand::random::<u64>())
}

/// SIGKILL of the serve process while six clients post batches, twice; after each restart every
/// event answered 200 is stored exactly once; the clients retry what got no answer, and the end
/// state equals the workload exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_kill_9_and_retried_batches_end_with_exact_totals() {
    const CLIENTS: usize = 6;
    const BATCHES: usize = 30;
    const BATCH: usize = 25;
    const KILLS: usize = 2;
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let logs = LogDir::new("crash");
    let database_url = common::fresh_database().await;
    let admin = admin_key();
    let env = serve_env(&database_url, &admin, &[]);
    let mut server = ServeProcess::start(&env, &logs.file("serve-0.log")).await;
    let keys = Keys::create(&server.address, &admin).await;

    let mut rng = StdRng::seed_from_u64(0x6b11_0009);
    let plans = workload::plans(CLIENTS, BATCHES, BATCH, &mut rng);
    let events: Vec<Ev> = plans.iter().flatten().flatten().cloned().collect();
    let address = Arc::new(RwLock::new(server.address.clone()));
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = plans
        .into_iter()
        .map(|plan| {
            let (address, tally, key) = (address.clone(), tally.clone(), keys.ingest.clone());
            tokio::spawn(async move {
                let client = workload::client();
                for batch in plan {
                    let current = || address.read().unwrap().clone();
                    tally
                        .send_until_acked(&client, current, &key, &batch, Some(Duration::from_millis(50)))
                        .await;
                }
            })
        })
        .collect();

    for kill in 1..=KILLS {
        let target = kill * events.len() / (KILLS + 1);
        wait_until("enough events are acknowledged", Duration::from_secs(60), || {
            tally.assert_nothing_unexpected();
            tally.acked_events.load(SeqCst) >= target
        })
        .await;
        let in_flight = tally.in_flight.load(SeqCst);
        assert!(in_flight > 0, "the kill is meant to hit requests in flight");
        server.kill9();
        let down = Instant::now();
        server = ServeProcess::start(&env, &logs.file(&format!("serve-{kill}.log"))).await;
        *address.write().unwrap() = server.address.clone();
        let restart = down.elapsed();

        // Every event answered 200 so far (by the old process or the new one) is stored once.
        let acked = tally.acked.lock().unwrap().clone();
        let stored = stored_ids(&database_url).await;
        let missing: Vec<&String> = acked.iter().filter(|id| !stored.contains_key(*id)).collect();
        let twice: Vec<(&String, &i64)> = stored.iter().filter(|(_, n)| **n != 1).collect();
        assert!(
            missing.is_empty(),
            "{} events acknowledged but not stored after kill {kill}, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        assert!(
            twice.is_empty(),
            "{} events stored more than once after kill {kill}, e.g. {:?}",
            twice.len(),
            &twice[..twice.len().min(5)]
        );
        println!(
            "crash: kill -9 #{kill} with {in_flight} requests in flight; restarted and ready in {:.2} s; \
             {} events acknowledged, all stored once; {} stored in all ({} more: committed without an answer, or answered since)",
            restart.as_secs_f64(),
            acked.len(),
            stored.len(),
            stored.len() - acked.len()
        );
    }
    join_all(clients, Duration::from_secs(60)).await;
    server.assert_running("after the load");
    tally.assert_nothing_unexpected();

    let spend = assert_exact(&database_url, &server.address, &keys.read, &events).await;
    let accepted = tally.accepted.load(SeqCst);
    let duplicates = tally.duplicates.load(SeqCst);
    assert_eq!(
        accepted + duplicates,
        events.len(),
        "each batch answered 200 once"
    );
    println!(
        "crash: {} events in {} batches by {CLIENTS} clients; {KILLS} kills; {} requests, {} without an \
         answer, {} retries; acknowledged {} (accepted {accepted}, duplicates {duplicates}: committed by a \
         request whose answer was lost); found {} once each; spend {} over {} requests; {:.1} s",
        events.len(),
        CLIENTS * BATCHES,
        tally.requests.load(SeqCst),
        tally.failed.load(SeqCst),
        tally.retries.load(SeqCst),
        tally.acked_events.load(SeqCst),
        spend.requests,
        spend.cost,
        spend.requests,
        started.elapsed().as_secs_f64()
    );
}

/// What happens to the database.
#[derive(Clone, Copy, Debug)]
enum DbFault {
    /// `pg_ctl stop -m immediate`, later started again (crash recovery).
    Stop,
    /// Every PostgreSQL process SIGSTOPped, later SIGCONTinued: nothing answers, nothing refuses.
    Freeze,
}

/// PostgreSQL stopped `-m immediate` under load: ingest answers 503 with Retry-After within a
/// bound, `/readyz` fails, memory stays bounded; PostgreSQL started again: the same serve process
/// recovers, and the retried events land exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_answered_503_in_bounded_time_and_recovered_without_a_restart() {
    database_fault(DbFault::Stop).await;
}

/// The same with a database that hangs instead of refusing (a paused VM, a partition): no
/// request may wait on it longer than the bound either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_database_is_answered_503_in_bounded_time_and_recovered_without_a_restart() {
    database_fault(DbFault::Freeze).await;
}

async fn database_fault(fault: DbFault) {
    const CLIENTS: usize = 6;
    /// Clients that retry after 20 ms instead of Retry-After (the load the outage must survive).
    const IMPATIENT: usize = 2;
    const BATCHES: usize = 20;
    const BATCH: usize = 30;
    const DB_TIMEOUT_MS: u64 = 1_000;
    // An ingest request waits at most the database timeout for its key lookup and twice that for
    // the writer (one commit attempt plus the wait in its queue); `/readyz` at most 2 s. The
    // margin is for scheduling on a loaded two-core box.
    let margin = Duration::from_secs(2);
    let bound = Duration::from_millis(3 * DB_TIMEOUT_MS) + margin;
    let readyz_bound = Duration::from_secs(2) + margin;
    let name = format!("{fault:?}").to_lowercase();
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let logs = LogDir::new(&name);
    let postgres = PrivatePostgres::start().await;
    let admin = admin_key();
    let timeout = DB_TIMEOUT_MS.to_string();
    let env = serve_env(&postgres.url, &admin, &[("TOKENLEDGER_DB_TIMEOUT_MS", &timeout)]);
    let mut server = ServeProcess::start(&env, &logs.file("serve.log")).await;
    let pid = server.pid();
    let keys = Keys::create(&server.address, &admin).await;

    let mut rng = StdRng::seed_from_u64(0x6b11_0503);
    let plans = workload::plans(CLIENTS, BATCHES, BATCH, &mut rng);
    let events: Vec<Ev> = plans.iter().flatten().flatten().cloned().collect();
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = plans
        .into_iter()
        .enumerate()
        .map(|(c, plan)| {
            let (address, tally, key) = (server.address.clone(), tally.clone(), keys.ingest.clone());
            let wait_503 = (c < IMPATIENT).then_some(Duration::from_millis(20));
            tokio::spawn(async move {
                let client = workload::client();
                for batch in plan {
                    tally
                        .send_until_acked(&client, || address.clone(), &key, &batch, wait_503)
                        .await;
                }
            })
        })
        .collect();

    wait_until(
        "a quarter of the events are acknowledged",
        Duration::from_secs(60),
        || {
            tally.assert_nothing_unexpected();
            tally.acked_events.load(SeqCst) >= events.len() / 4
        },
    )
    .await;
    let before = server.memory();
    let in_flight = tally.in_flight.load(SeqCst);
    assert!(in_flight > 0, "the fault is meant to hit requests in flight");
    match fault {
        DbFault::Stop => postgres.stop_immediate(),
        DbFault::Freeze => postgres.freeze(),
    }
    let faulted = Instant::now();
    let acked_at_fault = tally.acked_events.load(SeqCst);
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            while let Some(memory) = serve_process::memory_of(pid) {
                peak.fetch_max(memory.rss_kib as usize, SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    // /readyz fails, within its own bound.
    let client = workload::client();
    let readyz = format!("{}/readyz", server.address);
    let mut readyz_slowest = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let asked = Instant::now();
        let status = client.get(&readyz).send().await.unwrap().status();
        readyz_slowest = readyz_slowest.max(asked.elapsed());
        if status != 200 {
            assert_eq!(status, 503, "/readyz with the database down");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz kept answering 200 with the database down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The outage lasts at least 3 s (its length is the fault, not a wait for something), and
    // until the clients have had two answers of 503 each on average.
    let unavailable_before = tally.unavailable.load(SeqCst);
    wait_until(
        "the clients have had answers of 503 (none: do requests hang?)",
        Duration::from_secs(30),
        || {
            tally.assert_nothing_unexpected();
            tally.unavailable.load(SeqCst) >= unavailable_before + 2 * CLIENTS
                && faulted.elapsed() >= Duration::from_secs(3)
        },
    )
    .await;
    let asked = Instant::now();
    let readyz_status = client.get(&readyz).send().await.unwrap().status();
    readyz_slowest = readyz_slowest.max(asked.elapsed());
    assert_eq!(readyz_status, 503, "/readyz at the end of the outage");
    let acked_during = tally.acked_events.load(SeqCst) - acked_at_fault;
    let outage_memory = server.memory();
    let outage = faulted.elapsed();
    sampler.abort();
    let peak_rss_kib = peak.load(SeqCst) as u64;

    let healed = Instant::now();
    match fault {
        DbFault::Stop => postgres.restart().await,
        DbFault::Freeze => postgres.thaw(),
    }
    let mut ready_again = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready_again.is_none() {
        if client.get(&readyz).send().await.unwrap().status() == 200 {
            ready_again = Some(healed.elapsed());
        } else {
            assert!(Instant::now() < deadline, "/readyz did not recover within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    join_all(clients, Duration::from_secs(60)).await;
    server.assert_running("after the outage");
    assert_eq!(server.pid(), pid);
    tally.assert_nothing_unexpected();

    let samples = tally.samples.lock().unwrap().clone();
    let slowest = samples.iter().map(|s| s.1).max().unwrap();
    let slowest_503 = samples.iter().filter(|s| s.2 == 503).map(|s| s.1).max().unwrap();
    let over: Vec<_> = samples.iter().filter(|s| s.1 > bound).collect();
    assert_eq!(tally.failed.load(SeqCst), 0, "requests without an answer");
    assert!(over.is_empty(), "answers slower than {bound:?}: {over:?}");
    assert!(readyz_slowest <= readyz_bound, "/readyz took {readyz_slowest:?}");
    assert!(
        peak_rss_kib < 500 * 1024,
        "RSS reached {peak_rss_kib} KiB during the outage"
    );
    assert!(
        peak_rss_kib < before.rss_kib + 100 * 1024,
        "RSS grew from {} KiB to {peak_rss_kib} KiB during the outage",
        before.rss_kib
    );
    let spend = assert_exact(&postgres.url, &server.address, &keys.read, &events).await;
    println!(
        "{name}: {} events in {} batches by {CLIENTS} clients ({IMPATIENT} ignoring Retry-After); \
         database fault with {in_flight} requests in flight, for {:.1} s; {} answers 503 (all with \
         Retry-After), {} events acknowledged after the fault began; slowest 503 {} ms, slowest answer {} ms \
         (bound {} ms, db timeout {DB_TIMEOUT_MS} ms); /readyz 503, slowest {} ms; /readyz 200 again {} ms \
         after the restart or thaw began, same pid; {} requests, {} retries; accepted {}, duplicates {}; found {} \
         once each, spend {}; serve RSS {} KiB before, peak {} KiB during, {} KiB at the end of the outage \
         (VmHWM {} KiB); {:.1} s",
        events.len(),
        CLIENTS * BATCHES,
        outage.as_secs_f64(),
        tally.unavailable.load(SeqCst),
        acked_during,
        slowest_503.as_millis(),
        slowest.as_millis(),
        bound.as_millis(),
        readyz_slowest.as_millis(),
        ready_again.unwrap().as_millis(),
        tally.requests.load(SeqCst),
        tally.retries.load(SeqCst),
        tally.accepted.load(SeqCst),
        tally.duplicates.load(SeqCst),
        spend.requests,
        spend.cost,
        before.rss_kib,
        peak_rss_kib,
        outage_memory.rss_kib,
        outage_memory.hwm_kib,
        started.elapsed().as_secs_f64()
    );
}

/// Three serve processes on one database; six clients send overlapping batches (most ids sent by
/// several clients, some twice in one batch) to random replicas, re-send some at once to another
/// replica as after a lost answer, and a tenth again at the end. Each distinct id is accepted
/// exactly once across the replicas, stored once, and every replica's spend equals the workload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_storm_over_three_replicas_stores_each_id_once_with_exact_spend() {
    const REPLICAS: usize = 3;
    const CLIENTS: usize = 6;
    const IDS: usize = 3_000;
    const SEED: u64 = 0x6b11_0003;
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let logs = LogDir::new("storm");
    let database_url = common::fresh_database().await;
    let admin = admin_key();
    let env = serve_env(&database_url, &admin, &[]);
    // The price is in the database before the other replicas load their catalogs.
    let first = ServeProcess::start(&env, &logs.file("serve-0.log")).await;
    let keys = Keys::create(&first.address, &admin).await;
    let (log_1, log_2) = (logs.file("serve-1.log"), logs.file("serve-2.log"));
    let (second, third) = tokio::join!(
        ServeProcess::start(&env, &log_1),
        ServeProcess::start(&env, &log_2)
    );
    let mut replicas = [first, second, third];
    let addresses: Vec<String> = replicas.iter().map(|r| r.address.clone()).collect();

    let mut rng = StdRng::seed_from_u64(SEED);
    let events: Vec<Ev> = (0..IDS)
        .map(|i| Ev::random(format!("storm-{i:05}"), &mut rng))
        .collect();
    // Every client walks the ids in order, so the same ids are in flight at several replicas at
    // once; each id is in its owner's batches and in about half of the others'.
    let plans: Vec<Vec<Vec<Ev>>> = (0..CLIENTS)
        .map(|c| {
            let mut plan = Vec::new();
            let mut at = 0;
            while at < IDS {
                let size = rng.random_range(5..=40);
                let mut batch: Vec<Ev> = (at..(at + size).min(IDS))
                    .filter(|i| i % CLIENTS == c || rng.random_bool(0.5))
                    .map(|i| events[i].clone())
                    .collect();
                batch.shuffle(&mut rng);
                if !batch.is_empty() && rng.random_bool(0.1) {
                    let again = batch.choose(&mut rng).unwrap().clone();
                    batch.push(again);
                }
                if !batch.is_empty() {
                    plan.push(batch);
                }
                at += size;
            }
            plan
        })
        .collect();
    let sent_events: usize = plans.iter().flatten().map(Vec::len).sum();
    let batches: usize = plans.iter().map(Vec::len).sum();
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = plans
        .into_iter()
        .enumerate()
        .map(|(c, plan)| {
            let (addresses, tally, key) = (addresses.clone(), tally.clone(), keys.ingest.clone());
            tokio::spawn(async move {
                let client = workload::client();
                let rng = Mutex::new(StdRng::seed_from_u64(SEED + 1 + c as u64));
                let replica = || addresses.choose(&mut *rng.lock().unwrap()).unwrap().clone();
                for batch in &plan {
                    tally.send_until_acked(&client, replica, &key, batch, None).await;
                    if rng.lock().unwrap().random_bool(0.3) {
                        tally.retries.fetch_add(1, SeqCst);
                        tally.send_until_acked(&client, replica, &key, batch, None).await;
                    }
                }
                let late: Vec<&Vec<Ev>> = {
                    let mut rng = rng.lock().unwrap();
                    plan.choose_multiple(&mut *rng, plan.len() / 10).collect()
                };
                for batch in late {
                    tally.retries.fetch_add(1, SeqCst);
                    tally.send_until_acked(&client, replica, &key, batch, None).await;
                }
            })
        })
        .collect();
    join_all(clients, Duration::from_secs(90)).await;
    for replica in &mut replicas {
        replica.assert_running("after the storm");
    }
    tally.assert_nothing_unexpected();

    // Each id is accepted by exactly one answer of one replica; only a 503 (a commit whose
    // answer was lost, none expected here) could turn an acceptance into a later duplicate.
    let accepted = tally.accepted.load(SeqCst);
    if tally.unavailable.load(SeqCst) == 0 {
        assert_eq!(
            accepted, IDS,
            "events accepted, summed over every answer of every replica"
        );
    } else {
        assert!(accepted <= IDS, "{accepted} events accepted of {IDS} ids");
    }
    let mut spend = None;
    for address in &addresses {
        spend = Some(assert_exact(&database_url, address, &keys.read, &events).await);
    }
    let spend = spend.unwrap();
    println!(
        "storm: {IDS} distinct ids; {REPLICAS} replicas, {CLIENTS} clients, {batches} batches carrying {sent_events} \
         events; {} requests ({} re-sends, {} answers 503); accepted {}, duplicates {}; found {} once each; spend {} on every \
         replica; {:.1} s",
        tally.requests.load(SeqCst),
        tally.retries.load(SeqCst),
        tally.unavailable.load(SeqCst),
        accepted,
        tally.duplicates.load(SeqCst),
        spend.requests,
        spend.cost,
        started.elapsed().as_secs_f64()
    );
}

/// A database that takes the key lookup and never answers it (here: `api_keys` locked by another
/// transaction; in the freeze above: a backend stopped mid-query) costs an ingest request the
/// database timeout, then a 503 with Retry-After, rather than as long as the database hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_key_lookup_hangs_is_answered_503_within_the_timeout() {
    let _serial = SERIAL.lock().await;
    let app = common::spawn_app_with(|config| config.db_timeout = Duration::from_millis(1_000)).await;
    let key = app.create_key("ingest", None).await;
    let pool = app.db().await;
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();

    let event = common::event(
        "stalled",
        TEAM,
        "openai",
        "gpt-4o",
        serde_json::json!({"input_tokens": 1}),
    );
    let client = workload::client();
    let asked = Instant::now();
    let response = client
        .post(app.url("/v1/events"))
        .bearer_auth(&key)
        .json(&event)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    let waited = asked.elapsed();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(waited < Duration::from_secs(3), "answered after {waited:?}");
    // Every other route authenticates within the same bound.
    let read = {
        let asked = Instant::now();
        let response = client
            .get(app.url("/v1/spend?group_by=team"))
            .bearer_auth(&key)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        asked.elapsed()
    };
    assert!(read < Duration::from_secs(3), "spend answered after {read:?}");

    lock.rollback().await.unwrap();
    let response = app.post_events_with(&key, &event).await;
    assert_eq!(response.status(), 200);
    println!(
        "stalled key lookup: 503 with Retry-After after {} ms (db timeout 1000 ms); 200 once the lock was released",
        waited.as_millis()
    );
    pool.close().await;
    app.stop().await;
}
