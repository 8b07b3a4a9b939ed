#!/usr/bin/env python3
"""Abusive clients for the fault suites, in a process of their own (so that their threads and the
test's measuring client do not share an interpreter lock).

    python3 abuser.py MODE PORT N SECONDS CA [CERT KEY]

runs N abusers at once for SECONDS, each starting again as soon as the gateway is done with it,
and prints one JSON line at the end: {"made": connections opened, "cut": closed by the gateway,
"answers": {status: count}, "cut_after": [seconds from first byte to close, ...] (a sample),
"max_cut_after": the longest of them all, "errors": [...]}. Each abuser pauses 0.1 s (flood:
0.5 s) between one connection and the next. The modes:

    slowloris   TLS with the partner certificate CERT, one good request answered, then the
                next request's head one byte a second, never finished
    slowstart   TLS without a certificate, the first request's head one byte a second
    garbage     TCP, 2 KiB of random bytes where a TLS ClientHello should be, then waits
    plaintext   TCP, an HTTP/1.1 request in clear text on the TLS port, then waits
    halfway     TCP, a real ClientHello, the server's answer read, then nothing more
    flood       TLS with CERT, one request, and the connection held for as long as the gateway
                keeps it (past max_connections, the gateway answers and closes; past the
                budget of connections still in their handshake it refuses them: "refused")
"""

import json
import os
import socket
import ssl
import sys
import threading
import time

MODE, PORT, N, SECONDS, CA = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
CERT = (sys.argv[6], sys.argv[7]) if len(sys.argv) > 7 else None
lock = threading.Lock()
stats = {"made": 0, "cut": 0, "refused": 0, "answers": {}, "cut_after": [], "max_cut_after": 0.0, "errors": []}
# a pause between one connection and the next of the same abuser: the point is what each gets,
# not how many handshakes two shared cores can do
PAUSE = {"flood": 0.5}.get(MODE, 0.1)
end = time.monotonic() + SECONDS
REQ = b"GET /v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def ctx(cert):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.load_verify_locations(CA)
    if cert:
        c.load_cert_chain(*cert)
    return c


CTX_CERT = ctx(CERT) if CERT else None
CTX_NONE = ctx(None)


def note(key, value=1):
    with lock:
        if key == "answers":
            stats["answers"][value] = stats["answers"].get(value, 0) + 1
        elif key == "cut_after":
            stats["max_cut_after"] = max(stats["max_cut_after"], round(value, 3))
            if len(stats["cut_after"]) < 2000:
                stats["cut_after"].append(round(value, 3))
        elif key == "errors":
            if len(stats["errors"]) < 10:
                stats["errors"].append(value)
        else:
            stats[key] += value


def read_answer(s):
    """The status of one answer (its head and a Content-Length body), or None at close."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            return None
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            break
        rest += d
    return status


def closed(s, t0, limit=60):
    """Waits until the gateway closes s (EOF or reset); notes how long it took from t0."""
    s.settimeout(limit)
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
    note("cut")
    note("cut_after", time.monotonic() - t0)


def drip(s, data, t0):
    for b in data:
        if time.monotonic() > end + 30:
            return
        try:
            s.send(bytes([b]))
        except OSError:
            note("cut")
            note("cut_after", time.monotonic() - t0)
            return
        s.settimeout(1.0)
        try:
            d = s.recv(65536)
            if not d:
                note("cut")
                note("cut_after", time.monotonic() - t0)
                return
        except (socket.timeout, ssl.SSLWantReadError):
            pass
        except OSError:
            note("cut")
            note("cut_after", time.monotonic() - t0)
            return
    note("errors", "a dripped head was never cut")


def client_hello():
    """The bytes of a real TLS ClientHello, from an SSLObject over memory BIOs."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    o = CTX_NONE.wrap_bio(inc, out, server_hostname="127.0.0.1")
    try:
        o.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def one():
    raw = socket.create_connection(("127.0.0.1", PORT), timeout=30)
    note("made")
    t0 = time.monotonic()
    try:
        if MODE == "slowloris":
            s = CTX_CERT.wrap_socket(raw, server_hostname="127.0.0.1")
            s.sendall(REQ)
            note("answers", read_answer(s))
            t0 = time.monotonic()
            drip(s, b"GET /v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200, t0)
        elif MODE == "slowstart":
            s = CTX_NONE.wrap_socket(raw, server_hostname="127.0.0.1")
            drip(s, b"GET /v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200, t0)
        elif MODE == "garbage":
            raw.sendall(os.urandom(2048))
            closed(raw, t0)
        elif MODE == "plaintext":
            raw.sendall(REQ)
            closed(raw, t0)
        elif MODE == "halfway":
            raw.sendall(client_hello())
            raw.settimeout(30)
            got = raw.recv(65536)  # the ServerHello and what follows it
            if not got:
                note("errors", "no ServerHello")
            closed(raw, t0)
        elif MODE == "flood":
            s = CTX_CERT.wrap_socket(raw, server_hostname="127.0.0.1")
            s.sendall(REQ)
            status = read_answer(s)
            if status is None:  # closed before its answer: refused, like a reset
                note("refused")
                return
            note("answers", status)
            # held until the gateway closes it, or the run ends
            s.settimeout(max(0.1, end - time.monotonic()))
            try:
                if not s.recv(1):
                    note("cut")
            except (socket.timeout, OSError):
                pass
        else:
            raise ValueError(MODE)
    except (ssl.SSLError, ConnectionError) as e:
        if MODE == "flood":
            # past the budgets a new connection is refused before its answer: that is the limit
            note("refused")
            return
        note("cut")
        note("cut_after", time.monotonic() - t0)
        if MODE == "slowloris":
            note("errors", f"{type(e).__name__}: {e}")
    except socket.timeout:
        note("errors", "timed out waiting for the gateway")
    finally:
        raw.close()


def worker():
    while time.monotonic() < end:
        try:
            one()
            time.sleep(PAUSE)
        except OSError as e:
            note("errors", f"connect: {e}")
            time.sleep(0.1)


threads = [threading.Thread(target=worker, daemon=True) for _ in range(N)]
for t in threads:
    t.start()
for t in threads:
    t.join(SECONDS + 90)
with lock:
    print(json.dumps(stats), flush=True)
