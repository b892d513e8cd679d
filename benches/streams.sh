#!/usr/bin/env bash
# Streams, respd next to a real redis-server: the memory a stream of 1,000,000 small entries
# takes, then side-by-side redis-benchmark throughput as ratios (the pattern of
# benches/compare.sh, with custom commands).
#
#   benches/streams.sh                    # memory, then every scenario, -P 1 and -P 16
#   ENTRIES=200000 ROUNDS=3 benches/streams.sh
#
# Memory: both servers get the same 1,000,000 `XADD mem * field1 value field2 valu2` through
# redis-cli --pipe; the script prints bytes per entry by used_memory and by RSS (the
# process's resident memory before and after), and the ratio respd/redis (below 1: respd is
# smaller).
#
# Scenarios, in this order (SET is the baseline: the same run's ratio for a plain command):
#   set      SET k:__rand_int__ v
#   xadd     XADD s * f v                     appends to one stream
#   xrange   XRANGE r - + COUNT 100           100 entries of a 10,000-entry stream
#   xrevrange XREVRANGE r + - COUNT 100
#   xlen     XLEN r
#
# Environment variables (all optional):
#   ENTRIES    entries of the memory stream, default 1000000
#   PIPELINES  depths, default "1 16"
#   CLIENTS    redis-benchmark -c, default 50
#   REQUESTS   requests per run at depth 1 (x8 at deeper pipelines), default 50000
#   ROUNDS     rounds per server; the servers alternate R T T R R T ..., default 5
#   ONLY       a regular expression: run only the scenarios whose name matches
#   REDIS_SERVER  the redis-server binary, default: the one on PATH
#   PORTS      "LO HI", the loopback ports to take the two servers' ports from, default
#              "26400 26499"
#
# Both servers run on free loopback ports with persistence off. For each scenario and depth
# the script prints each server's median requests/s and the ratio respd/redis (above 1:
# respd is faster), then the geometric mean of the ratios. Compare ratios only within a run.

set -u
set -f  # XADD s * f v: the star is an argument, not a glob
cd "$(dirname "$0")/.."
ENTRIES=${ENTRIES:-1000000}
PIPELINES=${PIPELINES:-"1 16"}
CLIENTS=${CLIENTS:-50}
REQUESTS=${REQUESTS:-50000}
ROUNDS=${ROUNDS:-5}
ONLY=${ONLY:-.}
PORTS=${PORTS:-"26400 26499"}
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

rss_kb() { ps -o rss= -p "$1" | tr -d ' '; }
used() { redis-cli -p "$1" INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }

# The memory of one stream of small entries.
PIPE_FILE=$(mktemp)
trap 'kill $RESPD_PID $REDIS_PID 2>/dev/null; wait 2>/dev/null; rm -f "$PIPE_FILE"' EXIT
awk -v n="$ENTRIES" 'BEGIN { for (i = 0; i < n; i++) printf "*7\r\n$4\r\nXADD\r\n$3\r\nmem\r\n$1\r\n*\r\n$6\r\nfield1\r\n$5\r\nvalue\r\n$6\r\nfield2\r\n$5\r\nvalu2\r\n" }' >"$PIPE_FILE"
echo "# memory of $ENTRIES entries (two small fields each), bytes per entry"
printf '%-8s %12s %12s\n' server used_memory rss
declare -A PER_USED PER_RSS
for pair in "respd $RESPD_PORT $RESPD_PID" "redis $REDIS_PORT $REDIS_PID"; do
    read -r name port pid <<<"$pair"
    u0=$(used "$port"); r0=$(rss_kb "$pid")
    redis-cli -p "$port" --pipe <"$PIPE_FILE" >/dev/null
    u1=$(used "$port"); r1=$(rss_kb "$pid")
    PER_USED[$name]=$(awk -v a="$u0" -v b="$u1" -v n="$ENTRIES" 'BEGIN { printf "%.1f", (b - a) / n }')
    PER_RSS[$name]=$(awk -v a="$r0" -v b="$r1" -v n="$ENTRIES" 'BEGIN { printf "%.1f", (b - a) * 1024 / n }')
    printf '%-8s %12s %12s\n' "$name" "${PER_USED[$name]}" "${PER_RSS[$name]}"
    redis-cli -p "$port" DEL mem >/dev/null
done
awk -v a="${PER_RSS[respd]}" -v b="${PER_RSS[redis]}" 'BEGIN { printf "rss ratio respd/redis: %.2f\n", (b > 0) ? a / b : 0 }'

# The stream the reading scenarios use: 10,000 entries.
for port in "$RESPD_PORT" "$REDIS_PORT"; do
    awk 'BEGIN { for (i = 1; i <= 10000; i++) printf "XADD r %d-1 f v%d\n", i, i }' | redis-cli -p "$port" >/dev/null
done
a=$(redis-cli -p "$RESPD_PORT" XRANGE r - + | md5sum); b=$(redis-cli -p "$REDIS_PORT" XRANGE r - + | md5sum)
[ "$a" = "$b" ] || { echo "stream r differs between respd and redis"; exit 1; }

SCENARIOS=(
    "set|1|SET k:__rand_int__ v"
    "xadd|1|XADD s * f v"
    "xrange|4|XRANGE r - + COUNT 100"
    "xrevrange|4|XREVRANGE r + - COUNT 100"
    "xlen|1|XLEN r"
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

echo "# respd vs redis-server $("$REDIS_SERVER" --version | awk '{print $3}'), streams, $CLIENTS clients, $ROUNDS rounds each, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
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
