#!/usr/bin/env bash
# Runs every default redis-benchmark test against respd and says whether each one completed
# without an error reply: the "does respd pass redis-benchmark" check.
#
#   benches/redis-benchmark.sh            # 100000 requests per test, -P 1 and -P 16
#   REQUESTS=10000 benches/redis-benchmark.sh
#
# Environment variables (all optional):
#   REQUESTS    requests per test (redis-benchmark -n), default 100000
#   PIPELINES   pipeline depths to try (redis-benchmark -P), default "1 16"
#   PORTS       first and last port respd may listen on, default "27600 27699"
#   TIMEOUT     seconds one redis-benchmark run may take before it counts as hung, default 600
#
# It builds respd in release mode, starts it on the first free port of PORTS, and runs
# `redis-benchmark -q -n REQUESTS --csv [-P depth]` with all default tests, printing the CSV.
# redis-benchmark stops at the first error reply ("Error from server: ...", exit status 1), so
# when a run fails the script runs each test on its own (-t name) to name every test that
# errors, not just the first. It also checks that every default test appears in the CSV.
# Exit status: 0 if every test completed at every depth, 1 otherwise.
#
# This is not a throughput comparison (see `cargo bench --bench throughput` for that, which
# measures respd and Redis side by side): the figures are printed, but on a shared machine
# they only say that the tests ran.

set -u
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-100000}
PIPELINES=${PIPELINES:-"1 16"}
read -r FIRST_PORT LAST_PORT <<<"${PORTS:-27600 27699}"
TIMEOUT=${TIMEOUT:-600}

# The default tests of redis-benchmark 7.0 as the CSV names them, and the -t name of each.
# "LPUSH (needed to benchmark LRANGE)" is run by each lrange_* test to fill the list.
EXPECTED_TESTS=(PING_INLINE PING_MBULK SET GET INCR LPUSH RPUSH LPOP RPOP SADD HSET SPOP ZADD
    ZPOPMIN "LPUSH (needed to benchmark LRANGE)" "LRANGE_100 (first 100 elements)"
    "LRANGE_300 (first 300 elements)" "LRANGE_500 (first 500 elements)"
    "LRANGE_600 (first 600 elements)" "MSET (10 keys)")
T_NAMES=(ping_inline ping_mbulk set get incr lpush rpush lpop rpop sadd hset spop zadd zpopmin
    lrange_100 lrange_300 lrange_500 lrange_600 mset)

for tool in redis-benchmark redis-cli cargo; do
    command -v "$tool" >/dev/null || { echo "$tool is not on PATH" >&2; exit 2; }
done

cargo build --release --quiet || exit 2

# A port nobody listens on (bash's /dev/tcp connect fails) is taken to be free.
port=""
for ((p = FIRST_PORT; p <= LAST_PORT; p++)); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        port=$p
        break
    fi
done
[ -n "$port" ] || { echo "no free port in $FIRST_PORT-$LAST_PORT" >&2; exit 2; }

./target/release/respd --port "$port" >/dev/null 2>&1 &
respd_pid=$!
# Stop exactly the respd started here, however the script ends.
trap 'kill "$respd_pid" 2>/dev/null; wait "$respd_pid" 2>/dev/null' EXIT
for _ in $(seq 50); do
    [ "$(redis-cli -p "$port" PING 2>/dev/null)" = "PONG" ] && break
    sleep 0.1
done
[ "$(redis-cli -p "$port" PING 2>/dev/null)" = "PONG" ] || { echo "respd did not start" >&2; exit 2; }

echo "# redis-benchmark $(redis-benchmark --version | awk '{print $2}') against respd" \
    "$(git rev-parse --short HEAD 2>/dev/null) (release) on 127.0.0.1:$port," \
    "-n $REQUESTS, depths $PIPELINES"

failures=0
failed_runs=0
errfile=$(mktemp)
trap 'kill "$respd_pid" 2>/dev/null; wait "$respd_pid" 2>/dev/null; rm -f "$errfile"' EXIT

for depth in $PIPELINES; do
    echo
    echo "\$ redis-benchmark -q -n $REQUESTS --csv -P $depth"
    csv=$(timeout "$TIMEOUT" redis-benchmark -p "$port" -q -n "$REQUESTS" --csv -P "$depth" 2>"$errfile")
    status=$?
    echo "$csv"
    # Warnings (e.g. CONFIG GET failing) go to stderr without failing the run: show them.
    grep -v '^Error from server' "$errfile" | sed 's/^/# stderr: /'

    run_ok=1
    [ "$status" -eq 0 ] || run_ok=0
    grep -q '^Error from server' "$errfile" && run_ok=0
    for t in "${EXPECTED_TESTS[@]}"; do
        grep -qF "\"$t\"," <<<"$csv" || { run_ok=0; echo "# missing from the output: $t"; }
    done
    if [ "$run_ok" -eq 1 ]; then
        echo "# -P $depth: all ${#EXPECTED_TESTS[@]} default tests completed without errors"
        continue
    fi

    failed_runs=$((failed_runs + 1))
    echo "# -P $depth: the run failed (exit status $status): running each test on its own"
    for name in "${T_NAMES[@]}"; do
        timeout "$TIMEOUT" redis-benchmark -p "$port" -q -n "$REQUESTS" --csv -P "$depth" \
            -t "$name" >/dev/null 2>"$errfile"
        status=$?
        if [ "$status" -ne 0 ] || grep -q '^Error from server' "$errfile"; then
            failures=$((failures + 1))
            if [ "$status" -eq 124 ]; then
                why="no reply within ${TIMEOUT}s"
            else
                why=$(grep -m1 . "$errfile" || echo "exit status $status")
            fi
            echo "# FAILED -P $depth $name: $why"
        fi
    done
done

echo
if [ "$failures" -eq 0 ] && [ "$failed_runs" -eq 0 ]; then
    echo "# result: every default redis-benchmark test completed without errors"
    exit 0
fi
echo "# result: $failed_runs of the full runs failed; $failures test(s) failed on their own"
exit 1
