//! One block type per usage format: which fields it reads and how they become canonical counts.

use super::*;

#[derive(Deserialize, Default)]
#[serde(default, bound = "'de: 'a")]
pub(super) struct CanonicalBlock<'a> {
    input_tokens: Field<'a>,
    cache_read_tokens: Field<'a>,
    cache_write_tokens: Field<'a>,
    cache_write_1h_tokens: Field<'a>,
    output_tokens: Field<'a>,
    reasoning_tokens: Field<'a>,
    usage: Field<'a>,
}

impl<'a> Block<'a> for CanonicalBlock<'a> {
    const WRAPPER: &'static str = "usage";
    const WRAPPED_PATH: &'static str = "usage.usage";
    const EXPECTED: &'static str =
        "input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, \
                                    output_tokens, reasoning_tokens";

    fn has_known_fields(&self) -> bool {
        [
            self.input_tokens.present(),
            self.cache_read_tokens.present(),
            self.cache_write_tokens.present(),
            self.cache_write_1h_tokens.present(),
            self.output_tokens.present(),
            self.reasoning_tokens.present(),
        ]
        .contains(&true)
    }

    fn wrapper(&self) -> Field<'a> {
        self.usage
    }

    fn to_usage(self, ctx: Ctx) -> Result<Usage, NormalizeError> {
        Ok(Usage {
            input_tokens: ctx.count("input_tokens", self.input_tokens)?,
            cache_read_tokens: ctx.count("cache_read_tokens", self.cache_read_tokens)?,
            cache_write_tokens: ctx.count("cache_write_tokens", self.cache_write_tokens)?,
            cache_write_1h_tokens: ctx.count("cache_write_1h_tokens", self.cache_write_1h_tokens)?,
            output_tokens: ctx.count("output_tokens", self.output_tokens)?,
            reasoning_tokens: ctx.count("reasoning_tokens", self.reasoning_tokens)?,
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(default, bound = "'de: 'a")]
pub(super) struct OpenaiBlock<'a> {
    prompt_tokens: Field<'a>,
    input_tokens: Field<'a>,
    completion_tokens: Field<'a>,
    output_tokens: Field<'a>,
    prompt_tokens_details: Nested<OpenaiInputDetails<'a>>,
    input_tokens_details: Nested<OpenaiInputDetails<'a>>,
    completion_tokens_details: Nested<OpenaiOutputDetails<'a>>,
    output_tokens_details: Nested<OpenaiOutputDetails<'a>>,
    usage: Field<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound = "'de: 'a")]
struct OpenaiInputDetails<'a> {
    cached_tokens: Field<'a>,
    cache_write_tokens: Field<'a>,
}

impl Container for OpenaiInputDetails<'_> {}

#[derive(Deserialize, Default)]
#[serde(default, bound = "'de: 'a")]
struct OpenaiOutputDetails<'a> {
    reasoning_tokens: Field<'a>,
}

impl Container for OpenaiOutputDetails<'_> {}

impl<'a> Block<'a> for OpenaiBlock<'a> {
    const WRAPPER: &'static str = "usage";
    const WRAPPED_PATH: &'static str = "usage.usage";
    const EXPECTED: &'static str =
        "prompt_tokens or input_tokens, completion_tokens or output_tokens, and their \
                                    *_tokens_details";

    fn has_known_fields(&self) -> bool {
        [
            self.prompt_tokens.present(),
            self.input_tokens.present(),
            self.completion_tokens.present(),
            self.output_tokens.present(),
            self.prompt_tokens_details.present(),
            self.input_tokens_details.present(),
            self.completion_tokens_details.present(),
            self.output_tokens_details.present(),
        ]
        .contains(&true)
    }

    fn wrapper(&self) -> Field<'a> {
        self.usage
    }

    fn to_usage(self, ctx: Ctx) -> Result<Usage, NormalizeError> {
        let chat_in: OpenaiInputDetails = self.prompt_tokens_details.read(ctx, "prompt_tokens_details")?;
        let responses_in: OpenaiInputDetails = self.input_tokens_details.read(ctx, "input_tokens_details")?;
        let chat_out: OpenaiOutputDetails = self
            .completion_tokens_details
            .read(ctx, "completion_tokens_details")?;
        let responses_out: OpenaiOutputDetails =
            self.output_tokens_details.read(ctx, "output_tokens_details")?;
        let spelled = |a: &'static str, fa, b: &'static str, fb| -> Result<u64, NormalizeError> {
            ctx.either((a, ctx.count(a, fa)?), (b, ctx.count(b, fb)?))
        };
        Ok(Usage {
            input_tokens: spelled(
                "prompt_tokens",
                self.prompt_tokens,
                "input_tokens",
                self.input_tokens,
            )?,
            cache_read_tokens: spelled(
                "prompt_tokens_details.cached_tokens",
                chat_in.cached_tokens,
                "input_tokens_details.cached_tokens",
                responses_in.cached_tokens,
            )?,
            cache_write_tokens: spelled(
                "prompt_tokens_details.cache_write_tokens",
                chat_in.cache_write_tokens,
                "input_tokens_details.cache_write_tokens",
                responses_in.cache_write_tokens,
            )?,
            cache_write_1h_tokens: 0,
            output_tokens: spelled(
                "completion_tokens",
                self.completion_tokens,
                "output_tokens",
                self.output_tokens,
            )?,
            reasoning_tokens: spelled(
                "completion_tokens_details.reasoning_tokens",
                chat_out.reasoning_tokens,
                "output_tokens_details.reasoning_tokens",
                responses_out.reasoning_tokens,
            )?,
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(default, bound = "'de: 'a")]
pub(super) struct AnthropicBlock<'a> {
    input_tokens: Field<'a>,
    cache_read_input_tokens: Field<'a>,
    cache_creation_input_tokens: Field<'a>,
    cache_creation: Nested<AnthropicCacheCreation<'a>>,
    output_tokens: Field<'a>,
    usage: Field<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound = "'de: 'a")]
struct AnthropicCacheCreation<'a> {
    ephemeral_5m_input_tokens: Field<'a>,
    ephemeral_1h_input_tokens: Field<'a>,
}

impl Container for AnthropicCacheCreation<'_> {}

impl<'a> Block<'a> for AnthropicBlock<'a> {
    const WRAPPER: &'static str = "usage";
    const WRAPPED_PATH: &'static str = "usage.usage";
    const EXPECTED: &'static str =
        "input_tokens, cache_read_input_tokens, cache_creation_input_tokens, cache_creation, output_tokens";

    fn has_known_fields(&self) -> bool {
        [
            self.input_tokens.present(),
            self.cache_read_input_tokens.present(),
            self.cache_creation_input_tokens.present(),
            self.cache_creation.present(),
            self.output_tokens.present(),
        ]
        .contains(&true)
    }

    fn wrapper(&self) -> Field<'a> {
        self.usage
    }

    fn to_usage(self, ctx: Ctx) -> Result<Usage, NormalizeError> {
        let by_ttl: AnthropicCacheCreation = self.cache_creation.read(ctx, "cache_creation")?;
        let write_5m = ctx.count(
            "cache_creation.ephemeral_5m_input_tokens",
            by_ttl.ephemeral_5m_input_tokens,
        )?;
        let write_1h = ctx.count(
            "cache_creation.ephemeral_1h_input_tokens",
            by_ttl.ephemeral_1h_input_tokens,
        )?;
        let write = ctx.either(
            (
                "cache_creation_input_tokens",
                ctx.count("cache_creation_input_tokens", self.cache_creation_input_tokens)?,
            ),
            (
                "cache_creation.ephemeral_*_input_tokens summed",
                write_5m.saturating_add(write_1h),
            ),
        )?;
        let uncached = ctx.count("input_tokens", self.input_tokens)?;
        let read = ctx.count("cache_read_input_tokens", self.cache_read_input_tokens)?;
        Ok(Usage {
            input_tokens: uncached.saturating_add(read).saturating_add(write),
            cache_read_tokens: read,
            cache_write_tokens: write,
            cache_write_1h_tokens: write_1h,
            output_tokens: ctx.count("output_tokens", self.output_tokens)?,
            reasoning_tokens: 0,
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(default, bound = "'de: 'a", rename_all = "camelCase")]
pub(super) struct BedrockBlock<'a> {
    input_tokens: Field<'a>,
    input_token_count: Field<'a>,
    cache_read_input_tokens: Field<'a>,
    cache_read_input_token_count: Field<'a>,
    cache_write_input_tokens: Field<'a>,
    cache_write_input_token_count: Field<'a>,
    cache_details: Nested<CacheWrites<'a>>,
    output_tokens: Field<'a>,
    output_token_count: Field<'a>,
    usage: Field<'a>,
}

impl<'a> Block<'a> for BedrockBlock<'a> {
    const WRAPPER: &'static str = "usage";
    const WRAPPED_PATH: &'static str = "usage.usage";
    const EXPECTED: &'static str = "inputTokens, cacheReadInputTokens, cacheWriteInputTokens, cacheDetails, \
                                    outputTokens, or their ...TokenCount spellings";

    fn has_known_fields(&self) -> bool {
        [
            self.input_tokens.present(),
            self.input_token_count.present(),
            self.cache_read_input_tokens.present(),
            self.cache_read_input_token_count.present(),
            self.cache_write_input_tokens.present(),
            self.cache_write_input_token_count.present(),
            self.cache_details.present(),
            self.output_tokens.present(),
            self.output_token_count.present(),
        ]
        .contains(&true)
    }

    fn wrapper(&self) -> Field<'a> {
        self.usage
    }

    fn to_usage(self, ctx: Ctx) -> Result<Usage, NormalizeError> {
        let spelled = |a: &'static str, fa, b: &'static str, fb| -> Result<u64, NormalizeError> {
            ctx.either((a, ctx.count(a, fa)?), (b, ctx.count(b, fb)?))
        };
        let uncached = spelled(
            "inputTokens",
            self.input_tokens,
            "inputTokenCount",
            self.input_token_count,
        )?;
        let read = spelled(
            "cacheReadInputTokens",
            self.cache_read_input_tokens,
            "cacheReadInputTokenCount",
            self.cache_read_input_token_count,
        )?;
        let write = spelled(
            "cacheWriteInputTokens",
            self.cache_write_input_tokens,
            "cacheWriteInputTokenCount",
            self.cache_write_input_token_count,
        )?;
        let by_ttl = self.cache_details.read(ctx, "cacheDetails")?;
        ctx.count("cacheDetails[].inputTokens", by_ttl.invalid)?;
        let write = ctx.either(
            ("cacheWriteInputTokens", write),
            ("cacheDetails[].inputTokens summed", by_ttl.all),
        )?;
        Ok(Usage {
            input_tokens: uncached.saturating_add(read).saturating_add(write),
            cache_read_tokens: read,
            cache_write_tokens: write,
            cache_write_1h_tokens: by_ttl.one_hour,
            output_tokens: spelled(
                "outputTokens",
                self.output_tokens,
                "outputTokenCount",
                self.output_token_count,
            )?,
            reasoning_tokens: 0,
        })
    }
}

/// Cache writes of a Bedrock `cacheDetails` array, summed as the entries stream by (never collected).
#[derive(Debug, Default)]
struct CacheWrites<'a> {
    all: u64,
    one_hour: u64,
    /// The first `inputTokens` that is not a valid count, reported (with its path) by the caller.
    invalid: Field<'a>,
}

impl Container for CacheWrites<'_> {
    const ARRAY: bool = true;
}

#[derive(Deserialize, Default)]
#[serde(
    default,
    bound = "'de: 'a",
    rename_all = "camelCase",
    expecting = "an object with ttl and inputTokens"
)]
struct BedrockCacheDetail<'a> {
    ttl: Field<'a>,
    input_tokens: Field<'a>,
}

impl<'de: 'a, 'a> Deserialize<'de> for CacheWrites<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(CacheWritesVisitor(PhantomData))
    }
}

struct CacheWritesVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for CacheWritesVisitor<'a> {
    type Value = CacheWrites<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of cache details")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut writes = CacheWrites::default();
        while let Some(detail) = seq.next_element::<BedrockCacheDetail<'a>>()? {
            let Field(Some(raw)) = detail.input_tokens else {
                continue;
            };
            let Ok(tokens) = parse_count(raw.get()) else {
                if !writes.invalid.present() {
                    writes.invalid = detail.input_tokens;
                }
                continue;
            };
            writes.all = writes.all.saturating_add(tokens);
            // Bedrock's TTLs are "5m" and "1h"; anything else is priced as a 5-minute write.
            if detail.ttl.0.is_some_and(|ttl| ttl.get() == "\"1h\"") {
                writes.one_hour = writes.one_hour.saturating_add(tokens);
            }
        }
        Ok(writes)
    }
}

#[derive(Deserialize, Default)]
#[serde(default, bound = "'de: 'a", rename_all = "camelCase")]
pub(super) struct GeminiBlock<'a> {
    #[serde(alias = "prompt_token_count")]
    prompt_token_count: Field<'a>,
    #[serde(alias = "tool_use_prompt_token_count")]
    tool_use_prompt_token_count: Field<'a>,
    #[serde(alias = "cached_content_token_count")]
    cached_content_token_count: Field<'a>,
    #[serde(alias = "candidates_token_count")]
    candidates_token_count: Field<'a>,
    #[serde(alias = "response_token_count")]
    response_token_count: Field<'a>,
    #[serde(alias = "thoughts_token_count")]
    thoughts_token_count: Field<'a>,
    #[serde(alias = "usage_metadata")]
    usage_metadata: Field<'a>,
}

impl<'a> Block<'a> for GeminiBlock<'a> {
    const WRAPPER: &'static str = "usageMetadata";
    const WRAPPED_PATH: &'static str = "usage.usageMetadata";
    const EXPECTED: &'static str = "promptTokenCount, toolUsePromptTokenCount, cachedContentTokenCount, \
                                    candidatesTokenCount, thoughtsTokenCount";

    fn has_known_fields(&self) -> bool {
        [
            self.prompt_token_count.present(),
            self.tool_use_prompt_token_count.present(),
            self.cached_content_token_count.present(),
            self.candidates_token_count.present(),
            self.response_token_count.present(),
            self.thoughts_token_count.present(),
        ]
        .contains(&true)
    }

    fn wrapper(&self) -> Field<'a> {
        self.usage_metadata
    }

    fn to_usage(self, ctx: Ctx) -> Result<Usage, NormalizeError> {
        let prompt = ctx.count("promptTokenCount", self.prompt_token_count)?;
        let tool_use = ctx.count("toolUsePromptTokenCount", self.tool_use_prompt_token_count)?;
        let candidates = ctx.either(
            (
                "candidatesTokenCount",
                ctx.count("candidatesTokenCount", self.candidates_token_count)?,
            ),
            (
                "responseTokenCount",
                ctx.count("responseTokenCount", self.response_token_count)?,
            ),
        )?;
        let thoughts = ctx.count("thoughtsTokenCount", self.thoughts_token_count)?;
        Ok(Usage {
            input_tokens: prompt.saturating_add(tool_use),
            cache_read_tokens: ctx.count("cachedContentTokenCount", self.cached_content_token_count)?,
            cache_write_tokens: 0,
            cache_write_1h_tokens: 0,
            output_tokens: candidates.saturating_add(thoughts),
            reasoning_tokens: thoughts,
        })
    }
}
