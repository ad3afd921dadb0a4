-- The price catalog, a reference table. A price *version* of a (provider, model) is the set of rows
-- sharing one effective_from: its standard rates plus any service-tier and long-context variants.
-- Rates are per million tokens; NULL cache/reasoning rates fall back (cache kinds to input, the
-- 1-hour cache write to the 5-minute one, reasoning to output).
CREATE TABLE prices (
    price_id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider           text NOT NULL,
    model              text NOT NULL,
    effective_from     timestamptz NOT NULL,
    service_tier       text NOT NULL DEFAULT 'standard'
                       CHECK (service_tier IN ('standard', 'batch', 'priority', 'flex')),
    -- The row applies to requests with more input tokens than this (0: every request).
    above_input_tokens bigint NOT NULL DEFAULT 0 CHECK (above_input_tokens >= 0),
    currency           text NOT NULL DEFAULT 'USD',
    input              numeric(38, 12) NOT NULL CHECK (input >= 0),
    cache_read         numeric(38, 12) CHECK (cache_read >= 0),
    cache_write        numeric(38, 12) CHECK (cache_write >= 0),
    cache_write_1h     numeric(38, 12) CHECK (cache_write_1h >= 0),
    output             numeric(38, 12) NOT NULL CHECK (output >= 0),
    reasoning          numeric(38, 12) CHECK (reasoning >= 0),
    per_request        numeric(38, 12) NOT NULL DEFAULT 0 CHECK (per_request >= 0),
    source             text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT prices_version_row_key
        UNIQUE (provider, model, effective_from, service_tier, above_input_tokens)
);
