use super::*;
use ServiceTier::{Batch, Flex, Priority, Standard};

/// Every rule in one small map. Expected values below are written by hand from this text.
const MAP: &str = r#"{
    "sample_spec": {
        "input_cost_per_token": 0.0, "output_cost_per_token": 0.0,
        "litellm_provider": "one of https://docs.litellm.ai/docs/providers"
    },
    "gpt-x": {
        "litellm_provider": "openai", "mode": "chat",
        "input_cost_per_token": 2.0000000000000003e-06,
        "output_cost_per_token": 8e-06,
        "cache_read_input_token_cost": 5e-07,
        "output_cost_per_reasoning_token": 1.2e-05,
        "input_cost_per_token_batches": 1e-06,
        "output_cost_per_token_batches": 4e-06,
        "input_cost_per_token_priority": 3.5e-06,
        "output_cost_per_token_priority": 1.4e-05,
        "cache_read_input_token_cost_priority": 8.75e-07,
        "input_cost_per_token_flex": 1e-06,
        "input_cost_per_token_above_272k_tokens": 4e-06,
        "output_cost_per_token_above_272k_tokens": 1.2e-05,
        "input_cost_per_token_above_272k_tokens_priority": 7e-06,
        "input_cost_per_token_above_272k_tokens_flex": 2e-06,
        "input_cost_per_token_ultrafast": 9e-06,
        "input_cost_per_token_above_272k_tokens_ultrafast": 1e-05,
        "cache_creation_input_token_cost_above_12hr": 1e-05,
        "input_cost_per_token_decisions": 1e-05,
        "input_cost_per_audio_token": 4e-05,
        "output_cost_per_audio_token": 8e-05,
        "output_cost_per_image": 0.04
    },
    "claude-x": {
        "litellm_provider": "anthropic",
        "input_cost_per_token": 3e-06,
        "output_cost_per_token": 1.5e-05,
        "cache_read_input_token_cost": 3e-07,
        "cache_creation_input_token_cost": 3.75e-06,
        "cache_creation_input_token_cost_above_1hr": 6e-06,
        "input_cost_per_token_above_200k_tokens": 6e-06,
        "output_cost_per_token_above_200k_tokens": 2.25e-05,
        "cache_creation_input_token_cost_above_1hr_above_200k_tokens": 1.2e-05,
        "input_cost_per_token_batches": 1.5e-06,
        "output_cost_per_token_batches": 7.5e-06,
        "input_cost_per_token_above_200k_tokens_batches": 3e-06
    },
    "perplexity/sonar-x": {
        "litellm_provider": "perplexity", "input_cost_per_token": 0,
        "output_cost_per_token": 1.8e-06, "input_cost_per_request": 0.005
    },
    "mistral/mistral-embed-x": { "litellm_provider": "mistral", "mode": "embedding", "input_cost_per_token": 1e-07 },
    "gpt-image-x": {
        "litellm_provider": "openai", "mode": "image_generation",
        "input_cost_per_token": 5e-06, "output_cost_per_image_token": 4e-05
    },
    "dall-e-x": { "litellm_provider": "openai", "mode": "image_generation", "output_cost_per_image": 0.04 },
    "pegasus-x": {
        "litellm_provider": "bedrock", "input_cost_per_video_per_second": 0.00049, "output_cost_per_token": 7.5e-06
    },
    "claude-latest": { "alias_of": "claude-x" },
    "not-an-object": 42,
    "orphan": { "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06 },
    "bad-price": { "litellm_provider": "openai", "input_cost_per_token": "cheap", "output_cost_per_token": 1e-06 },
    "negative": { "litellm_provider": "openai", "input_cost_per_token": -1e-06, "output_cost_per_token": 1e-06 },
    "bedrock/us-gov-west-1/anthropic.claude-x-v1:0": {
        "litellm_provider": "bedrock", "input_cost_per_token": 3.6e-06, "output_cost_per_token": 1.8e-05
    },
    "azure/eu/gpt-x": { "litellm_provider": "azure", "input_cost_per_token": 2.2e-06, "output_cost_per_token": 8.8e-06 },
    "anthropic.claude-x-v1:0": {
        "litellm_provider": "bedrock_converse", "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05
    },
    "bedrock/invoke/anthropic.claude-x-v1:0": {
        "litellm_provider": "bedrock", "input_cost_per_token": 0.000003, "cache_read_input_token_cost": 3e-07
    },
    "bedrock_mantle/anthropic.claude-x-v1:0": {
        "litellm_provider": "bedrock_mantle", "input_cost_per_token": 3.3e-06, "output_cost_per_token": 1.65e-05
    },
    "gemini-x-pro": { "litellm_provider": "vertex_ai-language-models", "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05 },
    "gemini/Gemini-X-Pro": { "litellm_provider": "gemini", "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05 },
    "vertex_ai/meta/llama-x-maas": { "litellm_provider": "vertex_ai-llama_models", "input_cost_per_token": 5e-06, "output_cost_per_token": 1.6e-05 },
    "deepseek-chat": {
        "litellm_provider": "deepseek", "input_cost_per_token": 2.8e-07, "output_cost_per_token": 4.2e-07,
        "cache_read_input_token_cost": 2.8e-08, "output_cost_per_reasoning_token": 4.2e-07
    },
    "deepseek/deepseek-chat": {
        "litellm_provider": "deepseek", "input_cost_per_token": 2.7e-07, "output_cost_per_token": 4.2e-07,
        "cache_read_input_token_cost": 0.000000028
    }
}"#;

fn d(text: &str) -> Decimal {
    Decimal::from_str_exact(text).unwrap()
}

fn import() -> LitellmImport {
    parse(MAP).unwrap()
}

fn model<'a>(import: &'a LitellmImport, provider: &str, name: &str) -> &'a ImportedModel {
    import
        .models
        .iter()
        .find(|m| m.provider == provider && m.model == name)
        .unwrap()
}

fn rates(model: &ImportedModel, tier: ServiceTier, above: u64) -> PriceRates {
    let variant = model
        .variants
        .iter()
        .find(|v| v.service_tier == tier && v.above_input_tokens == above);
    variant.unwrap().rates.clone()
}

fn io(input: &str, output: &str) -> PriceRates {
    PriceRates {
        input: d(input),
        output: d(output),
        ..PriceRates::default()
    }
}

#[test]
fn prices_are_read_exactly_per_million_and_float_noise_is_rounded_away() {
    let import = import();
    let expected = PriceRates {
        cache_read: Some(d("0.5")),
        reasoning: Some(d("12")),
        ..io("2", "8")
    };
    assert_eq!(rates(model(&import, "openai", "gpt-x"), Standard, 0), expected);
}

#[test]
fn each_token_kind_maps_to_its_rate() {
    let import = import();
    let expected = PriceRates {
        cache_read: Some(d("0.3")),
        cache_write: Some(d("3.75")),
        cache_write_1h: Some(d("6")),
        ..io("3", "15")
    };
    assert_eq!(
        rates(model(&import, "anthropic", "claude-x"), Standard, 0),
        expected
    );
}

#[test]
fn the_request_fee_is_per_request_not_per_million() {
    let import = import();
    let expected = PriceRates {
        per_request: d("0.005"),
        ..io("0", "1.8")
    };
    assert_eq!(
        rates(model(&import, "perplexity", "sonar-x"), Standard, 0),
        expected
    );
}

#[test]
fn tier_and_long_context_suffixes_make_variants_and_other_suffixes_are_ignored() {
    let import = import();
    let shapes: Vec<(ServiceTier, u64)> = model(&import, "openai", "gpt-x")
        .variants
        .iter()
        .map(|v| (v.service_tier, v.above_input_tokens))
        .collect();
    let expected = [
        (Standard, 0),
        (Standard, 272_000),
        (Batch, 0),
        (Priority, 0),
        (Priority, 272_000),
        (Flex, 0),
        (Flex, 272_000),
    ];
    assert_eq!(shapes, expected);
    let gpt = model(&import, "openai", "gpt-x");
    assert_eq!(rates(gpt, Batch, 0), io("1", "4"));
    assert_eq!(
        rates(gpt, Priority, 0),
        PriceRates {
            cache_read: Some(d("0.875")),
            ..io("3.5", "14")
        }
    );
    assert_eq!(rates(gpt, Standard, 272_000), io("4", "12"));
}

#[test]
fn the_one_hour_cache_write_has_long_context_variants_too() {
    let import = import();
    let claude = model(&import, "anthropic", "claude-x");
    assert_eq!(
        rates(claude, Standard, 200_000),
        PriceRates {
            cache_write_1h: Some(d("12")),
            ..io("6", "22.5")
        }
    );
}

#[test]
fn a_variant_without_its_own_output_takes_its_tiers_base_output_first() {
    let import = import();
    // Batch above 200k has only an input price: output is batch's (7.5), not standard above 200k's.
    assert_eq!(
        rates(model(&import, "anthropic", "claude-x"), Batch, 200_000),
        io("3", "7.5")
    );
    // Priority above 272k: output is priority's (14).
    assert_eq!(
        rates(model(&import, "openai", "gpt-x"), Priority, 272_000),
        io("7", "14")
    );
}

#[test]
fn a_tier_without_any_output_of_its_own_takes_standards_at_the_same_threshold() {
    let import = import();
    let gpt = model(&import, "openai", "gpt-x");
    assert_eq!(rates(gpt, Flex, 0), io("1", "8"));
    assert_eq!(rates(gpt, Flex, 272_000), io("2", "12"));
}

#[test]
fn cache_and_reasoning_prices_are_not_inherited_by_variants() {
    let import = import();
    // The standard tier has cache_read 0.5 and reasoning 12; batch has neither of its own.
    let batch = rates(model(&import, "openai", "gpt-x"), Batch, 0);
    assert_eq!((batch.cache_read, batch.reasoning), (None, None));
}

#[test]
fn an_embedding_without_an_output_price_has_free_output() {
    let import = import();
    assert_eq!(
        rates(model(&import, "mistral", "mistral-embed-x"), Standard, 0),
        io("0.1", "0")
    );
}

#[test]
fn entries_without_usable_token_prices_are_skipped_with_their_reason() {
    let skipped: Vec<(String, String)> = import()
        .skipped
        .into_iter()
        .map(|s| (s.key, s.reason))
        .filter(|(_, r)| !r.starts_with("invalid"))
        .collect();
    let expected = [
        ("azure/eu/gpt-x", reasons::REGIONAL),
        ("bedrock/us-gov-west-1/anthropic.claude-x-v1:0", reasons::REGIONAL),
        ("claude-latest", reasons::ALIAS),
        ("dall-e-x", reasons::NO_TOKEN_PRICE),
        ("gpt-image-x", reasons::OUTPUT_NOT_PER_TOKEN),
        ("not-an-object", reasons::NOT_AN_OBJECT),
        ("orphan", reasons::NO_PROVIDER),
        ("pegasus-x", reasons::NO_INPUT_PRICE),
        ("sample_spec", reasons::SAMPLE_SPEC),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(k, r)| (k.to_string(), r.to_string()))
        .collect();
    assert_eq!(skipped, expected);
}

#[test]
fn an_unreadable_or_negative_price_skips_its_entry() {
    let invalid: Vec<String> = import()
        .skipped
        .into_iter()
        .filter(|s| s.reason.starts_with("invalid"))
        .map(|s| s.key)
        .collect();
    assert_eq!(invalid, ["bad-price", "negative"]);
}

#[test]
fn providers_fold_and_names_lose_provider_prefixes_and_routes() {
    let names: Vec<(String, String)> = import()
        .models
        .into_iter()
        .map(|m| (m.provider, m.model))
        .collect();
    let expected = [
        ("anthropic", "claude-x"),
        ("bedrock", "anthropic.claude-x-v1:0"),
        ("deepseek", "deepseek-chat"),
        ("gemini", "gemini-x-pro"),
        ("mistral", "mistral-embed-x"),
        ("openai", "gpt-x"),
        ("perplexity", "sonar-x"),
        ("vertex_ai", "gemini-x-pro"),
        ("vertex_ai", "meta/llama-x-maas"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(p, m)| (p.to_string(), m.to_string()))
        .collect();
    assert_eq!(names, expected, "sorted by (provider, model)");
}

#[test]
fn keys_of_one_model_merge_field_by_field_and_the_provider_prefixed_key_wins() {
    let import = import();
    let deepseek = model(&import, "deepseek", "deepseek-chat");
    // Input conflicts (0.27 vs 0.28); cache_read is the same number written two ways; reasoning
    // only the bare key has.
    let expected = PriceRates {
        cache_read: Some(d("0.028")),
        reasoning: Some(d("0.42")),
        ..io("0.27", "0.42")
    };
    assert_eq!(rates(deepseek, Standard, 0), expected);
    let merged = import.merged.iter().find(|m| m.model == "deepseek-chat").unwrap();
    assert_eq!(merged.keys, ["deepseek/deepseek-chat", "deepseek-chat"]);
    assert_eq!(merged.conflicts, ["input_cost_per_token"]);
}

#[test]
fn a_bare_key_wins_over_a_sub_family_prefix() {
    let import = import();
    // bedrock/invoke/ (provider prefix) first, then the bare bedrock_converse key, then bedrock_mantle/.
    let bedrock = model(&import, "bedrock", "anthropic.claude-x-v1:0");
    assert_eq!(
        rates(bedrock, Standard, 0),
        PriceRates {
            cache_read: Some(d("0.3")),
            ..io("3", "15")
        }
    );
    let merged = import.merged.iter().find(|m| m.provider == "bedrock").unwrap();
    let keys = [
        "bedrock/invoke/anthropic.claude-x-v1:0",
        "anthropic.claude-x-v1:0",
        "bedrock_mantle/anthropic.claude-x-v1:0",
    ];
    assert_eq!(merged.keys, keys);
    assert_eq!(
        merged.conflicts,
        ["input_cost_per_token", "output_cost_per_token"]
    );
}

#[test]
fn a_key_written_twice_counts_once_with_its_last_value() {
    let map = r#"{
        "gpt-y": { "litellm_provider": "openai", "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06 },
        "gpt-y": { "litellm_provider": "openai", "input_cost_per_token": 3e-06, "output_cost_per_token": 4e-06 }
    }"#;
    let import = parse(map).unwrap();
    assert_eq!(import.models.len(), 1);
    assert_eq!(rates(&import.models[0], Standard, 0), io("3", "4"));
}

#[test]
fn parsing_is_deterministic() {
    assert_eq!(import(), import());
}

#[test]
fn a_map_that_is_not_an_object_is_an_error() {
    assert!(matches!(parse("[1, 2]"), Err(LitellmError::NotAnObject)));
    assert!(matches!(parse("{\"a\": "), Err(LitellmError::InvalidJson(_))));
}

// The shipped catalog. Expected values are read by hand from catalog/default_prices.json.

fn default_catalog() -> LitellmImport {
    parse(DEFAULT_PRICES_JSON).unwrap()
}

#[test]
fn the_default_catalog_covers_the_seven_providers_and_skips_only_regional_and_image_entries() {
    let import = default_catalog();
    let providers: BTreeSet<&str> = import.models.iter().map(|m| m.provider.as_str()).collect();
    let expected = BTreeSet::from([
        "anthropic",
        "azure",
        "bedrock",
        "gemini",
        "mistral",
        "openai",
        "vertex_ai",
    ]);
    assert_eq!(providers, expected);
    let reasons: BTreeSet<&str> = import.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(
        reasons,
        BTreeSet::from([reasons::REGIONAL, reasons::OUTPUT_NOT_PER_TOKEN])
    );
}

#[test]
fn default_anthropic_claude_sonnet_4_5() {
    let import = default_catalog();
    let sonnet = model(&import, "anthropic", "claude-sonnet-4-5");
    let standard = PriceRates {
        cache_read: Some(d("0.3")),
        cache_write: Some(d("3.75")),
        cache_write_1h: Some(d("6")),
        ..io("3", "15")
    };
    assert_eq!(rates(sonnet, Standard, 0), standard);
    let batch = PriceRates {
        cache_read: Some(d("0.15")),
        cache_write: Some(d("1.875")),
        ..io("1.5", "7.5")
    };
    assert_eq!(rates(sonnet, Batch, 0), batch);
    // This snapshot of LiteLLM's map has no long-context prices for Anthropic's own API.
    assert_eq!(sonnet.variants.len(), 2);
}

#[test]
fn default_vertex_claude_sonnet_4_5_above_200k() {
    let import = default_catalog();
    let above = PriceRates {
        cache_read: Some(d("0.6")),
        cache_write: Some(d("7.5")),
        cache_write_1h: Some(d("12")),
        ..io("6", "22.5")
    };
    assert_eq!(
        rates(
            model(&import, "vertex_ai", "claude-sonnet-4-5"),
            Standard,
            200_000
        ),
        above
    );
}

#[test]
fn default_bedrock_claude_sonnet_4_5() {
    let import = default_catalog();
    let sonnet = model(&import, "bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0");
    let shapes: Vec<(ServiceTier, u64)> = sonnet
        .variants
        .iter()
        .map(|v| (v.service_tier, v.above_input_tokens))
        .collect();
    assert_eq!(shapes, [(Standard, 0), (Standard, 200_000), (Batch, 0)]);
    let standard = PriceRates {
        cache_read: Some(d("0.3")),
        cache_write: Some(d("3.75")),
        cache_write_1h: Some(d("6")),
        ..io("3", "15")
    };
    assert_eq!(rates(sonnet, Standard, 0), standard);
    let above = PriceRates {
        cache_read: Some(d("0.6")),
        cache_write: Some(d("7.5")),
        cache_write_1h: Some(d("12")),
        ..io("6", "22.5")
    };
    assert_eq!(rates(sonnet, Standard, 200_000), above);
    assert_eq!(rates(sonnet, Batch, 0), io("1.5", "7.5"));
}

#[test]
fn default_openai_gpt_4o() {
    let import = default_catalog();
    let gpt = model(&import, "openai", "gpt-4o");
    assert_eq!(
        rates(gpt, Standard, 0),
        PriceRates {
            cache_read: Some(d("1.25")),
            ..io("2.5", "10")
        }
    );
    assert_eq!(rates(gpt, Batch, 0), io("1.25", "5"));
    assert_eq!(
        rates(gpt, Priority, 0),
        PriceRates {
            cache_read: Some(d("2.125")),
            ..io("4.25", "17")
        }
    );
}

#[test]
fn default_openai_gpt_5_5_tiers() {
    let import = default_catalog();
    let gpt = model(&import, "openai", "gpt-5.5");
    assert_eq!(
        rates(gpt, Flex, 0),
        PriceRates {
            cache_read: Some(d("0.25")),
            ..io("2.5", "15")
        }
    );
    assert_eq!(
        rates(gpt, Flex, 272_000),
        PriceRates {
            cache_read: Some(d("0.5")),
            ..io("5", "22.5")
        }
    );
    assert_eq!(
        rates(gpt, Batch, 272_000),
        PriceRates {
            cache_read: Some(d("0.5")),
            ..io("5", "22.5")
        }
    );
    assert_eq!(
        rates(gpt, Priority, 0),
        PriceRates {
            cache_read: Some(d("1.25")),
            ..io("12.5", "75")
        }
    );
}

#[test]
fn default_gemini_2_5_pro() {
    let import = default_catalog();
    let gemini = model(&import, "gemini", "gemini-2.5-pro");
    assert_eq!(
        rates(gemini, Standard, 0),
        PriceRates {
            cache_read: Some(d("0.125")),
            ..io("1.25", "10")
        }
    );
    assert_eq!(
        rates(gemini, Standard, 200_000),
        PriceRates {
            cache_read: Some(d("0.25")),
            ..io("2.5", "15")
        }
    );
    assert_eq!(
        rates(gemini, Batch, 200_000),
        PriceRates {
            cache_read: Some(d("0.25")),
            ..io("1.25", "7.5")
        }
    );
    assert_eq!(
        rates(gemini, Priority, 200_000),
        PriceRates {
            cache_read: Some(d("0.45")),
            ..io("4.5", "27")
        }
    );
}

#[test]
fn default_vertex_gemini_2_5_pro_from_a_bare_key() {
    let import = default_catalog();
    let gemini = model(&import, "vertex_ai", "gemini-2.5-pro");
    assert_eq!(gemini.keys, ["gemini-2.5-pro"]);
    let above = PriceRates {
        cache_read: Some(d("0.25")),
        cache_write: Some(d("0.25")),
        ..io("2.5", "15")
    };
    assert_eq!(rates(gemini, Standard, 200_000), above);
}

#[test]
fn default_azure_and_mistral() {
    let import = default_catalog();
    let azure = model(&import, "azure", "gpt-4o");
    assert_eq!(
        rates(azure, Standard, 0),
        PriceRates {
            cache_read: Some(d("1.25")),
            ..io("2.5", "10")
        }
    );
    assert_eq!(rates(azure, Batch, 0), io("1.25", "5"));
    let mistral = model(&import, "mistral", "mistral-large-latest");
    assert_eq!(
        rates(mistral, Standard, 0),
        PriceRates {
            cache_read: Some(d("0.05")),
            ..io("0.5", "1.5")
        }
    );
}
