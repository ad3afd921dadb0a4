//! Reads LiteLLM's `model_prices_and_context_window.json` into catalog models (SPEC "Pricing",
//! "Importing LiteLLM's map"). Pure: text in, models out; storing them is the caller's job.
//!
//! Prices are read from the JSON text exactly (never through a float), converted from per token to
//! per million tokens and rounded with [`round_price`], which removes float noise such as
//! `2.0000000000000003e-06`. Choices the SPEC leaves open, made here:
//!
//! - **Model names** are the key lowercased with leading provider segments removed exactly as
//!   [`normalize_model`] removes them from events (the entry's own `litellm_provider`, its folded
//!   name, or any known provider), so an imported name is the name an event will carry:
//!   `vertex_ai/meta/llama-4` keeps its publisher (`meta/llama-4`, as Vertex names it), while
//!   `novita/deepseek/deepseek-v3.2` becomes `deepseek-v3.2`. LiteLLM's Bedrock route hints
//!   (`invoke/`, `converse/`, `claude_platform/`) are removed too: they choose an API, not a model.
//! - **Regional keys** (`bedrock/us-east-1/…`, `azure/eu/…`, `bedrock/*/1-month-commitment/…`) are
//!   skipped: an event does not say its region and the catalog has no region dimension, so a
//!   regional price would overwrite (or stand in for) the global one. A model sold only regionally
//!   stays unpriced, which is visible, rather than mispriced, which is not.
//! - **Skips**: an entry needs `input_cost_per_token`. Without `output_cost_per_token` its output is
//!   free (embeddings, rerankers), unless the entry prices output some other way (per image token,
//!   per second): then it is skipped, since billing that output at zero would undercount silently.
//! - **Variants**: each (tier, threshold) named by a price field is a variant. Its input, output and
//!   per-request prices, when it has none of its own, come from the closest more general variant:
//!   first the same tier at the highest threshold not above its own (down to the tier's base), then
//!   the standard tier the same way. So batch above 200k without its own output takes batch's, and
//!   failing that standard above 200k's. Cache and reasoning prices are never inherited: absent,
//!   they fall back to the variant's own input and output in [`PriceRates::resolve`].
//! - **Merging**: keys that fold to the same (provider, model) merge field by field; on a conflict the
//!   key of higher precedence wins and the field is reported. Precedence: a key written with the
//!   catalog provider's own prefix (`deepseek/deepseek-chat`, `bedrock/…`) first, then a bare key
//!   (`deepseek-chat`), then a key prefixed with a sub-family, so that `bedrock_mantle/…` prices
//!   (10% above the main Bedrock ones in LiteLLM's map) do not override Bedrock's; ties by key.
//!   A key written twice in the map counts once, the last one, as in LiteLLM's own `json.load`.
//! - **Aliases**: entries that only say `alias_of` are skipped with their own reason; they belong in
//!   the alias table, not the price list.

use super::{round_price, PriceRates};
use crate::domain::money::decimal_from_json;
use crate::domain::{normalize_model, normalize_provider, ServiceTier};
use rust_decimal::Decimal;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, BTreeSet};

/// The catalog shipped with the service (a filtered LiteLLM map, see `catalog/README.md`), read
/// with [`parse`] on first start.
pub const DEFAULT_PRICES_JSON: &str = include_str!("../../../catalog/default_prices.json");

/// Why a price map could not be read at all. Problems with single entries are not errors: those
/// entries are listed in [`LitellmImport::skipped`].
#[derive(Debug, thiserror::Error)]
pub enum LitellmError {
    /// The text is not JSON (the message says where).
    #[error("the price map is not valid JSON: {0}")]
    InvalidJson(serde_json::Error),
    /// The JSON is not an object of model entries.
    #[error("the price map must be a JSON object whose keys are model names")]
    NotAnObject,
}

/// What a price map yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LitellmImport {
    /// The models, sorted by (provider, model).
    pub models: Vec<ImportedModel>,
    /// Entries not imported, sorted by key.
    pub skipped: Vec<SkippedEntry>,
    /// Models made of several keys, sorted by (provider, model).
    pub merged: Vec<MergedEntry>,
}

/// One (provider, model) with its prices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedModel {
    /// Folded provider (`bedrock_converse` is `bedrock`).
    pub provider: String,
    /// Normalized model name.
    pub model: String,
    /// The map's keys this model was read from, in precedence order (the winning key first).
    pub keys: Vec<String>,
    /// The standard tier's base variant first, then by tier (standard, batch, priority, flex) and
    /// threshold.
    pub variants: Vec<Variant>,
}

/// The prices of one service tier above one context size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The tier these prices are for.
    pub service_tier: ServiceTier,
    /// Applies to requests with more input tokens than this; 0 applies to all.
    pub above_input_tokens: u64,
    /// Per million tokens, except `per_request`.
    pub rates: PriceRates,
}

/// An entry that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEntry {
    /// The key as written in the map.
    pub key: String,
    /// One of the texts in [`reasons`], or `invalid <field>: <why>` for a price that cannot be
    /// read exactly (not a number, negative).
    pub reason: String,
}

/// A model made of several keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedEntry {
    /// Folded provider.
    pub provider: String,
    /// Normalized model name.
    pub model: String,
    /// The keys, in precedence order (the winning key first).
    pub keys: Vec<String>,
    /// Fields the keys priced differently (the winning key's value was kept), sorted.
    pub conflicts: Vec<String>,
}

/// Reason texts, so that skipped entries can be counted by cause.
pub mod reasons {
    /// The `sample_spec` entry documents the format.
    pub const SAMPLE_SPEC: &str = "documentation entry, not a model";
    /// The entry's value is not an object.
    pub const NOT_AN_OBJECT: &str = "not a JSON object";
    /// An entry that only names another (`{"alias_of": "..."}`).
    pub const ALIAS: &str = "alias of another entry (alias_of)";
    /// No `litellm_provider` string (and not an alias).
    pub const NO_PROVIDER: &str = "no litellm_provider";
    /// Neither `input_cost_per_token` nor `output_cost_per_token` (images, audio, per second).
    pub const NO_TOKEN_PRICE: &str = "no per-token price";
    /// Output is priced per token but input is not (per second of video, per pixel).
    pub const NO_INPUT_PRICE: &str = "no input_cost_per_token (input priced otherwise)";
    /// Input is priced per token, output per image token or per second.
    pub const OUTPUT_NOT_PER_TOKEN: &str = "no output_cost_per_token (output priced otherwise)";
    /// The key names a region, data zone or commitment term.
    pub const REGIONAL: &str = "regional or provisioned price (the catalog has no region dimension)";
    /// The key folds to an empty model name.
    pub const NO_MODEL: &str = "empty model name";
}

/// Reads a LiteLLM price map. Fails only if the text is not a JSON object; bad entries are
/// skipped with a reason.
pub fn parse(json: &str) -> Result<LitellmImport, LitellmError> {
    let entries: BTreeMap<String, &RawValue> =
        serde_json::from_str(json).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => LitellmError::NotAnObject,
            _ => LitellmError::InvalidJson(e),
        })?;
    let mut skipped = Vec::new();
    let mut groups: BTreeMap<(String, String), Vec<Entry>> = BTreeMap::new();
    for (key, raw) in entries {
        match read_entry(&key, raw) {
            Ok(entry) => groups
                .entry((entry.provider.clone(), entry.model.clone()))
                .or_default()
                .push(entry),
            Err(reason) => skipped.push(SkippedEntry { key, reason }),
        }
    }
    let mut models = Vec::with_capacity(groups.len());
    let mut merged = Vec::new();
    for ((provider, model), group) in groups {
        let (keys, fields, conflicts) = merge(group);
        if keys.len() > 1 {
            merged.push(MergedEntry {
                provider: provider.clone(),
                model: model.clone(),
                keys: keys.clone(),
                conflicts,
            });
        }
        models.push(ImportedModel {
            provider,
            model,
            keys,
            variants: variants(&fields),
        });
    }
    Ok(LitellmImport {
        models,
        skipped,
        merged,
    })
}

/// The token kinds a field can price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Input,
    Output,
    CacheRead,
    CacheWrite,
    CacheWrite1h,
    Reasoning,
    PerRequest,
}

const PER_MILLION: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// Field names without tier or threshold suffix.
const BASE_FIELDS: [(&str, Kind); 7] = [
    ("input_cost_per_token", Kind::Input),
    ("output_cost_per_token", Kind::Output),
    ("cache_read_input_token_cost", Kind::CacheRead),
    ("cache_creation_input_token_cost", Kind::CacheWrite),
    ("cache_creation_input_token_cost_above_1hr", Kind::CacheWrite1h),
    ("output_cost_per_reasoning_token", Kind::Reasoning),
    ("input_cost_per_request", Kind::PerRequest),
];

const TIER_SUFFIXES: [(&str, ServiceTier); 3] = [
    ("_batches", ServiceTier::Batch),
    ("_priority", ServiceTier::Priority),
    ("_flex", ServiceTier::Flex),
];

/// Segments after the provider that only choose a LiteLLM route to the same model.
const ROUTES: [&str; 3] = ["invoke", "converse", "claude_platform"];

/// Azure data zones, and `*` for "any region" in Bedrock commitment keys.
const DATA_ZONES: [&str; 7] = ["us", "eu", "apac", "global", "global-standard", "us-gov", "*"];

/// Where a field's price goes: (tier rank, above_input_tokens, kind). Ordered, so that output is
/// deterministic.
type Slot = (u8, u64, Kind);

fn tier_rank(tier: ServiceTier) -> u8 {
    match tier {
        ServiceTier::Standard => 0,
        ServiceTier::Batch => 1,
        ServiceTier::Priority => 2,
        ServiceTier::Flex => 3,
    }
}

fn tier_of_rank(rank: u8) -> ServiceTier {
    match rank {
        1 => ServiceTier::Batch,
        2 => ServiceTier::Priority,
        3 => ServiceTier::Flex,
        _ => ServiceTier::Standard,
    }
}

/// The slot of a price field, or `None` for fields not imported (`_ultrafast`, `_above_12hr`,
/// audio, image and per-second prices, ...). Suffixes come in the order LiteLLM writes them:
/// `<base>[_above_<N>k_tokens][_batches|_priority|_flex]`.
fn slot_of(field: &str) -> Option<Slot> {
    let (rest, tier) = TIER_SUFFIXES
        .iter()
        .find_map(|(suffix, tier)| field.strip_suffix(suffix).map(|rest| (rest, *tier)))
        .unwrap_or((field, ServiceTier::Standard));
    let (base, above) = long_context(rest).unwrap_or((rest, 0));
    let kind = BASE_FIELDS.iter().find(|(name, _)| *name == base)?.1;
    Some((tier_rank(tier), above, kind))
}

/// Splits `<base>_above_<N>k_tokens` into the base and N×1000.
fn long_context(name: &str) -> Option<(&str, u64)> {
    let (base, threshold) = name.rsplit_once("_above_")?;
    let thousands = threshold.strip_suffix("k_tokens")?;
    // Digits only, no leading zero: `_above_0k_tokens` would collide with the base price.
    if thousands.starts_with('0') || !thousands.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((base, thousands.parse::<u64>().ok()?.checked_mul(1000)?))
}

#[derive(Debug, Clone)]
struct Field {
    name: String,
    value: Decimal,
}

struct Entry {
    key: String,
    provider: String,
    model: String,
    precedence: Precedence,
    fields: BTreeMap<Slot, Field>,
}

fn read_entry(key: &str, raw: &RawValue) -> Result<Entry, String> {
    if key == "sample_spec" {
        return Err(reasons::SAMPLE_SPEC.into());
    }
    let object: BTreeMap<String, &RawValue> =
        serde_json::from_str(raw.get()).map_err(|_| reasons::NOT_AN_OBJECT.to_owned())?;
    let Some(litellm_provider) = object
        .get("litellm_provider")
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
    else {
        let reason = if object.contains_key("alias_of") {
            reasons::ALIAS
        } else {
            reasons::NO_PROVIDER
        };
        return Err(reason.into());
    };
    let mut fields = BTreeMap::new();
    for (name, raw) in &object {
        if let Some(slot) = slot_of(name) {
            if let Some(value) = price(slot.2, raw).map_err(|e| format!("invalid {name}: {e}"))? {
                fields.insert(
                    slot,
                    Field {
                        name: name.clone(),
                        value,
                    },
                );
            }
        }
    }
    let has = |kind| fields.contains_key(&(0, 0, kind));
    if !has(Kind::Input) {
        let reason = if has(Kind::Output) {
            reasons::NO_INPUT_PRICE
        } else {
            reasons::NO_TOKEN_PRICE
        };
        return Err(reason.into());
    }
    let prices_output_otherwise = object
        .keys()
        .any(|name| name.starts_with("output_cost_per_") && slot_of(name).is_none());
    if !has(Kind::Output) && prices_output_otherwise {
        return Err(reasons::OUTPUT_NOT_PER_TOKEN.into());
    }
    let provider = normalize_provider(&litellm_provider);
    let (model, precedence) = model_name(key, &litellm_provider, &provider)?;
    Ok(Entry {
        key: key.to_owned(),
        provider,
        model,
        precedence,
        fields,
    })
}

/// An exact price: per million tokens (per request for the fee), rounded to the catalog's scale.
fn price(kind: Kind, raw: &RawValue) -> Result<Option<Decimal>, String> {
    let Some(value) = decimal_from_json(raw).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    if value.is_sign_negative() && !value.is_zero() {
        return Err(format!("must not be negative ({})", raw.get()));
    }
    let scaled = match kind {
        Kind::PerRequest => value,
        _ => value.checked_mul(PER_MILLION).ok_or("too large")?,
    };
    Ok(Some(round_price(scaled)))
}

/// How a key was written, in merge precedence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Precedence {
    /// `deepseek/deepseek-chat`: prefixed with the catalog provider's name.
    ProviderPrefix,
    /// `deepseek-chat`.
    Bare,
    /// `bedrock_mantle/openai.gpt-oss-120b`: prefixed with another name the provider folds from.
    OtherPrefix,
}

/// The catalog's name for a key, and how the key was written.
fn model_name(key: &str, litellm_provider: &str, provider: &str) -> Result<(String, Precedence), String> {
    let lower = key.trim().to_ascii_lowercase();
    let litellm_provider = litellm_provider.trim().to_ascii_lowercase();
    let mut model = lower.clone();
    loop {
        let stripped = normalize_model(&litellm_provider, &normalize_model(provider, &model));
        if stripped == model {
            break;
        }
        model = stripped;
    }
    let precedence = match lower.split_once('/') {
        _ if model == lower => Precedence::Bare,
        Some((first, _)) if first == provider => Precedence::ProviderPrefix,
        _ => Precedence::OtherPrefix,
    };
    if let Some((first, rest)) = model.split_once('/') {
        if is_deployment_scope(first) {
            return Err(reasons::REGIONAL.into());
        }
        if ROUTES.contains(&first) && !rest.is_empty() {
            model = rest.to_owned();
        }
    }
    if model.is_empty() {
        return Err(reasons::NO_MODEL.into());
    }
    Ok((model, precedence))
}

fn is_deployment_scope(segment: &str) -> bool {
    DATA_ZONES.contains(&segment) || segment.ends_with("-commitment") || is_aws_region(segment)
}

/// `us-east-1`, `us-gov-west-1`, `ap-southeast-3`: a country or area code, one or two words and a
/// number.
fn is_aws_region(segment: &str) -> bool {
    let parts: Vec<&str> = segment.split('-').collect();
    let word = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    match parts.as_slice() {
        [area, words @ .., number] => {
            area.len() == 2
                && word(area)
                && (1..=2).contains(&words.len())
                && words.iter().all(word)
                && !number.is_empty()
                && number.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

/// Merges the fields of keys that fold to the same model. Returns the keys in precedence order,
/// the merged fields and the names of conflicting fields.
fn merge(mut group: Vec<Entry>) -> (Vec<String>, BTreeMap<Slot, Field>, Vec<String>) {
    group.sort_by(|a, b| (a.precedence, &a.key).cmp(&(b.precedence, &b.key)));
    let mut fields: BTreeMap<Slot, Field> = BTreeMap::new();
    let mut conflicts = BTreeSet::new();
    let mut keys = Vec::with_capacity(group.len());
    for entry in group {
        keys.push(entry.key);
        for (slot, field) in entry.fields {
            match fields.get(&slot) {
                None => {
                    fields.insert(slot, field);
                }
                Some(kept) if kept.value != field.value => {
                    conflicts.insert(kept.name.clone());
                }
                Some(_) => {}
            }
        }
    }
    (keys, fields, conflicts.into_iter().collect())
}

fn variants(fields: &BTreeMap<Slot, Field>) -> Vec<Variant> {
    let shapes: BTreeSet<(u8, u64)> = fields.keys().map(|(tier, above, _)| (*tier, *above)).collect();
    shapes
        .into_iter()
        .map(|(tier, above)| {
            let own = |kind| fields.get(&(tier, above, kind)).map(|f| f.value);
            let inherited = |kind| inherited(fields, tier, above, kind).unwrap_or(Decimal::ZERO);
            Variant {
                service_tier: tier_of_rank(tier),
                above_input_tokens: above,
                rates: PriceRates {
                    input: inherited(Kind::Input),
                    cache_read: own(Kind::CacheRead),
                    cache_write: own(Kind::CacheWrite),
                    cache_write_1h: own(Kind::CacheWrite1h),
                    output: inherited(Kind::Output),
                    reasoning: own(Kind::Reasoning),
                    per_request: inherited(Kind::PerRequest),
                },
            }
        })
        .collect()
}

/// The price of `kind` for a variant: its own, else the same tier's at the highest lower
/// threshold, else the standard tier's the same way.
fn inherited(fields: &BTreeMap<Slot, Field>, tier: u8, above: u64, kind: Kind) -> Option<Decimal> {
    [tier, tier_rank(ServiceTier::Standard)]
        .into_iter()
        .find_map(|rank| {
            fields
                .iter()
                .filter(|((t, a, k), _)| *t == rank && *a <= above && *k == kind)
                .max_by_key(|((_, a, _), _)| *a)
                .map(|(_, field)| field.value)
        })
}

#[cfg(test)]
mod tests;
