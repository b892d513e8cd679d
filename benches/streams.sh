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
PORTS=${PORTS:-"26400 26499"}
# shellcheck source=benches/side_by_side.sh
source benches/side_by_side.sh
sbs_start

rss_kb() { ps -o rss= -p "$1" | tr -d ' '; }
used() { redis-cli -p "$1" INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }

# The memory of one stream of small entries.
PIPE_FILE=$(mktemp)
SBS_CLEANUP='rm -f "$PIPE_FILE"'
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

sbs_compare streams
