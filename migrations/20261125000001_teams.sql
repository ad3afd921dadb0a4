-- Teams are a small reference table: the API speaks team names, every growing table carries team_id
-- (SCALE.md rule 1), so a future Citus cluster can distribute by it.
CREATE TABLE teams (
    team_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
