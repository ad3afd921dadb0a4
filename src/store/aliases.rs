//! The `model_aliases` reference table: (provider, alias) → catalog model.

use crate::pricing::Alias;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// An alias as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAlias {
    pub alias: Alias,
    pub updated_at: DateTime<Utc>,
}

/// Every alias, for building the in-memory catalog.
pub async fn load_all(executor: impl sqlx::PgExecutor<'_>) -> Result<Vec<Alias>, sqlx::Error> {
    let rows = sqlx::query!("SELECT provider, alias, model FROM model_aliases")
        .fetch_all(executor)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Alias {
            provider: r.provider,
            alias: r.alias,
            model: r.model,
        })
        .collect())
}

/// Aliases of one provider (or all), by provider and alias.
pub async fn list(
    executor: impl sqlx::PgExecutor<'_>,
    provider: Option<&str>,
) -> Result<Vec<StoredAlias>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT provider, alias, model, updated_at FROM model_aliases
         WHERE ($1::text IS NULL OR provider = $1)
         ORDER BY provider, alias",
        provider,
    )
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| StoredAlias {
            alias: Alias {
                provider: r.provider,
                alias: r.alias,
                model: r.model,
            },
            updated_at: r.updated_at,
        })
        .collect())
}

/// A cheap fingerprint of the table: it changes whenever an alias is added or changed.
pub async fn version(executor: impl sqlx::PgExecutor<'_>) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "rows!", COALESCE(max(revision), 0) AS "max_revision!" FROM model_aliases"#
    )
    .fetch_one(executor)
    .await?;
    Ok((row.rows, row.max_revision))
}

/// Adds or retargets aliases. Returns, per alias, whether it was written (new or changed); an
/// alias that already points at the same model is left alone.
pub async fn upsert(conn: &mut PgConnection, aliases: &[Alias]) -> Result<Vec<bool>, sqlx::Error> {
    let mut written = Vec::with_capacity(aliases.len());
    for a in aliases {
        let changed = sqlx::query_scalar!(
            r#"INSERT INTO model_aliases (provider, alias, model) VALUES ($1, $2, $3)
               ON CONFLICT (provider, alias) DO UPDATE
                 SET model = EXCLUDED.model, revision = nextval('model_aliases_revision'), updated_at = now()
                 WHERE model_aliases.model <> EXCLUDED.model
               RETURNING 1 AS "one!""#,
            a.provider,
            a.alias,
            a.model,
        )
        .fetch_optional(&mut *conn)
        .await?;
        written.push(changed.is_some());
    }
    Ok(written)
}
