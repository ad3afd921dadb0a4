-- API keys, a reference table looked up by hash (SCALE.md rule 6). The secret itself is never stored.
CREATE TABLE api_keys (
    key_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    scope       text NOT NULL CHECK (scope IN ('ingest', 'read', 'admin')),
    team        text,
    secret_hash bytea NOT NULL UNIQUE,
    prefix      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
