#!/usr/bin/env python3
"""A C2SP transparency-log witness, written from the texts alone (c2sp.org/tlog-witness,
tlog-cosignature, signed-note, tlog-checkpoint; RFC 9162 2.1.4 for the proof), apart from
pdgate's own witness, so that each side is checked against a peer it did not write.

    witness.py --name NAME --key KEY.pem --state STATE.json --listen 127.0.0.1:PORT --log VKEY…

The key is made if the file does not exist. It prints its cosigner verifier key (type 0x04),
then "listening on http://HOST:PORT", and serves POST /add-checkpoint until SIGTERM. The state
(per origin: size and root) is written to STATE.json (temporary file, fsync, rename) before an
answer, under one lock with the check, so that no two submissions can roll a log back.
"""
import argparse
import base64
import hashlib
import json
import os
import signal
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

MAX_BODY = 1 << 20
EMPTY_ROOT = hashlib.sha256(b"").digest()


def sha256(b):
    return hashlib.sha256(b).digest()


def key_id(name, key_type, pub):
    return sha256(name.encode() + b"\n" + bytes([key_type]) + pub)[:4]


def parse_vkey(vkey):
    """A log's verifier key <name>+<hex id>+<base64(0x01 || key)>: (name, id, public key)."""
    name, kid, b64 = vkey.strip().split("+", 2)
    raw = base64.b64decode(b64, validate=True)
    if len(raw) != 33 or raw[0] != 0x01 or key_id(name, 1, raw[1:]).hex() != kid:
        raise ValueError(f"not an Ed25519 log verifier key: {vkey!r}")
    return name, bytes.fromhex(kid), Ed25519PublicKey.from_public_bytes(raw[1:])


def consistent(m, n, old_root, new_root, proof):
    """RFC 9162 2.1.4.2: the proof leads from the tree of m leaves to that of n (0 < m <= n)."""
    if m == n:
        return not proof and old_root == new_root
    if not proof:
        return False
    if m & (m - 1) == 0:  # m a power of 2: the old root is the proof's implicit first node
        proof = [old_root] + proof
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = sha256(b"\x01" + c + fr), sha256(b"\x01" + c + sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = sha256(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


class Refused(Exception):
    def __init__(self, status, text, ctype="text/plain; charset=utf-8"):
        super().__init__(text)
        self.status, self.text, self.ctype = status, text, ctype


def parse_body(data):
    """old size, proof hashes, checkpoint note, its body, (origin, size, root). Refused: 400."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "not UTF-8\n") from None
    head, sep, note = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or not lines[0].startswith("old "):
        raise Refused(400, "want: old line, proof lines, blank line, checkpoint\n")
    old = lines[0][4:]
    if not old.isdigit() or not old.isascii() or (old != "0" and old[0] == "0"):
        raise Refused(400, "old size: decimal without leading zero\n")
    if len(lines) - 1 > 63:
        raise Refused(400, "more than 63 proof lines\n")
    try:
        proof = [base64.b64decode(x, validate=True) for x in lines[1:]]
    except ValueError:
        raise Refused(400, "a proof line is not base64\n") from None
    if any(len(p) != 32 for p in proof):
        raise Refused(400, "a proof line is not a 32-byte hash\n")
    body, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise Refused(400, "the checkpoint is not a signed note\n")
    body += "\n"
    cp = body.split("\n")
    try:
        origin, size, root = cp[0], int(cp[1]), base64.b64decode(cp[2], validate=True)
    except (IndexError, ValueError):
        raise Refused(400, "not a checkpoint\n") from None
    if not origin or cp[1] != str(size) or len(root) != 32:
        raise Refused(400, "not a checkpoint\n")
    return int(old), proof, note, body.encode(), sigs[:-1].split("\n"), origin, size, root


class Witness:
    def __init__(self, name, key, state_path, logs):
        self.name, self.key, self.state_path = name, key, state_path
        self.logs = {parse_vkey(v)[0]: parse_vkey(v) for v in logs}
        self.lock = threading.Lock()
        self.state = json.load(open(state_path)) if os.path.exists(state_path) else {}
        pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.kid = key_id(name, 4, pub)
        self.vkey = f"{name}+{self.kid.hex()}+{base64.b64encode(bytes([4]) + pub).decode()}"

    def persist(self, state):
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, self.state_path)
        fd = os.open(os.path.dirname(os.path.abspath(self.state_path)), os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)

    def add_checkpoint(self, data):
        """The cosignature line for a submission, or Refused with the protocol's status."""
        old, proof, note, body, sigs, origin, size, root = parse_body(data)
        if origin not in self.logs:
            raise Refused(404, "unknown log origin\n")
        name, kid, pub = self.logs[origin]
        trusted = False
        for line in sigs:
            parts = line.split(" ")
            if len(parts) != 3 or parts[0] != "\u2014":
                raise Refused(400, "a malformed signature line\n")
            try:
                sig = base64.b64decode(parts[2], validate=True)
            except ValueError:
                raise Refused(400, "a malformed signature line\n") from None
            if parts[1] != name or sig[:4] != kid or len(sig) != 68:
                continue  # a key we do not know: ignored
            try:
                pub.verify(sig[4:], body)
                trusted = True
            except InvalidSignature:
                pass
        if not trusted:
            raise Refused(403, "no signature by the log's key verifies\n")
        if old > size:
            raise Refused(400, "old size above the checkpoint's\n")
        with self.lock:  # the check and the update, one step
            have = self.state.get(origin)
            have_size = have["size"] if have else 0
            if old != have_size:
                raise Refused(409, f"{have_size}\n", "text/x.tlog.size")
            if old == 0:
                if proof or (size == 0 and root != EMPTY_ROOT):
                    raise Refused(422, "a proof from size 0 is empty\n")
            else:
                have_root = base64.b64decode(have["root"])
                if old == size and root != have_root:
                    raise Refused(409, f"{have_size}\n", "text/x.tlog.size")
                if not consistent(old, size, have_root, root, proof):
                    raise Refused(422, "the consistency proof does not verify\n")
            state = dict(self.state, **{origin: {"size": size, "root": base64.b64encode(root).decode()}})
            self.persist(state)
            self.state = state
        ts = int(time.time())
        sig = self.key.sign(b"cosignature/v1\ntime %d\n" % ts + body)
        return f"\u2014 {self.name} {base64.b64encode(self.kid + struct.pack('>Q', ts) + sig).decode()}\n"


def handler(witness):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the text asks

        def answer(self, status, text, ctype="text/plain; charset=utf-8"):
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            if self.path != "/add-checkpoint":
                self.close_connection = True
                return self.answer(404, "no such path\n")
            n = int(self.headers.get("Content-Length") or "0")
            if n > MAX_BODY:
                self.close_connection = True
                return self.answer(400, "body too large\n")
            try:
                self.answer(200, witness.add_checkpoint(self.rfile.read(n)))
            except Refused as e:
                self.answer(e.status, e.text, e.ctype)

        def log_message(self, fmt, *args):
            sys.stderr.write("witness: " + fmt % args + "\n")

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--log", action="append", default=[])
    a = ap.parse_args()
    if not os.path.exists(a.key):
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        fd = os.open(a.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, pem)
        os.close(fd)
    key = serialization.load_pem_private_key(open(a.key, "rb").read(), None)
    w = Witness(a.name, key, a.state, a.log)
    host, port = a.listen.rsplit(":", 1)
    srv = ThreadingHTTPServer((host, int(port)), handler(w))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    print(w.vkey)
    print(f"listening on http://{host}:{srv.server_address[1]}", flush=True)
    srv.serve_forever()
    srv.server_close()


if __name__ == "__main__":
    main()
