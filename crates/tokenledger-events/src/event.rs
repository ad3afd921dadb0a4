//! A validated usage event and the per-event rejection the ingest path reports.

use crate::{ServiceTier, Usage};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// One model call, valid by construction (see `validate`).
#[derive(Debug, Clone, PartialEq)]
pub struct UsageEvent {
    /// The gateway's idempotency key, unique per team.
    pub id: String,
    /// When the model call happened.
    pub timestamp: DateTime<Utc>,
    /// Who pays.
    pub team: String,
    pub project: Option<String>,
    pub user: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    /// Normalized provider name (`bedrock`, `openai`, ...).
    pub provider: String,
    /// Normalized model id (lowercase, provider prefix stripped).
    pub model: String,
    pub service_tier: ServiceTier,
    /// Canonical token counts.
    pub usage: Usage,
    /// The gateway's own cost, exact as sent.
    pub reported_cost: Option<Decimal>,
    /// ISO 4217 code of `reported_cost`.
    pub reported_currency: String,
}

impl UsageEvent {
    /// The first 16 bytes of SHA-256 of the id: the idempotency key within a team.
    pub fn id_hash(&self) -> [u8; 16] {
        truncate(Sha256::digest(self.id.as_bytes()).into())
    }

    /// A fingerprint of everything the event says, after normalization. Two events with the same
    /// id and the same fingerprint are one event sent twice; a different fingerprint is a conflict.
    /// Fields are length-prefixed so no two different events can serialize alike.
    pub fn content_hash(&self) -> [u8; 16] {
        let mut hasher = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        field(self.id.as_bytes());
        field(self.timestamp.timestamp_micros().to_le_bytes().as_slice());
        field(self.team.as_bytes());
        field(self.project.as_deref().unwrap_or("\u{0}none").as_bytes());
        field(self.user.as_deref().unwrap_or("\u{0}none").as_bytes());
        match &self.tags {
            None => field(b"\x00none"),
            Some(tags) => {
                field((tags.len() as u64).to_le_bytes().as_slice());
                for (key, value) in tags {
                    field(key.as_bytes());
                    field(value.as_bytes());
                }
            }
        }
        field(self.provider.as_bytes());
        field(self.model.as_bytes());
        field(self.service_tier.as_str().as_bytes());
        let u = &self.usage;
        for count in [
            u.input_tokens,
            u.cache_read_tokens,
            u.cache_write_tokens,
            u.cache_write_1h_tokens,
            u.output_tokens,
            u.reasoning_tokens,
        ] {
            field(count.to_le_bytes().as_slice());
        }
        match self.reported_cost {
            None => field(b"\x00none"),
            Some(cost) => field(cost.normalize().to_string().as_bytes()),
        }
        field(self.reported_currency.as_bytes());
        truncate(hasher.finalize().into())
    }
}

fn truncate(digest: [u8; 32]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// Why one event of a request was rejected. The other events of the request are unaffected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventError {
    /// A stable snake_case code (see docs/api.md for the list).
    pub code: &'static str,
    /// What was wrong and how to fix it.
    pub message: String,
}

impl EventError {
    /// A rejection with this code. The message is cut to [`MAX_MESSAGE_BYTES`]: messages quote
    /// what was sent, and a 10 MB value must not come back in the answer (or go to the log).
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: bounded(message.into()),
        }
    }
}

/// The longest message of a rejection, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// Cuts a message to [`MAX_MESSAGE_BYTES`] at a character boundary, marking the cut.
pub fn bounded(mut message: String) -> String {
    const CUT: &str = "... (cut)";
    if message.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES - CUT.len();
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str(CUT);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> UsageEvent {
        UsageEvent {
            id: "req_1".into(),
            timestamp: DateTime::parse_from_rfc3339("2026-11-24T10:15:02.123Z")
                .unwrap()
                .to_utc(),
            team: "search".into(),
            project: None,
            user: None,
            tags: None,
            provider: "openai".into(),
            model: "gpt-4o".into(),
            service_tier: ServiceTier::Standard,
            usage: Usage {
                input_tokens: 10,
                output_tokens: 5,
                ..Usage::default()
            },
            reported_cost: None,
            reported_currency: "USD".into(),
        }
    }

    #[test]
    fn equal_events_have_equal_fingerprints() {
        assert_eq!(event().content_hash(), event().content_hash());
    }

    #[test]
    fn any_changed_field_changes_the_fingerprint() {
        let base = event().content_hash();
        let mut changed = event();
        changed.usage.output_tokens = 6;
        assert_ne!(changed.content_hash(), base);
        let mut changed = event();
        changed.project = Some(String::new());
        assert_ne!(changed.content_hash(), base);
        let mut changed = event();
        changed.reported_cost = Some(Decimal::ONE);
        assert_ne!(changed.content_hash(), base);
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let error = EventError::new("invalid_field", "é".repeat(5_000));
        assert!(error.message.len() <= MAX_MESSAGE_BYTES);
        assert!(error.message.ends_with("... (cut)"));
        assert_eq!(EventError::new("x", "short").message, "short");
    }

    #[test]
    fn cost_written_with_trailing_zeros_is_the_same_content() {
        let mut a = event();
        a.reported_cost = Some(Decimal::from_str_exact("0.0100").unwrap());
        let mut b = event();
        b.reported_cost = Some(Decimal::from_str_exact("0.01").unwrap());
        assert_eq!(a.content_hash(), b.content_hash());
    }
}
