#!/usr/bin/env bash
# Lua scripts and functions, respd next to a real redis-server: side-by-side redis-benchmark
# throughput as ratios (see benches/side_by_side.sh for how rounds alternate).
#
#   benches/scripting.sh                  # every scenario, -P 1 and -P 16
#   ROUNDS=3 ONLY=evalsha benches/scripting.sh
#
# Scenarios, in this order (SET is the baseline: the same run's ratio for a plain command):
#   set            SET k:__rand_int__ v
#   evalsha-incr   EVALSHA of `return(redis.call('incr',KEYS[1]))` on one key
#   eval-incr      the same script sent whole with EVAL (found in the cache by its SHA-1)
#   evalsha-read   EVALSHA of a script that reads three keys and returns them as an array
#   fcall-incr     FCALL of a library function doing the INCR
#
# Environment variables: those of benches/side_by_side.sh (PIPELINES, CLIENTS, REQUESTS,
# ROUNDS, ONLY, PORTS, REDIS_SERVER).

set -u
cd "$(dirname "$0")/.."
PORTS=${PORTS:-"26500 26599"}
# shellcheck source=benches/side_by_side.sh
source benches/side_by_side.sh
sbs_start

INCR="return(redis.call('incr',KEYS[1]))"
READ="return{redis.call('get',KEYS[1]),redis.call('get',KEYS[2]),redis.call('get',KEYS[3])}"
LIBRARY="#!lua name=bench
redis.register_function('incr', function(keys) return redis.call('incr', keys[1]) end)"
for port in "$RESPD_PORT" "$REDIS_PORT"; do
    INCR_SHA=$(redis-cli -p "$port" SCRIPT LOAD "$INCR")
    READ_SHA=$(redis-cli -p "$port" SCRIPT LOAD "$READ")
    redis-cli -p "$port" FUNCTION LOAD REPLACE "$LIBRARY" >/dev/null
    redis-cli -p "$port" MSET a 1 b 2 c 3 >/dev/null
done
# The same replies on both, or the benchmark would compare two different workloads.
for args in "EVALSHA $READ_SHA 3 a b c" "FCALL incr 1 check"; do
    # shellcheck disable=SC2086
    a=$(redis-cli -p "$RESPD_PORT" $args); b=$(redis-cli -p "$REDIS_PORT" $args)
    [ "$a" = "$b" ] || { echo "$args: respd says $a, redis says $b"; exit 1; }
done

SCENARIOS=(
    "set|1|SET k:__rand_int__ v"
    "evalsha-incr|1|EVALSHA $INCR_SHA 1 counter"
    "eval-incr|1|EVAL $INCR 1 counter"
    "evalsha-read|1|EVALSHA $READ_SHA 3 a b c"
    "fcall-incr|1|FCALL incr 1 counter"
)
sbs_compare scripting
