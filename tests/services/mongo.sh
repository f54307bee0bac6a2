#!/usr/bin/env bash
# Start a local MongoDB-compatible server (SecantusDB) for the tests, on a free loopback
# port, keeping its data in memory.
#
#   tests/services/mongo.sh VENV PIDFILE
#
# Installs `SecantusDB` into the Python venv VENV if it is not there (idempotent), starts
# `secantusd-py`, waits until it accepts connections, writes its PID to PIDFILE and
# prints its URI (mongodb://127.0.0.1:PORT/). The caller stops it: kill "$(cat PIDFILE)".
set -euo pipefail

fail() {
    echo "tests/services/mongo.sh: $*" >&2
    exit 1
}

venv=${1:?usage: tests/services/mongo.sh VENV PIDFILE}
pidfile=${2:?usage: tests/services/mongo.sh VENV PIDFILE}
[[ -x "$venv/bin/python" ]] || fail "no Python venv at $venv"

if [[ ! -x "$venv/bin/secantusd-py" ]]; then
    "$venv/bin/python" -m pip install -q SecantusDB >&2 || fail "cannot install SecantusDB from PyPI"
fi

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="${pidfile%.pid}.log"
"$venv/bin/secantusd-py" --host 127.0.0.1 --port "$port" --storage-path :memory: --log-level WARNING >"$log" 2>&1 &
echo $! >"$pidfile"

for _ in $(seq 1 150); do
    if "$venv/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2).close()" 2>/dev/null; then
        echo "mongodb://127.0.0.1:$port/"
        exit 0
    fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || fail "secantusd-py exited: $(tail -5 "$log")"
    sleep 0.1
done
fail "secantusd-py did not accept connections on port $port within 15 s: $(tail -5 "$log")"
