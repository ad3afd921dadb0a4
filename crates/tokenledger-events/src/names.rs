//! Provider, model and service-tier names as the catalog matches them.

use serde::{Deserialize, Serialize};

/// How the provider sold the call; each tier can carry its own rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ServiceTier {
    Standard,
    Batch,
    Priority,
    Flex,
}

impl ServiceTier {
    /// Parses a tier name. OpenAI reports the standard tier as `default`, so that is accepted too.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "standard" | "default" | "" => Some(Self::Standard),
            "batch" | "batches" => Some(Self::Batch),
            "priority" => Some(Self::Priority),
            "flex" => Some(Self::Flex),
            _ => None,
        }
    }

    /// The name stored in the database and spoken by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Batch => "batch",
            Self::Priority => "priority",
            Self::Flex => "flex",
        }
    }
}

/// Providers whose name, written as a `name/` prefix of a model id, is stripped before matching.
const KNOWN_PROVIDERS: &[&str] = &[
    "openai",
    "anthropic",
    "bedrock",
    "bedrock_converse",
    "azure",
    "azure_ai",
    "vertex_ai",
    "gemini",
    "mistral",
    "deepseek",
    "xai",
    "groq",
    "cohere",
];

/// Lowercases a provider name and folds the families a gateway may name to the catalog's
/// (`bedrock_converse` is bedrock, `vertex_ai-language-models` is vertex_ai, `google` is gemini).
/// The OpenTelemetry GenAI names (`gen_ai.provider.name`, and the legacy `gen_ai.system` values)
/// fold here too: `aws.bedrock`, `az.ai.openai`/`azure.ai.openai`, `gcp.vertex_ai`, `gcp.gemini`,
/// `mistral_ai`, `x_ai`; as do LiteLLM's `custom_llm_provider` spellings (`vertex_ai_beta`,
/// `text-completion-openai`).
pub fn normalize_provider(raw: &str) -> String {
    let lower = raw.trim().to_ascii_lowercase();
    match lower.as_str() {
        "bedrock_converse" | "aws.bedrock" | "aws_bedrock" | "amazon_bedrock" => "bedrock".to_owned(),
        "azure.ai.openai" | "az.ai.openai" | "azure_openai" => "azure".to_owned(),
        "gcp.vertex_ai" | "vertex" | "vertexai" | "vertex_ai_beta" => "vertex_ai".to_owned(),
        "gcp.gemini" | "google" | "google_ai_studio" | "gcp.gen_ai" => "gemini".to_owned(),
        "mistral_ai" | "mistralai" => "mistral".to_owned(),
        "x_ai" => "xai".to_owned(),
        "text-completion-openai" => "openai".to_owned(),
        other if other.starts_with("vertex_ai-") => "vertex_ai".to_owned(),
        other if other.starts_with("bedrock_") => "bedrock".to_owned(),
        other => other.to_owned(),
    }
}

/// Lowercases a model id and strips a leading provider prefix (`bedrock/`, `openai/`, the event's
/// own provider). A prefix that is not a provider (`meta-llama/...`) is part of the model's name.
pub fn normalize_model(provider: &str, raw: &str) -> String {
    let mut model = raw.trim().to_ascii_lowercase();
    while let Some((prefix, rest)) = model.split_once('/') {
        if rest.is_empty() || !(prefix == provider || KNOWN_PROVIDERS.contains(&prefix)) {
            break;
        }
        model = rest.to_owned();
    }
    model
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_prefixes_are_stripped_and_case_folded() {
        assert_eq!(
            normalize_model("bedrock", "Bedrock/Anthropic.Claude-3"),
            "anthropic.claude-3"
        );
        assert_eq!(normalize_model("azure", "azure/gpt-4o"), "gpt-4o");
        assert_eq!(
            normalize_model("together_ai", "together_ai/meta-llama/Llama-3"),
            "meta-llama/llama-3"
        );
    }

    #[test]
    fn a_prefix_that_is_not_a_provider_is_kept() {
        assert_eq!(
            normalize_model("fireworks", "accounts/fw/models/x"),
            "accounts/fw/models/x"
        );
    }

    #[test]
    fn provider_families_fold_to_catalog_names() {
        assert_eq!(normalize_provider("bedrock_converse"), "bedrock");
        assert_eq!(normalize_provider("vertex_ai-language-models"), "vertex_ai");
        assert_eq!(normalize_provider("OpenAI"), "openai");
    }

    #[test]
    fn opentelemetry_provider_names_fold_to_catalog_names() {
        let cases = [
            ("aws.bedrock", "bedrock"),
            ("gcp.vertex_ai", "vertex_ai"),
            ("vertex_ai", "vertex_ai"),
            ("gcp.gemini", "gemini"),
            ("gemini", "gemini"),
            ("azure.ai.openai", "azure"),
            ("az.ai.openai", "azure"),
            ("openai", "openai"),
            ("anthropic", "anthropic"),
            ("mistral_ai", "mistral"),
            ("x_ai", "xai"),
            ("deepseek", "deepseek"),
        ];
        for (otel, ours) in cases {
            assert_eq!(normalize_provider(otel), ours, "{otel}");
        }
    }

    #[test]
    fn openai_default_tier_is_standard() {
        assert_eq!(ServiceTier::parse("default"), Some(ServiceTier::Standard));
        assert_eq!(ServiceTier::parse("turbo"), None);
    }
}
