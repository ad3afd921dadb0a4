//! Catalog changes that reach the database: LiteLLM imports (`POST /v1/prices/import`,
//! `tokenledger prices import`) and the default catalog loaded on first start. The decisions are
//! made by the pure `pricing::import::plan`; this module reads the current catalog, writes the plan
//! in one transaction, and reports. Also: loading the in-memory catalog (prices and aliases), and
//! pricing the stored unpriced events a change now covers.

use crate::domain::ServiceTier;
use crate::pricing::adjustments::Adjustments;
use crate::pricing::import::plan;
use crate::pricing::litellm::{self, LitellmError, MergedEntry, SkippedEntry, DEFAULT_PRICES_JSON};
use crate::pricing::{beginning_of_time, Catalog, Payer};
use crate::store;
use crate::store::prices::Written;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use std::collections::HashSet;

/// Builds the in-memory catalog from the database: every price row and every alias.
pub async fn load(pool: &PgPool) -> Result<Catalog, sqlx::Error> {
    let prices = store::prices::load_all(pool).await?;
    let aliases = store::aliases::load_all(pool).await?;
    let (adjustments, team_names) = store::adjustments::load_all(pool).await?;
    Ok(Catalog::from_rows(prices)
        .with_aliases(aliases)
        .with_adjustments(Adjustments::from_rows(adjustments), team_names))
}

/// A fingerprint of what the in-memory catalog is built from: it changes whenever a price row or
/// an alias or an adjustment is added or changed.
pub async fn version(pool: &PgPool) -> Result<[(i64, i64); 3], sqlx::Error> {
    Ok([
        store::prices::version(pool).await?,
        store::aliases::version(pool).await?,
        store::adjustments::version(pool).await?,
    ])
}

/// What an import did.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Models that got a new price version.
    pub imported: Vec<ImportedVersion>,
    /// Models whose prices were already as imported (no version added).
    pub unchanged: usize,
    /// Price rows written.
    pub rows_added: usize,
    /// Entries of the file that were not imported, with why.
    #[schema(value_type = Vec<Object>)]
    pub skipped: Vec<SkippedView>,
    /// Models built from several keys of the file, and the fields on which they disagreed.
    #[schema(value_type = Vec<Object>)]
    pub merged: Vec<MergedView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportedVersion {
    pub provider: String,
    pub model: String,
    pub effective_from: DateTime<Utc>,
    /// Service-tier and long-context rows of the version.
    pub rows: usize,
}

#[derive(Debug, Serialize)]
pub struct SkippedView {
    pub key: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct MergedView {
    pub provider: String,
    pub model: String,
    pub keys: Vec<String>,
    pub conflicts: Vec<String>,
}

/// Why an import failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file is not a LiteLLM price map: {0}")]
    Parse(#[from] LitellmError),
    #[error(
        "price row {0} already exists for the same provider, model, effective_from, tier and context size \
         with other rates; rows are never rewritten: import with a later effective_from"
    )]
    Conflict(i64),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Imports a LiteLLM price map (see `pricing::import` for which versions it adds).
pub async fn import_litellm(
    pool: &PgPool,
    json: &str,
    effective_from: Option<DateTime<Utc>>,
    source: &str,
) -> Result<ImportReport, ImportError> {
    let parsed = litellm::parse(json)?;
    let mut tx = pool.begin().await?;
    store::prices::lock_for_writing(&mut tx).await?;
    let current = Catalog::from_rows(store::prices::load_all(&mut *tx).await?);
    let plan = plan(&parsed.models, &current, effective_from, Utc::now());
    let rows: Vec<_> = plan
        .versions
        .iter()
        .flat_map(|v| v.rows.iter().cloned())
        .collect();
    let written = store::prices::insert_rows(&mut tx, &rows, source).await?;
    if let Some(id) = written.iter().find_map(|w| {
        if let Written::Conflict(id) = w {
            Some(*id)
        } else {
            None
        }
    }) {
        return Err(ImportError::Conflict(id));
    }
    tx.commit().await?;
    Ok(ImportReport {
        imported: plan
            .versions
            .iter()
            .map(|v| ImportedVersion {
                provider: v.provider.clone(),
                model: v.model.clone(),
                effective_from: v.effective_from,
                rows: v.rows.len(),
            })
            .collect(),
        unchanged: plan.unchanged.len(),
        rows_added: written
            .iter()
            .filter(|w| matches!(w, Written::Inserted(_)))
            .count(),
        skipped: parsed
            .skipped
            .into_iter()
            .map(|SkippedEntry { key, reason }| SkippedView { key, reason })
            .collect(),
        merged: parsed
            .merged
            .into_iter()
            .map(
                |MergedEntry {
                     provider,
                     model,
                     keys,
                     conflicts,
                 }| MergedView {
                    provider,
                    model,
                    keys,
                    conflicts,
                },
            )
            .collect(),
    })
}

/// Loads the shipped catalog, priced from the beginning of time, when the catalog is empty (the
/// first start). Later starts leave prices alone, so an admin's corrections are never overridden.
pub async fn load_default_if_empty(pool: &PgPool) -> Result<Option<ImportReport>, ImportError> {
    let mut conn = pool.acquire().await?;
    if store::prices::version(&mut *conn).await?.0 > 0 {
        return Ok(None);
    }
    drop(conn);
    // Two replicas starting together both get here; the import is idempotent, so the second one
    // finds every price unchanged.
    let report = import_litellm(pool, DEFAULT_PRICES_JSON, Some(beginning_of_time()), "default").await?;
    tracing::info!(
        models = report.imported.len(),
        rows = report.rows_added,
        "loaded the default price catalog"
    );
    Ok(Some(report))
}

/// Prices the stored unpriced events that these catalog models now price (after prices or
/// aliases were added): the events of each model itself and of every id the catalog resolves to
/// it (an alias, a built-in rule), each at the version in effect at its time. Returns how many
/// events were priced. Pages through the events so memory stays bounded.
pub async fn price_unpriced(
    pool: &PgPool,
    catalog: &Catalog,
    models: &[(String, String)],
) -> Result<u64, sqlx::Error> {
    const PAGE: i64 = 5_000;
    if models.is_empty() {
        return Ok(0);
    }
    let wanted: HashSet<&(String, String)> = models.iter().collect();
    let covered: Vec<(String, String)> = store::events::unpriced_models(pool)
        .await?
        .into_iter()
        .filter(|(provider, model)| {
            catalog
                .resolve(provider, model)
                .is_some_and(|r| wanted.contains(&(provider.clone(), r.model)))
        })
        .collect();
    let mut priced_total = 0;
    for (provider, model) in &covered {
        let mut after = None;
        loop {
            let page = store::events::unpriced_page(pool, provider, model, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some((last.team_id, last.ts, last.seq));
            let mut keys = Vec::new();
            let mut costs = Vec::new();
            for event in &page {
                let tier = ServiceTier::parse(&event.service_tier).unwrap_or(ServiceTier::Standard);
                let Some(priced) = catalog.price_call(
                    Payer::Id(event.team_id),
                    provider,
                    model,
                    tier,
                    &event.usage,
                    event.ts,
                ) else {
                    continue;
                };
                keys.push((event.team_id, event.ts, event.seq));
                costs.push(priced);
            }
            if !keys.is_empty() {
                priced_total += store::events::set_prices(pool, &keys, &costs).await?;
            }
            if (page.len() as i64) < PAGE {
                break;
            }
        }
    }
    if priced_total > 0 {
        tracing::info!(events = priced_total, "priced previously unpriced events");
    }
    Ok(priced_total)
}
