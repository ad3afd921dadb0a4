//! The `adjustments` reference table.

use crate::pricing::adjustments::Adjustment;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use std::collections::HashMap;

/// Every adjustment, and the ids of the teams they name.
pub async fn load_all(
    executor: impl sqlx::PgExecutor<'_> + Copy,
) -> Result<(Vec<Adjustment>, HashMap<i64, String>), sqlx::Error> {
    let rows = sqlx::query_as!(
        Adjustment,
        "SELECT adjustment_id, team, provider, model, effective_from, factor FROM adjustments"
    )
    .fetch_all(executor)
    .await?;
    let teams = sqlx::query!(
        "SELECT t.team_id, t.name FROM teams t WHERE t.name IN (SELECT team FROM adjustments WHERE team IS NOT NULL)"
    )
    .fetch_all(executor)
    .await?;
    Ok((rows, teams.into_iter().map(|t| (t.team_id, t.name)).collect()))
}

/// A cheap fingerprint of the table: it changes whenever a row is added.
pub async fn version(executor: impl sqlx::PgExecutor<'_>) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "rows!", COALESCE(max(adjustment_id), 0) AS "max_id!" FROM adjustments"#
    )
    .fetch_one(executor)
    .await?;
    Ok((row.rows, row.max_id))
}

/// An adjustment to write.
#[derive(Debug, Clone)]
pub struct NewAdjustment {
    pub team: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub effective_from: DateTime<Utc>,
    pub factor: Decimal,
    pub note: Option<String>,
}

/// What writing one adjustment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Inserted(i64),
    /// The same version existed with the same factor.
    Unchanged(i64),
    /// The same version exists with another factor; versions are never rewritten.
    Conflict(i64),
}

/// Writes adjustments, never changing an existing version.
pub async fn insert(conn: &mut PgConnection, rows: &[NewAdjustment]) -> Result<Vec<Written>, sqlx::Error> {
    let mut written = Vec::with_capacity(rows.len());
    for row in rows {
        let inserted = sqlx::query_scalar!(
            "INSERT INTO adjustments (team, provider, model, effective_from, factor, note)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT ON CONSTRAINT adjustments_version_key DO NOTHING
             RETURNING adjustment_id",
            row.team,
            row.provider,
            row.model,
            row.effective_from,
            row.factor,
            row.note,
        )
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = inserted {
            written.push(Written::Inserted(id));
            continue;
        }
        let existing = sqlx::query!(
            "SELECT adjustment_id, factor FROM adjustments
             WHERE team IS NOT DISTINCT FROM $1 AND provider IS NOT DISTINCT FROM $2
               AND model IS NOT DISTINCT FROM $3 AND effective_from = $4",
            row.team,
            row.provider,
            row.model,
            row.effective_from,
        )
        .fetch_one(&mut *conn)
        .await?;
        written.push(if existing.factor.normalize() == row.factor.normalize() {
            Written::Unchanged(existing.adjustment_id)
        } else {
            Written::Conflict(existing.adjustment_id)
        });
    }
    Ok(written)
}

/// Every adjustment with its note, for listing.
pub async fn list(
    executor: impl sqlx::PgExecutor<'_>,
) -> Result<Vec<(Adjustment, Option<String>)>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT adjustment_id, team, provider, model, effective_from, factor, note FROM adjustments
         ORDER BY team NULLS FIRST, provider NULLS FIRST, model NULLS FIRST, effective_from DESC"
    )
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let adjustment = Adjustment {
                adjustment_id: r.adjustment_id,
                team: r.team,
                provider: r.provider,
                model: r.model,
                effective_from: r.effective_from,
                factor: r.factor,
            };
            (adjustment, r.note)
        })
        .collect())
}
