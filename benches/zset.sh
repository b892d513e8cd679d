#!/usr/bin/env bash
# Sorted sets of 100,000 members, respd next to a real redis-server: side-by-side
# redis-benchmark throughput as ratios (the pattern of benches/compare.sh), with one client and
# with fifty, so that what a command costs and what the keyspace lock costs show apart.
#
#   benches/zset.sh                        # every scenario, 1 and 50 clients, -P 16
#   ROUNDS=3 CLIENT_COUNTS=50 benches/zset.sh
#
# Both servers first get the same sorted set `big` of MEMBERS members (`ZADD big <i>
# element:<i, 12 digits>` through redis-cli --pipe), the shape redis-benchmark's own ZADD test
# reaches with -r 100000. A skiplist that size is larger than a core's cache: every search
# step is a likely cache miss, which is where a node layout or an extra lookup shows.
#
# Scenarios, in this order (SET is the baseline: the same run's ratio for a plain command):
#   set      SET k:__rand_int__ v
#   zadd     ZADD big __rand_int__ element:__rand_int__   (redis-benchmark's ZADD, on `big`)
#   zscore   ZSCORE big element:__rand_int__                (the dict alone)
#   zrank    ZRANK big element:__rand_int__                 (dict, then one skiplist search)
#   zincrby  ZINCRBY big 1 element:__rand_int__             (a score update: the node moves)
#
# respd runs each command under one keyspace lock taken per command; with many clients on few
# cores the lock and the set's cache lines change cores between commands, which one client
# never pays. The "c50/c1" lines compare each server's 50-client figure with its own
# 1-client one: a respd figure well under Redis's there is the lock's cost, not the command's.
#
# Environment variables (all optional):
#   MEMBERS        members of `big`, default 100000
#   CLIENT_COUNTS  redis-benchmark -c values, default "1 50"
#   PIPELINES      depths, default "16"
#   REQUESTS       requests per run, default 200000
#   ROUNDS         rounds per server; the servers alternate R T T R R T ..., default 5
#   ONLY           a regular expression: run only the scenarios whose name matches
#   REDIS_SERVER   the redis-server binary, default: the one on PATH
#   PORTS          "LO HI", the loopback ports to take the two servers' ports from, default
#                  "26500 26599"
#
# Both servers run on free loopback ports with persistence off (benches/side_by_side.sh). For each scenario, client
# count and depth the script prints each server's median requests/s and the ratio respd/redis
# (above 1: respd is faster), then the geometric mean of the ratios. Compare ratios only
# within a run.

set -u
cd "$(dirname "$0")/.."
MEMBERS=${MEMBERS:-100000}
CLIENT_COUNTS=${CLIENT_COUNTS:-"1 50"}
PIPELINES=${PIPELINES:-"16"}
REQUESTS=${REQUESTS:-200000}
ROUNDS=${ROUNDS:-5}
ONLY=${ONLY:-.}
PORTS=${PORTS:-"26500 26599"}
# shellcheck source=benches/side_by_side.sh
source benches/side_by_side.sh
sbs_start

# The same large sorted set in both.
for port in "$RESPD_PORT" "$REDIS_PORT"; do
    awk -v n="$MEMBERS" 'BEGIN { for (i = 0; i < n; i++) { m = sprintf("element:%012d", i); s = sprintf("%d", i); printf "*4\r\n$4\r\nZADD\r\n$3\r\nbig\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(s), s, length(m), m } }' |
        redis-cli -p "$port" --pipe >/dev/null
done
a=$(redis-cli -p "$RESPD_PORT" ZRANGE big 0 -1 WITHSCORES | md5sum); b=$(redis-cli -p "$REDIS_PORT" ZRANGE big 0 -1 WITHSCORES | md5sum)
[ "$a" = "$b" ] || { echo "sorted set big differs between respd and redis"; exit 1; }

SCENARIOS=(
    "set|SET k:__rand_int__ v"
    "zadd|ZADD big __rand_int__ element:__rand_int__"
    "zscore|ZSCORE big element:__rand_int__"
    "zrank|ZRANK big element:__rand_int__"
    "zincrby|ZINCRBY big 1 element:__rand_int__"
)

# One redis-benchmark run; prints requests/s, or 0 if it failed.
run() { # port clients depth command...
    local port=$1 clients=$2 depth=$3
    shift 3
    # shellcheck disable=SC2068
    timeout 120 redis-benchmark -p "$port" -q --csv -c "$clients" -r "$MEMBERS" -n "$REQUESTS" -P "$depth" $@ 2>/dev/null |
        awk -F'"' 'NR > 1 { print $4; found = 1 } END { if (!found) print 0 }' | head -1
}

echo "# respd vs redis-server $("$REDIS_SERVER" --version | awk '{print $3}'), sorted set of $MEMBERS members, $ROUNDS rounds each, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-9s %7s %5s %12s %12s %7s\n' scenario clients depth respd redis ratio
LOG_SUM=0; COUNT=0
declare -A RESPD_RPS REDIS_RPS
for depth in $PIPELINES; do
    for scenario in "${SCENARIOS[@]}"; do
        IFS='|' read -r name cmd <<<"$scenario"
        [[ $name =~ $ONLY ]] || continue
        for clients in $CLIENT_COUNTS; do
            r=(); t=()
            for round in $(seq "$ROUNDS"); do
                if [ $((round % 2)) -eq 1 ]; then
                    r+=("$(run "$REDIS_PORT" "$clients" "$depth" $cmd)"); t+=("$(run "$RESPD_PORT" "$clients" "$depth" $cmd)")
                else
                    t+=("$(run "$RESPD_PORT" "$clients" "$depth" $cmd)"); r+=("$(run "$REDIS_PORT" "$clients" "$depth" $cmd)")
                fi
            done
            mt=$(printf '%s\n' "${t[@]}" | sbs_median); mr=$(printf '%s\n' "${r[@]}" | sbs_median)
            RESPD_RPS[$name.$clients.$depth]=$mt; REDIS_RPS[$name.$clients.$depth]=$mr
            ratio=$(awk -v a="$mt" -v b="$mr" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')
            printf '%-9s %7s %5s %12.0f %12.0f %7s\n' "$name" "$clients" "$depth" "$mt" "$mr" "$ratio"
            LOG_SUM=$(awk -v s="$LOG_SUM" -v x="$ratio" 'BEGIN { print s + ((x > 0) ? log(x) : log(0.01)) }')
            COUNT=$((COUNT + 1))
        done
    done
done
# What many clients cost each server, against its own one-client figure.
FIRST_C=${CLIENT_COUNTS%% *}
for depth in $PIPELINES; do
    for scenario in "${SCENARIOS[@]}"; do
        IFS='|' read -r name _ <<<"$scenario"
        for clients in $CLIENT_COUNTS; do
            [ "$clients" = "$FIRST_C" ] && continue
            k=$name.$clients.$depth; k1=$name.$FIRST_C.$depth
            [ -n "${RESPD_RPS[$k]:-}" ] && [ -n "${RESPD_RPS[$k1]:-}" ] || continue
            awk -v n="$name" -v c="$clients" -v c1="$FIRST_C" -v d="$depth" -v t="${RESPD_RPS[$k]}" -v t1="${RESPD_RPS[$k1]}" \
                -v r="${REDIS_RPS[$k]}" -v r1="${REDIS_RPS[$k1]}" 'BEGIN {
                    printf "c%s/c%s %-9s depth %s: respd %.2f redis %.2f\n", c, c1, n, d, (t1 > 0) ? t / t1 : 0, (r1 > 0) ? r / r1 : 0 }'
        done
    done
done
[ "$COUNT" -gt 0 ] && awk -v s="$LOG_SUM" -v n="$COUNT" 'BEGIN { printf "geometric mean respd/redis: %.3f\n", exp(s / n) }'
