-- Alerts that fired. Exactly once per (budget, period, kind, threshold) comes from this unique key:
-- every replica may evaluate at once, and only the INSERT that wins it creates the alert (and, in
-- the same transaction, its deliveries). A forecast alert has threshold 0.
CREATE SEQUENCE budget_alerts_seq AS bigint;

CREATE TABLE budget_alerts (
    team_id        bigint NOT NULL,
    alert_id       bigint NOT NULL DEFAULT nextval('budget_alerts_seq'),
    budget_id      bigint NOT NULL,
    period_start   timestamptz NOT NULL,
    period_end     timestamptz NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('threshold', 'forecast')),
    threshold      integer NOT NULL,
    -- What the evaluator saw when the alert fired.
    spend          numeric(38, 12) NOT NULL,
    amount         numeric(38, 12) NOT NULL,
    forecast_spend numeric(38, 12) NOT NULL,
    utilization    numeric(38, 12) NOT NULL,
    currency       text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, alert_id),
    UNIQUE (team_id, budget_id, period_start, kind, threshold),
    FOREIGN KEY (team_id, budget_id) REFERENCES budgets (team_id, budget_id) ON DELETE CASCADE
);
CREATE INDEX budget_alerts_newest ON budget_alerts (created_at DESC, alert_id DESC);
