#!/usr/bin/env python3
"""Witnesses with a ledger in PostgreSQL shared by two gateway nodes ([ledger] url, [witness]):
each node submits the latest checkpoint, whichever node signed it, to every witness, and the two
nodes submitting the same checkpoint is harmless (the witness's 409 of that size is followed);
the cosignatures are kept in the database's `cosignatures` table, once per checkpoint and
witness, so either node serves every checkpoint with every cosignature either was given (GET
/v1/ledger/checkpoint on both listeners, receipts, `pdgate ledger prove --db`); a witness down
never stops a release and /readyz says the witnessed age on both nodes; a ledger whose tail was
cut in the database is refused by both nodes once the witnesses have seen more.

Real daemons, a PostgreSQL server of the suite's own (pgserver.py), `pdgate witness serve` and
the independent Python witness of tests/witness_py.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import requests

import pdtest
import pywitness
from pdtest import SLOW, case, check, eq
from pgserver import PgServer
from test_cluster import node_conf, token, unlimited
from test_receipts import check_program
from test_witness import Witness, _Stopper, check_cosignature

CONTRACT, PARTNER, PURPOSE = "CT-2026-0001", "sakura-mail", "contact"
INTERVAL_MS = 200
W1, PY = "witness.example/w1", "witness.example/py"


class Node:
    """One gateway node: its daemon on its own configuration of the shared ledger."""

    def __init__(self, inst, conf):
        self.inst, self.conf = inst, conf
        text = conf.read_text()
        self.status_port = int(pdtest.conf_get(text, "status", "listen").rpartition(":")[2])
        self.compliance_port = int(pdtest.conf_get(text, "compliance", "listen").rpartition(":")[2])
        self.d = pdtest.Daemon(inst, conf=conf)

    def status(self, path):
        deadline = time.monotonic() + 20 * SLOW
        while True:
            try:
                return requests.get(f"http://127.0.0.1:{self.status_port}{path}", timeout=10)
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def metric(self, name, label=None):
        want = name + (f'{{witness="{label}"}}' if label else "")
        for line in self.status("/metrics").text.splitlines():
            if line.startswith(want + " "):
                return float(line.split(" ")[1])
        return None

    def readyz_witness(self):
        return self.status("/readyz").json()["checks"]["witness"]

    def compliance(self, path):
        inst = self.inst
        tok = inst.pdgate("token", "issue", "-c", inst.conf, "--staff", "auditor", "--role",
                          "auditor", "--ttl", "1h").stdout.strip()
        return requests.get(f"https://127.0.0.1:{self.compliance_port}{path}",
                            headers={"Authorization": f"Bearer {tok}"},
                            verify=str(inst.server_ca), timeout=30)

    def served(self):
        """The latest checkpoint as the partner and the compliance listeners serve it: (note,
        size), the same on both."""
        r = self.d.get("/v1/ledger/checkpoint", cert=self.inst.pki.partner(PARTNER))
        pdtest.check_status(r, 200, "partner GET /v1/ledger/checkpoint")
        c = self.compliance("/v1/ledger/checkpoint")
        pdtest.check_status(c, 200, "compliance GET /v1/ledger/checkpoint")
        if (c.text, c.headers["X-Tree-Size"]) != (r.text, r.headers["X-Tree-Size"]):
            return self.served()  # a checkpoint signed between the two: asked again
        return r.text, int(r.headers["X-Tree-Size"])


class Env(pdtest.Env):
    @pdtest.fixture
    def pg(self):
        return self.enter(PgServer())

    def cluster(self, db, max_age_s=None):
        """An installation whose two nodes share the database db, with pdgate's witness (w1)
        and the Python witness (py), quorum 2: (inst, url, w1, py, [node1, node2])."""
        inst = self.install(members=30, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
        unlimited(inst)
        vkey = inst.path("keys/ledger.vkey").read_text().strip()
        w1 = Witness(self.tmp, [vkey], name=W1)
        self.enter(_Stopper(w1))
        w1.start()
        py = self.enter(pywitness.PythonWitness(self.tmp / f"py-{db}", [vkey]))
        inst.set("witness", "w1", f"{w1.vkey} {w1.url[:-len('/add-checkpoint')]}")
        inst.set("witness", "py", f"{py.vkey} {py.url}")
        inst.set("witness", "quorum", 2)
        if max_age_s is not None:
            inst.set("witness", "max_age_s", max_age_s)
        self.pg.create_database(db)
        url = self.pg.database_url(db)
        nodes = [Node(inst, node_conf(inst, f"node{i}", url)) for i in (1, 2)]
        return inst, url, w1, py, nodes


def sig_lines(note):
    return [x + "\n" for x in note[note.rindex("\n\n") + 2:].splitlines()]


def rows(env, db, sql):
    out = env.pg.psql(sql, dbname=db)
    return [line.split("|") for line in out.splitlines() if line]


def checkpoints(env, db):
    return [int(s) for (s,) in rows(env, db, "SELECT size FROM checkpoints ORDER BY size")]


def cosigs(env, db):
    """{size: [witness key names]} of the database's cosignatures table."""
    out = {}
    for s, w in rows(env, db, "SELECT size, witness FROM cosignatures ORDER BY size, witness"):
        out.setdefault(int(s), []).append(w)
    return out


def release(node, tok, i):
    r = node.d.get(f"/v1/members/M{i:07d}", cert=node.inst.pki.partner(PARTNER),
                   headers={"Authorization": "Bearer " + tok})
    pdtest.check_status(r, 200, f"a release through {node.conf.stem}")
    return int(r.headers["X-Ledger-Index"])


def through_both(nodes, tok, n):
    """n releases through the nodes in turn, a checkpoint interval or two apart, so that each
    node signs checkpoints of its own; [(node number, ledger index)]."""
    got = []
    for i in range(n):
        k = i % len(nodes)
        got.append((k, release(nodes[k], tok, 1 + i % 25)))
        time.sleep(2 * INTERVAL_MS / 1000)
    return got


def both_cosigned_latest(env, db):
    cps = checkpoints(env, db)
    return cps and cosigs(env, db).get(cps[-1]) == sorted([PY, W1])


def stop_refused(node):
    """SIGTERM to a node whose ledger is refused: it stops with status 1."""
    node.d.signal(signal.SIGTERM)
    node.d.rc = node.d.proc.wait(30)
    eq(node.d.rc, 1, "exit status of a refused node")
    node.d.check_sanitizer()


# ---------------------------------------------------------------------------------------------

@case("two nodes, two witnesses, quorum 2: every checkpoint either node signed is cosigned by "
      "both witnesses, stored once, served with both by either node; a receipt from node 2 of "
      "node 1's entry checks with check_receipt.py")
def _(env):
    inst, url, w1, py, (n1, n2) = env.cluster("both")
    tok = token(inst)
    with n1.d, n2.d:
        got = through_both([n1, n2], tok, 8)
        pdtest.wait_until(lambda: both_cosigned_latest(env, "both"), 15, 0.1,
                          "the latest checkpoint cosigned by both witnesses")
        cps, cs = checkpoints(env, "both"), cosigs(env, "both")
        check(len(cps) >= 4, f"checkpoints signed: {cps}")
        for s in cps:
            eq(cs.get(s), sorted([PY, W1]), f"cosigners of checkpoint {s}")
        # one line per checkpoint and witness, though both nodes submitted each checkpoint
        n = int(env.pg.psql("SELECT count(*) FROM cosignatures", dbname="both"))
        eq(n, sum(len(v) for v in cs.values()), "no line stored twice")
        # both nodes signed some of them: the latest checkpoints each node's entries made
        signers = {k for k, _ in got}
        eq(signers, {0, 1}, "entries through both nodes")
        (note1, size1), (note2, size2) = n1.served(), n2.served()
        if size1 != size2:  # a checkpoint signed between the two answers
            (note1, size1), (note2, size2) = n1.served(), n2.served()
        eq((size1, note1), (size2, note2), "both nodes serve the same cosigned checkpoint")
        lines = sig_lines(note1)
        eq(len(lines), 3, f"the log's line and two cosignatures: {lines}")
        check_cosignature(lines[1], note1, py.vkey)
        check_cosignature(lines[2], note1, w1.vkey)
        for node in (n1, n2):
            eq(node.readyz_witness(), {"ok": True}, f"{node.conf.stem}: readyz witness")
            for w in ("w1", "py"):
                eq(node.metric("pdgate_witness_conflict", w), 0, f"{node.conf.stem}: no conflict {w}")
                eq(node.metric("pdgate_witness_failures_total", w), 0,
                   f"{node.conf.stem}: no failure of {w}")
            pdtest.wait_until(lambda: node.metric("pdgate_witness_witnessed_size") >= size1, 10,
                              0.1, f"{node.conf.stem}: witnessed size")
        # a receipt from node 2 for an entry made through node 1, checked by the program of
        # docs/clients.md with the two witnesses' keys and a quorum of 2
        index = next(i for k, i in got if k == 0)
        r = n2.d.get(f"/v1/ledger/receipts/{index}", cert=inst.pki.partner(PARTNER))
        pdtest.check_status(r, 200, "node 2's receipt of node 1's entry")
        eq(len(sig_lines(r.json()["checkpoint"])), 3, "the receipt carries both cosignatures")
        prog = env.tmp / "clients" / "check_receipt.py"
        prog.parent.mkdir(exist_ok=True)
        prog.write_text(check_program())
        (prog.parent / "witnesses").write_text(f"{w1.vkey}\n{py.vkey}\n")
        partner = inst.pki.partner(PARTNER)
        run_env = dict(os.environ, PDGATE_URL=f"https://127.0.0.1:{n2.d.port}",
                       PDGATE_CERT=str(partner.pem), PDGATE_KEY=str(partner.key),
                       PDGATE_CA=str(inst.server_ca), PDGATE_VKEY=str(inst.path("keys/ledger.vkey")),
                       PDGATE_WITNESSES=str(prog.parent / "witnesses"), PDGATE_QUORUM="2")
        c = subprocess.run([sys.executable, str(prog), str(index)], cwd=prog.parent, env=run_env,
                           capture_output=True, text=True, timeout=60 * SLOW)
        eq(c.returncode, 0, f"check_receipt.py: {c.stdout}{c.stderr}")
        out = c.stdout.splitlines()
        check(out[0].startswith(f"receipt {index}: valid"), out[0])
        eq(out[1], f"cosigned by 2 of 2 witnesses: {W1} {PY}", "its second line")
        n1.d.term()
        n2.d.term()
    # `pdgate ledger prove --db` of an older checkpoint: its cosignatures too
    vkey = inst.path("keys/ledger.vkey")
    old = cps[len(cps) // 2]
    r = inst.pdgate("ledger", "prove", "--db", url, "--vkey", vkey, "--size", str(old), "0")
    eq(r.returncode, 0, r.stderr)
    bundle = json.loads(r.stdout)
    eq(len(sig_lines(bundle["checkpoint"])), 3, "prove --db: the checkpoint's cosignatures")
    path = env.tmp / "bundle.json"
    path.write_text(r.stdout)
    r = inst.pdgate("ledger", "check-proof", "--vkey", vkey, path, "--witness", w1.vkey,
                    "--witness", py.vkey, "--quorum", "2")
    eq(r.returncode, 0, f"check-proof with both witnesses: {r.stdout} {r.stderr}")
    # the whole shared ledger extends the cosigned checkpoint, which carries the quorum
    (env.tmp / "cp.note").write_text(bundle["checkpoint"])
    r = inst.pdgate("ledger", "verify", "--db", url, "--vkey", vkey, "--checkpoint",
                    env.tmp / "cp.note", "--witness", w1.vkey, "--witness", py.vkey,
                    "--quorum", "2")
    eq(r.returncode, 0, f"verify --db --checkpoint --witness: {r.stdout} {r.stderr}")
    check("cosigned by 2 of 2 witnesses" in r.stdout, r.stdout)


@case("two nodes, one witness down: releases go on through both, every checkpoint still signed "
      "and cosigned by the other; /readyz on both says the witnessed age; back, it catches up")
def _(env):
    inst, url, w1, py, (n1, n2) = env.cluster("down", max_age_s=2)
    tok = token(inst)
    with n1.d, n2.d:
        through_both([n1, n2], tok, 2)
        pdtest.wait_until(lambda: both_cosigned_latest(env, "down"), 15, 0.1,
                          "the latest checkpoint cosigned by both witnesses")
        py.stop()
        before = checkpoints(env, "down")[-1]
        t0 = time.monotonic()
        through_both([n1, n2], tok, 4)
        check(time.monotonic() - t0 < 10 * SLOW, "releases were not held up by the witness down")
        after = [s for s in checkpoints(env, "down") if s > before]
        check(len(after) >= 2, f"checkpoints signed with a witness down: {after}")
        pdtest.wait_until(lambda: cosigs(env, "down").get(checkpoints(env, "down")[-1]) == [W1],
                          10, 0.1, "the latest cosigned by w1")
        for node in (n1, n2):
            note, size = node.served()
            check(size > before, f"{node.conf.stem} serves a checkpoint past the witness's stop")
            eq(len(sig_lines(note)), 2, f"{node.conf.stem}: served signed, with w1's cosignature")
            pdtest.wait_until(lambda: not node.readyz_witness()["ok"], 15, 0.2,
                              f"{node.conf.stem}: readyz witness fails past max_age_s")
            reason = node.readyz_witness()["reason"]
            check("has waited" in reason and "cosignatures" in reason and "py:" in reason,
                  f"{node.conf.stem}: {reason}")
            check(node.metric("pdgate_witness_lag_seconds") >= 2, f"{node.conf.stem}: lag")
            check(node.metric("pdgate_witness_failures_total", "py") >= 1,
                  f"{node.conf.stem}: failures of py counted")
        # the witness back (its key and state kept): the newest checkpoint is cosigned by both
        py.start()
        through_both([n1, n2], tok, 2)
        pdtest.wait_until(lambda: both_cosigned_latest(env, "down"), 40, 0.2,
                          "the latest checkpoint cosigned by both again")
        for node in (n1, n2):
            pdtest.wait_until(lambda: node.readyz_witness()["ok"], 40, 0.2,
                              f"{node.conf.stem}: readyz witness OK again")
        n1.d.term()
        n2.d.term()


@case("the shared tree's tail cut in PostgreSQL: both nodes, restarted, learn from the witnesses "
      "that more was cosigned; 503 ledger_unavailable on both, nothing signed")
def _(env):
    inst, url, w1, py, (n1, n2) = env.cluster("cut")
    tok = token(inst)
    with n1.d, n2.d:
        through_both([n1, n2], tok, 6)
        pdtest.wait_until(lambda: both_cosigned_latest(env, "cut"), 15, 0.1,
                          "the latest checkpoint cosigned by both witnesses")
        n1.d.term()
        # node 1's final checkpoint reaches the witnesses through node 2
        final = checkpoints(env, "cut")[-1]
        pdtest.wait_until(lambda: cosigs(env, "cut").get(final) == sorted([PY, W1]), 15, 0.1,
                          "node 1's final checkpoint cosigned through node 2")
        n2.d.term()
    cps = checkpoints(env, "cut")
    cut = cps[1]
    known = max(s for s, ws in cosigs(env, "cut").items() if len(ws) == 2)
    check(known > cut, f"the witnesses have cosigned {known}, past the cut at {cut}")
    env.pg.psql(f"BEGIN; DELETE FROM batches WHERE first >= {cut}; "
                f"DELETE FROM checkpoints WHERE size > {cut}; "
                f"UPDATE tree SET size = {cut}, time = (SELECT time FROM batches WHERE first + n = "
                f"{cut}) WHERE id = 0; COMMIT", dbname="cut")
    eq(checkpoints(env, "cut")[-1], cut, "the tail cut")
    n1, n2 = Node(inst, n1.conf), Node(inst, n2.conf)
    with n1.d, n2.d:
        for node in (n1, n2):
            r = node.d.get("/v1/members/M0000001", cert=inst.pki.partner(PARTNER),
                           headers={"Authorization": "Bearer " + tok})
            pdtest.check_error(r, 503, "ledger_unavailable", f"{node.conf.stem}: a release")
            rz = node.status("/readyz")
            eq(rz.status_code, 503, f"{node.conf.stem}: not ready")
            checks = rz.json()["checks"]
            check(not checks["witness"]["ok"] and "cut" in checks["witness"]["reason"],
                  f"{node.conf.stem}: {checks}")
            check(not checks["ledger"]["ok"], f"{node.conf.stem}: {checks}")
            eq(node.metric("pdgate_witness_refused"), 1, f"{node.conf.stem}: refused")
            for w in ("w1", "py"):
                eq(node.metric("pdgate_witness_conflict", w), 1, f"{node.conf.stem}: {w} in conflict")
        time.sleep(5 * INTERVAL_MS / 1000)
        eq(checkpoints(env, "cut")[-1], cut, "no checkpoint signed after the cut")
        stop_refused(n1)
        stop_refused(n2)
    eq(checkpoints(env, "cut")[-1], cut, "no checkpoint signed at the stops")


@case("a witnessed ledger.db migrated into PostgreSQL: its cosignatures move with it, are served "
      "from the database, and the witness goes on from where it was with a node on it")
def _(env):
    inst = env.install(members=30, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
    unlimited(inst)
    vkey = inst.path("keys/ledger.vkey").read_text().strip()
    w1 = Witness(env.tmp, [vkey], name=W1)
    env.enter(_Stopper(w1))
    w1.start()
    inst.set("witness", "w1", f"{w1.vkey} {w1.url[:-len('/add-checkpoint')]}")
    tok = token(inst)
    with pdtest.Daemon(inst) as d:
        for i in range(3):
            r = d.get(f"/v1/members/M{i + 1:07d}", cert=inst.pki.partner(PARTNER),
                      headers={"Authorization": "Bearer " + tok})
            pdtest.check_status(r, 200, "a release on the file")
            time.sleep(2 * INTERVAL_MS / 1000)
        d.term()
    db = sqlite3.connect(inst.path("ledger.db"))
    try:
        on_file = db.execute("SELECT size, witness, time, line FROM cosignatures "
                             "ORDER BY size, witness").fetchall()
    finally:
        db.close()
    check(len(on_file) >= 2, f"cosignatures on the file: {on_file}")
    env.pg.create_database("moved")
    url = env.pg.database_url("moved")
    r = inst.pdgate("ledger", "migrate", "--from", inst.path("ledger.db"), "--to", url, "-c",
                    inst.conf)
    eq(r.returncode, 0, r.stderr)
    check(f"and {len(on_file)} cosignatures of the witnesses" in r.stdout, r.stdout)
    moved = [(int(a), b, int(c), d + "\n") for a, b, c, d in rows(
        env, "moved", "SELECT size, witness, time, rtrim(line, E'\\n') FROM cosignatures "
                      "ORDER BY size, witness")]
    eq(moved, on_file, "the cosignatures in PostgreSQL")
    size = on_file[-1][0]
    r = inst.pdgate("ledger", "prove", "--db", url, "--vkey", inst.path("keys/ledger.vkey"),
                    "--size", str(size), "0")
    eq(r.returncode, 0, r.stderr)
    eq(sig_lines(json.loads(r.stdout)["checkpoint"])[1:], [on_file[-1][3]],
       "served from the database")
    node = Node(inst, node_conf(inst, "node1", url))
    with node.d:
        release(node, tok, 5)
        final = checkpoints(env, "moved")[-1]
        pdtest.wait_until(lambda: W1 in cosigs(env, "moved").get(checkpoints(env, "moved")[-1], []),
                          15, 0.1, "the witness cosigns the node's checkpoints")
        check(checkpoints(env, "moved")[-1] >= final, "signed on PostgreSQL")
        eq(node.metric("pdgate_witness_conflict", "w1"), 0, "no conflict")
        eq(node.metric("pdgate_witness_failures_total", "w1"), 0, "no failure")
        node.d.term()


if __name__ == "__main__":
    pdtest.run(Env, cases=[c for c in pdtest._registry if c.fn.__module__ == "__main__"])
