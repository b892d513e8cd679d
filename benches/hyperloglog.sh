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
PORTS=${PORTS:-"26300 26399"}
# shellcheck source=benches/side_by_side.sh
source benches/side_by_side.sh
sbs_start

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

sbs_compare HyperLogLog
