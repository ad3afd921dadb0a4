//! Re-pricing, the pure part: what a stored event costs with today's catalog, whether that differs
//! from what it was priced at, and the exact before/after totals of a set of events. `crate::reprice`
//! feeds it pages of stored events and writes what it decides.

use super::{Catalog, Payer, PricedCost};
use crate::domain::{ServiceTier, Usage};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// The catalog columns of an event: which price row priced it and what it came to. All `None`
/// when the event is unpriced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pricing {
    pub price_id: Option<i64>,
    pub cost: Option<Decimal>,
    pub list_cost: Option<Decimal>,
    pub currency: Option<String>,
}

impl From<Option<PricedCost>> for Pricing {
    fn from(priced: Option<PricedCost>) -> Self {
        match priced {
            None => Self::default(),
            Some(p) => Self {
                price_id: Some(p.price_id),
                cost: Some(p.cost),
                list_cost: Some(p.list_cost),
                currency: Some(p.currency),
            },
        }
    }
}

impl Pricing {
    /// Whether a catalog price is attached.
    pub fn is_priced(&self) -> bool {
        self.price_id.is_some()
    }
}

/// A stored event as re-pricing sees it: what prices it, and how it is priced now.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCall {
    /// Who pays: adjustments depend on it.
    pub team_id: i64,
    pub provider: String,
    pub model: String,
    pub service_tier: ServiceTier,
    pub usage: Usage,
    pub ts: DateTime<Utc>,
    pub current: Pricing,
}

/// The pricing the catalog gives this call now: the price in effect at its time, exactly as
/// ingest would price it (`Catalog::price_call`). Unpriced when the catalog has no price then.
pub fn reprice(catalog: &Catalog, call: &StoredCall) -> Pricing {
    catalog
        .price_call(
            Payer::Id(call.team_id),
            &call.provider,
            &call.model,
            call.service_tier,
            &call.usage,
            call.ts,
        )
        .into()
}

/// Catalog amounts in one currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amounts {
    pub cost: Decimal,
    pub list_cost: Decimal,
}

impl Amounts {
    fn add(&mut self, pricing: &Pricing) {
        self.cost += pricing.cost.unwrap_or_default();
        self.list_cost += pricing.list_cost.unwrap_or_default();
    }

    fn merge(&mut self, other: &Amounts) {
        self.cost += other.cost;
        self.list_cost += other.list_cost;
    }
}

/// Where a tally belongs: a (provider, model) and a currency (`""` for events that were unpriced
/// both before and after).
pub type TallyKey = (String, String, String);

/// Counts and amounts of the events of one (provider, model, currency).
///
/// Amounts of different currencies are never added up: an event's amounts before go to the row of
/// its old currency and its amounts after to the row of its new one. Its counts go to the row of
/// its new currency (its old one when it is unpriced after), so each event is counted once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub events_examined: u64,
    pub events_changed: u64,
    pub unpriced_before: u64,
    pub unpriced_after: u64,
    pub before: Amounts,
    pub after: Amounts,
}

impl Tally {
    fn merge(&mut self, other: &Tally) {
        self.events_examined += other.events_examined;
        self.events_changed += other.events_changed;
        self.unpriced_before += other.unpriced_before;
        self.unpriced_after += other.unpriced_after;
        self.before.merge(&other.before);
        self.after.merge(&other.after);
    }
}

/// Exact totals of re-pricing a set of events, by (provider, model, currency).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    rows: BTreeMap<TallyKey, Tally>,
}

impl Totals {
    /// Counts one event priced `before` and now `after`.
    pub fn add(&mut self, call: &StoredCall, before: &Pricing, after: &Pricing) {
        let key = |currency: Option<&String>| {
            (
                call.provider.clone(),
                call.model.clone(),
                currency.cloned().unwrap_or_default(),
            )
        };
        let counted = self
            .rows
            .entry(key(after.currency.as_ref().or(before.currency.as_ref())))
            .or_default();
        counted.events_examined += 1;
        counted.events_changed += u64::from(before != after);
        counted.unpriced_before += u64::from(!before.is_priced());
        counted.unpriced_after += u64::from(!after.is_priced());
        if before.is_priced() {
            self.rows
                .entry(key(before.currency.as_ref()))
                .or_default()
                .before
                .add(before);
        }
        if after.is_priced() {
            self.rows
                .entry(key(after.currency.as_ref()))
                .or_default()
                .after
                .add(after);
        }
    }

    /// Adds the tallies of `other` to these.
    pub fn merge(&mut self, other: &Totals) {
        for (key, tally) in &other.rows {
            self.rows.entry(key.clone()).or_default().merge(tally);
        }
    }

    /// The tallies, in (provider, model, currency) order.
    pub fn rows(&self) -> impl Iterator<Item = (&TallyKey, &Tally)> {
        self.rows.iter()
    }

    /// Builds totals from stored tallies (a key given twice is added up).
    pub fn from_rows(rows: impl IntoIterator<Item = (TallyKey, Tally)>) -> Self {
        let mut totals = Self::default();
        for (key, tally) in rows {
            totals.rows.entry(key).or_default().merge(&tally);
        }
        totals
    }

    /// Counts and amounts over every row.
    pub fn sum(&self) -> Tally {
        let mut sum = Tally::default();
        for tally in self.rows.values() {
            sum.merge(tally);
        }
        sum
    }
}

/// The new pricing of each call (in order) and the totals of the whole set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Repriced {
    pub after: Vec<Pricing>,
    pub totals: Totals,
}

/// Re-prices a set of stored calls with the catalog.
pub fn reprice_all(catalog: &Catalog, calls: &[StoredCall]) -> Repriced {
    let mut repriced = Repriced::default();
    for call in calls {
        let after = reprice(catalog, call);
        repriced.totals.add(call, &call.current, &after);
        repriced.after.push(after);
    }
    repriced
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{PriceRates, PriceRow, StoredPrice};

    fn d(text: &str) -> Decimal {
        Decimal::from_str_exact(text).unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn price(id: i64, model: &str, from: &str, currency: &str, input: &str) -> StoredPrice {
        StoredPrice {
            price_id: id,
            row: PriceRow {
                provider: "acme".into(),
                model: model.into(),
                effective_from: at(from),
                service_tier: ServiceTier::Standard,
                above_input_tokens: 0,
                currency: currency.into(),
                rates: PriceRates {
                    input: d(input),
                    output: d("10"),
                    ..PriceRates::default()
                },
            },
        }
    }

    /// acme-1 at $1/M input from 2025 and $2/M from 2026-06; acme-eur in EUR from 2026.
    fn catalog() -> Catalog {
        Catalog::from_rows([
            price(1, "acme-1", "2025-01-01T00:00:00Z", "USD", "1"),
            price(2, "acme-1", "2026-06-01T00:00:00Z", "USD", "2"),
            price(3, "acme-eur", "2026-01-01T00:00:00Z", "EUR", "4"),
        ])
    }

    fn call(model: &str, ts: &str, input: u64, current: Pricing) -> StoredCall {
        StoredCall {
            team_id: 1,
            provider: "acme".into(),
            model: model.into(),
            service_tier: ServiceTier::Standard,
            usage: Usage {
                input_tokens: input,
                ..Usage::default()
            },
            ts: at(ts),
            current,
        }
    }

    fn priced(id: i64, cost: &str, currency: &str) -> Pricing {
        Pricing {
            price_id: Some(id),
            cost: Some(d(cost)),
            list_cost: Some(d(cost)),
            currency: Some(currency.into()),
        }
    }

    #[test]
    fn an_event_gets_the_price_in_effect_at_its_time() {
        // Priced at $1/M before the 2026-06 version existed; 1000 × $2/M = 0.002 now.
        let stale = call("acme-1", "2026-07-01T00:00:00Z", 1000, priced(1, "0.001", "USD"));
        assert_eq!(reprice(&catalog(), &stale), priced(2, "0.002", "USD"));
    }

    #[test]
    fn an_event_already_at_its_price_is_unchanged_whatever_the_scale() {
        // NUMERIC(38,12) comes back as 0.001000000000: the same amount, so no change.
        let current = priced(1, "0.001000000000", "USD");
        let fresh = call("acme-1", "2025-03-01T00:00:00Z", 1000, current.clone());
        assert_eq!(reprice(&catalog(), &fresh), current);
        let repriced = reprice_all(&catalog(), &[fresh]);
        assert_eq!(repriced.totals.sum().events_changed, 0);
    }

    #[test]
    fn an_unpriced_event_is_priced_and_one_without_a_price_becomes_unpriced() {
        let unpriced = call("acme-1", "2025-03-01T00:00:00Z", 1000, Pricing::default());
        assert_eq!(reprice(&catalog(), &unpriced), priced(1, "0.001", "USD"));
        // Before any version of acme-1: nothing prices it, so a stored price cannot stand.
        let too_early = call("acme-1", "2024-12-31T23:59:59Z", 1000, priced(1, "0.001", "USD"));
        assert_eq!(reprice(&catalog(), &too_early), Pricing::default());
    }

    #[test]
    fn totals_are_exact_and_counted_once_per_event() {
        let calls = [
            // 1000 × $1/M: 0.001 stays 0.001.
            call("acme-1", "2025-03-01T00:00:00Z", 1000, priced(1, "0.001", "USD")),
            // 3000 × $1/M = 0.003 before; 3000 × $2/M = 0.006 after.
            call("acme-1", "2026-07-01T00:00:00Z", 3000, priced(1, "0.003", "USD")),
            // Unpriced before; 500 × $2/M = 0.001 after.
            call("acme-1", "2026-08-01T00:00:00Z", 500, Pricing::default()),
            // Never priceable.
            call("other", "2026-08-01T00:00:00Z", 500, Pricing::default()),
        ];
        let totals = reprice_all(&catalog(), &calls).totals;
        let rows: Vec<_> = totals.rows().collect();
        assert_eq!(rows.len(), 2);
        let (key, usd) = rows[0];
        assert_eq!(key, &("acme".into(), "acme-1".into(), "USD".into()));
        assert_eq!(
            (
                usd.events_examined,
                usd.events_changed,
                usd.unpriced_before,
                usd.unpriced_after
            ),
            (3, 2, 1, 0)
        );
        // before: 0.001 + 0.003 = 0.004; after: 0.001 + 0.006 + 0.001 = 0.008
        assert_eq!(usd.before.cost, d("0.004"));
        assert_eq!(usd.after.cost, d("0.008"));
        assert_eq!(usd.after.list_cost, d("0.008"));
        let (key, none) = rows[1];
        assert_eq!(key, &("acme".into(), "other".into(), String::new()));
        assert_eq!((none.events_examined, none.events_changed), (1, 0));
        assert_eq!(none.after, Amounts::default());
        assert_eq!(totals.sum().events_examined, 4);
    }

    #[test]
    fn amounts_of_different_currencies_are_never_added() {
        // Wrongly priced in USD; the catalog says EUR: 1000 × €4/M = 0.004.
        let calls = [call(
            "acme-eur",
            "2026-02-01T00:00:00Z",
            1000,
            priced(9, "0.5", "USD"),
        )];
        let totals = reprice_all(&catalog(), &calls).totals;
        let rows: Vec<_> = totals.rows().collect();
        let (eur_key, eur) = rows[0];
        let (usd_key, usd) = rows[1];
        assert_eq!(eur_key.2, "EUR");
        assert_eq!(usd_key.2, "USD");
        assert_eq!(
            (eur.events_examined, eur.before.cost, eur.after.cost),
            (1, d("0"), d("0.004"))
        );
        assert_eq!(
            (usd.events_examined, usd.before.cost, usd.after.cost),
            (0, d("0.5"), d("0"))
        );
    }

    #[test]
    fn merged_totals_equal_the_totals_of_the_whole() {
        let calls: Vec<_> = (0..6)
            .map(|i| {
                call(
                    "acme-1",
                    "2026-07-01T00:00:00Z",
                    1000 * i,
                    priced(1, "0.001", "USD"),
                )
            })
            .collect();
        let whole = reprice_all(&catalog(), &calls).totals;
        let mut paged = Totals::default();
        for page in calls.chunks(4) {
            paged.merge(&reprice_all(&catalog(), page).totals);
        }
        assert_eq!(paged, whole);
        assert_eq!(
            Totals::from_rows(whole.rows().map(|(k, t)| (k.clone(), *t))),
            whole
        );
    }
}
