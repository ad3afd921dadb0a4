//! Budget alerts (`budget_alerts`) and their outbox of webhook deliveries (`alert_deliveries`).
//!
//! Exactly once is the database's: `fire` inserts an alert under its unique key (team, budget,
//! period, kind, threshold) with `ON CONFLICT DO NOTHING RETURNING`, and writes its deliveries in
//! the same statement, so only the evaluator that wins the key creates them, on any replica.
//! Deliveries are claimed per team with a lease (`claim_due`), sent outside any transaction, and finished
//! only by the claim that sent them (`attempts` is the fencing token).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;

/// An alert to fire.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub team_id: i64,
    pub budget_id: i64,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// `threshold` or `forecast`.
    pub kind: &'static str,
    /// Percent; 0 for a forecast alert.
    pub threshold: i32,
    pub spend: Decimal,
    pub amount: Decimal,
    pub forecast_spend: Decimal,
    pub utilization: Decimal,
    pub currency: String,
}

/// Inserts the alert unless its key exists, with one delivery per active target of the budget.
/// Returns the new alert's id, or `None` when it had already fired.
pub async fn fire(pool: &PgPool, alert: &NewAlert) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"WITH a AS (
               INSERT INTO budget_alerts (team_id, budget_id, period_start, period_end, kind, threshold,
                   spend, amount, forecast_spend, utilization, currency)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
               ON CONFLICT (team_id, budget_id, period_start, kind, threshold) DO NOTHING
               RETURNING team_id, budget_id, alert_id
           ),
           -- A data-modifying CTE runs to completion whether or not it is read.
           d AS (
               INSERT INTO alert_deliveries (team_id, alert_id, target_id)
               SELECT a.team_id, a.alert_id, t.target_id
               FROM a JOIN budget_targets t
                 ON t.team_id = a.team_id AND t.budget_id = a.budget_id AND t.removed_at IS NULL
           )
           SELECT alert_id FROM a"#,
        alert.team_id,
        alert.budget_id,
        alert.period_start,
        alert.period_end,
        alert.kind,
        alert.threshold,
        alert.spend,
        alert.amount,
        alert.forecast_spend,
        alert.utilization,
        alert.currency,
    )
    .fetch_optional(pool)
    .await
}

/// A stored alert with its budget's name and team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub alert_id: i64,
    pub budget_id: i64,
    pub budget: String,
    pub team: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub kind: String,
    pub threshold: i32,
    pub spend: Decimal,
    pub amount: Decimal,
    pub forecast_spend: Decimal,
    pub utilization: Decimal,
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

/// One delivery of an alert, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub alert_id: i64,
    pub target_id: i64,
    pub webhook: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_status: Option<i32>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Alerts newest first, of these teams (None: all) and optionally one budget, older than the
/// `before` alert id when paging.
pub async fn list(
    pool: &PgPool,
    team_ids: Option<&[i64]>,
    budget_id: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AlertRow>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT a.alert_id, a.budget_id, b.name AS budget, tm.name AS team, a.period_start, a.period_end,
                  a.kind, a.threshold, a.spend, a.amount, a.forecast_spend, a.utilization, a.currency,
                  a.created_at
           FROM budget_alerts a
           JOIN budgets b ON b.team_id = a.team_id AND b.budget_id = a.budget_id
           JOIN teams tm ON tm.team_id = a.team_id
           WHERE ($1::bigint[] IS NULL OR a.team_id = ANY($1)) AND ($2::bigint IS NULL OR a.budget_id = $2)
             AND ($3::bigint IS NULL OR a.alert_id < $3)
           ORDER BY a.alert_id DESC LIMIT $4"#,
        team_ids as Option<&[i64]>,
        budget_id,
        before,
        limit,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AlertRow {
            alert_id: r.alert_id,
            budget_id: r.budget_id,
            budget: r.budget,
            team: r.team,
            period_start: r.period_start,
            period_end: r.period_end,
            kind: r.kind,
            threshold: r.threshold,
            spend: r.spend,
            amount: r.amount,
            forecast_spend: r.forecast_spend,
            utilization: r.utilization,
            currency: r.currency,
            created_at: r.created_at,
        })
        .collect())
}

/// The deliveries of these alerts.
pub async fn deliveries(pool: &PgPool, alert_ids: &[i64]) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT d.alert_id, d.target_id, t.webhook, d.state, d.attempts, d.next_attempt_at, d.last_error,
                  d.last_status, d.delivered_at
           FROM alert_deliveries d
           JOIN budget_targets t ON t.team_id = d.team_id AND t.target_id = d.target_id
           WHERE d.alert_id = ANY($1) ORDER BY d.alert_id DESC, d.target_id"#,
        alert_ids
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| DeliveryRow {
            alert_id: r.alert_id,
            target_id: r.target_id,
            webhook: r.webhook,
            next_attempt_at: (r.state == "pending").then_some(r.next_attempt_at),
            state: r.state,
            attempts: r.attempts,
            last_error: r.last_error,
            last_status: r.last_status,
            delivered_at: r.delivered_at,
        })
        .collect())
}

/// Stored alerts per (budget, kind): a declared all-teams aggregate for metrics.
pub async fn counts(pool: &PgPool) -> Result<Vec<(i64, String, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT budget_id, kind, count(*) AS "n!" FROM budget_alerts GROUP BY budget_id, kind"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.budget_id, r.kind, r.n)).collect())
}

/// A delivery claimed for one attempt, with what the request needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub team_id: i64,
    pub target_id: i64,
    /// This claim's attempt number; only it may finish the delivery.
    pub attempts: i32,
    pub webhook: String,
    pub secret: String,
    pub target_removed: bool,
    pub alert: AlertRow,
}

/// Teams with deliveries due now (at most `limit`): a declared all-teams read of the small
/// pending part of the outbox, without locks, so it may span shards.
pub async fn due_teams(pool: &PgPool, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT DISTINCT team_id AS "team_id!" FROM alert_deliveries
           WHERE state = 'pending' AND next_attempt_at <= now() LIMIT $1"#,
        limit
    )
    .fetch_all(pool)
    .await
}

/// Claims up to `limit` due deliveries of one team for `lease_ms`: their next attempt moves one
/// lease ahead, so if this worker dies another takes them when the lease ends. Commits before
/// returning. One team per claim keeps the locking statement on one shard (SCALE.md rule 7).
pub async fn claim_due(
    pool: &PgPool,
    team_id: i64,
    limit: i64,
    lease_ms: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"WITH c AS (
               SELECT team_id, alert_id, target_id FROM alert_deliveries
               WHERE team_id = $1 AND state = 'pending' AND next_attempt_at <= now()
               ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED
           )
           UPDATE alert_deliveries d
           SET attempts = d.attempts + 1, next_attempt_at = now() + $3::bigint * interval '1 millisecond'
           FROM c
           JOIN budget_alerts a ON a.team_id = c.team_id AND a.alert_id = c.alert_id
           JOIN budgets b ON b.team_id = a.team_id AND b.budget_id = a.budget_id
           JOIN teams tm ON tm.team_id = a.team_id
           JOIN budget_targets t ON t.team_id = c.team_id AND t.target_id = c.target_id
           WHERE d.team_id = c.team_id AND d.alert_id = c.alert_id AND d.target_id = c.target_id
           RETURNING d.team_id, d.target_id, d.attempts, t.webhook, t.secret, t.removed_at IS NOT NULL AS "removed!",
                     a.alert_id, a.budget_id, b.name AS budget, tm.name AS team, a.period_start, a.period_end,
                     a.kind, a.threshold, a.spend, a.amount, a.forecast_spend, a.utilization, a.currency,
                     a.created_at"#,
        team_id,
        limit,
        lease_ms,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Claimed {
            team_id: r.team_id,
            target_id: r.target_id,
            attempts: r.attempts,
            webhook: r.webhook,
            secret: r.secret,
            target_removed: r.removed,
            alert: AlertRow {
                alert_id: r.alert_id,
                budget_id: r.budget_id,
                budget: r.budget,
                team: r.team,
                period_start: r.period_start,
                period_end: r.period_end,
                kind: r.kind,
                threshold: r.threshold,
                spend: r.spend,
                amount: r.amount,
                forecast_spend: r.forecast_spend,
                utilization: r.utilization,
                currency: r.currency,
                created_at: r.created_at,
            },
        })
        .collect())
}

/// Records a successful attempt. False when the claim was no longer this worker's.
pub async fn delivered(pool: &PgPool, claimed: &Claimed, status: i32) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"UPDATE alert_deliveries SET state = 'delivered', delivered_at = now(), last_status = $5,
               last_error = NULL
           WHERE team_id = $1 AND alert_id = $2 AND target_id = $3 AND attempts = $4 AND state = 'pending'"#,
        claimed.team_id,
        claimed.alert.alert_id,
        claimed.target_id,
        claimed.attempts,
        status,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Records a failed attempt: retried after `retry_in_ms`, or given up (`failed`) when `give_up`.
pub async fn attempt_failed(
    pool: &PgPool,
    claimed: &Claimed,
    status: Option<i32>,
    error: &str,
    retry_in_ms: i64,
    give_up: bool,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"UPDATE alert_deliveries
           SET state = CASE WHEN $7 THEN 'failed' ELSE 'pending' END, last_status = $5, last_error = $6,
               next_attempt_at = now() + $8::bigint * interval '1 millisecond'
           WHERE team_id = $1 AND alert_id = $2 AND target_id = $3 AND attempts = $4 AND state = 'pending'"#,
        claimed.team_id,
        claimed.alert.alert_id,
        claimed.target_id,
        claimed.attempts,
        status,
        error,
        give_up,
        retry_in_ms,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}
