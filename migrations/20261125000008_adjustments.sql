-- Negotiated discounts and markups: a decimal factor on list price, per (team?, provider?, model?),
-- versioned by effective_from like prices. A reference table (SCALE.md rule 6): few rows, names not ids,
-- so an adjustment can name a team before its first event.
CREATE TABLE adjustments (
    adjustment_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team           text,
    provider       text,
    model          text,
    effective_from timestamptz NOT NULL,
    factor         numeric(38, 12) NOT NULL CHECK (factor >= 0),
    note           text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT adjustments_version_key UNIQUE NULLS NOT DISTINCT (team, provider, model, effective_from)
);
