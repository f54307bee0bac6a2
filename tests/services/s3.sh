#!/usr/bin/env bash
# Start a local S3-compatible server (moto) for the tests, on a free loopback port.
#
#   tests/services/s3.sh VENV PIDFILE
#
# Installs `moto[server]` into the Python venv VENV if it is not there (idempotent),
# starts `moto_server`, waits until it answers, writes its PID to PIDFILE and prints
# its endpoint (http://127.0.0.1:PORT). The caller stops it: kill "$(cat PIDFILE)".
set -euo pipefail

fail() {
    echo "tests/services/s3.sh: $*" >&2
    exit 1
}

venv=${1:?usage: tests/services/s3.sh VENV PIDFILE}
pidfile=${2:?usage: tests/services/s3.sh VENV PIDFILE}
[[ -x "$venv/bin/python" ]] || fail "no Python venv at $venv"

if [[ ! -x "$venv/bin/moto_server" ]]; then
    "$venv/bin/python" -m pip install -q 'moto[server]' >&2 || fail "cannot install moto[server] from PyPI"
fi

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="${pidfile%.pid}.log"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
echo $! >"$pidfile"

for _ in $(seq 1 100); do
    if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null; then
        echo "http://127.0.0.1:$port"
        exit 0
    fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || fail "moto_server exited: $(tail -5 "$log")"
    sleep 0.1
done
fail "moto_server did not answer on port $port within 10 s: $(tail -5 "$log")"
