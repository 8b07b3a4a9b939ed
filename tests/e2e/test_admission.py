#!/usr/bin/env python3
"""Admission (issue 11 case 1, SPEC 13): strangers' connections can never starve partners.

A connection that has not yet presented a verified certificate is pending: it must finish its
TLS handshake and first request within handshake_timeout_s, gets one answer and is closed, and
the pending connections share a budget of their own, fairly by address. The flood case holds
1,000 connections that never start TLS, from eight loopback addresses, reconnecting as soon as
one is closed, against max_connections = 64, and measures a new partner connection, a
kept-alive partner's latency and the daemon's memory and descriptors meanwhile.
"""

import os
import socket
import subprocess
import sys
import time

import pdtest
from pdtest import SLOW, case, check, check_error, check_status, eq

GOOD = "sakura-mail"
WHOAMI = "/v1/whoami"
ATTACK_ADDRS = [f"127.0.0.{i}" for i in range(2, 10)]

# The attacker, in its own process so that its loop and ours do not share an interpreter lock:
# holds N plain TCP connections (no TLS, no byte sent), round-robin over the source addresses,
# and opens a new one as soon as one is closed. Prints "open=<held> made=<connects>" each second.
ATTACKER = r"""
import errno, selectors, socket, sys, time
port, n, addrs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(",")
sel = selectors.DefaultSelector()
made = held = 0
nxt = 0
def open_one():
    global made, nxt
    s = socket.socket()
    s.setblocking(False)
    s.bind((addrs[nxt % len(addrs)], 0))
    nxt += 1
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    except OSError:
        s.close()
        return False
    sel.register(s, selectors.EVENT_READ)
    made += 1
    return True
for _ in range(n):
    open_one()
last = time.monotonic()
while True:
    for key, _ in sel.select(0.2):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            data = b""
        if not data:
            sel.unregister(s)
            s.close()
            open_one()
    if time.monotonic() - last >= 1:
        last = time.monotonic()
        print(f"open={len(sel.get_map())} made={made}", flush=True)
"""


class Env(pdtest.Env):
    @pdtest.fixture
    def flood(self):
        pdtest.raise_nofile(8192)
        return self.daemon(self.install(conf={("partner", "max_connections"): 64}))

    @pdtest.fixture
    def quick(self):
        return self.daemon(self.install(conf={("partner", "handshake_timeout_s"): 2}))


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


@case("1,000 unauthenticated connections from 8 addresses: a new partner is served within 2 s, "
      "a connected one keeps p99 < 50 ms, memory stays bounded")
def flood(env):
    d = env.flood
    good = d.install.pki.partner(GOOD)
    kept = d.http(cert=good)
    check_status(kept.request("GET", WHOAMI), 200, "the kept-alive partner, before")
    pid = d.proc.pid
    rss0, fds0 = rss_kib(pid), fds(pid)
    attacker = subprocess.Popen([sys.executable, "-c", ATTACKER, str(d.port), "1000",
                                 ",".join(ATTACK_ADDRS)], stdout=subprocess.PIPE, text=True)
    try:
        # until the attacker holds its 1,000 (the daemon has closed and it has reopened some)
        stats = ""
        deadline = time.monotonic() + 20 * SLOW
        while time.monotonic() < deadline:
            stats = attacker.stdout.readline().strip()
            if stats.startswith("open=1000"):
                break
        check(stats.startswith("open=1000"), f"the attacker never held 1,000 connections: {stats!r}")
        time.sleep(2)
        new_times, lat, peak_rss, peak_fds = [], [], 0, 0
        for i in range(10):
            t0 = time.monotonic()
            with d.http(cert=good, timeout=10) as h:
                r = h.request("GET", WHOAMI)
            new_times.append(time.monotonic() - t0)
            check_status(r, 200, f"new partner connection {i + 1} during the flood")
            for _ in range(40):
                t0 = time.monotonic()
                r = kept.request("GET", WHOAMI)
                lat.append(time.monotonic() - t0)
                check_status(r, 200, "the kept-alive partner during the flood")
                time.sleep(0.005)
            peak_rss, peak_fds = max(peak_rss, rss_kib(pid)), max(peak_fds, fds(pid))
        stats = attacker.stdout.readline().strip()
    finally:
        attacker.kill()
        attacker.wait()
    worst_new, p = max(new_times), p99(lat)
    print(f"# flood: attacker {stats}; new partner connection worst {worst_new * 1000:.0f} ms "
          f"(median {sorted(new_times)[len(new_times) // 2] * 1000:.0f} ms); kept-alive p99 "
          f"{p * 1000:.1f} ms over {len(lat)} requests; RSS {rss0 // 1024} -> {peak_rss // 1024} MiB; "
          f"descriptors {fds0} -> {peak_fds}")
    check(worst_new < 2.0 * SLOW, f"a new partner connection took {worst_new:.2f}s")
    # 50 ms on a machine with its cores to itself; other work on the machine (the load average
    # per core past 1) stretches every latency the client measures, the flood's or not
    busy = max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    check(p < 0.050 * SLOW * busy,
          f"the kept-alive partner's p99 is {p * 1000:.1f} ms (allowed {50 * SLOW * busy:.0f} ms "
          f"at a load of {busy:.1f} per core)")
    # bounded: 64 trusted + 64 pending + 128 closing at most, whatever the attacker holds
    check(peak_fds - fds0 < 64 + 3 * 64, f"descriptors grew from {fds0} to {peak_fds}")
    # under AddressSanitizer freed memory waits in its quarantine (256 MiB at most) first
    quarantine = 256 * 1024 if "san" in os.path.basename(pdtest.PDGATE) else 0
    check(peak_rss - rss0 < 64 * 1024 + quarantine, f"RSS grew from {rss0} to {peak_rss} KiB")
    check_status(kept.request("GET", WHOAMI), 200, "the kept-alive partner, after")
    kept.close()
    log = d.log()
    check("unauthenticated connections at the limit" in log, "the log says nothing of the flood")
    # libmicrohttpd's line per failed handshake is held to 10 a second
    check(len(log.splitlines()) < 600, f"the flood wrote {len(log.splitlines())} log lines")


@case("a connection that never starts TLS is closed after handshake_timeout_s, not idle_timeout_s")
def silent_tcp(env):
    d = env.quick
    s = socket.create_connection(("127.0.0.1", d.port))
    s.settimeout(30)
    t0 = time.monotonic()
    try:
        got = s.recv(1)
    except (ConnectionError, OSError):
        got = b""
    took = time.monotonic() - t0
    s.close()
    eq(got, b"", "what the silent connection received")
    check(1.5 < took < 2 + 1.5 * SLOW, f"closed after {took:.1f}s; handshake_timeout_s is 2")


@case("a TLS connection that sends no request is closed after handshake_timeout_s")
def silent_tls(env):
    d = env.quick
    good = d.install.pki.partner(GOOD)
    h = d.http(cert=good)
    t0 = time.monotonic()
    closed = h.closed_by_peer(wait=10)
    took = time.monotonic() - t0
    h.close()
    check(closed and took < 2 + 1.5 * SLOW, f"closed={closed} after {took:.1f}s")


@case("a request head that trickles in on a new connection is cut at handshake_timeout_s")
def trickle(env):
    d = env.quick
    good = d.install.pki.partner(GOOD)
    h = d.http(cert=good)
    t0 = time.monotonic()
    closed = False
    try:
        for ch in b"GET /v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 40:
            h.send(bytes([ch]))
            if h.closed_by_peer(wait=0.2):
                closed = True
                break
    except (ConnectionError, OSError):
        closed = True
    took = time.monotonic() - t0
    h.close()
    check(closed and took < 2 + 1.5 * SLOW, f"closed={closed} after {took:.1f}s")


@case("without a certificate: one 401 and the connection closed; a partner's stays open")
def one_answer(env):
    d = env.quick
    with d.http() as h:
        r = h.request("GET", WHOAMI)
        check_error(r, 401, "client_certificate_required", "no certificate")
        eq(r.headers.get("Connection", "").lower(), "close", "Connection header")
        check(h.closed_by_peer(wait=2), "the connection without a certificate was kept alive")
    good = d.install.pki.partner(GOOD)
    with d.http(cert=good) as h:
        for i in range(3):
            r = h.request("GET", WHOAMI)
            check_status(r, 200, f"partner request {i + 1}")
            check(r.headers.get("Connection", "").lower() != "close", "the partner is told to close")
        check(not h.closed_by_peer(wait=0.3), "the partner's connection was closed")
    # the trust comes from the certificate, not the first answer: a partner whose certificate the
    # store refuses is a stranger too
    other = d.install.pki.issue("admission-other-ca", by=d.install.pki.other_ca, partner=GOOD)
    with d.http(cert=other) as h:
        r = h.request("GET", WHOAMI)
        check_error(r, 401, "certificate_invalid", "a certificate of another CA")
        check(h.closed_by_peer(wait=2), "the connection with a refused certificate was kept alive")


if __name__ == "__main__":
    pdtest.run(Env)
