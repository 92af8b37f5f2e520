#!/usr/bin/env bash
# PostgreSQL for docker-compose (/docker-entrypoint-initdb.d/, run once, when the data volume is created): the two roles
# of docs/security.md. runsaga_owner owns the database and runs the migrations; runsaga_app is what the hosts log in as:
# no superuser, no DDL, granted rows by the migrations. The image's POSTGRES_USER stays the administrator.
set -euo pipefail
: "${POSTGRES_OWNER_PASSWORD:?set POSTGRES_OWNER_PASSWORD (see deploy/compose.env.example)}"
: "${POSTGRES_APP_PASSWORD:?set POSTGRES_APP_PASSWORD (see deploy/compose.env.example)}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v db="$POSTGRES_DB" -v owner_pw="$POSTGRES_OWNER_PASSWORD" -v app_pw="$POSTGRES_APP_PASSWORD" <<'SQL'
CREATE ROLE runsaga_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_pw';
CREATE ROLE runsaga_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_pw';
ALTER DATABASE :"db" OWNER TO runsaga_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
