//! Business series: spend, tokens and requests read from the rollups at scrape time, so every
//! replica reports the same totals. The read is cached for `TOKENLEDGER_METRICS_CACHE_SECS`, and
//! label cardinality is bounded: the top teams and models by all-time spend keep their names, the
//! rest are summed under `other`, so the series still add up exactly to the totals.
//!
//! Amounts stay `Decimal` through every sum here; they become `f64` only in `families`, at the
//! exposition edge, because the Prometheus text format has no other number.

use super::family::{counter, gauge};
use crate::config::CostSource;
use crate::store::metrics::{RollupProgress, UsageTotals};
use chrono::{DateTime, Utc};
use prometheus::proto::MetricFamily;
use rust_decimal::Decimal;
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The label value of folded teams and models.
pub const OTHER: &str = "other";

/// The token kinds of `tokenledger_tokens_total`, in exposition order.
pub const TOKEN_KINDS: [&str; 5] = ["input", "cache_read", "cache_write", "output", "reasoning"];

/// How the business series are shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub cost_source: CostSource,
    /// Teams that keep their name (`TOKENLEDGER_METRICS_TOP_TEAMS`).
    pub top_teams: usize,
    /// (provider, model) pairs that keep their model name (`TOKENLEDGER_METRICS_TOP_MODELS`).
    pub top_models: usize,
}

type Series3 = (String, String, String);
type Series4 = (String, String, String, String);

/// The business totals after the cost source and the folding are applied. Keys are label values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusinessTotals {
    /// (team, provider, model, currency) → the cost that counts (per the cost source).
    pub spend: BTreeMap<Series4, Decimal>,
    /// (team, provider, model, currency) → the gateway's reported cost.
    pub reported_spend: BTreeMap<Series4, Decimal>,
    /// (team, provider, model) → events.
    pub requests: BTreeMap<Series3, i64>,
    /// (team, provider, model, kind) → tokens.
    pub tokens: BTreeMap<Series4, i64>,
    /// (team, provider, model) → events no price matched.
    pub unpriced: BTreeMap<Series3, i64>,
    /// (team, currency) → the cost that counts in the current UTC month.
    pub month_spend: BTreeMap<(String, String), Decimal>,
}

/// The (currency, all-time amount, month amount) a rollup group counts for, by the cost source.
/// Mirrors `store::spend`'s rule, so these series agree with `GET /v1/spend`.
fn counted(row: &UsageTotals, source: CostSource) -> Vec<(&str, Decimal, Decimal)> {
    let reported = (row.reported_requests > 0).then_some((
        row.reported_currency.as_str(),
        row.reported_cost,
        row.month_reported_cost,
    ));
    match source {
        CostSource::Computed if !row.currency.is_empty() => {
            vec![(row.currency.as_str(), row.cost, row.month_cost)]
        }
        CostSource::Computed => reported.into_iter().collect(),
        CostSource::Reported => {
            let mut parts: Vec<_> = reported.into_iter().collect();
            if !row.currency.is_empty() && row.requests > row.reported_requests {
                parts.push((
                    row.currency.as_str(),
                    row.cost_unreported,
                    row.month_cost_unreported,
                ));
            }
            parts
        }
    }
}

/// The `n` keys with the highest amount (ties by key, so the choice is stable).
fn top<K: Ord + Clone + std::hash::Hash>(amounts: HashMap<K, Decimal>, n: usize) -> HashSet<K> {
    let mut ranked: Vec<(K, Decimal)> = amounts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.into_iter().take(n).map(|(k, _)| k).collect()
}

/// Applies the cost source and folds teams and models outside the top N into `other`. Ranking
/// adds amounts across currencies: only the order is taken from it, never an amount.
pub fn fold(rows: &[UsageTotals], shape: Shape) -> BusinessTotals {
    let mut team_spend: HashMap<&str, Decimal> = HashMap::new();
    let mut model_spend: HashMap<(&str, &str), Decimal> = HashMap::new();
    for row in rows {
        let amount: Decimal = counted(row, shape.cost_source).iter().map(|c| c.1).sum();
        *team_spend.entry(row.team.as_str()).or_default() += amount;
        *model_spend
            .entry((row.provider.as_str(), row.model.as_str()))
            .or_default() += amount;
    }
    let teams = top(team_spend, shape.top_teams);
    let models = top(model_spend, shape.top_models);

    let mut out = BusinessTotals::default();
    for row in rows {
        let team = if teams.contains(row.team.as_str()) {
            row.team.clone()
        } else {
            OTHER.to_owned()
        };
        let model = if models.contains(&(row.provider.as_str(), row.model.as_str())) {
            row.model.clone()
        } else {
            OTHER.to_owned()
        };
        let key3 = (team.clone(), row.provider.clone(), model.clone());
        let key4 = |last: &str| (team.clone(), row.provider.clone(), model.clone(), last.to_owned());
        for (currency, amount, month) in counted(row, shape.cost_source) {
            *out.spend.entry(key4(currency)).or_default() += amount;
            *out.month_spend
                .entry((team.clone(), currency.to_owned()))
                .or_default() += month;
        }
        if row.reported_requests > 0 {
            *out.reported_spend
                .entry(key4(&row.reported_currency))
                .or_default() += row.reported_cost;
        }
        *out.requests.entry(key3.clone()).or_default() += row.requests;
        let counts = [
            row.input_tokens,
            row.cache_read_tokens,
            row.cache_write_tokens,
            row.output_tokens,
            row.reasoning_tokens,
        ];
        for (kind, count) in TOKEN_KINDS.iter().zip(counts) {
            *out.tokens.entry(key4(kind)).or_default() += count;
        }
        if row.currency.is_empty() {
            *out.unpriced.entry(key3).or_default() += row.requests;
        }
    }
    out
}

/// One read of the database, shaped.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub totals: BusinessTotals,
    pub rollup: RollupProgress,
    /// When it was read.
    pub taken_at: DateTime<Utc>,
}

impl Snapshot {
    /// The business families, plus the rollup lag as of `now`.
    pub fn families(&self, now: DateTime<Utc>) -> Vec<MetricFamily> {
        let t = &self.totals;
        let money = |d: &Decimal| decimal_to_f64(*d);
        let count = |n: &i64| *n as f64;
        let labels4 = ["team", "provider", "model", "currency"];
        let labels3 = ["team", "provider", "model"];
        let seconds = |at: DateTime<Utc>| ((now - at).num_milliseconds().max(0) as f64) / 1000.0;
        let mut families = vec![
            counter(
                "tokenledger_spend_total",
                "Spend that counts (per TOKENLEDGER_COST_SOURCE), all time, from the rollups, by team, provider, model and currency. A float in the exposition only: exact decimals are in GET /v1/spend.",
                &labels4,
                t.spend.iter().map(|(k, v)| (vec![&k.0, &k.1, &k.2, &k.3], money(v))),
            ),
            counter(
                "tokenledger_reported_spend_total",
                "Cost as reported by the gateways, all time, by team, provider, model and (reported) currency. A float in the exposition only.",
                &labels4,
                t.reported_spend.iter().map(|(k, v)| (vec![&k.0, &k.1, &k.2, &k.3], money(v))),
            ),
            counter(
                "tokenledger_requests_total",
                "Usage events (model calls), all time, by team, provider and model.",
                &labels3,
                t.requests.iter().map(|(k, v)| (vec![&k.0, &k.1, &k.2], count(v))),
            ),
            counter(
                "tokenledger_tokens_total",
                "Tokens, all time, by team, provider, model and kind (input = all input including cache_read and cache_write; output = all output including reasoning).",
                &["team", "provider", "model", "kind"],
                t.tokens.iter().map(|(k, v)| (vec![&k.0, &k.1, &k.2, &k.3], count(v))),
            ),
            counter(
                "tokenledger_unpriced_events_total",
                "Usage events no price matched, all time, by team, provider and model.",
                &labels3,
                t.unpriced.iter().map(|(k, v)| (vec![&k.0, &k.1, &k.2], count(v))),
            ),
            gauge(
                "tokenledger_month_spend",
                "Spend that counts in the current UTC month, by team and currency. A float in the exposition only.",
                &["team", "currency"],
                t.month_spend.iter().map(|(k, v)| (vec![&k.0, &k.1], money(v))),
            ),
            gauge(
                "tokenledger_rollup_lag_seconds",
                "Seconds since the rollup job last completed a pass (its heartbeat in rollup_state); no labels.",
                &[],
                std::iter::once((Vec::<&str>::new(), seconds(self.rollup.updated_at))),
            ),
            gauge(
                "tokenledger_rollup_oldest_pending_event_age_seconds",
                "Age of the oldest stored event not yet in the rollups (0 when none waits); no labels.",
                &[],
                std::iter::once((
                    Vec::<&str>::new(),
                    self.rollup.oldest_unrolled_received_at.map_or(0.0, seconds),
                )),
            ),
            gauge(
                "tokenledger_business_metrics_age_seconds",
                "Age of the cached database read behind the business series; no labels.",
                &[],
                std::iter::once((Vec::<&str>::new(), seconds(self.taken_at))),
            ),
        ];
        families.retain(|f| !f.get_metric().is_empty());
        families
    }
}

/// The nearest `f64` to an exact decimal: through its decimal text, which Rust parses correctly
/// rounded, so a value of up to 15 significant digits reads back as the same decimal.
pub fn decimal_to_f64(value: Decimal) -> f64 {
    value.normalize().to_string().parse().unwrap_or(f64::NAN)
}

/// The cached snapshot, refreshed at most every `ttl`. Concurrent scrapes wait for one read.
pub struct Cache {
    ttl: Duration,
    shape: Shape,
    slot: tokio::sync::Mutex<Option<(Instant, Arc<Snapshot>)>>,
}

impl Cache {
    /// An empty cache.
    pub fn new(ttl: Duration, shape: Shape) -> Self {
        Self {
            ttl,
            shape,
            slot: tokio::sync::Mutex::new(None),
        }
    }

    /// The snapshot, read again when older than the ttl. When the read fails, the last snapshot
    /// (if any) is returned with the error, so `/metrics` still answers while the database is away.
    pub async fn get(&self, pool: &PgPool) -> (Option<Arc<Snapshot>>, Option<sqlx::Error>) {
        let mut slot = self.slot.lock().await;
        if let Some((at, snapshot)) = slot.as_ref() {
            if at.elapsed() < self.ttl {
                return (Some(snapshot.clone()), None);
            }
        }
        match read(pool, self.shape).await {
            Ok(snapshot) => {
                let snapshot = Arc::new(snapshot);
                *slot = Some((Instant::now(), snapshot.clone()));
                (Some(snapshot), None)
            }
            Err(error) => (slot.as_ref().map(|(_, s)| s.clone()), Some(error)),
        }
    }
}

async fn read(pool: &PgPool, shape: Shape) -> Result<Snapshot, sqlx::Error> {
    let rows = crate::store::metrics::usage_totals(pool).await?;
    let rollup = crate::store::metrics::rollup_progress(pool).await?;
    Ok(Snapshot {
        totals: fold(&rows, shape),
        rollup,
        taken_at: Utc::now(),
    })
}

#[cfg(test)]
#[path = "business_tests.rs"]
mod tests;
