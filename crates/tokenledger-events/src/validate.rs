//! Raw event → `UsageEvent`: every rule of SPEC "Usage events", each failure a per-event
//! rejection with a stable code.

use crate::decode::RawEvent;
use crate::money::decimal_from_json;
use crate::normalize::{normalize, UsageFormat};
use crate::{normalize_model, normalize_provider, EventError, ServiceTier, UsageEvent};
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::collections::BTreeMap;

/// How far in the future a timestamp may be (clock skew between gateways and us).
pub const MAX_FUTURE_SKEW: Duration = Duration::minutes(5);
const MAX_ID_CHARS: usize = 256;
const MAX_NAME_CHARS: usize = 256;
const MAX_TAGS: usize = 16;
const MAX_TAG_KEY_CHARS: usize = 64;

/// The bound on a reported cost. Spend rollups sum costs into NUMERIC(38, 12), which holds less
/// than 10^26: below 10^15 per event, even 10^11 events of one team, model and hour still fit,
/// where a few events near 10^26 would make every rollup pass over them fail.
fn max_cost() -> rust_decimal::Decimal {
    rust_decimal::Decimal::from(1_000_000_000_000_000_u64)
}

/// The earliest accepted event time. Generative AI usage before 2000 is a client bug.
pub fn earliest_timestamp() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Validates and normalizes one raw event.
pub fn validate(raw: RawEvent, now: DateTime<Utc>) -> Result<UsageEvent, EventError> {
    let id = required(raw.id, "id")?;
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS {
        return Err(EventError::new(
            "invalid_id",
            format!("id must be 1 to {MAX_ID_CHARS} characters"),
        ));
    }
    text("id", &id)?;

    let timestamp = required(raw.timestamp, "timestamp")?;
    let timestamp = DateTime::parse_from_rfc3339(timestamp.trim())
        .map_err(|e| {
            EventError::new(
                "invalid_timestamp",
                format!(
                    "timestamp {} is not RFC 3339 (e.g. 2026-11-24T10:15:02.123Z): {e}",
                    quoted(&timestamp)
                ),
            )
        })?
        .to_utc();
    if timestamp > now + MAX_FUTURE_SKEW {
        return Err(EventError::new(
            "timestamp_in_future",
            format!("timestamp {timestamp} is more than 5 minutes in the future (server time {now})"),
        ));
    }
    if timestamp < earliest_timestamp() {
        return Err(EventError::new(
            "timestamp_out_of_range",
            "timestamp is before 2000-01-01",
        ));
    }

    let team = name("team", required(raw.team, "team")?)?;
    let project = raw.project.map(|p| name("project", p)).transpose()?;
    let user = raw.user.map(|u| name("user", u)).transpose()?;
    let tags = raw.tags.map(tags).transpose()?;

    let provider_raw = name("provider", required(raw.provider, "provider")?)?;
    let provider = normalize_provider(&provider_raw);
    if !provider
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        || provider.len() > 64
    {
        return Err(EventError::new(
            "invalid_field",
            "provider must be a short name of letters, digits, '_', '-' or '.' (e.g. openai, bedrock)",
        ));
    }
    let model = normalize_model(&provider, &name("model", required(raw.model, "model")?)?);
    if model.is_empty() {
        return Err(EventError::new("invalid_field", "model must not be empty"));
    }

    let service_tier = match raw.service_tier {
        None => ServiceTier::Standard,
        Some(tier) => ServiceTier::parse(&tier).ok_or_else(|| {
            EventError::new(
                "invalid_service_tier",
                format!(
                    "service_tier {} is not one of standard, batch, priority, flex",
                    quoted(&tier)
                ),
            )
        })?,
    };

    let format = match raw.usage_format.as_deref() {
        None => UsageFormat::Canonical,
        Some(name) => UsageFormat::parse(name).ok_or_else(|| {
            EventError::new(
                "unknown_usage_format",
                format!(
                    "usage_format {} is not one of canonical, openai, anthropic, bedrock, gemini",
                    quoted(name)
                ),
            )
        })?,
    };
    let usage = raw.usage.ok_or_else(|| missing("usage"))?;
    let usage = normalize(format, &usage).map_err(|e| EventError::new(e.code(), e.to_string()))?;

    let reported_cost = match raw.cost {
        None => None,
        Some(cost) => decimal_from_json(&cost)
            .map_err(|e| EventError::new("invalid_cost", format!("cost {e}")))?
            .map(|c| {
                if c.is_sign_negative() && !c.is_zero() {
                    Err(EventError::new("invalid_cost", "cost must not be negative"))
                } else if c.scale() > 12 || c >= max_cost() {
                    Err(EventError::new(
                        "invalid_cost",
                        "cost must be below 10^15 with at most 12 decimals",
                    ))
                } else {
                    Ok(c)
                }
            })
            .transpose()?,
    };
    let reported_currency = match raw.currency {
        None => "USD".to_owned(),
        Some(c) if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_alphabetic()) => c.to_ascii_uppercase(),
        Some(c) => {
            return Err(EventError::new(
                "invalid_currency",
                format!(
                    "currency {} is not an ISO 4217 code such as USD or EUR",
                    quoted(&c)
                ),
            ))
        }
    };

    Ok(UsageEvent {
        id,
        timestamp,
        team,
        project,
        user,
        tags,
        provider,
        model,
        service_tier,
        usage,
        reported_cost,
        reported_currency,
    })
}

/// A value sent, quoted for a message: its first 64 characters, so a message stays short.
fn quoted(value: &str) -> String {
    const MAX_CHARS: usize = 64;
    match value.char_indices().nth(MAX_CHARS) {
        None => format!("{value:?}"),
        Some((end, _)) => format!("{:?}...", &value[..end]),
    }
}

fn missing(field: &str) -> EventError {
    EventError::new("missing_field", format!("{field} is required"))
}

fn required(value: Option<String>, field: &str) -> Result<String, EventError> {
    value.ok_or_else(|| missing(field))
}

/// Text PostgreSQL can store and a dashboard can show: no NUL, no other control characters.
fn text(field: &str, value: &str) -> Result<(), EventError> {
    if value.chars().any(char::is_control) {
        return Err(EventError::new(
            "invalid_field",
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(())
}

fn name(field: &str, value: String) -> Result<String, EventError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(EventError::new(
            "invalid_field",
            format!("{field} must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    text(field, trimmed)?;
    Ok(if trimmed.len() == value.len() {
        value
    } else {
        trimmed.to_owned()
    })
}

fn tags(pairs: Vec<(String, String)>) -> Result<BTreeMap<String, String>, EventError> {
    if pairs.len() > MAX_TAGS {
        return Err(EventError::new(
            "too_many_tags",
            format!("{} tags; at most {MAX_TAGS}", pairs.len()),
        ));
    }
    let mut map = BTreeMap::new();
    for (key, value) in pairs {
        if key.is_empty() || key.chars().count() > MAX_TAG_KEY_CHARS {
            return Err(EventError::new(
                "invalid_field",
                format!("tag keys must be 1 to {MAX_TAG_KEY_CHARS} characters"),
            ));
        }
        if value.chars().count() > MAX_NAME_CHARS {
            return Err(EventError::new(
                "invalid_field",
                format!("tag values must be at most {MAX_NAME_CHARS} characters"),
            ));
        }
        text("tags", &key)?;
        text("tags", &value)?;
        if map.insert(key.clone(), value).is_some() {
            return Err(EventError::new(
                "duplicate_field",
                format!("tag {key:?} is given twice"),
            ));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_event;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
    }

    fn check(json: &str) -> Result<UsageEvent, EventError> {
        validate(decode_event(json).unwrap(), now())
    }

    const BASE: &str = r#""id": "r1", "timestamp": "2026-11-24T10:15:02.123Z", "team": "search",
        "provider": "Bedrock", "model": "bedrock/Anthropic.Claude", "usage": {"input_tokens": 5}"#;

    fn with(extra: &str) -> String {
        format!("{{{BASE}{extra}}}")
    }

    #[test]
    fn a_complete_event_is_normalized() {
        let e = check(&with(
            r#", "cost": "0.0123", "currency": "eur", "service_tier": "batch""#,
        ))
        .unwrap();
        assert_eq!(e.provider, "bedrock");
        assert_eq!(e.model, "anthropic.claude");
        assert_eq!(e.service_tier, ServiceTier::Batch);
        assert_eq!(e.reported_cost, Some(rust_decimal::Decimal::new(123, 4)));
        assert_eq!(e.reported_currency, "EUR");
    }

    #[test]
    fn each_rule_has_its_code() {
        let cases = [
            (
                r#"{"timestamp": "2026-11-24T10:00:00Z"}"#.to_owned(),
                "missing_field",
            ),
            (with(r#", "service_tier": "turbo""#), "invalid_service_tier"),
            (with(r#", "usage_format": "cohere""#), "unknown_usage_format"),
            (with(r#", "cost": "-1""#), "invalid_cost"),
            (with(r#", "cost": "abc""#), "invalid_cost"),
            (with(r#", "cost": "1000000000000000""#), "invalid_cost"),
            (with(r#", "cost": 1e15"#), "invalid_cost"),
            (with(r#", "currency": "dollars""#), "invalid_currency"),
            (with(r#", "project": "a\u0000b""#), "invalid_field"),
        ];
        for (json, code) in cases {
            assert_eq!(check(&json).unwrap_err().code, code, "{json}");
        }
    }

    #[test]
    fn the_largest_cost_is_just_below_ten_to_the_fifteen() {
        let e = check(&with(r#", "cost": "999999999999999.999999999999""#)).unwrap();
        assert_eq!(
            e.reported_cost,
            Some(rust_decimal::Decimal::from_str_exact("999999999999999.999999999999").unwrap())
        );
    }

    #[test]
    fn timestamps_are_checked() {
        let at = |ts: &str| check(&format!("{{{}}}", BASE.replace("2026-11-24T10:15:02.123Z", ts)));
        assert_eq!(at("yesterday").unwrap_err().code, "invalid_timestamp");
        assert_eq!(
            at("2026-11-24T12:05:01Z").unwrap_err().code,
            "timestamp_in_future"
        );
        assert!(at("2026-11-24T12:04:59Z").is_ok());
        assert_eq!(
            at("1999-12-31T23:59:59Z").unwrap_err().code,
            "timestamp_out_of_range"
        );
        assert!(at("2001-01-01T00:00:00+05:30").is_ok());
    }

    #[test]
    fn values_quoted_in_messages_are_cut() {
        let long = "x".repeat(100_000);
        let error = check(&with(&format!(", \"service_tier\": \"{long}\""))).unwrap_err();
        assert_eq!(error.code, "invalid_service_tier");
        assert!(error.message.len() < 200, "{}", error.message);
        assert!(error
            .message
            .ends_with("is not one of standard, batch, priority, flex"));
    }

    #[test]
    fn ids_longer_than_256_characters_are_rejected() {
        let long = "x".repeat(257);
        let json = with("").replace("\"r1\"", &format!("\"{long}\""));
        assert_eq!(check(&json).unwrap_err().code, "invalid_id");
    }

    #[test]
    fn seventeen_tags_are_too_many() {
        let tags: Vec<String> = (0..17).map(|i| format!("\"k{i}\": \"v\"")).collect();
        let json = with(&format!(", \"tags\": {{{}}}", tags.join(",")));
        assert_eq!(check(&json).unwrap_err().code, "too_many_tags");
    }
}
