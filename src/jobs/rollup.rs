//! The rollup job: keeps the rollups (`rollup_hourly`, `rollup_daily`, `rollup_daily_users`,
//! `rollup_daily_tags`) equal to the raw events.
//!
//! A pass, in one transaction:
//! 1. Lock the watermark `w` (another replica holding it is running a pass: skip).
//! 2. Take the horizon `h`: every transaction with an id below it has ended, so the events with
//!    `ins_xid` in `[w, h)` are final and no event can ever appear below `h` again.
//! 3. Take up to `MAX_PENDING` hours marked by re-pricing and recompute them whole from the raw
//!    events below `w`: their hourly buckets, and the daily, per-user and per-tag buckets of the
//!    UTC days they fall in.
//! 4. Add the events with `ins_xid` in `[w, h)` to the hourly and daily buckets (late events
//!    re-open old buckets this way).
//! 5. Move the watermark to `h` and commit.
//!
//! Steps 3 and 4 never count an event twice: recomputes read below `w`, additions read from `w`.
//! A crash anywhere rolls the whole pass back; the next pass redoes it.

use crate::store::rollups;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sqlx::{Acquire, PgPool};
use std::collections::BTreeSet;
use std::time::Duration;

/// Most pending hours recomputed in one pass; the rest wait for the next.
const MAX_PENDING: i64 = 2_000;

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// False when another replica held the watermark.
    pub ran: bool,
    /// Events added to the rollups.
    pub events_added: i64,
    /// Hours recomputed because their events changed in place.
    pub hours_recomputed: usize,
    /// The watermark after the pass.
    pub watermark: i64,
}

/// Runs one pass (see the module doc).
pub async fn run_once(pool: &PgPool) -> Result<PassReport, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    let Some(from) = rollups::lock_watermark(&mut tx).await? else {
        return Ok(PassReport::default());
    };
    rollups::without_jit(&mut tx).await?;
    let to = rollups::horizon(&mut tx).await?;
    let (team_ids, hours) = rollups::take_pending(&mut tx, MAX_PENDING).await?;
    if !team_ids.is_empty() {
        rollups::recompute_hours(&mut tx, &team_ids, &hours, from).await?;
        let days: BTreeSet<(i64, DateTime<Utc>)> = team_ids
            .iter()
            .zip(&hours)
            .filter_map(|(team, hour)| Some((*team, hour.duration_trunc(TimeDelta::days(1)).ok()?)))
            .collect();
        let (day_teams, days): (Vec<i64>, Vec<DateTime<Utc>>) = days.into_iter().unzip();
        rollups::recompute_days(&mut tx, &day_teams, &days, from).await?;
    }
    let events_added = if to > from {
        rollups::add_new_events(&mut tx, from, to).await?
    } else {
        0
    };
    // Written on every pass, moved or not: `updated_at` is the heartbeat that rollup lag reads.
    let watermark = from.max(to);
    rollups::set_watermark(&mut tx, watermark).await?;
    tx.commit().await?;
    Ok(PassReport {
        ran: true,
        events_added,
        hours_recomputed: team_ids.len(),
        watermark,
    })
}

/// Runs passes until every event acknowledged before the call is in the rollups and nothing is
/// pending, or `timeout` passes. Used by `tokenledger rollup` and by tests.
pub async fn catch_up(pool: &PgPool, timeout: Duration) -> Result<PassReport, sqlx::Error> {
    let target = rollups::next_xid(&mut *pool.acquire().await?).await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut total = PassReport::default();
    loop {
        let pass = run_once(pool).await?;
        total.ran |= pass.ran;
        total.events_added += pass.events_added;
        total.hours_recomputed += pass.hours_recomputed;
        total.watermark = total.watermark.max(pass.watermark);
        let pending = rollups::pending_count(&mut *pool.acquire().await?).await?;
        let (watermark, _) = rollups::watermark(&mut *pool.acquire().await?).await?;
        if (watermark >= target && pending == 0) || tokio::time::Instant::now() >= deadline {
            total.watermark = watermark;
            return Ok(total);
        }
        // Another transaction of the cluster is still open below the target; it ends soon.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs a pass every `every` until the task is dropped. A failed pass is logged and retried.
pub async fn run_every(pool: PgPool, every: Duration, metrics: std::sync::Arc<crate::metrics::Metrics>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let started = std::time::Instant::now();
        let result = run_once(&pool).await;
        let label = match &result {
            Ok(pass) if pass.ran => "ok",
            Ok(_) => "skipped",
            Err(_) => "error",
        };
        metrics.job_runs.with_label_values(&["rollup", label]).inc();
        metrics
            .job_duration
            .with_label_values(&["rollup"])
            .observe(started.elapsed().as_secs_f64());
        if let Err(error) = result {
            tracing::warn!(%error, "rollup pass failed; will retry");
        }
    }
}
