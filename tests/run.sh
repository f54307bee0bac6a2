#!/usr/bin/env bash
# The whole Sluice test suite, from a fresh machine: installs and starts what the tests
# need (idempotently), builds the binaries the end-to-end tests drive, and runs every test.
#
#   tests/run.sh            # everything
#   tests/run.sh -p sluice-core   # extra arguments go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# Debian packages the tests need (Postgres 15 is on the image, but say so if it is not).
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing PostgreSQL 15"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
fi

# The graph database engine (LadybugDB, C++, for the `ladybug` feature): a per-machine
# cache, seeded in seconds from the prebuilt archive in shared/cache/ when it is there and
# its checksum matches, otherwise built from source (about 50 minutes). Its compiler is installed now
# (apt must not run twice at once); the build starts in the background at low priority
# beside the rest of the suite, and its tests run last. Only a full run (no arguments)
# waits for it; the EXIT trap stops whatever is still running.
mkdir -p "${CARGO_TARGET_DIR:-target}/services"
moto_pid="${CARGO_TARGET_DIR:-target}/services/moto.pid"
mongo_pid="${CARGO_TARGET_DIR:-target}/services/mongo.pid"
rm -f "$moto_pid" "$mongo_pid"
lbug_out="${CARGO_TARGET_DIR:-target}/services/ladybug.out"
lbug_log="${CARGO_TARGET_DIR:-target}/services/ladybug.log"
log "preparing the graph database engine (LadybugDB): compiler and sources"
bash tests/services/ladybug.sh --prepare
setsid nice -n 19 bash tests/services/ladybug.sh >"$lbug_out" 2>"$lbug_log" </dev/null &
lbug_pid=$!
trap 'kill "$(cat "$moto_pid" 2>/dev/null)" "$(cat "$mongo_pid" 2>/dev/null)" 2>/dev/null; kill -- -"$lbug_pid" 2>/dev/null || true' EXIT

log "starting Postgres and provisioning the test role"
bash tests/services/postgres.sh
export SLUICE_TEST_POSTGRES_URL="${SLUICE_TEST_POSTGRES_URL:-postgres://sluice:sluice@127.0.0.1:5432/sluice_test}"

# Databases that earlier, interrupted test runs left behind.
stale=$(runuser -u postgres -- psql -qAt -c \
    "SELECT datname FROM pg_database WHERE datname LIKE 'sluice\_e2e\_%' OR datname LIKE 'sluice\_t\_%'" || true)
for db in $stale; do
    runuser -u postgres -- psql -qAt -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null || true
done

log "validating the compose file"
if ! command -v docker-compose >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
fi
docker-compose -f docker/compose.yaml config --quiet

log "installing headless Chromium and chromedriver (the web UI's browser tests)"
bash tests/services/chromium.sh

log "installing Dagster's Python GraphQL client (the compatibility oracle)"
venv="${CARGO_TARGET_DIR:-target}/py-venv"
if [ ! -x "$venv/bin/python" ]; then
    if ! python3 -m venv "$venv" 2>/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        rm -rf "$venv"
        python3 -m venv "$venv"
    fi
fi
if ! "$venv/bin/python" -c "import dagster_graphql" 2>/dev/null; then
    "$venv/bin/python" -m pip install -q dagster-graphql
fi
# GeoPandas reads the PostGIS resource's GeoParquet exports back.
if ! "$venv/bin/python" -c "import geopandas, pyarrow" 2>/dev/null; then
    "$venv/bin/python" -m pip install -q geopandas pyarrow
fi
SLUICE_TEST_PYTHON="$(cd "$venv/bin" && pwd)/python"
export SLUICE_TEST_PYTHON

log "starting a local S3 server (moto)"
# object_store's S3 support builds a C crypto library with cmake.
if ! command -v cmake >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake >/dev/null
fi
SLUICE_TEST_S3_ENDPOINT=$(bash tests/services/s3.sh "$venv" "$moto_pid")
export SLUICE_TEST_S3_ENDPOINT

log "starting a local MongoDB-compatible server (SecantusDB)"
SLUICE_TEST_MONGO_URI=$(bash tests/services/mongo.sh "$venv" "$mongo_pid")
export SLUICE_TEST_MONGO_URI

log "building the binaries"
cargo build --workspace --bins

log "running the tests"
cargo test --workspace "$@"

if (($#)); then
    log "skipping the graph database tests (arguments were given; run tests/run.sh alone for them)"
    exit 0
fi
log "waiting for the graph database engine"
if ! wait "$lbug_pid"; then
    cat "$lbug_log" >&2
    echo "tests/run.sh: the LadybugDB build failed (log above)" >&2
    exit 1
fi
LBUG_CACHE=$(tail -1 "$lbug_out")
# shellcheck source=tests/services/ladybug.env
. tests/services/ladybug.env
log "running the graph database tests (sluice-resources, feature ladybug; engine in $LBUG_CACHE)"
cargo test -p sluice-resources --features ladybug --test graph

log "fuzzing the parsers for a bounded time (fuzz/run.sh; \$SLUICE_FUZZ_SECONDS per target)"
bash fuzz/run.sh
