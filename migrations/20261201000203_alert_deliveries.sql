-- The outbox: one delivery per (alert, target), written in the alert's own statement, so an alert
-- is never stored without its deliveries nor delivered without being stored. A worker claims due
-- rows of one team at a time (SCALE.md rule 7: on Citus a SKIP LOCKED claim must stay within one
-- shard) with FOR UPDATE SKIP LOCKED and a lease: a claim moves `next_attempt_at` one lease ahead,
-- so a crashed worker's claim expires and another replica retries it. The HTTP call happens after
-- the claim has committed, never inside a transaction.
CREATE TABLE alert_deliveries (
    team_id         bigint NOT NULL,
    alert_id        bigint NOT NULL,
    target_id       bigint NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    last_status     integer,
    delivered_at    timestamptz,
    PRIMARY KEY (team_id, alert_id, target_id),
    FOREIGN KEY (team_id, alert_id) REFERENCES budget_alerts (team_id, alert_id) ON DELETE CASCADE,
    FOREIGN KEY (team_id, target_id) REFERENCES budget_targets (team_id, target_id) ON DELETE CASCADE
);
-- The queue stays small: only pending rows are indexed.
CREATE INDEX alert_deliveries_due ON alert_deliveries (team_id, next_attempt_at) WHERE state = 'pending';
