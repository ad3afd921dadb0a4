-- Budgets: a spending limit per team (optionally narrowed to a provider, model or project) and
-- period, in a time zone. Budgets grow with the number of teams, so the team leads the key
-- (SCALE.md rule 1); ids come from a sequence, since a hash-partitioned table cannot carry an
-- identity column.
CREATE SEQUENCE budgets_seq AS bigint;

CREATE TABLE budgets (
    team_id     bigint NOT NULL,
    budget_id   bigint NOT NULL DEFAULT nextval('budgets_seq'),
    name        text NOT NULL,
    provider    text,
    model       text,
    project     text,
    period      text NOT NULL CHECK (period IN ('daily', 'weekly', 'monthly')),
    amount      numeric(38, 12) NOT NULL CHECK (amount > 0),
    currency    text NOT NULL,
    -- Percent of the amount, ascending, e.g. {50,80,100}.
    thresholds  integer[] NOT NULL,
    forecast    boolean NOT NULL,
    -- An IANA time zone name, checked against pg_timezone_names when written.
    tz          text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, budget_id)
);
-- The API names budgets by id alone.
CREATE INDEX budgets_by_id ON budgets (budget_id);
