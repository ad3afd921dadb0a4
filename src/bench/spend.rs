//! `tokenledger bench spend`: latency of typical spend questions over whatever events the database
//! holds (load them with `tokenledger seed`), from the rollups and, for comparison, over raw
//! events alone; plus disk bytes per event. Measured at the store call (planning + SQL), without
//! HTTP, so the figures are the database's share of an answer.

use super::quantile;
use crate::config::CostSource;
use crate::store::spend::{raw::spend_raw, spend, Dimension, Granularity, SpendQuery};
use chrono::{DurationRound, TimeDelta, Utc};
use serde::Serialize;
use sqlx::PgPool;
use std::time::Instant;

/// One question's figures.
#[derive(Debug, Serialize)]
pub struct QueryFigures {
    pub name: String,
    pub rows: usize,
    pub rollup_p50_ms: f64,
    pub rollup_p95_ms: f64,
    pub raw_p50_ms: Option<f64>,
    pub raw_p95_ms: Option<f64>,
    /// Raw p50 over rollup p50.
    pub speedup: Option<f64>,
}

/// Everything `bench spend` measured.
#[derive(Debug, Serialize)]
pub struct SpendFigures {
    pub events: i64,
    pub bytes_per_event: f64,
    pub rollup_rows: serde_json::Value,
    pub queries: Vec<QueryFigures>,
}

fn question(
    name: &str,
    days: i64,
    group_by: Vec<Dimension>,
    granularity: Option<Granularity>,
    ragged: bool,
) -> (String, SpendQuery) {
    let now = Utc::now();
    let midnight = now.duration_trunc(TimeDelta::days(1)).unwrap_or(now);
    let (from, to) = if ragged {
        (now - TimeDelta::days(days), now)
    } else {
        (midnight - TimeDelta::days(days), midnight)
    };
    (
        name.to_owned(),
        SpendQuery {
            from,
            to,
            group_by,
            granularity,
            tz: "UTC".to_owned(),
            team_ids: None,
            providers: Vec::new(),
            models: Vec::new(),
            projects: Vec::new(),
            currency: "USD".to_owned(),
            cost_source: CostSource::Computed,
        },
    )
}

async fn time<F, Fut, T>(iterations: usize, mut f: F) -> anyhow::Result<(Vec<f64>, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut last = f().await?; // warm-up
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        last = f().await?;
        samples.push(started.elapsed().as_secs_f64() * 1e3);
    }
    samples.sort_by(f64::total_cmp);
    Ok((samples, last))
}

/// Runs the questions `iterations` times each (raw ones `raw_iterations` times; 0 skips them).
pub async fn run(pool: &PgPool, iterations: usize, raw_iterations: usize) -> anyhow::Result<SpendFigures> {
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?;
    let bytes: i64 = sqlx::query_scalar(
        "SELECT (sum(pg_total_relation_size(c.oid)))::bigint FROM pg_class c \
         WHERE c.relkind = 'r' AND (c.relname LIKE 'events\\_%' OR c.relname = 'event_keys')",
    )
    .fetch_one(pool)
    .await?;
    let rollup_rows = serde_json::json!({
        "hourly": sqlx::query_scalar::<_, i64>("SELECT count(*) FROM rollup_hourly").fetch_one(pool).await?,
        "daily": sqlx::query_scalar::<_, i64>("SELECT count(*) FROM rollup_daily").fetch_one(pool).await?,
        "daily_users": sqlx::query_scalar::<_, i64>("SELECT count(*) FROM rollup_daily_users").fetch_one(pool).await?,
        "daily_tags": sqlx::query_scalar::<_, i64>("SELECT count(*) FROM rollup_daily_tags").fetch_one(pool).await?,
    });
    let questions = [
        question("by team, 30 days", 30, vec![Dimension::Team], None, false),
        question(
            "team x provider x model by day, 30 days",
            30,
            vec![Dimension::Team, Dimension::Provider, Dimension::Model],
            Some(Granularity::Day),
            false,
        ),
        question(
            "by tag:feature, 7 days",
            7,
            vec![Dimension::Tag("feature".into())],
            None,
            false,
        ),
        question(
            "by team, last 30 x 24 hours (ragged edges)",
            30,
            vec![Dimension::Team],
            None,
            true,
        ),
    ];
    let mut queries = Vec::new();
    for (name, query) in questions {
        let (rolled, rows) = time(iterations, || spend(pool, &query)).await?;
        let (raw_p50, raw_p95) = if raw_iterations > 0 {
            let (raw, _) = time(raw_iterations, || spend_raw(pool, &query)).await?;
            (Some(quantile(&raw, 0.5)), Some(quantile(&raw, 0.95)))
        } else {
            (None, None)
        };
        let rollup_p50 = quantile(&rolled, 0.5);
        queries.push(QueryFigures {
            name,
            rows: rows.len(),
            rollup_p50_ms: rollup_p50,
            rollup_p95_ms: quantile(&rolled, 0.95),
            raw_p50_ms: raw_p50,
            raw_p95_ms: raw_p95,
            speedup: raw_p50.map(|r| r / rollup_p50.max(1e-9)),
        });
    }
    Ok(SpendFigures {
        events,
        bytes_per_event: bytes as f64 / (events.max(1) as f64),
        rollup_rows,
        queries,
    })
}

/// The human table.
pub fn table(figures: &SpendFigures) -> String {
    let mut out = format!(
        "events: {}   disk: {:.0} bytes/event (events + event_keys, with indexes)   rollup rows: {}\n\n",
        figures.events, figures.bytes_per_event, figures.rollup_rows
    );
    out.push_str(&format!(
        "{:<44} {:>6} {:>10} {:>10} {:>10} {:>10} {:>8}\n",
        "question", "rows", "p50 ms", "p95 ms", "raw p50", "raw p95", "speedup"
    ));
    let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    for q in &figures.queries {
        out.push_str(&format!(
            "{:<44} {:>6} {:>10.2} {:>10.2} {:>10} {:>10} {:>8}\n",
            q.name,
            q.rows,
            q.rollup_p50_ms,
            q.rollup_p95_ms,
            opt(q.raw_p50_ms),
            opt(q.raw_p95_ms),
            q.speedup.map_or("-".to_owned(), |s| format!("{s:.0}x"))
        ));
    }
    out
}
