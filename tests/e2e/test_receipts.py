#!/usr/bin/env python3
"""Receipts on the partner API: GET /v1/ledger/checkpoint and GET /v1/ledger/receipts/{index}.

A partner gets the proof bundle of its own entries and of nothing else (one 404 for another
partner's entry and for an index the ledger has not); a receipt checks with the ledger's vkey
alone (pdgate ledger check-proof, and RFC 9162 / C2SP written here); asking writes no ledger
entry but a request log line; docs/clients.md's check_receipt.py runs against the daemon, and
its check of witnesses' cosignatures is driven with a checkpoint cosigned here (and tampered).
"""

import base64
import hashlib
import importlib.util
import json
import os
import re
import struct
import subprocess
import sys
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import pdtest
from pdtest import SLOW, case, check, check_error, check_no_store, check_status, eq, wait_until

SAKURA, SAKURA_CT, PURPOSE = "sakura-mail", "CT-2026-0001", "contact"
OTHER = "imd-registry"  # a partner of the demo with no entry of sakura-mail's
INTERVAL_MS = 100
CLIENTS = pdtest.REPO / "docs" / "clients.md"


def leaf_hash(leaf):
    return hashlib.sha256(b"\x00" + leaf).digest()


def mth(h):
    if len(h) == 1:
        return h[0]
    k = 1 << ((len(h) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(h[:k]) + mth(h[k:])).digest()


def check_program():
    """docs/clients.md's check_receipt.py, as the page gives it."""
    text = CLIENTS.read_text()
    blocks = dict((n, (lang, code)) for n, lang, code in
                  re.findall(r"<!-- tested: (\S+) -->\n```(\w+)\n(.*?)\n```\n", text, re.S))
    check("check_receipt.py" in blocks and blocks["check_receipt.py"][0] == "python",
          "docs/clients.md: no ```python block after <!-- tested: check_receipt.py -->")
    return blocks["check_receipt.py"][1]


def cosigner(name):
    """A witness key made here: (private key, vkey line of type 0x04)."""
    k = ed25519.Ed25519PrivateKey.generate()
    pub = k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raw = b"\x04" + pub
    kid = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    return k, f"{name}+{kid.hex()}+{base64.b64encode(raw).decode()}"


def cosign(note, name, key, ts):
    """The note with one cosignature/v1 line by key appended (c2sp.org/tlog-cosignature)."""
    body = note[:note.rindex("\n\n") + 1].encode()
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kid = hashlib.sha256(name.encode() + b"\n\x04" + pub).digest()[:4]
    sig = key.sign(b"cosignature/v1\ntime %d\n" % ts + body)
    return note + "\u2014 " + name + " " + base64.b64encode(kid + struct.pack(">Q", ts) + sig).decode() + "\n"


class Env(pdtest.Env):
    @pdtest.fixture
    def gw(self):
        """A running gateway with a few releases to sakura-mail and one refusal to imd-registry."""
        inst = self.install(members=20, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS,
                                              ("gateway", "log_format"): "json"})
        d = self.daemon(inst)
        r = inst.pdgate("token", "issue", "-c", inst.conf, "--contract", SAKURA_CT, "--purpose",
                        PURPOSE, "--ttl", "1h", "--cert", inst.pki.partner(SAKURA).pem)
        check(r.returncode == 0, r.stderr)
        d.work_order = r.stdout.strip()
        d.sakura, d.other = inst.pki.partner(SAKURA), inst.pki.partner(OTHER)
        d.mine = []  # (index, body) of sakura-mail's releases
        for m in ("M0000001", "M0000002", "M0000003"):
            r = d.get(f"/v1/members/{m}", cert=d.sakura,
                      headers={"Authorization": "Bearer " + d.work_order})
            check_status(r, 200, m)
            d.mine.append((int(r.headers["X-Ledger-Index"]), r.content))
        r = d.get("/v1/members/M0000004", cert=d.other)  # no work order: a recorded refusal
        check(r.status_code in (401, 403), f"imd-registry without a work order: {r.status_code}")
        d.theirs = int(r.headers["X-Ledger-Index"])
        d.vkey = inst.path("keys/ledger.vkey").read_text().strip()
        settled(d)
        return d


def settled(d):
    """Waits until the latest checkpoint covers every entry; returns the ledger's size."""
    def covered():
        r = d.get("/v1/ledger/checkpoint", cert=d.sakura)
        return r.status_code == 200 and int(r.headers["X-Tree-Size"]) == d.install.ledger_size()
    wait_until(covered, 10 * SLOW, what="a checkpoint over every entry")
    return d.install.ledger_size()


def same_404(a, b, what):
    """Two refusals that say the same: status, code, message, and no header apart."""
    ea, eb = check_error(a, 404, "not_found", what), check_error(b, 404, "not_found", what)
    eq(ea["message"], eb["message"], what)
    check("Retry-After" not in a.headers and "Retry-After" not in b.headers, f"{what}: Retry-After")


@case("GET /v1/ledger/checkpoint: the latest signed checkpoint, text/plain, the stored note")
def _(env):
    d = env.gw
    settled(d)
    r = d.get("/v1/ledger/checkpoint", cert=d.sakura)
    check_status(r, 200, "checkpoint")
    check(r.headers["Content-Type"].startswith("text/plain"), r.headers["Content-Type"])
    check_no_store(r, "checkpoint")
    r2 = d.install.pdgate("ledger", "checkpoint", "-c", d.install.conf)
    eq(r.text, r2.stdout, "the note pdgate ledger checkpoint prints")
    origin, size, _ = r.text.split("\n")[:3]
    eq(origin, d.vkey.split("+")[0], "origin")
    eq(int(size), int(r.headers["X-Tree-Size"]), "X-Tree-Size")
    # any partner certificate, no work order
    check_status(d.get("/v1/ledger/checkpoint", cert=d.other), 200, "another partner")
    check_error(d.get("/v1/ledger/checkpoint?x=1", cert=d.sakura), 400, "bad_request", "a query")


@case("a receipt of the partner's own entry checks with the vkey alone (check-proof, RFC 9162 here)")
def _(env):
    d = env.gw
    size = settled(d)
    for index, released in d.mine:
        r = d.get(f"/v1/ledger/receipts/{index}", cert=d.sakura)
        check_status(r, 200, f"receipt {index}")
        check_no_store(r, "receipt")
        b = r.json()
        eq(list(b), ["origin", "index", "size", "leaf", "leaf_hash", "proof", "checkpoint"], "members")
        eq((b["index"], b["size"]), (index, size), "index, size: the latest checkpoint")
        leaf = json.loads(b["leaf"])
        eq((leaf["index"], leaf["partner"], leaf["kind"]), (index, SAKURA, "release"), "the leaf")
        eq(leaf["digest"], hashlib.sha256(released).hexdigest(), "the leaf's digest is the body's")
        eq(base64.b64decode(b["leaf_hash"]), leaf_hash(b["leaf"].encode()), "leaf_hash")
        eq(b["checkpoint"], d.get("/v1/ledger/checkpoint", cert=d.sakura).text, "the checkpoint")
        # RFC 9162 over the exported leaves: the root of the checkpoint
        ex = d.install.pdgate("ledger", "export", "-c", d.install.conf)
        leaves = ex.stdout.encode().split(b"\n")[:-1]
        eq(leaves[index], b["leaf"].encode(), "the exported leaf")
        eq(base64.b64encode(mth([leaf_hash(x) for x in leaves[:size]])).decode(),
           b["checkpoint"].split("\n")[2], "the checkpoint's root")
        f = env.tmp / f"receipt-{index}.json"
        f.write_text(r.text)
        ok = pdtest.pdgate("ledger", "check-proof", f, "--vkey", d.install.path("keys/ledger.vkey"))
        eq(ok.returncode, 0, f"check-proof: {ok.stderr}")
        # a changed leaf does not check
        bad = dict(b, leaf=b["leaf"].replace(SAKURA, OTHER))
        f.write_text(json.dumps(bad))
        no = pdtest.pdgate("ledger", "check-proof", f, "--vkey", d.install.path("keys/ledger.vkey"))
        eq(no.returncode, 1, f"check-proof of a changed leaf: {no.stdout}")


@case("another partner's entry, an entry not yet in the ledger, past it: one 404; bad index 400")
def _(env):
    d = env.gw
    size = settled(d)
    mine = d.mine[0][0]
    r_theirs = d.get(f"/v1/ledger/receipts/{d.theirs}", cert=d.sakura)
    r_past = d.get(f"/v1/ledger/receipts/{size + 1000}", cert=d.sakura)
    r_max = d.get("/v1/ledger/receipts/9223372036854775807", cert=d.sakura)
    r_admin = d.get("/v1/ledger/receipts/0", cert=d.sakura)  # gateway_start: nobody's
    same_404(r_theirs, r_past, "another partner's entry vs past the ledger")
    same_404(r_theirs, r_max, "another partner's entry vs the largest index")
    same_404(r_theirs, r_admin, "another partner's entry vs the gateway's own")
    same_404(d.get(f"/v1/ledger/receipts/{mine}", cert=d.other), r_past, "sakura's entry to imd")
    check_status(d.get(f"/v1/ledger/receipts/{d.theirs}", cert=d.other), 200, "imd's own refusal")
    for bad in ("01", "-1", "+1", "1x", "0x10", "9223372036854775808", "99999999999999999999999",
                "1.0", " 1"):
        r = d.get(f"/v1/ledger/receipts/{bad}", cert=d.sakura)
        check_error(r, 400, "bad_request", f"index {bad!r}")
    check_error(d.get(f"/v1/ledger/receipts/{mine}?size=3", cert=d.sakura), 400, "bad_request",
                "a query")
    r = d.get(f"/v1/ledger/receipts/{mine}", cert=d.sakura, method="POST")
    eq(r.status_code, 405, "POST")
    r = d.get(f"/v1/ledger/receipts/{mine}", cert=None)
    eq(r.status_code, 401, "no certificate")


@case("receipts and checkpoints write no ledger entry; each has its request log line")
def _(env):
    d = env.gw
    size = settled(d)
    before = d.log()
    index = d.mine[1][0]
    rids = []
    for path in (f"/v1/ledger/receipts/{index}", f"/v1/ledger/receipts/{d.theirs}",
                 "/v1/ledger/checkpoint", "/v1/ledger/receipts/01"):
        rids.append(d.get(path, cert=d.sakura).headers["X-Request-Id"])
    time.sleep(5 * INTERVAL_MS / 1000)
    eq(d.install.ledger_size(), size, "the ledger's size after receipts")
    eq(d.get("/v1/ledger/checkpoint", cert=d.sakura).headers["X-Tree-Size"], str(size),
       "no new checkpoint")
    lines = [json.loads(x) for x in d.log()[len(before):].splitlines() if x.startswith("{")]
    got = {x["request_id"]: x for x in lines if x.get("kind") == "req"}
    for rid, route, status in zip(rids, ["/v1/ledger/receipts/{}"] * 2 + ["/v1/ledger/checkpoint",
                                                                          "/v1/ledger/receipts/{}"],
                                  (200, 404, 200, 400)):
        check(rid in got, f"no log line for request {rid}")
        eq((got[rid]["partner"], got[rid]["route"], got[rid]["status"]), (SAKURA, route, status),
           "the log line")


@case("an entry younger than the checkpoint: 404 with Retry-After for its partner, the usual 404 for others")
def _(env):
    inst = env.install(members=5, conf={("ledger", "checkpoint_interval_ms"): 3600000})
    d = env.daemon(inst)
    sakura, other = inst.pki.partner(SAKURA), inst.pki.partner(OTHER)
    r = inst.pdgate("token", "issue", "-c", inst.conf, "--contract", SAKURA_CT, "--purpose",
                    PURPOSE, "--ttl", "1h", "--cert", sakura.pem)
    r = d.get("/v1/members/M0000001", cert=sakura, headers={"Authorization": "Bearer " + r.stdout.strip()})
    check_status(r, 200, "a release")
    index = int(r.headers["X-Ledger-Index"])
    check_error(d.get("/v1/ledger/checkpoint", cert=sakura), 404, "not_found", "no checkpoint yet")
    young = d.get(f"/v1/ledger/receipts/{index}", cert=sakura)
    e = check_error(young, 404, "not_found", "own entry, no checkpoint yet")
    eq(young.headers.get("Retry-After"), "1", "Retry-After")
    check("checkpoint" in e["message"], e["message"])
    same_404(d.get(f"/v1/ledger/receipts/{index}", cert=other),
             d.get(f"/v1/ledger/receipts/{index + 5}", cert=other), "someone else's young entry")
    d.term()  # signs a checkpoint over everything at the stop
    with pdtest.Daemon(inst) as d2:
        check_status(d2.get(f"/v1/ledger/receipts/{index}", cert=sakura), 200, "after the stop's checkpoint")


@case("docs/clients.md: check_receipt.py fetches and checks a receipt; a wrong key fails it")
def _(env):
    d = env.gw
    settled(d)
    prog = env.tmp / "clients" / "check_receipt.py"
    prog.parent.mkdir(exist_ok=True)
    prog.write_text(check_program())
    run_env = dict(os.environ, PDGATE_URL=f"https://127.0.0.1:{d.port}", PDGATE_CERT=str(d.sakura.pem),
                   PDGATE_KEY=str(d.sakura.key), PDGATE_CA=str(d.install.server_ca),
                   PDGATE_VKEY=str(d.install.path("keys/ledger.vkey")))
    index = d.mine[2][0]
    r = subprocess.run([sys.executable, str(prog), str(index)], cwd=prog.parent, env=run_env,
                       capture_output=True, text=True, timeout=60 * SLOW)
    eq(r.returncode, 0, f"check_receipt.py: {r.stdout}{r.stderr}")
    lines = r.stdout.splitlines()
    size = d.install.ledger_size()
    eq(lines[0], f"receipt {index}: valid, in the tree of {size} entries signed by "
                 f"{d.vkey.split('+')[0]}", "its first line")
    eq(lines[1], "cosigned by 0 of 0 witnesses: -", "its second line")
    eq(json.loads(lines[2])["index"], index, "the leaf it prints")
    kept = prog.parent / f"receipt-{index}.json"
    ok = pdtest.pdgate("ledger", "check-proof", kept, "--vkey", d.install.path("keys/ledger.vkey"))
    eq(ok.returncode, 0, f"check-proof of the kept receipt: {ok.stderr}")
    # another ledger key of the same name: refused
    _, wrong = cosigner("x")
    k = ed25519.Ed25519PrivateKey.generate()
    pub = k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    name = d.vkey.split("+")[0]
    kid = hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4]
    key64 = base64.b64encode(b"\x01" + pub).decode()
    (prog.parent / "wrong.vkey").write_text(f"{name}+{kid.hex()}+{key64}\n")
    r = subprocess.run([sys.executable, str(prog), str(index)], cwd=prog.parent,
                       env=dict(run_env, PDGATE_VKEY=str(prog.parent / "wrong.vkey")),
                       capture_output=True, text=True, timeout=60 * SLOW)
    eq(r.returncode, 1, f"with another key: {r.stdout}")
    check("NOT valid" in r.stderr and "no signature by the ledger's key" in r.stderr, r.stderr)
    # a witness that has not cosigned, with quorum 1: refused
    (prog.parent / "witnesses").write_text(wrong + "\n")
    r = subprocess.run([sys.executable, str(prog), str(index)], cwd=prog.parent,
                       env=dict(run_env, PDGATE_WITNESSES=str(prog.parent / "witnesses"),
                                PDGATE_QUORUM="1"),
                       capture_output=True, text=True, timeout=60 * SLOW)
    eq(r.returncode, 1, f"a quorum not met: {r.stdout}")
    check("cosigned by 0 of the 1 witnesses, 1 required" in r.stderr, r.stderr)
    # someone else's entry: the program says what pdgate said
    r = subprocess.run([sys.executable, str(prog), str(d.theirs)], cwd=prog.parent, env=run_env,
                       capture_output=True, text=True, timeout=60 * SLOW)
    eq(r.returncode, 1, "another partner's entry")
    check("404 not_found" in r.stderr, r.stderr)


@case("docs/clients.md: check_receipt.py checks witnesses' cosignatures and the quorum")
def _(env):
    d = env.gw
    settled(d)
    prog = env.tmp / "cosig" / "check_receipt.py"
    prog.parent.mkdir(exist_ok=True)
    prog.write_text(check_program())
    spec = importlib.util.spec_from_file_location("check_receipt", prog)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    receipt = d.get(f"/v1/ledger/receipts/{d.mine[0][0]}", cert=d.sakura).json()
    (k1, v1), (k2, v2), (k3, v3) = (cosigner(f"witness.example/w{i}") for i in (1, 2, 3))
    now = int(time.time())
    note = cosign(cosign(receipt["checkpoint"], "witness.example/w1", k1, now),
                  "witness.example/w2", k2, now + 1)
    cos = dict(receipt, checkpoint=note)
    eq(mod.check_receipt(cos, d.vkey, [v1, v2]), (receipt["size"], ["witness.example/w1",
                                                                     "witness.example/w2"]), "both")
    eq(mod.check_receipt(cos, d.vkey, [v1, v2, v3], 2)[1], ["witness.example/w1",
                                                             "witness.example/w2"], "2 of 3")
    for args, why in (((cos, d.vkey, [v1, v2, v3]), "cosigned by 2 of the 3 witnesses, 3 required"),
                      ((receipt, d.vkey, [v1], 1), "cosigned by 0 of the 1 witnesses")):
        try:
            mod.check_receipt(*args)
            check(False, f"accepted: {why}")
        except mod.Bad as e:
            check(why in str(e), str(e))
    # a tampered cosignature (one bit of its signature, or its timestamp) fails
    lines = note.split("\n")
    w1 = next(i for i, x in enumerate(lines) if x.startswith("\u2014 witness.example/w1 "))
    raw = bytearray(base64.b64decode(lines[w1].split(" ")[2]))
    for pos in (70, 11):
        bad = bytearray(raw)
        bad[pos] ^= 1
        t = lines[:w1] + ["\u2014 witness.example/w1 " + base64.b64encode(bytes(bad)).decode()] + lines[w1 + 1:]
        try:
            mod.check_receipt(dict(receipt, checkpoint="\n".join(t)), d.vkey, [v1, v2], 1)
            check(False, f"a cosignature changed at byte {pos} accepted")
        except mod.Bad as e:
            check("witness.example/w1: the cosignature does not verify" in str(e), str(e))
    # a cosignature over another tree (the root changed in the body) fails the log's signature
    body_lines = note.split("\n")
    body_lines[1] = str(receipt["size"] + 1)
    try:
        mod.check_receipt(dict(receipt, checkpoint="\n".join(body_lines)), d.vkey, [v1], 1)
        check(False, "a changed size accepted")
    except mod.Bad:
        pass
    # pdgate agrees on the cosigned receipt
    f = env.tmp / "cosigned-receipt.json"
    f.write_text(json.dumps(cos))
    r = pdtest.pdgate("ledger", "check-proof", f, "--vkey", d.install.path("keys/ledger.vkey"),
                      "--witness", v1, "--witness", v2, "--witness", v3, "--quorum", "2")
    eq(r.returncode, 0, f"pdgate ledger check-proof with the witnesses: {r.stderr}")


if __name__ == "__main__":
    pdtest.run(Env)
