#!/usr/bin/env python3
"""Verifying the ledger against a checkpoint kept outside it (SPEC 17.3): `pdgate ledger verify
--checkpoint NOTE [--witness VKEY]... [--quorum N]` and `check-proof --witness`.

A real daemon writes the ledger; its latest checkpoint is cosigned by real `pdgate witness
serve` processes. Then the two attacks one holder of ledger.db and ledger.key can make, which
the inside check (plain `ledger verify`) cannot see: a leaf rewritten with every stored hash and
node recomputed and every checkpoint re-signed (done here on a copy, from the batch layout of
docs/ledger.md), and the tail cut and re-signed by starting the gateway again.
"""

import base64
import json
import shutil
import sqlite3
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import pdtest
from pdtest import case, check, eq
from test_witness import Witness, _Stopper, body, leaf_hash, mth, sign_note

CONTRACT, PARTNER, PURPOSE = "CT-2026-0001", "sakura-mail", "contact"
INTERVAL_MS = 150


def requests(inst, n):
    """n releases through a running daemon, a checkpoint interval and more apart."""
    d = pdtest.Daemon(inst)
    with d:
        r = inst.pdgate("token", "issue", "-c", inst.conf, "--contract", CONTRACT, "--purpose",
                        PURPOSE, "--ttl", "1h", "--cert", inst.pki.partner(PARTNER).pem)
        check(r.returncode == 0, r.stderr)
        auth = {"Authorization": "Bearer " + r.stdout.strip()}
        for i in range(1, n + 1):
            pdtest.check_status(d.get(f"/v1/members/M000000{i}", cert=inst.pki.partner(PARTNER),
                                      headers=auth), 200)
            time.sleep(3 * INTERVAL_MS / 1000)
        d.term()


def cosign(w, note, old):
    """w's cosignature line for note, submitted from the witness's size old."""
    r = w.post(body(old, [], note))
    eq(r.status_code, 200, f"add-checkpoint: {r.text}")
    return r.text


def checkpoints(path):
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT size, note FROM checkpoints ORDER BY size").fetchall()
    db.close()
    return rows


class Env(pdtest.Env):
    @pdtest.fixture
    def ledger(self):
        """(install, the latest checkpoint note, its size, the checkpoints before it, the
        cosigned notes by w1, by w1 and w2, by w1 and w3)."""
        inst = self.install(members=30, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
        requests(inst, 5)
        note = inst.pdgate("ledger", "checkpoint", "-c", inst.conf).stdout
        cps = checkpoints(inst.path("ledger.db"))
        check(len(cps) >= 3 and cps[-1][1] == note, f"checkpoints {[s for s, _ in cps]}")
        self.vkey = inst.path("keys/ledger.vkey").read_text().strip()
        self.w = [self.enter(_Stopper(Witness(self.tmp, [self.vkey], name=f"witness.example/w{k}")))
                  .start() for k in (1, 2, 3)]
        lines = [cosign(w, note, 0) for w in self.w]
        self.notes = {}
        for tag, ks in [("w1", [0]), ("w1w2", [0, 1]), ("w1w3", [0, 2]), ("none", [])]:
            path = self.tmp / f"{tag}.note"
            path.write_text(note + "".join(lines[k] for k in ks))
            self.notes[tag] = path
        return inst, note, cps[-1][0], cps[:-1]

    def verify(self, *args, db=None, expect=0):
        inst = self.ledger[0]
        where = ["--db", db, "--vkey", inst.path("keys/ledger.vkey")] if db else ["-c", inst.conf]
        r = inst.pdgate("ledger", "verify", *where, *args)
        eq(r.returncode, expect, f"verify {' '.join(map(str, args))}: {r.stdout} {r.stderr}")
        check((expect == 0) == ("ledger OK" in r.stdout), f"OK line: {r.stdout!r}")
        return r

    def wkey(self, k):
        return self.w[k].vkey


def refused(r, want):
    check(want in r.stderr, f"expected {want!r} in {r.stderr.strip()!r}")


# ---------------------------------------------------------------------------------------------

@case("a good ledger extends its witnessed checkpoint, with the quorum")
def _(env):
    inst, note, size, _ = env.ledger
    root = note.split("\n")[2]
    r = env.verify("--checkpoint", env.notes["w1"], "--witness", env.wkey(0))
    check(f"extends checkpoint {size} {root} of " in r.stdout, r.stdout)
    check("cosigned by 1 of 1 witnesses" in r.stdout, r.stdout)
    # a key given as a file, the default quorum of all, and --quorum below it
    r = env.verify("--checkpoint", env.notes["w1w2"], "--witness", env.w[0].dir / "witness.vkey",
                   "--witness", env.wkey(1))
    check("cosigned by 2 of 2 witnesses" in r.stdout, r.stdout)
    r = env.verify("--checkpoint", env.notes["w1"], "--witness", env.wkey(0), "--witness",
                   env.wkey(1), "--quorum", "1")
    check("cosigned by 1 of 2 witnesses" in r.stdout, r.stdout)
    # no witness: the checkpoint alone
    env.verify("--checkpoint", env.notes["none"])


@case("an earlier checkpoint kept outside: the ledger extends it by a consistency proof")
def _(env):
    inst, _, size, earlier = env.ledger
    for s, n in earlier:
        path = env.tmp / f"earlier-{s}.note"
        path.write_text(n)
        r = env.verify("--checkpoint", path)
        check(f"extends checkpoint {s} " in r.stdout, r.stdout)
        check(s < size, "earlier")


@case("too few cosignatures, a bad one, and lines by unknown keys ignored")
def _(env):
    env.ledger
    r = env.verify("--checkpoint", env.notes["w1"], "--witness", env.wkey(0), "--witness",
                   env.wkey(1), expect=1)
    refused(r, "carries 1 valid cosignatures of the 2 required; not cosigned by: "
               "witness.example/w2")
    r = env.verify("--checkpoint", env.notes["none"], "--witness", env.wkey(0), expect=1)
    refused(r, "carries 0 valid cosignatures of the 1 required")
    r = env.verify("--checkpoint", env.notes["w1w3"], "--witness", env.wkey(1), expect=1)
    refused(r, "not cosigned by: witness.example/w2")
    # w3's line is by a key not given: ignored, not counted, not refused
    r = env.verify("--checkpoint", env.notes["w1w3"], "--witness", env.wkey(0))
    check("cosigned by 1 of 1 witnesses" in r.stdout, r.stdout)
    # a cosignature by a given key that does not verify
    text = env.notes["w1"].read_text()
    i = text.rindex(" ") + 1
    sig = bytearray(base64.b64decode(text[i:]))
    sig[-1] ^= 1
    bad = env.tmp / "badcosig.note"
    bad.write_text(text[:i] + base64.b64encode(bytes(sig)).decode() + "\n")
    r = env.verify("--checkpoint", bad, "--witness", env.wkey(0), expect=1)
    refused(r, "the checkpoint's cosignatures:")
    env.verify("--checkpoint", bad)  # the log's own signature is intact


@case("malformed notes and keys, wrong uses of the options: refused")
def _(env):
    inst, note, _, _ = env.ledger
    garbage = env.tmp / "garbage.note"
    garbage.write_text("not a note\n")
    empty = env.tmp / "empty.note"
    empty.write_text("")
    # the same checkpoint signed by another key under the ledger's name
    other = env.tmp / "other.note"
    name = note.split("\n")[0]
    other.write_text(sign_note(note[:note.rindex("\n\n") + 1], name,
                               ed25519.Ed25519PrivateKey.generate()))
    for path, want in [(garbage, "not one of this ledger's"), (empty, "empty"),
                       (other, "not one of this ledger's"),
                       (env.tmp / "missing.note", "missing.note")]:
        refused(env.verify("--checkpoint", path, expect=1), want)
    for args, want in [
        (["--witness", "garbage"], "not a witness's verifier key"),
        (["--witness", env.vkey], "not a witness's verifier key"),  # the log's, type 0x01
        (["--witness", env.wkey(0), "--witness", env.wkey(0)], "given twice"),
        (["--witness", env.wkey(0), "--quorum", "0"], "--quorum takes"),
        (["--witness", env.wkey(0), "--quorum", "01x"], "--quorum takes"),
        (["--witness", env.wkey(0), "--quorum", "2"], "needs at least that many"),
        (["--quorum", "1"], "needs at least that many"),
    ]:
        refused(env.verify("--checkpoint", env.notes["w1"], *args, expect=2), want)
    refused(env.verify("--witness", env.wkey(0), expect=2), "verify with --checkpoint")
    r = inst.pdgate("ledger", "export", "-c", inst.conf, "--checkpoint", env.notes["w1"])
    eq(r.returncode, 2, "--checkpoint on export")
    refused(r, "--checkpoint is an option of verify")


@case("check-proof --witness: the bundle's checkpoint carries the quorum")
def _(env):
    inst, note, _, _ = env.ledger
    r = inst.pdgate("ledger", "prove", "-c", inst.conf, "2")
    eq(r.returncode, 0, r.stderr)
    bundle = json.loads(r.stdout)
    eq(bundle["checkpoint"], note, "the bundle holds the latest checkpoint")
    vk = inst.path("keys/ledger.vkey")

    def check_proof(tag, *args):
        b = dict(bundle, checkpoint=env.notes[tag].read_text())
        path = env.tmp / f"bundle-{tag}.json"
        path.write_text(json.dumps(b))
        return inst.pdgate("ledger", "check-proof", path, "--vkey", vk, *args)

    r = check_proof("w1w2", "--witness", env.wkey(0), "--witness", env.wkey(1))
    eq(r.returncode, 0, r.stderr)
    check("proof OK" in r.stdout and "cosigned by 2 of 2 witnesses" in r.stdout, r.stdout)
    r = check_proof("w1", "--witness", env.wkey(0), "--witness", env.wkey(1))
    eq(r.returncode, 1, r.stdout)
    refused(r, "not cosigned by: witness.example/w2")
    r = check_proof("w1", "--witness", env.wkey(0), "--witness", env.wkey(1), "--quorum", "1")
    eq(r.returncode, 0, r.stderr)
    r = check_proof("none", "--witness", env.wkey(2))
    eq(r.returncode, 1, r.stdout)
    refused(r, "carries 0 valid cosignatures")
    r = check_proof("none", "--witness", "garbage")
    eq(r.returncode, 2, r.stderr)


# ---------------------------------------------------------------------------------------------
# The attacks.

def rewrite_leaf(inst, db_path, k):
    """Entry k changed; every leaf hash and node of docs/ledger.md section 4 recomputed; every
    checkpoint over it re-signed with the ledger key, as only its holder can."""
    db = sqlite3.connect(db_path)
    rows = db.execute("SELECT first, n, leaves FROM batches ORDER BY first").fetchall()
    leaves = [leaf for _, _, text in rows for leaf in json.loads(text)]
    check('"request":"' in leaves[k], f"entry {k} has a request id")
    leaves[k] = leaves[k].replace('"request":"', '"request":"f')
    hashes = [leaf_hash(x.encode()) for x in leaves]
    for first, n, _ in rows:
        blob = b"".join(hashes[first:first + n])
        for e in range(first, first + n):
            lv = 1
            while (e + 1) % (1 << lv) == 0:
                ix = ((e + 1) >> lv) - 1
                blob += mth(hashes[ix << lv:(ix + 1) << lv])
                lv += 1
        db.execute("UPDATE batches SET hashes = ?, leaves = ? WHERE first = ?",
                   (blob, json.dumps(leaves[first:first + n], ensure_ascii=False,
                                     separators=(",", ":")), first))
    key = serialization.load_pem_private_key(inst.path("keys/ledger.key").read_bytes(), None)
    for size, note in db.execute("SELECT size, note FROM checkpoints").fetchall():
        origin = note.split("\n")[0]
        text = f"{origin}\n{size}\n{base64.b64encode(mth(hashes[:size])).decode()}\n"
        db.execute("UPDATE checkpoints SET note = ? WHERE size = ?",
                   (sign_note(text, origin, key), size))
    db.commit()
    db.close()


@case("a leaf changed with every hash and node recomputed: plain verify passes, "
      "--checkpoint catches it")
def _(env):
    inst, note, size, _ = env.ledger
    copy = env.tmp / "rewritten.db"
    shutil.copy(inst.path("ledger.db"), copy)
    rewrite_leaf(inst, copy, 2)
    env.verify(db=copy)
    r = env.verify("--checkpoint", env.notes["w1"], "--witness", env.wkey(0), db=copy, expect=1)
    refused(r, f"the ledger's tree of {size} entries does not have the checkpoint's root")
    refused(r, "entries it covers were rewritten")


@case("the tail cut and re-signed by restarting the gateway: plain verify passes, "
      "--checkpoint with its witness catches it")
def _(env):
    inst, note, size, earlier = env.ledger
    cut = earlier[0][0]
    db = sqlite3.connect(inst.path("ledger.db"))
    db.execute("DELETE FROM batches WHERE first >= ?", (cut,))
    db.execute("DELETE FROM checkpoints WHERE size > ?", (cut,))
    db.commit()
    db.close()
    d = pdtest.Daemon(inst)  # the gateway signs the cut ledger anew
    with d:
        d.term()
    cps = checkpoints(inst.path("ledger.db"))
    check(cps[-1][0] < size, f"shorter than the witnessed {size}: {cps[-1][0]}")
    env.verify()
    r = env.verify("--checkpoint", env.notes["w1"], "--witness", env.wkey(0), expect=1)
    refused(r, f"the checkpoint covers {size} entries, the ledger's latest checkpoint only "
               f"{cps[-1][0]}: entries it had signed are gone")
    # grown past the witnessed size again: no longer shorter, but not the same tree
    requests(inst, 5)
    cps = checkpoints(inst.path("ledger.db"))
    check(cps[-1][0] > size, f"longer than the witnessed {size}: {cps[-1][0]}")
    env.verify()
    r = env.verify("--checkpoint", env.notes["w1"], "--witness", env.wkey(0), expect=1)
    refused(r, f"the ledger's tree of {size} entries does not have the checkpoint's root")
    # what was before the cut is still extended
    path = env.tmp / "before-cut.note"
    path.write_text(earlier[0][1])
    env.verify("--checkpoint", path)


if __name__ == "__main__":
    pdtest.run(Env, cases=[c for c in pdtest._registry if c.fn.__module__ == "__main__"])
