//! The cost function of SPEC "Pricing".

use crate::domain::Usage;
use rust_decimal::Decimal;

const PER_MILLION: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// Rates of a price row as entered: cache and reasoning rates may be absent and then fall back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PriceRates {
    /// Per million uncached input tokens.
    pub input: Decimal,
    /// Per million cache-read tokens; falls back to `input`.
    pub cache_read: Option<Decimal>,
    /// Per million cache-write tokens (5-minute TTL); falls back to `input`.
    pub cache_write: Option<Decimal>,
    /// Per million cache-write tokens with the 1-hour TTL; falls back to `cache_write`.
    pub cache_write_1h: Option<Decimal>,
    /// Per million output tokens (reasoning excluded).
    pub output: Decimal,
    /// Per million reasoning tokens; falls back to `output`.
    pub reasoning: Option<Decimal>,
    /// Flat fee per request.
    pub per_request: Decimal,
}

/// Fully resolved per-million rates: what the cost function multiplies by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rates {
    pub input: Decimal,
    pub cache_read: Decimal,
    pub cache_write: Decimal,
    pub cache_write_1h: Decimal,
    pub output: Decimal,
    pub reasoning: Decimal,
    pub per_request: Decimal,
}

impl PriceRates {
    /// Applies the fallbacks: cache kinds to input, the 1-hour write to the 5-minute write,
    /// reasoning to output.
    pub fn resolve(&self) -> Rates {
        let cache_write = self.cache_write.unwrap_or(self.input);
        Rates {
            input: self.input,
            cache_read: self.cache_read.unwrap_or(self.input),
            cache_write,
            cache_write_1h: self.cache_write_1h.unwrap_or(cache_write),
            output: self.output,
            reasoning: self.reasoning.unwrap_or(self.output),
            per_request: self.per_request,
        }
    }
}

/// The exact cost of one call: uncached input × input, plus cache_read × cache_read, plus
/// (cache_write − cache_write_1h) × cache_write, plus cache_write_1h × cache_write_1h, plus
/// (output − reasoning) × output, plus reasoning × reasoning, all per million tokens; plus the
/// per-request fee. `usage` must have passed `Usage::validate`;
/// `None` only if the arithmetic would overflow (it cannot for counts up to 2^53 and sane prices).
pub fn cost_of(usage: &Usage, rates: &Rates) -> Option<Decimal> {
    let terms = [
        (usage.uncached_input_tokens(), rates.input),
        (usage.cache_read_tokens, rates.cache_read),
        (
            usage
                .cache_write_tokens
                .saturating_sub(usage.cache_write_1h_tokens),
            rates.cache_write,
        ),
        (usage.cache_write_1h_tokens, rates.cache_write_1h),
        (
            usage.output_tokens.saturating_sub(usage.reasoning_tokens),
            rates.output,
        ),
        (usage.reasoning_tokens, rates.reasoning),
    ];
    let mut per_million_sum = Decimal::ZERO;
    for (tokens, rate) in terms {
        if tokens == 0 {
            continue;
        }
        per_million_sum = per_million_sum.checked_add(Decimal::from(tokens).checked_mul(rate)?)?;
    }
    per_million_sum
        .checked_div(PER_MILLION)?
        .checked_add(rates.per_request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(text: &str) -> Decimal {
        Decimal::from_str_exact(text).unwrap()
    }

    fn sonnet() -> Rates {
        PriceRates {
            input: d("3"),
            cache_read: Some(d("0.3")),
            cache_write: Some(d("3.75")),
            cache_write_1h: Some(d("6")),
            output: d("15"),
            reasoning: None,
            per_request: Decimal::ZERO,
        }
        .resolve()
    }

    #[test]
    fn each_token_kind_is_billed_at_its_own_rate() {
        // 1000 uncached input at $3/M = 0.003; 2000 cache reads at $0.3/M = 0.0006;
        // 300 5-minute writes at $3.75/M = 0.001125; 100 1-hour writes at $6/M = 0.0006;
        // 400 output at $15/M = 0.006; 100 reasoning at $15/M = 0.0015. Sum 0.012825.
        let usage = Usage {
            input_tokens: 3400,
            cache_read_tokens: 2000,
            cache_write_tokens: 400,
            cache_write_1h_tokens: 100,
            output_tokens: 500,
            reasoning_tokens: 100,
        };
        assert_eq!(cost_of(&usage, &sonnet()), Some(d("0.012825")));
    }

    #[test]
    fn missing_rates_fall_back_as_documented() {
        let rates = PriceRates {
            input: d("2"),
            output: d("8"),
            ..PriceRates::default()
        }
        .resolve();
        assert_eq!(rates.cache_read, d("2"));
        assert_eq!(rates.cache_write_1h, d("2"));
        assert_eq!(rates.reasoning, d("8"));
    }

    #[test]
    fn zero_usage_costs_the_request_fee() {
        let mut rates = sonnet();
        rates.per_request = d("0.01");
        assert_eq!(cost_of(&Usage::default(), &rates), Some(d("0.01")));
    }

    #[test]
    fn the_largest_valid_usage_prices_without_overflow() {
        let max = crate::domain::usage::MAX_TOKENS;
        let usage = Usage {
            input_tokens: max,
            output_tokens: max,
            ..Usage::default()
        };
        let rates = PriceRates {
            input: d("150"),
            output: d("600"),
            ..PriceRates::default()
        }
        .resolve();
        assert!(cost_of(&usage, &rates).is_some());
    }

    fn arb_usage() -> impl Strategy<Value = Usage> {
        (
            0u64..1 << 40,
            0u64..1 << 40,
            0u64..1 << 40,
            0u64..1 << 40,
            0u64..1 << 40,
            0u64..1 << 40,
        )
            .prop_map(
                |(uncached, read, write_5m, write_1h, out_plain, reasoning)| Usage {
                    input_tokens: uncached + read + write_5m + write_1h,
                    cache_read_tokens: read,
                    cache_write_tokens: write_5m + write_1h,
                    cache_write_1h_tokens: write_1h,
                    output_tokens: out_plain + reasoning,
                    reasoning_tokens: reasoning,
                },
            )
    }

    fn arb_rates() -> impl Strategy<Value = Rates> {
        let rate = || (0i64..100_000_000).prop_map(|n| Decimal::new(n, 6));
        (rate(), rate(), rate(), rate(), rate(), rate(), rate()).prop_map(|(a, b, c, e, f, g, h)| Rates {
            input: a,
            cache_read: b,
            cache_write: c,
            cache_write_1h: e,
            output: f,
            reasoning: g,
            per_request: h,
        })
    }

    proptest! {
        #[test]
        fn cost_is_additive_over_token_kinds(usage in arb_usage(), rates in arb_rates()) {
            // Pricing each kind alone, the parts add up to the whole (the fee is counted once).
            let alone = |u: Usage| cost_of(&u, &rates).unwrap() - rates.per_request;
            let parts = [
                Usage { input_tokens: usage.uncached_input_tokens(), ..Usage::default() },
                Usage { input_tokens: usage.cache_read_tokens, cache_read_tokens: usage.cache_read_tokens, ..Usage::default() },
                Usage { input_tokens: usage.cache_write_tokens, cache_write_tokens: usage.cache_write_tokens, cache_write_1h_tokens: usage.cache_write_1h_tokens, ..Usage::default() },
                Usage { output_tokens: usage.output_tokens, reasoning_tokens: usage.reasoning_tokens, ..Usage::default() },
            ];
            let sum: Decimal = parts.into_iter().map(alone).sum();
            prop_assert_eq!(sum + rates.per_request, cost_of(&usage, &rates).unwrap());
        }

        #[test]
        fn zero_usage_costs_exactly_the_request_fee(rates in arb_rates()) {
            prop_assert_eq!(cost_of(&Usage::default(), &rates), Some(rates.per_request));
        }

        #[test]
        fn cost_never_decreases_when_tokens_are_added(usage in arb_usage(), rates in arb_rates(), extra in 0u64..1_000_000) {
            let more = Usage { input_tokens: usage.input_tokens + extra, output_tokens: usage.output_tokens + extra, ..usage };
            prop_assert!(cost_of(&more, &rates).unwrap() >= cost_of(&usage, &rates).unwrap());
        }

        #[test]
        fn cost_is_exact_at_twelve_decimals(usage in arb_usage(), rates in arb_rates()) {
            // Prices have at most 6 decimals per million, so a cost never needs more than 12.
            let cost = cost_of(&usage, &rates).unwrap();
            prop_assert!(cost.normalize().scale() <= 12);
        }
    }
}
