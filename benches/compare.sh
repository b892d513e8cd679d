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
PORTS=${PORTS:-"26100 26299"}
# shellcheck source=benches/side_by_side.sh
source benches/side_by_side.sh
sbs_start

SCENARIOS=()
for test in ${TESTS//,/ }; do SCENARIOS+=("$test|1|-t $test"); done
sbs_compare "built-in tests"
