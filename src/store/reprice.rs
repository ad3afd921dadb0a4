//! Re-pricing runs: the pages of events a run walks, the one statement that re-prices a page and
//! records its changes, and the audit tables `reprice_runs`, `reprice_run_totals` and
//! `reprice_changes`. Event pages are a declared all-teams maintenance scan (SCALE.md rule 9).

use crate::domain::{ServiceTier, Usage};
use crate::pricing::reprice::{Amounts, Pricing, StoredCall, Tally, TallyKey, Totals};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;

/// An event's key, in the order runs walk events: (team_id, ts, seq).
pub type EventKey = (i64, DateTime<Utc>, i64);

/// Which events a run re-prices: `[from, to)`, optionally of one provider and model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunScope {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub provider: Option<String>,
    pub model: Option<String>,
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub run_id: i64,
    /// The key id of the admin who asked.
    pub requested_by: i64,
    pub scope: RunScope,
    pub dry_run: bool,
    /// `running`, `completed` or `failed`.
    pub status: String,
    pub events_examined: u64,
    pub events_changed: u64,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn db_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Records the start of a run and returns its id.
pub async fn create_run(
    executor: impl sqlx::PgExecutor<'_>,
    requested_by: i64,
    scope: &RunScope,
    dry_run: bool,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "INSERT INTO reprice_runs (requested_by, range_from, range_to, provider, model, dry_run)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING run_id",
        requested_by,
        scope.from,
        scope.to,
        scope.provider,
        scope.model,
        dry_run,
    )
    .fetch_one(executor)
    .await
}

struct RawEvent {
    team_id: i64,
    ts: DateTime<Utc>,
    seq: i64,
    provider: String,
    model: String,
    service_tier: String,
    input_tokens: i64,
    cache_read_tokens: i64,
    cache_write_tokens: i64,
    cache_write_1h_tokens: i64,
    output_tokens: i64,
    reasoning_tokens: i64,
    price_id: Option<i64>,
    cost: Option<Decimal>,
    list_cost: Option<Decimal>,
    currency: Option<String>,
}

impl RawEvent {
    fn into_call(self) -> (EventKey, StoredCall) {
        let call = StoredCall {
            team_id: self.team_id,
            provider: self.provider,
            model: self.model,
            // Stored tiers were written from a parsed ServiceTier.
            service_tier: ServiceTier::parse(&self.service_tier).unwrap_or(ServiceTier::Standard),
            usage: Usage {
                input_tokens: count(self.input_tokens),
                cache_read_tokens: count(self.cache_read_tokens),
                cache_write_tokens: count(self.cache_write_tokens),
                cache_write_1h_tokens: count(self.cache_write_1h_tokens),
                output_tokens: count(self.output_tokens),
                reasoning_tokens: count(self.reasoning_tokens),
            },
            ts: self.ts,
            current: Pricing {
                price_id: self.price_id,
                cost: self.cost,
                list_cost: self.list_cost,
                currency: self.currency,
            },
        };
        ((self.team_id, self.ts, self.seq), call)
    }
}

/// The events of the scope after `after` in key order, at most `limit`: a dry run's page.
/// The first page starts after `first_key(scope)`.
pub async fn page(
    executor: impl sqlx::PgExecutor<'_>,
    scope: &RunScope,
    after: EventKey,
    limit: i64,
) -> Result<Vec<(EventKey, StoredCall)>, sqlx::Error> {
    let rows = sqlx::query_as!(
        RawEvent,
        r#"SELECT team_id, ts, seq, provider, model, service_tier, input_tokens, cache_read_tokens,
                  cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens,
                  price_id, cost, list_cost, currency
           FROM events
           WHERE ts >= $1 AND ts < $2
             AND ($3::text IS NULL OR provider = $3)
             AND ($4::text IS NULL OR model = $4)
             AND (team_id, ts, seq) > ($5, $6, $7)
           ORDER BY team_id, ts, seq
           LIMIT $8"#,
        scope.from,
        scope.to,
        scope.provider,
        scope.model,
        after.0,
        after.1,
        after.2,
        limit,
    )
    .fetch_all(executor)
    .await?;
    Ok(rows.into_iter().map(RawEvent::into_call).collect())
}

/// Like `page`, locking the rows until the transaction ends: what a run reads as "before" is
/// what its update replaces, even with another run or the pricing of unpriced events at work on
/// the same events. Runs lock in key order, so two runs wait for each other rather than deadlock.
pub async fn page_for_update(
    conn: &mut PgConnection,
    scope: &RunScope,
    after: EventKey,
    limit: i64,
) -> Result<Vec<(EventKey, StoredCall)>, sqlx::Error> {
    let rows = sqlx::query_as!(
        RawEvent,
        r#"SELECT team_id, ts, seq, provider, model, service_tier, input_tokens, cache_read_tokens,
                  cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens,
                  price_id, cost, list_cost, currency
           FROM events
           WHERE ts >= $1 AND ts < $2
             AND ($3::text IS NULL OR provider = $3)
             AND ($4::text IS NULL OR model = $4)
             AND (team_id, ts, seq) > ($5, $6, $7)
           ORDER BY team_id, ts, seq
           LIMIT $8
           FOR UPDATE"#,
        scope.from,
        scope.to,
        scope.provider,
        scope.model,
        after.0,
        after.1,
        after.2,
        limit,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(RawEvent::into_call).collect())
}

/// The key before every event of the scope. The walk always has a lower bound, so every page is
/// an index range scan (`(team_id, ts, seq) > key` is a condition the primary key can start at).
pub fn first_key(scope: &RunScope) -> EventKey {
    (i64::MIN, scope.from, i64::MIN)
}

/// One event to change: its key and its catalog columns before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: EventKey,
    pub before: Pricing,
    pub after: Pricing,
}

/// Sets the new pricing of these events and records each change in `reprice_changes`, in one
/// statement. An event is only changed if it is still priced as `before` says (a compare-and-set:
/// setting absolute values computed from the catalog, so applying the same change twice is
/// harmless). Returns how many were changed, counted from `RETURNING` (SCALE.md rule 3).
pub async fn apply_changes(
    conn: &mut PgConnection,
    run_id: i64,
    changes: &[Change],
) -> Result<u64, sqlx::Error> {
    let n = changes.len();
    let mut team_id = Vec::with_capacity(n);
    let mut ts = Vec::with_capacity(n);
    let mut seq = Vec::with_capacity(n);
    let mut old_price_id = Vec::with_capacity(n);
    let mut new_price_id = Vec::with_capacity(n);
    let mut old_cost = Vec::with_capacity(n);
    let mut new_cost = Vec::with_capacity(n);
    let mut old_list_cost = Vec::with_capacity(n);
    let mut new_list_cost = Vec::with_capacity(n);
    let mut old_currency = Vec::with_capacity(n);
    let mut new_currency = Vec::with_capacity(n);
    for c in changes {
        team_id.push(c.key.0);
        ts.push(c.key.1);
        seq.push(c.key.2);
        old_price_id.push(c.before.price_id);
        new_price_id.push(c.after.price_id);
        old_cost.push(c.before.cost);
        new_cost.push(c.after.cost);
        old_list_cost.push(c.before.list_cost);
        new_list_cost.push(c.after.list_cost);
        old_currency.push(c.before.currency.clone());
        new_currency.push(c.after.currency.clone());
    }
    let rows = sqlx::query_scalar!(
        r#"
        WITH u AS (
            SELECT * FROM UNNEST(
                $2::bigint[], $3::timestamptz[], $4::bigint[], $5::bigint[], $6::bigint[], $7::numeric[],
                $8::numeric[], $9::numeric[], $10::numeric[], $11::text[], $12::text[]
            ) AS u(team_id, ts, seq, old_price_id, new_price_id, old_cost, new_cost, old_list_cost,
                   new_list_cost, old_currency, new_currency)
        ),
        updated AS (
            UPDATE events e
            SET price_id = u.new_price_id, cost = u.new_cost, list_cost = u.new_list_cost,
                currency = u.new_currency
            FROM u
            WHERE e.team_id = u.team_id AND e.ts = u.ts AND e.seq = u.seq
              AND e.price_id IS NOT DISTINCT FROM u.old_price_id
              AND e.cost IS NOT DISTINCT FROM u.old_cost
              AND e.list_cost IS NOT DISTINCT FROM u.old_list_cost
              AND e.currency IS NOT DISTINCT FROM u.old_currency
            RETURNING e.team_id, e.ts, e.seq
        ),
        -- The rollups of these hours are recomputed by the rollup job (committed together).
        marked AS (
            INSERT INTO rollup_pending (team_id, hour)
            SELECT DISTINCT team_id, date_trunc('hour', ts, 'UTC') FROM updated
            ON CONFLICT DO NOTHING
        )
        INSERT INTO reprice_changes (team_id, ts, seq, run_id, old_price_id, new_price_id, old_cost, new_cost,
                                     old_list_cost, new_list_cost, old_currency, new_currency)
        SELECT u.team_id, u.ts, u.seq, $1, u.old_price_id, u.new_price_id, u.old_cost, u.new_cost,
               u.old_list_cost, u.new_list_cost, u.old_currency, u.new_currency
        FROM updated JOIN u ON u.team_id = updated.team_id AND u.ts = updated.ts AND u.seq = updated.seq
        RETURNING 1 AS "one!"
        "#,
        run_id,
        &team_id,
        &ts,
        &seq,
        &old_price_id as &[Option<i64>],
        &new_price_id as &[Option<i64>],
        &old_cost as &[Option<Decimal>],
        &new_cost as &[Option<Decimal>],
        &old_list_cost as &[Option<Decimal>],
        &new_list_cost as &[Option<Decimal>],
        &old_currency as &[Option<String>],
        &new_currency as &[Option<String>],
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.len() as u64)
}

/// Adds a page's totals to the run and moves its position to `last`. Called in the transaction
/// that applied the page, so progress and changes commit together.
pub async fn record_progress(
    conn: &mut PgConnection,
    run_id: i64,
    last: EventKey,
    page: &Totals,
) -> Result<(), sqlx::Error> {
    let sum = page.sum();
    sqlx::query!(
        "UPDATE reprice_runs
         SET events_examined = events_examined + $2, events_changed = events_changed + $3,
             last_team_id = $4, last_ts = $5, last_seq = $6, updated_at = now()
         WHERE run_id = $1",
        run_id,
        db_count(sum.events_examined),
        db_count(sum.events_changed),
        last.0,
        last.1,
        last.2,
    )
    .execute(&mut *conn)
    .await?;
    let mut provider = Vec::new();
    let mut model = Vec::new();
    let mut currency = Vec::new();
    let mut counts: [Vec<i64>; 4] = Default::default();
    let mut amounts: [Vec<Decimal>; 4] = Default::default();
    for ((p, m, c), t) in page.rows() {
        provider.push(p.clone());
        model.push(m.clone());
        currency.push(c.clone());
        let row_counts = [
            t.events_examined,
            t.events_changed,
            t.unpriced_before,
            t.unpriced_after,
        ];
        for (column, value) in counts.iter_mut().zip(row_counts) {
            column.push(db_count(value));
        }
        let row_amounts = [t.before.cost, t.before.list_cost, t.after.cost, t.after.list_cost];
        for (column, value) in amounts.iter_mut().zip(row_amounts) {
            column.push(value);
        }
    }
    let [examined, changed, unpriced_before, unpriced_after] = counts;
    let [cost_before, list_cost_before, cost_after, list_cost_after] = amounts;
    sqlx::query!(
        "INSERT INTO reprice_run_totals AS t (run_id, provider, model, currency, events_examined, events_changed,
                                              unpriced_before, unpriced_after, cost_before, list_cost_before,
                                              cost_after, list_cost_after)
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[],
                                  $8::bigint[], $9::numeric[], $10::numeric[], $11::numeric[], $12::numeric[])
         ON CONFLICT (run_id, provider, model, currency) DO UPDATE SET
             events_examined = t.events_examined + EXCLUDED.events_examined,
             events_changed = t.events_changed + EXCLUDED.events_changed,
             unpriced_before = t.unpriced_before + EXCLUDED.unpriced_before,
             unpriced_after = t.unpriced_after + EXCLUDED.unpriced_after,
             cost_before = t.cost_before + EXCLUDED.cost_before,
             list_cost_before = t.list_cost_before + EXCLUDED.list_cost_before,
             cost_after = t.cost_after + EXCLUDED.cost_after,
             list_cost_after = t.list_cost_after + EXCLUDED.list_cost_after",
        run_id,
        &provider,
        &model,
        &currency,
        &examined,
        &changed,
        &unpriced_before,
        &unpriced_after,
        &cost_before,
        &list_cost_before,
        &cost_after,
        &list_cost_after,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a run as ended: `completed` or `failed`.
pub async fn finish(
    executor: impl sqlx::PgExecutor<'_>,
    run_id: i64,
    status: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE reprice_runs SET status = $2, finished_at = now(), updated_at = now() WHERE run_id = $1",
        run_id,
        status,
    )
    .execute(executor)
    .await?;
    Ok(())
}

struct RawRun {
    run_id: i64,
    requested_by: i64,
    range_from: DateTime<Utc>,
    range_to: DateTime<Utc>,
    provider: Option<String>,
    model: Option<String>,
    dry_run: bool,
    status: String,
    events_examined: i64,
    events_changed: i64,
    started_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

impl From<RawRun> for Run {
    fn from(r: RawRun) -> Self {
        Self {
            run_id: r.run_id,
            requested_by: r.requested_by,
            scope: RunScope {
                from: r.range_from,
                to: r.range_to,
                provider: r.provider,
                model: r.model,
            },
            dry_run: r.dry_run,
            status: r.status,
            events_examined: count(r.events_examined),
            events_changed: count(r.events_changed),
            started_at: r.started_at,
            updated_at: r.updated_at,
            finished_at: r.finished_at,
        }
    }
}

/// One run, if it exists.
pub async fn get_run(executor: impl sqlx::PgExecutor<'_>, run_id: i64) -> Result<Option<Run>, sqlx::Error> {
    let row = sqlx::query_as!(
        RawRun,
        "SELECT run_id, requested_by, range_from, range_to, provider, model, dry_run, status, events_examined,
                events_changed, started_at, updated_at, finished_at
         FROM reprice_runs WHERE run_id = $1",
        run_id,
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(Run::from))
}

/// Runs newest first, those with an id below `before` when given.
pub async fn list_runs(
    executor: impl sqlx::PgExecutor<'_>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Run>, sqlx::Error> {
    let rows = sqlx::query_as!(
        RawRun,
        "SELECT run_id, requested_by, range_from, range_to, provider, model, dry_run, status, events_examined,
                events_changed, started_at, updated_at, finished_at
         FROM reprice_runs
         WHERE $1::bigint IS NULL OR run_id < $1
         ORDER BY run_id DESC
         LIMIT $2",
        before,
        limit,
    )
    .fetch_all(executor)
    .await?;
    Ok(rows.into_iter().map(Run::from).collect())
}

/// The totals of these runs so far, by run.
pub async fn totals(
    executor: impl sqlx::PgExecutor<'_>,
    run_ids: &[i64],
) -> Result<Vec<(i64, Totals)>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT run_id, provider, model, currency, events_examined, events_changed, unpriced_before,
                unpriced_after, cost_before, list_cost_before, cost_after, list_cost_after
         FROM reprice_run_totals
         WHERE run_id = ANY($1)
         ORDER BY run_id",
        run_ids,
    )
    .fetch_all(executor)
    .await?;
    let mut by_run: Vec<(i64, Vec<(TallyKey, Tally)>)> = Vec::new();
    for r in rows {
        let tally = Tally {
            events_examined: count(r.events_examined),
            events_changed: count(r.events_changed),
            unpriced_before: count(r.unpriced_before),
            unpriced_after: count(r.unpriced_after),
            before: Amounts {
                cost: r.cost_before,
                list_cost: r.list_cost_before,
            },
            after: Amounts {
                cost: r.cost_after,
                list_cost: r.list_cost_after,
            },
        };
        let entry = (r.provider, r.model, r.currency);
        match by_run.last_mut() {
            Some((run_id, rows)) if *run_id == r.run_id => rows.push((entry, tally)),
            _ => by_run.push((r.run_id, vec![(entry, tally)])),
        }
    }
    Ok(by_run
        .into_iter()
        .map(|(run_id, rows)| (run_id, Totals::from_rows(rows)))
        .collect())
}

/// A change a run made to one event, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    pub key: EventKey,
    pub team: String,
    /// `None` if the event no longer exists.
    pub event_id: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub before: Pricing,
    pub after: Pricing,
}

/// The changes of a run after `after` in key order, at most `limit`.
pub async fn changes(
    executor: impl sqlx::PgExecutor<'_>,
    run_id: i64,
    after: Option<EventKey>,
    limit: i64,
) -> Result<Vec<ChangeRow>, sqlx::Error> {
    // No team id is below i64::MIN, so the first page starts at the run's first change.
    let (team_id, ts, seq) = after.unwrap_or((i64::MIN, DateTime::<Utc>::UNIX_EPOCH, i64::MIN));
    let rows = sqlx::query!(
        r#"SELECT c.team_id, c.ts, c.seq, t.name AS team, e.event_id AS "event_id?", e.provider AS "provider?",
                  e.model AS "model?", c.old_price_id, c.new_price_id, c.old_cost, c.new_cost, c.old_list_cost,
                  c.new_list_cost, c.old_currency, c.new_currency
           FROM reprice_changes c
           JOIN teams t ON t.team_id = c.team_id
           LEFT JOIN events e ON e.team_id = c.team_id AND e.ts = c.ts AND e.seq = c.seq
           WHERE c.run_id = $1 AND (c.team_id, c.ts, c.seq) > ($2, $3, $4)
           ORDER BY c.team_id, c.ts, c.seq
           LIMIT $5"#,
        run_id,
        team_id,
        ts,
        seq,
        limit,
    )
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ChangeRow {
            key: (r.team_id, r.ts, r.seq),
            team: r.team,
            event_id: r.event_id,
            provider: r.provider,
            model: r.model,
            before: Pricing {
                price_id: r.old_price_id,
                cost: r.old_cost,
                list_cost: r.old_list_cost,
                currency: r.old_currency,
            },
            after: Pricing {
                price_id: r.new_price_id,
                cost: r.new_cost,
                list_cost: r.new_list_cost,
                currency: r.new_currency,
            },
        })
        .collect())
}
