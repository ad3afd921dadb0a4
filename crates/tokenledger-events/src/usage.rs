//! Canonical token usage: every count is a total or a subset of one, as the OpenTelemetry GenAI
//! convention counts them (input includes cached input, output includes reasoning).

use serde::Serialize;

/// The largest token count accepted (2^53, the largest integer every JSON parser reads exactly).
pub const MAX_TOKENS: u64 = 1 << 53;

/// Token counts of one model call, in the canonical (inclusive) convention.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    /// All input tokens, cached ones included.
    pub input_tokens: u64,
    /// Subset of `input_tokens` read from the prompt cache.
    pub cache_read_tokens: u64,
    /// Subset of `input_tokens` written to the prompt cache (all TTLs).
    pub cache_write_tokens: u64,
    /// Subset of `cache_write_tokens` written with the 1-hour TTL.
    pub cache_write_1h_tokens: u64,
    /// All output tokens, reasoning included.
    pub output_tokens: u64,
    /// Subset of `output_tokens` spent on reasoning.
    pub reasoning_tokens: u64,
}

/// Why a usage block is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    #[error(
        "cache_read_tokens ({cache_read}) + cache_write_tokens ({cache_write}) exceed input_tokens ({input})"
    )]
    CacheExceedsInput {
        cache_read: u64,
        cache_write: u64,
        input: u64,
    },
    #[error("cache_write_1h_tokens ({write_1h}) exceed cache_write_tokens ({write})")]
    OneHourExceedsWrite { write_1h: u64, write: u64 },
    #[error("reasoning_tokens ({reasoning}) exceed output_tokens ({output})")]
    ReasoningExceedsOutput { reasoning: u64, output: u64 },
    #[error("{field} is {value}, above the limit of 2^53")]
    TooLarge { field: &'static str, value: u64 },
}

impl Usage {
    /// Checks the subset laws and the size limit. Counts that pass can be priced without overflow.
    pub fn validate(self) -> Result<Self, UsageError> {
        for (field, value) in [
            ("input_tokens", self.input_tokens),
            ("cache_read_tokens", self.cache_read_tokens),
            ("cache_write_tokens", self.cache_write_tokens),
            ("cache_write_1h_tokens", self.cache_write_1h_tokens),
            ("output_tokens", self.output_tokens),
            ("reasoning_tokens", self.reasoning_tokens),
        ] {
            if value > MAX_TOKENS {
                return Err(UsageError::TooLarge { field, value });
            }
        }
        if self.cache_read_tokens + self.cache_write_tokens > self.input_tokens {
            return Err(UsageError::CacheExceedsInput {
                cache_read: self.cache_read_tokens,
                cache_write: self.cache_write_tokens,
                input: self.input_tokens,
            });
        }
        if self.cache_write_1h_tokens > self.cache_write_tokens {
            return Err(UsageError::OneHourExceedsWrite {
                write_1h: self.cache_write_1h_tokens,
                write: self.cache_write_tokens,
            });
        }
        if self.reasoning_tokens > self.output_tokens {
            return Err(UsageError::ReasoningExceedsOutput {
                reasoning: self.reasoning_tokens,
                output: self.output_tokens,
            });
        }
        Ok(self)
    }

    /// Input tokens neither read from nor written to the cache. Only meaningful after `validate`.
    pub fn uncached_input_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_sub(self.cache_read_tokens)
            .saturating_sub(self.cache_write_tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_tokens_beyond_input_are_rejected() {
        let usage = Usage {
            input_tokens: 10,
            cache_read_tokens: 6,
            cache_write_tokens: 5,
            ..Usage::default()
        };
        assert!(matches!(
            usage.validate(),
            Err(UsageError::CacheExceedsInput { .. })
        ));
    }

    #[test]
    fn one_hour_writes_beyond_writes_are_rejected() {
        let usage = Usage {
            input_tokens: 10,
            cache_write_tokens: 2,
            cache_write_1h_tokens: 3,
            ..Usage::default()
        };
        assert!(matches!(
            usage.validate(),
            Err(UsageError::OneHourExceedsWrite { .. })
        ));
    }

    #[test]
    fn reasoning_beyond_output_is_rejected() {
        let usage = Usage {
            output_tokens: 1,
            reasoning_tokens: 2,
            ..Usage::default()
        };
        assert!(matches!(
            usage.validate(),
            Err(UsageError::ReasoningExceedsOutput { .. })
        ));
    }

    #[test]
    fn counts_above_two_to_the_53_are_rejected() {
        let usage = Usage {
            output_tokens: MAX_TOKENS + 1,
            ..Usage::default()
        };
        assert!(matches!(
            usage.validate(),
            Err(UsageError::TooLarge {
                field: "output_tokens",
                ..
            })
        ));
    }

    #[test]
    fn subsets_equal_to_totals_are_valid() {
        let usage = Usage {
            input_tokens: 10,
            cache_read_tokens: 4,
            cache_write_tokens: 6,
            cache_write_1h_tokens: 6,
            output_tokens: 3,
            reasoning_tokens: 3,
        };
        assert_eq!(usage.validate(), Ok(usage));
        assert_eq!(usage.uncached_input_tokens(), 0);
    }
}
