//! Re-pricing a range of stored events (`POST /v1/reprice`), with an audit trail.
//!
//! A run loads the catalog fresh from the database, records itself in `reprice_runs`, and walks
//! the events of its range in pages, in key order (team_id, ts, seq), so memory stays bounded
//! whatever the range. Each page is one transaction:
//!
//! 1. read the page `FOR UPDATE` (a dry run reads without locking),
//! 2. price each event with the catalog exactly as ingest would (`pricing::reprice`),
//! 3. in one statement, set the new pricing of the events that differ and record each change
//!    (old and new price id, cost, list cost, currency) in `reprice_changes` (skipped by a dry run),
//! 4. add the page's counts and amounts to the run (`reprice_runs`, `reprice_run_totals`),
//! 5. commit.
//!
//! So a run that stops half-way (an error, a crash) leaves committed pages that are fully
//! explained, a run row that says how far it got, and nothing else; the run is marked `failed`
//! when it can be, and stays `running` after a crash. Running the same range again finishes it.
//!
//! Correctness does not depend on there being one run at a time: the update writes absolute
//! values computed from the catalog, only to events still priced as read (compare-and-set), and
//! the page's rows are locked while the run decides. Two runs over the same events apply the same
//! prices; the second finds nothing left to change. Locking in key order makes two runs queue
//! rather than deadlock; a deadlock with another writer (pricing of unpriced events) retries the page.

use crate::pricing::reprice::{reprice_all, Amounts, Tally, Totals};
use crate::pricing::Catalog;
use crate::store;
use crate::store::reprice::{Change, EventKey, Run, RunScope};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;
use std::collections::BTreeMap;

/// Events re-priced per transaction.
pub const PAGE_SIZE: i64 = 1_000;

/// How often a page is tried when it collides with another writer.
const ATTEMPTS: usize = 3;

/// What to re-price, and who asks.
#[derive(Debug, Clone)]
pub struct Request {
    pub scope: RunScope,
    pub dry_run: bool,
    /// The key id of the admin asking.
    pub requested_by: i64,
}

/// Why a run did not complete. Its committed pages stand and are recorded.
#[derive(Debug, thiserror::Error)]
pub enum RepriceError {
    #[error("{updated} of {expected} events of a page were still priced as read; the page was rolled back")]
    Raced { expected: usize, updated: u64 },
    #[error("the run {0} vanished")]
    Missing(i64),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl RepriceError {
    /// A collision with another writer: trying the page again is right.
    fn is_transient(&self) -> bool {
        match self {
            Self::Raced { .. } => true,
            // 40P01 deadlock detected, 40001 serialization failure.
            Self::Database(sqlx::Error::Database(db)) => {
                matches!(db.code().as_deref(), Some("40P01") | Some("40001"))
            }
            Self::Database(_) | Self::Missing(_) => false,
        }
    }
}

/// Re-prices the events of the request's scope, `page_size` per transaction, and reports the run.
pub async fn run(pool: &PgPool, request: &Request, page_size: i64) -> Result<RunReport, RepriceError> {
    let catalog = crate::catalog::load(pool).await?;
    let run_id =
        store::reprice::create_run(pool, request.requested_by, &request.scope, request.dry_run).await?;
    let walked = walk(pool, &catalog, run_id, request, page_size).await;
    let status = if walked.is_ok() { "completed" } else { "failed" };
    let finished = store::reprice::finish(pool, run_id, status).await;
    walked?;
    finished?;
    let report = load(pool, run_id).await?.ok_or(RepriceError::Missing(run_id))?;
    tracing::info!(
        run_id,
        dry_run = request.dry_run,
        examined = report.events_examined,
        changed = report.events_changed,
        "re-priced events"
    );
    Ok(report)
}

async fn walk(
    pool: &PgPool,
    catalog: &Catalog,
    run_id: i64,
    request: &Request,
    page_size: i64,
) -> Result<(), RepriceError> {
    let mut after = store::reprice::first_key(&request.scope);
    loop {
        let mut attempt = 1;
        let done = loop {
            match page(pool, catalog, run_id, request, after, page_size).await {
                Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                    tracing::warn!(run_id, error = %e, "re-pricing page collided; trying it again");
                    attempt += 1;
                }
                other => break other?,
            }
        };
        match done {
            Some((last, read)) if read as i64 >= page_size => after = last,
            _ => return Ok(()),
        }
    }
}

/// Re-prices one page in one transaction. Returns the last key and the number of events read,
/// `None` when there were none.
async fn page(
    pool: &PgPool,
    catalog: &Catalog,
    run_id: i64,
    request: &Request,
    after: EventKey,
    page_size: i64,
) -> Result<Option<(EventKey, usize)>, RepriceError> {
    let scope = &request.scope;
    let mut tx = pool.begin().await?;
    let rows = if request.dry_run {
        store::reprice::page(&mut *tx, scope, after, page_size).await?
    } else {
        store::reprice::page_for_update(&mut tx, scope, after, page_size).await?
    };
    let read = rows.len();
    let (keys, calls): (Vec<EventKey>, Vec<_>) = rows.into_iter().unzip();
    let Some(&last) = keys.last() else {
        return Ok(None);
    };
    let repriced = reprice_all(catalog, &calls);
    if !request.dry_run {
        let changes: Vec<Change> = keys
            .into_iter()
            .zip(calls)
            .zip(repriced.after)
            .filter(|((_, call), after)| call.current != *after)
            .map(|((key, call), after)| Change {
                key,
                before: call.current,
                after,
            })
            .collect();
        if !changes.is_empty() {
            let updated = store::reprice::apply_changes(&mut tx, run_id, &changes).await?;
            if updated != changes.len() as u64 {
                return Err(RepriceError::Raced {
                    expected: changes.len(),
                    updated,
                });
            }
        }
    }
    store::reprice::record_progress(&mut tx, run_id, last, &repriced.totals).await?;
    tx.commit().await?;
    Ok(Some((last, read)))
}

/// A run and what it found so far.
pub async fn load(pool: &PgPool, run_id: i64) -> Result<Option<RunReport>, sqlx::Error> {
    let Some(run) = store::reprice::get_run(pool, run_id).await? else {
        return Ok(None);
    };
    let totals = store::reprice::totals(pool, &[run_id])
        .await?
        .pop()
        .map(|(_, t)| t)
        .unwrap_or_default();
    Ok(Some(RunReport::new(run, &totals)))
}

/// Runs newest first, with what they found.
pub async fn list(pool: &PgPool, before: Option<i64>, limit: i64) -> Result<Vec<RunReport>, sqlx::Error> {
    let runs = store::reprice::list_runs(pool, before, limit).await?;
    let ids: Vec<i64> = runs.iter().map(|r| r.run_id).collect();
    let mut totals: BTreeMap<i64, Totals> = store::reprice::totals(pool, &ids).await?.into_iter().collect();
    Ok(runs
        .into_iter()
        .map(|run| {
            let found = totals.remove(&run.run_id).unwrap_or_default();
            RunReport::new(run, &found)
        })
        .collect())
}

/// Catalog amounts in one currency, as decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AmountsView {
    /// After adjustments (equal to `list_cost` until adjustments exist).
    pub cost: String,
    pub list_cost: String,
}

/// Amounts by currency code. Amounts of different currencies are never added together.
pub type ByCurrency = BTreeMap<String, AmountsView>;

/// What a run found for one (provider, model).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ModelReport {
    pub provider: String,
    pub model: String,
    pub events_examined: u64,
    pub events_changed: u64,
    pub unpriced_before: u64,
    pub unpriced_after: u64,
    pub before: ByCurrency,
    pub after: ByCurrency,
}

/// A re-pricing run: what was asked, how far it got, and the catalog amounts of its events before
/// and after (for a dry run: what they would be after).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RunReport {
    pub run_id: i64,
    /// `running`, `completed` or `failed`. A failed or interrupted run's committed pages stand.
    pub status: String,
    pub dry_run: bool,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// The id of the API key that asked.
    pub requested_by: i64,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Events of the range (and filter) looked at.
    pub events_examined: u64,
    /// Events whose price id, cost, list cost or currency changed (would change, in a dry run).
    pub events_changed: u64,
    /// Events without a catalog price before, and after.
    pub unpriced_before: u64,
    pub unpriced_after: u64,
    /// Catalog amounts of the examined events, by currency. Unpriced events count as nothing.
    pub before: ByCurrency,
    pub after: ByCurrency,
    pub by_model: Vec<ModelReport>,
}

fn view(amounts: &BTreeMap<String, Amounts>) -> ByCurrency {
    let text = |d: Decimal| crate::domain::money::format_amount(d);
    amounts
        .iter()
        .map(|(currency, a)| {
            (
                currency.clone(),
                AmountsView {
                    cost: text(a.cost),
                    list_cost: text(a.list_cost),
                },
            )
        })
        .collect()
}

/// Counts, and amounts per currency, of one group of tallies.
#[derive(Default)]
struct Group {
    counts: Tally,
    before: BTreeMap<String, Amounts>,
    after: BTreeMap<String, Amounts>,
}

impl Group {
    fn add(&mut self, currency: &str, tally: &Tally) {
        self.counts.events_examined += tally.events_examined;
        self.counts.events_changed += tally.events_changed;
        self.counts.unpriced_before += tally.unpriced_before;
        self.counts.unpriced_after += tally.unpriced_after;
        // '' holds events unpriced before and after: counts only, no currency.
        if !currency.is_empty() {
            let before = self.before.entry(currency.to_owned()).or_default();
            before.cost += tally.before.cost;
            before.list_cost += tally.before.list_cost;
            let after = self.after.entry(currency.to_owned()).or_default();
            after.cost += tally.after.cost;
            after.list_cost += tally.after.list_cost;
        }
    }
}

impl RunReport {
    fn new(run: Run, totals: &Totals) -> Self {
        let mut all = Group::default();
        let mut models: BTreeMap<(&str, &str), Group> = BTreeMap::new();
        for ((provider, model, currency), tally) in totals.rows() {
            all.add(currency, tally);
            models
                .entry((provider.as_str(), model.as_str()))
                .or_default()
                .add(currency, tally);
        }
        Self {
            run_id: run.run_id,
            status: run.status,
            dry_run: run.dry_run,
            from: run.scope.from,
            to: run.scope.to,
            provider: run.scope.provider,
            model: run.scope.model,
            requested_by: run.requested_by,
            started_at: run.started_at,
            updated_at: run.updated_at,
            finished_at: run.finished_at,
            events_examined: run.events_examined,
            events_changed: run.events_changed,
            unpriced_before: all.counts.unpriced_before,
            unpriced_after: all.counts.unpriced_after,
            before: view(&all.before),
            after: view(&all.after),
            by_model: models
                .into_iter()
                .map(|((provider, model), g)| ModelReport {
                    provider: provider.to_owned(),
                    model: model.to_owned(),
                    events_examined: g.counts.events_examined,
                    events_changed: g.counts.events_changed,
                    unpriced_before: g.counts.unpriced_before,
                    unpriced_after: g.counts.unpriced_after,
                    before: view(&g.before),
                    after: view(&g.after),
                })
                .collect(),
        }
    }
}
