#!/usr/bin/env bash
# Side-by-side redis-benchmark throughput of respd and a real redis-server, as ratios.
#
#   benches/compare.sh                       # SET GET INCR, 50 clients, -P 1 and -P 16
#   TESTS="set,get,incr,lpush,zadd" ROUNDS=7 benches/compare.sh
#
# Environment variables (all optional):
#   TESTS      redis-benchmark -t list, in the order given, default "set,get,incr" (SET first,
#              so that GET finds the keys it asks for, as in redis-benchmark's own suite)
#   PIPELINES  depths, default "1 16"
#   CLIENTS    redis-benchmark -c, default 50
#   REQUESTS   requests per run at depth 1 (x8 at deeper pipelines), default 50000
#   ROUNDS     rounds per server; the servers alternate R T T R R T ..., default 5
#   REDIS_SERVER  the redis-server binary, default: the one on PATH
#
# Both servers run on free loopback ports with persistence off. For each test and depth the
# script prints each server's median requests/s and the ratio respd/redis (above 1: respd is
# faster), then the geometric mean of the ratios. Absolute figures on a shared machine move by
# tens of percent between minutes; alternating rounds make the ratios much steadier, but
# compare ratios only from the same run. Keys are random (-r 100000), like redis-benchmark's
# own suite.

set -u
cd "$(dirname "$0")/.."
TESTS=${TESTS:-set,get,incr}
PIPELINES=${PIPELINES:-"1 16"}
CLIENTS=${CLIENTS:-50}
REQUESTS=${REQUESTS:-50000}
ROUNDS=${ROUNDS:-5}
REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || true)}

command -v redis-benchmark >/dev/null || { echo "redis-benchmark not found (apt-get install redis-tools)"; exit 2; }
[ -n "$REDIS_SERVER" ] || { echo "redis-server not found (apt-get install redis-server)"; exit 2; }
cargo build --release --quiet || exit 2

free_port() {
    local p
    for p in $(seq "$1" "$2"); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    return 1
}
RESPD_PORT=$(free_port 26100 26199) && REDIS_PORT=$(free_port 26200 26299) || { echo "no free port"; exit 2; }
./target/release/respd --port "$RESPD_PORT" --save "" --loglevel warning >/dev/null 2>&1 &
RESPD_PID=$!
"$REDIS_SERVER" --port "$REDIS_PORT" --save '' --appendonly no --loglevel warning >/dev/null 2>&1 &
REDIS_PID=$!
trap 'kill $RESPD_PID $REDIS_PID 2>/dev/null; wait 2>/dev/null' EXIT
for port in "$RESPD_PORT" "$REDIS_PORT"; do
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$port" ping >/dev/null 2>&1 || { echo "the server on port $port did not start"; exit 2; }
done

# One redis-benchmark run; prints requests/s, or 0 if it failed.
run() { # port test depth
    local n=$REQUESTS
    [ "$3" -gt 1 ] && n=$((REQUESTS * 8))
    timeout 120 redis-benchmark -p "$1" -q --csv -c "$CLIENTS" -r 100000 -n "$n" -P "$3" -t "$2" 2>/dev/null |
        awk -F'"' 'NR > 1 { print $4; found = 1 } END { if (!found) print 0 }' | head -1
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "# respd vs redis-server $("$REDIS_SERVER" --version | awk '{print $3}'), $CLIENTS clients, $ROUNDS rounds each, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %5s %12s %12s %7s\n' test depth respd redis ratio
LOG_SUM=0; COUNT=0
for depth in $PIPELINES; do
    for test in ${TESTS//,/ }; do
        r=(); t=()
        for round in $(seq "$ROUNDS"); do
            if [ $((round % 2)) -eq 1 ]; then
                r+=("$(run "$REDIS_PORT" "$test" "$depth")"); t+=("$(run "$RESPD_PORT" "$test" "$depth")")
            else
                t+=("$(run "$RESPD_PORT" "$test" "$depth")"); r+=("$(run "$REDIS_PORT" "$test" "$depth")")
            fi
        done
        mt=$(printf '%s\n' "${t[@]}" | median); mr=$(printf '%s\n' "${r[@]}" | median)
        ratio=$(awk -v a="$mt" -v b="$mr" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')
        printf '%-8s %5s %12.0f %12.0f %7s\n' "$test" "$depth" "$mt" "$mr" "$ratio"
        LOG_SUM=$(awk -v s="$LOG_SUM" -v x="$ratio" 'BEGIN { print s + ((x > 0) ? log(x) : log(0.01)) }')
        COUNT=$((COUNT + 1))
    done
done
awk -v s="$LOG_SUM" -v n="$COUNT" 'BEGIN { printf "geometric mean respd/redis: %.3f\n", exp(s / n) }'
