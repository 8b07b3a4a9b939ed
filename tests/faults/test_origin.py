#!/usr/bin/env python3
"""Origin faults: an HTTP member system (tests/faults/fault_origin.py, raw sockets, a process of
its own) that refuses, closes, resets mid-body, hangs, drips, floods, sends a chunked body that
never ends, lies about its length and redirects, behind a real `pdgate serve` with `[origin] url`.

Each refused request is answered 502 or 504 as docs/api.md says within timeout_ms and a small
margin, with nothing of a record in it, and has its deny entry in the ledger. Then 10,000 such
requests over several connections, with a well-behaved partner served beside them: the daemon's
memory and descriptors stay flat. Last, the origin's port refuses connections, and comes back.
"""

import contextlib
import subprocess
import sys
import threading
import time

import faultlib
from faultlib import SLOW, check, eq, figure, mib, pdtest, scenario
from pdtest import case

TIMEOUT_MS = 400
MAX_RECORD = 65536
MARGIN_S = 1.0 * SLOW  # what a loaded 2-core machine adds to timeout_ms before the answer is out
GOOD = ("sakura-mail", "CT-2026-0001", "contact")  # the well-behaved partner
BAD = ("shiken-proctor", "CT-2026-0002", "service_delivery")  # asks for what the origin breaks
TOTAL = 10_000
CONNS = 6

# mode -> (status, code, what the origin does)
MODES = {
    "close": (502, "origin_error", "the connection closed before any answer"),
    "reset": (502, "origin_error", "a TCP reset halfway through the record"),
    "short": (502, "origin_error", "half the record, then a clean close"),
    "hang": (504, "origin_timeout", "nothing sent at all"),
    "drip": (504, "origin_timeout", "a good answer, one byte every 20 ms"),
    "flood": (502, "origin_invalid", "100,000,000 bytes announced and sent"),
    "chunked": (502, "origin_invalid", "a chunked body that never ends, 4 KiB chunks"),
    "chunked_slow": (504, "origin_timeout", "a chunked body that never ends, 16 bytes / 100 ms"),
    "two_cl": (502, "origin_error", "two Content-Length headers that differ"),
    "cl_list": (502, "origin_error", "Content-Length: N, N+7"),
    "cl_te": (502, "origin_error", "Content-Length and Transfer-Encoding: chunked"),
    "redirect": (502, "origin_error", "a 302 to a good record"),
    "moved": (502, "origin_error", "a 301 elsewhere"),
}
SLOW_MODES = ("hang", "drip", "chunked_slow")
BIG_PAGE = ("flood", "chunked")  # for a page: 502 origin_invalid at 64 MiB, or 504 before


class FaultOrigin:
    """tests/faults/fault_origin.py as a subprocess, driven over its stdin."""

    def __init__(self, db):
        self.proc = subprocess.Popen([sys.executable, str(faultlib.HERE / "fault_origin.py"), str(db)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())
        self.lock = threading.Lock()

    def cmd(self, line):
        with self.lock:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            return self.proc.stdout.readline().strip()

    def close(self):
        with contextlib.suppress(OSError, ValueError):
            self.cmd("quit")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Env(pdtest.Env):
    @pdtest.fixture
    def gw(self):
        pdtest.raise_nofile(4096)
        inst = self.install(members=30, conf={("origin", "timeout_ms"): TIMEOUT_MS,
                                              ("origin", "max_record_bytes"): MAX_RECORD})
        faultlib.unlimit(inst, GOOD[1], BAD[1])
        origin = self.enter(contextlib.closing(FaultOrigin(inst.path("members.db"))))
        inst.set("origin", "url", f"http://127.0.0.1:{origin.port}")
        d = self.daemon(inst)
        self.good_tok = faultlib.token(inst, GOOD[1], GOOD[2], GOOD[0])
        self.bad_tok = faultlib.token(inst, BAD[1], BAD[2], BAD[0])
        # the members the well-behaved partner is given (the contact purpose refuses none, but
        # the suite asks the gateway rather than assume it)
        self.good_members = []
        with d.http(cert=inst.pki.partner(GOOD[0])) as h:
            for i in range(1, 31):
                mid = f"M{i:07d}"
                r = h.request("GET", f"/v1/members/{mid}", {"Authorization": "Bearer " + self.good_tok})
                if r.status_code == 200:
                    self.good_members.append(mid)
        check(len(self.good_members) >= 10, f"only {self.good_members} released to {GOOD[0]}")
        self.noted = []  # (ledger index, code) of every refusal answered
        self.noted_lock = threading.Lock()
        return d, origin

    def note(self, r, code):
        idx = r.headers.get("X-Ledger-Index")
        check(idx is not None and idx.isdigit(), f"{code}: no X-Ledger-Index on the refusal")
        with self.noted_lock:
            self.noted.append((int(idx), code))


def path_of(mode, n, page):
    return f"/v1/members?limit=5&after=F-{mode}-{n}" if page else f"/v1/members/F-{mode}-{n}"


def ask(env, h, mode, n, page):
    """One request the origin breaks in `mode`; checks the answer; returns its duration."""
    status, code, _ = MODES[mode]
    t0 = time.monotonic()
    r = h.request("GET", path_of(mode, n, page), {"Authorization": "Bearer " + env.bad_tok})
    took = time.monotonic() - t0
    what = f"{'page' if page else 'member'} {mode} #{n}"
    if page and mode in BIG_PAGE and r.status_code == 504:
        # a page may be 64 MiB: which of its two bounds the origin reaches first, size or
        # time, depends on how fast it sends; either refuses the whole page
        status, code = 504, "origin_timeout"
    faultlib.check_refusal(r, status, code, what, leaks=("member_id", "M0000001", "padding"))
    check(took < TIMEOUT_MS / 1000 + MARGIN_S,
          f"{what}: answered after {took:.2f} s, timeout_ms is {TIMEOUT_MS}")
    if status == 504:
        check(took >= TIMEOUT_MS / 1000 * 0.9, f"{what}: 504 after only {took:.2f} s")
    env.note(r, code)
    return took


def ledger_holds(env, d):
    """Every refusal noted has its entry: a deny with the code as its reason."""
    leaves = faultlib.export(d.install)
    with env.noted_lock:
        noted = list(env.noted)
    bad = [(i, c, leaves[i] if i < len(leaves) else None) for i, c in noted
           if i >= len(leaves) or (leaves[i]["kind"], leaves[i]["reason"]) != ("deny", c)]
    eq(bad[:3], [], f"refusals without their deny entry (of {len(noted)})")
    faultlib.verify(d.install)
    return len(noted)


@case("each origin fault, once for a member and once for a page: 502/504 as docs/api.md says, "
      "within timeout_ms, no record, a deny entry each")
def one_of_each(env):
    d, origin = env.gw
    slowest = {}
    with d.http(cert=d.install.pki.partner(BAD[0])) as h:
        for mode in MODES:
            for page in (False, True):
                try:
                    slowest[mode] = max(slowest.get(mode, 0), ask(env, h, mode, 0, page))
                except ConnectionError:
                    # pdgate closed the partner's connection: a finding, not a reason to stop
                    raise pdtest.Failure(f"{mode}: the partner's connection was closed") from None
    for mode, (status, code, what) in MODES.items():
        scenario("origin", f"{mode} ({what})", 2,
                 f"{status} {code} in {slowest[mode]:.2f} s (< {TIMEOUT_MS} ms + {MARGIN_S:.1f} s), "
                 "error body only, a deny entry")
    ledger_holds(env, d)


SCHEDULE = ["close", "reset", "short", "two_cl", "cl_list", "cl_te", "redirect", "moved", "flood",
            "chunked"]


def mode_at(i):
    """The i-th request's fault: each slow mode once in 100, a page flood (64 MiB buffered by
    pdgate before it refuses) once in 500, pages for one in 4 of the rest."""
    if i % 100 in (17, 51, 83):
        return SLOW_MODES[(i // 100 + (i % 100 == 51) + 2 * (i % 100 == 83)) % 3], False
    if i % 500 == 250:
        return "flood", True
    return SCHEDULE[i % len(SCHEDULE)], (i // len(SCHEDULE)) % 4 == 1 and SCHEDULE[i % len(SCHEDULE)] != "flood"


@case(f"{TOTAL:,} origin faults over {CONNS} connections beside a well-behaved partner: "
      "memory and descriptors flat, the partner served throughout")
def ten_thousand(env):
    d, origin = env.gw
    inst = d.install
    bad_cert, good_cert = inst.pki.partner(BAD[0]), inst.pki.partner(GOOD[0])
    sampler = faultlib.Sampler(d.proc.pid)
    nxt = [0]
    lock = threading.Lock()
    done = threading.Event()
    errors, counts, worst, lat, good_n = [], {}, {}, [], [0]
    marked = threading.Event()

    def bad_worker():
        h = d.http(cert=bad_cert)
        try:
            while not errors:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= TOTAL:
                    return
                if i == TOTAL // 5:
                    sampler.mark("warm")
                    marked.set()
                mode, page = mode_at(i)
                try:
                    took = ask(env, h, mode, i, page)
                except ConnectionError:
                    errors.append(f"request {i} ({mode}): the partner's connection was closed")
                    return
                with lock:
                    counts[(mode, page)] = counts.get((mode, page), 0) + 1
                    worst[(mode, page)] = max(worst.get((mode, page), 0), took)
        except Exception as e:  # noqa: BLE001 - reported by the case
            errors.append(f"{type(e).__name__}: {e}")
        finally:
            h.close()

    def good_worker():
        h = d.http(cert=good_cert)
        k = 0
        try:
            while not done.is_set() and not errors:
                mid = env.good_members[k % len(env.good_members)]
                k += 1
                t0 = time.monotonic()
                r = h.request("GET", f"/v1/members/{mid}", {"Authorization": "Bearer " + env.good_tok})
                lat.append(time.monotonic() - t0)
                pdtest.check_status(r, 200, f"the well-behaved partner, {mid}")
                body = r.json()
                check("name" in body and "address" in body, f"{mid}: released {sorted(body)}")
                good_n[0] += 1
                time.sleep(0.01)
        except Exception as e:  # noqa: BLE001 - reported by the case
            errors.append(f"well-behaved partner: {type(e).__name__}: {e}")
        finally:
            h.close()

    t0 = time.monotonic()
    good = threading.Thread(target=good_worker, daemon=True)
    good.start()
    workers = [threading.Thread(target=bad_worker, daemon=True) for _ in range(CONNS)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    done.set()
    good.join()
    took = time.monotonic() - t0
    end = sampler.stop()
    eq(errors[:3], [], "errors")
    eq(sum(counts.values()), TOTAL, "requests answered")
    check(marked.is_set(), "no warm-up sample")
    warm = sampler.marks["warm"]
    for (mode, page), n in sorted(counts.items()):
        status, code, what = MODES[mode]
        if page and mode in BIG_PAGE:
            status, code = "502/504", "origin_invalid or origin_timeout"
        scenario("origin, mixed", f"{mode} for a {'page' if page else 'member'} ({what})", n,
                 f"{status} {code}, the slowest in {worst[(mode, page)]:.2f} s (< {TIMEOUT_MS} ms + "
                 f"{MARGIN_S:.1f} s), error body only")
    n_ledger = ledger_holds(env, d)
    scenario("origin, mixed", "the refusals above", n_ledger, "a deny entry each with its code; ledger verify")
    lp = faultlib.p99(lat)
    figure(f"{TOTAL} origin faults in {took:.1f} s over {CONNS} connections; well-behaved partner: "
           f"{good_n[0]} requests served, p99 {lp * 1000:.1f} ms, worst {max(lat) * 1000:.0f} ms")
    figure(f"daemon RSS after {TOTAL // 5} {mib(warm['rss'])}, at the end {mib(end['rss'])}, peak sampled "
           f"{mib(sampler.peak_rss)}, VmHWM {mib(end['hwm'])}; descriptors {warm['fds']} -> {end['fds']} "
           f"(peak {sampler.peak_fds})")
    check(good_n[0] > 50, f"the well-behaved partner got only {good_n[0]} answers")
    check(max(lat) < TIMEOUT_MS / 1000 + MARGIN_S, f"the well-behaved partner waited {max(lat):.2f} s")
    check(end["rss"] - warm["rss"] < 16 * 1024 + faultlib.QUARANTINE_KIB,
          f"RSS grew from {warm['rss']} to {end['rss']} KiB over the last {TOTAL * 4 // 5} requests")
    check(end["fds"] - warm["fds"] <= 4, f"descriptors grew from {warm['fds']} to {end['fds']}")
    check(sampler.peak_fds < warm["fds"] + 2 * CONNS + 16, f"descriptors peaked at {sampler.peak_fds}")


@case("the origin's port refuses connections: 502 origin_error at once, /readyz says so, "
      "served again when it listens")
def refused(env):
    d, origin = env.gw
    inst = d.install
    status_port = int(inst.get("status", "listen").rpartition(":")[2])
    import requests
    eq(origin.cmd("down"), "ok", "origin down")
    n = 0
    try:
        with d.http(cert=inst.pki.partner(GOOD[0])) as h:
            for i in range(50):
                for page in (False, True):
                    path = "/v1/members?limit=5" if page else f"/v1/members/{env.good_members[i % 10]}"
                    t0 = time.monotonic()
                    r = h.request("GET", path, {"Authorization": "Bearer " + env.good_tok})
                    took = time.monotonic() - t0
                    faultlib.check_refusal(r, 502, "origin_error", f"refused #{i} {path}",
                                           leaks=("member_id", "address"))
                    check(took < TIMEOUT_MS / 1000 + MARGIN_S, f"refused #{i}: {took:.2f} s")
                    env.note(r, "origin_error")
                    n += 1
        rz = requests.get(f"http://127.0.0.1:{status_port}/readyz", timeout=10 * SLOW)
        eq(rz.status_code, 503, "/readyz while the origin refuses")
        check(not rz.json()["checks"]["origin"]["ok"], f"/readyz: {rz.text}")
    finally:
        eq(origin.cmd("up"), "ok", "origin up")
    faultlib.wait(lambda: requests.get(f"http://127.0.0.1:{status_port}/readyz",
                                       timeout=10 * SLOW).status_code == 200, 10, "/readyz 200 again")
    with d.http(cert=inst.pki.partner(GOOD[0])) as h:
        r = h.request("GET", f"/v1/members/{env.good_members[0]}", {"Authorization": "Bearer " + env.good_tok})
        pdtest.check_status(r, 200, "served again")
    scenario("origin", "connection refused (nothing listens on the origin's port)", n,
             f"502 origin_error within {TIMEOUT_MS} ms + {MARGIN_S:.1f} s, error body only, "
             "/readyz 503 then 200 without a request, a deny entry each")
    ledger_holds(env, d)


if __name__ == "__main__":
    pdtest.run(Env)
