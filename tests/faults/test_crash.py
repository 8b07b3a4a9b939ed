#!/usr/bin/env python3
"""Crash safety: `kill -9` at random moments, 50 times, while three partners ask for members on
kept-alive connections (two connections each). After each restart, on the running gateway:
`PRAGMA integrity_check` is ok, and `pdgate ledger verify --checkpoint` passes with the last
checkpoint a client could have read before the crash (the ledger extends it: a consistency
proof from its size). At the end every 200 a partner got has its entry with the digest of the
body it was sent, and each run has its gateway_start entry.

PDFAULTS_SEED fixes the moments (printed at the start); PDFAULTS_KILLS the number of kills.
"""

import hashlib
import os
import random
import sqlite3
import threading
import time

import faultlib
from faultlib import check, eq, figure, pdtest, scenario
from pdtest import case

KILLS = int(os.environ.get("PDFAULTS_KILLS") or 50)
PARTNERS = [("sakura-mail", "CT-2026-0001", "contact"),
            ("shiken-proctor", "CT-2026-0002", "service_delivery"),
            ("maison-partners", "CT-2026-0003", "service_delivery")]
MEMBERS = 50


def latest_checkpoint(path):
    """The latest signed checkpoint note in the ledger file, as a client could read it, or None."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        row = db.execute("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1").fetchone()
    finally:
        db.close()
    return row[0] if row else None


@case(f"kill -9 at random moments under load from 3 partners, {KILLS} times: after each restart "
      "integrity_check ok and the ledger extends the last checkpoint seen; every 200 has its entry")
def kills(env):
    seed = int(os.environ.get("PDFAULTS_SEED") or time.time())
    print(f"# seed {seed} (PDFAULTS_SEED)", flush=True)
    rng = random.Random(seed)
    inst = env.install(members=MEMBERS, conf={("ledger", "checkpoint_interval_ms"): 100})
    faultlib.unlimit(inst, *[c for _, c, _ in PARTNERS])
    tokens = {p: faultlib.token(inst, c, purpose, p) for p, c, purpose in PARTNERS}
    ledger = inst.path("ledger.db")
    got = {}  # ledger index -> sha256 of the body answered with 200
    lock = threading.Lock()
    served = [0]
    notes = env.tmp / "checkpoints"
    notes.mkdir()
    seen = None  # the last checkpoint read before the previous kill
    proofs = 0
    for round_ in range(KILLS + 1):
        d = pdtest.Daemon(inst)
        d.start()
        if seen is not None:
            faultlib.integrity(ledger)
            r = inst.pdgate("ledger", "verify", "-c", inst.conf, "--checkpoint", seen)
            check(r.returncode == 0 and r.stdout.endswith("ledger OK\n"),
                  f"restart {round_}: verify --checkpoint: {(r.stdout + r.stderr).strip()[-500:]}")
            proofs += 1
        if round_ == KILLS:
            d.term()
            break
        stop = threading.Event()

        def client(pid, k):
            try:
                h = d.http(cert=inst.pki.partner(pid), timeout=5)
            except OSError:
                return
            i = 0
            try:
                while not stop.is_set():
                    i += 1
                    r = h.request("GET", f"/v1/members/M{(k * 13 + i) % MEMBERS + 1:07d}",
                                  {"Authorization": "Bearer " + tokens[pid]})
                    if r.status_code == 200:
                        with lock:
                            got[int(r.headers["X-Ledger-Index"])] = hashlib.sha256(r.content).hexdigest()
                            served[0] += 1
            except (OSError, ValueError):
                return  # the daemon is killed mid-answer
            finally:
                h.close()

        threads = [threading.Thread(target=client, args=(p, k), daemon=True)
                   for p, _, _ in PARTNERS for k in range(2)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.15, 0.6))
        note = latest_checkpoint(ledger)
        d.kill()
        stop.set()
        for t in threads:
            t.join(10)
        if note is not None:
            seen = notes / f"checkpoint-{round_}"
            seen.write_text(note)
    faultlib.integrity(ledger)
    faultlib.verify(inst)
    leaves = faultlib.export(inst)
    check(len(got) > KILLS * 10, f"only {len(got)} answers under load")
    missing = [i for i, dg in got.items() if i >= len(leaves) or leaves[i].get("digest") != dg]
    eq(missing[:5], [], f"200s answered without their entry (of {len(got)})")
    starts = sum(1 for x in leaves if x["kind"] == "admin" and x["admin"]["action"] == "gateway_start")
    eq(starts, KILLS + 1, "a gateway_start entry per run")
    scenario("crash", "kill -9 at a random moment (0.15-0.6 s into a run) under load from 3 partners "
             "on 6 connections", KILLS,
             f"after each restart PRAGMA integrity_check ok and ledger verify --checkpoint with the "
             f"last checkpoint read before the kill ({proofs} consistency proofs); each of the {len(got)} "
             f"200s answered has its entry with the body's digest; {starts} gateway_start entries")
    figure(f"crash: {served[0]} requests served across {KILLS} kills, {len(leaves)} entries")


if __name__ == "__main__":
    pdtest.run()
