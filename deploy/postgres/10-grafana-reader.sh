#!/usr/bin/env bash
# Runs once, when the compose stack's PostgreSQL initialises its data directory: a read-only role
# for Grafana's SQL panels. The tables do not exist yet (tokenledger's migrations create them at its
# first start, as $POSTGRES_USER), so SELECT is granted through default privileges.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v reader_password="${GRAFANA_DB_PASSWORD:?}" <<'SQL'
CREATE ROLE grafana_reader LOGIN PASSWORD :'reader_password';
GRANT CONNECT ON DATABASE tokenledger TO grafana_reader;
GRANT USAGE ON SCHEMA public TO grafana_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;
SQL
