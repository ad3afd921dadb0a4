//! Budgets: their period, and the pure arithmetic of a budget's status (utilization, thresholds
//! crossed, the forecast of period-end spend). Decimal in, Decimal out, no I/O.
//!
//! # The forecast model
//!
//! Spend at the end of the period is projected from the recent burn rate: the spend of the last
//! [`FORECAST_WINDOW`] (six hours), or of the period so far when it began less than that ago,
//! divided by that window's length, times the time left in the period, plus the spend so far:
//!
//! ```text
//! window_start   = max(period_start, now - 6h)
//! rate           = spend[window_start, now) / (now - window_start)
//! forecast_spend = spend[period_start, now) + rate * (period_end - now)
//! ```
//!
//! Six hours follows a change of pace within a day (a burst shows up at once) without letting one
//! busy minute predict a month. `projected_exhaustion_at` is when spend reaches the amount at that
//! rate: `now` when it already has, `null` when the rate is zero or the amount is not reached
//! before the period ends.

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

/// How far back the burn rate of the forecast looks.
pub const FORECAST_WINDOW: TimeDelta = TimeDelta::hours(6);

/// Decimals kept for ratios and projections (as NUMERIC(38,12) stores them).
const SCALE: u32 = 12;

/// The length of a budget's period. Periods start at local midnight in the budget's time zone;
/// a week starts on Monday, a month on its first day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
}

impl Period {
    /// Parses the API's name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "daily" => Some(Self::Daily),
            "weekly" => Some(Self::Weekly),
            "monthly" => Some(Self::Monthly),
            _ => None,
        }
    }

    /// The API's (and the database's) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }
}

/// Thresholds as given: percents of the amount, 1 to 1000, at most 16, in any order. Returns them
/// sorted and without repeats, or what is wrong.
pub fn parse_thresholds(values: &[serde_json::Value]) -> Result<Vec<i32>, String> {
    if values.len() > 16 {
        return Err("at most 16 thresholds".into());
    }
    let mut out = Vec::with_capacity(values.len());
    for value in values {
        let percent = value
            .as_i64()
            .filter(|p| (1..=1000).contains(p))
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| format!("{value} is not a whole percent from 1 to 1000"))?;
        out.push(percent);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// spend ÷ amount, 12 decimals, half up (1 means 100%). Zero for a non-positive amount, which
/// validation never lets in.
pub fn utilization(spend: Decimal, amount: Decimal) -> Decimal {
    if amount <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    spend
        .checked_div(amount)
        .unwrap_or(Decimal::MAX)
        .round_dp_with_strategy(SCALE, RoundingStrategy::MidpointAwayFromZero)
}

/// The thresholds crossed: period spend ≥ threshold% × amount (so 100 is crossed at exactly the
/// amount). Compared as `spend × 100 ≥ threshold × amount`, exactly.
pub fn thresholds_crossed(spend: Decimal, amount: Decimal, thresholds: &[i32]) -> Vec<i32> {
    let hundred_spend = spend.checked_mul(Decimal::ONE_HUNDRED).unwrap_or(Decimal::MAX);
    thresholds
        .iter()
        .copied()
        .filter(|t| {
            Decimal::from(*t)
                .checked_mul(amount)
                .is_some_and(|needed| hundred_spend >= needed)
        })
        .collect()
}

/// What the forecast needs: the spend of the period so far and of the burn-rate window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForecastInput {
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// Spend in `[period_start, now)`.
    pub spend: Decimal,
    /// Spend in `[window_start(..), now)`.
    pub window_spend: Decimal,
    pub amount: Decimal,
}

/// The projection (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forecast {
    pub forecast_spend: Decimal,
    pub projected_exhaustion_at: Option<DateTime<Utc>>,
}

/// Where the burn-rate window of a forecast at `now` starts.
pub fn window_start(period_start: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    (now - FORECAST_WINDOW).max(period_start)
}

/// Milliseconds as an exact decimal number of seconds.
fn seconds(delta: TimeDelta) -> Decimal {
    Decimal::new(delta.num_milliseconds().max(0), 3)
}

/// `a × b ÷ c`, multiplying first when that fits (exact for the usual sizes), else dividing first.
fn mul_div(a: Decimal, b: Decimal, c: Decimal) -> Option<Decimal> {
    if c.is_zero() {
        return None;
    }
    match a.checked_mul(b) {
        Some(product) => product.checked_div(c),
        None => a.checked_div(c)?.checked_mul(b),
    }
}

/// Projects period-end spend and the moment the amount is reached (see the module doc).
pub fn forecast(input: &ForecastInput) -> Forecast {
    let now = input.now.clamp(input.period_start, input.period_end);
    let elapsed = seconds(now - window_start(input.period_start, now));
    let remaining = seconds(input.period_end - now);
    let projected = mul_div(input.window_spend, remaining, elapsed).unwrap_or(Decimal::ZERO);
    let forecast_spend = input
        .spend
        .checked_add(projected)
        .unwrap_or(Decimal::MAX)
        .round_dp_with_strategy(SCALE, RoundingStrategy::MidpointAwayFromZero);
    let projected_exhaustion_at = if input.spend >= input.amount {
        Some(now)
    } else if input.window_spend > Decimal::ZERO {
        // Seconds until the rest of the amount is spent at the window's rate.
        mul_div(input.amount - input.spend, elapsed, input.window_spend)
            .and_then(|secs| secs.checked_mul(Decimal::ONE_THOUSAND))
            .and_then(|ms| i64::try_from(ms.ceil()).ok())
            .and_then(|ms| now.checked_add_signed(TimeDelta::try_milliseconds(ms)?))
            .filter(|at| *at < input.period_end)
    } else {
        None
    };
    Forecast {
        forecast_spend,
        projected_exhaustion_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn day_input(now: &str, spend: &str, window_spend: &str, amount: &str) -> ForecastInput {
        ForecastInput {
            period_start: at("2026-11-02T00:00:00Z"),
            period_end: at("2026-11-03T00:00:00Z"),
            now: at(now),
            spend: dec(spend),
            window_spend: dec(window_spend),
            amount: dec(amount),
        }
    }

    #[test]
    fn steady_spend_projects_the_same_rate_to_the_end_of_the_period() {
        // 1 per hour since midnight: 12 by noon, 6 in the last six hours; 12 hours left at 1/h.
        let f = forecast(&day_input("2026-11-02T12:00:00Z", "12", "6", "20"));
        assert_eq!(f.forecast_spend, dec("24"));
        // 8 more at 1/h: 20:00.
        assert_eq!(f.projected_exhaustion_at, Some(at("2026-11-02T20:00:00Z")));
    }

    #[test]
    fn a_burst_in_the_last_hours_raises_the_forecast() {
        // 2 spent before 06:00, then 10 in the last six hours: 10/6 per hour for 12 more hours.
        let f = forecast(&day_input("2026-11-02T12:00:00Z", "12", "10", "20"));
        assert_eq!(f.forecast_spend, dec("32"));
        // 8 more at 10/6 per hour is 4.8 hours: 16:48.
        assert_eq!(f.projected_exhaustion_at, Some(at("2026-11-02T16:48:00Z")));
    }

    #[test]
    fn a_period_younger_than_the_window_uses_the_period_so_far() {
        // 3 in the first 3 hours: 1/h for the 21 hours left.
        let f = forecast(&day_input("2026-11-02T03:00:00Z", "3", "3", "100"));
        assert_eq!(f.forecast_spend, dec("24"));
        assert_eq!(f.projected_exhaustion_at, None);
    }

    #[test]
    fn an_amount_not_reached_before_the_period_ends_has_no_exhaustion_time() {
        // 0.1 in the first 6 hours, 18 hours left: 0.1 + 0.1 × 18/6 = 0.4; the 0.9 left would take 54 h.
        let f = forecast(&day_input("2026-11-02T06:00:00Z", "0.1", "0.1", "1"));
        assert_eq!(f.forecast_spend, dec("0.4"));
        assert_eq!(f.projected_exhaustion_at, None);
    }

    #[test]
    fn a_rate_that_does_not_divide_evenly_is_rounded_half_up_to_twelve_decimals() {
        // 1 in 01:00-07:00, 17 hours left: 1 + 17/6 = 3.8333...: rounds down.
        let f = forecast(&day_input("2026-11-02T07:00:00Z", "1", "1", "100"));
        assert_eq!(f.forecast_spend, dec("3.833333333333"));
        // 2 in 10:00-16:00, 8 hours left: 2 + 2 × 8/6 = 4.6666...: rounds up.
        let g = forecast(&day_input("2026-11-02T16:00:00Z", "2", "2", "100"));
        assert_eq!(g.forecast_spend, dec("4.666666666667"));
    }

    #[test]
    fn no_recent_spend_forecasts_what_was_spent() {
        let f = forecast(&day_input("2026-11-02T12:00:00Z", "5", "0", "20"));
        assert_eq!(f.forecast_spend, dec("5"));
        assert_eq!(f.projected_exhaustion_at, None);
    }

    #[test]
    fn an_exceeded_amount_is_exhausted_now() {
        let f = forecast(&day_input("2026-11-02T12:00:00Z", "25", "6", "20"));
        assert_eq!(f.projected_exhaustion_at, Some(at("2026-11-02T12:00:00Z")));
    }

    #[test]
    fn the_hundred_percent_threshold_is_crossed_at_exactly_the_amount() {
        let thresholds = [50, 80, 100];
        assert_eq!(
            thresholds_crossed(dec("99.999999999999"), dec("100"), &thresholds),
            vec![50, 80]
        );
        assert_eq!(
            thresholds_crossed(dec("100"), dec("100"), &thresholds),
            vec![50, 80, 100]
        );
        assert_eq!(
            thresholds_crossed(dec("0.4"), dec("1"), &thresholds),
            Vec::<i32>::new()
        );
        assert_eq!(thresholds_crossed(dec("0.5"), dec("1"), &thresholds), vec![50]);
    }

    #[test]
    fn utilization_is_spend_over_amount() {
        assert_eq!(utilization(dec("50"), dec("200")), dec("0.25"));
        assert_eq!(utilization(dec("1"), dec("3")), dec("0.333333333333"));
        assert_eq!(utilization(dec("2"), dec("3")), dec("0.666666666667"));
    }

    #[test]
    fn thresholds_are_sorted_deduplicated_and_bounded() {
        let parse = |v: serde_json::Value| parse_thresholds(v.as_array().unwrap());
        assert_eq!(
            parse(serde_json::json!([100, 50, 80, 50])).unwrap(),
            vec![50, 80, 100]
        );
        assert!(parse(serde_json::json!([0])).is_err());
        assert!(parse(serde_json::json!([50.5])).is_err());
        assert!(parse(serde_json::json!(["50"])).is_err());
        assert!(parse(serde_json::json!([1001])).is_err());
    }
}
