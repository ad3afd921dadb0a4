//! Placeholder until the native-format normalizer lands: canonical usage only.
use crate::domain::{Usage, UsageError};
use serde_json::value::RawValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageFormat {
    Canonical,
    Openai,
    Anthropic,
    Bedrock,
    Gemini,
}
impl UsageFormat {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "canonical" => Some(Self::Canonical),
            _ => None,
        }
    }
}
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    #[error("usage: {0}")]
    Invalid(String),
    #[error(transparent)]
    Laws(#[from] UsageError),
}
impl NormalizeError {
    pub fn code(&self) -> &'static str {
        "invalid_usage"
    }
}
#[derive(serde::Deserialize)]
struct C {
    input_tokens: Option<u64>,
    cache_read_tokens: Option<u64>,
    cache_write_tokens: Option<u64>,
    cache_write_1h_tokens: Option<u64>,
    output_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
}
pub fn normalize(_format: UsageFormat, usage: &RawValue) -> Result<Usage, NormalizeError> {
    let c: C = serde_json::from_str(usage.get()).map_err(|e| NormalizeError::Invalid(e.to_string()))?;
    Ok(Usage {
        input_tokens: c.input_tokens.unwrap_or(0),
        cache_read_tokens: c.cache_read_tokens.unwrap_or(0),
        cache_write_tokens: c.cache_write_tokens.unwrap_or(0),
        cache_write_1h_tokens: c.cache_write_1h_tokens.unwrap_or(0),
        output_tokens: c.output_tokens.unwrap_or(0),
        reasoning_tokens: c.reasoning_tokens.unwrap_or(0),
    }
    .validate()?)
}
