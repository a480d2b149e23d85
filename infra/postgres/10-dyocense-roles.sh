#!/usr/bin/env bash
# First-boot initialisation of the Dyocense database (runs once, on an empty data directory,
# from /docker-entrypoint-initdb.d as the superuser the image creates).
#
# Role model (see ARCHITECTURE.md, "Row-level security recipe"):
#   owner role   - owns the database and the schema, runs `alembic upgrade head`
#                  (user and password taken from DATABASE_OWNER_URL)
#   app role     - what the API connects as: LOGIN NOSUPERUSER NOBYPASSRLS, not the owner;
#                  the migrations grant it DML only, no access to the job queue (DATABASE_URL)
#   worker role  - what the job workers connect as: LOGIN NOSUPERUSER NOBYPASSRLS, not the
#                  owner; the only role with the job queue (from DATABASE_WORKER_URL)
#   monitor role - what postgres-exporter connects as: pg_monitor, nothing else
#                  (from DATA_SOURCE_NAME)
#
# The passwords live only in the env file (infra/env.compose), inside those URLs, so there is
# one place to change them. SQL init files cannot read the environment, hence a shell script;
# values reach SQL as psql variables (:'name' quotes them), never by string pasting.
# Use URL-safe passwords (e.g. `openssl rand -hex 32`): the URLs are not percent-decoded here.
set -euo pipefail

# parse_url URL -> prints "user password database" of postgresql[+driver]://user:password@host:port/db?opts
parse_url() {
    local url="$1" rest userinfo hostpart
    rest="${url#*://}"
    userinfo="${rest%%@*}"
    hostpart="${rest#*@}"
    local user="${userinfo%%:*}" password="${userinfo#*:}"
    local database="${hostpart#*/}"
    database="${database%%\?*}"
    if [[ -z "$user" || -z "$password" || "$password" == "$userinfo" || -z "$database" ]]; then
        echo "dyocense init: cannot parse user, password and database from a connection URL" >&2
        exit 1
    fi
    printf '%s %s %s\n' "$user" "$password" "$database"
}

: "${DATABASE_OWNER_URL:?DATABASE_OWNER_URL must be set (see infra/env.compose.example)}"
: "${DATABASE_URL:?DATABASE_URL must be set (see infra/env.compose.example)}"
: "${DATABASE_WORKER_URL:?DATABASE_WORKER_URL must be set (see infra/env.compose.example)}"
: "${DATA_SOURCE_NAME:?DATA_SOURCE_NAME must be set (see infra/env.compose.example)}"

read -r owner_user owner_password database <<<"$(parse_url "$DATABASE_OWNER_URL")"
read -r app_user app_password app_database <<<"$(parse_url "$DATABASE_URL")"
read -r worker_user worker_password worker_database <<<"$(parse_url "$DATABASE_WORKER_URL")"
read -r monitor_user monitor_password _ <<<"$(parse_url "$DATA_SOURCE_NAME")"

if [[ "$app_database" != "$database" || "$worker_database" != "$database" ]]; then
    echo "dyocense init: DATABASE_URL, DATABASE_WORKER_URL and DATABASE_OWNER_URL name different databases" >&2
    exit 1
fi
if [[ -n "${DATABASE_WORKER_ROLE:-}" && "$DATABASE_WORKER_ROLE" != "$worker_user" ]]; then
    echo "dyocense init: DATABASE_WORKER_ROLE ($DATABASE_WORKER_ROLE) is not the user of DATABASE_WORKER_URL ($worker_user)" >&2
    exit 1
fi
if [[ -n "${DATABASE_APP_ROLE:-}" && "$DATABASE_APP_ROLE" != "$app_user" ]]; then
    echo "dyocense init: DATABASE_APP_ROLE ($DATABASE_APP_ROLE) is not the user of DATABASE_URL ($app_user)" >&2
    exit 1
fi
if [[ "$app_user" == "$owner_user" ]]; then
    echo "dyocense init: the app role must not be the owner role (RLS would not apply)" >&2
    exit 1
fi
if [[ "$worker_user" == "$owner_user" || "$worker_user" == "$app_user" ]]; then
    echo "dyocense init: the worker role must be neither the owner nor the app role" >&2
    exit 1
fi

psql_super=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}")

"${psql_super[@]}" --dbname postgres \
    -v owner="$owner_user" -v owner_password="$owner_password" \
    -v app="$app_user" -v app_password="$app_password" \
    -v worker="$worker_user" -v worker_password="$worker_password" \
    -v monitor="$monitor_user" -v monitor_password="$monitor_password" \
    -v db="$database" <<'SQL'
-- Owner: owns the database and therefore (PostgreSQL 15+) its public schema; no superuser.
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD :'owner_password';
-- Application role: RLS must apply to it, so no superuser, no BYPASSRLS and not the owner.
CREATE ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD :'app_password';
-- Worker role: reads every tenant's queued jobs, so it is kept apart from the API's role.
CREATE ROLE :"worker" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD :'worker_password';
-- Monitoring role for postgres-exporter: read-only statistics views only.
CREATE ROLE :"monitor" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD :'monitor_password';
GRANT pg_monitor TO :"monitor";

CREATE DATABASE :"db" OWNER :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app", :"worker", :"monitor";
-- CONNECT only (no TEMP). Schema USAGE and the SELECT/INSERT/UPDATE/DELETE grants on
-- tables are given by the migrations, run as the owner role.
SQL

# Extensions need a superuser (timescaledb and vector are not "trusted" extensions), so they
# are created here; the migrations' `CREATE EXTENSION IF NOT EXISTS` are then no-ops.
# timescaledb is preloaded by the timescaledb-ha image (shared_preload_libraries).
"${psql_super[@]}" --dbname "$database" <<'SQL'
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE EXTENSION IF NOT EXISTS vector;
-- Nobody but the owner may create objects in the public schema.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL

echo "dyocense init: roles $owner_user (owner), $app_user (app), $worker_user (worker), $monitor_user (monitor) and database $database ready"
