//! The in-memory catalog every replica prices from. It is rebuilt from the `prices` and
//! `model_aliases` tables when either changes (here or, within the refresh interval, on another
//! replica) and swapped in whole. Which catalog model prices an event's model id is decided by
//! [`Catalog::resolve`], following `pricing::aliases`.

use super::adjustments::{apply, Adjustments};
use super::aliases::{fallbacks, Alias, Rule};
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
    /// After the payer's adjustment (equal to `list_cost` when none applies).
    pub cost: Decimal,
    pub currency: String,
}

/// How an event's model id reached a catalog model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The id itself has a price.
    Exact,
    /// An operator's alias (`model_aliases`).
    Alias,
    /// A built-in rule.
    Rule(Rule),
}

/// The catalog model that prices a model id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub model: String,
    pub via: Via,
}

/// Prices by (provider, model), each with its versions in ascending `effective_from`, and the
/// operator's aliases.
#[derive(Debug, Default)]
pub struct Catalog {
    models: HashMap<(String, String), Vec<Version>>,
    aliases: HashMap<(String, String), String>,
    adjustments: Adjustments,
    /// Names of the teams adjustments name, for calls known by team id (stored events).
    team_names: HashMap<i64, String>,
    rows: usize,
}

/// Who pays for a call, as the caller knows it: ingest by name, stored events by id.
#[derive(Debug, Clone, Copy)]
pub enum Payer<'a> {
    Name(&'a str),
    Id(i64),
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
        Self {
            models,
            aliases: HashMap::new(),
            adjustments: Adjustments::default(),
            team_names: HashMap::new(),
            rows,
        }
    }

    /// Adds the adjustments, and the ids of the teams they name.
    pub fn with_adjustments(mut self, adjustments: Adjustments, team_names: HashMap<i64, String>) -> Self {
        self.adjustments = adjustments;
        self.team_names = team_names;
        self
    }

    /// Adds the operator's aliases (replacing any with the same provider and alias).
    pub fn with_aliases(mut self, aliases: impl IntoIterator<Item = Alias>) -> Self {
        self.aliases
            .extend(aliases.into_iter().map(|a| ((a.provider, a.alias), a.model)));
        self
    }

    /// Number of price rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Whether any price exists for exactly this (provider, model), at any time.
    pub fn knows(&self, provider: &str, model: &str) -> bool {
        self.models.contains_key(&(provider.to_owned(), model.to_owned()))
    }

    /// The catalog model that prices `model` of `provider` (both normalized): the id itself when it
    /// has a price at any time, else its alias when the alias's target has one, else the first
    /// built-in fallback that has one (see `pricing::aliases`). A name is matched before time is
    /// looked at: an id with a price from 2026 on is not priced through a rule before that.
    pub fn resolve(&self, provider: &str, model: &str) -> Option<Resolution> {
        let found = |name: &str, via| {
            self.knows(provider, name).then(|| Resolution {
                model: name.to_owned(),
                via,
            })
        };
        if let Some(exact) = found(model, Via::Exact) {
            return Some(exact);
        }
        let alias = self.aliases.get(&(provider.to_owned(), model.to_owned()));
        if let Some(aliased) = alias.and_then(|target| found(target, Via::Alias)) {
            return Some(aliased);
        }
        fallbacks(provider, model)
            .into_iter()
            .find_map(|(name, rule)| found(&name, Via::Rule(rule)))
    }

    /// The versions that price `model`, through [`Self::resolve`].
    fn versions_of(&self, provider: &str, model: &str) -> Option<&Vec<Version>> {
        if let Some(versions) = self.models.get(&(provider.to_owned(), model.to_owned())) {
            return Some(versions);
        }
        let resolved = self.resolve(provider, model)?;
        self.models.get(&(provider.to_owned(), resolved.model))
    }

    /// The rows of the version of exactly (provider, model) in effect at `at`, with its start.
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

    /// The row that prices a call: of the catalog model `model` resolves to, the version in
    /// effect at `at`, the requested service tier (standard when the version has no rows for it),
    /// and the long-context row with the highest threshold the request's input exceeds.
    pub fn find(
        &self,
        provider: &str,
        model: &str,
        tier: ServiceTier,
        input_tokens: u64,
        at: DateTime<Utc>,
    ) -> Option<&CatalogRow> {
        let versions = self.versions_of(provider, model)?;
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
            Payer::Name(&event.team),
            &event.provider,
            &event.model,
            event.service_tier,
            &event.usage,
            event.timestamp,
        )
    }

    /// Prices a call given by its parts (a stored event has no `UsageEvent`): the row `find`
    /// chooses, applied by `cost_of`, then the payer's adjustment in effect (see
    /// `pricing::adjustments`). Ingest, pricing of unpriced events and re-pricing all come through
    /// here, so an event is priced the same way whenever it is priced.
    pub fn price_call(
        &self,
        payer: Payer<'_>,
        provider: &str,
        model: &str,
        tier: ServiceTier,
        usage: &Usage,
        at: DateTime<Utc>,
    ) -> Option<PricedCost> {
        let row = self.find(provider, model, tier, usage.input_tokens, at)?;
        let list_cost = cost_of(usage, &row.rates)?;
        // A team id no adjustment names maps to no name: only team-less scopes can match it.
        let team = match payer {
            Payer::Name(name) => name,
            Payer::Id(id) => self.team_names.get(&id).map_or("", String::as_str),
        };
        let cost = match self.adjustments.find(team, provider, model, at) {
            Some(a) => apply(list_cost, a.factor)?,
            None => list_cost,
        };
        Some(PricedCost {
            price_id: row.price_id,
            list_cost,
            cost,
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

    fn priced(id: i64, provider: &str, model: &str) -> StoredPrice {
        let mut stored = row(id, "2025-01-01T00:00:00Z", ServiceTier::Standard, 0, "1");
        stored.row.provider = provider.into();
        stored.row.model = model.into();
        stored
    }

    fn alias(provider: &str, alias: &str, model: &str) -> Alias {
        Alias {
            provider: provider.into(),
            alias: alias.into(),
            model: model.into(),
        }
    }

    fn matching() -> Catalog {
        Catalog::from_rows([
            priced(1, "openai", "gpt-4o"),
            priced(2, "openai", "gpt-4o-2024-05-13"),
            priced(3, "bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            priced(4, "vertex_ai", "claude-opus-4-6"),
        ])
        .with_aliases([
            alias(
                "bedrock",
                "apac.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            ),
            alias("openai", "gpt-4o-2024-11-20", "gpt-4o-2024-05-13"),
            alias("openai", "gpt-4o-2099-01-01", "no-such-model"),
        ])
    }

    #[test]
    fn an_id_with_its_own_price_is_never_rerouted() {
        let c = matching();
        let r = c.resolve("openai", "gpt-4o-2024-05-13").unwrap();
        assert_eq!((r.model.as_str(), r.via), ("gpt-4o-2024-05-13", Via::Exact));
    }

    #[test]
    fn an_alias_comes_before_the_built_in_rules() {
        let c = matching();
        // The date rule would say gpt-4o; the operator said otherwise.
        let r = c.resolve("openai", "gpt-4o-2024-11-20").unwrap();
        assert_eq!((r.model.as_str(), r.via), ("gpt-4o-2024-05-13", Via::Alias));
        let r = c
            .resolve("bedrock", "apac.anthropic.claude-sonnet-4-5-20250929-v1:0")
            .unwrap();
        assert_eq!(r.model, "us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    }

    #[test]
    fn an_alias_to_a_model_without_a_price_is_passed_over() {
        let c = matching();
        let r = c.resolve("openai", "gpt-4o-2099-01-01").unwrap();
        assert_eq!(
            (r.model.as_str(), r.via),
            ("gpt-4o", Via::Rule(Rule::DatedSnapshot))
        );
    }

    #[test]
    fn the_built_in_rules_apply_within_the_events_provider_only() {
        let c = matching();
        let r = c.resolve("vertex_ai", "claude-opus-4-6@20260205").unwrap();
        assert_eq!(
            (r.model.as_str(), r.via),
            ("claude-opus-4-6", Via::Rule(Rule::VersionTag))
        );
        assert_eq!(c.resolve("azure", "gpt-4o-2024-08-06"), None);
        assert_eq!(
            c.resolve("bedrock", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            None
        );
    }

    #[test]
    fn a_resolved_model_is_priced_by_its_catalog_row() {
        let c = matching();
        let at = at("2026-01-01T00:00:00Z");
        let row = |model| {
            c.find("openai", model, ServiceTier::Standard, 10, at)
                .map(|r| r.price_id)
        };
        assert_eq!(row("gpt-4o-2026-01-01"), Some(1));
        assert_eq!(row("gpt-4o-2024-11-20"), Some(2));
        assert_eq!(row("gpt-5"), None);
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

    mod laws {
        use super::*;
        use crate::domain::Usage;
        use proptest::prelude::*;

        /// A version with a standard row and long-context rows at the given thresholds, each
        /// threshold's rates at least the rates below it (as providers price long context).
        fn tiered(thresholds: &[u64]) -> Catalog {
            let mut sorted = thresholds.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            let rows = std::iter::once(0)
                .chain(sorted)
                .enumerate()
                .map(|(i, above)| StoredPrice {
                    price_id: i as i64 + 1,
                    row: PriceRow {
                        provider: "p".into(),
                        model: "m".into(),
                        effective_from: at("2025-01-01T00:00:00Z"),
                        service_tier: ServiceTier::Standard,
                        above_input_tokens: above,
                        currency: "USD".into(),
                        rates: PriceRates {
                            input: Decimal::from(i as u64 + 1),
                            output: Decimal::from(2 * (i as u64 + 1)),
                            ..PriceRates::default()
                        },
                    },
                });
            Catalog::from_rows(rows)
        }

        proptest! {
            #[test]
            fn the_chosen_tier_is_the_highest_threshold_below_the_input(
                thresholds in proptest::collection::vec(1u64..1_000_000, 0..4),
                input in 0u64..2_000_000,
            ) {
                let catalog = tiered(&thresholds);
                let row = catalog.find("p", "m", ServiceTier::Standard, input, at("2026-01-01T00:00:00Z")).unwrap();
                let expected = thresholds.iter().copied().filter(|t| input > *t).max().unwrap_or(0);
                prop_assert_eq!(row.above_input_tokens, expected);
            }

            #[test]
            fn tiers_are_monotone_more_input_never_picks_a_lower_tier_or_costs_less(
                thresholds in proptest::collection::vec(1u64..1_000_000, 0..4),
                input in 0u64..2_000_000,
                more in 0u64..1_000_000,
                output in 0u64..100_000,
            ) {
                let catalog = tiered(&thresholds);
                let when = at("2026-01-01T00:00:00Z");
                let small = catalog.find("p", "m", ServiceTier::Standard, input, when).unwrap();
                let large = catalog.find("p", "m", ServiceTier::Standard, input + more, when).unwrap();
                prop_assert!(large.above_input_tokens >= small.above_input_tokens);
                let cost = |input: u64, row: &CatalogRow| {
                    cost_of(&Usage { input_tokens: input, output_tokens: output, ..Usage::default() }, &row.rates).unwrap()
                };
                prop_assert!(cost(input + more, large) >= cost(input, small));
            }
        }
    }
}
