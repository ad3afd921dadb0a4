//! Exact decimal amounts read from JSON text, never through a float.

use rust_decimal::Decimal;
use serde_json::value::RawValue;
use std::str::FromStr;

/// Why an amount could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("must be a decimal number or a decimal string, got {0}")]
    NotANumber(String),
    #[error("has more digits than can be represented exactly ({0})")]
    TooPrecise(String),
    #[error("must not be negative ({0})")]
    Negative(String),
}

/// Reads a JSON number or string (`0.0123`, `"0.0123"`, `1e-5`) as an exact decimal. The text is
/// parsed as written, so `0.1` is exactly one tenth. `null` reads as `None`.
pub fn decimal_from_json(raw: &RawValue) -> Result<Option<Decimal>, AmountError> {
    let text = raw.get().trim();
    if text == "null" {
        return Ok(None);
    }
    let literal = if let Some(inner) = text.strip_prefix('"') {
        let inner = inner.strip_suffix('"').unwrap_or(inner);
        if inner.contains('\\') {
            return Err(AmountError::NotANumber(text.to_owned()));
        }
        inner.trim()
    } else {
        text
    };
    parse_decimal(literal).map(Some)
}

/// Parses a plain or scientific decimal literal exactly.
pub fn parse_decimal(literal: &str) -> Result<Decimal, AmountError> {
    let valid_chars = !literal.is_empty()
        && literal
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        && literal.chars().any(|c| c.is_ascii_digit());
    if !valid_chars {
        return Err(AmountError::NotANumber(literal.to_owned()));
    }
    let parsed = if literal.contains(['e', 'E']) {
        Decimal::from_scientific(literal)
    } else {
        Decimal::from_str_exact(literal)
    };
    match parsed {
        Ok(value) => Ok(value.normalize()),
        Err(rust_decimal::Error::Underflow) | Err(rust_decimal::Error::ExceedsMaximumPossibleValue) => {
            Err(AmountError::TooPrecise(literal.to_owned()))
        }
        Err(_) => Err(AmountError::NotANumber(literal.to_owned())),
    }
}

/// Parses a non-negative amount, as prices, costs and budgets are.
pub fn parse_non_negative(literal: &str) -> Result<Decimal, AmountError> {
    let value = parse_decimal(literal)?;
    if value.is_sign_negative() && !value.is_zero() {
        return Err(AmountError::Negative(literal.to_owned()));
    }
    Ok(value)
}

/// Formats an amount without trailing zeros (`1.500000000000` is `1.5`).
pub fn format_amount(value: Decimal) -> String {
    value.normalize().to_string()
}

/// Parses a decimal string for serde (`Decimal` from `"1.25"` or `1.25` read as text).
pub fn decimal_from_str(text: &str) -> Option<Decimal> {
    Decimal::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn numbers_are_read_exactly_as_written() {
        assert_eq!(decimal_from_json(&raw("0.1")).unwrap(), Some(Decimal::new(1, 1)));
        assert_eq!(
            decimal_from_json(&raw("\"0.0123\"")).unwrap(),
            Some(Decimal::new(123, 4))
        );
        assert_eq!(decimal_from_json(&raw("1e-5")).unwrap(), Some(Decimal::new(1, 5)));
        assert_eq!(
            decimal_from_json(&raw("0.00022500000000000002")).unwrap(),
            Some(Decimal::from_str_exact("0.00022500000000000002").unwrap())
        );
    }

    #[test]
    fn null_is_absent_and_garbage_is_an_error() {
        assert_eq!(decimal_from_json(&raw("null")).unwrap(), None);
        assert!(decimal_from_json(&raw("\"abc\"")).is_err());
        assert!(decimal_from_json(&raw("true")).is_err());
        assert!(decimal_from_json(&raw("[1]")).is_err());
    }

    #[test]
    fn negative_amounts_are_refused_where_they_make_no_sense() {
        assert!(matches!(parse_non_negative("-1"), Err(AmountError::Negative(_))));
        assert_eq!(parse_non_negative("0").unwrap(), Decimal::ZERO);
    }

    #[test]
    fn trailing_zeros_are_not_shown() {
        assert_eq!(
            format_amount(Decimal::from_str_exact("1.500000000000").unwrap()),
            "1.5"
        );
    }
}
