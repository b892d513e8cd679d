#!/usr/bin/env python3
"""Server memory while one client pipelines N GETs without reading a single reply.

    python3 benches/unread_probe.py            # 1,000,000 GETs of a 100-byte value
    N=200000 python3 benches/unread_probe.py

Starts respd (target/release/respd; build it first) and, when `redis-server` is on PATH, a
real redis-server, both on free loopback ports with persistence off. For each: SET a 100-byte
value, then write N `GET` commands without reading any reply while sampling the server's
VmRSS every 10 ms, then read every reply. Prints the reply bytes, the RSS growth at the peak
and its ratio to the reply bytes. Redis keeps about 1.15x the reply bytes; respd queues the
unsent replies in blocks sized to their contents. Standard library only.
"""
import os, socket, subprocess, sys, threading, time

N = int(os.environ.get("N", "1000000"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def probe(name, argv):
    port = free_port()
    proc = subprocess.Popen([a.replace("{port}", str(port)) for a in argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                s = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.1)
        else:
            print(f"{name}: did not start")
            return
        value = b"x" * 100
        s.sendall(b"*3\r\n$3\r\nSET\r\n$5\r\nprobe\r\n$100\r\n" + value + b"\r\n")
        s.recv(100)
        base = rss_kb(proc.pid)
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kb(proc.pid))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        s.sendall(b"*2\r\n$3\r\nGET\r\n$5\r\nprobe\r\n" * N)
        time.sleep(1.0)  # let the server finish executing and queueing
        done.set()
        sampler.join()
        reply = b"$100\r\n" + value + b"\r\n"
        expected, got = len(reply) * N, 0
        while got < expected:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
        growth = (peak[0] - base) * 1024
        print(f"{name:6} replies={expected / 1e6:.1f} MB  rss {base / 1024:.1f} -> peak {peak[0] / 1024:.1f} MB  "
              f"(+{growth / 1e6:.1f} MB, {growth / expected:.2f}x the reply bytes)  all replies read: {got == expected}")
    finally:
        proc.terminate()
        proc.wait()


probe("respd", [os.path.join(ROOT, "target/release/respd"), "--port", "{port}", "--bind", "127.0.0.1", "--save", ""])
redis = subprocess.run(["which", "redis-server"], capture_output=True, text=True).stdout.strip()
if redis:
    probe("redis", [redis, "--port", "{port}", "--save", "", "--appendonly", "no"])
else:
    print("redis-server not found: respd only", file=sys.stderr)
