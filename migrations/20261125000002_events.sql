-- Usage events, one row per model call. Range-partitioned by event time; the team leads the key.
-- Insertion order is `seq` (a sequence, not an identity: PostgreSQL 15 refuses identity columns on
-- partitioned tables); it is what incremental rollups watermark on.
CREATE SEQUENCE events_seq AS bigint;

CREATE TABLE events (
    team_id               bigint NOT NULL,
    ts                    timestamptz NOT NULL,
    seq                   bigint NOT NULL DEFAULT nextval('events_seq'),
    event_id              text NOT NULL,
    project               text,
    user_id               text,
    tags                  jsonb,
    provider              text NOT NULL,
    model                 text NOT NULL,
    service_tier          text NOT NULL,
    input_tokens          bigint NOT NULL,
    cache_read_tokens     bigint NOT NULL,
    cache_write_tokens    bigint NOT NULL,
    cache_write_1h_tokens bigint NOT NULL,
    output_tokens         bigint NOT NULL,
    reasoning_tokens      bigint NOT NULL,
    -- Computed by the catalog (after team adjustments); NULL when no price matched.
    cost                  numeric(38, 12),
    -- Computed at list price, before adjustments; NULL when no price matched.
    list_cost             numeric(38, 12),
    -- The currency of cost and list_cost (the price's currency).
    currency              text,
    price_id              bigint,
    -- What the gateway said the call cost, in reported_currency.
    reported_cost         numeric(38, 12),
    reported_currency     text NOT NULL DEFAULT 'USD',
    received_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, ts, seq)
) PARTITION BY RANGE (ts);

-- No event is ever refused for lack of a partition.
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- Idempotency lives in its own table (SCALE.md rule 2): a time-partitioned table cannot hold a
-- unique key on (team, id). The id is stored as 16 bytes of its SHA-256 to keep this index small;
-- content_hash is the SHA-256 prefix of the canonical event, which decides duplicate vs id_conflict.
CREATE TABLE event_keys (
    team_id      bigint NOT NULL,
    id_hash      bytea NOT NULL,
    content_hash bytea NOT NULL,
    ts           timestamptz NOT NULL,
    PRIMARY KEY (team_id, id_hash)
);
