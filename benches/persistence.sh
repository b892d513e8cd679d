#!/usr/bin/env bash
# Persistence figures, respd beside a real redis-server with the same settings:
#   1. SET throughput with appendonly yes and appendfsync always / everysec / no (ratios);
#   2. time to load KEYS keys at start from an RDB dump and from an append-only file.
#
#   benches/persistence.sh                  # KEYS=1000000, REQUESTS=20000
#   KEYS=200000 benches/persistence.sh
#
# Both servers run on free loopback ports, each in a temporary directory of its own, and are
# stopped by their pids. The load time is measured from process start until the server answers
# PING (both refuse or delay commands while loading). Single runs: on a shared machine expect
# ±20 %; fsync-bound figures depend on the disk.
set -u
cd "$(dirname "$0")/.."
KEYS=${KEYS:-1000000}
REQUESTS=${REQUESTS:-20000}
REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || true)}
[ -n "$REDIS_SERVER" ] && command -v redis-benchmark >/dev/null || { echo "needs redis-server and redis-benchmark"; exit 2; }
cargo build --release --quiet || exit 2
RESPD=$PWD/target/release/respd
WORK=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; rm -rf "$WORK"' EXIT

free_port() {
    local p
    for p in $(seq "$1" "$2"); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
}
wait_up() { for _ in $(seq 6000); do redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.01; done; return 1; }
# start NAME DIR PORT ARGS...: starts a server in DIR, prints its pid
start() {
    local name=$1 dir=$2 port=$3; shift 3
    mkdir -p "$dir"
    if [ "$name" = respd ]; then
        (cd "$dir" && exec "$RESPD" --port "$port" --bind 127.0.0.1 --dir "$dir" --loglevel warning "$@") >/dev/null 2>&1 &
    else
        (cd "$dir" && exec "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --dir "$dir" --loglevel warning "$@") >/dev/null 2>&1 &
    fi
    echo $!
}
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

echo "# persistence: respd vs redis-server $("$REDIS_SERVER" --version | awk '{print $3}'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "## SET throughput, 50 clients, $REQUESTS requests, appendonly yes"
for fsync in always everysec no; do
    line=""
    for name in redis respd; do
        port=$(free_port 26300 26399)
        pid=$(start "$name" "$WORK/$name-$fsync" "$port" --save "" --appendonly yes --appendfsync "$fsync")
        PIDS+=("$pid")
        wait_up "$port" || { echo "$name did not start"; exit 1; }
        rps=$(redis-benchmark -p "$port" -q --csv -c 50 -r 100000 -n "$REQUESTS" -t set 2>/dev/null | awk -F'"' 'NR > 1 { print $4 }')
        stop "$pid"
        line="$line $name=${rps:-0}"
        eval "rps_$name=${rps:-0}"
    done
    printf 'appendfsync %-8s %s ratio=%s\n' "$fsync" "$line" "$(awk -v a="$rps_respd" -v b="$rps_redis" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')"
done

echo "## load $KEYS keys at start"
# The data: KEYS string keys with 16-byte values, written by redis-benchmark into each server.
for kind in rdb aof; do
    line=""
    for name in redis respd; do
        dir="$WORK/$name-load-$kind"
        port=$(free_port 26300 26399)
        if [ "$kind" = rdb ]; then args=(--save "3600 1" --appendonly no); else args=(--save "" --appendonly yes --appendfsync no); fi
        pid=$(start "$name" "$dir" "$port" "${args[@]}")
        PIDS+=("$pid")
        wait_up "$port" || { echo "$name did not start"; exit 1; }
        redis-benchmark -p "$port" -q -c 50 -P 100 -r "$KEYS" -n $((KEYS * 3)) -d 16 -t set >/dev/null 2>&1
        keys=$(redis-cli -p "$port" dbsize)
        if [ "$kind" = rdb ]; then redis-cli -p "$port" save >/dev/null; fi
        redis-cli -p "$port" shutdown nosave >/dev/null 2>&1
        wait "$pid" 2>/dev/null
        port=$(free_port 26300 26399)
        t0=$(date +%s.%N)
        pid=$(start "$name" "$dir" "$port" "${args[@]}")
        PIDS+=("$pid")
        wait_up "$port" || { echo "$name did not restart"; exit 1; }
        t1=$(date +%s.%N)
        loaded=$(redis-cli -p "$port" dbsize)
        stop "$pid"
        secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
        line="$line $name=${secs}s(keys=$loaded/$keys)"
        eval "t_$name=$secs"
    done
    printf 'load from %-3s %s ratio=%s\n' "$kind" "$line" "$(awk -v a="$t_respd" -v b="$t_redis" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')"
done
