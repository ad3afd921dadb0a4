-- Where a budget's alerts are delivered: webhooks, each with its own signing secret. The secret is
-- stored as given (not hashed): the server needs it to sign every delivery. Replacing a budget's
-- targets marks the old ones removed (their history stays readable); they get no new deliveries.
CREATE SEQUENCE budget_targets_seq AS bigint;

CREATE TABLE budget_targets (
    team_id    bigint NOT NULL,
    target_id  bigint NOT NULL DEFAULT nextval('budget_targets_seq'),
    budget_id  bigint NOT NULL,
    webhook    text NOT NULL,
    secret     text NOT NULL,
    removed_at timestamptz,
    PRIMARY KEY (team_id, target_id),
    FOREIGN KEY (team_id, budget_id) REFERENCES budgets (team_id, budget_id) ON DELETE CASCADE
);
CREATE INDEX budget_targets_by_budget ON budget_targets (team_id, budget_id);
