#!/usr/bin/env python3
"""Builds catalog/default_prices.json from LiteLLM's model_prices_and_context_window.json.

Usage: python3 catalog/build_default.py path/to/model_prices.json

Keeps the entries of the providers the default catalog covers that have a per-token input price,
and of those only the fields src/pricing/litellm.rs reads. Numbers are copied as written in the
source (never through a float), and the result is checked against the source before it is kept.
"""

import json
import pathlib
import re
import sys

PROVIDERS = {"openai", "anthropic", "bedrock", "azure", "vertex_ai", "gemini", "mistral"}

# The price fields the importer reads: <base>[_above_<N>k_tokens][_batches|_priority|_flex].
PRICE_FIELD = re.compile(
    r"^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost"
    r"|cache_creation_input_token_cost|cache_creation_input_token_cost_above_1hr"
    r"|output_cost_per_reasoning_token|input_cost_per_request)"
    r"(_above_[1-9][0-9]*k_tokens)?(_batches|_priority|_flex)?$"
)
DESCRIPTIVE_FIELDS = ("litellm_provider", "mode")

OUT = pathlib.Path(__file__).resolve().parent / "default_prices.json"


class Literal(str):
    """A JSON number kept as the text it was written as."""


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f, parse_float=Literal, parse_int=Literal)


def fold(provider):
    """The catalog's provider for a litellm_provider (src/domain/names.rs, normalize_provider)."""
    provider = provider.strip().lower()
    if provider.startswith("bedrock"):
        return "bedrock"
    if provider.startswith("vertex_ai-"):
        return "vertex_ai"
    return provider


def keep_fields(entry):
    """The fields the importer reads. When output has no per-token price, the entry's other output
    prices are kept too, so that the importer can tell free output from output priced per image."""
    no_output_per_token = entry.get("output_cost_per_token") is None
    kept = {}
    for name, value in entry.items():
        if name in DESCRIPTIVE_FIELDS or PRICE_FIELD.match(name):
            kept[name] = value
        elif no_output_per_token and name.startswith("output_cost_per_") and isinstance(value, Literal):
            kept[name] = value
    return kept


def select(source):
    selected = {}
    for key, entry in source.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("litellm_provider"), str):
            continue
        if fold(entry["litellm_provider"]) not in PROVIDERS or entry.get("input_cost_per_token") is None:
            continue
        selected[key] = keep_fields(entry)
    return selected


def scalar(value):
    if isinstance(value, Literal):
        return str(value)
    if isinstance(value, (str, bool)) or value is None:
        return json.dumps(value)
    raise ValueError(f"unexpected value in a kept field: {value!r}")


def render(selected):
    lines = ["{"]
    for i, (key, entry) in enumerate(selected.items()):
        lines.append(f"    {json.dumps(key)}: {{")
        fields = [f"        {json.dumps(name)}: {scalar(value)}" for name, value in entry.items()]
        lines.append(",\n".join(fields))
        lines.append("    }," if i + 1 < len(selected) else "    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def check(source, text):
    """Every kept field must read back exactly as written in the source."""
    written = json.loads(text, parse_float=Literal, parse_int=Literal)
    for key, entry in written.items():
        for name, value in entry.items():
            original = source[key][name]
            if type(value) is not type(original) or value != original:
                raise SystemExit(f"{key}.{name}: wrote {value!r}, source has {original!r}")


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    source = load(sys.argv[1])
    selected = select(source)
    text = render(selected)
    check(source, text)
    OUT.write_text(text, encoding="utf-8")
    print(f"{OUT}: {len(selected)} entries of {len(source)}, {len(text.encode())} bytes")


if __name__ == "__main__":
    main()
