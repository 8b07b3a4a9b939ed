#!/usr/bin/env python3
"""Client abuse, beyond what tests/e2e/test_admission.py (1,000 silent TCP connections, one
trickling head, one answer without a certificate) and test_robustness.py (framing, headers,
paths, methods) already show: slowloris on many connections, with a partner certificate and
without, garbage and clear text where TLS should be, handshakes that stop half-way, a flood of
authenticated connections past max_connections, and 10,000 requests on one kept-alive
connection.

The abusers run in a process of their own (tests/faults/abuser.py); meanwhile a well-behaved
partner asks for members on its kept-alive connection and is served each time (its p99
reported), and the daemon's memory and descriptors are sampled.
"""

import json
import subprocess
import sys
import threading
import time

import faultlib
from faultlib import SLOW, check, eq, figure, mib, pdtest, scenario
from pdtest import case

GOOD = ("sakura-mail", "CT-2026-0001", "contact")
ABUSER = "shiken-proctor"
MAX_CONN, HANDSHAKE_S, IDLE_S = 64, 2, 3
HEADER_S = min(10, IDLE_S)  # a head must be complete this long after its request line
MARGIN_S = 2.0 * SLOW
PHASE_S = 6


class Env(pdtest.Env):
    @pdtest.fixture
    def gw(self):
        pdtest.raise_nofile(8192)
        inst = self.install(members=20, conf={("partner", "max_connections"): MAX_CONN,
                                              ("partner", "handshake_timeout_s"): HANDSHAKE_S,
                                              ("partner", "idle_timeout_s"): IDLE_S})
        faultlib.unlimit(inst, GOOD[1])
        d = self.daemon(inst)
        self.tok = faultlib.token(inst, GOOD[1], GOOD[2], GOOD[0])
        self.base = faultlib.proc_status(d.proc.pid)
        return d


class Partner:
    """The well-behaved partner: a member every 10 ms on one kept-alive connection, each
    answer checked; latencies kept."""

    def __init__(self, d, tok):
        self.d, self.tok = d, tok
        self.lat, self.errors, self.n = [], [], 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        try:
            with self.d.http(cert=self.d.install.pki.partner(GOOD[0])) as h:
                while not self.stop.is_set():
                    mid = f"M{self.n % 20 + 1:07d}"
                    t0 = time.monotonic()
                    r = h.request("GET", f"/v1/members/{mid}", {"Authorization": "Bearer " + self.tok})
                    self.lat.append(time.monotonic() - t0)
                    pdtest.check_status(r, 200, f"the well-behaved partner, {mid}")
                    check("name" in r.json(), f"{mid}: no name released")
                    self.n += 1
                    time.sleep(0.01)
        except Exception as e:  # noqa: BLE001 - reported by the case
            self.errors.append(f"{type(e).__name__}: {e}")

    def end(self):
        self.stop.set()
        self.t.join(30)
        eq(self.errors, [], "the well-behaved partner")
        return faultlib.p99(self.lat), max(self.lat, default=0)


def abuse(env, mode, n, cert=True):
    """Runs abuser.py in mode beside the well-behaved partner; returns (stats, p99, worst,
    sampler)."""
    d = env.gw
    inst = d.install
    args = [sys.executable, str(faultlib.HERE / "abuser.py"), mode, str(d.port), str(n), str(PHASE_S),
            str(inst.server_ca)]
    if cert:
        c = inst.pki.partner(ABUSER)
        args += [str(c.pem), str(c.key)]
    sampler = faultlib.Sampler(d.proc.pid)
    p = Partner(d, env.tok)
    proc = subprocess.run(args, capture_output=True, text=True, timeout=PHASE_S + 120)
    lp, worst = p.end()
    sampler.stop()
    check(proc.returncode == 0, f"abuser {mode}: exit {proc.returncode}: {proc.stderr[-600:]}")
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    check(d.running, f"the daemon died under {mode}")
    check(p.n > 50, f"{mode}: the well-behaved partner got only {p.n} answers")
    check(lp < 0.3 * SLOW, f"{mode}: the well-behaved partner's p99 is {lp * 1000:.0f} ms")
    # every connection gone again: the descriptors come back to what they were
    faultlib.wait(lambda: faultlib.proc_status(d.proc.pid)["fds"] <= env.base["fds"] + 4,
                  HANDSHAKE_S + IDLE_S + 10, f"{mode}: descriptors back to {env.base['fds']}")
    rss = faultlib.proc_status(d.proc.pid)["rss"]
    check(rss - env.base["rss"] < 64 * 1024 + faultlib.QUARANTINE_KIB,
          f"{mode}: RSS {env.base['rss']} -> {rss} KiB")
    figure(f"{mode}: well-behaved partner {p.n} requests, p99 {lp * 1000:.1f} ms, worst {worst * 1000:.0f} ms; "
           f"daemon RSS peak {mib(sampler.peak_rss)} (start {mib(env.base['rss'])}), descriptors peak "
           f"{sampler.peak_fds} (start {env.base['fds']})")
    return stats, sampler


def cut_within(stats, mode, limit):
    cuts = stats["cut_after"]
    check(cuts, f"{mode}: no connection was cut: {stats}")
    worst = stats["max_cut_after"]
    check(worst < limit, f"{mode}: a connection was held {worst:.1f} s, want under {limit:.1f} s")
    return worst


@case(f"slowloris with a partner certificate, 60 connections: each head cut within "
      f"idle_timeout_s + min(10 s, idle_timeout_s) ({IDLE_S + HEADER_S} s), the well-behaved partner served")
def slowloris(env):
    stats, s = abuse(env, "slowloris", 60)
    eq(stats["errors"], [], "slowloris errors")
    eq(set(stats["answers"]), {"200"}, "answers to the first request")
    worst = cut_within(stats, "slowloris", IDLE_S + HEADER_S + MARGIN_S)
    check(min(stats["cut_after"]) > IDLE_S * 0.8, f"slowloris: cut after only {min(stats['cut_after'])} s")
    scenario("clients", "slowloris: a partner's second request head at 1 byte/s, 60 connections at once",
             stats["made"], f"each cut, within {worst:.1f} s of its previous answer (idle_timeout_s {IDLE_S} + {HEADER_S}); "
             "the well-behaved partner served")


@case(f"slowloris without a certificate, 60 connections: cut at handshake_timeout_s ({HANDSHAKE_S} s)")
def slowstart(env):
    stats, s = abuse(env, "slowstart", 60, cert=False)
    eq(stats["errors"], [], "slowstart errors")
    worst = cut_within(stats, "slowstart", HANDSHAKE_S + MARGIN_S)
    check(min(stats["cut_after"]) > HANDSHAKE_S * 0.8, f"slowstart: cut after only {min(stats['cut_after'])} s")
    scenario("clients", "slowloris without a certificate: the first head at 1 byte/s, 60 connections",
             stats["made"], f"each cut within {worst:.1f} s (handshake_timeout_s {HANDSHAKE_S}); "
             "the well-behaved partner served")


@case("garbage and clear-text HTTP where TLS should be, 50 connections each: closed at once")
def garbage(env):
    for mode in ("garbage", "plaintext"):
        stats, s = abuse(env, mode, 50, cert=False)
        eq(stats["errors"], [], f"{mode} errors")
        worst = cut_within(stats, mode, HANDSHAKE_S + MARGIN_S)
        scenario("clients", {"garbage": "2 KiB of random bytes instead of a ClientHello",
                             "plaintext": "an HTTP request in clear text on the TLS port"}[mode] + ", 50 at once",
                 stats["made"], f"each closed within {worst:.2f} s; the well-behaved partner served")


@case(f"handshakes that stop after the ClientHello, 60 connections: cut at handshake_timeout_s ({HANDSHAKE_S} s)")
def halfway(env):
    stats, s = abuse(env, "halfway", 60, cert=False)
    eq(stats["errors"], [], "halfway errors")
    worst = cut_within(stats, "halfway", HANDSHAKE_S + MARGIN_S)
    check(min(stats["cut_after"]) > HANDSHAKE_S * 0.8, f"halfway: cut after only {min(stats['cut_after'])} s")
    scenario("clients", "a ClientHello, the ServerHello read, then silence, 60 connections at once",
             stats["made"], f"each cut within {worst:.1f} s (handshake_timeout_s {HANDSHAKE_S}); "
             "the well-behaved partner served")


@case(f"200 partner connections held open against max_connections = {MAX_CONN}: each answered, "
      "those past the limit closed")
def flood(env):
    stats, s = abuse(env, "flood", 200)
    eq(stats["errors"], [], "flood errors")
    eq(set(stats["answers"]), {"200"}, "answers")
    check(stats["cut"] > 0, f"no connection past max_connections was closed: {stats}")
    eq(sum(stats["answers"].values()) + stats["refused"], stats["made"], "each connection answered or refused")
    scenario("clients", f"200 kept-alive partner connections at once, max_connections {MAX_CONN}",
             stats["made"], f"{sum(stats['answers'].values())} answered 200 (of them {stats['cut']} past the "
             f"limit closed after their answer), {stats['refused']} refused in their handshake past the "
             f"pending budget, none answered otherwise; the well-behaved partner (connected before) served")


@case("10,000 requests on one kept-alive connection: each answered, the connection kept, memory flat")
def kept_alive(env):
    d = env.gw
    inst = d.install
    n, members = 10_000, 0
    sampler = faultlib.Sampler(d.proc.pid)
    t0 = time.monotonic()
    with d.http(cert=inst.pki.partner(GOOD[0])) as h:
        for i in range(n):
            if i == 2000:
                warm = sampler.mark("warm")
            if i % 5 == 0:
                mid = f"M{i // 5 % 20 + 1:07d}"
                r = h.request("GET", f"/v1/members/{mid}", {"Authorization": "Bearer " + env.tok})
                pdtest.check_status(r, 200, f"request {i}: {mid}")
                check("name" in r.json() and r.headers.get("X-Ledger-Index"), f"request {i}: {mid}")
                members += 1
            else:
                r = h.request("GET", "/v1/whoami")
                pdtest.check_status(r, 200, f"request {i}: whoami")
                eq(r.json().get("partner"), GOOD[0], f"request {i}: whoami partner")
            check(r.headers.get("Connection", "").lower() != "close", f"request {i}: told to close")
    took = time.monotonic() - t0
    end = sampler.stop()
    check(end["rss"] - warm["rss"] < 8 * 1024 + faultlib.QUARANTINE_KIB,
          f"RSS {warm['rss']} -> {end['rss']} KiB over the last 8,000 requests")
    check(end["fds"] <= warm["fds"] + 2, f"descriptors {warm['fds']} -> {end['fds']}")
    scenario("clients", "requests on one kept-alive connection (4 whoami : 1 member)", n,
             f"each 200 with its body, {members} ledger entries, never told to close; RSS "
             f"{mib(warm['rss'])} after 2,000 -> {mib(end['rss'])}")
    figure(f"10,000 requests on one connection in {took:.1f} s; RSS peak {mib(sampler.peak_rss)}")


if __name__ == "__main__":
    pdtest.run(Env)
