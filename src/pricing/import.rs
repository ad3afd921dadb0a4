//! What an import of a price list changes: the pure half of `POST /v1/prices/import` and
//! `tokenledger prices import` (the other half, in `crate::catalog`, writes the plan).
//!
//! Rules (SPEC "Pricing"): with an explicit `effective_from`, every model whose prices differ from
//! the version in effect at that time gets a new version from then. Without one, a model that
//! already has a price gets the new one from now on, and a model with none gets it from the
//! beginning of time, so its unpriced history is priced. A model whose prices are unchanged gets
//! no version: importing the same list twice changes nothing.

use super::catalog::CatalogRow;
use super::litellm::ImportedModel;
use super::{beginning_of_time, Catalog, PriceRow};
use chrono::{DateTime, Utc};

/// The currency of LiteLLM's map.
const LITELLM_CURRENCY: &str = "USD";

/// A model the import gives a new version.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVersion {
    pub provider: String,
    pub model: String,
    pub effective_from: DateTime<Utc>,
    pub rows: Vec<PriceRow>,
}

/// The versions to write, and the models left as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportPlan {
    pub versions: Vec<NewVersion>,
    pub unchanged: Vec<(String, String)>,
}

/// Decides which models get a new version.
pub fn plan(
    models: &[ImportedModel],
    catalog: &Catalog,
    effective_from: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ImportPlan {
    let mut plan = ImportPlan::default();
    for model in models {
        let at = effective_from.unwrap_or(now);
        let current = catalog.version_at(&model.provider, &model.model, at);
        if current.is_some_and(|(_, rows)| same_prices(model, rows)) {
            plan.unchanged.push((model.provider.clone(), model.model.clone()));
            continue;
        }
        let from = effective_from.unwrap_or_else(|| {
            if catalog.knows(&model.provider, &model.model) {
                now
            } else {
                beginning_of_time()
            }
        });
        let rows = model
            .variants
            .iter()
            .map(|v| PriceRow {
                provider: model.provider.clone(),
                model: model.model.clone(),
                effective_from: from,
                service_tier: v.service_tier,
                above_input_tokens: v.above_input_tokens,
                currency: LITELLM_CURRENCY.to_owned(),
                rates: v.rates.clone(),
            })
            .collect();
        plan.versions.push(NewVersion {
            provider: model.provider.clone(),
            model: model.model.clone(),
            effective_from: from,
            rows,
        });
    }
    plan
}

/// Whether a version prices every request exactly as the imported model would.
fn same_prices(model: &ImportedModel, rows: &[CatalogRow]) -> bool {
    rows.len() == model.variants.len()
        && model.variants.iter().all(|v| {
            let rates = v.rates.resolve();
            rows.iter().any(|r| {
                r.service_tier == v.service_tier
                    && r.above_input_tokens == v.above_input_tokens
                    && r.currency == LITELLM_CURRENCY
                    && r.rates == rates
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ServiceTier;
    use crate::pricing::litellm::Variant;
    use crate::pricing::{PriceRates, StoredPrice};
    use rust_decimal::Decimal;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn model(input: &str) -> ImportedModel {
        ImportedModel {
            provider: "openai".into(),
            model: "gpt-4o".into(),
            keys: vec!["gpt-4o".into()],
            variants: vec![Variant {
                service_tier: ServiceTier::Standard,
                above_input_tokens: 0,
                rates: PriceRates {
                    input: Decimal::from_str_exact(input).unwrap(),
                    output: Decimal::TEN,
                    ..Default::default()
                },
            }],
        }
    }

    fn catalog_with(input: &str, from: &str) -> Catalog {
        let version = plan(&[model(input)], &Catalog::default(), Some(at(from)), at(from));
        Catalog::from_rows(
            version.versions[0]
                .rows
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, row)| StoredPrice {
                    price_id: i as i64 + 1,
                    row,
                }),
        )
    }

    #[test]
    fn a_new_model_is_priced_from_the_beginning_of_time() {
        let plan = plan(
            &[model("2.5")],
            &Catalog::default(),
            None,
            at("2026-11-25T00:00:00Z"),
        );
        assert_eq!(plan.versions[0].effective_from, beginning_of_time());
    }

    #[test]
    fn a_changed_price_of_a_known_model_applies_from_now() {
        let now = at("2026-11-25T00:00:00Z");
        let plan = plan(
            &[model("2")],
            &catalog_with("2.5", "2025-01-01T00:00:00Z"),
            None,
            now,
        );
        assert_eq!(plan.versions[0].effective_from, now);
    }

    #[test]
    fn an_unchanged_price_adds_no_version() {
        let plan = plan(
            &[model("2.5")],
            &catalog_with("2.5", "2025-01-01T00:00:00Z"),
            None,
            at("2026-11-25T00:00:00Z"),
        );
        assert!(plan.versions.is_empty());
        assert_eq!(plan.unchanged.len(), 1);
    }

    #[test]
    fn an_explicit_date_compares_with_the_version_in_effect_then() {
        let catalog = catalog_with("2.5", "2025-06-01T00:00:00Z");
        let before = plan(
            &[model("2.5")],
            &catalog,
            Some(at("2025-01-01T00:00:00Z")),
            at("2026-11-25T00:00:00Z"),
        );
        assert_eq!(before.versions.len(), 1, "no price was in effect on 2025-01-01");
        let after = plan(
            &[model("2.5")],
            &catalog,
            Some(at("2025-07-01T00:00:00Z")),
            at("2026-11-25T00:00:00Z"),
        );
        assert!(after.versions.is_empty());
    }
}
