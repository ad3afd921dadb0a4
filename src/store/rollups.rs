//! The rollup tables (`rollup_hourly`, `rollup_daily`, `rollup_daily_teams`, `rollup_daily_users`,
//! `rollup_daily_tags`), their watermark (`rollup_state`) and the hours waiting for a recompute
//! (`rollup_pending`). `jobs::rollup` decides the order of these steps; every statement that
//! writes a rollup is here.
//!
//! Invariant, at every commit of a pass: a rollup bucket holds exactly the events of its hour (or
//! UTC day) whose `ins_xid` is below the watermark, with their current prices, except buckets whose
//! hour is still in `rollup_pending`.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// The watermark, locked for this transaction; `None` when another replica holds it (its pass is
/// running, so this one has nothing to do). A row lock works on Citus too, where advisory locks are
/// local to one node (SCALE.md rule 7).
pub async fn lock_watermark(conn: &mut PgConnection) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!("SELECT watermark FROM rollup_state WHERE name = 'events' FOR UPDATE SKIP LOCKED")
        .fetch_optional(conn)
        .await
}

/// Turns PostgreSQL's JIT compiler off for the rest of this transaction. A pass runs every second
/// beside ingest, and JIT compiles a statement's expressions anew at every execution (nothing is
/// cached): once the planner's estimates pass `jit_above_cost`, as the reads of new events do when
/// the events table holds about a million rows, each pass spent tens to hundreds of milliseconds
/// of CPU in LLVM to save a few of execution. `perf` over the ingest bench's single-event phases
/// found LLVM at a quarter of PostgreSQL's CPU; without it that phase took 6.0–6.8 s of database
/// CPU instead of 8.1–8.2 s, and served 15.5–16.5k requests/s instead of 14.3–14.9k.
pub async fn without_jit(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SET LOCAL jit = off").execute(conn).await?;
    Ok(())
}

/// The highest watermark a pass may move to: every transaction with an id below it has ended, so
/// no event with a smaller `ins_xid` can still appear.
pub async fn horizon(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint AS "xmin!""#)
        .fetch_one(conn)
        .await
}

/// The next transaction id to be handed out: every event acknowledged before this call has a
/// smaller `ins_xid`, so once the watermark reaches it those events are in the rollups.
pub async fn next_xid(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT (pg_snapshot_xmax(pg_current_snapshot())::text)::bigint AS "xmax!""#)
        .fetch_one(conn)
        .await
}

/// The watermark and when it last moved, without locking.
pub async fn watermark(conn: &mut PgConnection) -> Result<(i64, DateTime<Utc>), sqlx::Error> {
    let row = sqlx::query!("SELECT watermark, updated_at FROM rollup_state WHERE name = 'events'")
        .fetch_one(conn)
        .await?;
    Ok((row.watermark, row.updated_at))
}

/// Moves the watermark.
pub async fn set_watermark(conn: &mut PgConnection, watermark: i64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE rollup_state SET watermark = $1, updated_at = now() WHERE name = 'events'",
        watermark
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes up to `limit` hours from `rollup_pending`, oldest first. They are deleted in this
/// transaction: a crash before commit leaves them pending; a change committed meanwhile waits on
/// the row lock and marks its hour again after this commit.
pub async fn take_pending(
    conn: &mut PgConnection,
    limit: i64,
) -> Result<(Vec<i64>, Vec<DateTime<Utc>>), sqlx::Error> {
    let rows = sqlx::query!(
        r#"DELETE FROM rollup_pending p
           USING (SELECT team_id, hour FROM rollup_pending ORDER BY hour LIMIT $1 FOR UPDATE SKIP LOCKED) c
           WHERE p.team_id = c.team_id AND p.hour = c.hour
           RETURNING p.team_id, p.hour"#,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.team_id, r.hour)).unzip())
}

/// Recomputes whole hourly buckets from the raw events with `ins_xid` below `watermark` (the
/// events after it are added by `add_new_events` in the same pass).
pub async fn recompute_hours(
    conn: &mut PgConnection,
    team_ids: &[i64],
    hours: &[DateTime<Utc>],
    watermark: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"DELETE FROM rollup_hourly r
           USING UNNEST($1::bigint[], $2::timestamptz[]) AS p(team_id, hour)
           WHERE r.team_id = p.team_id AND r.hour = p.hour"#,
        team_ids,
        hours,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"INSERT INTO rollup_hourly AS r (team_id, hour, provider, model, project, service_tier, currency, reported_currency, requests, reported_requests, input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, cost, list_cost, reported_cost, cost_unreported)
               SELECT e.team_id, date_trunc('hour', e.ts, 'UTC'), e.provider, e.model, COALESCE(e.project, ''), e.service_tier, COALESCE(e.currency, ''), e.reported_currency,
                      count(*),
                      count(e.reported_cost),
                      sum(e.input_tokens),
                      sum(e.cache_read_tokens),
                      sum(e.cache_write_tokens),
                      sum(e.cache_write_1h_tokens),
                      sum(e.output_tokens),
                      sum(e.reasoning_tokens),
                      COALESCE(sum(e.cost), 0),
                      COALESCE(sum(e.list_cost), 0),
                      COALESCE(sum(e.reported_cost), 0),
                      COALESCE(sum(e.cost) FILTER (WHERE e.reported_cost IS NULL), 0)
               FROM UNNEST($1::bigint[], $2::timestamptz[]) AS p(team_id, hour)
               JOIN events e ON e.team_id = p.team_id AND e.ts >= p.hour AND e.ts < p.hour + interval '1 hour'
               WHERE e.ins_xid < $3
               GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"#,
        team_ids,
        hours,
        watermark,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Recomputes whole UTC days of the daily, per-user and per-tag rollups from the raw events with
/// `ins_xid` below `watermark`.
pub async fn recompute_days(
    conn: &mut PgConnection,
    team_ids: &[i64],
    days: &[DateTime<Utc>],
    watermark: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query_scalar!(
        r#"WITH a AS (
               DELETE FROM rollup_daily r USING UNNEST($1::bigint[], $2::timestamptz[]) AS p(team_id, day)
               WHERE r.team_id = p.team_id AND r.day = p.day
           ),
           t AS (
               DELETE FROM rollup_daily_teams r USING UNNEST($1::bigint[], $2::timestamptz[]) AS p(team_id, day)
               WHERE r.team_id = p.team_id AND r.day = p.day
           ),
           b AS (
               DELETE FROM rollup_daily_users r USING UNNEST($1::bigint[], $2::timestamptz[]) AS p(team_id, day)
               WHERE r.team_id = p.team_id AND r.day = p.day
           ),
           c AS (
               DELETE FROM rollup_daily_tags r USING UNNEST($1::bigint[], $2::timestamptz[]) AS p(team_id, day)
               WHERE r.team_id = p.team_id AND r.day = p.day
           )
           SELECT 1 AS "done!""#,
        team_ids,
        days,
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query_scalar!(
        r#"WITH daily AS (
               INSERT INTO rollup_daily AS r (team_id, day, provider, model, project, service_tier, currency, reported_currency, requests, reported_requests, input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, cost, list_cost, reported_cost, cost_unreported)
               SELECT e.team_id, date_trunc('day', e.ts, 'UTC'), e.provider, e.model, COALESCE(e.project, ''), e.service_tier, COALESCE(e.currency, ''), e.reported_currency,
                      count(*),
                      count(e.reported_cost),
                      sum(e.input_tokens),
                      sum(e.cache_read_tokens),
                      sum(e.cache_write_tokens),
                      sum(e.cache_write_1h_tokens),
                      sum(e.output_tokens),
                      sum(e.reasoning_tokens),
                      COALESCE(sum(e.cost), 0),
                      COALESCE(sum(e.list_cost), 0),
                      COALESCE(sum(e.reported_cost), 0),
                      COALESCE(sum(e.cost) FILTER (WHERE e.reported_cost IS NULL), 0)
               FROM UNNEST($1::bigint[], $2::timestamptz[]) AS p(team_id, day)
               JOIN events e ON e.team_id = p.team_id AND e.ts >= p.day AND e.ts < p.day + interval '24 hours'
               WHERE e.ins_xid < $3
               GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
           ),
           teams AS (
               INSERT INTO rollup_daily_teams AS r (team_id, day, currency, reported_currency, requests, reported_requests, input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, cost, list_cost, reported_cost, cost_unreported)
               SELECT e.team_id, date_trunc('day', e.ts, 'UTC'), COALESCE(e.currency, ''), e.reported_currency,
                      count(*),
                      count(e.reported_cost),
                      sum(e.input_tokens),
                      sum(e.cache_read_tokens),
                      sum(e.cache_write_tokens),
                      sum(e.cache_write_1h_tokens),
                      sum(e.output_tokens),
                      sum(e.reasoning_tokens),
                      COALESCE(sum(e.cost), 0),
                      COALESCE(sum(e.list_cost), 0),
                      COALESCE(sum(e.reported_cost), 0),
                      COALESCE(sum(e.cost) FILTER (WHERE e.reported_cost IS NULL), 0)
               FROM UNNEST($1::bigint[], $2::timestamptz[]) AS p(team_id, day)
               JOIN events e ON e.team_id = p.team_id AND e.ts >= p.day AND e.ts < p.day + interval '24 hours'
               WHERE e.ins_xid < $3
               GROUP BY 1, 2, 3, 4
           ),
           users AS (
               INSERT INTO rollup_daily_users AS r (team_id, day, user_id, provider, model, project, service_tier, currency, reported_currency, requests, reported_requests, input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, cost, list_cost, reported_cost, cost_unreported)
               SELECT e.team_id, date_trunc('day', e.ts, 'UTC'), COALESCE(e.user_id, ''), e.provider, e.model, COALESCE(e.project, ''), e.service_tier, COALESCE(e.currency, ''), e.reported_currency,
                      count(*),
                      count(e.reported_cost),
                      sum(e.input_tokens),
                      sum(e.cache_read_tokens),
                      sum(e.cache_write_tokens),
                      sum(e.cache_write_1h_tokens),
                      sum(e.output_tokens),
                      sum(e.reasoning_tokens),
                      COALESCE(sum(e.cost), 0),
                      COALESCE(sum(e.list_cost), 0),
                      COALESCE(sum(e.reported_cost), 0),
                      COALESCE(sum(e.cost) FILTER (WHERE e.reported_cost IS NULL), 0)
               FROM UNNEST($1::bigint[], $2::timestamptz[]) AS p(team_id, day)
               JOIN events e ON e.team_id = p.team_id AND e.ts >= p.day AND e.ts < p.day + interval '24 hours'
               WHERE e.ins_xid < $3
               GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
           ),
           tags AS (
               INSERT INTO rollup_daily_tags AS r (team_id, day, tag_key, tag_value, provider, model, project, service_tier, currency, reported_currency, requests, reported_requests, input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, cost, list_cost, reported_cost, cost_unreported)
               SELECT e.team_id, date_trunc('day', e.ts, 'UTC'), t.key, t.value, e.provider, e.model, COALESCE(e.project, ''), e.service_tier, COALESCE(e.currency, ''), e.reported_currency,
                      count(*),
                      count(e.reported_cost),
                      sum(e.input_tokens),
                      sum(e.cache_read_tokens),
                      sum(e.cache_write_tokens),
                      sum(e.cache_write_1h_tokens),
                      sum(e.output_tokens),
                      sum(e.reasoning_tokens),
                      COALESCE(sum(e.cost), 0),
                      COALESCE(sum(e.list_cost), 0),
                      COALESCE(sum(e.reported_cost), 0),
                      COALESCE(sum(e.cost) FILTER (WHERE e.reported_cost IS NULL), 0)
               FROM UNNEST($1::bigint[], $2::timestamptz[]) AS p(team_id, day)
               JOIN events e ON e.team_id = p.team_id AND e.ts >= p.day AND e.ts < p.day + interval '24 hours' CROSS JOIN LATERAL jsonb_each_text(e.tags) AS t(key, value)
               WHERE e.ins_xid < $3
               GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
           )
           SELECT 1 AS "done!""#,
        team_ids,
        days,
        watermark,
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// Adds the events with `ins_xid` in `[from, to)` to every rollup, in one statement: each rollup
/// aggregates the new events at its own grain (the daily one from the hourly deltas). A declared all-teams maintenance scan (SCALE.md rule 9), found through the BRIN
/// index on `ins_xid`. Returns how many events were added.
pub async fn add_new_events(conn: &mut PgConnection, from: i64, to: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"WITH h AS (
               SELECT e.team_id, date_trunc('hour', e.ts, 'UTC') AS hour, e.provider, e.model,
                      COALESCE(e.project, '') AS project, e.service_tier,
                      COALESCE(e.currency, '') AS currency, e.reported_currency,
                      count(*) AS requests,
                      count(e.reported_cost) AS reported_requests,
                      sum(e.input_tokens) AS input_tokens,
                      sum(e.cache_read_tokens) AS cache_read_tokens,
                      sum(e.cache_write_tokens) AS cache_write_tokens,
                      sum(e.cache_write_1h_tokens) AS cache_write_1h_tokens,
                      sum(e.output_tokens) AS output_tokens,
                      sum(e.reasoning_tokens) AS reasoning_tokens,
                      COALESCE(sum(e.cost), 0) AS cost,
                      COALESCE(sum(e.list_cost), 0) AS list_cost,
                      COALESCE(sum(e.reported_cost), 0) AS reported_cost,
                      COALESCE(sum(e.cost) FILTER (WHERE e.reported_cost IS NULL), 0) AS cost_unreported
               FROM events e
               WHERE e.ins_xid >= $1 AND e.ins_xid < $2
               GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
           ),
           hourly AS (
               INSERT INTO rollup_hourly AS r (team_id, hour, provider, model, project, service_tier, currency, reported_currency, requests, reported_requests, input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, cost, list_cost, reported_cost, cost_unreported)
               SELECT * FROM h
               ON CONFLICT (team_id, hour, provider, model, project, service_tier, currency, reported_currency) DO UPDATE SET
                   requests = r.requests + excluded.requests,
                   reported_requests = r.reported_requests + excluded.reported_requests,
                   input_tokens = r.input_tokens + excluded.input_tokens,
                   cache_read_tokens = r.cache_read_tokens + excluded.cache_read_tokens,
                   cache_write_tokens = r.cache_write_tokens + excluded.cache_write_tokens,
                   cache_write_1h_tokens = r.cache_write_1h_tokens + excluded.cache_write_1h_tokens,
                   output_tokens = r.output_tokens + excluded.output_tokens,
                   reasoning_tokens = r.reasoning_tokens + excluded.reasoning_tokens,
                   cost = r.cost + excluded.cost,
                   list_cost = r.list_cost + excluded.list_cost,
                   reported_cost = r.reported_cost + excluded.reported_cost,
                   cost_unreported = r.cost_unreported + excluded.cost_unreported
           ),
           daily AS (
               INSERT INTO rollup_daily AS r (team_id, day, provider, model, project, service_tier, currency, reported_currency, requests, reported_requests, input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, cost, list_cost, reported_cost, cost_unreported)
               SELECT team_id, date_trunc('day', hour, 'UTC'), provider, model, project, service_tier, currency, reported_currency, sum(requests), sum(reported_requests), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(cache_write_1h_tokens), sum(output_tokens), sum(reasoning_tokens), sum(cost), sum(list_cost), sum(reported_cost), sum(cost_unreported)
               FROM h GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
               ON CONFLICT (team_id, day, provider, model, project, service_tier, currency, reported_currency) DO UPDATE SET
                   requests = r.requests + excluded.requests,
                   reported_requests = r.reported_requests + excluded.reported_requests,
                   input_tokens = r.input_tokens + excluded.input_tokens,
                   cache_read_tokens = r.cache_read_tokens + excluded.cache_read_tokens,
                   cache_write_tokens = r.cache_write_tokens + excluded.cache_write_tokens,
                   cache_write_1h_tokens = r.cache_write_1h_tokens + excluded.cache_write_1h_tokens,
                   output_tokens = r.output_tokens + excluded.output_tokens,
                   reasoning_tokens = r.reasoning_tokens + excluded.reasoning_tokens,
                   cost = r.cost + excluded.cost,
                   list_cost = r.list_cost + excluded.list_cost,
                   reported_cost = r.reported_cost + excluded.reported_cost,
                   cost_unreported = r.cost_unreported + excluded.cost_unreported
           ),
           teams AS (
               INSERT INTO rollup_daily_teams AS r (team_id, day, currency, reported_currency, requests, reported_requests, input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, cost, list_cost, reported_cost, cost_unreported)
               SELECT team_id, date_trunc('day', hour, 'UTC'), currency, reported_currency, sum(requests), sum(reported_requests), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(cache_write_1h_tokens), sum(output_tokens), sum(reasoning_tokens), sum(cost), sum(list_cost), sum(reported_cost), sum(cost_unreported)
               FROM h GROUP BY 1, 2, 3, 4
               ON CONFLICT (team_id, day, currency, reported_currency) DO UPDATE SET
                   requests = r.requests + excluded.requests,
                   reported_requests = r.reported_requests + excluded.reported_requests,
                   input_tokens = r.input_tokens + excluded.input_tokens,
                   cache_read_tokens = r.cache_read_tokens + excluded.cache_read_tokens,
                   cache_write_tokens = r.cache_write_tokens + excluded.cache_write_tokens,
                   cache_write_1h_tokens = r.cache_write_1h_tokens + excluded.cache_write_1h_tokens,
                   output_tokens = r.output_tokens + excluded.output_tokens,
                   reasoning_tokens = r.reasoning_tokens + excluded.reasoning_tokens,
                   cost = r.cost + excluded.cost,
                   list_cost = r.list_cost + excluded.list_cost,
                   reported_cost = r.reported_cost + excluded.reported_cost,
                   cost_unreported = r.cost_unreported + excluded.cost_unreported
           ),
           users AS (
               INSERT INTO rollup_daily_users AS r (team_id, day, user_id, provider, model, project, service_tier, currency, reported_currency, requests, reported_requests, input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, cost, list_cost, reported_cost, cost_unreported)
               SELECT e.team_id, date_trunc('day', e.ts, 'UTC'), COALESCE(e.user_id, ''), e.provider, e.model, COALESCE(e.project, ''), e.service_tier, COALESCE(e.currency, ''), e.reported_currency,
                      count(*),
                      count(e.reported_cost),
                      sum(e.input_tokens),
                      sum(e.cache_read_tokens),
                      sum(e.cache_write_tokens),
                      sum(e.cache_write_1h_tokens),
                      sum(e.output_tokens),
                      sum(e.reasoning_tokens),
                      COALESCE(sum(e.cost), 0),
                      COALESCE(sum(e.list_cost), 0),
                      COALESCE(sum(e.reported_cost), 0),
                      COALESCE(sum(e.cost) FILTER (WHERE e.reported_cost IS NULL), 0)
               FROM events e
               WHERE e.ins_xid >= $1 AND e.ins_xid < $2
               GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
               ON CONFLICT (team_id, day, user_id, provider, model, project, service_tier, currency, reported_currency) DO UPDATE SET
                   requests = r.requests + excluded.requests,
                   reported_requests = r.reported_requests + excluded.reported_requests,
                   input_tokens = r.input_tokens + excluded.input_tokens,
                   cache_read_tokens = r.cache_read_tokens + excluded.cache_read_tokens,
                   cache_write_tokens = r.cache_write_tokens + excluded.cache_write_tokens,
                   cache_write_1h_tokens = r.cache_write_1h_tokens + excluded.cache_write_1h_tokens,
                   output_tokens = r.output_tokens + excluded.output_tokens,
                   reasoning_tokens = r.reasoning_tokens + excluded.reasoning_tokens,
                   cost = r.cost + excluded.cost,
                   list_cost = r.list_cost + excluded.list_cost,
                   reported_cost = r.reported_cost + excluded.reported_cost,
                   cost_unreported = r.cost_unreported + excluded.cost_unreported
           ),
           tags AS (
               INSERT INTO rollup_daily_tags AS r (team_id, day, tag_key, tag_value, provider, model, project, service_tier, currency, reported_currency, requests, reported_requests, input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, cost, list_cost, reported_cost, cost_unreported)
               SELECT e.team_id, date_trunc('day', e.ts, 'UTC'), t.key, t.value, e.provider, e.model, COALESCE(e.project, ''), e.service_tier, COALESCE(e.currency, ''), e.reported_currency,
                      count(*),
                      count(e.reported_cost),
                      sum(e.input_tokens),
                      sum(e.cache_read_tokens),
                      sum(e.cache_write_tokens),
                      sum(e.cache_write_1h_tokens),
                      sum(e.output_tokens),
                      sum(e.reasoning_tokens),
                      COALESCE(sum(e.cost), 0),
                      COALESCE(sum(e.list_cost), 0),
                      COALESCE(sum(e.reported_cost), 0),
                      COALESCE(sum(e.cost) FILTER (WHERE e.reported_cost IS NULL), 0)
               FROM events e CROSS JOIN LATERAL jsonb_each_text(e.tags) AS t(key, value)
               WHERE e.ins_xid >= $1 AND e.ins_xid < $2
               GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
               ON CONFLICT (team_id, day, tag_key, tag_value, provider, model, project, service_tier, currency, reported_currency) DO UPDATE SET
                   requests = r.requests + excluded.requests,
                   reported_requests = r.reported_requests + excluded.reported_requests,
                   input_tokens = r.input_tokens + excluded.input_tokens,
                   cache_read_tokens = r.cache_read_tokens + excluded.cache_read_tokens,
                   cache_write_tokens = r.cache_write_tokens + excluded.cache_write_tokens,
                   cache_write_1h_tokens = r.cache_write_1h_tokens + excluded.cache_write_1h_tokens,
                   output_tokens = r.output_tokens + excluded.output_tokens,
                   reasoning_tokens = r.reasoning_tokens + excluded.reasoning_tokens,
                   cost = r.cost + excluded.cost,
                   list_cost = r.list_cost + excluded.list_cost,
                   reported_cost = r.reported_cost + excluded.reported_cost,
                   cost_unreported = r.cost_unreported + excluded.cost_unreported
           )
           SELECT COALESCE(sum(requests), 0)::bigint AS "events!" FROM h"#,
        from,
        to,
    )
    .fetch_one(conn)
    .await
}

/// How many hours wait for a recompute.
pub async fn pending_count(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM rollup_pending"#)
        .fetch_one(conn)
        .await
}
