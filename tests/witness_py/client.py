#!/usr/bin/env python3
"""A C2SP tlog-witness client written from the texts alone (c2sp.org/tlog-witness,
tlog-cosignature), apart from pdgate: it submits a log's checkpoints to a witness with
consistency proofs, follows a 409 to the witness's size, and checks each cosignature it gets
back against the witness's verifier key.

Proofs come from wherever the log serves them: pdgate's compliance API
(GET /v1/ledger/proof/consistency, `ComplianceProofs`), or the leaves themselves (`LeafProofs`,
RFC 9162 2.1.4.1 over `pdgate ledger export`).

    client.py --witness URL --witness-vkey VKEY --compliance URL --token T --ca PEM NOTE…
"""
import argparse
import base64
import hashlib
import struct
import sys

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Answer:
    """What a witness said: status, content type, text."""

    def __init__(self, r):
        self.status, self.ctype, self.text = r.status_code, r.headers.get("Content-Type", ""), r.text

    def __repr__(self):
        return f"{self.status} {self.ctype} {self.text!r}"


def body_of(note):
    """The signed text of a note: everything up to and with the newline before the blank line."""
    return note[:note.rindex("\n\n") + 1].encode()


def cosigner(vkey):
    """A witness's verifier key <name>+<hex id>+<base64(0x04 || key)>: (name, id, key)."""
    name, kid, b64 = vkey.strip().split("+", 2)
    raw = base64.b64decode(b64, validate=True)
    if len(raw) != 33 or raw[0] != 0x04:
        raise ValueError("not a cosignature/v1 key (type 0x04)")
    if hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() != kid:
        raise ValueError("the key id does not match")
    return name, bytes.fromhex(kid), Ed25519PublicKey.from_public_bytes(raw[1:])


def verify_cosignature(lines, note, vkey):
    """The timestamp of the witness's valid cosignature among the signature lines; ValueError if
    it has none or a bad one (lines of other keys are ignored)."""
    name, kid, pub = cosigner(vkey)
    for line in lines.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014":
            raise ValueError(f"not a signature line: {line!r}")
        sig = base64.b64decode(parts[2], validate=True)
        if parts[1] != name or sig[:4] != kid:
            continue
        if len(sig) != 76:
            raise ValueError("a cosignature/v1 is 76 bytes")
        (ts,) = struct.unpack(">Q", sig[4:12])
        try:
            pub.verify(sig[12:], b"cosignature/v1\ntime %d\n" % ts + body_of(note))
        except InvalidSignature:
            raise ValueError("the cosignature does not verify") from None
        return ts
    raise ValueError("no cosignature by the witness")


def submission(old, proof, note):
    """The add-checkpoint body: old size, proof lines, a blank line, the signed checkpoint."""
    return (f"old {old}\n" + "".join(base64.b64encode(p).decode() + "\n" for p in proof)
            + "\n" + note).encode()


class ComplianceProofs:
    """Consistency proofs from pdgate's compliance API (an auditor's token)."""

    def __init__(self, base, token, ca):
        self.base, self.ca, self.s = base, ca, requests.Session()
        self.s.headers["Authorization"] = f"Bearer {token}"

    def __call__(self, old, new):
        if old == 0 or old == new:
            return []
        r = self.s.get(f"{self.base}/v1/ledger/proof/consistency", params={"old": old, "new": new},
                       verify=self.ca, timeout=30)
        r.raise_for_status()
        return [base64.b64decode(p) for p in r.json()["proof"]]


def mth(h):
    if len(h) == 1:
        return h[0]
    k = 1 << ((len(h) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(h[:k]) + mth(h[k:])).digest()


def subproof(m, h, complete):
    """RFC 9162 2.1.4.1 SUBPROOF(m, D[0:n], b)."""
    n = len(h)
    if m == n:
        return [] if complete else [mth(h)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return subproof(m, h[:k], complete) + [mth(h[k:])]
    return subproof(m - k, h[k:], False) + [mth(h[:k])]


class LeafProofs:
    """Consistency proofs computed here from the leaves (each line of `pdgate ledger export`)."""

    def __init__(self, leaves):
        self.hashes = [hashlib.sha256(b"\x00" + x).digest() for x in leaves]

    def __call__(self, old, new):
        return [] if old == 0 or old == new else subproof(old, self.hashes[:new], True)


class Client:
    """Submits to one witness (its submission prefix URL and verifier key)."""

    def __init__(self, prefix, vkey, proofs, verify=None):
        self.url = prefix.rstrip("/") + "/add-checkpoint"
        self.vkey, self.proofs, self.verify = vkey, proofs, verify
        self.s = requests.Session()  # keep-alive
        self.size = 0  # what we believe the witness holds for the log

    def post(self, old, proof, note):
        return Answer(self.s.post(self.url, data=submission(old, proof, note), verify=self.verify,
                                  timeout=30))

    def add(self, note):
        """Submits note from the size we believe the witness has; on 409 with text/x.tlog.size,
        once more from the size it says. The cosigned note (the witness's line appended) and its
        answer, or (None, answer) if refused."""
        size = int(note.split("\n")[1])
        for _ in range(2):
            a = self.post(self.size, self.proofs(self.size, size), note)
            if a.status == 409 and a.ctype.split(";")[0].strip() == "text/x.tlog.size":
                said = a.text
                if not said.endswith("\n") or not said[:-1].isdigit() or int(said) > size:
                    return None, a  # the witness is ahead of this checkpoint, or malformed
                self.size = int(said)
                continue
            if a.status != 200:
                return None, a
            verify_cosignature(a.text, note, self.vkey)
            self.size = size
            return note + a.text, a
        return None, a


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--witness", required=True, help="the witness's submission prefix")
    ap.add_argument("--witness-vkey", required=True)
    ap.add_argument("--compliance", required=True, help="pdgate's compliance API")
    ap.add_argument("--token", required=True, help="an auditor's token")
    ap.add_argument("--ca", required=True, help="the CA of the compliance listener")
    ap.add_argument("notes", nargs="+", help="checkpoint notes, in increasing size")
    a = ap.parse_args()
    c = Client(a.witness, a.witness_vkey, ComplianceProofs(a.compliance, a.token, a.ca))
    for path in a.notes:
        cosigned, answer = c.add(open(path).read())
        if cosigned is None:
            sys.exit(f"{path}: {answer}")
        open(path + ".cosigned", "w").write(cosigned)
        print(f"{path}: cosigned at size {c.size}")


if __name__ == "__main__":
    main()
