#!/usr/bin/env python3
"""The clock: the gateway's wall clock stepped +10 min, -10 min, +1 h, -1 h and back while it
runs, under libfaketime (FAKETIME_TIMESTAMP_FILE, re-read on every call with
FAKETIME_NO_CACHE=1; the monotonic clock left alone, as an NTP step leaves it).

After each step, against the gateway's new time: a work order 30 s past its exp or with an iat
30 s ahead is accepted and one 90 s out is refused (the 60 s leeway, and nothing more); a client
certificate is judged by its validity with no leeway at all (90 s inside: accepted, 90 s outside:
refused); a release is recorded. At the end: entry times and checkpoint times never went
backwards, `PRAGMA integrity_check` is ok and `pdgate ledger verify` passes.

The partner CA and its CRL are the suite's own, dated 3 h and 2 h back, so that a step of an
hour back does not make the CA itself not yet valid (pdgate init backdates by 5 minutes only:
see docs/reliability.md).
"""

import datetime
import sqlite3
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import faultlib
from faultlib import check, eq, pdtest, scenario
from pdtest import case

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
PARTNER, CONTRACT, PURPOSE = "sakura-mail", "CT-2026-0001", "contact"
STEPS = [("+10 min", 600), ("-10 min", -600), ("+1 h", 3600), ("-1 h", -3600), ("back to true time", 0)]


def old_ca(folder):
    """A partner CA valid from 3 hours ago for 30 days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pdfaults partner CA")])
    now = pdtest.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=3))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    pem = folder / "old-ca.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pdtest.CA(cert, key, pem=pem, crl=folder / "old-ca.crl")


def faketime_env(offset_s):
    """The environment of a command run at true time + offset_s."""
    return faultlib.preload(LIBFAKETIME, FAKETIME=f"{offset_s:+d}", FAKETIME_DONT_FAKE_MONOTONIC=1)


def token_at(inst, cert, offset_s, ttl):
    """A work order issued at true time + offset_s, valid for ttl."""
    r = inst.pdgate("token", "issue", "-c", inst.conf, "--contract", CONTRACT, "--purpose", PURPOSE,
                    "--ttl", ttl, "--cert", cert.pem, env=faketime_env(offset_s))
    check(r.returncode == 0, f"token issue at {offset_s:+d} s: {r.stderr.strip()}")
    return r.stdout.strip()


@case("the wall clock stepped +10 min, -10 min, +1 h, -1 h and back under a running gateway: "
      "60 s leeway on work orders, none on certificates, times never back, the ledger verifies")
def steps(env):
    check(Path(LIBFAKETIME).exists(), f"{LIBFAKETIME} is missing (Debian package faketime)")
    inst = env.install(members=20, conf={("ledger", "checkpoint_interval_ms"): 200})
    faultlib.unlimit(inst, CONTRACT)
    ca = old_ca(inst.dir / "old-ca")
    ca.write_crl(last_update=pdtest.utcnow() - datetime.timedelta(hours=2), keep=False)
    inst.set("partner", "client_ca", str(ca.pem))
    inst.set("partner", "crl", str(ca.crl_path))
    now = pdtest.utcnow()
    folder = inst.dir / "clock-certs"
    good = ca.issue(folder / "good", partner=PARTNER, not_before=now - datetime.timedelta(hours=2),
                    days=20)
    clock = env.tmp / "faketime"
    clock.write_text("+0\n")
    denv = faultlib.preload(LIBFAKETIME, FAKETIME_TIMESTAMP_FILE=clock, FAKETIME_NO_CACHE=1,
                            FAKETIME_DONT_FAKE_MONOTONIC=1)
    auth = lambda t: {"Authorization": "Bearer " + t}  # noqa: E731
    seen, released = [], 0
    with pdtest.Daemon(inst, env=denv) as d:
        r = d.get("/v1/members/M0000001", cert=good, headers=auth(token_at(inst, good, 0, "1h")))
        pdtest.check_status(r, 200, "a release at true time")
        for label, delta in STEPS:
            clock.write_text(f"{delta:+d}\n")
            base = pdtest.utcnow() + datetime.timedelta(seconds=delta)  # the gateway's now
            # work orders: exp 30 s / 90 s behind the gateway's clock, iat 30 s / 90 s ahead
            tokens = {"exp 30 s ago": (token_at(inst, good, delta - 120, "90s"), 200),
                      "exp 90 s ago": (token_at(inst, good, delta - 180, "90s"), 401),
                      "iat 30 s ahead": (token_at(inst, good, delta + 30, "1h"), 200),
                      "iat 90 s ahead": (token_at(inst, good, delta + 90, "1h"), 401)}
            for what, (tok, want) in tokens.items():
                r = d.get("/v1/members/M0000002", cert=good, headers=auth(tok))
                if want == 200:
                    pdtest.check_status(r, 200, f"{label}: a work order with {what}")
                    released += 1
                else:
                    faultlib.check_refusal(r, 401, "token_invalid", f"{label}: a work order with {what}",
                                           leaks=("name", "address"))
            # certificates: no leeway at all
            td = datetime.timedelta
            certs = {"notAfter 90 s ahead": (dict(not_before=base - td(hours=1), not_after=base + td(seconds=90)), 200),
                     "notAfter 90 s ago": (dict(not_before=base - td(hours=1), not_after=base - td(seconds=90)), 401),
                     "notBefore 90 s ago": (dict(not_before=base - td(seconds=90), not_after=base + td(days=1)), 200),
                     "notBefore 90 s ahead": (dict(not_before=base + td(seconds=90), not_after=base + td(days=1)), 401)}
            for what, (kw, want) in certs.items():
                c = ca.issue(folder / f"{delta}-{what.replace(' ', '-')}", partner=PARTNER, **kw)
                r = d.get("/v1/whoami", cert=c)
                if want == 200:
                    pdtest.check_status(r, 200, f"{label}: a certificate with {what}")
                else:
                    body = faultlib.check_refusal(r, 401, "certificate_invalid", f"{label}: a certificate with {what}")
                    check(("expired" if "After" in what else "not yet valid") in body["message"],
                          f"{label}, {what}: {body['message']!r}")
            r = d.get("/v1/members/M0000003", cert=good, headers=auth(token_at(inst, good, delta, "1h")))
            pdtest.check_status(r, 200, f"{label}: a release")
            released += 1
            # a checkpoint signed at the stepped time
            size = int(r.headers["X-Ledger-Index"]) + 1
            faultlib.wait(lambda: checkpoint_covers(inst, size), 10, f"{label}: a checkpoint of {size}")
            seen.append((label, delta))
        d.term()
    times = checkpoint_times(inst)
    backwards = [(a, b) for a, b in zip(times, times[1:]) if b[1] < a[1]]
    eq(backwards[:3], [], "checkpoints whose time is before the one before")
    faultlib.integrity(inst.path("ledger.db"))
    faultlib.verify(inst)  # entries' times never go back: verify checks their order
    leaves = faultlib.export(inst)
    for label, delta in seen:
        scenario("clock", f"wall clock stepped {label} ({delta:+d} s) under a running gateway", 1,
                 "work orders: exp 30 s ago and iat 30 s ahead accepted, 90 s refused token_invalid; "
                 "certificates: 90 s inside their validity accepted, 90 s outside refused "
                 "certificate_invalid; a release recorded and checkpointed")
    scenario("clock", "the steps above", len(seen),
             f"{len(times)} checkpoints, none earlier than the one before; {len(leaves)} entries in "
             "time order; integrity_check ok; ledger verify OK")


@case("pdgate init's own PKI with the clock stepped back 10 min: every partner refused "
      "(fail closed) while the CRL is ahead of the clock, served again when it is not")
def init_pki_back(env):
    inst = env.install(members=5)
    clock = env.tmp / "faketime-init"
    clock.write_text("+0\n")
    denv = faultlib.preload(LIBFAKETIME, FAKETIME_TIMESTAMP_FILE=clock, FAKETIME_NO_CACHE=1,
                            FAKETIME_DONT_FAKE_MONOTONIC=1)
    cert = inst.pki.partner(PARTNER)
    with pdtest.Daemon(inst, env=denv) as d:
        pdtest.check_status(d.get("/v1/whoami", cert=cert), 200, "at true time")
        clock.write_text("-600\n")
        body = faultlib.check_refusal(d.get("/v1/whoami", cert=cert), 401, "certificate_invalid",
                                      "10 min back")
        clock.write_text("+0\n")
        pdtest.check_status(d.get("/v1/whoami", cert=cert), 200, "back at true time")
        d.term()
    scenario("clock", "wall clock stepped back 10 min under pdgate init's PKI (CA backdated 5 min, "
             "CRL lastUpdate at init)", 1,
             f"every partner refused 401 certificate_invalid ({body['message']!r}); served again "
             "at true time")


def checkpoint_covers(inst, size):
    db = sqlite3.connect(f"file:{inst.path('ledger.db')}?mode=ro", uri=True, timeout=10)
    try:
        return (db.execute("SELECT max(size) FROM checkpoints").fetchone()[0] or 0) >= size
    finally:
        db.close()


def checkpoint_times(inst):
    db = sqlite3.connect(f"file:{inst.path('ledger.db')}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT size, time FROM checkpoints ORDER BY size").fetchall()
    finally:
        db.close()


if __name__ == "__main__":
    pdtest.run()
