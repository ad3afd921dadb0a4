//! What `/metrics` reads from the database at scrape time: declared all-teams aggregates over the
//! rollups (never the raw events, so a scrape costs the same at 100M events as at 100), and the
//! rollup job's heartbeat.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use std::collections::HashMap;

/// All-time sums of one rollup group: a team, provider and model, in one catalog currency ('' when
/// unpriced) and one reported currency. The same parts as the rollup tables, so either cost source
/// can be applied exactly in Rust (see `metrics::business`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageTotals {
    pub team: String,
    pub provider: String,
    pub model: String,
    /// The catalog currency of `cost` ('' for unpriced events).
    pub currency: String,
    /// The currency of `reported_cost`.
    pub reported_currency: String,
    pub requests: i64,
    pub reported_requests: i64,
    pub input_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    /// Sum of catalog cost (0 when unpriced).
    pub cost: Decimal,
    /// Sum of the gateway's reported cost, where sent.
    pub reported_cost: Decimal,
    /// Sum of catalog cost of the events without a reported cost.
    pub cost_unreported: Decimal,
    /// `cost` of the current UTC month only.
    pub month_cost: Decimal,
    /// `reported_cost` of the current UTC month only.
    pub month_reported_cost: Decimal,
    /// `cost_unreported` of the current UTC month only.
    pub month_cost_unreported: Decimal,
}

/// All-time usage by team, provider, model and currencies, read from `rollup_daily`: a declared
/// all-teams aggregate (SCALE.md rule 9) whose cost grows with the rows of `rollup_daily` (days ×
/// teams × models × projects × tiers), not with events; then the current UTC month's costs,
/// found through the by-day index and merged in.
pub async fn usage_totals(pool: &PgPool) -> Result<Vec<UsageTotals>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT t.name AS team, g.provider, g.model, g.currency, g.reported_currency,
                  g.requests AS "requests!", g.reported_requests AS "reported_requests!",
                  g.input_tokens AS "input_tokens!", g.cache_read_tokens AS "cache_read_tokens!",
                  g.cache_write_tokens AS "cache_write_tokens!", g.output_tokens AS "output_tokens!",
                  g.reasoning_tokens AS "reasoning_tokens!", g.cost AS "cost!",
                  g.reported_cost AS "reported_cost!", g.cost_unreported AS "cost_unreported!"
           FROM (SELECT r.team_id, r.provider, r.model, r.currency, r.reported_currency,
                        sum(r.requests)::bigint AS requests, sum(r.reported_requests)::bigint AS reported_requests,
                        sum(r.input_tokens)::bigint AS input_tokens,
                        sum(r.cache_read_tokens)::bigint AS cache_read_tokens,
                        sum(r.cache_write_tokens)::bigint AS cache_write_tokens,
                        sum(r.output_tokens)::bigint AS output_tokens,
                        sum(r.reasoning_tokens)::bigint AS reasoning_tokens,
                        sum(r.cost) AS cost, sum(r.reported_cost) AS reported_cost,
                        sum(r.cost_unreported) AS cost_unreported
                 FROM rollup_daily r
                 GROUP BY 1, 2, 3, 4, 5) g
           JOIN teams t ON t.team_id = g.team_id"#
    )
    .fetch_all(pool)
    .await?;
    let month = sqlx::query!(
        r#"SELECT t.name AS team, r.provider, r.model, r.currency, r.reported_currency,
                  sum(r.cost) AS "cost!", sum(r.reported_cost) AS "reported_cost!",
                  sum(r.cost_unreported) AS "cost_unreported!"
           FROM rollup_daily r JOIN teams t ON t.team_id = r.team_id
           WHERE r.day >= date_trunc('month', now(), 'UTC')
           GROUP BY 1, 2, 3, 4, 5"#
    )
    .fetch_all(pool)
    .await?;
    let mut month: HashMap<_, _> = month
        .into_iter()
        .map(|m| {
            let key = (m.team, m.provider, m.model, m.currency, m.reported_currency);
            (key, (m.cost, m.reported_cost, m.cost_unreported))
        })
        .collect();
    let mut out: Vec<UsageTotals> = rows
        .into_iter()
        .map(|r| {
            let key = (r.team, r.provider, r.model, r.currency, r.reported_currency);
            let (month_cost, month_reported_cost, month_cost_unreported) =
                month.remove(&key).unwrap_or_default();
            let (team, provider, model, currency, reported_currency) = key;
            UsageTotals {
                team,
                provider,
                model,
                currency,
                reported_currency,
                requests: r.requests,
                reported_requests: r.reported_requests,
                input_tokens: r.input_tokens,
                cache_read_tokens: r.cache_read_tokens,
                cache_write_tokens: r.cache_write_tokens,
                output_tokens: r.output_tokens,
                reasoning_tokens: r.reasoning_tokens,
                cost: r.cost,
                reported_cost: r.reported_cost,
                cost_unreported: r.cost_unreported,
                month_cost,
                month_reported_cost,
                month_cost_unreported,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.team, &a.provider, &a.model, &a.currency, &a.reported_currency).cmp(&(
            &b.team,
            &b.provider,
            &b.model,
            &b.currency,
            &b.reported_currency,
        ))
    });
    Ok(out)
}

/// The state of the rollup job, for its lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupProgress {
    /// The heartbeat every rollup pass writes, moved or not.
    pub updated_at: DateTime<Utc>,
    /// When the oldest stored event not yet in the rollups was received (`None`: none waits).
    pub oldest_unrolled_received_at: Option<DateTime<Utc>>,
}

/// The rollup heartbeat and the oldest event above the watermark. The second part is a declared
/// all-teams read of the events the next pass will add, found through the BRIN index on `ins_xid`
/// (a few pages: only the tail of each partition is above the watermark).
pub async fn rollup_progress(pool: &PgPool) -> Result<RollupProgress, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT s.updated_at,
                  (SELECT min(e.received_at) FROM events e WHERE e.ins_xid >= s.watermark) AS oldest
           FROM rollup_state s WHERE s.name = 'events'"#
    )
    .fetch_one(pool)
    .await?;
    Ok(RollupProgress {
        updated_at: row.updated_at,
        oldest_unrolled_received_at: row.oldest,
    })
}
