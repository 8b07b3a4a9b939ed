#!/usr/bin/env python3
"""The transfer ledger from the outside (issue 4, SPEC 11): `pdgate ledger` on ledgers the real
daemon wrote, checked against an independent reading of RFC 9162 and C2SP signed notes here.

Daemons: `done` (requests of every decision kind, then stopped: its ledger is what the CLI cases
read), `live` (kept running while the CLI reads its file), and last, one after another so that
the timings are not shared: kill -9 under load (20 times), the ledger on a small tmpfs, and a
ledger of 1,000,000 entries written here (PDTEST_LEDGER_BIG=N for another size), then verified
and proven by pdgate.
"""

import base64
import calendar
import hashlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import pdtest
from pdtest import SLOW, case, check, check_status, eq

CONTRACT, PARTNER, PURPOSE = "CT-2026-0001", "sakura-mail", "contact"
INTERVAL_MS = 200


# ---------------------------------------------------------------------------------------------
# RFC 9162 and C2SP, written here from the texts alone.

def leaf_hash(leaf):
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(hashes):
    """RFC 9162 2.1.1, as the recursion."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def verify_inclusion(index, size, lh, proof, root):
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, lh
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def parse_vkey(vkey):
    name, keyid, key = vkey.strip().split("+", 2)  # base64 may hold "+"
    raw = base64.b64decode(key)
    check(raw[0] == 1 and len(raw) == 33, "vkey: not Ed25519")
    want = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    eq(keyid, want.hex(), "vkey key id")
    return name, want, ed25519.Ed25519PublicKey.from_public_bytes(raw[1:])


def open_checkpoint(note, vkey):
    """Verifies a signed note with the vkey; returns (origin, size, root)."""
    name, keyid, pub = parse_vkey(vkey)
    i = note.rindex("\n\n")
    text, sigs = note[:i + 1], note[i + 2:]
    ok = False
    for line in sigs.splitlines():
        check(line.startswith("\u2014 "), f"signature line {line!r}")
        who, b64 = line[2:].rsplit(" ", 1)
        sig = base64.b64decode(b64)
        if who == name and sig[:4] == keyid:
            pub.verify(sig[4:], text.encode())  # raises InvalidSignature
            ok = True
    check(ok, "no signature by the vkey")
    origin, size, root = text.split("\n")[:3]
    eq(origin, name, "checkpoint origin is the key name")
    return origin, int(size), base64.b64decode(root)


# ---------------------------------------------------------------------------------------------

def cli(inst, *args, ok=True):
    r = inst.pdgate("ledger", *args)
    if ok:
        check(r.returncode == 0, f"pdgate ledger {' '.join(map(str, args))}: exit {r.returncode}: "
                                 f"{r.stderr.strip()[-600:]}")
    return r


def vkey_path(inst):
    return inst.path("keys/ledger.vkey")


def token(inst):
    r = inst.pdgate("token", "issue", "-c", inst.conf, "--contract", CONTRACT, "--purpose", PURPOSE,
                    "--ttl", "1h", "--cert", inst.pki.partner(PARTNER).pem)
    check(r.returncode == 0, f"token issue: {r.stderr.strip()}")
    return r.stdout.strip()


def requests_of_every_kind(d, tok):
    """Releases (one member, a page), refusals; returns [(index, kind, reason, body)]."""
    cert = d.install.pki.partner(PARTNER)
    auth = {"Authorization": "Bearer " + tok}
    seen = []
    for path, headers, status, kind, reason in [
        ("/v1/members/M0000001", auth, 200, "release", None),
        ("/v1/members?limit=5", auth, 200, "release", None),
        ("/v1/members/M0000002", {**auth, "X-Purpose": "marketing"}, 400, "deny", "purpose_conflict"),
        ("/v1/members/M0000003", {"X-Purpose": PURPOSE}, 401, "deny", "token_required"),
        ("/v1/members/NOSUCH999", auth, 404, "deny", "member_not_found"),
        ("/v1/members/M0000004", auth, 200, "release", None),
    ]:
        r = d.get(path, cert=cert, headers=headers)
        check_status(r, status, path)
        idx = r.headers.get("X-Ledger-Index")
        check(idx is not None and idx.isdigit(), f"{path}: X-Ledger-Index {idx!r}")
        seen.append((int(idx), kind, reason, r.content, path))
    return seen


class Env(pdtest.Env):
    @pdtest.fixture
    def done(self):
        """An installation whose daemon answered requests of every kind and then stopped."""
        inst = self.install(members=30, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
        d = pdtest.Daemon(inst)
        with d:
            tok = token(inst)
            self.answers = requests_of_every_kind(d, tok)
            time.sleep(3 * INTERVAL_MS / 1000)  # a checkpoint in between
            self.answers += requests_of_every_kind(d, tok)
            d.term()
        return inst

    @pdtest.fixture
    def live(self):
        inst = self.install(members=30, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
        return self.daemon(inst)

    def export(self, inst, *args):
        r = cli(inst, "export", "-c", inst.conf, *args)
        data = r.stdout.encode()
        check(data == b"" or data.endswith(b"\n"), "export ends with a newline")
        return data.split(b"\n")[:-1]


# ---------------------------------------------------------------------------------------------

@case("verify -c: size, latest checkpoint, ledger OK")
def _(env):
    inst = env.done
    r = cli(inst, "verify", "-c", inst.conf)
    lines = r.stdout.splitlines()
    check(lines and lines[-1] == "ledger OK", f"verify output: {r.stdout!r}")
    n = len(env.export(inst))
    eq(lines[0], f"size {n}", "size line")
    note = cli(inst, "checkpoint", "-c", inst.conf).stdout
    _, size, root = open_checkpoint(note, vkey_path(inst).read_text())
    eq(lines[1], f"checkpoint {size} {base64.b64encode(root).decode()}", "checkpoint line")
    eq(size, n, "the final checkpoint covers every entry")


@case("export + an independent RFC 9162 root = the signed checkpoint's root")
def _(env):
    inst = env.done
    leaves = env.export(inst)
    note = cli(inst, "checkpoint", "-c", inst.conf).stdout
    origin, size, root = open_checkpoint(note, vkey_path(inst).read_text())
    eq(origin, inst.get("ledger", "origin"), "origin")
    eq(size, len(leaves), "checkpoint size")
    check(mth([leaf_hash(x) for x in leaves]) == root, "recomputed root differs from the checkpoint")
    kinds = set()
    for i, raw in enumerate(leaves):
        check(b"\n" not in raw, "one line per leaf")
        leaf = json.loads(raw)
        eq((leaf["v"], leaf["index"]), (1, i), f"leaf {i}: v and index")
        eq(list(leaf)[:17], ["v", "index", "time", "request", "kind", "partner", "contract",
                             "relationship", "purpose", "subject", "items", "basis", "reason",
                             "digest", "cert", "token", "justification"], f"leaf {i}: member order")
        eq(raw, json.dumps(leaf, ensure_ascii=False, separators=(",", ":")).encode(),
           f"leaf {i}: compact UTF-8 JSON")
        kinds.add(leaf["kind"])
        if i > 0:
            check(leaf["time"] >= json.loads(leaves[i - 1])["time"], f"leaf {i}: time goes back")
    eq(kinds, {"release", "deny", "admin"}, "every kind of entry")
    first, last = json.loads(leaves[0]), json.loads(leaves[-1])
    eq((first["kind"], first["admin"]["action"]), ("admin", "gateway_start"), "first entry")
    eq((last["kind"], last["admin"]["action"]), ("admin", "gateway_stop"), "last entry")


@case("each answer's X-Ledger-Index holds its decision, digest and no member id")
def _(env):
    inst = env.done
    leaves = env.export(inst)
    for idx, kind, reason, body, path in env.answers:
        leaf = json.loads(leaves[idx])
        eq((leaf["kind"], leaf["reason"]), (kind, reason), f"{path}: entry {idx}")
        eq(leaf["partner"], PARTNER, f"{path}: partner")
        if path == "/v1/members?limit=5":
            for k in range(5):
                eq(json.loads(leaves[idx + k])["kind"], "release", f"page entry {idx + k}")
        elif kind == "release":
            eq(leaf["digest"], hashlib.sha256(body).hexdigest(), f"{path}: digest of the body")
            check(b"M0000" not in leaves[idx], f"{path}: a member id in the ledger")


@case("export --start/--end: a slice, byte for byte; bad ranges refused")
def _(env):
    inst = env.done
    leaves = env.export(inst)
    eq(env.export(inst, "--start", 3, "--end", 7), leaves[3:7], "slice 3..7")
    eq(env.export(inst, "--start", len(leaves)), [], "empty tail")
    for args in (("--start", 5, "--end", 4), ("--end", len(leaves) + 1), ("--start", "x")):
        r = cli(inst, "export", "-c", inst.conf, *args, ok=False)
        check(r.returncode != 0 and r.stderr, f"export {args}: exit {r.returncode}")


@case("prove: bundles check with check-proof and here with the vkey alone")
def _(env):
    inst = env.done
    leaves = env.export(inst)
    vkey = vkey_path(inst).read_text()
    for idx in sorted({0, 1, 5, len(leaves) // 2, len(leaves) - 1}):
        r = cli(inst, "prove", "-c", inst.conf, idx)
        b = json.loads(r.stdout)
        eq(b["leaf"].encode(), leaves[idx], f"bundle {idx}: leaf")
        eq(b["index"], idx, "index")
        lh = leaf_hash(b["leaf"].encode())
        eq(base64.b64decode(b["leaf_hash"]), lh, "leaf_hash")
        _, size, root = open_checkpoint(b["checkpoint"], vkey)
        eq(size, b["size"], "size")
        check(verify_inclusion(idx, size, lh, [base64.b64decode(p) for p in b["proof"]], root),
              f"bundle {idx}: the proof does not verify here")
        eq(b["vkey"], vkey.strip(), "vkey in the bundle")
        f = inst.path(f"bundle-{idx}.json")
        f.write_text(r.stdout)
        r = cli(inst, "check-proof", f, "--vkey", vkey_path(inst))
        check("proof OK" in r.stdout, r.stdout)


@case("prove --size: against an older checkpoint; not yet checkpointed refused")
def _(env):
    inst = env.done
    db = sqlite3.connect(inst.path("ledger.db"))
    sizes = [s for (s,) in db.execute("SELECT size FROM checkpoints ORDER BY size")]
    db.close()
    check(len(sizes) >= 2, f"checkpoints {sizes}")
    old = sizes[0]
    r = cli(inst, "prove", "-c", inst.conf, old - 1, "--size", old)
    eq(json.loads(r.stdout)["size"], old, "bundle size")
    r = cli(inst, "prove", "-c", inst.conf, old, "--size", old, ok=False)
    check(r.returncode != 0 and "not in the checkpoint" in r.stderr, r.stderr)
    r = cli(inst, "prove", "-c", inst.conf, 0, "--size", old + 10**6, ok=False)
    check(r.returncode != 0, "a size with no checkpoint")


@case("check-proof refuses tampered bundles and another key")
def _(env):
    inst = env.done
    good = json.loads(cli(inst, "prove", "-c", inst.conf, 2).stdout)
    other = env.install(members=1)

    def refused(b, what, vkey=None):
        f = inst.path("bad-bundle.json")
        f.write_text(json.dumps(b))
        r = cli(inst, "check-proof", f, "--vkey", vkey or vkey_path(inst), ok=False)
        check(r.returncode == 1, f"{what}: check-proof exit {r.returncode}: {r.stdout} {r.stderr}")

    b = dict(good, leaf=good["leaf"].replace("sakura-mail", "sakura-mai1"))
    refused(b, "changed leaf")
    b = dict(good, index=good["index"] + 1)
    refused(b, "other index")
    p = list(good["proof"])
    p[0] = base64.b64encode(bytes(32)).decode()
    refused(dict(good, proof=p), "changed proof hash")
    refused(dict(good, proof=good["proof"][:-1]), "short proof")
    lines = good["checkpoint"].split("\n")
    lines[1] = str(int(lines[1]) + 1)
    refused(dict(good, checkpoint="\n".join(lines)), "checkpoint size changed")
    refused(good, "another installation's vkey", vkey=other.path("keys/ledger.vkey"))
    refused({k: v for k, v in good.items() if k != "checkpoint"}, "no checkpoint")
    f = inst.path("bad-bundle.json")
    f.write_text('{"index":1,"index":2}')
    r = cli(inst, "check-proof", f, "--vkey", vkey_path(inst), ok=False)
    check(r.returncode == 1, "duplicate keys refused")


# ---------------------------------------------------------------------------------------------
# Tampering with a copy: each edit makes verify fail and name the place.

def tampered(env, what, edit, expect):
    inst = env.done
    folder = env.tmp / f"tamper-{abs(hash(what))}"
    folder.mkdir()
    copy = folder / "ledger.db"
    shutil.copy(inst.path("ledger.db"), copy)
    if isinstance(edit, str):
        r = subprocess.run(["sqlite3", str(copy), edit], capture_output=True, text=True)
        check(r.returncode == 0, f"{what}: sqlite3: {r.stderr}")
    else:
        db = sqlite3.connect(copy)
        edit(db)
        db.commit()
        db.close()
    r = cli(inst, "verify", "--db", copy, "--vkey", vkey_path(inst), ok=False)
    check(r.returncode == 1, f"{what}: verify exit {r.returncode}: {r.stdout}")
    check("ledger OK" not in r.stdout, f"{what}: says OK")
    check(expect in r.stderr, f"{what}: expected {expect!r} in {r.stderr.strip()!r}")


def last_index(env):
    return len(env.export(env.done)) - 1


# The stored form of docs/ledger.md, section 4: one row of `batches` per commit, its leaves a
# JSON array of strings, its hashes the leaf hashes then the nodes its entries complete.

def batch_nodes(a, b):
    """Nodes of level >= 1 completed by the entries [a, b)."""
    return sum((b >> lv) - (a >> lv) for lv in range(1, 64))


def node_at(first, n, level, index):
    e = ((index + 1) << level) - 1
    assert first <= e < first + n
    return (n + batch_nodes(first, e) + level - 1) * 32


def leaves_text(leaves):
    return json.dumps(leaves, ensure_ascii=False, separators=(",", ":"))


def batch_of(db, idx):
    first, n, ms, hashes, leaves = db.execute(
        "SELECT first, n, time, hashes, leaves FROM batches WHERE first <= ? ORDER BY first DESC "
        "LIMIT 1", (idx,)).fetchone()
    return first, n, ms, bytearray(hashes), json.loads(leaves)


def put_batch(db, first, hashes, leaves):
    db.execute("UPDATE batches SET hashes = ?, leaves = ? WHERE first = ?",
               (bytes(hashes), leaves_text(leaves), first))


@case("tamper: one byte of one leaf")
def _(env):
    def edit(db):
        first, n, ms, hashes, leaves = batch_of(db, 3)
        leaf = leaves[3 - first]
        leaves[3 - first] = leaf[:60] + ("b" if leaf[60] == "a" else "a") + leaf[61:]
        put_batch(db, first, hashes, leaves)
    tampered(env, "byte", edit, "entry 3:")


@case("tamper: one leaf changed with its hash recomputed")
def _(env):
    def edit(db):
        first, n, ms, hashes, leaves = batch_of(db, 4)
        leaf = leaves[4 - first]
        check('"request":"' in leaf, "entry 4 has a request id")
        leaf = leaf.replace('"request":"', '"request":"f')  # still a valid leaf
        leaves[4 - first] = leaf
        hashes[(4 - first) * 32:(5 - first) * 32] = leaf_hash(leaf.encode())
        put_batch(db, first, hashes, leaves)
    tampered(env, "rehashed", edit, "(covering entries 4..")


@case("tamper: delete a batch")
def _(env):
    with sqlite3.connect(env.done.path("ledger.db")) as db:
        first = db.execute("SELECT max(first) FROM batches WHERE first <= 4").fetchone()[0]
    db.close()
    tampered(env, "delete", f"DELETE FROM batches WHERE first = {first}", f"entry {first}: missing")


@case("tamper: delete the last batch")
def _(env):
    tampered(env, "delete last", "DELETE FROM batches WHERE first = (SELECT max(first) FROM batches)",
             "beyond the")


@case("tamper: swap two leaves of a batch, hashes and all")
def _(env):
    def edit(db):
        first, n = db.execute("SELECT first, n FROM batches WHERE n >= 2 LIMIT 1").fetchone()
        env.swapped = first
        _, _, _, hashes, leaves = batch_of(db, first)
        leaves[0], leaves[1] = leaves[1], leaves[0]
        hashes[0:64] = hashes[32:64] + hashes[0:32]
        put_batch(db, first, hashes, leaves)
    tampered(env, "swap", edit, "entry ")


@case("tamper: append a forged batch, hashes and all")
def _(env):
    n = last_index(env) + 1

    def edit(db):
        leaf = json.loads(db.execute("SELECT leaf FROM entries WHERE leaf LIKE '%\"release\"%' "
                                     "LIMIT 1").fetchone()[0])
        last_ms = db.execute("SELECT max(time) FROM batches").fetchone()[0]
        leaf["index"] = n
        ms = last_ms + 1000
        leaf["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + \
            f".{ms % 1000:03d}Z"
        text = json.dumps(leaf, ensure_ascii=False, separators=(",", ":"))
        hashes = leaf_hash(text.encode()) + bytes(32 * batch_nodes(n, n + 1))
        db.execute("INSERT INTO batches VALUES (?, 1, ?, ?, ?)",
                   (n, ms, hashes, leaves_text([text])))
    tampered(env, "forged", edit, f"entry {n}")


@case("tamper: change a checkpoint's root")
def _(env):
    def edit(db):
        size, note = db.execute("SELECT size, note FROM checkpoints ORDER BY size LIMIT 1").fetchone()
        lines = note.split("\n")
        lines[2] = base64.b64encode(hashlib.sha256(b"forged").digest()).decode()
        db.execute("UPDATE checkpoints SET note = ? WHERE size = ?", ("\n".join(lines), size))
        env.tampered_cp = size
    tampered(env, "root", edit, "checkpoint ")


@case("tamper: drop the last checkpoint")
def _(env):
    tampered(env, "drop", "DELETE FROM checkpoints WHERE size = (SELECT max(size) FROM checkpoints)",
             "a checkpoint was removed")


@case("tamper: a batch's time, a stored node, a hash cut off, a leaf's escaping")
def _(env):
    def time_edit(db):
        db.execute("UPDATE batches SET time = time + 1 WHERE first = (SELECT max(first) FROM "
                   "batches WHERE first <= 3)")
    first = None

    def node_edit(db):
        nonlocal first
        first, n, ms, hashes, leaves = batch_of(db, 3)  # entry 3 completes node (2, 0)
        at = node_at(first, n, 2, 0)
        hashes[at:at + 32] = bytes(32)
        put_batch(db, first, hashes, leaves)

    def cut_edit(db):
        first, n, ms, hashes, leaves = batch_of(db, 3)
        put_batch(db, first, hashes[:-32], leaves)

    def escape_edit(db):
        first, n, ms, hashes, leaves = batch_of(db, 3)
        text = leaves_text(leaves).replace('\\"v\\"', '\\u0022v\\u0022', 1)
        db.execute("UPDATE batches SET leaves = ? WHERE first = ?", (text, first))
    tampered(env, "time", time_edit, "its time differs from its batch's")
    tampered(env, "node", node_edit, "node (level 2, index 0)")
    tampered(env, "node gone", cut_edit, "its count or hashes are damaged")
    tampered(env, "escaping", escape_edit, "in the stored form")


# ---------------------------------------------------------------------------------------------
# A running gateway.

@case("on a running gateway: verify, export, prove read its file; a copy verifies")
def _(env):
    d = env.live
    inst = d.install
    tok = token(inst)
    requests_of_every_kind(d, tok)
    r = cli(inst, "verify", "-c", inst.conf)
    check(r.stdout.endswith("ledger OK\n"), r.stdout)
    requests_of_every_kind(d, tok)
    time.sleep(3 * INTERVAL_MS / 1000)
    leaves = env.export(inst)
    note = cli(inst, "checkpoint", "-c", inst.conf).stdout
    _, size, root = open_checkpoint(note, vkey_path(inst).read_text())
    check(size <= len(leaves) and mth([leaf_hash(x) for x in leaves[:size]]) == root,
          "a live checkpoint's root")
    b = json.loads(cli(inst, "prove", "-c", inst.conf, size - 1).stdout)
    eq(b["size"], size, "live proof size")
    folder = env.tmp / "live-copy"
    folder.mkdir()
    for suffix in ("", "-wal", "-shm"):
        src = inst.path("ledger.db" + suffix)
        if src.exists():
            shutil.copy(src, folder / ("ledger.db" + suffix))
    r = cli(inst, "verify", "--db", folder / "ledger.db", "--vkey", vkey_path(inst))
    check(r.stdout.endswith("ledger OK\n"), r.stdout)


# ---------------------------------------------------------------------------------------------
# Crashes, a full disk, a million entries.

@case("kill -9 under load, 20 times: reopens, verifies, every 200 answered is there")
def _(env):
    inst = env.install(members=50, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
    tok = token(inst)
    cert = inst.pki.partner(PARTNER)
    got = {}  # index -> digest of the body answered with 200
    lock = threading.Lock()
    for round_ in range(20):
        d = pdtest.Daemon(inst)
        d.start()
        stop = threading.Event()

        def client(k):
            s = __import__("requests").Session()
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = d.get(f"/v1/members/M{(k * 7 + i) % 50 + 1:07d}", cert=cert, session=s,
                              headers={"Authorization": "Bearer " + tok}, timeout=5)
                except Exception:  # noqa: BLE001 - the daemon is being killed
                    return
                if r.status_code == 200:
                    with lock:
                        got[int(r.headers["X-Ledger-Index"])] = hashlib.sha256(r.content).hexdigest()

        with ThreadPoolExecutor(8) as pool:
            futs = [pool.submit(client, k) for k in range(8)]
            time.sleep(0.3 + (round_ % 5) * 0.1)
            d.kill()
            stop.set()
            for f in futs:
                f.result()
    d = pdtest.Daemon(inst)
    with d:
        pass  # reopening signs what the last kill left
    r = cli(inst, "verify", "-c", inst.conf)
    check(r.stdout.endswith("ledger OK\n"), r.stdout)
    leaves = {i: json.loads(x) for i, x in enumerate(
        cli(inst, "export", "-c", inst.conf).stdout.encode().split(b"\n")[:-1])}
    check(len(got) > 100, f"only {len(got)} answers under load")
    missing = [i for i, dg in got.items() if i not in leaves or leaves[i].get("digest") != dg]
    eq(missing, [], "answered entries missing or with another digest")
    starts = sum(1 for x in leaves.values() if x["kind"] == "admin"
                 and x["admin"]["action"] == "gateway_start")
    eq(starts, 21, "a gateway_start per run")


@case("ledger on a full file system: 503 and no body, then recovery")
def _(env):
    if os.geteuid() != 0:
        print("# skip: mounting a tmpfs needs root")
        return
    inst = env.install(members=50, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
    mnt = env.tmp / "full-fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"# skip: cannot mount a tmpfs: {r.stderr.strip()}")
        return
    try:
        inst.set("ledger", "path", str(mnt / "ledger.db"))
        tok = token(inst)
        cert = inst.pki.partner(PARTNER)
        with pdtest.Daemon(inst) as d:
            ballast = mnt / "ballast"
            # fill the file system to the brim; unbuffered, so that closing the file has no
            # data left to write (a buffered close would raise ENOSPC once more)
            with open(ballast, "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                except OSError:
                    pass
            codes = set()
            s = __import__("requests").Session()
            for i in range(400):
                r = d.get(f"/v1/members/M{i % 50 + 1:07d}", cert=cert, session=s,
                          headers={"Authorization": "Bearer " + tok})
                codes.add(r.status_code)
                if r.status_code == 503:
                    eq(r.json().get("error"), "ledger_unavailable", "503 code")
                    check("member_id" not in r.text and "name" not in r.text, "503 carries data")
                    break
            check(503 in codes, f"no 503 on a full disk: {codes}")
            ballast.unlink()
            r = d.get("/v1/members/M0000001", cert=cert, session=s,
                      headers={"Authorization": "Bearer " + tok})
            check_status(r, 200, "after room is made again")
            d.term()
        r = cli(inst, "verify", "-c", inst.conf)
        check(r.stdout.endswith("ledger OK\n"), r.stdout)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


OLD_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE entries(idx INTEGER PRIMARY KEY, leaf TEXT NOT NULL, hash BLOB NOT NULL,
 time INTEGER NOT NULL, kind TEXT NOT NULL, partner TEXT, contract TEXT, purpose TEXT, subject TEXT);
CREATE INDEX entries_partner ON entries(partner) WHERE partner IS NOT NULL;
CREATE INDEX entries_subject ON entries(subject) WHERE subject IS NOT NULL;
CREATE INDEX entries_purpose ON entries(purpose) WHERE purpose IS NOT NULL;
CREATE INDEX entries_kind ON entries(kind);
CREATE TABLE nodes(level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
 PRIMARY KEY(level, idx)) WITHOUT ROWID;
CREATE TABLE checkpoints(size INTEGER PRIMARY KEY, note TEXT NOT NULL, time INTEGER NOT NULL);
"""


def old_ledger(db_path, origin):
    """An empty ledger.db of schema 1, the layout pdgate wrote before batches, made with its
    CREATE statements (a row per entry with its search columns, a row per tree node)."""
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.executescript(OLD_SCHEMA)
    db.executemany("INSERT INTO meta VALUES (?, ?)", [("schema", "1"), ("origin", origin)])
    db.commit()
    return db


def sign(inst, size, root):
    key = serialization.load_pem_private_key(inst.path("keys/ledger.key").read_bytes(), None)
    name, keyid, _ = parse_vkey(vkey_path(inst).read_text())
    text = f"{name}\n{size}\n{base64.b64encode(root).decode()}\n"
    sig = base64.b64encode(keyid + key.sign(text.encode())).decode()
    return f"{text}\n\u2014 {name} {sig}\n"


class Writer:
    """Leaves appended as pdgate appends them, in either layout: the leaf hashes, every
    complete node of level >= 1 (computed here from RFC 9162), and for schema 2 one batch row
    per group of leaves sharing a time."""

    def __init__(self, db, old):
        self.db, self.old = db, old
        self.frontier, self.size = [], 0
        self.rows, self.nodes, self.batch = [], [], None

    def add(self, leaf, ms, cols):
        i, h = self.size, leaf_hash(leaf.encode())
        if not self.old and (self.batch is None or self.batch[1] != ms):
            self.end_batch()
            self.batch = [i, ms, [], bytearray(), bytearray()]
        level, idx, acc, done = 0, i, h, []
        while self.frontier and self.frontier[-1][0] == level:
            _, left = self.frontier.pop()
            acc = node_hash(left, acc)
            level += 1
            idx >>= 1
            done.append((level, idx, acc))
        self.frontier.append((level, acc))
        self.size += 1
        if self.old:
            self.rows.append((i, leaf, h, ms, *cols))
            self.nodes.extend(done)
        else:
            b = self.batch
            b[2].append(leaf)
            b[3] += h
            for _, _, nh in done:
                b[4] += nh
        if len(self.rows) >= 50000:
            self.flush()

    def end_batch(self):
        if self.batch is not None:
            first, ms, leaves, hashes, nodes = self.batch
            self.rows.append((first, len(leaves), ms, bytes(hashes + nodes), leaves_text(leaves)))
            self.batch = None

    def flush(self):
        if self.old:
            self.db.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", self.rows)
            self.db.executemany("INSERT INTO nodes VALUES (?, ?, ?)", self.nodes)
        else:
            self.db.executemany("INSERT INTO batches VALUES (?, ?, ?, ?, ?)", self.rows)
        self.db.commit()
        self.rows.clear()
        self.nodes.clear()

    def root(self):
        self.end_batch()
        self.flush()
        if not self.frontier:
            return hashlib.sha256(b"").digest()
        root = self.frontier[-1][1]
        for _, hsh in reversed(self.frontier[:-1]):
            root = node_hash(hsh, root)
        return root


def write_big_ledger(inst, db_path, n, old=False):
    """n entries written here, as pdgate writes them: canonical leaves, leaf hashes, every
    complete node of level >= 1, checkpoints signed with the installation's key. The schema is
    the one the daemon created (docs/ledger.md), or with old the earlier one (OLD_SCHEMA, in a
    new file); nothing of pdgate's code is used."""
    if old:
        name, _, _ = parse_vkey(vkey_path(inst).read_text())
        db = old_ledger(db_path, name)
    else:
        db = sqlite3.connect(db_path)
        db.execute("PRAGMA synchronous=OFF")
        db.execute("DELETE FROM batches")
        db.execute("DELETE FROM checkpoints")
    w = Writer(db, old)
    t0 = 1775000000000  # 2026-04-01T00:33:20Z
    for i in range(n):
        ms = t0 + i // 10
        tm = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
        subject = hashlib.sha256(b"m%d" % (i % 20000)).hexdigest()
        if i == 0:
            leaf = (f'{{"v":1,"index":0,"time":"{tm}","request":null,"kind":"admin","partner":null,'
                    '"contract":null,"relationship":null,"purpose":null,"subject":null,"items":null,'
                    '"basis":null,"reason":null,"digest":null,"cert":null,"token":null,'
                    '"justification":null,"admin":{"action":"gateway_start","staff":null,'
                    '"reason":null,"target":null}}')
            cols = ("admin", None, None, None, None)
        else:
            leaf = (f'{{"v":1,"index":{i},"time":"{tm}","request":"{i:024x}","kind":"release",'
                    f'"partner":"{PARTNER}","contract":"{CONTRACT}","relationship":"entrustment",'
                    f'"purpose":"{PURPOSE}","subject":"{subject}","items":["name","email"],'
                    f'"basis":"entrustment","reason":null,"digest":"{subject}","cert":"{subject}",'
                    f'"token":"wo-1","justification":null}}')
            cols = ("release", PARTNER, CONTRACT, PURPOSE, subject)
        w.add(leaf, ms, cols)
    root = w.root()
    db.execute("INSERT INTO checkpoints VALUES (?, ?, ?)",
               (n, sign(inst, n, root), int(time.time() * 1000)))
    db.commit()
    db.close()
    return root


def old_copy(env, inst, dest):
    """inst's ledger rewritten at dest in the layout of schema 1 (old_ledger): the daemon's own
    leaves, byte for byte, and its checkpoint rows as they were signed. Returns the leaves."""
    leaves = env.export(inst)
    name, _, _ = parse_vkey(vkey_path(inst).read_text())
    db = old_ledger(dest, name)
    w = Writer(db, True)
    for raw in leaves:
        leaf = json.loads(raw)
        ms = calendar.timegm(time.strptime(leaf["time"][:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + \
            int(leaf["time"][20:23])
        w.add(raw.decode(), ms, (leaf["kind"], leaf["partner"], leaf["contract"],
                                 leaf["purpose"], leaf["subject"]))
    w.root()
    with sqlite3.connect(inst.path("ledger.db")) as src:
        cps = src.execute("SELECT size, note, time FROM checkpoints ORDER BY size").fetchall()
    src.close()
    db.executemany("INSERT INTO checkpoints VALUES (?, ?, ?)", cps)
    db.commit()
    db.close()
    return leaves, cps


def checkpoint_rows(path):
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT size, note FROM checkpoints ORDER BY size").fetchall()
    db.close()
    return rows


@case("upgrade: a ledger of the earlier layout, checked before and after, byte-identical")
def _(env):
    inst = env.done
    old = env.tmp / "old-layout.db"
    leaves, cps = old_copy(env, inst, old)
    vk = vkey_path(inst)
    r = cli(inst, "verify", "--db", old, "--vkey", vk, ok=False)
    check(r.returncode == 1 and "pdgate ledger upgrade" in r.stderr,
          f"an old ledger is not read as it is: {r.stderr}")
    r = cli(inst, "upgrade", "--db", old, "--vkey", vk)
    check(f"{len(leaves)} entries" in r.stdout and f"{len(cps)} checkpoints" in r.stdout, r.stdout)
    mine = cli(inst, "verify", "--db", inst.path("ledger.db"), "--vkey", vk).stdout
    r = cli(inst, "verify", "--db", old, "--vkey", vk)
    eq(r.stdout.splitlines()[-2:], mine.splitlines()[-2:], "the same size, checkpoint and root")
    r = cli(inst, "export", "--db", old)
    eq(r.stdout.encode(), b"".join(x + b"\n" for x in leaves), "the leaves byte for byte")
    eq(checkpoint_rows(old), [(s, n) for s, n, _ in cps], "the checkpoints as they were signed")
    with sqlite3.connect(old) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
    db.close()
    check("nodes" not in tables and "batches" in tables, f"tables after: {tables}")
    r = cli(inst, "upgrade", "--db", old, "--vkey", vk)
    check("nothing to upgrade" in r.stdout, r.stdout)
    b = json.loads(cli(inst, "prove", "--db", old, "--vkey", vk, 3).stdout)
    eq(b["leaf"].encode(), leaves[3], "prove reads the upgraded ledger")


@case("upgrade refuses a damaged old ledger and changes nothing")
def _(env):
    inst = env.done
    vk = vkey_path(inst)
    for what, sql, expect in [
        ("leaf", "UPDATE entries SET leaf = replace(leaf, '\"v\":1', '\"v\":2') WHERE idx = 3",
         "entry 3"),
        ("node", "UPDATE nodes SET hash = zeroblob(32) WHERE level = 1 AND idx = 0",
         "node (level 1, index 0)"),
        ("gap", "DELETE FROM entries WHERE idx = 5", "entry 5"),
        ("checkpoint", "UPDATE checkpoints SET note = replace(note, '\u2014', '-')",
         "does not verify"),
    ]:
        old = env.tmp / f"old-{what}.db"
        old_copy(env, inst, old)
        with sqlite3.connect(old) as db:
            db.execute(sql)
        db.close()
        r = cli(inst, "upgrade", "--db", old, "--vkey", vk, ok=False)
        check(r.returncode == 1 and expect in r.stderr and "nothing changed" in r.stderr,
              f"{what}: exit {r.returncode}: {r.stderr}")
        with sqlite3.connect(old) as db:
            schema = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
            tables = {x[0] for x in db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
        db.close()
        check(schema == "1" and "entries" in tables and "batches" not in tables,
              f"{what}: the old ledger is as it was ({schema}, {tables})")
    r = cli(inst, "upgrade", "--db", env.tmp / "no-such.db", "--vkey", vk, ok=False)
    check(r.returncode == 1 and not (env.tmp / "no-such.db").exists(), "no ledger is created")


@case("the gateway opens a ledger of the earlier layout: upgraded once, then appended to")
def _(env):
    inst = env.install(members=30, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
    with pdtest.Daemon(inst) as d:
        requests_of_every_kind(d, token(inst))
    before = checkpoint_rows(inst.path("ledger.db"))
    old = env.tmp / "gateway-old.db"
    leaves, _ = old_copy(env, inst, old)
    for suffix in ("", "-wal", "-shm", "-index", "-index-wal", "-index-shm"):
        p = Path(str(inst.path("ledger.db")) + suffix)
        if p.exists():
            p.unlink()
    shutil.copy(old, inst.path("ledger.db"))
    with pdtest.Daemon(inst) as d:
        seen = requests_of_every_kind(d, token(inst))
        log = d.log()
    check("upgraded to schema 2" in log, "the gateway says it upgraded the ledger")
    check(seen[0][0] == len(leaves) + 1, f"new entries follow the old ones: {seen[0][0]}")
    after = env.export(inst)
    eq(after[:len(leaves)], leaves, "the old leaves byte for byte")
    rows = checkpoint_rows(inst.path("ledger.db"))
    eq(rows[:len(before)], before, "the old checkpoints as they were signed")
    check(len(rows) > len(before), "and new ones")
    r = cli(inst, "verify", "-c", inst.conf)
    check(r.stdout.endswith("ledger OK\n"), r.stdout + r.stderr)
    with sqlite3.connect(inst.path("ledger.db")) as db:
        schema = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
    db.close()
    eq(schema, "2", "the stored schema")


@case("a million entries written here: verify < 10 s, prove and check-proof")
def _(env):
    n = int(os.environ.get("PDTEST_LEDGER_BIG", "1000000"))
    inst = env.install(members=1)
    with pdtest.Daemon(inst):
        pass  # creates ledger.db with its schema
    t = time.monotonic()
    root = write_big_ledger(inst, inst.path("ledger.db"), n)
    made = time.monotonic() - t
    # CPU time, not wall time, is checked: on a shared machine the wall clock measures the
    # neighbours. Nothing else of this suite runs meanwhile (no background cases).
    t, ru = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    r = cli(inst, "verify", "-c", inst.conf)
    secs, ru2 = time.monotonic() - t, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ru2.ru_utime - ru.ru_utime + ru2.ru_stime - ru.ru_stime
    check(r.stdout.endswith("ledger OK\n"), r.stdout + r.stderr)
    eq(r.stdout.splitlines()[1], f"checkpoint {n} {base64.b64encode(root).decode()}",
       "pdgate's root is the root computed here")
    print(f"# {n} entries written in {made:.1f}s; pdgate ledger verify {secs:.2f}s "
          f"({cpu:.2f}s CPU)", flush=True)
    check(cpu < 10 * n / 1e6 * SLOW, f"verify of {n} entries took {cpu:.2f}s of CPU")
    times = []
    for idx in (0, n // 3, n - 1):
        t = time.monotonic()
        r = cli(inst, "prove", "-c", inst.conf, idx)
        times.append(time.monotonic() - t)
        f = inst.path(f"big-{idx}.json")
        f.write_text(r.stdout)
        cli(inst, "check-proof", f, "--vkey", vkey_path(inst))
        b = json.loads(r.stdout)
        check(verify_inclusion(idx, n, leaf_hash(b["leaf"].encode()),
                               [base64.b64decode(p) for p in b["proof"]], root), f"proof of {idx}")
    print(f"# pdgate ledger prove at {n}: {min(times) * 1000:.1f} ms per command "
          "(process start, configuration and proof)", flush=True)


if __name__ == "__main__":
    pdtest.run(Env)
