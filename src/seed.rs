//! `tokenledger seed`: loads realistic synthetic usage fast, for benchmarks and demos.
//!
//! The mix is skewed the way real traffic is: a few teams and cheap models carry most requests
//! (weights fall off as 1/rank), about 40% of requests read the prompt cache, reasoning models
//! spend a share of their output on reasoning, 7% run in the batch tier, a third carry the
//! gateway's own cost. Events are priced by the real catalog and written with `COPY` in time order,
//! as a live service would receive them. The same `--seed` gives the same data.

use crate::domain::{ServiceTier, Usage, UsageEvent};
use crate::pricing::Catalog;
use crate::store::events::{copy_new, NewEvent};
use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

/// The models a seed draws from: (provider, model, weight, reasoning model).
const MODELS: &[(&str, &str, u32, bool)] = &[
    ("openai", "gpt-4o-mini", 30, false),
    ("openai", "gpt-4o", 10, false),
    ("openai", "gpt-4.1", 6, false),
    ("openai", "o3", 4, true),
    ("openai", "gpt-5-mini", 8, true),
    ("anthropic", "claude-sonnet-4-5", 14, false),
    ("anthropic", "claude-haiku-4-5", 10, false),
    ("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", 6, false),
    ("vertex_ai", "gemini-2.5-flash", 9, true),
    ("vertex_ai", "claude-sonnet-4-5", 3, false),
    ("gemini", "gemini-2.5-pro", 4, true),
    ("azure", "gpt-4.1", 5, false),
    ("mistral", "mistral-large-latest", 3, false),
    ("mistral", "mistral-small-latest", 2, false),
];
const FEATURES: &[&str] = &["chat", "search", "rerank", "summarize", "agent"];
const PROJECTS_PER_TEAM: usize = 3;
const USERS_PER_TEAM: usize = 40;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub events: u64,
    pub days: u32,
    pub teams: usize,
    /// The newest event's time; events spread evenly over the `days` before it.
    pub end: DateTime<Utc>,
    pub seed: u64,
    /// Events per COPY (and transaction).
    pub chunk: usize,
}

/// Draws an index with probability proportional to `weights`.
fn pick(rng: &mut SmallRng, weights: &[u32], total: u32) -> usize {
    let mut x = rng.random_range(0..total.max(1));
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    0
}

/// Generates and prices the events `first..first + n` of a seed.
pub fn generate(
    options: &SeedOptions,
    catalog: &Catalog,
    team_ids: &[(String, i64)],
    first: u64,
    n: u64,
    rng: &mut SmallRng,
) -> Vec<NewEvent> {
    let team_weights: Vec<u32> = (0..team_ids.len()).map(|i| 1_000 / (i as u32 + 1)).collect();
    let team_total = team_weights.iter().sum();
    let model_weights: Vec<u32> = MODELS.iter().map(|m| m.2).collect();
    let model_total = model_weights.iter().sum();
    let span = TimeDelta::days(i64::from(options.days))
        .num_microseconds()
        .unwrap_or(i64::MAX);
    let step = span / i64::try_from(options.events.max(1)).unwrap_or(i64::MAX);
    let start = options.end - TimeDelta::microseconds(span);
    (first..first + n)
        .map(|i| {
            let team = pick(rng, &team_weights, team_total);
            let (team_name, team_id) = &team_ids[team];
            let (provider, model, _, reasoning_model) = MODELS[pick(rng, &model_weights, model_total)];
            let input: u64 = match rng.random_range(0..10) {
                0..=5 => rng.random_range(50..2_000),
                6..=8 => rng.random_range(2_000..30_000),
                _ => rng.random_range(30_000..150_000),
            };
            let cache_read = if rng.random_bool(0.4) {
                input * rng.random_range(30..95) / 100
            } else {
                0
            };
            let output: u64 = rng.random_range(10..1_500);
            let reasoning = if reasoning_model {
                output * rng.random_range(20..80) / 100
            } else {
                0
            };
            let tier = match rng.random_range(0..100) {
                0..=6 => ServiceTier::Batch,
                7..=8 => ServiceTier::Priority,
                _ => ServiceTier::Standard,
            };
            let jitter = rng.random_range(0..step.max(1));
            let timestamp = start + TimeDelta::microseconds(i64::try_from(i).unwrap_or(0) * step + jitter);
            let mut tags = BTreeMap::new();
            tags.insert(
                "feature".to_owned(),
                FEATURES[rng.random_range(0..FEATURES.len())].to_owned(),
            );
            tags.insert(
                "env".to_owned(),
                if rng.random_bool(0.9) { "prod" } else { "staging" }.to_owned(),
            );
            let mut event = UsageEvent {
                id: format!("seed-{}-{i}", options.seed),
                timestamp,
                team: team_name.clone(),
                project: Some(format!("{team_name}-p{}", rng.random_range(0..PROJECTS_PER_TEAM))),
                user: Some(format!("u{}", rng.random_range(0..USERS_PER_TEAM))),
                tags: Some(tags),
                provider: provider.to_owned(),
                model: model.to_owned(),
                service_tier: tier,
                usage: Usage {
                    input_tokens: input,
                    cache_read_tokens: cache_read,
                    cache_write_tokens: 0,
                    cache_write_1h_tokens: 0,
                    output_tokens: output,
                    reasoning_tokens: reasoning,
                },
                reported_cost: None,
                reported_currency: "USD".to_owned(),
            };
            let priced = catalog.price(&event);
            if rng.random_bool(0.33) {
                // A gateway that prices the call itself (to the cent of a millionth).
                event.reported_cost = priced.as_ref().map(|p| p.cost.round_dp(6));
            }
            NewEvent {
                team_id: *team_id,
                id_hash: event.id_hash(),
                content_hash: event.content_hash(),
                event,
                priced,
            }
        })
        .collect()
}

/// What a seed did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeedReport {
    pub events: u64,
    pub seconds: f64,
    pub events_per_second: f64,
}

/// Generates and writes a seed through `pool`, one COPY transaction per chunk. Generation runs on
/// a thread of its own, a chunk ahead of the database.
pub async fn run(
    pool: &sqlx::PgPool,
    catalog: std::sync::Arc<Catalog>,
    options: &SeedOptions,
) -> anyhow::Result<SeedReport> {
    use anyhow::Context;
    use sqlx::Acquire;
    let started = std::time::Instant::now();
    let mut conn = pool.acquire().await?;
    let names: Vec<String> = (0..options.teams.max(1))
        .map(|i| format!("team-{i:02}"))
        .collect();
    let ids = crate::store::teams::ensure(&mut conn, &names).await?;
    let team_ids: Vec<(String, i64)> = names
        .iter()
        .filter_map(|n| ids.get(n).map(|id| (n.clone(), *id)))
        .collect();
    let (chunks, mut ready) = tokio::sync::mpsc::channel::<Vec<NewEvent>>(2);
    let generator = {
        let options = options.clone();
        tokio::task::spawn_blocking(move || {
            let mut rng = SmallRng::seed_from_u64(options.seed);
            let chunk = options.chunk.max(1) as u64;
            let mut first = 0;
            while first < options.events {
                let n = chunk.min(options.events - first);
                let batch = generate(&options, &catalog, &team_ids, first, n, &mut rng);
                if chunks.blocking_send(batch).is_err() {
                    return;
                }
                first += n;
            }
        })
    };
    let mut written = 0u64;
    let mut logged = 0u64;
    while let Some(batch) = ready.recv().await {
        let mut tx = conn.begin().await?;
        copy_new(&mut tx, &batch)
            .await
            .context("writing seed events (was a seed with this --seed loaded already?)")?;
        tx.commit().await?;
        written += batch.len() as u64;
        if written - logged >= 1_000_000 || written == options.events {
            logged = written;
            tracing::info!(written, total = options.events, "seeding");
        }
    }
    generator.await.context("the seed generator stopped")?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(SeedReport {
        events: written,
        seconds,
        events_per_second: written as f64 / seconds.max(1e-9),
    })
}
