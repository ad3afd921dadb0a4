//! Monthly partitions of `events`, created ahead of time. Events of months without a partition
//! (older history, or before the service first ran) land in `events_default`, so no event is ever
//! refused for lack of one.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use sqlx::PgPool;

/// Creates the partitions of the current month and the next `ahead` months, where missing.
/// A month whose rows already sit in the default partition is left there (creating its partition
/// would fail); that is correct, only less tidy, and logged.
pub async fn ensure_ahead(pool: &PgPool, now: DateTime<Utc>, ahead: u32) -> Result<(), sqlx::Error> {
    ensure_months(pool, now, ahead + 1).await
}

/// Creates the partitions of `months` months from the month of `from` on, where missing (a
/// bulk load of history creates the months it writes, so they do not land in the default).
pub async fn ensure_months(pool: &PgPool, from: DateTime<Utc>, months: u32) -> Result<(), sqlx::Error> {
    let Some(first) = NaiveDate::from_ymd_opt(from.year(), from.month(), 1) else {
        return Ok(());
    };
    let ahead = months.saturating_sub(1);
    let mut tx = pool.begin().await?;
    // Replicas starting together would race on CREATE ... IF NOT EXISTS; one at a time.
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtext('tokenledger.partitions'))")
        .execute(&mut *tx)
        .await?;
    for offset in 0..=ahead {
        let (Some(start), Some(end)) = (
            first.checked_add_months(Months::new(offset)),
            first.checked_add_months(Months::new(offset + 1)),
        ) else {
            continue;
        };
        let name = format!("events_{:04}_{:02}", start.year(), start.month());
        // DDL cannot take bind parameters; every interpolated value is generated here from dates.
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {name} PARTITION OF events FOR VALUES FROM ('{start}T00:00:00Z') TO ('{end}T00:00:00Z')"
        );
        sqlx::query("SAVEPOINT partition").execute(&mut *tx).await?;
        if let Err(error) = sqlx::query(&ddl).execute(&mut *tx).await {
            let overlaps =
                matches!(&error, sqlx::Error::Database(db) if db.code().as_deref() == Some("23514"));
            if !overlaps {
                return Err(error);
            }
            sqlx::query("ROLLBACK TO SAVEPOINT partition")
                .execute(&mut *tx)
                .await?;
            tracing::warn!(partition = %name, "rows of this month are in events_default; partition not created");
        }
    }
    tx.commit().await
}
