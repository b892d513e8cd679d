#!/usr/bin/env bash
# Side-by-side redis-benchmark throughput of respd and a real redis-server on the HyperLogLog
# commands, as ratios (the pattern of benches/compare.sh, with custom commands).
#
#   benches/hyperloglog.sh                   # every scenario below, -P 1 and -P 16
#   PIPELINES=16 ROUNDS=7 benches/hyperloglog.sh
#
# Scenarios, in this order (SET is the baseline: the same run's ratio for a plain command):
#   set            SET k:__rand_int__ v
#   pfadd-dense    PFADD hll __rand_int__          one key, dense after ~1,500 elements
#   pfadd-sparse   PFADD s:__rand_int__ a b c      100,000 small sparse keys
#   pfcount        PFCOUNT hll                     the cached cardinality, mostly
#   pfcount-3      PFCOUNT hll h2 h3               a union of three dense keys, computed each time
#   pfmerge        PFMERGE dst hll h2              three dense keys merged
#
# Environment variables (all optional):
#   PIPELINES  depths, default "1 16"
#   CLIENTS    redis-benchmark -c, default 50
#   REQUESTS   requests per run at depth 1 (x8 at deeper pipelines), default 50000
#   ROUNDS     rounds per server; the servers alternate R T T R R T ..., default 5
#   ONLY       a regular expression: run only the scenarios whose name matches
#   REDIS_SERVER  the redis-server binary, default: the one on PATH
#   PORTS      "LO HI", the loopback ports to take the two servers' ports from, default
#              "26300 26399"
#
# Both servers run on free loopback ports with persistence off. For each scenario and depth
# the script prints each server's median requests/s and the ratio respd/redis (above 1:
# respd is faster), then the geometric mean of the ratios. Compare ratios only within a run.

set -u
cd "$(dirname "$0")/.."
PIPELINES=${PIPELINES:-"1 16"}
CLIENTS=${CLIENTS:-50}
REQUESTS=${REQUESTS:-50000}
ROUNDS=${ROUNDS:-5}
ONLY=${ONLY:-.}
PORTS=${PORTS:-"26300 26399"}
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
read -r LO HI <<<"$PORTS"
RESPD_PORT=$(free_port "$LO" "$HI") || { echo "no free port"; exit 2; }
REDIS_PORT=$(free_port $((RESPD_PORT + 1)) "$HI") || { echo "no free port"; exit 2; }
./target/release/respd --port "$RESPD_PORT" --save "" --loglevel warning >/dev/null 2>&1 &
RESPD_PID=$!
"$REDIS_SERVER" --port "$REDIS_PORT" --save '' --appendonly no --loglevel warning >/dev/null 2>&1 &
REDIS_PID=$!
trap 'kill $RESPD_PID $REDIS_PID 2>/dev/null; wait 2>/dev/null' EXIT
trap 'exit 130' INT TERM
for port in "$RESPD_PORT" "$REDIS_PORT"; do
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$port" ping >/dev/null 2>&1 || { echo "the server on port $port did not start"; exit 2; }
done

# The keys the reading scenarios use: three dense HyperLogLogs of 20,000 elements each.
for port in "$RESPD_PORT" "$REDIS_PORT"; do
    for key in hll h2 h3; do
        seq 20000 | sed "s/^/$key-/" | xargs -n 2000 redis-cli -p "$port" PFADD "$key" >/dev/null
    done
done

# The same bytes on both, or the benchmark would compare two different workloads.
for key in hll h2 h3; do
    a=$(redis-cli -p "$RESPD_PORT" GET "$key" | md5sum); b=$(redis-cli -p "$REDIS_PORT" GET "$key" | md5sum)
    [ "$a" = "$b" ] || { echo "$key differs between respd and redis"; exit 1; }
done

# name|requests divisor|command: the union and the merge cost ~100 µs each, so they get a
# twentieth of the requests.
SCENARIOS=(
    "set|1|SET k:__rand_int__ v"
    "pfadd-dense|1|PFADD hll __rand_int__"
    "pfadd-sparse|1|PFADD s:__rand_int__ a b c"
    "pfcount|1|PFCOUNT hll"
    "pfcount-3|20|PFCOUNT hll h2 h3"
    "pfmerge|20|PFMERGE dst hll h2"
)

# One redis-benchmark run; prints requests/s, or 0 if it failed.
run() { # port depth divisor command...
    local port=$1 depth=$2 n=$((REQUESTS / $3))
    shift 3
    [ "$depth" -gt 1 ] && n=$((n * 8))
    # shellcheck disable=SC2068
    timeout 120 redis-benchmark -p "$port" -q --csv -c "$CLIENTS" -r 100000 -n "$n" -P "$depth" $@ 2>/dev/null |
        awk -F'"' 'NR > 1 { print $4; found = 1 } END { if (!found) print 0 }' | head -1
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "# respd vs redis-server $("$REDIS_SERVER" --version | awk '{print $3}'), HyperLogLog, $CLIENTS clients, $ROUNDS rounds each, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-13s %5s %12s %12s %7s\n' scenario depth respd redis ratio
LOG_SUM=0; COUNT=0
for depth in $PIPELINES; do
    for scenario in "${SCENARIOS[@]}"; do
        IFS='|' read -r name div cmd <<<"$scenario"
        [[ $name =~ $ONLY ]] || continue
        r=(); t=()
        for round in $(seq "$ROUNDS"); do
            if [ $((round % 2)) -eq 1 ]; then
                r+=("$(run "$REDIS_PORT" "$depth" "$div" $cmd)"); t+=("$(run "$RESPD_PORT" "$depth" "$div" $cmd)")
            else
                t+=("$(run "$RESPD_PORT" "$depth" "$div" $cmd)"); r+=("$(run "$REDIS_PORT" "$depth" "$div" $cmd)")
            fi
        done
        mt=$(printf '%s\n' "${t[@]}" | median); mr=$(printf '%s\n' "${r[@]}" | median)
        ratio=$(awk -v a="$mt" -v b="$mr" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')
        printf '%-13s %5s %12.0f %12.0f %7s\n' "$name" "$depth" "$mt" "$mr" "$ratio"
        LOG_SUM=$(awk -v s="$LOG_SUM" -v x="$ratio" 'BEGIN { print s + ((x > 0) ? log(x) : log(0.01)) }')
        COUNT=$((COUNT + 1))
    done
done
[ "$COUNT" -gt 0 ] && awk -v s="$LOG_SUM" -v n="$COUNT" 'BEGIN { printf "geometric mean respd/redis: %.3f\n", exp(s / n) }'
