-- Rollups: spend and tokens pre-aggregated by hour and by day, kept by jobs::rollup.
--
-- Incremental by insertion order. `events.ins_xid` is the id of the transaction that inserted the
-- row (a bigint of xid8, which never wraps). A transaction id below the xmin of a snapshot belongs
-- to a transaction that has ended, so the rows the job reads with ins_xid in [watermark, xmin) are
-- final and none can appear behind the watermark later: unlike a sequence, whose values are handed
-- out before their rows commit, this watermark cannot skip a row that commits late. The index is a
-- b-tree: its keys arrive in increasing order, so inserts touch only its rightmost page. (A BRIN
-- index was tried: page ranges filled after its creation stay unsummarized until a vacuum, and
-- every pass then read all of them; measured at 10M events, passes grew to tens of seconds.)
ALTER TABLE events ADD COLUMN ins_xid bigint NOT NULL DEFAULT (pg_current_xact_id()::text)::bigint;
CREATE INDEX events_ins_xid ON events (ins_xid);
-- Raw reads of whole-table time ranges (the edges of a spend range that rollups cannot answer).
-- Events arrive roughly in time order, so BRIN fits; autosummarize has autovacuum summarize each
-- page range once it fills, rather than only at the next vacuum.
CREATE INDEX events_ts ON events USING brin (ts) WITH (autosummarize = on);

-- One row per job. `watermark`: every event with ins_xid below it is in the rollups.
CREATE TABLE rollup_state (
    name       text PRIMARY KEY,
    watermark  bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO rollup_state (name) VALUES ('events');

-- Hours whose events changed in place (re-pricing, pricing of unpriced events): the job
-- recomputes these buckets whole from the raw events (SCALE.md rule 5). Written in the same
-- transaction as the change, so a change is never missed.
CREATE TABLE rollup_pending (
    team_id bigint NOT NULL,
    hour    timestamptz NOT NULL,
    PRIMARY KEY (team_id, hour)
);

-- The rollups. Each is keyed by the team first (SCALE.md rule 1), then its bucket and dimensions.
-- Absent project/user are '' (the API refuses empty names), an unpriced group has currency ''.
-- Costs are kept in parts so either cost source and the reconciliation view are answered exactly:
--   cost              sum of catalog cost (0 for an unpriced group)
--   list_cost         sum of catalog cost at list price
--   reported_cost     sum of the gateway's reported cost, where sent
--   reported_requests events with a reported cost
--   cost_unreported   sum of catalog cost of the events without a reported cost
-- User and tags are left out of the hourly and daily rollups: they compress worst (a group per
-- user per model per hour is about one event), so they have daily rollups of their own.

-- By hour: ragged edges of a range, hour buckets, days of zones whose midnight is not UTC's.
CREATE TABLE rollup_hourly (
    team_id               bigint NOT NULL,
    hour                  timestamptz NOT NULL,
    provider              text NOT NULL,
    model                 text NOT NULL,
    project               text NOT NULL,
    service_tier          text NOT NULL,
    currency              text NOT NULL,
    reported_currency     text NOT NULL,
    requests              bigint NOT NULL,
    reported_requests     bigint NOT NULL,
    input_tokens          bigint NOT NULL,
    cache_read_tokens     bigint NOT NULL,
    cache_write_tokens    bigint NOT NULL,
    cache_write_1h_tokens bigint NOT NULL,
    output_tokens         bigint NOT NULL,
    reasoning_tokens      bigint NOT NULL,
    cost                  numeric(38, 12) NOT NULL,
    list_cost             numeric(38, 12) NOT NULL,
    reported_cost         numeric(38, 12) NOT NULL,
    cost_unreported       numeric(38, 12) NOT NULL,
    PRIMARY KEY (team_id, hour, provider, model, project, service_tier, currency, reported_currency)
);

-- By UTC day: most spend questions (by team, provider, model, project; by day; a whole month).
CREATE TABLE rollup_daily (
    team_id               bigint NOT NULL,
    day                   timestamptz NOT NULL,
    provider              text NOT NULL,
    model                 text NOT NULL,
    project               text NOT NULL,
    service_tier          text NOT NULL,
    currency              text NOT NULL,
    reported_currency     text NOT NULL,
    requests              bigint NOT NULL,
    reported_requests     bigint NOT NULL,
    input_tokens          bigint NOT NULL,
    cache_read_tokens     bigint NOT NULL,
    cache_write_tokens    bigint NOT NULL,
    cache_write_1h_tokens bigint NOT NULL,
    output_tokens         bigint NOT NULL,
    reasoning_tokens      bigint NOT NULL,
    cost                  numeric(38, 12) NOT NULL,
    list_cost             numeric(38, 12) NOT NULL,
    reported_cost         numeric(38, 12) NOT NULL,
    cost_unreported       numeric(38, 12) NOT NULL,
    PRIMARY KEY (team_id, day, provider, model, project, service_tier, currency, reported_currency)
);

-- By UTC day and team only: questions by team or over all teams without a provider, model or
-- project filter (the top spenders of a month) read a few rows per team and day.
CREATE TABLE rollup_daily_teams (
    team_id               bigint NOT NULL,
    day                   timestamptz NOT NULL,
    currency              text NOT NULL,
    reported_currency     text NOT NULL,
    requests              bigint NOT NULL,
    reported_requests     bigint NOT NULL,
    input_tokens          bigint NOT NULL,
    cache_read_tokens     bigint NOT NULL,
    cache_write_tokens    bigint NOT NULL,
    cache_write_1h_tokens bigint NOT NULL,
    output_tokens         bigint NOT NULL,
    reasoning_tokens      bigint NOT NULL,
    cost                  numeric(38, 12) NOT NULL,
    list_cost             numeric(38, 12) NOT NULL,
    reported_cost         numeric(38, 12) NOT NULL,
    cost_unreported       numeric(38, 12) NOT NULL,
    PRIMARY KEY (team_id, day, currency, reported_currency)
);

-- By UTC day and user (user '' for events without one): questions grouped by user.
CREATE TABLE rollup_daily_users (
    team_id               bigint NOT NULL,
    day                   timestamptz NOT NULL,
    user_id               text NOT NULL,
    provider              text NOT NULL,
    model                 text NOT NULL,
    project               text NOT NULL,
    service_tier          text NOT NULL,
    currency              text NOT NULL,
    reported_currency     text NOT NULL,
    requests              bigint NOT NULL,
    reported_requests     bigint NOT NULL,
    input_tokens          bigint NOT NULL,
    cache_read_tokens     bigint NOT NULL,
    cache_write_tokens    bigint NOT NULL,
    cache_write_1h_tokens bigint NOT NULL,
    output_tokens         bigint NOT NULL,
    reasoning_tokens      bigint NOT NULL,
    cost                  numeric(38, 12) NOT NULL,
    list_cost             numeric(38, 12) NOT NULL,
    reported_cost         numeric(38, 12) NOT NULL,
    cost_unreported       numeric(38, 12) NOT NULL,
    PRIMARY KEY (team_id, day, user_id, provider, model, project, service_tier, currency, reported_currency)
);

-- By UTC day and one tag: an event counts once under each of its tags. Events without a given
-- tag are the daily rollup minus these rows, so they need no rows of their own.
CREATE TABLE rollup_daily_tags (
    team_id               bigint NOT NULL,
    day                   timestamptz NOT NULL,
    tag_key               text NOT NULL,
    tag_value             text NOT NULL,
    provider              text NOT NULL,
    model                 text NOT NULL,
    project               text NOT NULL,
    service_tier          text NOT NULL,
    currency              text NOT NULL,
    reported_currency     text NOT NULL,
    requests              bigint NOT NULL,
    reported_requests     bigint NOT NULL,
    input_tokens          bigint NOT NULL,
    cache_read_tokens     bigint NOT NULL,
    cache_write_tokens    bigint NOT NULL,
    cache_write_1h_tokens bigint NOT NULL,
    output_tokens         bigint NOT NULL,
    reasoning_tokens      bigint NOT NULL,
    cost                  numeric(38, 12) NOT NULL,
    list_cost             numeric(38, 12) NOT NULL,
    reported_cost         numeric(38, 12) NOT NULL,
    cost_unreported       numeric(38, 12) NOT NULL,
    PRIMARY KEY (team_id, day, tag_key, tag_value, provider, model, project, service_tier, currency,
                 reported_currency)
);

-- All-teams questions over a period (an admin's dashboard).
CREATE INDEX rollup_hourly_by_hour ON rollup_hourly (hour);
CREATE INDEX rollup_daily_by_day ON rollup_daily (day);
CREATE INDEX rollup_daily_teams_by_day ON rollup_daily_teams (day);
CREATE INDEX rollup_daily_users_by_day ON rollup_daily_users (day);
CREATE INDEX rollup_daily_tags_by_key ON rollup_daily_tags (tag_key, day);
