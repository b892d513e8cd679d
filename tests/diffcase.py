#!/usr/bin/env python3
"""Runs differential test cases (tests/cases/**/*.case) against Redis-protocol servers.

    tests/diffcase.py compare PORT_A PORT_B FILE.case...   show every reply that differs
    tests/diffcase.py record PORT FILE.case...             write FILE.expected from the server on PORT

A .case file holds one command per line, split the way redis-cli splits input (double quotes
with \\n \\r \\t \\xHH escapes, single quotes). Blank lines and lines starting with '#' are
ignored. Directives:

    !sort            the next command's reply is an array; compare it with elements sorted
    !raw "BYTES"     send these bytes as they are (escapes as above) and read one reply
    !close           expect the server to close the connection now (after the previous reply)
    !sleep MS        wait MS milliseconds
    !reconnect       start a new connection (same server, data kept)

Every case starts on a fresh connection after FLUSHALL (not recorded). The .expected file is
the exact bytes of every reply, in order; RESP is self-delimiting, so no separators are needed.
Only the Python standard library is used. Servers are always on 127.0.0.1.
"""
import socket
import sys
import time


def split_args(line):
    """Python port of Redis sdssplitargs (same rules as respd's protocol::parse::split_args)."""
    out, i, n = [], 0, len(line)
    while True:
        while i < n and line[i] in b" \t\n\r\x0b\x0c":
            i += 1
        if i >= n:
            return out
        cur, inq, insq = bytearray(), False, False
        while True:
            if inq:
                if i >= n:
                    raise ValueError("unbalanced quotes")
                c = line[i]
                if c == 0x5C and i + 3 < n and line[i + 1] == ord("x") and chr(line[i + 2]) in "0123456789abcdefABCDEF" and chr(line[i + 3]) in "0123456789abcdefABCDEF":
                    cur.append(int(line[i + 2:i + 4], 16))
                    i += 3
                elif c == 0x5C and i + 1 < n:
                    i += 1
                    cur.append({ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}.get(line[i], line[i]))
                elif c == ord('"'):
                    if i + 1 < n and line[i + 1] not in b" \t\n\r\x0b\x0c":
                        raise ValueError("unbalanced quotes")
                    i += 1
                    break
                else:
                    cur.append(c)
            elif insq:
                if i >= n:
                    raise ValueError("unbalanced quotes")
                c = line[i]
                if c == 0x5C and i + 1 < n and line[i + 1] == ord("'"):
                    i += 1
                    cur.append(ord("'"))
                elif c == ord("'"):
                    if i + 1 < n and line[i + 1] not in b" \t\n\r\x0b\x0c":
                        raise ValueError("unbalanced quotes")
                    i += 1
                    break
                else:
                    cur.append(c)
            else:
                if i >= n or line[i] in b" \t\n\r\x0b\x0c":
                    break
                if line[i] == ord('"'):
                    inq = True
                elif line[i] == ord("'"):
                    insq = True
                else:
                    cur.append(line[i])
            i += 1
        out.append(bytes(cur))


def encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError
        self.buf += d

    def _line(self, pos):
        while True:
            j = self.buf.find(b"\r\n", pos)
            if j >= 0:
                return j
            self._fill()

    def _parse(self, pos):
        """Returns (end, elements-or-None) of the reply starting at pos."""
        j = self._line(pos)
        t = self.buf[pos:pos + 1]
        if t in (b"+", b"-", b":", b",", b"#", b"_", b"("):
            return j + 2, None
        if t in (b"$", b"=", b"!"):
            n = int(self.buf[pos + 1:j])
            if n < 0:
                return j + 2, None
            while len(self.buf) < j + 2 + n + 2:
                self._fill()
            return j + 2 + n + 2, None
        if t in (b"*", b"~", b">", b"%", b"|"):
            n = int(self.buf[pos + 1:j])
            if t in (b"%", b"|"):
                n *= 2
            p, elems = j + 2, []
            for _ in range(max(n, 0)):
                e, _ = self._parse(p)
                elems.append(self.buf[p:e])
                p = e
            if t == b"|":  # attribute: the real reply follows
                return self._parse(p)
            return p, elems
        raise ValueError("bad reply byte %r" % t)

    def reply(self, sort=False):
        end, elems = self._parse(0)
        raw, self.buf = self.buf[:end], self.buf[end:]
        if sort and elems is not None:
            head = raw[:raw.index(b"\r\n") + 2]
            raw = head + b"".join(sorted(elems))
        return raw

    def closed(self):
        self.sock.settimeout(2)
        try:
            return self.sock.recv(1) == b""
        except socket.timeout:  # nothing arrived, and no EOF: still open
            return False
        except OSError:  # reset by the server: closed
            return True


def run_case(port, path):
    """Runs one case file; returns a list of (line, reply-bytes)."""
    setup = Conn(port)
    setup.sock.sendall(encode([b"FLUSHALL"]))
    setup.reply()
    setup.sock.close()
    conn, sort, results = Conn(port), False, []
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    for line in lines:
        line = line.strip()
        if not line or line.startswith(b"#"):
            continue
        if line == b"!sort":
            sort = True
            continue
        if line.startswith(b"!sleep"):
            time.sleep(int(line.split()[1]) / 1000)
            continue
        if line == b"!reconnect":
            conn = Conn(port)
            continue
        if line == b"!close":
            results.append((line, b"<closed>" if conn.closed() else b"<open>"))
            continue
        if line.startswith(b"!raw "):
            data = split_args(line[5:])[0]
            conn.sock.sendall(data)
        else:
            conn.sock.sendall(encode(split_args(line)))
        try:
            results.append((line, conn.reply(sort)))
        except (EOFError, OSError):
            results.append((line, b"<closed>"))
        sort = False
    return results


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "compare":
        a, b, files = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
        bad = 0
        for path in files:
            ra, rb = run_case(a, path), run_case(b, path)
            for (line, x), (_, y) in zip(ra, rb):
                if x != y:
                    bad += 1
                    print("%s: %s\n  %d: %r\n  %d: %r" % (path, line.decode(errors="replace"), a, x, b, y))
        print("%d difference(s)" % bad)
        sys.exit(1 if bad else 0)
    if len(sys.argv) >= 4 and sys.argv[1] == "record":
        port, files = int(sys.argv[2]), sys.argv[3:]
        for path in files:
            data = b"".join(r for _, r in run_case(port, path))
            with open(path[: -len(".case")] + ".expected", "wb") as f:
                f.write(data)
            print("recorded", path)
        return
    print(__doc__)
    sys.exit(2)


if __name__ == "__main__":
    main()
