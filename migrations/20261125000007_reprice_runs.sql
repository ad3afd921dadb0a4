-- Re-pricing (POST /v1/reprice) and its audit trail.
--
-- A run is one request: who asked, for which range and filter, whether it was a dry run, how far it
-- got and how it ended. Runs are few (one per admin request): a small table, like prices.
CREATE TABLE reprice_runs (
    run_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    requested_by    bigint NOT NULL REFERENCES api_keys (key_id),
    range_from      timestamptz NOT NULL,
    range_to        timestamptz NOT NULL,
    provider        text,
    model           text,
    dry_run         boolean NOT NULL,
    status          text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
    -- Committed with each page, in the same transaction as that page's changes: a run that stopped
    -- half-way says exactly how far it got.
    events_examined bigint NOT NULL DEFAULT 0,
    events_changed  bigint NOT NULL DEFAULT 0,
    -- The key (team_id, ts, seq) of the last event processed, in the order runs walk the events.
    last_team_id    bigint,
    last_ts         timestamptz,
    last_seq        bigint,
    started_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    CHECK (range_from < range_to)
);

-- What a run found, by (provider, model, currency), committed page by page with the run's progress.
-- Amounts of different currencies are never added: an event's amounts before count in the row of its
-- old currency, its amounts after in the row of its new one; its counts in the row of its new
-- currency (its old one when it ends unpriced; '' when it is unpriced before and after).
CREATE TABLE reprice_run_totals (
    run_id           bigint NOT NULL REFERENCES reprice_runs (run_id),
    provider         text NOT NULL,
    model            text NOT NULL,
    currency         text NOT NULL,
    events_examined  bigint NOT NULL,
    events_changed   bigint NOT NULL,
    unpriced_before  bigint NOT NULL,
    unpriced_after   bigint NOT NULL,
    cost_before      numeric(38, 12) NOT NULL,
    list_cost_before numeric(38, 12) NOT NULL,
    cost_after       numeric(38, 12) NOT NULL,
    list_cost_after  numeric(38, 12) NOT NULL,
    PRIMARY KEY (run_id, provider, model, currency)
);

-- One row per event a run changed, with its catalog columns before and after: any amount can be
-- traced back through the runs that changed it to the price row that first priced it. Grows with
-- usage, so the team leads the key (SCALE.md rule 1) and there is no foreign key to reprice_runs.
CREATE TABLE reprice_changes (
    team_id       bigint NOT NULL,
    ts            timestamptz NOT NULL,
    seq           bigint NOT NULL,
    run_id        bigint NOT NULL,
    old_price_id  bigint,
    new_price_id  bigint,
    old_cost      numeric(38, 12),
    new_cost      numeric(38, 12),
    old_list_cost numeric(38, 12),
    new_list_cost numeric(38, 12),
    old_currency  text,
    new_currency  text,
    PRIMARY KEY (team_id, ts, seq, run_id)
);

-- The changes of one run, in the order it made them (GET /v1/reprice/{id}/changes).
CREATE INDEX reprice_changes_by_run ON reprice_changes (run_id, team_id, ts, seq);
