//! The `budgets` table and their webhook targets (`budget_targets`). Period bounds are computed
//! here, by PostgreSQL, in each budget's time zone: `date_trunc` of the local time, plus one local
//! day, week or month, back to an instant (so a DST day has 23 or 25 hours, and a week starts on
//! Monday), the same arithmetic `GET /v1/spend` buckets with.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};

/// A stored budget, with the bounds of its period at the time it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetRow {
    pub team_id: i64,
    pub team: String,
    pub budget_id: i64,
    pub name: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub project: Option<String>,
    pub period: String,
    pub amount: Decimal,
    pub currency: String,
    pub thresholds: Vec<i32>,
    pub forecast: bool,
    pub tz: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The period containing the `now` of the read, in the budget's zone.
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
}

/// What a new budget is made of (validated by the caller).
#[derive(Debug, Clone)]
pub struct NewBudget {
    pub name: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub project: Option<String>,
    pub period: String,
    pub amount: Decimal,
    pub currency: String,
    pub thresholds: Vec<i32>,
    pub forecast: bool,
    pub tz: String,
}

/// The changeable fields of a budget; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct BudgetChange {
    pub name: Option<String>,
    pub amount: Option<Decimal>,
    pub thresholds: Option<Vec<i32>>,
    pub forecast: Option<bool>,
}

/// A webhook target (its secret is only ever shown when created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRow {
    pub target_id: i64,
    pub budget_id: i64,
    pub webhook: String,
}

/// Whether `tz` is an IANA zone name PostgreSQL knows. Checked against `pg_timezone_names` rather
/// than by trying `AT TIME ZONE`, which also takes POSIX strings such as `UTC+5` (whose sign is the
/// opposite of ISO 8601's) and abbreviations with no DST rules.
pub async fn is_time_zone(pool: &PgPool, tz: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1) AS "known!""#,
        tz
    )
    .fetch_one(pool)
    .await
}

/// Inserts a budget; returns its id.
pub async fn insert(conn: &mut PgConnection, team_id: i64, new: &NewBudget) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"INSERT INTO budgets (team_id, name, provider, model, project, period, amount, currency,
               thresholds, forecast, tz)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           RETURNING budget_id"#,
        team_id,
        new.name,
        new.provider,
        new.model,
        new.project,
        new.period,
        new.amount,
        new.currency,
        &new.thresholds,
        new.forecast,
        new.tz,
    )
    .fetch_one(conn)
    .await
}

/// Adds webhook targets `(url, secret)` to a budget.
pub async fn add_targets(
    conn: &mut PgConnection,
    team_id: i64,
    budget_id: i64,
    targets: &[(String, String)],
) -> Result<Vec<TargetRow>, sqlx::Error> {
    let (urls, secrets): (Vec<String>, Vec<String>) = targets.iter().cloned().unzip();
    let rows = sqlx::query!(
        r#"INSERT INTO budget_targets (team_id, budget_id, webhook, secret)
           SELECT $1, $2, t.webhook, t.secret FROM UNNEST($3::text[], $4::text[]) WITH ORDINALITY AS t(webhook, secret, n)
           ORDER BY t.n
           RETURNING target_id, budget_id, webhook"#,
        team_id,
        budget_id,
        &urls,
        &secrets,
    )
    .fetch_all(conn)
    .await?;
    let mut out: Vec<TargetRow> = rows
        .into_iter()
        .map(|r| TargetRow {
            target_id: r.target_id,
            budget_id: r.budget_id,
            webhook: r.webhook,
        })
        .collect();
    out.sort_by_key(|t| t.target_id);
    Ok(out)
}

/// Marks a budget's targets removed: they get no new deliveries; pending ones to them fail.
pub async fn remove_targets(
    conn: &mut PgConnection,
    team_id: i64,
    budget_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE budget_targets SET removed_at = now() WHERE team_id = $1 AND budget_id = $2 AND removed_at IS NULL",
        team_id,
        budget_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The active targets of these budgets, by id.
pub async fn targets(pool: &PgPool, budget_ids: &[i64]) -> Result<Vec<TargetRow>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT target_id, budget_id, webhook FROM budget_targets
           WHERE budget_id = ANY($1) AND removed_at IS NULL ORDER BY target_id"#,
        budget_ids
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| TargetRow {
            target_id: r.target_id,
            budget_id: r.budget_id,
            webhook: r.webhook,
        })
        .collect())
}

/// Budgets with their periods at `now`: all of them (`team_ids` None, a declared all-teams read
/// of a small table), or those of these teams; optionally only one id. Ordered by id.
pub async fn list(
    pool: &PgPool,
    team_ids: Option<&[i64]>,
    budget_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Vec<BudgetRow>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT b.team_id, tm.name AS team, b.budget_id, b.name, b.provider, b.model, b.project,
                  b.period, b.amount, b.currency, b.thresholds, b.forecast, b.tz, b.created_at,
                  b.updated_at,
                  (p.local_start AT TIME ZONE b.tz) AS "period_start!",
                  ((p.local_start + p.length) AT TIME ZONE b.tz) AS "period_end!"
           FROM budgets b
           JOIN teams tm ON tm.team_id = b.team_id
           CROSS JOIN LATERAL (
               SELECT date_trunc(CASE b.period WHEN 'daily' THEN 'day' WHEN 'weekly' THEN 'week' ELSE 'month' END,
                                 $3::timestamptz AT TIME ZONE b.tz) AS local_start,
                      CASE b.period WHEN 'daily' THEN interval '1 day' WHEN 'weekly' THEN interval '7 days'
                                    ELSE interval '1 month' END AS length
           ) p
           WHERE ($1::bigint[] IS NULL OR b.team_id = ANY($1)) AND ($2::bigint IS NULL OR b.budget_id = $2)
           ORDER BY b.budget_id"#,
        team_ids as Option<&[i64]>,
        budget_id,
        now,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| BudgetRow {
            team_id: r.team_id,
            team: r.team,
            budget_id: r.budget_id,
            name: r.name,
            provider: r.provider,
            model: r.model,
            project: r.project,
            period: r.period,
            amount: r.amount,
            currency: r.currency,
            thresholds: r.thresholds,
            forecast: r.forecast,
            tz: r.tz,
            created_at: r.created_at,
            updated_at: r.updated_at,
            period_start: r.period_start,
            period_end: r.period_end,
        })
        .collect())
}

/// One budget by id, with its period at `now`.
pub async fn get(
    pool: &PgPool,
    budget_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<BudgetRow>, sqlx::Error> {
    Ok(list(pool, None, Some(budget_id), now).await?.into_iter().next())
}

/// Applies a change; false when no such budget.
pub async fn update(
    conn: &mut PgConnection,
    team_id: i64,
    budget_id: i64,
    change: &BudgetChange,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"UPDATE budgets SET name = COALESCE($3, name), amount = COALESCE($4, amount),
               thresholds = COALESCE($5, thresholds), forecast = COALESCE($6, forecast), updated_at = now()
           WHERE team_id = $1 AND budget_id = $2"#,
        team_id,
        budget_id,
        change.name,
        change.amount,
        change.thresholds.as_deref(),
        change.forecast,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes a budget with its targets, alerts and deliveries; false when no such budget.
pub async fn delete(pool: &PgPool, team_id: i64, budget_id: i64) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query_scalar!(
        "DELETE FROM budgets WHERE team_id = $1 AND budget_id = $2 RETURNING budget_id",
        team_id,
        budget_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(deleted.is_some())
}
