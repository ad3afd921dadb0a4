//! The `events` and `event_keys` tables: the batch writer and the raw-event listing.

use crate::domain::UsageEvent;
use crate::pricing::PricedCost;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::types::Uuid;
use sqlx::PgConnection;

/// An event ready to be written: validated, priced (or not), with its team resolved.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub team_id: i64,
    pub id_hash: [u8; 16],
    pub content_hash: [u8; 16],
    pub event: UsageEvent,
    pub priced: Option<PricedCost>,
}

/// What happened to one event of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Insert {
    /// Stored now.
    Inserted,
    /// An event with this (team, id) already exists; its content fingerprint.
    Exists { content_hash: Vec<u8> },
}

/// The columns of a batch, as the arrays the statements UNNEST.
struct Columns {
    team_id: Vec<i64>,
    id_hash: Vec<Uuid>,
    content_hash: Vec<Vec<u8>>,
    ts: Vec<DateTime<Utc>>,
    event_id: Vec<String>,
    project: Vec<Option<String>>,
    user_id: Vec<Option<String>>,
    tags: Vec<Option<String>>,
    provider: Vec<String>,
    model: Vec<String>,
    tier: Vec<String>,
    tokens: [Vec<i64>; 6],
    cost: Vec<Option<Decimal>>,
    list_cost: Vec<Option<Decimal>>,
    currency: Vec<Option<String>>,
    price_id: Vec<Option<i64>>,
    reported_cost: Vec<Option<Decimal>>,
    reported_currency: Vec<String>,
}

impl Columns {
    /// The rows of `batch` in the order of `order`.
    fn of(batch: &[NewEvent], order: &[usize]) -> Self {
        let n = batch.len();
        let mut c = Columns {
            team_id: Vec::with_capacity(n),
            id_hash: Vec::with_capacity(n),
            content_hash: Vec::with_capacity(n),
            ts: Vec::with_capacity(n),
            event_id: Vec::with_capacity(n),
            project: Vec::with_capacity(n),
            user_id: Vec::with_capacity(n),
            tags: Vec::with_capacity(n),
            provider: Vec::with_capacity(n),
            model: Vec::with_capacity(n),
            tier: Vec::with_capacity(n),
            tokens: Default::default(),
            cost: Vec::with_capacity(n),
            list_cost: Vec::with_capacity(n),
            currency: Vec::with_capacity(n),
            price_id: Vec::with_capacity(n),
            reported_cost: Vec::with_capacity(n),
            reported_currency: Vec::with_capacity(n),
        };
        for row in order.iter().map(|&i| &batch[i]) {
            let e = &row.event;
            c.team_id.push(row.team_id);
            c.id_hash.push(Uuid::from_bytes(row.id_hash));
            c.content_hash.push(row.content_hash.to_vec());
            c.ts.push(e.timestamp);
            c.event_id.push(e.id.clone());
            c.project.push(e.project.clone());
            c.user_id.push(e.user.clone());
            c.tags
                .push(e.tags.as_ref().and_then(|t| serde_json::to_string(t).ok()));
            c.provider.push(e.provider.clone());
            c.model.push(e.model.clone());
            c.tier.push(e.service_tier.as_str().to_owned());
            let u = &e.usage;
            let counts = [
                u.input_tokens,
                u.cache_read_tokens,
                u.cache_write_tokens,
                u.cache_write_1h_tokens,
                u.output_tokens,
                u.reasoning_tokens,
            ];
            for (column, count) in c.tokens.iter_mut().zip(counts) {
                // Validated counts are at most 2^53, well inside i64.
                column.push(i64::try_from(count).unwrap_or(i64::MAX));
            }
            c.cost.push(row.priced.as_ref().map(|p| p.cost));
            c.list_cost.push(row.priced.as_ref().map(|p| p.list_cost));
            c.currency.push(row.priced.as_ref().map(|p| p.currency.clone()));
            c.price_id.push(row.priced.as_ref().map(|p| p.price_id));
            c.reported_cost.push(e.reported_cost);
            c.reported_currency.push(e.reported_currency.clone());
        }
        c
    }
}

/// How `insert_batch` claims the keys of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// A plain INSERT into `event_keys`, the cheapest when every key is new (one index descent
    /// per key instead of the two of `ON CONFLICT`). If any key is taken the statement fails as a
    /// whole, nothing is written, and the batch is written again as `OnConflict`.
    Optimistic,
    /// `INSERT ... ON CONFLICT DO NOTHING`: taken keys are skipped.
    OnConflict,
}

/// What `insert_batch` did.
#[derive(Debug)]
pub struct Written {
    /// One outcome per event, in input order.
    pub outcomes: Vec<Insert>,
    /// An optimistic claim found a key taken and the batch was written again with `OnConflict`.
    pub key_taken: bool,
}

/// Writes a batch of events (unique by (team, id) within the batch) in one statement: the keys
/// that are new are claimed in `event_keys`, and exactly those events go into `events`. The result
/// is in input order. Counting comes from `RETURNING` (or from the whole statement having
/// succeeded), never the command tag (SCALE.md rule 3).
///
/// This is the one batch-writer function (SCALE.md rule 4): on Citus, swap UNNEST for multi-row
/// VALUES here and nowhere else.
pub async fn insert_batch(
    conn: &mut PgConnection,
    batch: &[NewEvent],
    claim: Claim,
) -> Result<Written, sqlx::Error> {
    // The keys are claimed in one order, by (team, id hash), whatever the order of the batch: two
    // writers (replicas, or this replica's writer connections) claiming overlapping keys then wait
    // for each other instead of deadlocking, which failed both batches (found by tests/faults.rs).
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_unstable_by_key(|&i| (batch[i].team_id, batch[i].id_hash));
    let columns = Columns::of(batch, &order);
    if claim == Claim::Optimistic {
        match insert_all(conn, &columns).await {
            Ok(()) => {
                return Ok(Written {
                    outcomes: vec![Insert::Inserted; batch.len()],
                    key_taken: false,
                })
            }
            Err(sqlx::Error::Database(db)) if db.constraint() == Some("event_keys_pkey") => {}
            Err(other) => return Err(other),
        }
    }
    let outcomes = insert_new(conn, batch, &order, &columns).await?;
    Ok(Written {
        outcomes,
        key_taken: claim == Claim::Optimistic,
    })
}

/// Inserts every key and every event, or fails as a whole (a taken key is a unique violation of
/// `event_keys_pkey`).
async fn insert_all(conn: &mut PgConnection, c: &Columns) -> Result<(), sqlx::Error> {
    let [input, cache_read, cache_write, cache_write_1h, output, reasoning] = &c.tokens;
    sqlx::query!(
        r#"
        WITH input AS (
            SELECT * FROM UNNEST(
                $1::bigint[], $2::uuid[], $3::bytea[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
                $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::bigint[], $14::bigint[],
                $15::bigint[], $16::bigint[], $17::bigint[], $18::numeric[], $19::numeric[], $20::text[],
                $21::bigint[], $22::numeric[], $23::text[]
            ) AS t(
                team_id, id_hash, content_hash, ts, event_id, project, user_id, tags, provider, model,
                service_tier, input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens,
                output_tokens, reasoning_tokens, cost, list_cost, currency, price_id, reported_cost,
                reported_currency
            )
        ),
        claimed AS (
            INSERT INTO event_keys (team_id, id_hash, content_hash, ts)
            SELECT team_id, id_hash, content_hash, ts FROM input
        )
        INSERT INTO events (
            team_id, ts, event_id, project, user_id, tags, provider, model, service_tier,
            input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens,
            reasoning_tokens, cost, list_cost, currency, price_id, reported_cost, reported_currency
        )
        SELECT team_id, ts, event_id, project, user_id, tags::jsonb, provider, model,
               service_tier, input_tokens, cache_read_tokens, cache_write_tokens,
               cache_write_1h_tokens, output_tokens, reasoning_tokens, cost, list_cost,
               currency, price_id, reported_cost, reported_currency
        FROM input
        "#,
        &c.team_id,
        &c.id_hash,
        &c.content_hash,
        &c.ts,
        &c.event_id,
        &c.project as &[Option<String>],
        &c.user_id as &[Option<String>],
        &c.tags as &[Option<String>],
        &c.provider,
        &c.model,
        &c.tier,
        input,
        cache_read,
        cache_write,
        cache_write_1h,
        output,
        reasoning,
        &c.cost as &[Option<Decimal>],
        &c.list_cost as &[Option<Decimal>],
        &c.currency as &[Option<String>],
        &c.price_id as &[Option<i64>],
        &c.reported_cost as &[Option<Decimal>],
        &c.reported_currency,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Claims the keys that are free (`ON CONFLICT DO NOTHING`), inserts exactly those events, and
/// reads the stored content fingerprint of every key that was taken.
async fn insert_new(
    conn: &mut PgConnection,
    batch: &[NewEvent],
    order: &[usize],
    c: &Columns,
) -> Result<Vec<Insert>, sqlx::Error> {
    let n = batch.len();
    let [input, cache_read, cache_write, cache_write_1h, output, reasoning] = &c.tokens;
    let inserted = sqlx::query_scalar!(
        r#"
        WITH input AS (
            SELECT * FROM UNNEST(
                $1::bigint[], $2::uuid[], $3::bytea[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
                $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::bigint[], $14::bigint[],
                $15::bigint[], $16::bigint[], $17::bigint[], $18::numeric[], $19::numeric[], $20::text[],
                $21::bigint[], $22::numeric[], $23::text[]
            ) WITH ORDINALITY AS t(
                team_id, id_hash, content_hash, ts, event_id, project, user_id, tags, provider, model,
                service_tier, input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens,
                output_tokens, reasoning_tokens, cost, list_cost, currency, price_id, reported_cost,
                reported_currency, ord
            )
        ),
        claimed AS (
            INSERT INTO event_keys (team_id, id_hash, content_hash, ts)
            SELECT team_id, id_hash, content_hash, ts FROM input
            ON CONFLICT DO NOTHING
            RETURNING team_id, id_hash
        ),
        stored AS (
            INSERT INTO events (
                team_id, ts, event_id, project, user_id, tags, provider, model, service_tier,
                input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens,
                reasoning_tokens, cost, list_cost, currency, price_id, reported_cost, reported_currency
            )
            SELECT i.team_id, i.ts, i.event_id, i.project, i.user_id, i.tags::jsonb, i.provider, i.model,
                   i.service_tier, i.input_tokens, i.cache_read_tokens, i.cache_write_tokens,
                   i.cache_write_1h_tokens, i.output_tokens, i.reasoning_tokens, i.cost, i.list_cost,
                   i.currency, i.price_id, i.reported_cost, i.reported_currency
            FROM input i JOIN claimed c ON c.team_id = i.team_id AND c.id_hash = i.id_hash
            RETURNING 1
        )
        SELECT i.ord AS "ord!" FROM input i JOIN claimed c ON c.team_id = i.team_id AND c.id_hash = i.id_hash
        "#,
        &c.team_id,
        &c.id_hash,
        &c.content_hash,
        &c.ts,
        &c.event_id,
        &c.project as &[Option<String>],
        &c.user_id as &[Option<String>],
        &c.tags as &[Option<String>],
        &c.provider,
        &c.model,
        &c.tier,
        input,
        cache_read,
        cache_write,
        cache_write_1h,
        output,
        reasoning,
        &c.cost as &[Option<Decimal>],
        &c.list_cost as &[Option<Decimal>],
        &c.currency as &[Option<String>],
        &c.price_id as &[Option<i64>],
        &c.reported_cost as &[Option<Decimal>],
        &c.reported_currency,
    )
    .fetch_all(&mut *conn)
    .await?;

    let mut outcome: Vec<Option<Insert>> = vec![None; n];
    for ord in inserted {
        // `ord` counts the rows as sent, in claim order.
        let position = usize::try_from(ord - 1).ok().and_then(|i| order.get(i).copied());
        if let Some(slot) = position.and_then(|i| outcome.get_mut(i)) {
            *slot = Some(Insert::Inserted);
        }
    }
    // A key that was taken (before this statement, or by a concurrent transaction that committed
    // after its snapshot) is read with a fresh snapshot, for its content fingerprint.
    let unseen: Vec<usize> = (0..n).filter(|&i| outcome[i].is_none()).collect();
    if !unseen.is_empty() {
        let teams: Vec<i64> = unseen.iter().map(|&i| batch[i].team_id).collect();
        let hashes: Vec<Uuid> = unseen
            .iter()
            .map(|&i| Uuid::from_bytes(batch[i].id_hash))
            .collect();
        let found = sqlx::query!(
            r#"SELECT k.team_id AS "team_id!", k.id_hash AS "id_hash!", k.content_hash AS "content_hash!"
               FROM UNNEST($1::bigint[], $2::uuid[]) AS u(team_id, id_hash)
               JOIN event_keys k ON k.team_id = u.team_id AND k.id_hash = u.id_hash"#,
            &teams,
            &hashes,
        )
        .fetch_all(&mut *conn)
        .await?;
        let found: std::collections::HashMap<(i64, [u8; 16]), &[u8]> = found
            .iter()
            .map(|f| ((f.team_id, *f.id_hash.as_bytes()), f.content_hash.as_slice()))
            .collect();
        for i in unseen {
            outcome[i] = found
                .get(&(batch[i].team_id, batch[i].id_hash))
                .map(|content_hash| Insert::Exists {
                    content_hash: content_hash.to_vec(),
                });
        }
    }
    outcome
        .into_iter()
        .map(|o| o.ok_or_else(|| sqlx::Error::Protocol("event key neither inserted nor found".into())))
        .collect()
}

/// One stored event, as `GET /v1/events` lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEvent {
    pub team: String,
    pub ts: DateTime<Utc>,
    pub seq: i64,
    pub event_id: String,
    pub project: Option<String>,
    pub user_id: Option<String>,
    pub tags: Option<serde_json::Value>,
    pub provider: String,
    pub model: String,
    pub service_tier: String,
    pub input_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    pub cost: Option<Decimal>,
    pub list_cost: Option<Decimal>,
    pub currency: Option<String>,
    pub price_id: Option<i64>,
    pub reported_cost: Option<Decimal>,
    pub reported_currency: String,
}

/// Filters of the raw-event listing.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Team ids to restrict to; `None` means all teams.
    pub team_ids: Option<Vec<i64>>,
    pub providers: Vec<String>,
    pub models: Vec<String>,
    /// Keyset cursor: only events strictly older than (ts, seq).
    pub before: Option<(DateTime<Utc>, i64)>,
    pub limit: i64,
}

/// Events newest first, keyset-paged on (ts, seq).
pub async fn list(
    executor: impl sqlx::PgExecutor<'_>,
    filter: &EventFilter,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let (before_ts, before_seq) = filter.before.unzip();
    sqlx::query_as!(
        StoredEvent,
        r#"SELECT t.name AS team, e.ts, e.seq, e.event_id, e.project, e.user_id, e.tags, e.provider, e.model,
                  e.service_tier, e.input_tokens, e.cache_read_tokens, e.cache_write_tokens,
                  e.cache_write_1h_tokens, e.output_tokens, e.reasoning_tokens, e.cost, e.list_cost,
                  e.currency, e.price_id, e.reported_cost, e.reported_currency
           FROM events e JOIN teams t ON t.team_id = e.team_id
           WHERE ($1::timestamptz IS NULL OR e.ts >= $1)
             AND ($2::timestamptz IS NULL OR e.ts < $2)
             AND ($3::bigint[] IS NULL OR e.team_id = ANY($3))
             AND (cardinality($4::text[]) = 0 OR e.provider = ANY($4))
             AND (cardinality($5::text[]) = 0 OR e.model = ANY($5))
             AND ($6::timestamptz IS NULL OR (e.ts, e.seq) < ($6, $7::bigint))
           ORDER BY e.ts DESC, e.seq DESC
           LIMIT $8"#,
        filter.from,
        filter.to,
        filter.team_ids.as_deref(),
        &filter.providers,
        &filter.models,
        before_ts,
        before_seq,
        filter.limit,
    )
    .fetch_all(executor)
    .await
}

/// An event that has no price yet: what pricing it needs, and its key.
#[derive(Debug, Clone)]
pub struct Unpriced {
    pub team_id: i64,
    pub ts: DateTime<Utc>,
    pub seq: i64,
    pub service_tier: String,
    pub usage: crate::domain::Usage,
}

/// Unpriced events of one (provider, model), after `after` in key order. A declared all-teams
/// maintenance scan (SCALE.md rule 9), served by the partial index `events_unpriced`.
pub async fn unpriced_page(
    executor: impl sqlx::PgExecutor<'_>,
    provider: &str,
    model: &str,
    after: Option<(i64, DateTime<Utc>, i64)>,
    limit: i64,
) -> Result<Vec<Unpriced>, sqlx::Error> {
    let (team_id, ts, seq) = match after {
        Some((team_id, ts, seq)) => (Some(team_id), Some(ts), Some(seq)),
        None => (None, None, None),
    };
    let rows = sqlx::query!(
        r#"SELECT team_id, ts, seq, service_tier, input_tokens, cache_read_tokens, cache_write_tokens,
                  cache_write_1h_tokens, output_tokens, reasoning_tokens
           FROM events
           WHERE price_id IS NULL AND provider = $1 AND model = $2
             AND ($3::bigint IS NULL OR (team_id, ts, seq) > ($3, $4::timestamptz, $5::bigint))
           ORDER BY team_id, ts, seq
           LIMIT $6"#,
        provider,
        model,
        team_id,
        ts,
        seq,
        limit,
    )
    .fetch_all(executor)
    .await?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(rows
        .into_iter()
        .map(|r| Unpriced {
            team_id: r.team_id,
            ts: r.ts,
            seq: r.seq,
            service_tier: r.service_tier,
            usage: crate::domain::Usage {
                input_tokens: count(r.input_tokens),
                cache_read_tokens: count(r.cache_read_tokens),
                cache_write_tokens: count(r.cache_write_tokens),
                cache_write_1h_tokens: count(r.cache_write_1h_tokens),
                output_tokens: count(r.output_tokens),
                reasoning_tokens: count(r.reasoning_tokens),
            },
        })
        .collect())
}

/// Sets the price of events that are still unpriced (an event priced meanwhile is left alone).
/// Returns how many were priced.
pub async fn set_prices(
    executor: impl sqlx::PgExecutor<'_>,
    keys: &[(i64, DateTime<Utc>, i64)],
    priced: &[PricedCost],
) -> Result<u64, sqlx::Error> {
    let team_id: Vec<i64> = keys.iter().map(|k| k.0).collect();
    let ts: Vec<DateTime<Utc>> = keys.iter().map(|k| k.1).collect();
    let seq: Vec<i64> = keys.iter().map(|k| k.2).collect();
    let cost: Vec<Decimal> = priced.iter().map(|p| p.cost).collect();
    let list_cost: Vec<Decimal> = priced.iter().map(|p| p.list_cost).collect();
    let currency: Vec<String> = priced.iter().map(|p| p.currency.clone()).collect();
    let price_id: Vec<i64> = priced.iter().map(|p| p.price_id).collect();
    let done = sqlx::query_scalar!(
        r#"WITH updated AS (
               UPDATE events e
               SET cost = u.cost, list_cost = u.list_cost, currency = u.currency, price_id = u.price_id
               FROM UNNEST($1::bigint[], $2::timestamptz[], $3::bigint[], $4::numeric[], $5::numeric[], $6::text[], $7::bigint[])
                    AS u(team_id, ts, seq, cost, list_cost, currency, price_id)
               WHERE e.team_id = u.team_id AND e.ts = u.ts AND e.seq = u.seq AND e.price_id IS NULL
               RETURNING e.team_id, e.ts
           ),
           -- The rollups of these hours are recomputed by the rollup job (committed together).
           marked AS (
               INSERT INTO rollup_pending (team_id, hour)
               SELECT DISTINCT team_id, date_trunc('hour', ts, 'UTC') FROM updated
               ON CONFLICT DO NOTHING
           )
           SELECT count(*) AS "priced!" FROM updated"#,
        &team_id,
        &ts,
        &seq,
        &cost,
        &list_cost,
        &currency,
        &price_id,
    )
    .fetch_one(executor)
    .await?;
    Ok(u64::try_from(done).unwrap_or(0))
}

/// The (provider, model) pairs that have unpriced events. A declared all-teams maintenance scan
/// (SCALE.md rule 9), served by the partial index `events_unpriced`: run when prices or aliases
/// change, to find the events a new match now prices.
pub async fn unpriced_models(
    executor: impl sqlx::PgExecutor<'_>,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query!("SELECT DISTINCT provider, model FROM events WHERE price_id IS NULL")
        .fetch_all(executor)
        .await?;
    Ok(rows.into_iter().map(|r| (r.provider, r.model)).collect())
}

/// Unpriced events of one (provider, model), as `GET /v1/unpriced` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpricedModel {
    pub provider: String,
    pub model: String,
    pub events: i64,
    /// Timestamp of the earliest and latest such event.
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// Unpriced events in `[from, to)` of these teams (`None`: all), grouped by (provider, model),
/// most events first.
pub async fn unpriced_summary(
    executor: impl sqlx::PgExecutor<'_>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    team_ids: Option<&[i64]>,
) -> Result<Vec<UnpricedModel>, sqlx::Error> {
    sqlx::query_as!(
        UnpricedModel,
        r#"SELECT provider, model, count(*) AS "events!", min(ts) AS "first_seen!", max(ts) AS "last_seen!"
           FROM events
           WHERE price_id IS NULL
             AND ($1::timestamptz IS NULL OR ts >= $1)
             AND ($2::timestamptz IS NULL OR ts < $2)
             AND ($3::bigint[] IS NULL OR team_id = ANY($3))
           GROUP BY provider, model
           ORDER BY count(*) DESC, provider, model"#,
        from,
        to,
        team_ids,
    )
    .fetch_all(executor)
    .await
}

/// Loads events that are known to be new (generated data, a restore) with `COPY`, the fastest
/// way into PostgreSQL: their keys into `event_keys`, the events into `events`, in the caller's
/// transaction. No duplicate detection: a key that exists fails the whole COPY (23505), so this is
/// never used for client data.
pub async fn copy_new(conn: &mut PgConnection, batch: &[NewEvent]) -> Result<u64, sqlx::Error> {
    use std::fmt::Write;
    let mut keys = String::with_capacity(batch.len() * 96);
    let mut rows = String::with_capacity(batch.len() * 320);
    let text = |out: &mut String, value: Option<&str>| match value {
        None => out.push_str("\\N"),
        Some(v) => {
            for c in v.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    };
    for row in batch {
        let e = &row.event;
        let ts = e.timestamp.format("%Y-%m-%d %H:%M:%S%.6f+00");
        let _ = writeln!(
            keys,
            "{}\t{}\t\\\\x{}\t{ts}",
            row.team_id,
            hex::encode(row.id_hash),
            hex::encode(row.content_hash)
        );
        let _ = write!(rows, "{}\t{ts}\t", row.team_id);
        text(&mut rows, Some(&e.id));
        rows.push('\t');
        text(&mut rows, e.project.as_deref());
        rows.push('\t');
        text(&mut rows, e.user.as_deref());
        rows.push('\t');
        let tags = e.tags.as_ref().and_then(|t| serde_json::to_string(t).ok());
        text(&mut rows, tags.as_deref());
        rows.push('\t');
        text(&mut rows, Some(&e.provider));
        rows.push('\t');
        text(&mut rows, Some(&e.model));
        let u = &e.usage;
        let _ = write!(
            rows,
            "\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t",
            e.service_tier.as_str(),
            u.input_tokens,
            u.cache_read_tokens,
            u.cache_write_tokens,
            u.cache_write_1h_tokens,
            u.output_tokens,
            u.reasoning_tokens
        );
        match &row.priced {
            Some(p) => {
                let _ = write!(rows, "{}\t{}\t", p.cost, p.list_cost);
                text(&mut rows, Some(&p.currency));
                let _ = write!(rows, "\t{}\t", p.price_id);
            }
            None => rows.push_str("\\N\t\\N\t\\N\t\\N\t"),
        }
        match e.reported_cost {
            Some(cost) => {
                let _ = write!(rows, "{cost}\t");
            }
            None => rows.push_str("\\N\t"),
        }
        text(&mut rows, Some(&e.reported_currency));
        rows.push('\n');
    }
    let mut copy = conn
        .copy_in_raw("COPY event_keys (team_id, id_hash, content_hash, ts) FROM STDIN")
        .await?;
    copy.send(keys.as_bytes()).await?;
    copy.finish().await?;
    let mut copy = conn
        .copy_in_raw(
            "COPY events (team_id, ts, event_id, project, user_id, tags, provider, model, service_tier, \
             input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, \
             reasoning_tokens, cost, list_cost, currency, price_id, reported_cost, reported_currency) FROM STDIN",
        )
        .await?;
    copy.send(rows.as_bytes()).await?;
    copy.finish().await
}
