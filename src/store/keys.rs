//! The `api_keys` reference table. Only SHA-256 hashes of secrets are stored.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// A key as stored (never with its secret).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRecord {
    pub key_id: i64,
    pub name: String,
    pub scope: String,
    pub team: Option<String>,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Stores a new key.
pub async fn insert(
    pool: &PgPool,
    name: &str,
    scope: &str,
    team: Option<&str>,
    secret_hash: &[u8],
    prefix: &str,
) -> Result<KeyRecord, sqlx::Error> {
    sqlx::query_as!(
        KeyRecord,
        "INSERT INTO api_keys (name, scope, team, secret_hash, prefix) VALUES ($1, $2, $3, $4, $5)
         RETURNING key_id, name, scope, team, prefix, created_at, revoked_at",
        name,
        scope,
        team,
        secret_hash,
        prefix,
    )
    .fetch_one(pool)
    .await
}

/// Makes sure an unrevoked admin key with this hash exists (the `TOKENLEDGER_ADMIN_KEY` bootstrap).
pub async fn ensure_admin(
    pool: &PgPool,
    name: &str,
    secret_hash: &[u8],
    prefix: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO api_keys (name, scope, secret_hash, prefix) VALUES ($1, 'admin', $2, $3)
         ON CONFLICT (secret_hash) DO UPDATE SET scope = 'admin', team = NULL, revoked_at = NULL",
        name,
        secret_hash,
        prefix,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Creates the first admin key unless an unrevoked one exists. Returns whether it created it.
/// The advisory lock keeps two replicas starting together from both creating one.
pub async fn create_first_admin(
    pool: &PgPool,
    secret_hash: &[u8],
    prefix: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtext('tokenledger.first_admin_key'))")
        .execute(&mut *tx)
        .await?;
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM api_keys WHERE scope = 'admin' AND revoked_at IS NULL) AS "exists!""#
    )
    .fetch_one(&mut *tx)
    .await?;
    if !exists {
        sqlx::query!(
            "INSERT INTO api_keys (name, scope, secret_hash, prefix) VALUES ('first-admin', 'admin', $1, $2)",
            secret_hash,
            prefix,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(!exists)
}

/// The unrevoked key with this secret hash, and the stored hash.
pub async fn find_active(
    pool: &PgPool,
    secret_hash: &[u8],
) -> Result<Option<(KeyRecord, Vec<u8>)>, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT key_id, name, scope, team, prefix, created_at, revoked_at, secret_hash FROM api_keys
         WHERE secret_hash = $1 AND revoked_at IS NULL",
        secret_hash,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| {
        let record = KeyRecord {
            key_id: r.key_id,
            name: r.name,
            scope: r.scope,
            team: r.team,
            prefix: r.prefix,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        };
        (record, r.secret_hash)
    }))
}

/// Every key, revoked ones included, newest first.
pub async fn list(pool: &PgPool) -> Result<Vec<KeyRecord>, sqlx::Error> {
    sqlx::query_as!(
        KeyRecord,
        "SELECT key_id, name, scope, team, prefix, created_at, revoked_at FROM api_keys ORDER BY key_id DESC"
    )
    .fetch_all(pool)
    .await
}

/// Revokes a key and, in the same transaction, announces it on `auth::REVOCATION_CHANNEL`, so
/// every replica forgets its cached keys as the revocation commits. Returns false if no such key
/// exists.
pub async fn revoke(pool: &PgPool, key_id: i64) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query!(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE key_id = $1",
        key_id
    )
    .execute(&mut *tx)
    .await?;
    // pg_notify returns void, which the query! macros cannot describe; the text is a literal.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(crate::auth::REVOCATION_CHANNEL)
        .bind(key_id.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}
