# Shared by the redis-benchmark comparisons in benches/*.sh (source it, do not run it): start
# respd and a real redis-server side by side, run each scenario on both in alternating rounds,
# and print the median requests/s of each and the ratio respd/redis.
#
# Why alternate: absolute figures on a shared machine move by tens of percent from one minute
# to the next; running the two servers in R T T R R T ... order exposes both to the same
# minutes, so the ratios are much steadier than the figures. Compare ratios only within a run.
#
# The sourcing script sets, before calling sbs_compare:
#   SCENARIOS  an array of "name|divisor|redis-benchmark arguments": a custom command
#              (`SET k:__rand_int__ v`) or a built-in test (`-t set`); the divisor cuts the
#              requests of slow scenarios
# and may set (environment variables a user can override too):
#   PIPELINES  depths, default "1 16"
#   CLIENTS    redis-benchmark -c, default 50
#   REQUESTS   requests per run at depth 1 (x8 at deeper pipelines), default 50000
#   ROUNDS     rounds per server, default 5
#   ONLY       a regular expression: run only the scenarios whose name matches
#   PORTS      "LO HI", the loopback ports to take the two servers' ports from
#   REDIS_SERVER  the redis-server binary, default: the one on PATH
#   RESPD_ARGS / REDIS_ARGS  extra arguments for each server

PIPELINES=${PIPELINES:-"1 16"}
CLIENTS=${CLIENTS:-50}
REQUESTS=${REQUESTS:-50000}
ROUNDS=${ROUNDS:-5}
ONLY=${ONLY:-.}
PORTS=${PORTS:-"26100 26299"}
REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || true)}
RESPD_ARGS=${RESPD_ARGS:-}
REDIS_ARGS=${REDIS_ARGS:-}

# The first free loopback port in LO..HI.
sbs_free_port() {
    local p
    for p in $(seq "$1" "$2"); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    return 1
}

# Builds respd, starts both servers with persistence off and waits until they answer. Sets
# RESPD_PORT, REDIS_PORT, RESPD_PID, REDIS_PID; both are stopped when the script exits (and
# SBS_CLEANUP, a command, runs then too).
sbs_start() {
    command -v redis-benchmark >/dev/null || { echo "redis-benchmark not found (apt-get install redis-tools)"; exit 2; }
    [ -n "$REDIS_SERVER" ] || { echo "redis-server not found (apt-get install redis-server)"; exit 2; }
    cargo build --release --quiet || exit 2
    local lo hi port
    read -r lo hi <<<"$PORTS"
    RESPD_PORT=$(sbs_free_port "$lo" "$hi") || { echo "no free port"; exit 2; }
    REDIS_PORT=$(sbs_free_port $((RESPD_PORT + 1)) "$hi") || { echo "no free port"; exit 2; }
    # shellcheck disable=SC2086
    ./target/release/respd --port "$RESPD_PORT" --bind 127.0.0.1 --save "" --loglevel warning $RESPD_ARGS >/dev/null 2>&1 &
    RESPD_PID=$!
    # shellcheck disable=SC2086
    "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning $REDIS_ARGS >/dev/null 2>&1 &
    REDIS_PID=$!
    trap 'kill $RESPD_PID $REDIS_PID 2>/dev/null; wait 2>/dev/null; ${SBS_CLEANUP:-}' EXIT
    trap 'exit 130' INT TERM
    for port in "$RESPD_PORT" "$REDIS_PORT"; do
        for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
        redis-cli -p "$port" ping >/dev/null 2>&1 || { echo "the server on port $port did not start"; exit 2; }
    done
}

# One redis-benchmark run; prints requests/s, or 0 if it failed.
sbs_run() { # port depth divisor arguments...
    local port=$1 depth=$2 n=$((REQUESTS / $3))
    shift 3
    [ "$depth" -gt 1 ] && n=$((n * 8))
    # shellcheck disable=SC2068
    timeout 120 redis-benchmark -p "$port" -q --csv -c "$CLIENTS" -r 100000 -n "$n" -P "$depth" $@ 2>/dev/null |
        awk -F'"' 'NR > 1 { print $4; found = 1 } END { if (!found) print 0 }' | head -1
}

sbs_median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Runs every scenario of SCENARIOS at every depth of PIPELINES on both servers and prints the
# table, then the geometric mean of the ratios. $1 names the run in the header line.
sbs_compare() {
    local title=$1 depth scenario name div cmd round mt mr ratio log_sum=0 count=0
    local -a r t
    echo "# respd vs redis-server $("$REDIS_SERVER" --version | awk '{print $3}'), $title, $CLIENTS clients, $ROUNDS rounds each, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '%-16s %5s %12s %12s %7s\n' scenario depth respd redis ratio
    set -f # a `*` in a command is an argument, not a glob
    for depth in $PIPELINES; do
        for scenario in "${SCENARIOS[@]}"; do
            IFS='|' read -r name div cmd <<<"$scenario"
            [[ $name =~ $ONLY ]] || continue
            r=(); t=()
            for round in $(seq "$ROUNDS"); do
                # shellcheck disable=SC2086
                if [ $((round % 2)) -eq 1 ]; then
                    r+=("$(sbs_run "$REDIS_PORT" "$depth" "$div" $cmd)"); t+=("$(sbs_run "$RESPD_PORT" "$depth" "$div" $cmd)")
                else
                    t+=("$(sbs_run "$RESPD_PORT" "$depth" "$div" $cmd)"); r+=("$(sbs_run "$REDIS_PORT" "$depth" "$div" $cmd)")
                fi
            done
            mt=$(printf '%s\n' "${t[@]}" | sbs_median); mr=$(printf '%s\n' "${r[@]}" | sbs_median)
            ratio=$(awk -v a="$mt" -v b="$mr" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')
            printf '%-16s %5s %12.0f %12.0f %7s\n' "$name" "$depth" "$mt" "$mr" "$ratio"
            log_sum=$(awk -v s="$log_sum" -v x="$ratio" 'BEGIN { print s + ((x > 0) ? log(x) : log(0.01)) }')
            count=$((count + 1))
        done
    done
    set +f
    [ "$count" -gt 0 ] && awk -v s="$log_sum" -v n="$count" 'BEGIN { printf "geometric mean respd/redis: %.3f\n", exp(s / n) }'
}
