#!/usr/bin/env python3
"""pdgate's witness against a client it did not write, and a witness pdgate did not write.

tests/witness_py holds a C2SP tlog-witness client and witness written in Python from the C2SP
texts alone. Here the client submits the checkpoints of a running pdgate gateway, with
consistency proofs from its compliance API, to `pdgate witness serve` and to the Python witness,
and gets every status of the protocol from each; the Python witness's cosignatures are then
checked by pdgate itself (`ledger verify --checkpoint --witness`, `check-proof` of a receipt).
"""

import base64
import hashlib
import json
import signal
import sqlite3
import subprocess
import threading
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import pdtest
import pywitness
from pdtest import PDGATE, SLOW, case, check, eq

SAKURA, SAKURA_CT, PURPOSE = "sakura-mail", "CT-2026-0001", "contact"
INTERVAL_MS = 150
client = pywitness.load_client()


def sign_note(text, name, key):
    """A note signed by an Ed25519 key (c2sp.org/signed-note), for the refusals."""
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kid = hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4]
    return text + "\n\u2014 " + name + " " + base64.b64encode(kid + key.sign(text.encode())).decode() + "\n"


class PdgateWitness:
    """`pdgate witness init` into a new folder, then `serve` on a free loopback port."""

    def __init__(self, folder, vkeys, name="witness.example/pdgate"):
        self.dir, self.port = folder, pdtest.free_port()
        args = ["witness", "init", folder, "--name", name, "--listen", f"127.0.0.1:{self.port}"]
        for v in vkeys:
            args += ["--log", v]
        r = pdtest.pdgate(*args)
        check(r.returncode == 0, f"witness init: {r.stderr}")
        self.vkey = (folder / "witness.vkey").read_text().strip()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def __enter__(self):
        self.log = open(self.dir / "serve.log", "ab")
        self.proc = subprocess.Popen([PDGATE, "witness", "serve", "-c", str(self.dir / "witness.conf")],
                                     stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            self.__exit__()
            check(False, f"witness serve said {line!r}")
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(20 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
            self.proc.stdout.close()
            self.log.close()
            self.proc = None
            if not exc or exc[0] is None:
                eq(rc, 0, "pdgate witness exit status")
        return False

    def state(self):
        db = sqlite3.connect(self.dir / "witness.db")
        try:
            return {o: (s, bytes(r)) for o, s, r in db.execute("SELECT origin, size, root FROM logs")}
        finally:
            db.close()


def py_state(w):
    if not w.state.exists():
        return {}
    return {o: (v["size"], base64.b64decode(v["root"])) for o, v in json.loads(w.state.read_text()).items()}


class Env(pdtest.Env):
    @pdtest.fixture
    def gw(self):
        """A running gateway with several checkpoints; d.cps [(size, note)], d.proofs (the
        compliance API's consistency proofs), d.vkey, d.auditor."""
        inst = self.install(members=20, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
        d = self.daemon(inst)
        r = inst.pdgate("token", "issue", "-c", inst.conf, "--contract", SAKURA_CT, "--purpose",
                        PURPOSE, "--ttl", "1h", "--cert", inst.pki.partner(SAKURA).pem)
        check(r.returncode == 0, r.stderr)
        auth = {"Authorization": "Bearer " + r.stdout.strip()}
        d.sakura = inst.pki.partner(SAKURA)
        d.mine = []
        for i in range(1, 7):
            r = d.get(f"/v1/members/M000000{i}", cert=d.sakura, headers=auth)
            pdtest.check_status(r, 200, "a release")
            d.mine.append(int(r.headers["X-Ledger-Index"]))
            time.sleep(4 * INTERVAL_MS / 1000)
        pdtest.wait_until(lambda: self._cps(inst)[-1][0] == inst.ledger_size(), 10 * SLOW,
                          what="a checkpoint over every entry")
        d.cps = self._cps(inst)
        check(len(d.cps) >= 4, f"checkpoints {[s for s, _ in d.cps]}")
        r = inst.pdgate("token", "issue", "-c", inst.conf, "--staff", "sato", "--role", "auditor",
                        "--ttl", "1h")
        check(r.returncode == 0, r.stderr)
        d.auditor = r.stdout.strip()
        d.proofs = client.ComplianceProofs(f"https://127.0.0.1:{inst.compliance_port}", d.auditor,
                                           str(inst.server_ca))
        d.vkey = inst.path("keys/ledger.vkey").read_text().strip()
        d.origin = d.vkey.split("+")[0]
        d.ledger_key = serialization.load_pem_private_key(inst.path("keys/ledger.key").read_bytes(), None)
        return d

    @staticmethod
    def _cps(inst):
        db = sqlite3.connect(inst.path("ledger.db"))
        try:
            return [(s, n) for s, n in db.execute("SELECT size, note FROM checkpoints ORDER BY size")]
        finally:
            db.close()

    def pdgate_witness(self, vkeys=None):
        d = self.gw
        return self.enter(PdgateWitness(self.tmp / f"pdw-{time.monotonic_ns()}",
                                        [d.vkey] if vkeys is None else vkeys))

    def python_witness(self, vkeys=None):
        d = self.gw
        return self.enter(pywitness.PythonWitness(self.tmp / f"pyw-{time.monotonic_ns()}",
                                                  [d.vkey] if vkeys is None else vkeys))


def chain(env, w, state):
    """The Python client takes every checkpoint of the gateway to witness w, in order."""
    d = env.gw
    c = client.Client(w.url, w.vkey, d.proofs)
    for size, note in d.cps:
        cosigned, a = c.add(note)
        check(cosigned is not None, f"checkpoint {size}: {a}")
        eq(a.status, 200, "status")
        eq(c.size, size, "the client's view")
        eq(state(w)[d.origin][0], size, "the witness's stored size")
        ts = client.verify_cosignature(a.text, note, w.vkey)
        check(abs(ts - time.time()) < 600, f"timestamp {ts}")
    return c


def refusals(env, w, state, fork_status):
    """Every refusal of the protocol, each leaving the witness's state as it was."""
    d = env.gw
    (s1, n1), (s2, n2), (s3, n3) = d.cps[0], d.cps[1], d.cps[2]
    c = client.Client(w.url, w.vkey, d.proofs)
    cosigned, a = c.add(n2)
    eq(a.status, 200, f"first: {a}")
    before = state(w)
    other = ed25519.Ed25519PrivateKey.generate()
    body3 = n3[:n3.rindex("\n\n") + 1]
    good = d.proofs(s2, s3)
    bad = [bytes([good[0][0] ^ 1]) + good[0][1:]] + good[1:]
    fork = body3.split("\n")
    fork[2] = base64.b64encode(hashlib.sha256(b"another tree").digest()).decode()
    fork_at_s2 = n2[:n2.rindex("\n\n") + 1].split("\n")
    fork_at_s2[2] = fork[2]
    cases = [
        ("unknown origin", 404, (0, [], sign_note("other.example/log\n3\n" + fork[2] + "\n",
                                                   "other.example/log", other))),
        ("another key of the log's name", 403, (s2, good, sign_note(body3, d.origin, other))),
        ("old above the checkpoint's size", 400, (s3 + 1, [], n3)),
        ("a stale old size", 409, (s1, d.proofs(s1, s3), n3)),
        ("a bad consistency proof", 422, (s2, bad, n3)),
        ("a missing proof", 422, (s2, [], n3)),
        ("the same size, another root (a fork by the log's key)", fork_status,
         (s2, [], sign_note("\n".join(fork_at_s2), d.origin, d.ledger_key))),
    ]
    for what, status, (old, proof, note) in cases:
        a = c.post(old, proof, note)
        eq(a.status, status, f"{what}: {a}")
        if status == 409:
            eq((a.ctype.split(";")[0], a.text), ("text/x.tlog.size", f"{s2}\n"), f"{what}: the size")
        check("\u2014" not in a.text, f"{what}: no cosignature")
        eq(state(w), before, f"{what}: the state")
    return c


@case("the Python client takes every checkpoint of a gateway to pdgate's witness, proofs from the compliance API")
def _(env):
    w = env.pdgate_witness()
    chain(env, w, PdgateWitness.state)
    # a client that knows nothing starts at 0, is told the size (409), and resubmits from it
    c = client.Client(w.url, w.vkey, env.gw.proofs)
    size, note = env.gw.cps[-1]
    cosigned, a = c.add(note)
    check(cosigned is not None, f"after a 409: {a}")
    eq(c.size, size, "the size the witness told")


@case("the Python client gets every refusal of pdgate's witness: 404, 403, 400, 409, 422")
def _(env):
    refusals(env, env.pdgate_witness(), PdgateWitness.state, 409)  # the C2SP text: the same size with another root is 409


@case("the Python witness cosigns every checkpoint of a gateway; state persisted before the answer, kept over a restart")
def _(env):
    w = env.python_witness()
    chain(env, w, py_state)
    size, note = env.gw.cps[-1]
    w.stop()
    w.start()
    eq(py_state(w)[env.gw.origin][0], size, "after a restart")
    a = client.Client(w.url, w.vkey, env.gw.proofs).post(0, [], note)
    eq((a.status, a.text), (409, f"{size}\n"), "a restarted witness remembers")


@case("the Python witness refuses as the C2SP text says: 404, 403, 400, 409, 422; malformed bodies")
def _(env):
    d = env.gw
    w = env.python_witness()
    c = refusals(env, w, py_state, 409)  # the C2SP text: the same size with another root is 409
    before = py_state(w)
    s2, n2 = d.cps[1]
    for what, data in (("64 proof lines", f"old {s2}\n"
                        + (base64.b64encode(b"\0" * 32).decode() + "\n") * 64 + "\n" + n2),
                       ("old with a leading zero", f"old 0{s2}\n\n{n2}"),
                       ("a note without signature", f"old {s2}\n\n" + n2[:n2.rindex("\n\n") + 1]),
                       ("no blank line", f"old {s2}\n" + n2.replace("\n\n", "\n")),
                       ("a proof line not of 32 bytes", f"old {s2}\nAAAA\n\n{n2}"),
                       ("10 MB", "old 0\n" + "A" * (10 << 20))):
        r = c.s.post(c.url, data=data.encode(), timeout=60)
        eq(r.status_code, 400, f"{what}: {r.text[:80]!r}")
        eq(py_state(w), before, f"{what}: the state")


@case("two submissions at once from one size to the Python witness: one wins, never a roll-back")
def _(env):
    d = env.gw
    (s1, n1), (s2, n2), (s3, n3) = d.cps[0], d.cps[1], d.cps[2]
    for round_ in range(5):
        fresh = env.python_witness()
        client.Client(fresh.url, fresh.vkey, d.proofs).add(n1)
        answers = {}
        go = threading.Barrier(2)

        def send(name, size, note):
            c = client.Client(fresh.url, fresh.vkey, d.proofs)
            go.wait()
            answers[name] = c.post(s1, d.proofs(s1, size), note)

        ts = [threading.Thread(target=send, args=("small", s2, n2)),
              threading.Thread(target=send, args=("large", s3, n3))]
        [t.start() for t in ts]
        [t.join() for t in ts]
        won = sorted(k for k, a in answers.items() if a.status == 200)
        eq(len(won), 1, f"round {round_}: one wins: {answers}")
        eq(py_state(fresh)[d.origin][0], s2 if won == ["small"] else s3, f"round {round_}: the winner's size")
        fresh.stop()


@case("pdgate verifies the Python witness's cosignatures: ledger verify --checkpoint, check-proof of a receipt")
def _(env):
    d = env.gw
    pdw, pyw = env.pdgate_witness(), env.python_witness()
    size, note = d.cps[-1]
    both = note
    for w in (pdw, pyw):
        cosigned, a = client.Client(w.url, w.vkey, d.proofs).add(note)
        check(cosigned is not None, f"{w.url}: {a}")
        both += a.text
    f = env.tmp / "cosigned.note"
    f.write_text(both)
    conf = d.install.conf
    r = d.install.pdgate("ledger", "verify", "-c", conf, "--checkpoint", f, "--witness", pdw.vkey,
                         "--witness", pyw.vkey, "--quorum", "2")
    eq(r.returncode, 0, f"ledger verify with both witnesses: {r.stdout}{r.stderr}")
    check("cosigned by 2 of 2 witnesses" in r.stdout, r.stdout)
    # a tampered Python cosignature refuses the note
    lines = both.split("\n")
    i = next(k for k, x in enumerate(lines) if x.startswith("\u2014 " + pyw.name + " "))
    raw = bytearray(base64.b64decode(lines[i].split(" ")[2]))
    raw[40] ^= 1
    lines[i] = "\u2014 " + pyw.name + " " + base64.b64encode(bytes(raw)).decode()
    f.write_text("\n".join(lines))
    r = d.install.pdgate("ledger", "verify", "-c", conf, "--checkpoint", f, "--witness", pdw.vkey,
                         "--witness", pyw.vkey, "--quorum", "1")
    eq(r.returncode, 1, f"a tampered Python cosignature: {r.stdout}")
    # a partner's receipt, its checkpoint cosigned by both, checked by pdgate and by docs' Python
    rec = d.get(f"/v1/ledger/receipts/{d.mine[0]}", cert=d.sakura).json()
    eq(rec["checkpoint"], note, "the receipt's checkpoint is the latest")
    rec["checkpoint"] = both
    rf = env.tmp / "receipt.json"
    rf.write_text(json.dumps(rec))
    r = pdtest.pdgate("ledger", "check-proof", rf, "--vkey", d.install.path("keys/ledger.vkey"),
                      "--witness", pdw.vkey, "--witness", pyw.vkey)
    eq(r.returncode, 0, f"check-proof with both witnesses: {r.stderr}")
    check("cosigned by 2 of 2 witnesses" in r.stdout, r.stdout)


if __name__ == "__main__":
    pdtest.run(Env)
