#!/usr/bin/env python3
"""Disk faults: the ledger's writes and syncs failing under load, its folder read-only, its file
system full.

I/O errors come from tests/faults/iofail.c, an LD_PRELOAD shim (built by `make faults` into
build/faults/iofail.so, PDGATE_IOFAIL says where) that fails write/pwrite/fsync/fdatasync on the
ledger's files with EIO, ENOSPC or EROFS while a control file exists: the test turns the fault on
and off while the daemon runs. Each round, under load from a partner: 503 ledger_unavailable with
nothing released, /readyz says `ledger`, every 200 answered has its entry with the digest of
what was sent, and service comes back by itself (no request needed) once the fault is removed.
After the last round `PRAGMA integrity_check` is ok and `pdgate ledger verify` passes.

The read-only folder: a read-only bind mount of the ledger's folder (root only). The full file
system (root only): the ledger's folder on a tmpfs of FILL_SIZE that its own entries fill under
pages from three partners, then given room back (remount with a bigger size) while the gateway
runs; and the cases of tests/e2e/test_ledger_cli.py and tests/e2e/test_status.py (a tmpfs filled
to the brim by a file beside the ledger), run here by reference. Every mount is undone after
its case, also on failure.
"""

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

import faultlib
from faultlib import SLOW, check, eq, figure, pdtest, scenario
from pdtest import case

PARTNER, CONTRACT, PURPOSE = "sakura-mail", "CT-2026-0001", "contact"
IOFAIL = os.environ.get("PDGATE_IOFAIL") or str(faultlib.HERE.parents[1] / "build/faults/iofail.so")
HOLD_S = 1.5  # how long each fault is kept on


def status_url(inst, path):
    return f"http://127.0.0.1:{inst.get('status', 'listen').rpartition(':')[2]}{path}"


def readyz(inst):
    r = requests.get(status_url(inst, "/readyz"), timeout=10 * SLOW)
    return r.status_code, r.json()


def ready_at_start(inst):
    """/readyz answers 200. The status listener opens after the partner port the harness waits
    for: refused connections just after the start are waited out."""
    try:
        return readyz(inst)[0] == 200
    except requests.ConnectionError:
        return False


class Load:
    """A partner asking for members on kept-alive connections in threads, as fast as it is
    answered: every 200 with its X-Ledger-Index and the digest of the body sent, every other
    answer checked to be an error body and nothing else."""

    def __init__(self, d, tok, threads=3):
        self.d, self.tok = d, tok
        self.got = {}  # ledger index -> sha256 of the 200's body
        self.codes = {}
        self.errors = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(k,), daemon=True) for k in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, k):
        cert = self.d.install.pki.partner(PARTNER)
        i = 0
        h = None
        try:
            while not self.stop.is_set():
                if h is None:
                    h = self.d.http(cert=cert)
                i += 1
                r = h.request("GET", f"/v1/members/M{(k * 7 + i) % 20 + 1:07d}",
                              {"Authorization": "Bearer " + self.tok})
                with self.lock:
                    self.codes[r.status_code] = self.codes.get(r.status_code, 0) + 1
                if r.status_code == 200:
                    idx = r.headers.get("X-Ledger-Index")
                    check(idx and idx.isdigit(), "a 200 without X-Ledger-Index")
                    with self.lock:
                        self.got[int(idx)] = hashlib.sha256(r.content).hexdigest()
                else:
                    faultlib.check_refusal(r, 503, "ledger_unavailable", "under a disk fault",
                                           leaks=("name", "address", "email"))
                    check(r.headers.get("X-Ledger-Index") is None, "a 503 names a ledger index")
                time.sleep(0.002)
        except Exception as e:  # noqa: BLE001 - reported by the case
            self.errors.append(f"load {k}: {type(e).__name__}: {e}")
        finally:
            if h is not None:
                h.close()

    def count(self, status):
        with self.lock:
            return self.codes.get(status, 0)

    def end(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        eq(self.errors[:3], [], "the partner's answers")


def entries_hold(inst, got):
    """Every 200 answered has its entry, with the digest of what was sent."""
    leaves = faultlib.export(inst)
    missing = [i for i, dg in got.items() if i >= len(leaves) or leaves[i].get("digest") != dg]
    eq(missing[:5], [], f"200s answered without their entry (of {len(got)})")
    return leaves


@case("I/O errors on the ledger's writes and syncs (EIO, ENOSPC, EROFS), 3 rounds each under load: "
      "503 ledger_unavailable, nothing released, /readyz says so, back by itself; the ledger intact")
def io_errors(env):
    check(Path(IOFAIL).exists(), f"{IOFAIL} is missing: make faults builds it")
    inst = env.install(members=20, conf={("ledger", "checkpoint_interval_ms"): 200})
    faultlib.unlimit(inst, CONTRACT)
    control, counter = env.tmp / "iofail-on", env.tmp / "iofail-count"
    ledger = inst.path("ledger.db")
    denv = faultlib.preload(IOFAIL, IOFAIL_MATCH=ledger, IOFAIL_CONTROL=control, IOFAIL_COUNT=counter)
    tok = faultlib.token(inst, CONTRACT, PURPOSE, PARTNER)
    d = pdtest.Daemon(inst, env=denv)
    rounds = []
    with d:
        faultlib.wait(lambda: ready_at_start(inst), 10, "/readyz 200 at start")
        load = Load(d, tok)
        try:
            for errno_name in ("EIO", "ENOSPC", "EROFS") * 3:
                base = load.count(200)
                faultlib.wait(lambda: load.count(200) > base + 20, 10, "releases before the fault")
                n503 = load.count(503)
                injected0 = counter.stat().st_size if counter.exists() else 0
                control.write_text(errno_name)
                t_on = time.monotonic()
                faultlib.wait(lambda: load.count(503) > n503, 5, f"{errno_name}: a 503")
                doc = faultlib.wait(lambda: (lambda s: s[1] if not s[1]["checks"]["ledger"]["ok"] else None)(readyz(inst)),
                                    5, f"{errno_name}: /readyz failing on the ledger")
                reason = doc["checks"]["ledger"]["reason"]
                time.sleep(HOLD_S)
                during = load.count(200)
                time.sleep(0.3)
                # while the fault holds, nothing commits: no 200 at all (a 200 in flight when it
                # came on may finish)
                check(load.count(200) - during == 0, f"{errno_name}: 200s answered while every write fails")
                control.unlink()
                t_off = time.monotonic()
                faultlib.wait(lambda: readyz(inst)[0] == 200, 10, f"{errno_name}: /readyz 200 again, no request needed")
                back = time.monotonic() - t_off
                faultlib.wait(lambda: load.count(200) > during, 5, f"{errno_name}: a 200 again")
                rounds.append((errno_name, load.count(503) - n503, counter.stat().st_size - injected0,
                               t_off - t_on, back, reason))
        finally:
            if control.exists():
                control.unlink()
            load.end()
        d.term()
    faultlib.integrity(ledger)
    faultlib.verify(inst)
    leaves = entries_hold(inst, load.got)
    for name in ("EIO", "ENOSPC", "EROFS"):
        rs = [r for r in rounds if r[0] == name]
        scenario("disk", f"{name} on every write/pwrite/fsync/fdatasync of ledger.db* for {HOLD_S:.1f} s+ "
                 f"({sum(r[2] for r in rs)} calls failed)", len(rs),
                 f"{sum(r[1] for r in rs)} answers 503 ledger_unavailable with the error body only; no 200 "
                 f"while it held; /readyz ledger failing ({rs[0][5]!r}), 200 again within "
                 f"{max(r[4] for r in rs):.1f} s of the fix with no request")
    scenario("disk", "the rounds above, then SIGTERM", 1,
             f"PRAGMA integrity_check ok, ledger verify OK, each of the {len(load.got)} 200s answered has "
             f"its entry with the body's digest ({len(leaves)} entries)")
    figure(f"disk rounds: {load.count(200)} released, {load.count(503)} refused 503 during the faults")

    # Last: kill -9 while the writes fail, the fault removed, a restart. What a failed commit
    # left in the WAL must not break the ledger.
    with pdtest.Daemon(inst, env=denv) as d:
        load = Load(d, tok)
        try:
            faultlib.wait(lambda: load.count(200) > 20, 10, "releases before the fault")
            control.write_text("EIO")
            n503 = load.count(503)
            faultlib.wait(lambda: load.count(503) > n503 + 50, 5, "503s before the kill")
            d.kill()
        finally:
            load.stop.set()
            for t in load.threads:
                t.join(30)
            if control.exists():
                control.unlink()
        d.rc = -9
    with pdtest.Daemon(inst) as d:
        d.term()
    faultlib.integrity(ledger)
    faultlib.verify(inst)
    leaves = entries_hold(inst, load.got)
    scenario("disk", "kill -9 while every write of the ledger fails (EIO), then a restart without it", 1,
             f"PRAGMA integrity_check ok, ledger verify OK, each of the {len(load.got)} 200s of that run "
             f"has its entry ({len(leaves)} entries in all)")


@case("the ledger's folder on a read-only mount: pdgate serve refuses to start and says why; "
      "starts once it is writable, the ledger intact")
def read_only(env):
    if os.geteuid() != 0:
        print("# skip: a read-only bind mount needs root")
        return
    inst = env.install(members=20)
    folder = env.tmp / "ro-ledger"
    folder.mkdir()
    inst.set("ledger", "path", str(folder / "ledger.db"))
    tok = faultlib.token(inst, CONTRACT, PURPOSE, PARTNER)
    with pdtest.Daemon(inst) as d:  # a ledger with entries first
        r = d.get("/v1/members/M0000001", cert=inst.pki.partner(PARTNER),
                  headers={"Authorization": "Bearer " + tok})
        pdtest.check_status(r, 200, "a release before")
        d.term()
    size0 = len(faultlib.export(inst))
    r = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"# skip: cannot bind-mount: {r.stderr.strip()}")
        return
    try:
        r = subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True, text=True)
        check(r.returncode == 0, f"remount read-only: {r.stderr.strip()}")
        d = pdtest.Daemon(inst, ready_timeout=10)
        try:
            d.start()
            started = True
        except pdtest.DaemonExited as e:
            started = False
            check(e.rc != 0, "pdgate serve exited 0 on a read-only ledger")
            check("ledger" in e.log.lower() and ("read-only" in e.log.lower() or "readonly" in e.log.lower()),
                  f"the log does not say the ledger is read-only:\n{pdtest.tail(e.log, 8)}")
            why = [line for line in e.log.splitlines() if "ledger" in line.lower()][-1:]
        if started:
            # a gateway that starts must still refuse every release it cannot record
            try:
                r = d.get("/v1/members/M0000001", cert=inst.pki.partner(PARTNER),
                          headers={"Authorization": "Bearer " + tok})
                faultlib.check_refusal(r, 503, "ledger_unavailable", "a read-only ledger", leaks=("name",))
                why = ["started, answered 503 ledger_unavailable"]
            finally:
                d.kill()
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)
    with pdtest.Daemon(inst) as d:
        r = d.get("/v1/members/M0000002", cert=inst.pki.partner(PARTNER),
                  headers={"Authorization": "Bearer " + tok})
        pdtest.check_status(r, 200, "released once the folder is writable")
        d.term()
    faultlib.integrity(folder / "ledger.db")
    faultlib.verify(inst)
    check(len(faultlib.export(inst)) > size0, "the ledger grew after the fix")
    scenario("disk", "the ledger's folder remounted read-only (bind mount) before pdgate serve", 1,
             f"no partner served while read-only ({why[0].strip()[:160]!r}); served once writable; "
             "integrity_check ok, ledger verify OK")


FILL_PARTNERS = [("sakura-mail", "CT-2026-0001", "contact"),
                 ("shiken-proctor", "CT-2026-0002", "service_delivery"),
                 ("maison-partners", "CT-2026-0003", "service_delivery")]
FILL_MEMBERS, FILL_PAGE = 200, 100  # pages of 100 members: 100 entries a request
FILL_SIZE, FILL_ROOM = "32m", "96m"  # the tmpfs the ledger fills, and what it is given back


def compact(member):
    """A member of a page as the gateway wrote it in the answer, and the digest of its entry."""
    return json.dumps(member, ensure_ascii=False, separators=(",", ":"))


class Partners:
    """Several partners on kept-alive connections, each thread asking for pages of FILL_PAGE
    members (or single members) as fast as it is answered: each 200 kept with its X-Ledger-Index,
    X-Request-Id and the digests of what it released; any other answer checked to be 503
    ledger_unavailable, the error body alone, no X-Ledger-Index."""

    def __init__(self, d, tokens):
        self.d, self.tokens = d, tokens
        self.singles = []  # (index, request id, sha256 of the body)
        self.pages = []  # (first index, request id, [sha256 of each member released], entries)
        self.codes = {}
        self.errors = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(p, k, k == 1 and p == "sakura-mail"), daemon=True)
                        for p in tokens for k in range(2)]
        for t in self.threads:
            t.start()

    def run(self, pid, k, single):
        cert = self.d.install.pki.partner(pid)
        h, i, after = None, 0, None
        try:
            while not self.stop.is_set():
                if h is None:
                    h = self.d.http(cert=cert, timeout=10 * SLOW)
                i += 1
                if single:
                    path = f"/v1/members/M{(k * 7 + i) % 20 + 1:07d}"  # released to sakura-mail
                else:
                    path = f"/v1/members?limit={FILL_PAGE}" + (f"&after={after}" if after else "")
                r = h.request("GET", path, {"Authorization": "Bearer " + self.tokens[pid]})
                with self.lock:
                    self.codes[r.status_code] = self.codes.get(r.status_code, 0) + 1
                if r.status_code != 200:
                    faultlib.check_refusal(r, 503, "ledger_unavailable", f"{pid} on a full file system",
                                           leaks=("name", "address", "email", "members"))
                    check(r.headers.get("X-Ledger-Index") is None, "a 503 names a ledger index")
                    time.sleep(0.002)
                    continue
                idx, rid = r.headers.get("X-Ledger-Index"), r.headers.get("X-Request-Id")
                check(idx and idx.isdigit() and rid, f"a 200 without X-Ledger-Index or X-Request-Id: {path}")
                if single:
                    with self.lock:
                        self.singles.append((int(idx), rid, hashlib.sha256(r.content).hexdigest()))
                    continue
                body = r.json()
                ms = body["members"]
                for m in ms:
                    check(compact(m) in r.text, f"{pid}: a member not compact in the page")
                with self.lock:
                    self.pages.append((int(idx), rid, [hashlib.sha256(compact(m).encode()).hexdigest() for m in ms],
                                       len(ms) + body["withheld"]))
                after = body["next"]
        except Exception as e:  # noqa: BLE001 - reported by the case
            self.errors.append(f"{pid} {k}: {type(e).__name__}: {e}")
        finally:
            if h is not None:
                h.close()

    def count(self, status):
        with self.lock:
            return self.codes.get(status, 0)

    def end(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        eq(self.errors[:3], [], "the partners' answers")


def answers_hold(inst, load):
    """Every 200 a partner got has its entries: at its X-Ledger-Index, of its request, with the
    digest of each record it was sent."""
    leaves = faultlib.export(inst)
    bad = []
    for idx, rid, dg in load.singles:
        e = leaves[idx] if idx < len(leaves) else {}
        if e.get("request") != rid or e.get("digest") != dg:
            bad.append(f"member at {idx}")
    for first, rid, dgs, n in load.pages:
        es = leaves[first:first + n]
        if len(es) != n or any(e.get("request") != rid for e in es) \
                or [e.get("digest") for e in es if e.get("kind") == "release"] != dgs:
            bad.append(f"page at {first}")
    eq(bad[:5], [], f"200s answered without their entries (of {len(load.singles) + len(load.pages)})")
    return leaves


@case(f"the ledger fills its own tmpfs ({FILL_SIZE}) under load from 3 partners: 503 ledger_unavailable, "
      "no 200, /readyz says full; room given back (remount) while it runs: served again by itself")
def fills_up(env):
    if os.geteuid() != 0:
        print("# skip: mounting a tmpfs needs root")
        return
    inst = env.install(members=FILL_MEMBERS, conf={("ledger", "checkpoint_interval_ms"): 200})
    faultlib.unlimit(inst, *[c for _, c, _ in FILL_PARTNERS])
    mnt = env.tmp / "fill-fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FILL_SIZE},mode=0700", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        mnt.rmdir()
        print(f"# skip: cannot mount a tmpfs: {r.stderr.strip()}")
        return
    try:
        inst.set("ledger", "path", str(mnt / "ledger.db"))
        tokens = {p: faultlib.token(inst, c, purpose, p) for p, c, purpose in FILL_PARTNERS}
        with pdtest.Daemon(inst) as d:
            faultlib.wait(lambda: ready_at_start(inst), 10, "/readyz 200 at start")
            t0 = time.monotonic()
            load = Partners(d, tokens)
            try:
                faultlib.wait(lambda: load.count(503) > 0, 30 * SLOW, f"the ledger filling {FILL_SIZE}")
                t_full = time.monotonic()
                before = load.count(200)
                doc = faultlib.wait(lambda: (lambda s: s[1] if not s[1]["checks"]["ledger"]["ok"] else None)(
                    readyz(inst)), 5, "/readyz failing on the ledger")
                reason = doc["checks"]["ledger"]["reason"]
                check("full" in reason, f"/readyz ledger reason: {reason!r}")
                # what was in flight when the disk filled may finish; then nothing is released
                time.sleep(0.5)
                during = load.count(200)
                time.sleep(HOLD_S)
                eq(load.count(200) - during, 0, "200s answered while the file system is full")
                code, doc = readyz(inst)
                check(code == 503 and not doc["checks"]["ledger"]["ok"] and "full" in doc["checks"]["ledger"]["reason"],
                      f"/readyz while full: {code} {doc}")
                full503 = load.count(503)  # every 503 came while the file system was full
                df = os.statvfs(mnt)
                t_room = time.monotonic()
                r = subprocess.run(["mount", "-o", f"remount,size={FILL_ROOM}", str(mnt)],
                                   capture_output=True, text=True)
                check(r.returncode == 0, f"remount size={FILL_ROOM}: {r.stderr.strip()}")
                faultlib.wait(lambda: load.count(200) > during, 10, "a 200 once there is room, no restart")
                back = time.monotonic() - t_room
                faultlib.wait(lambda: readyz(inst)[0] == 200, 10, "/readyz 200 once there is room")
                ready = time.monotonic() - t_room
                after = load.count(200)
                faultlib.wait(lambda: load.count(200) > after + 20, 10, "releases go on")
            finally:
                load.end()
            d.term()
        faultlib.integrity(mnt / "ledger.db")
        faultlib.integrity(mnt / "ledger.db-index")
        faultlib.verify(inst)
        leaves = answers_hold(inst, load)
        sizes = {p.name: p.stat().st_size for p in mnt.iterdir()}
    finally:
        r = subprocess.run(["umount", str(mnt)], capture_output=True, text=True)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        mnt.rmdir()
    scenario("disk", f"the ledger's folder on a tmpfs of {FILL_SIZE} that its own entries fill, under pages of "
             f"{FILL_PAGE} and single members from {len(FILL_PARTNERS)} partners on {len(load.threads)} "
             f"connections, then remount size={FILL_ROOM} while it runs", 1,
             f"{full503} answers 503 ledger_unavailable with the error body only and no X-Ledger-Index "
             f"while full, no 200 in {HOLD_S:.1f} s of it; /readyz ledger failing ({reason!r}); a 200 again "
             f"{back:.3f} s after the remount, /readyz 200 after {ready:.2f} s, no restart; "
             f"PRAGMA integrity_check ok, ledger verify OK, each of the {len(load.singles) + len(load.pages)} "
             f"200s has its entries (index, request id, digest; {len(leaves)} entries)")
    figure(f"disk fill: {before} requests served in {t_full - t0:.1f} s before {FILL_SIZE} was full "
           f"({df.f_bfree * df.f_bsize // 1024} KiB free then), {full503} 503s while full, "
           f"{back:.3f} s from the remount to the first 200; files after: "
           + ", ".join(f"{k} {v // 1024} KiB" for k, v in sorted(sizes.items())))


def run_by_reference(suite, only):
    """One case of an end-to-end suite, run as it is there."""
    r = subprocess.run([sys.executable, str(pdtest.REPO / "tests/e2e" / suite)],
                       env=dict(os.environ, PDTEST_ONLY=only), capture_output=True, text=True,
                       timeout=300 * SLOW)
    out = r.stdout + r.stderr
    lines = [x for x in out.splitlines() if x.startswith(("ok - ", "not ok - ", "#   ", "# skip"))]
    check(r.returncode == 0 and "1 passed, 0 failed" in out, f"{suite}: {' / '.join(lines)[-800:]}")
    return [x for x in lines if x.startswith("# skip")]


@case("the ledger on a full file system (tests/e2e/test_ledger_cli.py and test_status.py, by reference)")
def full_fs(env):
    skips = run_by_reference("test_ledger_cli.py", "ledger on a full file system")
    skips += run_by_reference("test_status.py", "the ledger on a full file system")
    if skips:
        print(f"# skip: {skips[0][7:]}")
        return
    scenario("disk", "a 2 MiB tmpfs filled to the brim under the ledger (test_ledger_cli, test_status)", 2,
             "503 ledger_unavailable with no body data, /readyz ledger 'full' then 200 with no request, "
             "released again once there is room, ledger verify OK")


if __name__ == "__main__":
    pdtest.run()
