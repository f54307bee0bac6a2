#!/usr/bin/env bash
# Start the local Postgres 15 cluster and provision the role and database that the
# Sluice test suites use:
#   postgres://sluice:sluice@127.0.0.1:5432/sluice_test  (role `sluice` has CREATEDB, so
#   tests can create and drop their own databases; sluice_test has the PostGIS extension,
#   which only a superuser may create).
# Idempotent; run as root; prints nothing unless something goes wrong.
set -euo pipefail

fail() {
    echo "tests/services/postgres.sh: $*" >&2
    exit 1
}

[[ $(id -u) -eq 0 ]] || fail "must run as root (it starts the cluster and runs psql as user postgres)"
command -v pg_ctlcluster >/dev/null || fail "pg_ctlcluster not found; install Postgres 15: apt-get install -y postgresql-15"
if ! dpkg -s postgresql-15-postgis-3 >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15-postgis-3; } \
        >/dev/null 2>&1 || fail "cannot install PostGIS (postgresql-15-postgis-3)"
fi

if ! pg_ctlcluster 15 main status >/dev/null 2>&1; then
    out=$(pg_ctlcluster 15 main start 2>&1) || fail "could not start cluster 15/main: $out (see /var/log/postgresql/postgresql-15-main.log)"
fi

psql_admin() {
    runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qAt "$@"
}

ready=0
for _ in $(seq 1 100); do
    if runuser -u postgres -- pg_isready -q -h 127.0.0.1 -p 5432 && psql_admin -c 'SELECT 1' >/dev/null 2>&1; then
        ready=1
        break
    fi
    sleep 0.1
done
[[ $ready -eq 1 ]] || fail "Postgres 15/main did not accept connections on 127.0.0.1:5432 within 10 s (see /var/log/postgresql/postgresql-15-main.log)"

out=$(psql_admin 2>&1 <<'SQL'
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'sluice') THEN
        CREATE ROLE sluice LOGIN PASSWORD 'sluice' CREATEDB;
    ELSE
        ALTER ROLE sluice LOGIN PASSWORD 'sluice' CREATEDB;
    END IF;
END
$$;
SQL
) || fail "could not create role sluice: $out"

exists=$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'sluice_test'" 2>&1) \
    || fail "could not query databases: $exists"
if [[ -z $exists ]]; then
    out=$(psql_admin -c 'CREATE DATABASE sluice_test OWNER sluice' 2>&1) \
        || fail "could not create database sluice_test: $out"
fi
out=$(psql_admin -d sluice_test -c 'CREATE EXTENSION IF NOT EXISTS postgis' 2>&1) \
    || fail "could not create the PostGIS extension in sluice_test: $out"
