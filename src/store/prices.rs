//! The `prices` reference table.

use crate::domain::ServiceTier;
use crate::pricing::{PriceRates, PriceRow, StoredPrice};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};

struct Raw {
    price_id: i64,
    provider: String,
    model: String,
    effective_from: DateTime<Utc>,
    service_tier: String,
    above_input_tokens: i64,
    currency: String,
    input: Decimal,
    cache_read: Option<Decimal>,
    cache_write: Option<Decimal>,
    cache_write_1h: Option<Decimal>,
    output: Decimal,
    reasoning: Option<Decimal>,
    per_request: Decimal,
}

impl Raw {
    fn into_stored(self) -> StoredPrice {
        StoredPrice {
            price_id: self.price_id,
            row: PriceRow {
                provider: self.provider,
                model: self.model,
                effective_from: self.effective_from,
                // The column's CHECK constraint admits only known tiers.
                service_tier: ServiceTier::parse(&self.service_tier).unwrap_or(ServiceTier::Standard),
                above_input_tokens: u64::try_from(self.above_input_tokens).unwrap_or(0),
                currency: self.currency,
                rates: PriceRates {
                    input: self.input,
                    cache_read: self.cache_read,
                    cache_write: self.cache_write,
                    cache_write_1h: self.cache_write_1h,
                    output: self.output,
                    reasoning: self.reasoning,
                    per_request: self.per_request,
                },
            },
        }
    }
}

/// Every price row, for building the in-memory catalog.
pub async fn load_all(executor: impl sqlx::PgExecutor<'_>) -> Result<Vec<StoredPrice>, sqlx::Error> {
    let rows = sqlx::query_as!(
        Raw,
        "SELECT price_id, provider, model, effective_from, service_tier, above_input_tokens, currency, input,
                cache_read, cache_write, cache_write_1h, output, reasoning, per_request
         FROM prices"
    )
    .fetch_all(executor)
    .await?;
    Ok(rows.into_iter().map(Raw::into_stored).collect())
}

/// Rows matching the optional provider and model, newest version first.
pub async fn list(
    pool: &PgPool,
    provider: Option<&str>,
    model: Option<&str>,
) -> Result<Vec<StoredPrice>, sqlx::Error> {
    let rows = sqlx::query_as!(
        Raw,
        "SELECT price_id, provider, model, effective_from, service_tier, above_input_tokens, currency, input,
                cache_read, cache_write, cache_write_1h, output, reasoning, per_request
         FROM prices
         WHERE ($1::text IS NULL OR provider = $1) AND ($2::text IS NULL OR model = $2)
         ORDER BY provider, model, effective_from DESC, service_tier, above_input_tokens",
        provider,
        model,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Raw::into_stored).collect())
}

/// A cheap fingerprint of the table: it changes whenever a row is added.
pub async fn version(executor: impl sqlx::PgExecutor<'_>) -> Result<(i64, i64), sqlx::Error> {
    let row =
        sqlx::query!(r#"SELECT count(*) AS "rows!", COALESCE(max(price_id), 0) AS "max_id!" FROM prices"#)
            .fetch_one(executor)
            .await?;
    Ok((row.rows, row.max_id))
}

/// What writing one row did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// A new row.
    Inserted(i64),
    /// The same row already existed.
    Unchanged(i64),
    /// A row with the same key but different rates exists; rows are never rewritten, since
    /// events point at them (write a new version with a later `effective_from`).
    Conflict(i64),
}

/// Serializes catalog writers (imports, first-start loading) for the rest of the transaction.
pub async fn lock_for_writing(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtext('tokenledger.prices'))")
        .execute(conn)
        .await?;
    Ok(())
}

/// Writes rows, never changing an existing one.
pub async fn insert_rows(
    conn: &mut PgConnection,
    rows: &[PriceRow],
    source: &str,
) -> Result<Vec<Written>, sqlx::Error> {
    let mut written = Vec::with_capacity(rows.len());
    for row in rows {
        let r = &row.rates;
        let above = i64::try_from(row.above_input_tokens).unwrap_or(i64::MAX);
        let inserted = sqlx::query_scalar!(
            "INSERT INTO prices (provider, model, effective_from, service_tier, above_input_tokens, currency,
                                 input, cache_read, cache_write, cache_write_1h, output, reasoning, per_request, source)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT ON CONSTRAINT prices_version_row_key DO NOTHING
             RETURNING price_id",
            row.provider,
            row.model,
            row.effective_from,
            row.service_tier.as_str(),
            above,
            row.currency,
            r.input,
            r.cache_read,
            r.cache_write,
            r.cache_write_1h,
            r.output,
            r.reasoning,
            r.per_request,
            source,
        )
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = inserted {
            written.push(Written::Inserted(id));
            continue;
        }
        let existing = sqlx::query_as!(
            Raw,
            "SELECT price_id, provider, model, effective_from, service_tier, above_input_tokens, currency, input,
                    cache_read, cache_write, cache_write_1h, output, reasoning, per_request
             FROM prices
             WHERE provider = $1 AND model = $2 AND effective_from = $3 AND service_tier = $4
               AND above_input_tokens = $5",
            row.provider,
            row.model,
            row.effective_from,
            row.service_tier.as_str(),
            above,
        )
        .fetch_one(&mut *conn)
        .await?
        .into_stored();
        written.push(if same_price(&existing.row, row) {
            Written::Unchanged(existing.price_id)
        } else {
            Written::Conflict(existing.price_id)
        });
    }
    Ok(written)
}

fn same_price(a: &PriceRow, b: &PriceRow) -> bool {
    // NUMERIC comes back with the column's scale; compare values, not representations.
    let eq = |x: Option<Decimal>, y: Option<Decimal>| x.map(|v| v.normalize()) == y.map(|v| v.normalize());
    let (ra, rb) = (&a.rates, &b.rates);
    a.currency == b.currency
        && eq(Some(ra.input), Some(rb.input))
        && eq(ra.cache_read, rb.cache_read)
        && eq(ra.cache_write, rb.cache_write)
        && eq(ra.cache_write_1h, rb.cache_write_1h)
        && eq(Some(ra.output), Some(rb.output))
        && eq(ra.reasoning, rb.reasoning)
        && eq(Some(ra.per_request), Some(rb.per_request))
}
