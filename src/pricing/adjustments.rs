//! Negotiated discounts and markups: a factor on list price for a (team?, provider?, model?)
//! scope, versioned by `effective_from` like prices. Pure: the catalog holds them in memory.
//!
//! Exactly one adjustment applies to a call, never several multiplied: of the scopes that match it
//! (an absent field matches anything) and have a version in effect at the call's time, the most
//! specific wins: a team's deal beats a model-wide one, which beats a provider-wide one (weights
//! team 4, model 2, provider 1). A version with factor 1 ends an adjustment.

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::HashMap;

/// Costs are kept to this many decimals (the database's NUMERIC(38,12)).
pub const COST_SCALE: u32 = 12;

/// One version of an adjustment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub adjustment_id: i64,
    pub team: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub effective_from: DateTime<Utc>,
    /// 0.8 is a 20% discount, 1.1 a 10% markup.
    pub factor: Decimal,
}

type Scope = (Option<String>, Option<String>, Option<String>);

/// All adjustments, by scope, each scope's versions in ascending `effective_from`.
#[derive(Debug, Default, Clone)]
pub struct Adjustments {
    scopes: HashMap<Scope, Vec<Adjustment>>,
}

impl Adjustments {
    pub fn from_rows(rows: impl IntoIterator<Item = Adjustment>) -> Self {
        let mut scopes: HashMap<Scope, Vec<Adjustment>> = HashMap::new();
        for row in rows {
            scopes
                .entry((row.team.clone(), row.provider.clone(), row.model.clone()))
                .or_default()
                .push(row);
        }
        for versions in scopes.values_mut() {
            versions.sort_by_key(|a| a.effective_from);
        }
        Self { scopes }
    }

    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    /// The adjustment that applies to a call of `team` on (provider, model) at `at`, if any.
    pub fn find(&self, team: &str, provider: &str, model: &str, at: DateTime<Utc>) -> Option<&Adjustment> {
        self.scopes
            .iter()
            .filter(|((t, p, m), _)| {
                t.as_deref().is_none_or(|t| t == team)
                    && p.as_deref().is_none_or(|p| p == provider)
                    && m.as_deref().is_none_or(|m| m == model)
            })
            .filter_map(|((t, p, m), versions)| {
                let in_effect = versions.partition_point(|a| a.effective_from <= at);
                let version = versions.get(in_effect.checked_sub(1)?)?;
                let weight = 4 * u8::from(t.is_some()) + 2 * u8::from(m.is_some()) + u8::from(p.is_some());
                Some((weight, version))
            })
            .max_by_key(|(weight, _)| *weight)
            .map(|(_, version)| version)
    }
}

/// List cost × factor, rounded half up to the stored 12 decimals. `None` on overflow.
pub fn apply(list_cost: Decimal, factor: Decimal) -> Option<Decimal> {
    let adjusted = list_cost.checked_mul(factor)?;
    Some(adjusted.round_dp_with_strategy(COST_SCALE, RoundingStrategy::MidpointAwayFromZero))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn adj(
        id: i64,
        team: Option<&str>,
        provider: Option<&str>,
        model: Option<&str>,
        from: &str,
        f: &str,
    ) -> Adjustment {
        Adjustment {
            adjustment_id: id,
            team: team.map(str::to_owned),
            provider: provider.map(str::to_owned),
            model: model.map(str::to_owned),
            effective_from: at(from),
            factor: Decimal::from_str_exact(f).unwrap(),
        }
    }

    fn set() -> Adjustments {
        Adjustments::from_rows([
            adj(1, None, Some("openai"), None, "2025-01-01T00:00:00Z", "0.9"),
            adj(
                2,
                None,
                Some("openai"),
                Some("gpt-4o"),
                "2025-01-01T00:00:00Z",
                "0.8",
            ),
            adj(
                3,
                Some("search"),
                Some("openai"),
                None,
                "2025-01-01T00:00:00Z",
                "0.7",
            ),
            adj(
                4,
                Some("search"),
                Some("openai"),
                None,
                "2026-01-01T00:00:00Z",
                "1",
            ),
        ])
    }

    #[test]
    fn the_most_specific_scope_in_effect_wins() {
        let s = set();
        let find = |team, model, when| s.find(team, "openai", model, at(when)).map(|a| a.adjustment_id);
        assert_eq!(find("ads", "o3", "2025-06-01T00:00:00Z"), Some(1));
        assert_eq!(find("ads", "gpt-4o", "2025-06-01T00:00:00Z"), Some(2));
        assert_eq!(find("search", "gpt-4o", "2025-06-01T00:00:00Z"), Some(3));
        // The team's deal ended with a factor-1 version.
        assert_eq!(find("search", "gpt-4o", "2026-06-01T00:00:00Z"), Some(4));
        assert_eq!(find("ads", "o3", "2024-06-01T00:00:00Z"), None);
        assert_eq!(
            s.find("ads", "anthropic", "claude", at("2025-06-01T00:00:00Z")),
            None
        );
    }

    #[test]
    fn adjusted_costs_are_rounded_half_up_at_twelve_decimals() {
        let list = Decimal::from_str_exact("0.000000000003").unwrap();
        let half = Decimal::from_str_exact("0.5").unwrap();
        assert_eq!(
            apply(list, half),
            Some(Decimal::from_str_exact("0.000000000002").unwrap())
        );
    }

    proptest! {
        #[test]
        fn a_factor_of_one_changes_nothing(mantissa in 0i64..1_000_000_000_000_000, scale in 0u32..=12) {
            let list = Decimal::new(mantissa, scale);
            prop_assert_eq!(apply(list, Decimal::ONE), Some(list));
        }

        #[test]
        fn a_discount_never_costs_more_and_a_markup_never_less(
            mantissa in 0i64..1_000_000_000_000, scale in 0u32..=12, factor in 0i64..3_000_000,
        ) {
            let list = Decimal::new(mantissa, scale);
            let factor = Decimal::new(factor, 6);
            let adjusted = apply(list, factor).unwrap();
            if factor <= Decimal::ONE { prop_assert!(adjusted <= list) } else { prop_assert!(adjusted >= list) }
        }
    }
}
