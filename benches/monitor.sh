#!/usr/bin/env bash
# What watching costs: redis-benchmark SET and GET on respd and on a real redis-server, each
# with nothing attached (base), with one MONITOR client attached (monitor), and with every
# command going to the slow log (slowlog: slowlog-log-slower-than 0).
#
#   benches/monitor.sh                         # 50 clients, -P 1, 50000 requests, 3 rounds
#   PIPELINES="1 16" ROUNDS=5 benches/monitor.sh
#
# Environment variables (all optional):
#   TESTS      redis-benchmark -t list, default "set,get"
#   PIPELINES  depths, default "1"
#   CLIENTS    redis-benchmark -c, default 50
#   REQUESTS   requests per run at depth 1 (x8 at deeper pipelines), default 50000
#   ROUNDS     rounds per server and mode; the servers alternate, default 3
#   PORTS      first and last port to use, default "26400 26499"
#   REDIS_SERVER  the redis-server binary, default: the one on PATH
#
# The monitor is `redis-cli monitor` writing to /dev/null: it reads every line, so the
# figure includes building and sending one line per command, and the monitor's own CPU on
# the same machine. For each test, depth and mode the script prints each server's median
# requests/s, the ratio respd/redis, and for monitor and slowlog each server's cost as a
# share of its base throughput (mode/base). Both servers run with persistence off, on
# loopback, stopped by their pids. On a shared machine absolute figures move by tens of
# percent; compare ratios from the same run only.

set -u
cd "$(dirname "$0")/.."
TESTS=${TESTS:-set,get}
PIPELINES=${PIPELINES:-1}
CLIENTS=${CLIENTS:-50}
REQUESTS=${REQUESTS:-50000}
ROUNDS=${ROUNDS:-3}
read -r FIRST_PORT LAST_PORT <<<"${PORTS:-26400 26499}"
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
RESPD_PORT=$(free_port "$FIRST_PORT" "$LAST_PORT") || { echo "no free port"; exit 2; }
./target/release/respd --port "$RESPD_PORT" --bind 127.0.0.1 --save "" --loglevel warning >/dev/null 2>&1 &
RESPD_PID=$!
for _ in $(seq 100); do redis-cli -p "$RESPD_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
REDIS_PORT=$(free_port $((RESPD_PORT + 1)) "$LAST_PORT") || { echo "no free port"; exit 2; }
"$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning >/dev/null 2>&1 &
REDIS_PID=$!
MONITOR_PID=""
trap 'kill $RESPD_PID $REDIS_PID $MONITOR_PID 2>/dev/null; wait 2>/dev/null' EXIT
for port in "$RESPD_PORT" "$REDIS_PORT"; do
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$port" ping >/dev/null 2>&1 || { echo "the server on port $port did not start"; exit 2; }
done

# Puts server $1 in mode $2 (base, monitor, slowlog), undoing the other modes.
mode() {
    local port=$1
    if [ -n "$MONITOR_PID" ]; then
        kill "$MONITOR_PID" 2>/dev/null; wait "$MONITOR_PID" 2>/dev/null
        MONITOR_PID=""
    fi
    redis-cli -p "$port" config set slowlog-log-slower-than 10000 >/dev/null
    redis-cli -p "$port" slowlog reset >/dev/null
    case $2 in
        monitor)
            redis-cli -p "$port" monitor >/dev/null 2>&1 &
            MONITOR_PID=$!
            # Wait until the server lists it (flag O), so the run does not start without it.
            for _ in $(seq 100); do
                redis-cli -p "$port" client list | grep -q 'flags=O' && break
                sleep 0.02
            done ;;
        slowlog) redis-cli -p "$port" config set slowlog-log-slower-than 0 >/dev/null ;;
    esac
}

# One redis-benchmark run; prints requests/s, or 0 if it failed.
run() { # port test depth
    local n=$REQUESTS
    [ "$3" -gt 1 ] && n=$((REQUESTS * 8))
    timeout 120 redis-benchmark -p "$1" -q --csv -c "$CLIENTS" -r 100000 -n "$n" -P "$3" -t "$2" 2>/dev/null |
        awk -F'"' 'NR > 1 { print $4; found = 1 } END { if (!found) print 0 }' | head -1
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }'; }

echo "# MONITOR and SLOWLOG cost: respd vs redis-server $("$REDIS_SERVER" --version | awk '{print $3}'), $CLIENTS clients, $ROUNDS rounds each, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-5s %5s %-8s %10s %10s %13s %11s %11s\n' test depth mode respd redis respd/redis respd/base redis/base
for depth in $PIPELINES; do
    for test in ${TESTS//,/ }; do
        for m in base monitor slowlog; do
            r=(); t=()
            for round in $(seq "$ROUNDS"); do
                if [ $((round % 2)) -eq 1 ]; then order="$REDIS_PORT $RESPD_PORT"; else order="$RESPD_PORT $REDIS_PORT"; fi
                for port in $order; do
                    mode "$port" "$m"
                    rps=$(run "$port" "$test" "$depth")
                    mode "$port" base
                    if [ "$port" = "$REDIS_PORT" ]; then r+=("$rps"); else t+=("$rps"); fi
                done
            done
            mt=$(printf '%s\n' "${t[@]}" | median); mr=$(printf '%s\n' "${r[@]}" | median)
            eval "base_t=\${base_t_$test$depth:-$mt}; base_r=\${base_r_$test$depth:-$mr}"
            [ "$m" = base ] && eval "base_t_$test$depth=$mt; base_r_$test$depth=$mr"
            printf '%-5s %5s %-8s %10.0f %10.0f %13s %11s %11s\n' "$test" "$depth" "$m" "$mt" "$mr" \
                "$(ratio "$mt" "$mr")" "$(ratio "$mt" "$base_t")" "$(ratio "$mr" "$base_r")"
        done
    done
done
