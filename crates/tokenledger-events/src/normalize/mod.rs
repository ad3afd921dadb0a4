//! Native usage blocks to canonical [`Usage`].
//!
//! A gateway sends the usage block of the model call as the `usage` of our event, either in our canonical
//! shape or as the provider returned it (`usage_format`). This module turns that block into canonical,
//! inclusive counts (input includes cached input, output includes reasoning) and checks the subset laws.
//! Every problem is a per-event `invalid_usage` rejection whose message names the offending field.
//!
//! Counts are JSON integers from 0 to 2^53, written as integer literals: `1.0`, `1e3`, `"12"` and `-3` are
//! rejected, so a count is never read through a float. `null`, a missing field and `0` are the same.
//! Unknown fields are ignored, except that an object in which *no* field of the format appears (say an
//! OpenAI block sent as `anthropic`) is rejected: it would otherwise be stored as a free call.
//! When a count has two spellings (`prompt_tokens` / `input_tokens`), either may be sent; if both are
//! non-zero they must agree.
//!
//! Leniency: when the object has none of the format's fields but has a `usage` key (`usageMetadata` for
//! Gemini), we descend into it, once. So a whole OpenAI/Anthropic/Bedrock Converse response, an OpenAI
//! final stream chunk, a Gemini `GenerateContentResponse` or `{"usage": {...}}` are accepted as well.
//! We do not dig deeper: Bedrock invocation logs (`output.outputBodyJson.usage`) and Anthropic stream
//! events (`message.usage`) must be unwrapped by the gateway. An Anthropic stream's usage is the
//! `message_start` usage overlaid with the cumulative `message_delta` usage; a `message_delta` alone
//! carries no input counts and would be billed as output only.
//!
//! Mappings (SPEC "Usage events"), with the decisions the SPEC leaves open:
//! - openai: input = `prompt_tokens`|`input_tokens`; cache read/write =
//!   `prompt_tokens_details`|`input_tokens_details` `.cached_tokens`/`.cache_write_tokens`; output =
//!   `completion_tokens`|`output_tokens`; reasoning = `*_tokens_details.reasoning_tokens`. Audio and
//!   prediction tokens stay inside the totals (priced at the text rate).
//! - anthropic: input = `input_tokens + cache_read_input_tokens + cache_creation_input_tokens`; the write
//!   count falls back to the sum of `cache_creation.ephemeral_{5m,1h}_input_tokens`; 1-hour writes =
//!   `cache_creation.ephemeral_1h_input_tokens`. Reasoning is 0: Anthropic bills thinking as output and
//!   does not report it apart.
//! - bedrock (Converse): input = `inputTokens + cacheReadInputTokens + cacheWriteInputTokens`, each also
//!   accepted as `...TokenCount` (the invocation-log spelling); `cacheDetails[]` entries with `ttl` "1h"
//!   are the 1-hour writes, and their sum stands in for a missing `cacheWriteInputTokens`.
//! - gemini (`usageMetadata`, camelCase or the Python SDK's snake_case): input = `promptTokenCount +
//!   toolUsePromptTokenCount` (tool-use prompt tokens are billed as input and are *not* part of
//!   `promptTokenCount`: Google's total is prompt + candidates + toolUsePrompt + thoughts); cache read =
//!   `cachedContentTokenCount`; output = `candidatesTokenCount` (`responseTokenCount` in the Live API) +
//!   `thoughtsTokenCount`; reasoning = `thoughtsTokenCount`. Gemini reports no cache writes.
//!
//! Hot path (~0.15-0.3 µs per block on one core, release build): one serde pass over the block, counts
//! borrowed as `RawValue` slices and parsed by hand, nested objects and arrays read in the same pass.
//! A valid block costs no allocation, except that serde_json allocates a small stack to skip an unknown
//! field nested two levels deep (Gemini's `*TokensDetails` arrays). Only a wrapped block is parsed twice.

use crate::usage::MAX_TOKENS;
use crate::{Usage, UsageError};
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::fmt;
use std::marker::PhantomData;

use formats::{AnthropicBlock, BedrockBlock, CanonicalBlock, GeminiBlock, OpenaiBlock};

/// The shape of an event's `usage` block, named by the event's `usage_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UsageFormat {
    /// Our own fields (`input_tokens`, `cache_read_tokens`, ...), already inclusive.
    Canonical,
    /// OpenAI Chat Completions or Responses `usage`.
    Openai,
    /// Anthropic Messages `usage` (also Claude through Bedrock InvokeModel or Vertex).
    Anthropic,
    /// Bedrock Converse `usage`.
    Bedrock,
    /// Gemini / Vertex AI `usageMetadata`.
    Gemini,
}

impl UsageFormat {
    /// Parses a `usage_format` name, ignoring ASCII case. `None` for an unknown name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Canonical,
            Self::Openai,
            Self::Anthropic,
            Self::Bedrock,
            Self::Gemini,
        ]
        .into_iter()
        .find(|format| format.as_str().eq_ignore_ascii_case(name))
    }

    /// The name as written in `usage_format`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Canonical => "canonical",
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Bedrock => "bedrock",
            Self::Gemini => "gemini",
        }
    }

    /// Message fragment naming the conversion, empty for canonical blocks.
    fn converted(self) -> &'static str {
        match self {
            Self::Canonical => "",
            Self::Openai => " (converted from the openai format)",
            Self::Anthropic => " (converted from the anthropic format)",
            Self::Bedrock => " (converted from the bedrock format)",
            Self::Gemini => " (converted from the gemini format)",
        }
    }
}

impl fmt::Display for UsageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with one token count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountProblem {
    /// A negative number.
    Negative,
    /// A number with a fraction or exponent (`1.5`, `1.0`, `1e3`).
    NotAnInteger,
    /// A string, boolean, array or object.
    NotANumber,
    /// Above 2^53 (including numbers beyond 64 bits).
    TooLarge,
}

impl fmt::Display for CountProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Negative => "must be a non-negative whole number",
            Self::NotAnInteger => {
                "must be a non-negative whole number written without a decimal point or exponent"
            }
            Self::NotANumber => "must be a non-negative whole number (a JSON number, or null)",
            Self::TooLarge => "must be at most 2^53 (9007199254740992)",
        })
    }
}

/// Why a usage block could not be normalized. `block` is the path of the block within the event
/// (`usage`, or `usage.usage` when we descended into a wrapper); `field` is relative to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    /// The usage block is not a JSON object.
    #[error("usage must be a JSON object holding the {format} token counts, got {got}")]
    NotAnObject { format: UsageFormat, got: String },
    /// A token count is not an integer in `0..=2^53`.
    #[error("{block}.{field} {problem}, got {got}")]
    InvalidCount {
        block: &'static str,
        field: &'static str,
        problem: CountProblem,
        got: String,
    },
    /// A nested value (`prompt_tokens_details`, `cacheDetails`, ...) has the wrong JSON type.
    #[error("{block}.{field} must be {expected} or null, got {got}")]
    InvalidShape {
        block: &'static str,
        field: &'static str,
        expected: &'static str,
        got: String,
    },
    /// Two spellings of one count are both non-zero and differ.
    #[error(
        "{block}.{field} ({value}) and {block}.{other} ({other_value}) are the same count and disagree; \
         send one of them"
    )]
    Conflict {
        block: &'static str,
        field: &'static str,
        value: u64,
        other: &'static str,
        other_value: u64,
    },
    /// A non-empty object with none of the format's fields: most likely the wrong `usage_format`.
    #[error(
        "{block} has none of the {format} usage fields ({expected}); check that usage_format matches it"
    )]
    NoKnownFields {
        block: &'static str,
        format: UsageFormat,
        expected: &'static str,
    },
    /// The block is not readable as the format, e.g. a field appears twice.
    #[error("{block} is not a valid {format} usage block: {message}")]
    Malformed {
        block: &'static str,
        format: UsageFormat,
        message: String,
    },
    /// The canonical counts break a subset law (or a sum exceeds 2^53).
    #[error("usage{} is not valid: {error}", format.converted())]
    Invalid { format: UsageFormat, error: UsageError },
}

impl NormalizeError {
    /// The stable error code of the per-event rejection (a 422 for the whole request if alone).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotAnObject { .. }
            | Self::InvalidCount { .. }
            | Self::InvalidShape { .. }
            | Self::Conflict { .. }
            | Self::NoKnownFields { .. }
            | Self::Malformed { .. }
            | Self::Invalid { .. } => "invalid_usage",
        }
    }
}

/// Normalizes a usage block of the given format to canonical counts and checks the subset laws.
pub fn normalize(format: UsageFormat, usage: &RawValue) -> Result<Usage, NormalizeError> {
    let usage = match format {
        UsageFormat::Canonical => read::<CanonicalBlock>(format, usage.get()),
        UsageFormat::Openai => read::<OpenaiBlock>(format, usage.get()),
        UsageFormat::Anthropic => read::<AnthropicBlock>(format, usage.get()),
        UsageFormat::Bedrock => read::<BedrockBlock>(format, usage.get()),
        UsageFormat::Gemini => read::<GeminiBlock>(format, usage.get()),
    }?;
    usage
        .validate()
        .map_err(|error| NormalizeError::Invalid { format, error })
}

/// A block in one native format.
trait Block<'a>: Deserialize<'a> {
    /// The key of the wrapper we descend into.
    const WRAPPER: &'static str;
    /// The path of the block inside the wrapper, for messages.
    const WRAPPED_PATH: &'static str;
    /// The format's fields, for the "wrong format?" message.
    const EXPECTED: &'static str;
    /// Whether any field of the format (other than the wrapper) is present, even as `null`.
    fn has_known_fields(&self) -> bool;
    fn wrapper(&self) -> Field<'a>;
    fn to_usage(self, ctx: Ctx) -> Result<Usage, NormalizeError>;
}

fn read<'a, B: Block<'a>>(format: UsageFormat, text: &'a str) -> Result<Usage, NormalizeError> {
    let text = text.trim_ascii();
    if !text.starts_with('{') {
        return Err(NormalizeError::NotAnObject {
            format,
            got: preview(text),
        });
    }
    let ctx = Ctx {
        block: "usage",
        format,
    };
    let block: B = ctx.parse(text)?;
    if block.has_known_fields() {
        return block.to_usage(ctx);
    }
    let Field(Some(wrapped)) = block.wrapper() else {
        return ctx.empty_object(text, B::EXPECTED).map(|()| Usage::default());
    };
    let wrapped = wrapped.get();
    if wrapped == "null" {
        return Ok(Usage::default());
    }
    if !wrapped.starts_with('{') {
        return Err(ctx.shape(B::WRAPPER, "an object", wrapped));
    }
    let ctx = Ctx {
        block: B::WRAPPED_PATH,
        format,
    };
    let block: B = ctx.parse(wrapped)?;
    if block.has_known_fields() {
        return block.to_usage(ctx);
    }
    ctx.empty_object(wrapped, B::EXPECTED).map(|()| Usage::default())
}

/// Where in the event a block sits, for error messages.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    block: &'static str,
    format: UsageFormat,
}

impl Ctx {
    fn parse<'a, T: Deserialize<'a>>(self, text: &'a str) -> Result<T, NormalizeError> {
        serde_json::from_str(text).map_err(|e| self.malformed(&e))
    }

    fn malformed(self, error: &serde_json::Error) -> NormalizeError {
        NormalizeError::Malformed {
            block: self.block,
            format: self.format,
            message: error.to_string(),
        }
    }

    fn shape(self, field: &'static str, expected: &'static str, got: &str) -> NormalizeError {
        NormalizeError::InvalidShape {
            block: self.block,
            field,
            expected,
            got: preview(got),
        }
    }

    /// `{}` is a valid, empty usage; an object with only unknown fields is not.
    fn empty_object(self, text: &str, expected: &'static str) -> Result<(), NormalizeError> {
        let inner = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(text);
        if inner.trim_ascii().is_empty() {
            Ok(())
        } else {
            Err(NormalizeError::NoKnownFields {
                block: self.block,
                format: self.format,
                expected,
            })
        }
    }

    fn count(self, field: &'static str, value: Field<'_>) -> Result<u64, NormalizeError> {
        let Field(Some(raw)) = value else { return Ok(0) };
        parse_count(raw.get()).map_err(|problem| NormalizeError::InvalidCount {
            block: self.block,
            field,
            problem,
            got: preview(raw.get()),
        })
    }

    /// One count with two spellings: whichever is non-zero, and both must agree if both are.
    fn either(
        self,
        (field, value): (&'static str, u64),
        (other, other_value): (&'static str, u64),
    ) -> Result<u64, NormalizeError> {
        if value != 0 && other_value != 0 && value != other_value {
            return Err(NormalizeError::Conflict {
                block: self.block,
                field,
                value,
                other,
                other_value,
            });
        }
        Ok(value.max(other_value))
    }
}

/// Parses the text of one JSON value (already known to be valid JSON) as a token count.
fn parse_count(text: &str) -> Result<u64, CountProblem> {
    let digits = match text.as_bytes().first() {
        Some(b'0'..=b'9') => text.as_bytes(),
        // `-0` is zero; any other negative number (`-3`, `-1.5`) is negative.
        Some(b'-') => {
            return if text == "-0" {
                Ok(0)
            } else {
                Err(CountProblem::Negative)
            }
        }
        Some(b'n') => return Ok(0),
        _ => return Err(CountProblem::NotANumber),
    };
    let mut value: u64 = 0;
    let mut overflow = false;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return Err(CountProblem::NotAnInteger);
        }
        match value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit - b'0')))
        {
            Some(next) => value = next,
            None => overflow = true,
        }
    }
    if overflow || value > MAX_TOKENS {
        return Err(CountProblem::TooLarge);
    }
    Ok(value)
}

/// The start of a JSON value for an error message; long values are cut.
fn preview(text: &str) -> String {
    const MAX: usize = 40;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// The raw JSON of a field when its key is present (`null` included), borrowed from the input.
#[derive(Debug, Clone, Copy, Default)]
struct Field<'a>(Option<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(deserializer).map(|raw| Field(Some(raw)))
    }
}

impl Field<'_> {
    fn present(self) -> bool {
        self.0.is_some()
    }
}

/// A nested object (`prompt_tokens_details`) or array (`cacheDetails`), read in the same pass as its
/// parent. A value of the wrong JSON type is kept as its kind, for the error message.
#[derive(Default)]
enum Nested<T> {
    #[default]
    Absent,
    Null,
    Value(T),
    Other(&'static str),
}

/// Which JSON container a nested value must be.
trait Container {
    const ARRAY: bool = false;
}

impl<T: Default + Container> Nested<T> {
    fn present(&self) -> bool {
        !matches!(self, Self::Absent)
    }

    /// The value, or its default (all counts missing) when absent or `null`.
    fn read(self, ctx: Ctx, field: &'static str) -> Result<T, NormalizeError> {
        match self {
            Self::Absent | Self::Null => Ok(T::default()),
            Self::Value(value) => Ok(value),
            Self::Other(got) => Err(ctx.shape(field, if T::ARRAY { "an array" } else { "an object" }, got)),
        }
    }
}

impl<'de, T: Deserialize<'de> + Container> Deserialize<'de> for Nested<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NestedVisitor(PhantomData))
    }
}

struct NestedVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de> + Container> Visitor<'de> for NestedVisitor<T> {
    type Value = Nested<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if T::ARRAY {
            "an array or null"
        } else {
            "an object or null"
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if T::ARRAY {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Nested::Other("an object"));
        }
        T::deserialize(MapAccessDeserializer::new(map)).map(Nested::Value)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Nested::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Nested::Other("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Nested::Other("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Nested::Other("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Nested::Other("a number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Nested::Other("a string"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if T::ARRAY {
            return T::deserialize(SeqAccessDeserializer::new(seq)).map(Nested::Value);
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Nested::Other("an array"))
    }
}

mod formats;
#[cfg(test)]
mod tests;
