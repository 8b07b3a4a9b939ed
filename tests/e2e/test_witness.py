#!/usr/bin/env python3
"""pdgate's own witness (`pdgate witness init|serve`, c2sp.org/tlog-witness add-checkpoint),
driven with checkpoints a real pdgate ledger signed, consistency proofs computed here from the
exported leaves by RFC 9162, and cosignatures checked here from the C2SP text alone.

Every status of the protocol; every refusal leaves the witness's state as it was; concurrent
submissions from one size never roll a log back; the state survives a restart.
"""

import base64
import hashlib
import os
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
from pdtest import PDGATE, case, check, eq

CONTRACT, PARTNER, PURPOSE = "CT-2026-0001", "sakura-mail", "contact"
INTERVAL_MS = 150


# ---------------------------------------------------------------------------------------------
# RFC 9162 and C2SP, written here from the texts.

def leaf_hash(leaf):
    return hashlib.sha256(b"\x00" + leaf).digest()


def mth(h):
    if len(h) == 1:
        return h[0]
    k = 1 << ((len(h) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(h[:k]) + mth(h[k:])).digest()


def consistency(m, h, complete=True):
    """RFC 9162 2.1.4.1 SUBPROOF(m, D[0:n], b)."""
    n = len(h)
    if m == n:
        return [] if complete else [mth(h)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return consistency(m, h[:k], complete) + [mth(h[k:])]
    return consistency(m - k, h[k:], False) + [mth(h[:k])]


def cosigner_key(vkey):
    name, kid, key = vkey.strip().split("+", 2)
    raw = base64.b64decode(key)
    check(raw[0] == 4 and len(raw) == 33, "witness vkey: not of type 0x04")
    eq(kid, hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex(), "witness key id")
    return name, bytes.fromhex(kid), ed25519.Ed25519PublicKey.from_public_bytes(raw[1:])


def check_cosignature(answer, note, vkey):
    """The answer is one cosignature/v1 line by vkey over the note's body; returns its time."""
    name, kid, pub = cosigner_key(vkey)
    body = note[:note.rindex("\n\n") + 1].encode()
    check(answer.endswith("\n") and answer.count("\n") == 1, f"one line: {answer!r}")
    check(answer.startswith("\u2014 "), f"signature line {answer!r}")
    who, b64 = answer[2:-1].split(" ")
    eq(who, name, "cosigner name")
    sig = base64.b64decode(b64, validate=True)
    eq(len(sig), 76, "cosignature length")
    eq(sig[:4], kid, "cosignature key id")
    (ts,) = struct.unpack(">Q", sig[4:12])
    pub.verify(sig[12:], b"cosignature/v1\ntime %d\n" % ts + body)  # raises if bad
    check(abs(ts - time.time()) < 600, f"timestamp {ts}")
    return ts


def body(old, proof, note):
    return (f"old {old}\n" + "".join(base64.b64encode(p).decode() + "\n" for p in proof) + "\n"
            + note).encode()


def sign_note(text, name, key):
    """A signed note by an Ed25519 key (the C2SP signed-note format)."""
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kid = hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4]
    return text + "\n\u2014 " + name + " " + base64.b64encode(kid + key.sign(text.encode())).decode() + "\n"


# ---------------------------------------------------------------------------------------------

class Witness:
    """`pdgate witness init` into a new folder, then `serve` on a free loopback port."""

    def __init__(self, root, vkeys, name="witness.example/w1"):
        self.dir = root / f"witness-{time.monotonic_ns()}"
        self.port = pdtest.free_port()
        args = ["witness", "init", self.dir, "--name", name, "--listen", f"127.0.0.1:{self.port}"]
        for v in vkeys:
            args += ["--log", v]
        r = pdtest.pdgate(*args)
        check(r.returncode == 0, f"witness init: {r.stderr}")
        self.vkey = (self.dir / "witness.vkey").read_text().strip()
        eq(r.stdout.strip(), self.vkey, "init prints the vkey")
        self.conf = self.dir / "witness.conf"
        self.url = f"http://127.0.0.1:{self.port}/add-checkpoint"
        self.proc = None
        self.session = requests.Session()

    def start(self):
        self.log = open(self.dir / "serve.log", "ab")
        self.proc = subprocess.Popen([PDGATE, "witness", "serve", "-c", str(self.conf)],
                                     stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        check("listening on" in line, f"witness serve said {line!r}")
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            eq(self.proc.wait(timeout=20), 0, "witness exit status")
            self.proc = None
            self.log.close()

    def post(self, data):
        return self.session.post(self.url, data=data, timeout=30)

    def state(self):
        db = sqlite3.connect(self.dir / "witness.db")
        try:
            return {o: (s, r) for o, s, r in db.execute("SELECT origin, size, root FROM logs")}
        finally:
            db.close()


class Env(pdtest.Env):
    @pdtest.fixture
    def ledger(self):
        """A real ledger with several checkpoints: (install, [(size, note)], leaf hashes)."""
        inst = self.install(members=30, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
        d = pdtest.Daemon(inst)
        with d:
            r = inst.pdgate("token", "issue", "-c", inst.conf, "--contract", CONTRACT, "--purpose",
                            PURPOSE, "--ttl", "1h", "--cert", inst.pki.partner(PARTNER).pem)
            check(r.returncode == 0, r.stderr)
            auth = {"Authorization": "Bearer " + r.stdout.strip()}
            cert = inst.pki.partner(PARTNER)
            for i in range(1, 6):
                pdtest.check_status(d.get(f"/v1/members/M000000{i}", cert=cert, headers=auth), 200)
                time.sleep(4 * INTERVAL_MS / 1000)
            d.term()
        db = sqlite3.connect(inst.path("ledger.db"))
        cps = [(s, n) for s, n in db.execute("SELECT size, note FROM checkpoints ORDER BY size")]
        db.close()
        check(len(cps) >= 4, f"checkpoints {[s for s, _ in cps]}")
        r = inst.pdgate("ledger", "checkpoint", "-c", inst.conf)
        eq(r.stdout, cps[-1][1], "pdgate ledger checkpoint is the latest stored")
        r = inst.pdgate("ledger", "export", "-c", inst.conf)
        check(r.returncode == 0, r.stderr)
        hashes = [leaf_hash(x) for x in r.stdout.encode().split(b"\n")[:-1]]
        eq(len(hashes), cps[-1][0], "leaves exported")
        for s, note in cps:
            root = base64.b64decode(note.split("\n")[2])
            eq(mth(hashes[:s]), root, f"root of checkpoint {s}")
        self.vkey = inst.path("keys/ledger.vkey").read_text().strip()
        return inst, cps, hashes

    def witness(self, vkeys=None):
        inst, _, _ = self.ledger
        w = Witness(self.tmp, vkeys if vkeys is not None else [self.vkey])
        self.enter(_Stopper(w))
        return w.start()


class _Stopper:
    def __init__(self, w):
        self.w = w

    def __enter__(self):
        return self.w

    def __exit__(self, *exc):
        if self.w.proc is not None:
            self.w.proc.kill()
            self.w.proc.wait()


# ---------------------------------------------------------------------------------------------

@case("init: key, cosigner vkey of type 0x04, witness.conf; refusals")
def _(env):
    inst, _, _ = env.ledger
    w = Witness(env.tmp, [env.vkey])
    cosigner_key(w.vkey)
    eq(oct((w.dir / "witness.key").stat().st_mode & 0o777), "0o600", "key mode")
    check(f"{env.vkey.split('+')[0]} = {env.vkey}" in w.conf.read_text(), "the log in witness.conf")
    r = pdtest.pdgate("witness", "init", w.dir, "--name", "w")
    eq(r.returncode, 3, f"init into an existing folder: {r.stderr}")
    r = pdtest.pdgate("witness", "init", env.tmp / "w-badlog", "--name", "w", "--log", w.vkey)
    eq(r.returncode, 2, "a cosigner vkey as a log's")
    r = pdtest.pdgate("witness", "init", env.tmp / "w-noname")
    eq(r.returncode, 2, "no --name")
    r = pdtest.pdgate("witness", "init", env.tmp / "w-badname", "--name", "a b")
    eq(r.returncode, 1, f"a name with a space: {r.stderr}")


@case("serve refuses a listener off loopback without TLS")
def _(env):
    w = Witness(env.tmp, [])
    text = w.conf.read_text().replace(f"listen = 127.0.0.1:{w.port}", f"listen = 0.0.0.0:{w.port}")
    w.conf.write_text(text)
    r = pdtest.pdgate("witness", "serve", "-c", w.conf, timeout=10)
    check(r.returncode == 1 and "tls_cert" in r.stderr, f"exit {r.returncode}: {r.stderr}")


@case("a log's checkpoints cosigned in turn; 409 tells the size; the state follows")
def _(env):
    inst, cps, hashes = env.ledger
    w = env.witness()
    origin = cps[0][1].split("\n")[0]
    (s1, n1), (s2, n2), (s3, n3) = cps[0], cps[1], cps[2]
    r = w.post(body(0, [], n1))
    eq(r.status_code, 200, f"first checkpoint: {r.text}")
    check_cosignature(r.text, n1, w.vkey)
    eq(w.state()[origin][0], s1, "state after the first")
    r = w.post(body(0, [], n2))
    eq((r.status_code, r.headers["Content-Type"], r.text), (409, "text/x.tlog.size", f"{s1}\n"),
       "old 0 once a size is known")
    r = w.post(body(s1, consistency(s1, hashes[:s2]), n2))
    eq(r.status_code, 200, f"second: {r.text}")
    check_cosignature(r.text, n2, w.vkey)
    eq(w.state()[origin], (s2, base64.b64decode(n2.split("\n")[2])), "state: size and root")
    r = w.post(body(s1, consistency(s1, hashes[:s3]), n3))
    eq((r.status_code, r.text), (409, f"{s2}\n"), "a stale old size")
    # the same checkpoint again: cosigned again, nothing changes
    r = w.post(body(s2, [], n2))
    eq(r.status_code, 200, f"the same size and root: {r.text}")
    check_cosignature(r.text, n2, w.vkey)
    eq(w.state()[origin][0], s2, "state unchanged")


@case("every refusal: its status, and the state as it was")
def _(env):
    inst, cps, hashes = env.ledger
    w = env.witness()
    origin = cps[0][1].split("\n")[0]
    (s1, n1), (s2, n2), (s3, n3) = cps[0], cps[1], cps[2]
    eq(w.post(body(0, [], n1)).status_code, 200, "setup")
    eq(w.post(body(s1, consistency(s1, hashes[:s2]), n2)).status_code, 200, "setup")
    before = w.state()
    good = consistency(s2, hashes[:s3])
    ledger_key = serialization.load_pem_private_key(inst.path("keys/ledger.key").read_bytes(), None)
    other_key = ed25519.Ed25519PrivateKey.generate()
    text3 = n3[:n3.rindex("\n\n") + 1]
    forged_root = base64.b64encode(hashlib.sha256(b"another tail").digest()).decode()
    forked = sign_note(f"{origin}\n{s2}\n{forged_root}\n", origin, ledger_key)
    sig = n3[n3.rindex("\n\n") + 1:]
    bad_sig = text3 + sig[:-10] + ("A" if sig[-10] != "A" else "B") + sig[-9:]
    other = env.install(members=1)
    foreign = sign_note(f"pdgate.local/other\n1\n{base64.b64encode(bytes(32)).decode()}\n",
                        "pdgate.local/other", other_key)
    bad_proof = list(good)
    bad_proof[0] = hashlib.sha256(bad_proof[0]).digest()
    rows = [
        ("unknown origin", body(s2, good, foreign), 404),
        ("signed by another key of the origin's name", body(s2, good, sign_note(text3, origin, other_key)), 403),
        ("the log's signature tampered", body(s2, good, bad_sig), 403),
        ("a note without signature", body(s2, good, text3), 400),
        ("old above the checkpoint's size", body(s3 + 1, [], n3), 400),
        ("old with a leading zero", body(s2, good, n3).replace(f"old {s2}".encode(), f"old 0{s2}".encode(), 1), 400),
        ("old not a number", body(s2, good, n3).replace(f"old {s2}".encode(), b"old x", 1), 400),
        ("no old line", body(s2, good, n3)[len(f"old {s2}\n"):], 400),
        ("64 proof lines", body(s2, [bytes(32)] * 64, n3), 400),
        ("a proof line not of 32 bytes", body(s2, [bytes(31)], n3), 400),
        ("no blank line", f"old {s2}\n".encode(), 400),
        ("a 10 MB body", body(s2, good, n3) + b"x" * (10 << 20), 400),
        ("the consistency proof wrong", body(s2, bad_proof, n3), 422),
        ("the proof one hash short", body(s2, good[:-1], n3), 422),
        ("same size, another root (a fork)", body(s2, [], forked), 409),
        ("a proof from old size 0", body(0, good, n3), 409),
    ]
    for what, data, status in rows:
        r = w.post(data)
        eq(r.status_code, status, f"{what}: {r.text.strip()}")
        check(not r.text.startswith("\u2014"), f"{what}: a cosignature in a refusal")
        eq(w.state(), before, f"{what}: state changed")
    r = w.session.get(w.url, timeout=10)
    eq(r.status_code, 405, "GET add-checkpoint")
    r = w.session.post(w.url.replace("add-checkpoint", "add-checkpoints"), data=b"", timeout=10)
    eq(r.status_code, 404, "another path")
    # and the good submission still goes through afterwards
    r = w.post(body(s2, good, n3))
    eq(r.status_code, 200, f"after the refusals: {r.text}")
    eq(w.state()[origin][0], s3, "state after")


@case("a size-0 checkpoint: the empty tree's root, else 422")
def _(env):
    inst, cps, _ = env.ledger
    key = serialization.load_pem_private_key(inst.path("keys/ledger.key").read_bytes(), None)
    origin = cps[0][1].split("\n")[0]
    w = env.witness()
    empty = base64.b64encode(hashlib.sha256(b"").digest()).decode()
    wrong = base64.b64encode(bytes(32)).decode()
    r = w.post(body(0, [], sign_note(f"{origin}\n0\n{wrong}\n", origin, key)))
    eq(r.status_code, 422, f"size 0, another root: {r.text}")
    n0 = sign_note(f"{origin}\n0\n{empty}\n", origin, key)
    r = w.post(body(0, [], n0))
    eq(r.status_code, 200, f"size 0, empty root: {r.text}")
    check_cosignature(r.text, n0, w.vkey)
    eq(w.state(), {}, "nothing recorded for size 0")


@case("concurrent submissions from one size never roll the log back")
def _(env):
    inst, cps, hashes = env.ledger
    origin = cps[0][1].split("\n")[0]
    (s1, n1), (sa, na), (sb, nb) = cps[0], cps[1], cps[-1]
    for round_ in range(8):
        w = env.witness()
        eq(w.post(body(0, [], n1)).status_code, 200, "setup")
        barrier = threading.Barrier(2)
        got = {}

        def submit(tag, size, note):
            s = requests.Session()
            data = body(s1, consistency(s1, hashes[:size]), note)
            barrier.wait()
            got[tag] = s.post(w.url, data=data, timeout=30)

        ts = [threading.Thread(target=submit, args=("a", sa, na)),
              threading.Thread(target=submit, args=("b", sb, nb))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        codes = sorted(r.status_code for r in got.values())
        eq(codes, [200, 409], f"round {round_}: one cosigned, the other told the size")
        winner = "a" if got["a"].status_code == 200 else "b"
        loser = "b" if winner == "a" else "a"
        size = sa if winner == "a" else sb
        eq(w.state()[origin][0], size, f"round {round_}: the state is the cosigned size")
        eq(got[loser].text, f"{size}\n", f"round {round_}: 409 names the winner's size")
        w.stop()


@case("TLS: off loopback with tls_cert and tls_key, cosigning over HTTPS only")
def _(env):
    inst, cps, _ = env.ledger
    w = Witness(env.tmp, [env.vkey])
    cert, key = w.dir / "tls.pem", w.dir / "tls.key"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-days", "1"], capture_output=True, text=True)
    check(r.returncode == 0, r.stderr)
    os.chmod(key, 0o600)
    text = w.conf.read_text().replace(f"listen = 127.0.0.1:{w.port}",
                                      f"listen = 0.0.0.0:{w.port}\ntls_cert = tls.pem\ntls_key = tls.key")
    w.conf.write_text(text)
    env.enter(_Stopper(w))
    w.start()
    r = w.session.post(f"https://127.0.0.1:{w.port}/add-checkpoint", data=body(0, [], cps[0][1]),
                       verify=str(cert), timeout=30)
    eq(r.status_code, 200, f"over TLS: {r.text}")
    check_cosignature(r.text, cps[0][1], w.vkey)
    try:
        w.session.post(w.url, data=body(0, [], cps[0][1]), timeout=10)
        check(False, "plain HTTP answered on the TLS listener")
    except requests.exceptions.ConnectionError:
        pass
    w.stop()


@case("the state survives a restart")
def _(env):
    inst, cps, hashes = env.ledger
    (s1, n1), (s2, n2) = cps[0], cps[1]
    w = env.witness()
    eq(w.post(body(0, [], n1)).status_code, 200, "first")
    w.stop()
    w.start()
    r = w.post(body(0, [], n2))
    eq((r.status_code, r.text), (409, f"{s1}\n"), "after a restart")
    eq(w.post(body(s1, consistency(s1, hashes[:s2]), n2)).status_code, 200, "then on")


if __name__ == "__main__":
    pdtest.run(Env)
