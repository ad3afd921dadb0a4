//! All SQL. One file per aggregate; a reader finds every query that touches a table in one place.
//! Growing tables (events, event_keys) are only queried here, always filtered on the team or as a
//! declared all-teams aggregate (SCALE.md rule 9).

pub mod adjustments;
pub mod alerts;
pub mod aliases;
pub mod budgets;
pub mod events;
pub mod keys;
pub mod metrics;
pub mod partitions;
pub mod prices;
pub mod reprice;
pub mod rollups;
pub mod spend;
pub mod teams;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::time::Duration;

/// The migrations in `migrations/`, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// Opens the query pool. Connections are made lazily, so a service can start (and answer
/// `/healthz`) while the database is still coming up.
pub fn pool(options: PgConnectOptions, size: u32, timeout: Duration) -> PgPool {
    use sqlx::ConnectOptions;
    // A rollup pass over a large backlog (after a bulk load) legitimately takes seconds; only
    // statements slower than this are logged, at warn, with their SQL.
    let options = options.log_slow_statements(log::LevelFilter::Warn, Duration::from_secs(60));
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(timeout)
        .connect_lazy_with(options)
}

/// Applies pending migrations. Safe with several replicas starting at once (sqlx takes an
/// advisory lock for the duration).
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Whether the database answers and every migration this binary knows is applied.
pub async fn is_ready(pool: &PgPool) -> bool {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Result<Option<i64>, _> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await;
    matches!(applied, Ok(Some(version)) if version >= latest)
}
