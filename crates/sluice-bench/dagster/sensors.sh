#!/bin/bash
# Dagster's daemon evaluating COUNT trivial sensors (sensors_defs.py, 30 s interval) for
# DURATION seconds: the RSS and CPU of its process group (daemon and code server) every
# 30 s, then the gaps between each sensor's ticks. Run by `sluice-bench sensors --dagster`.
# Usage: sensors.sh COUNT DURATION_S
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
V=${DAGSTER_VENV:-$HOME/.cache/sluice-ref/dagster-venv}
if [ ! -x "$V/bin/dagster-daemon" ]; then
  echo "Dagster is not installed at $V; run ../shared/reference/dagster/setup.sh" >&2
  exit 2
fi
N=${1:-1000}
D=${2:-150}
export DAGSTER_HOME
DAGSTER_HOME=$(mktemp -d)
trap 'rm -rf "$DAGSTER_HOME"' EXIT
export SENSOR_COUNT=$N
printf 'telemetry:\n  enabled: false\n' > "$DAGSTER_HOME/dagster.yaml"
cd "$HERE"
setsid "$V/bin/dagster-daemon" run -f sensors_defs.py > "$DAGSTER_HOME/daemon.log" 2>&1 &
PID=$!
START=$(date +%s)
HZ=$(getconf CLK_TCK)
prev_cpu=0
prev_t=$START
echo "# Dagster daemon, $N sensors, minimum_interval 30 s, ${D} s (dagster-daemon and its code server)"
while [ $(($(date +%s) - START)) -lt "$D" ]; do
  sleep 30
  now=$(date +%s)
  rss=0
  cpu=0
  for p in $(pgrep -g $PID); do
    r=$(awk '/^Rss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null)
    c=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null)
    rss=$((rss + ${r:-0}))
    cpu=$((cpu + ${c:-0}))
  done
  share=$(awk -v c=$((cpu - prev_cpu)) -v hz="$HZ" -v t=$((now - prev_t)) 'BEGIN {printf "%.1f", c / hz / t * 100}')
  printf '%5ss  %6s MB  %19s %%\n' $((now - START)) $((rss / 1024)) "$share"
  prev_cpu=$cpu
  prev_t=$now
done
kill -TERM -$PID
sleep 3
kill -KILL -$PID 2>/dev/null
"$V/bin/python" - "$DAGSTER_HOME/schedules/schedules.db" "$N" <<'PY'
import collections, datetime, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("select selector_id, timestamp from job_ticks").fetchall()
def seconds(v):
    return float(v) if isinstance(v, (int, float)) else datetime.datetime.fromisoformat(v).timestamp()
by = collections.defaultdict(list)
for selector, t in rows:
    by[selector].append(seconds(t))
gaps = sorted(b - a for ts in by.values() for a, b in zip(sorted(ts), sorted(ts)[1:]))
pct = lambda p: gaps[int((len(gaps) - 1) * p)] if gaps else 0.0
print(f"evaluations: {len(rows)} ticks for {len(by)} of {sys.argv[2]} sensors; gap between a sensor's "
      f"evaluations: median {pct(.5):.2f} s, p99 {pct(.99):.2f} s, max {pct(1):.2f} s; "
      f"{sum(g > 31 for g in gaps)} of {len(gaps)} gaps over 31 s")
PY
