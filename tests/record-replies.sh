#!/bin/sh
# Records what real Redis answers to differential case files: writes FILE.expected next to
# each FILE.case. With no arguments, records every tests/cases/**/*.case.
#
#   tests/record-replies.sh                          # everything
#   tests/record-replies.sh tests/cases/strings/*.case
#
# Starts its own redis-server (persistence off, loopback only) on a free port, or on
# $RECORD_PORT, and stops it (by its process id) when done. $REDIS_SERVER overrides the
# binary. The replies must come from Redis 7.0: the version is checked and a warning printed
# otherwise. Review the diff of the .expected files before committing them.
set -eu

cd "$(dirname "$0")/.."
REDIS_SERVER=${REDIS_SERVER:-redis-server}
if ! command -v "$REDIS_SERVER" >/dev/null 2>&1; then
    echo "record-replies.sh: $REDIS_SERVER not found (set REDIS_SERVER=/path/to/redis-server)" >&2
    exit 1
fi

version=$("$REDIS_SERVER" --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p')
case "$version" in
    7.0.*) ;;
    *) echo "record-replies.sh: WARNING: $REDIS_SERVER is $version, not 7.0.x" >&2 ;;
esac

port=${RECORD_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}

"$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    >/dev/null 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT INT TERM

# Wait (at most 5 s) until it answers PING.
python3 - "$port" <<'PY'
import socket, sys, time
deadline = time.time() + 5
while time.time() < deadline:
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5)
        s.sendall(b"PING\r\n")
        if s.recv(7) == b"+PONG\r\n":
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.05)
sys.exit("redis-server did not answer PING")
PY

if [ "$#" -eq 0 ]; then
    # shellcheck disable=SC2046 # case file names have no spaces
    set -- $(find tests/cases -name '*.case' | sort)
fi
python3 tests/diffcase.py record "$port" "$@"
