#!/bin/bash
# Run once by the postgres image when it creates its data directory (/docker-entrypoint-initdb.d):
# the least-privileged role the gateway and the workers connect as. It owns the facegate
# database and its public schema (the migrations create tables and indexes there) and nothing
# else: not a superuser, cannot create roles or databases. The superuser makes the vector
# extension here, which a plain role may not.
set -e  # sourced, not run, by some entrypoints: no -u or pipefail for theirs
password=$(cat "${FACEGATE_DATABASE_PASSWORD_FILE:?FACEGATE_DATABASE_PASSWORD_FILE is not set}")
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-facegate}" \
  -v password="$password" <<'SQL'
CREATE ROLE facegate LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
CREATE EXTENSION IF NOT EXISTS vector;
ALTER DATABASE facegate OWNER TO facegate;
ALTER SCHEMA public OWNER TO facegate;
SQL
