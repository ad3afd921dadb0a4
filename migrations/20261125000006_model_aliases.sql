-- Aliases: the model id a gateway sends (a dated or regional id) mapped to the catalog model that
-- prices it, within one provider. A small reference table (SCALE.md rule 6). `revision` comes from a
-- sequence and is renewed on every change, so replicas notice any change from (count, max(revision)).
CREATE SEQUENCE model_aliases_revision AS bigint;

CREATE TABLE model_aliases (
    provider   text NOT NULL,
    alias      text NOT NULL,
    model      text NOT NULL,
    revision   bigint NOT NULL DEFAULT nextval('model_aliases_revision'),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, alias),
    CONSTRAINT model_aliases_not_itself CHECK (alias <> model)
);
