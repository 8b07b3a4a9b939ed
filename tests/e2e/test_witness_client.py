#!/usr/bin/env python3
"""The gateway as a client of C2SP witnesses ([witness]): every checkpoint submitted to each
witness (c2sp.org/tlog-witness add-checkpoint), the cosignatures checked and kept in ledger.db,
served with the checkpoint and in proof bundles; the witnessed age in /readyz, the metrics and
the summary; a witness down, behind or answering nonsense never stops a release; and a ledger
whose tail was cut refuses to sign or release once a quorum of witnesses has seen more.

The witnesses are real `pdgate witness serve` processes, and a small HTTP server here that
answers what a broken or hostile witness would.
"""

import base64
import hashlib
import http.server
import json
import re
import signal
import sqlite3
import struct
import subprocess
import threading
import time

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import pdtest
import pywitness
from pdtest import case, check, eq
from test_witness import Witness, _Stopper, check_cosignature

CONTRACT, PARTNER, PURPOSE = "CT-2026-0001", "sakura-mail", "contact"
INTERVAL_MS = 150
DASH = "\u2014 "


# ---------------------------------------------------------------------------------------------
# A witness written here: a key of type 0x04 and cosignature/v1 lines, from the C2SP texts.

class Cosigner:
    def __init__(self, name):
        self.name = name
        self.key = ed25519.Ed25519PrivateKey.generate()
        pub = self.key.public_key().public_bytes(serialization.Encoding.Raw,
                                                 serialization.PublicFormat.Raw)
        self.kid = hashlib.sha256(name.encode() + b"\n\x04" + pub).digest()[:4]
        raw = base64.b64encode(b"\x04" + pub).decode()
        self.vkey = f"{name}+{self.kid.hex()}+{raw}"

    def line(self, note_body, ts=None):
        ts = int(time.time()) if ts is None else ts
        sig = self.key.sign(b"cosignature/v1\ntime %d\n" % ts + note_body)
        return DASH + self.name + " " + base64.b64encode(self.kid + struct.pack(">Q", ts) + sig).decode() + "\n"


class FakeWitness:
    """A loopback HTTP server that answers add-checkpoint as self.mode says; records requests."""

    def __init__(self, name="fake.example/w"):
        self.cosigner = Cosigner(name)
        self.stranger = Cosigner(name + "-stranger")
        self.mode = "good"
        self.requests = []
        fake = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                fake.requests.append(data)
                status, ctype, body = fake.answer(data)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.prefix = f"http://127.0.0.1:{self.port}/w"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, data):
        note = data[data.index("\n\n") + 2:]
        text = note[:note.rindex("\n\n") + 1].encode()
        m = self.mode
        if m == "good":
            return 200, "text/plain", self.cosigner.line(text).encode()
        if m == "mixed":  # a stranger's line first: ignored, the witness's own kept
            return 200, "text/plain", (self.stranger.line(text) + self.cosigner.line(text)).encode()
        if m == "stranger":
            return 200, "text/plain", self.stranger.line(text).encode()
        if m == "garbage":
            return 200, "text/plain", b"this is not a signature line\n"
        if m == "huge":
            return 200, "text/plain", (self.cosigner.line(text) * 1).encode() + b"x" * (10 << 20)
        if m == "badsig":
            line = self.cosigner.line(text)
            return 200, "text/plain", (line[:-6] + ("A" if line[-6] != "A" else "B") + line[-5:]).encode()
        if m == "future":
            return 200, "text/plain", self.cosigner.line(text, int(time.time()) + 86400).encode()
        if m == "ahead":
            size = int(note.split("\n")[1])
            return 409, "text/x.tlog.size", f"{size + 1000}\n".encode()
        if m in ("had", "other_root"):
            # it has cosigned this very checkpoint already (for another node of a shared
            # ledger): a submission from a smaller size gets 409 with the checkpoint's size;
            # from that size, "had" cosigns it again, "other_root" (another tree) says 409 again
            size, old = int(note.split("\n")[1]), int(data.split("\n")[0][4:])
            if old != size or m == "other_root":
                return 409, "text/x.tlog.size", f"{size}\n".encode()
            return 200, "text/plain", self.cosigner.line(text).encode()
        if m == "forbidden":
            return 403, "text/plain", b"no\n"
        return 500, "text/plain", b"?\n"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class _Closer:
    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self.f

    def __exit__(self, *exc):
        self.f.close()


# ---------------------------------------------------------------------------------------------

class Env(pdtest.Env):
    def gateway(self, witnesses, quorum=None, max_age_s=None):
        """A new installation with [witness] entries {NAME: (VKEY, URL)}."""
        inst = self.install(members=30, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
        for name, (vkey, url) in witnesses.items():
            inst.set("witness", name, f"{vkey} {url}")
        if quorum is not None:
            inst.set("witness", "quorum", quorum)
        if max_age_s is not None:
            inst.set("witness", "max_age_s", max_age_s)
        return inst

    def pdgate_witness(self, inst, name):
        w = Witness(self.tmp, [inst.path("keys/ledger.vkey").read_text().strip()], name=name)
        self.enter(_Stopper(w))
        return w.start()

    def fake(self, name="fake.example/w"):
        return self.enter(_Closer(FakeWitness(name)))


def stop_refused(d):
    """SIGTERM to a gateway whose ledger is refused: it stops, with status 1 (its stop entry and
    final checkpoint could not be written)."""
    d.signal(signal.SIGTERM)
    d.rc = d.proc.wait(30)
    eq(d.rc, 1, "exit status of a refused gateway")
    d.check_sanitizer()


def prefix(w):
    return w.url[:-len("/add-checkpoint")]


def auth(inst):
    r = inst.pdgate("token", "issue", "-c", inst.conf, "--contract", CONTRACT, "--purpose", PURPOSE,
                    "--ttl", "1h", "--cert", inst.pki.partner(PARTNER).pem)
    check(r.returncode == 0, r.stderr)
    return {"Authorization": "Bearer " + r.stdout.strip()}


def release(d, inst, hdr, i=1):
    return d.get(f"/v1/members/M{i:07d}", cert=inst.pki.partner(PARTNER), headers=hdr)


def releases(d, inst, n):
    hdr = auth(inst)
    for i in range(1, n + 1):
        pdtest.check_status(release(d, inst, hdr, i), 200)
        time.sleep(3 * INTERVAL_MS / 1000)


def compliance(d, path):
    inst = d.install
    tok = inst.pdgate("token", "issue", "-c", inst.conf, "--staff", "auditor", "--role", "auditor",
                      "--ttl", "1h").stdout.strip()
    return requests.get(f"https://127.0.0.1:{inst.compliance_port}{path}",
                        headers={"Authorization": f"Bearer {tok}"}, verify=str(inst.server_ca),
                        timeout=30)


def status(inst, path):
    """GET on the status listener (which opens a moment after the partner listener)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            return requests.get(f"http://127.0.0.1:{inst.status_port}{path}", timeout=10)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def metric(inst, name, label=None):
    """The value of a sample of /metrics, or None."""
    text = status(inst, "/metrics").text
    want = name + (f'{{witness="{label}"}}' if label else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split(" ")[1])
    return None


def db_rows(inst, sql, *args):
    db = sqlite3.connect(inst.path("ledger.db"), timeout=10)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def cosigs(inst):
    """{size: {witness key name: line}} of the cosignatures table."""
    out = {}
    try:
        rows = db_rows(inst, "SELECT size, witness, line FROM cosignatures")
    except sqlite3.OperationalError:
        return {}
    for s, w, line in rows:
        out.setdefault(s, {})[w] = line
    return out


def checkpoints(inst):
    return db_rows(inst, "SELECT size, note FROM checkpoints ORDER BY size")


def served(d):
    r = compliance(d, "/v1/ledger/checkpoint")
    pdtest.check_status(r, 200, "GET /v1/ledger/checkpoint")
    return r.text, int(r.headers["X-Tree-Size"])


def sig_lines(note):
    return [l + "\n" for l in note[note.rindex("\n\n") + 2:].splitlines()]


# ---------------------------------------------------------------------------------------------

@case("two witnesses: every checkpoint cosigned by both, served, verified, in the bundle")
def _(env):
    inst = env.gateway({})
    w1 = env.pdgate_witness(inst, "witness.example/w1")
    w2 = env.pdgate_witness(inst, "witness.example/w2")
    inst.set("witness", "w1", f"{w1.vkey} {prefix(w1)}")
    inst.set("witness", "w2", f"{w2.vkey} {prefix(w2)}")
    d = pdtest.Daemon(inst)
    with d:
        releases(d, inst, 4)
        latest = lambda: checkpoints(inst)[-1][0]
        pdtest.wait_until(lambda: len(cosigs(inst).get(latest(), {})) == 2, 10, 0.1,
                          "the latest checkpoint cosigned by both")
        cps = checkpoints(inst)
        cs = cosigs(inst)
        for s, _ in cps:
            eq(sorted(cs.get(s, {})), ["witness.example/w1", "witness.example/w2"],
               f"cosigners of checkpoint {s}")
        note, size = served(d)
        eq(size, cps[-1][0], "served size")
        check(note.startswith(cps[-1][1]), "the served note starts with the signed checkpoint")
        lines = sig_lines(note)
        eq(len(lines), 3, f"the log's line and two cosignatures: {lines}")
        check_cosignature(lines[1], note, w1.vkey)
        check_cosignature(lines[2], note, w2.vkey)
        eq(status(inst, "/readyz").json()["checks"]["witness"], {"ok": True}, "readyz witness")
        text = status(inst, "/metrics").text
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
        eq((r.returncode, r.stdout + r.stderr), (0, ""), "promtool check metrics")
        eq(metric(inst, "pdgate_witness_witnessed_size"), size, "witnessed size metric")
        eq(metric(inst, "pdgate_witness_lag_seconds"), 0, "no lag")
        eq(metric(inst, "pdgate_witness_failures_total", "w1"), 0, "no failure of w1")
        check(metric(inst, "pdgate_witness_cosignatures_total", "w2") >= len(cps) - 1,
              "w2's cosignatures counted")
        r = compliance(d, "/v1/supervision/summary")
        pdtest.check_status(r, 200, "summary")
        ws = r.json()["witness"]
        eq((ws["quorum"], ws["witnessed_size"], ws["refused"]), (2, size, False), "summary witness")
        eq([x["name"] for x in ws["witnesses"]], ["w1", "w2"], "summary witnesses")
        path = env.tmp / "served.note"
        path.write_text(note)
        d.term()
    r = inst.pdgate("ledger", "verify", "-c", inst.conf, "--checkpoint", path, "--witness", w1.vkey,
                    "--witness", w2.vkey, "--quorum", "2")
    eq(r.returncode, 0, f"verify --checkpoint the served note: {r.stdout} {r.stderr}")
    check("cosigned by 2 of 2 witnesses" in r.stdout, r.stdout)
    # the final checkpoint, signed at stop, reaches the witnesses at the next start: the bundle
    # of the served one
    r = inst.pdgate("ledger", "prove", "-c", inst.conf, "--size", str(size), "0")
    eq(r.returncode, 0, r.stderr)
    bundle = json.loads(r.stdout)
    eq(len(sig_lines(bundle["checkpoint"])), 3, "the bundle's checkpoint carries the cosignatures")
    bpath = env.tmp / "bundle.json"
    bpath.write_text(r.stdout)
    r = inst.pdgate("ledger", "check-proof", "--vkey", inst.path("keys/ledger.vkey"), bpath,
                    "--witness", w1.vkey, "--witness", w2.vkey,
                    "--quorum", "2")
    eq(r.returncode, 0, f"check-proof with the witnesses: {r.stdout} {r.stderr}")


@case("pdgate's witness and the independent Python witness: every checkpoint cosigned by "
      "both; a partner's receipt carries both and checks with both")
def _(env):
    inst = env.gateway({})
    vkey = inst.path("keys/ledger.vkey").read_text().strip()
    w1 = env.pdgate_witness(inst, "witness.example/pdgate")
    w2 = env.enter(pywitness.PythonWitness(env.tmp / "pywitness", [vkey]))
    inst.set("witness", "ours", f"{w1.vkey} {prefix(w1)}")
    inst.set("witness", "theirs", f"{w2.vkey} {w2.url}")
    inst.set("witness", "quorum", 2)
    d = pdtest.Daemon(inst)
    with d:
        hdr = auth(inst)
        r = release(d, inst, hdr, 3)
        pdtest.check_status(r, 200, "a release")
        index = int(r.headers["X-Ledger-Index"])
        releases(d, inst, 3)
        latest = lambda: checkpoints(inst)[-1][0]
        pdtest.wait_until(lambda: len(cosigs(inst).get(latest(), {})) == 2, 10, 0.1,
                          "the latest checkpoint cosigned by both")
        cs = cosigs(inst)
        for s, _ in checkpoints(inst):
            eq(sorted(cs.get(s, {})), ["witness.example/pdgate", "witness.example/py"],
               f"cosigners of checkpoint {s}")
        r = d.get(f"/v1/ledger/receipts/{index}", cert=inst.pki.partner(PARTNER))
        pdtest.check_status(r, 200, "the partner's receipt")
        bundle = r.json()
        lines = sig_lines(bundle["checkpoint"])
        eq(len(lines), 3, f"the receipt's checkpoint: the log's line and two cosignatures: {lines}")
        check_cosignature(lines[1], bundle["checkpoint"], w1.vkey)
        check_cosignature(lines[2], bundle["checkpoint"], w2.vkey)
        eq(metric(inst, "pdgate_witness_failures_total", "theirs"), 0, "no failure of theirs")
        path = env.tmp / "receipt.json"
        path.write_text(r.text)
        d.term()
    r = inst.pdgate("ledger", "check-proof", "--vkey", inst.path("keys/ledger.vkey"), path,
                    "--witness", w1.vkey, "--witness", w2.vkey, "--quorum", "2")
    eq(r.returncode, 0, f"check-proof of the receipt with both witnesses: {r.stdout} {r.stderr}")
    check("cosigned by 2 of 2 witnesses" in r.stdout, r.stdout)
    (env.tmp / "cp.note").write_text(bundle["checkpoint"])
    r = inst.pdgate("ledger", "verify", "-c", inst.conf, "--checkpoint", env.tmp / "cp.note",
                    "--witness", w1.vkey, "--witness", w2.vkey, "--quorum", "2")
    eq(r.returncode, 0, f"verify --checkpoint the receipt's checkpoint: {r.stdout} {r.stderr}")


@case("a witness down: releases go on, the quorum of 2 is not reached, the age grows")
def _(env):
    inst = env.gateway({})
    w1 = env.pdgate_witness(inst, "witness.example/w1")
    dead = Cosigner("witness.example/dead")
    inst.set("witness", "w1", f"{w1.vkey} {prefix(w1)}")
    inst.set("witness", "down", f"{dead.vkey} http://127.0.0.1:{pdtest.free_port()}/w")
    inst.set("witness", "quorum", 2)
    inst.set("witness", "max_age_s", 2)
    d = pdtest.Daemon(inst)
    with d:
        t0 = time.monotonic()
        releases(d, inst, 3)
        check(time.monotonic() - t0 < 10, "releases were not held up by the dead witness")
        pdtest.wait_until(lambda: len(cosigs(inst).get(checkpoints(inst)[-1][0], {})) == 1, 10,
                          0.1, "w1 cosigned the latest")
        note, _ = served(d)
        eq(len(sig_lines(note)), 2, "served with w1's cosignature only")
        pdtest.wait_until(lambda: not status(inst, "/readyz").json()["checks"]["witness"]["ok"],
                          10, 0.2, "readyz witness fails past max_age_s")
        reason = status(inst, "/readyz").json()["checks"]["witness"]["reason"]
        check("cosignatures" in reason and "down:" in reason, reason)
        check(metric(inst, "pdgate_witness_failures_total", "down") >= 1, "failures counted")
        check(metric(inst, "pdgate_witness_lag_seconds") >= 2, "lag grows")
        eq(metric(inst, "pdgate_witness_witnessed_size"), 0, "nothing witnessed")
        eq(metric(inst, "pdgate_witness_last_status", "down"), 0, "no answer from it")
        r = compliance(d, "/v1/supervision/summary")
        ws = r.json()["witness"]
        check(ws["lag_seconds"] >= 2 and ws["witnessed_size"] == 0, f"summary {ws}")
        d.term()
    # with a quorum of 1 the same witnesses witness every checkpoint
    inst.set("witness", "quorum", 1)
    d = pdtest.Daemon(inst)
    with d:
        releases(d, inst, 2)
        size = checkpoints(inst)[-1][0]
        pdtest.wait_until(lambda: metric(inst, "pdgate_witness_witnessed_size") == size, 10, 0.1,
                          "witnessed with quorum 1")
        d.term()


@case("a witness that knows more than the gateway guessed: 409, resubmitted from its size")
def _(env):
    inst = env.gateway({})
    w1 = env.pdgate_witness(inst, "witness.example/w1")
    inst.set("witness", "w1", f"{w1.vkey} {prefix(w1)}")
    d = pdtest.Daemon(inst)
    with d:
        releases(d, inst, 2)
        d.term()
    origin = checkpoints(inst)[-1][1].split("\n")[0]
    size = w1.state()[origin][0]
    eq(size, checkpoints(inst)[-2][0], "the witness followed (the final checkpoint comes later)")
    # the gateway forgets what it was given: it submits from 0 and learns the size from a 409
    db = sqlite3.connect(inst.path("ledger.db"))
    db.execute("DELETE FROM cosignatures")
    db.commit()
    db.close()
    d = pdtest.Daemon(inst)
    with d:
        releases(d, inst, 2)
        latest = checkpoints(inst)[-1][0]
        pdtest.wait_until(lambda: w1.state()[origin][0] == latest, 10, 0.1, "the witness follows")
        eq(metric(inst, "pdgate_witness_failures_total", "w1"), 0, "no failure")
        eq(metric(inst, "pdgate_witness_conflict", "w1"), 0, "no conflict")
        check("witness.example/w1" in cosigs(inst)[latest], "cosigned after the 409")
        d.term()


@case("answers that are not a cosignature by the witness's key: refused, never kept")
def _(env):
    fake = env.fake()
    inst = env.gateway({"fake": (fake.cosigner.vkey, fake.prefix)}, quorum=1)
    fake.mode = "garbage"
    d = pdtest.Daemon(inst)
    with d:
        hdr = auth(inst)
        failures = 0
        for mode in ["garbage", "huge", "stranger", "badsig", "future", "forbidden", "error"]:
            fake.mode = mode
            n = len(fake.requests)
            pdtest.check_status(release(d, inst, hdr), 200, f"a release with a witness answering {mode}")
            pdtest.wait_until(lambda: len(fake.requests) > n, 10, 0.05, f"submitted ({mode})")
            pdtest.wait_until(lambda: metric(inst, "pdgate_witness_failures_total", "fake") > failures,
                              10, 0.1, f"counted as a failure ({mode})")
            failures = metric(inst, "pdgate_witness_failures_total", "fake")
            eq(cosigs(inst), {}, f"nothing kept ({mode})")
        eq(metric(inst, "pdgate_witness_last_status", "fake"), 500, "the last status")
        check(re.search(r"answered 500", d.log()), "the failure logged")
        check("more than 65536 bytes" in d.log(), "the 10 MB answer refused")
        # a stranger's line beside the witness's own: the own one kept, the stranger's not
        fake.mode = "mixed"
        pdtest.check_status(release(d, inst, hdr), 200)
        pdtest.wait_until(lambda: cosigs(inst) != {}, 10, 0.1, "the good line kept")
        for s, by in cosigs(inst).items():
            eq(list(by), [fake.cosigner.name], f"only the witness's own line for {s}")
            line = by[fake.cosigner.name]
            check(line.startswith(DASH + fake.cosigner.name + " "), line)
        note, _ = served(d)
        check(fake.stranger.name not in note, "the stranger's line is not served")
        d.term()


@case("the tail cut: restarted, the witness's 409 says more was cosigned; nothing signed or "
      "released")
def _(env):
    inst = env.gateway({})
    w1 = env.pdgate_witness(inst, "witness.example/w1")
    inst.set("witness", "w1", f"{w1.vkey} {prefix(w1)}")
    d = pdtest.Daemon(inst)
    with d:
        releases(d, inst, 5)
        d.term()
    cps = checkpoints(inst)
    d = pdtest.Daemon(inst)  # the final checkpoint reaches the witness at this start
    with d:
        pdtest.wait_until(lambda: metric(inst, "pdgate_witness_cosigned_size", "w1") >= cps[-1][0],
                          10, 0.1, "the witness has the final checkpoint")
        d.term()
    cps = checkpoints(inst)
    cut = cps[1][0]
    db = sqlite3.connect(inst.path("ledger.db"))
    db.execute("DELETE FROM batches WHERE first >= ?", (cut,))
    db.execute("DELETE FROM checkpoints WHERE size > ?", (cut,))
    db.commit()
    db.close()
    d = pdtest.Daemon(inst)
    with d:
        r = release(d, inst, auth(inst))
        pdtest.check_error(r, 503, "ledger_unavailable", "a release from the cut ledger")
        rz = status(inst, "/readyz")
        eq(rz.status_code, 503, "not ready")
        checks = rz.json()["checks"]
        check(not checks["witness"]["ok"] and "cut" in checks["witness"]["reason"], checks)
        check(not checks["ledger"]["ok"] and "witnesses" in checks["ledger"]["reason"], checks)
        eq(metric(inst, "pdgate_witness_refused"), 1, "the refusal metric")
        eq(metric(inst, "pdgate_witness_conflict", "w1"), 1, "w1 in conflict")
        check("have cosigned a ledger larger than or different from this one" in d.log(),
              "the log says why")
        time.sleep(5 * INTERVAL_MS / 1000)
        stop_refused(d)
    eq(checkpoints(inst)[-1][0], cut, "no checkpoint signed after the cut")


@case("a witness that answers a larger size at start: with quorum 2 of 2 only one conflicts, "
      "and the gateway goes on")
def _(env):
    fake = env.fake()
    inst = env.gateway({})
    w1 = env.pdgate_witness(inst, "witness.example/w1")
    inst.set("witness", "w1", f"{w1.vkey} {prefix(w1)}")
    inst.set("witness", "fake", f"{fake.cosigner.vkey} {fake.prefix}")
    d = pdtest.Daemon(inst)
    with d:
        releases(d, inst, 2)
        d.term()
    fake.mode = "ahead"
    d = pdtest.Daemon(inst)
    with d:
        releases(d, inst, 1)
        pdtest.wait_until(lambda: metric(inst, "pdgate_witness_conflict", "fake") == 1, 10, 0.1,
                          "the fake is in conflict")
        eq(metric(inst, "pdgate_witness_refused"), 0, "one conflict is not the quorum")
        releases(d, inst, 1)
        d.term()
    # with quorum 1, one witness ahead is enough to refuse
    inst.set("witness", "quorum", 1)
    d = pdtest.Daemon(inst)
    with d:
        pdtest.check_error(release(d, inst, auth(inst)), 503, "ledger_unavailable", "refused")
        stop_refused(d)


@case("a 409 with the checkpoint's own size: resubmitted from that size with no proof and "
      "cosigned; the same 409 again is another root, a conflict")
def _(env):
    fake = env.fake()
    inst = env.gateway({})
    w1 = env.pdgate_witness(inst, "witness.example/w1")
    inst.set("witness", "w1", f"{w1.vkey} {prefix(w1)}")
    inst.set("witness", "fake", f"{fake.cosigner.vkey} {fake.prefix}")
    fake.mode = "had"
    d = pdtest.Daemon(inst)
    with d:
        releases(d, inst, 3)
        latest = checkpoints(inst)[-1][0]
        pdtest.wait_until(lambda: fake.cosigner.name in cosigs(inst).get(latest, {}), 10, 0.1,
                          "the fake's cosignature kept after its 409")
        again = [r for r in fake.requests if r.startswith(f"old {latest}\n\n")]
        check(again, "resubmitted from the checkpoint's own size with no proof")
        eq(metric(inst, "pdgate_witness_conflict", "fake"), 0, "not a conflict")
        eq(metric(inst, "pdgate_witness_failures_total", "fake"), 0, "not a failure")
        fake.mode = "other_root"
        releases(d, inst, 1)
        pdtest.wait_until(lambda: metric(inst, "pdgate_witness_conflict", "fake") == 1, 10, 0.1,
                          "the fake in conflict")
        check("with another root" in d.log(), "the log says why")
        eq(metric(inst, "pdgate_witness_refused"), 0, "one conflict is not the quorum of 2")
        d.term()


@case("[witness] entries checked: serve -n refuses each with its reason")
def _(env):
    inst = env.install(members=1)
    c = Cosigner("witness.example/c")
    ledger_vkey = inst.path("keys/ledger.vkey").read_text().strip()
    good = f"{c.vkey} https://witness.example/w"
    bad = [
        ({"w1": f"{ledger_vkey} https://witness.example/w"}, "is not a verifier key of a cosigner"),
        ({"w1": f"{c.vkey} http://witness.example/w"}, "plain HTTP off loopback"),
        ({"w1": f"{c.vkey}"}, "expected 'VKEY URL'"),
        ({"w1": f"{c.vkey} ftp://x/w"}, "is not an http(s) URL"),
        ({"w1": good, "w2": good}, "is already witness w1's"),
        ({"w1": good, "quorum": "2"}, "witness.quorum: 2 is more than the 1 witnesses listed"),
        ({"w1": good, "quorum": "0"}, "out of range"),
        ({"quorum": "1"}, "[witness] lists no witness"),
    ]
    for n, (entries, want) in enumerate(bad):
        conf = inst.variant(f"bad{n}", {("witness", k): v for k, v in entries.items()})
        r = inst.pdgate("serve", "-c", conf, "-n")
        check(r.returncode != 0 and want in r.stderr, f"{entries}: exit {r.returncode}: {r.stderr}")
        r = inst.pdgate("serve", "-c", conf, timeout=20)
        check(r.returncode != 0 and want in r.stderr, f"serve {entries}: {r.stderr}")
    conf = inst.variant("good", {("witness", "w1"): good, ("witness", "quorum"): "1"})
    r = inst.pdgate("serve", "-c", conf, "-n")
    eq((r.returncode, r.stdout.strip()), (0, "configuration OK"), r.stderr)


if __name__ == "__main__":
    pdtest.run(Env, cases=[c for c in pdtest._registry if c.fn.__module__ == "__main__"])
