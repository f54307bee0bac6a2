#!/usr/bin/env bash
# Fuzz Sluice's parsers for a bounded time: build the targets with libFuzzer's coverage
# instrumentation (stable Rust; no sanitizer, but overflow checks and debug assertions
# on), then run each over its committed corpus for $SLUICE_FUZZ_SECONDS seconds (default
# 20). New inputs go to a scratch directory, so the corpus in git changes only when
# someone copies them in. A crash or a hang fails, leaving the input in
# target/fuzz/artifacts/TARGET/.
#
#   fuzz/run.sh                 # every target
#   fuzz/run.sh cron 300        # one target, five minutes
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd .. && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/fuzz"
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 -Cdebug-assertions -Coverflow-checks"
targets=(run_config cron asset_selection workspace_yaml instance_yaml)
if [ $# -ge 1 ]; then targets=("$1"); fi
seconds="${2:-${SLUICE_FUZZ_SECONDS:-20}}"
# With an explicit --target, RUSTFLAGS reach the fuzzed code only, not build scripts and
# proc-macros (which would then need libFuzzer's symbols to link).
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --locked --bins --target "$host"
status=0
for target in "${targets[@]}"; do
    scratch=$(mktemp -d)
    artifacts="$CARGO_TARGET_DIR/artifacts/$target/"
    mkdir -p "$artifacts"
    log="$CARGO_TARGET_DIR/$target.log"
    if "$CARGO_TARGET_DIR/$host/release/$target" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts" \
        "$scratch" "corpus/$target" >"$log" 2>&1; then
        runs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
        echo "fuzz $target: ${runs:-?} executions in ${seconds}s, 0 crashes"
    else
        echo "fuzz $target: FAILED (input in $artifacts):"
        tail -30 "$log"
        status=1
    fi
    rm -rf "$scratch"
done
exit $status
