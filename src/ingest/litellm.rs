//! LiteLLM's `StandardLoggingPayload` (what its generic API logger sends) → usage events.
//!
//! Mapping, with the choices the payload leaves open:
//! - id: `id` (LiteLLM's call id). team: `metadata.user_api_key_team_alias`, else
//!   `metadata.user_api_key_team_id`, else the team of a team-bound key. user:
//!   `metadata.user_api_key_user_id`, else `metadata.user_api_key_end_user_id`, else `end_user`.
//! - provider: `custom_llm_provider`, folded by `domain::normalize_provider`.
//! - model: `model`, the model LiteLLM actually called (what the provider bills), else
//!   `hidden_params.litellm_model_name`, else `response.model`. Not `model_group`: that is the proxy's
//!   public alias for a group of deployments, a name the operator chose, not a priceable model id.
//! - timestamp: `endTime`, else `startTime`: unix seconds (LiteLLM's float, read from its decimal
//!   text, not through a float), RFC 3339, or LiteLLM's `YYYY-MM-DD HH:MM:SS.ffffff`, which carries no
//!   zone and is read as UTC.
//! - usage, from the most precise block present: `metadata.usage_object` (LiteLLM's own `Usage`),
//!   else `response.usage`, else the top-level `prompt_tokens` / `completion_tokens`. In LiteLLM's
//!   `Usage`, `prompt_tokens` includes cached input (OpenAI's convention; LiteLLM adds Anthropic's
//!   cache counts into it), cache reads are `prompt_tokens_details.cached_tokens` (or
//!   `cache_read_input_tokens`), cache writes `prompt_tokens_details.cache_creation_tokens` (or
//!   `cache_creation_input_tokens`), 1-hour writes `cache_creation_token_details.ephemeral_1h_input_tokens`,
//!   reasoning `completion_tokens_details.reasoning_tokens` (a subset of `completion_tokens`).
//!   Older LiteLLM versions added only cache *reads* into `prompt_tokens`: when reads and writes
//!   together exceed `prompt_tokens`, the writes are taken as not included and added.
//! - cost: `response_cost` becomes the reported cost, read from its JSON text as a decimal. LiteLLM
//!   computes it as a Python float, so it can end in float noise (`0.00022500000000000002`); digits
//!   past the 12th decimal (the most a reported cost keeps) are rounded half-up.
//! - service tier: `response.service_tier` when it is one we price (OpenAI's `default` is standard).
//! - tags: `request_tags` (a list of strings): `key:value` or `key=value` becomes that pair, a plain
//!   tag becomes `tag = "true"`. Only the first 16 valid tags are kept, so that an over-tagged call
//!   is still billed.
//! - `status: "failure"` with no tokens and no cost is skipped (outcome `ignored`, reason
//!   `litellm_failure`): the provider billed nothing, and a stored zero-usage request would still
//!   be charged any per-request fee and inflate request counts. A failure that does carry tokens or
//!   a cost (a stream cut off after output) is recorded like a success, since it was billed.

use crate::domain::money::decimal_from_json;
use crate::domain::EventError;
use crate::ingest::decode::RawEvent;
use chrono::{DateTime, NaiveDateTime};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;
use serde_json::value::{to_raw_value, RawValue};

/// The most tags one event keeps (SPEC: at most 16).
const MAX_TAGS: usize = 16;
/// The most decimals of a reported cost (as `ingest::validate` allows).
const COST_DECIMALS: u32 = 12;

/// What one payload became.
#[derive(Debug)]
pub enum Mapped {
    /// An event to validate, price and store.
    Event(Box<RawEvent>),
    /// A failed call without usage: skipped, and counted.
    SkippedFailure,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Payload<'a> {
    id: Option<String>,
    status: Option<String>,
    custom_llm_provider: Option<String>,
    model: Option<String>,
    #[serde(rename = "startTime", borrow)]
    start_time: Option<&'a RawValue>,
    #[serde(rename = "endTime", borrow)]
    end_time: Option<&'a RawValue>,
    #[serde(borrow)]
    response_cost: Option<&'a RawValue>,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    #[serde(borrow)]
    request_tags: Option<&'a RawValue>,
    end_user: Option<String>,
    #[serde(borrow)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow)]
    response: Option<&'a RawValue>,
    #[serde(borrow)]
    hidden_params: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metadata<'a> {
    user_api_key_team_alias: Option<String>,
    user_api_key_team_id: Option<String>,
    user_api_key_user_id: Option<String>,
    user_api_key_end_user_id: Option<String>,
    #[serde(borrow)]
    usage_object: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Response<'a> {
    model: Option<String>,
    service_tier: Option<String>,
    #[serde(borrow)]
    usage: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HiddenParams {
    litellm_model_name: Option<String>,
}

/// LiteLLM's `Usage` (OpenAI-shaped, with its cache extras).
#[derive(Deserialize, Default)]
#[serde(default)]
struct LlmUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<PromptDetails>,
    completion_tokens_details: Option<CompletionDetails>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_creation_token_details: Option<CreationDetails>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PromptDetails {
    cached_tokens: Option<u64>,
    cache_creation_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CompletionDetails {
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CreationDetails {
    ephemeral_1h_input_tokens: Option<u64>,
}

/// Reads a nested object leniently: a value of another type (LiteLLM sometimes logs a response
/// as a string) reads as absent, since attribution must not cost the event.
fn nested<'a, T: Deserialize<'a> + Default>(raw: Option<&'a RawValue>) -> T {
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
        .unwrap_or_default()
}

fn non_blank(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// The `id` of a payload, for naming one that could not be mapped.
pub fn payload_id(json: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Id {
        id: Option<String>,
    }
    serde_json::from_str::<Id>(json).ok().and_then(|p| p.id)
}

/// Maps one payload (its JSON text).
pub fn map_payload(json: &str, key_team: Option<&str>) -> Result<Mapped, EventError> {
    let payload: Payload<'_> = serde_json::from_str(json).map_err(|e| {
        EventError::new(
            "invalid_field",
            format!("not a LiteLLM StandardLoggingPayload: {e}"),
        )
    })?;
    let metadata: Metadata<'_> = nested(payload.metadata);
    let response: Response<'_> = nested(payload.response);
    let hidden: HiddenParams = nested(payload.hidden_params);

    let usage = usage(&payload, &metadata, &response)?;
    let cost = cost(payload.response_cost)?;
    let failed = payload.status.as_deref() == Some("failure");
    let nothing_billed = usage.is_empty() && cost.as_ref().is_none_or(|(c, _)| c.is_zero());
    if failed && nothing_billed {
        return Ok(Mapped::SkippedFailure);
    }

    let team = non_blank(metadata.user_api_key_team_alias)
        .or(non_blank(metadata.user_api_key_team_id))
        .or_else(|| key_team.map(str::to_owned));
    if team.is_none() {
        return Err(EventError::new(
            "missing_field",
            "no team: the payload has neither metadata.user_api_key_team_alias nor metadata.user_api_key_team_id \
             (give the LiteLLM key a team), and the tokenledger key is not bound to a team",
        ));
    }
    let time = payload.end_time.or(payload.start_time);
    Ok(Mapped::Event(Box::new(RawEvent {
        id: payload.id,
        timestamp: time.map(timestamp).transpose()?,
        team,
        project: None,
        user: non_blank(metadata.user_api_key_user_id)
            .or(non_blank(metadata.user_api_key_end_user_id))
            .or(non_blank(payload.end_user)),
        tags: tags(payload.request_tags),
        provider: non_blank(payload.custom_llm_provider),
        model: non_blank(payload.model)
            .or(non_blank(hidden.litellm_model_name))
            .or(non_blank(response.model)),
        service_tier: response
            .service_tier
            .filter(|t| crate::domain::ServiceTier::parse(t).is_some()),
        usage: Some(usage.block()?),
        usage_format: None,
        cost: cost.map(|(_, raw)| raw),
        currency: None,
    })))
}

/// Canonical counts, before the subset laws are checked by validation.
#[derive(Default)]
struct Counts {
    input: u64,
    cache_read: u64,
    cache_write: u64,
    cache_write_1h: u64,
    output: u64,
    reasoning: u64,
}

impl Counts {
    fn is_empty(&self) -> bool {
        self.input == 0 && self.output == 0
    }

    fn block(&self) -> Result<Box<RawValue>, EventError> {
        to_raw_value(&serde_json::json!({
            "input_tokens": self.input,
            "cache_read_tokens": self.cache_read,
            "cache_write_tokens": self.cache_write,
            "cache_write_1h_tokens": self.cache_write_1h,
            "output_tokens": self.output,
            "reasoning_tokens": self.reasoning,
        }))
        .map_err(|e| EventError::new("invalid_usage", e.to_string()))
    }
}

fn usage(
    payload: &Payload<'_>,
    metadata: &Metadata<'_>,
    response: &Response<'_>,
) -> Result<Counts, EventError> {
    let Some((path, raw)) = metadata
        .usage_object
        .map(|raw| ("metadata.usage_object", raw))
        .or(response.usage.map(|raw| ("response.usage", raw)))
    else {
        return Ok(Counts {
            input: payload.prompt_tokens.unwrap_or(0),
            output: payload.completion_tokens.unwrap_or(0),
            ..Counts::default()
        });
    };
    let usage: LlmUsage = serde_json::from_str(raw.get()).map_err(|e| {
        EventError::new(
            "invalid_usage",
            format!("{path}: counts must be non-negative whole numbers ({e})"),
        )
    })?;
    let prompt = usage.prompt_tokens.or(payload.prompt_tokens).unwrap_or(0);
    let details = usage.prompt_tokens_details.unwrap_or_default();
    let cache_read = details
        .cached_tokens
        .or(usage.cache_read_input_tokens)
        .unwrap_or(0);
    let cache_write = details
        .cache_creation_tokens
        .or(usage.cache_creation_input_tokens)
        .unwrap_or(0);
    // Older LiteLLM left cache writes out of prompt_tokens; then reads + writes can exceed it.
    let input = if cache_read.saturating_add(cache_write) > prompt {
        prompt.saturating_add(cache_write)
    } else {
        prompt
    };
    Ok(Counts {
        input,
        cache_read,
        cache_write,
        cache_write_1h: usage
            .cache_creation_token_details
            .and_then(|d| d.ephemeral_1h_input_tokens)
            .unwrap_or(0),
        output: usage.completion_tokens.or(payload.completion_tokens).unwrap_or(0),
        reasoning: usage
            .completion_tokens_details
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0),
    })
}

/// The reported cost, exact from its JSON text up to 12 decimals, with the text validation reads.
fn cost(raw: Option<&RawValue>) -> Result<Option<(Decimal, Box<RawValue>)>, EventError> {
    let Some(raw) = raw else { return Ok(None) };
    let Some(value) =
        decimal_from_json(raw).map_err(|e| EventError::new("invalid_cost", format!("response_cost {e}")))?
    else {
        return Ok(None);
    };
    let value = if value.scale() > COST_DECIMALS {
        value
            .round_dp_with_strategy(COST_DECIMALS, RoundingStrategy::MidpointAwayFromZero)
            .normalize()
    } else {
        value
    };
    let text = RawValue::from_string(format!("\"{value}\""))
        .map_err(|e| EventError::new("invalid_cost", e.to_string()))?;
    Ok(Some((value, text)))
}

/// `endTime`/`startTime` as RFC 3339.
fn timestamp(raw: &RawValue) -> Result<String, EventError> {
    let invalid = || {
        EventError::new(
            "invalid_timestamp",
            format!(
                "endTime/startTime {} is neither unix seconds, RFC 3339, nor YYYY-MM-DD HH:MM:SS",
                raw.get()
            ),
        )
    };
    let text = raw.get().trim();
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        if let Ok(time) = DateTime::parse_from_rfc3339(inner) {
            return Ok(time.to_utc().to_rfc3339());
        }
        let naive = NaiveDateTime::parse_from_str(inner, "%Y-%m-%d %H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(inner, "%Y-%m-%dT%H:%M:%S%.f"))
            .map_err(|_| invalid())?;
        return Ok(naive.and_utc().to_rfc3339());
    }
    let seconds = crate::domain::money::parse_decimal(text).map_err(|_| invalid())?;
    // Checked: `Decimal`'s `*` panics on overflow, and `1e27` seconds is a valid decimal.
    let nanos = seconds
        .checked_mul(Decimal::from(1_000_000_000_u32))
        .ok_or_else(invalid)?
        .trunc();
    let nanos = i64::try_from(nanos).map_err(|_| invalid())?;
    Ok(DateTime::from_timestamp_nanos(nanos).to_rfc3339())
}

fn tags(raw: Option<&RawValue>) -> Option<Vec<(String, String)>> {
    let list: Vec<serde_json::Value> = raw.and_then(|r| serde_json::from_str(r.get()).ok())?;
    let mut tags: Vec<(String, String)> = Vec::new();
    for tag in list.iter().filter_map(|t| t.as_str()) {
        let (key, value) = match tag.split_once([':', '=']) {
            Some((key, value)) => (key.trim(), value.trim()),
            None => (tag.trim(), "true"),
        };
        let valid = !key.is_empty()
            && key.chars().count() <= 64
            && value.chars().count() <= 256
            && !key.chars().chain(value.chars()).any(char::is_control);
        if valid && !tags.iter().any(|(k, _)| k == key) && tags.len() < MAX_TAGS {
            tags.push((key.to_owned(), value.to_owned()));
        }
    }
    (!tags.is_empty()).then_some(tags)
}

#[cfg(test)]
#[path = "litellm_tests.rs"]
mod tests;
