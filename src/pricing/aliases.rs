//! Model matching: which catalog model prices the model id an event carries. Pure: names in,
//! names out. The [`Catalog`](super::Catalog) tries, in order:
//!
//! 1. **Exact**: the normalized (provider, model) has a price (at any time). An id that is in the
//!    catalog is never re-routed, so a dated snapshot with a price of its own
//!    (`gpt-4o-2024-05-13` at $5/$15, not `gpt-4o`'s $2.5/$10) keeps it.
//! 2. **Alias table** (`model_aliases`, `PUT /v1/aliases`): (provider, alias) → model, written by
//!    an operator for what the rules below do not cover (a regional id priced like another region).
//! 3. **Built-in rules** ([`fallbacks`]): the candidate names below, most specific first; the first
//!    one with a price wins.
//! 4. Nothing matched: the event is stored unpriced and listed by `GET /v1/unpriced`.
//!
//! The rules, each only applied when the id itself is not in the catalog:
//!
//! - [`Rule::VersionTag`]: `claude-opus-4-6@20260205` → `claude-opus-4-6` (Vertex AI's
//!   `@version`). In the shipped catalog all 30 `name@version` entries whose bare name is also
//!   there have its standard rates.
//! - [`Rule::BedrockRevision`] (bedrock): `…-v1:0` → `…-v1` → `…`. The `:N` revision and a `-v1`
//!   first version name the model itself; `-v2` and later are other models and are kept.
//! - [`Rule::DatedSnapshot`]: `gpt-5.6-sol-2026-07-09` → `gpt-5.6-sol`, `claude-opus-4-7-20260416`
//!   → `claude-opus-4-7` (a valid date as `-YYYY-MM-DD` or `-YYYYMMDD` at the end). **Risk**: a
//!   snapshot can be priced differently from its undated alias (`gpt-4o-2024-05-13` costs twice
//!   `gpt-4o`), and the alias moves to newer snapshots. In the shipped catalog 91 of the 93
//!   dated ids whose base is also there have its standard rates; the two others are
//!   `gpt-4o-2024-05-13` (openai, azure), which are in the catalog, so rule 1 prices them. An
//!   unknown snapshot is usually a new one, which the alias follows; an operator who knows
//!   otherwise adds its price, or an alias, and that wins.
//! - [`Rule::GlobalProfile`] (bedrock): `global.anthropic.…` → `anthropic.…`. Bedrock's global
//!   cross-region profile of a Claude model costs what the bare id costs (all 16 pairs in the
//!   shipped catalog).
//!
//! Deliberately **no** rule for Bedrock's geographic profiles (`us.`, `eu.`, `apac.`, `au.`, `jp.`,
//! `us-gov.`, …): the shipped catalog prices them 10% above the bare id for Claude 4.5 and later
//! (`us.anthropic.claude-sonnet-4-5-20250929-v1:0` $3.3/$16.5 against $3/$15), 20% above in
//! `us-gov.`, and Amazon Nova differently per region. Stripping the prefix would undercharge
//! silently; an unpriced event is visible. Nor for `global.` of other vendors (12 of their 16
//! profiles, OpenAI, xAI and Moonshot, cost 10% less than the bare id). A missing regional id is an alias
//! to write: `apac.anthropic.claude-sonnet-4-5-20250929-v1:0` → `us.anthropic.claude-sonnet-4-5-20250929-v1:0`.

use chrono::NaiveDate;

/// An operator's mapping of a model id, as sent by gateways, to the catalog model that prices it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// Normalized provider; the alias and its target belong to it.
    pub provider: String,
    /// The normalized model id events carry.
    pub alias: String,
    /// The catalog model that prices it.
    pub model: String,
}

/// A built-in matching rule (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Drops Vertex AI's `@version`.
    VersionTag,
    /// Drops Bedrock's `:N` revision, then a `-v1` first version.
    BedrockRevision,
    /// Drops a `-YYYY-MM-DD` or `-YYYYMMDD` date.
    DatedSnapshot,
    /// Drops Bedrock's `global.` cross-region prefix of an Anthropic model.
    GlobalProfile,
}

/// The names to try, in order, when `model` itself has no price: each with the last rule that
/// made it. The suffix rules apply one after the other to the id as sent, then to the id without
/// its `global.` prefix, so a regional entry is preferred to the bare one when the catalog has it.
pub fn fallbacks(provider: &str, model: &str) -> Vec<(String, Rule)> {
    let mut out = Vec::new();
    suffix_chain(provider, model, &mut out);
    if provider == "bedrock" {
        if let Some(rest) = model
            .strip_prefix("global.")
            .filter(|r| r.starts_with("anthropic."))
        {
            out.push((rest.to_owned(), Rule::GlobalProfile));
            suffix_chain(provider, rest, &mut out);
        }
    }
    out
}

/// Applies the suffix rules cumulatively, pushing each name a rule changed.
fn suffix_chain(provider: &str, model: &str, out: &mut Vec<(String, Rule)>) {
    let mut current = model;
    if let Some(base) = record(out, strip_version_tag(current), Rule::VersionTag) {
        current = base;
    }
    if provider == "bedrock" {
        if let Some(base) = record(out, strip_revision(current), Rule::BedrockRevision) {
            current = base;
        }
        let first_version = current.strip_suffix("-v1").filter(|b| !b.is_empty());
        if let Some(base) = record(out, first_version, Rule::BedrockRevision) {
            current = base;
        }
    }
    record(out, strip_date(current), Rule::DatedSnapshot);
}

/// Pushes the name a rule made, if it made one, and passes it on.
fn record<'a>(out: &mut Vec<(String, Rule)>, made: Option<&'a str>, rule: Rule) -> Option<&'a str> {
    if let Some(name) = made {
        out.push((name.to_owned(), rule));
    }
    made
}

/// `name@anything` → `name`.
fn strip_version_tag(model: &str) -> Option<&str> {
    let (base, tag) = model.split_once('@')?;
    (!base.is_empty() && !tag.is_empty()).then_some(base)
}

/// `name:0` → `name` (digits only after the colon).
fn strip_revision(model: &str) -> Option<&str> {
    let (base, revision) = model.rsplit_once(':')?;
    let digits = !revision.is_empty() && revision.bytes().all(|b| b.is_ascii_digit());
    (digits && !base.is_empty()).then_some(base)
}

/// `name-2024-08-06` or `name-20240806` → `name`, when the date is a real one (2000 to 2099).
fn strip_date(model: &str) -> Option<&str> {
    let date_at = |len: usize| -> Option<(&str, &str)> {
        let split = model.len().checked_sub(len + 1)?;
        let (base, rest) = model.split_at_checked(split)?;
        Some((base, rest.strip_prefix('-')?))
    };
    let valid = |y: &str, m: &str, d: &str| -> bool {
        let all_digits = [y, m, d].iter().all(|s| s.bytes().all(|b| b.is_ascii_digit()));
        let parsed = (y.parse::<i32>(), m.parse::<u32>(), d.parse::<u32>());
        match parsed {
            (Ok(y), Ok(m), Ok(d)) if all_digits && (2000..=2099).contains(&y) => {
                NaiveDate::from_ymd_opt(y, m, d).is_some()
            }
            _ => false,
        }
    };
    let dashed = date_at(10).filter(|(_, date)| {
        let b = date.as_bytes();
        b[4] == b'-' && b[7] == b'-' && valid(&date[..4], &date[5..7], &date[8..])
    });
    let compact = || date_at(8).filter(|(_, date)| valid(&date[..4], &date[4..6], &date[6..]));
    dashed
        .or_else(compact)
        .map(|(base, _)| base)
        .filter(|base| !base.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(provider: &str, model: &str) -> Vec<String> {
        fallbacks(provider, model).into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn a_vertex_version_tag_falls_back_to_the_bare_name() {
        assert_eq!(
            fallbacks("vertex_ai", "claude-opus-4-6@20260205"),
            vec![("claude-opus-4-6".to_owned(), Rule::VersionTag)]
        );
        assert_eq!(names("vertex_ai", "claude-opus-4-6@default"), ["claude-opus-4-6"]);
        assert!(names("vertex_ai", "claude-opus-4-6@").is_empty());
        assert!(names("vertex_ai", "@2024").is_empty());
    }

    #[test]
    fn a_bedrock_revision_and_first_version_are_dropped_one_at_a_time() {
        assert_eq!(
            names("bedrock", "anthropic.claude-opus-4-6-v1:0"),
            ["anthropic.claude-opus-4-6-v1", "anthropic.claude-opus-4-6"]
        );
        // A second version is another model: only the revision goes.
        assert_eq!(
            names("bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0"),
            ["anthropic.claude-3-5-sonnet-20241022-v2"]
        );
        // Other providers' ids are not Bedrock ids.
        assert!(names("openai", "x-v1:0").is_empty());
    }

    #[test]
    fn a_dated_bedrock_id_falls_back_through_its_suffixes_to_the_undated_name() {
        assert_eq!(
            fallbacks("bedrock", "anthropic.claude-opus-4-7-20260416-v1:0"),
            vec![
                (
                    "anthropic.claude-opus-4-7-20260416-v1".to_owned(),
                    Rule::BedrockRevision
                ),
                (
                    "anthropic.claude-opus-4-7-20260416".to_owned(),
                    Rule::BedrockRevision
                ),
                ("anthropic.claude-opus-4-7".to_owned(), Rule::DatedSnapshot),
            ]
        );
    }

    #[test]
    fn a_dated_snapshot_falls_back_to_its_undated_name() {
        assert_eq!(
            fallbacks("openai", "gpt-5.6-sol-2026-07-09"),
            vec![("gpt-5.6-sol".to_owned(), Rule::DatedSnapshot)]
        );
        assert_eq!(
            names("anthropic", "claude-opus-4-7-20260416"),
            ["claude-opus-4-7"]
        );
        assert_eq!(names("azure", "gpt-4o-2024-08-06"), ["gpt-4o"]);
    }

    #[test]
    fn only_a_real_date_is_a_snapshot_date() {
        for model in [
            "gpt-4o-2024-13-06", // no month 13
            "gpt-4o-2024-02-30", // no 30 February
            "gpt-4o-20241306",
            "model-1999-01-01", // outside 2000..=2099
            "gpt-4-0613",       // month and day only
            "mistral-large-2411",
            "gemini-2.5-flash-preview-05-20",
            "x20240806", // no dash before the date
            "-2024-08-06",
            "ft:gpt-4o-2024-08-06:acme::abc123", // a fine-tuned model is not its base
        ] {
            assert!(names("openai", model).is_empty(), "{model}");
        }
        assert_eq!(names("openai", "o1-2024-02-29"), ["o1"]);
    }

    #[test]
    fn a_global_claude_profile_falls_back_to_the_bare_id_after_its_own_suffixes() {
        assert_eq!(
            fallbacks("bedrock", "global.anthropic.claude-opus-4-1-20250805-v1:0"),
            vec![
                (
                    "global.anthropic.claude-opus-4-1-20250805-v1".to_owned(),
                    Rule::BedrockRevision
                ),
                (
                    "global.anthropic.claude-opus-4-1-20250805".to_owned(),
                    Rule::BedrockRevision
                ),
                ("global.anthropic.claude-opus-4-1".to_owned(), Rule::DatedSnapshot),
                (
                    "anthropic.claude-opus-4-1-20250805-v1:0".to_owned(),
                    Rule::GlobalProfile
                ),
                (
                    "anthropic.claude-opus-4-1-20250805-v1".to_owned(),
                    Rule::BedrockRevision
                ),
                (
                    "anthropic.claude-opus-4-1-20250805".to_owned(),
                    Rule::BedrockRevision
                ),
                ("anthropic.claude-opus-4-1".to_owned(), Rule::DatedSnapshot),
            ]
        );
    }

    #[test]
    fn geographic_profiles_and_other_vendors_global_profiles_keep_their_prefix() {
        // Priced above the bare id in the shipped catalog: never stripped.
        for model in [
            "us.anthropic.claude-sonnet-4-6",
            "eu.anthropic.claude-sonnet-4-6",
            "apac.anthropic.claude-sonnet-4-6",
            "us-gov.anthropic.claude-sonnet-4-6",
            "global.openai.gpt-5.5",
        ] {
            assert!(names("bedrock", model).is_empty(), "{model}");
        }
        // Their own suffixes still go: the regional entry is what is looked for.
        assert_eq!(
            names("bedrock", "us.anthropic.claude-opus-4-7-20260416-v1:0").last(),
            Some(&"us.anthropic.claude-opus-4-7".to_owned())
        );
        // `global.` is Bedrock's: another provider's model keeps it.
        assert!(names("vertex_ai", "global.anthropic.claude-x").is_empty());
    }
}
