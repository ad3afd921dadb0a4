//! The in-memory catalog every replica prices from. It is rebuilt from the `prices` table when a
//! price changes (here or, within the refresh interval, on another replica) and swapped in whole.

use super::{cost_of, Rates, StoredPrice};
use crate::domain::{ServiceTier, Usage, UsageEvent};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// One row of a price version, with its rates resolved.
#[derive(Debug, Clone)]
pub struct CatalogRow {
    pub price_id: i64,
    pub service_tier: ServiceTier,
    pub above_input_tokens: u64,
    pub currency: String,
    pub rates: Rates,
}

/// All rows of a (provider, model) that share one `effective_from`.
#[derive(Debug, Clone)]
struct Version {
    effective_from: DateTime<Utc>,
    rows: Vec<CatalogRow>,
}

/// The priced cost of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedCost {
    pub price_id: i64,
    /// At list price.
    pub list_cost: Decimal,
    /// After adjustments (equal to `list_cost` until adjustments exist).
    pub cost: Decimal,
    pub currency: String,
}

/// Prices by (provider, model), each with its versions in ascending `effective_from`.
#[derive(Debug, Default)]
pub struct Catalog {
    models: HashMap<(String, String), Vec<Version>>,
    rows: usize,
}

impl Catalog {
    /// Builds the catalog from stored rows (in any order).
    pub fn from_rows(stored: impl IntoIterator<Item = StoredPrice>) -> Self {
        let mut models: HashMap<(String, String), Vec<Version>> = HashMap::new();
        let mut rows = 0;
        for StoredPrice { price_id, row } in stored {
            rows += 1;
            let versions = models.entry((row.provider, row.model)).or_default();
            let catalog_row = CatalogRow {
                price_id,
                service_tier: row.service_tier,
                above_input_tokens: row.above_input_tokens,
                currency: row.currency,
                rates: row.rates.resolve(),
            };
            match versions
                .iter_mut()
                .find(|v| v.effective_from == row.effective_from)
            {
                Some(version) => version.rows.push(catalog_row),
                None => versions.push(Version {
                    effective_from: row.effective_from,
                    rows: vec![catalog_row],
                }),
            }
        }
        for versions in models.values_mut() {
            versions.sort_by_key(|v| v.effective_from);
        }
        Self { models, rows }
    }

    /// Number of price rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Whether any price exists for this (provider, model), at any time.
    pub fn knows(&self, provider: &str, model: &str) -> bool {
        self.models.contains_key(&(provider.to_owned(), model.to_owned()))
    }

    /// The rows of the version of (provider, model) in effect at `at`, with its start.
    pub fn version_at(
        &self,
        provider: &str,
        model: &str,
        at: DateTime<Utc>,
    ) -> Option<(DateTime<Utc>, &[CatalogRow])> {
        let versions = self.models.get(&(provider.to_owned(), model.to_owned()))?;
        let in_effect = versions.partition_point(|v| v.effective_from <= at);
        let version = versions.get(in_effect.checked_sub(1)?)?;
        Some((version.effective_from, &version.rows))
    }

    /// The row that prices a call: the version in effect at `at`, the requested service tier
    /// (standard when the version has no rows for it), and the long-context row with the highest
    /// threshold the request's input exceeds.
    pub fn find(
        &self,
        provider: &str,
        model: &str,
        tier: ServiceTier,
        input_tokens: u64,
        at: DateTime<Utc>,
    ) -> Option<&CatalogRow> {
        let versions = self.models.get(&(provider.to_owned(), model.to_owned()))?;
        let in_effect = versions.partition_point(|v| v.effective_from <= at);
        let version = versions.get(in_effect.checked_sub(1)?)?;
        let has_tier = version.rows.iter().any(|r| r.service_tier == tier);
        let tier = if has_tier { tier } else { ServiceTier::Standard };
        version
            .rows
            .iter()
            .filter(|r| r.service_tier == tier)
            .filter(|r| r.above_input_tokens == 0 || input_tokens > r.above_input_tokens)
            .max_by_key(|r| r.above_input_tokens)
    }

    /// Prices an event, or `None` when the catalog has no price for it at its time.
    pub fn price(&self, event: &UsageEvent) -> Option<PricedCost> {
        self.price_call(
            &event.provider,
            &event.model,
            event.service_tier,
            &event.usage,
            event.timestamp,
        )
    }

    /// Prices a call given by its parts (a stored event has no `UsageEvent`): the row `find`
    /// chooses, applied by `cost_of`. Ingest, pricing of unpriced events and re-pricing all come
    /// through here, so an event is priced the same way whenever it is priced.
    pub fn price_call(
        &self,
        provider: &str,
        model: &str,
        tier: ServiceTier,
        usage: &Usage,
        at: DateTime<Utc>,
    ) -> Option<PricedCost> {
        let row = self.find(provider, model, tier, usage.input_tokens, at)?;
        let list_cost = cost_of(usage, &row.rates)?;
        Some(PricedCost {
            price_id: row.price_id,
            list_cost,
            cost: list_cost,
            currency: row.currency.clone(),
        })
    }
}

/// The shared, swappable catalog. Readers take an `Arc` snapshot and never wait on a reload.
#[derive(Debug, Default)]
pub struct CatalogHandle {
    current: RwLock<Arc<Catalog>>,
}

impl CatalogHandle {
    pub fn new(catalog: Catalog) -> Self {
        Self {
            current: RwLock::new(Arc::new(catalog)),
        }
    }

    /// The catalog as of now.
    pub fn snapshot(&self) -> Arc<Catalog> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the catalog.
    pub fn replace(&self, catalog: Catalog) {
        let catalog = Arc::new(catalog);
        match self.current.write() {
            Ok(mut guard) => *guard = catalog,
            Err(poisoned) => *poisoned.into_inner() = catalog,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{PriceRates, PriceRow};

    fn d(text: &str) -> Decimal {
        Decimal::from_str_exact(text).unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn row(id: i64, from: &str, tier: ServiceTier, above: u64, input: &str) -> StoredPrice {
        StoredPrice {
            price_id: id,
            row: PriceRow {
                provider: "anthropic".into(),
                model: "claude".into(),
                effective_from: at(from),
                service_tier: tier,
                above_input_tokens: above,
                currency: "USD".into(),
                rates: PriceRates {
                    input: d(input),
                    output: d("15"),
                    ..PriceRates::default()
                },
            },
        }
    }

    fn catalog() -> Catalog {
        Catalog::from_rows([
            row(1, "2025-01-01T00:00:00Z", ServiceTier::Standard, 0, "3"),
            row(2, "2025-01-01T00:00:00Z", ServiceTier::Standard, 200_000, "6"),
            row(3, "2025-01-01T00:00:00Z", ServiceTier::Batch, 0, "1.5"),
            row(4, "2026-01-01T00:00:00Z", ServiceTier::Standard, 0, "2"),
        ])
    }

    #[test]
    fn the_version_in_effect_at_the_event_time_is_used() {
        let c = catalog();
        let find = |ts| {
            c.find("anthropic", "claude", ServiceTier::Standard, 10, at(ts))
                .map(|r| r.price_id)
        };
        assert_eq!(find("2024-12-31T23:59:59Z"), None);
        assert_eq!(find("2025-01-01T00:00:00Z"), Some(1));
        assert_eq!(find("2025-12-31T23:59:59Z"), Some(1));
        assert_eq!(find("2026-01-01T00:00:00Z"), Some(4));
    }

    #[test]
    fn long_context_rows_apply_strictly_above_their_threshold() {
        let c = catalog();
        let find = |input| {
            c.find(
                "anthropic",
                "claude",
                ServiceTier::Standard,
                input,
                at("2025-06-01T00:00:00Z"),
            )
        };
        assert_eq!(find(200_000).map(|r| r.price_id), Some(1));
        assert_eq!(find(200_001).map(|r| r.price_id), Some(2));
    }

    #[test]
    fn a_tier_without_rows_falls_back_to_standard() {
        let c = catalog();
        let at_2025 = at("2025-06-01T00:00:00Z");
        assert_eq!(
            c.find("anthropic", "claude", ServiceTier::Batch, 10, at_2025)
                .map(|r| r.price_id),
            Some(3)
        );
        assert_eq!(
            c.find("anthropic", "claude", ServiceTier::Flex, 10, at_2025)
                .map(|r| r.price_id),
            Some(1)
        );
        // The 2026 version has no batch row: standard of that version, not batch of the old one.
        let at_2026 = at("2026-06-01T00:00:00Z");
        assert_eq!(
            c.find("anthropic", "claude", ServiceTier::Batch, 10, at_2026)
                .map(|r| r.price_id),
            Some(4)
        );
    }
}
