#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use super::*;
use std::str::FromStr;

fn d(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn row(
    team: &str,
    provider: &str,
    model: &str,
    currency: &str,
    cost: &str,
    reported: Option<&str>,
) -> UsageTotals {
    UsageTotals {
        team: team.into(),
        provider: provider.into(),
        model: model.into(),
        currency: currency.into(),
        reported_currency: "USD".into(),
        requests: 2,
        reported_requests: if reported.is_some() { 2 } else { 0 },
        input_tokens: 100,
        cache_read_tokens: 40,
        cache_write_tokens: 10,
        output_tokens: 20,
        reasoning_tokens: 5,
        cost: d(cost),
        reported_cost: d(reported.unwrap_or("0")),
        cost_unreported: if reported.is_some() {
            Decimal::ZERO
        } else {
            d(cost)
        },
        month_cost: d(cost),
        month_reported_cost: d(reported.unwrap_or("0")),
        month_cost_unreported: if reported.is_some() {
            Decimal::ZERO
        } else {
            d(cost)
        },
    }
}

fn rows() -> Vec<UsageTotals> {
    vec![
        row("search", "openai", "gpt-4o", "USD", "3.000000000001", None),
        row("search", "anthropic", "claude", "USD", "1.5", Some("1.4")),
        row("ads", "openai", "gpt-4o", "USD", "0.25", None),
        row("ads", "openai", "gpt-4o-mini", "USD", "0.0000001", None),
        row("chat", "mistral", "unknown", "", "0", Some("0.75")),
    ]
}

fn shape(top_teams: usize, top_models: usize) -> Shape {
    Shape {
        cost_source: CostSource::Computed,
        top_teams,
        top_models,
    }
}

#[test]
fn folded_series_add_up_to_the_same_totals_as_unfolded_ones() {
    let full = fold(&rows(), shape(50, 50));
    let folded = fold(&rows(), shape(1, 1));
    let sum = |t: &BusinessTotals| t.spend.values().copied().sum::<Decimal>();
    assert_eq!(sum(&full), d("5.500000100001"));
    assert_eq!(sum(&folded), sum(&full));
    assert_eq!(
        full.requests.values().sum::<i64>(),
        folded.requests.values().sum::<i64>()
    );
    assert_eq!(
        full.tokens.values().sum::<i64>(),
        folded.tokens.values().sum::<i64>()
    );
    assert_eq!(
        full.month_spend.values().copied().sum::<Decimal>(),
        folded.month_spend.values().copied().sum::<Decimal>()
    );
}

#[test]
fn teams_and_models_outside_the_top_n_are_labelled_other() {
    let folded = fold(&rows(), shape(1, 1));
    let teams: HashSet<&str> = folded.requests.keys().map(|k| k.0.as_str()).collect();
    let models: HashSet<&str> = folded.requests.keys().map(|k| k.2.as_str()).collect();
    assert_eq!(teams, HashSet::from(["search", OTHER]));
    assert_eq!(models, HashSet::from(["gpt-4o", OTHER]));
}

#[test]
fn an_unpriced_group_counts_its_reported_cost_and_is_counted_unpriced() {
    let totals = fold(&rows(), shape(50, 50));
    let key = ("chat".to_owned(), "mistral".to_owned(), "unknown".to_owned());
    assert_eq!(totals.unpriced.get(&key), Some(&2));
    let spend_key = (key.0.clone(), key.1.clone(), key.2.clone(), "USD".to_owned());
    assert_eq!(totals.spend.get(&spend_key), Some(&d("0.75")));
}

#[test]
fn the_reported_cost_source_counts_reported_cost_where_sent() {
    let totals = fold(
        &rows(),
        Shape {
            cost_source: CostSource::Reported,
            ..shape(50, 50)
        },
    );
    let key = |t: &str, p: &str, m: &str| (t.to_owned(), p.to_owned(), m.to_owned(), "USD".to_owned());
    assert_eq!(
        totals.spend.get(&key("search", "anthropic", "claude")),
        Some(&d("1.4"))
    );
    assert_eq!(
        totals.spend.get(&key("search", "openai", "gpt-4o")),
        Some(&d("3.000000000001"))
    );
}

#[test]
fn a_decimal_of_fifteen_significant_digits_survives_the_float_exposition() {
    let value = d("1234.56789012345");
    let text = decimal_to_f64(value).to_string();
    assert_eq!(Decimal::from_str(&text).unwrap(), value);
}
