#!/bin/sh
# Run once by the postgres image when it creates its data directory (mounted into
# /docker-entrypoint-initdb.d/ by docker-compose.yml): the service's own role, no superuser
# (the image's POSTGRES_USER is one, so that is the operator's, postgres), owning its
# database, which no other role may connect to. docs/security.md; the same as
# deploy/create_databases.py does for manage_all.sh.
set -eu
: "${SERVICE_DB_ROLE:?set SERVICE_DB_ROLE}" "${SERVICE_DB_PASSWORD:?set SERVICE_DB_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
     -v role="$SERVICE_DB_ROLE" -v password="$SERVICE_DB_PASSWORD" <<'SQL'
CREATE ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
# Orders' database only (SERVICE_NOTIFY_PASSWORD set): the gateway's role for LISTEN (live
# order status), which may connect and nothing else, as create_databases.py --connect-only.
if [ -n "${SERVICE_NOTIFY_PASSWORD:-}" ]; then
  psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
       -v role="$SERVICE_DB_ROLE" -v notify="${SERVICE_DB_ROLE}_notify" \
       -v password="$SERVICE_NOTIFY_PASSWORD" <<'SQL'
CREATE ROLE :"notify" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'password';
GRANT CONNECT ON DATABASE :"role" TO :"notify";
SQL
fi
