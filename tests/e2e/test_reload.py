#!/usr/bin/env python3
"""Logs, signals, reload (SPEC 15.3) through the real daemon.

SIGHUP gives new handshakes of both listeners a new server certificate while kept-alive
connections carry on with theirs; a reload with any bad file (a key of another certificate,
garbage, a missing file, an expired certificate, a broken contract or staff CRL) changes
nothing at all and the log says why; the staff CRL is reloaded too. `log_format = json` writes
one JSON object per line: every line of a daemon that served good and bad requests is parsed.
SIGUSR1 reopens the log file and nothing else. The log warns ahead of a CRL's nextUpdate and a
server certificate's notAfter.

Daemons: `rot` (both listeners' certificates, in separate files; these cases run in order),
`staff` (require_client_cert), `json`, `usr1` and, in the background, the expiry ones.
"""

import datetime
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
from pathlib import Path

import requests

import pdtest
from pdtest import SLOW, case, check, check_error, check_status, eq

GOOD = "sakura-mail"
WHOAMI = "/v1/whoami"


class Env(pdtest.Env):
    @pdtest.fixture
    def rot(self):
        """Each listener with a certificate of its own, both from the installation's server CA."""
        inst = self.install(conf={("compliance", "cert"): "pki/compliance.pem",
                                  ("compliance", "key"): "pki/compliance.key",
                                  ("partner", "idle_timeout_s"): 120})
        put_cert(inst, "compliance", server_cert(inst, "compliance-0"))
        return self.daemon(inst)

    @pdtest.fixture
    def staff(self):
        return self.daemon(self.install(conf={("compliance", "require_client_cert"): "true"}))

    @pdtest.fixture
    def json_daemon(self):
        return self.daemon(self.install(conf={("gateway", "log_format"): "json",
                                              ("gateway", "log"): "pdgate.log"}))

    @pdtest.fixture
    def usr1(self):
        return self.daemon(self.install(conf={("gateway", "log"): "pdgate.log"}))


# ---------------------------------------------------------------------------------------------
# Helpers.

def now():
    return pdtest.utcnow()


def cport(inst):
    return int(inst.get("compliance", "listen").rpartition(":")[2])


def server_cert(inst, name, **kw):
    """A server certificate for 127.0.0.1 and localhost from the installation's server CA (made
    with the cryptography package, as an operator would with any CA tool), valid for a year
    unless kw says otherwise."""
    if "not_after" not in kw:
        kw.setdefault("days", 365)
    return inst.pki.issue(name, by=inst.pki.server_ca, cn="localhost", uris=[], eku="server",
                          dns=["localhost"], ips=["127.0.0.1", "::1"], **kw)


def openssl_server_cert(inst, name, days=365):
    """The same with the openssl command and an RSA 2048 key."""
    d = inst.pki.folder
    key, csr, pem, ext = (d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem", d / f"{name}.ext")
    ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")
    for cmd in (["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                 "-subj", "/CN=localhost", "-out", csr],
                ["openssl", "x509", "-req", "-in", csr, "-CA", inst.path("pki/server-ca.pem"),
                 "-CAkey", inst.path("pki/server-ca.key"), "-set_serial", f"0x{secrets.token_hex(8)}",
                 "-days", str(days), "-sha256", "-extfile", ext, "-out", pem]):
        r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60 * SLOW)
        check(r.returncode == 0, f"{cmd[0]} {cmd[1]}: {r.stderr.strip()[-300:]}")
    os.chmod(key, 0o600)
    return pdtest.Cert(pem, key)


def write_key_file(path, data):
    """Replaces a key file atomically with mode 0600 (pdgate refuses a key others can read)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def files(inst, listener):
    """The certificate and key files the configuration names for a listener."""
    return inst.path(inst.get(listener, "cert")), inst.path(inst.get(listener, "key"))


def put_cert(inst, listener, cert):
    """Installs cert (a pdtest.Cert) as the listener's certificate and key files."""
    pem, key = files(inst, listener)
    pdtest._write_atomic(pem, cert.pem.read_bytes())
    write_key_file(key, cert.key.read_bytes())


class Saved:
    """The bytes of some files, put back on exit."""

    def __init__(self, *paths):
        self.saved = {Path(p): Path(p).read_bytes() for p in paths}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p, data in self.saved.items():
            if p.suffix == ".key":
                write_key_file(p, data)
            else:
                pdtest._write_atomic(p, data)


def fp(der):
    return hashlib.sha256(der).hexdigest()


def presented(port, inst, version=None, ciphers=None):
    """The fingerprint of the certificate a new handshake on port gets (verified against the
    installation's server CA, for 127.0.0.1)."""
    ctx = pdtest.tls_context(inst.server_ca, version=version)
    if ciphers:
        ctx.set_ciphers(ciphers)
    with socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return fp(s.getpeercert(binary_form=True))


def kept(port, inst, cert=None):
    """A RawHTTP on a new TLS connection to port (the compliance listener, say)."""
    ctx = pdtest.tls_context(inst.server_ca, cert)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
    return pdtest.RawHTTP(ctx.wrap_socket(raw, server_hostname="127.0.0.1"))


def sighup(d, want=r"reload (ok: new handshakes|failed)"):
    """SIGHUP, then the log text written since, once it holds the reload's verdict."""
    before = len(d.log())
    d.signal(signal.SIGHUP)
    pdtest.wait_until(lambda: re.search(want, d.log()[before:]), 5, what=f"{want!r} in the log")
    return d.log()[before:]


def both(d):
    """(partner, compliance) fingerprints of new handshakes."""
    return presented(d.port, d.install), presented(cport(d.install), d.install)


def whoami(d, what):
    r = d.get(WHOAMI, cert=d.install.pki.partner(GOOD))
    check_status(r, 200, what)
    return r


def staff_token(inst, name, role="auditor"):
    r = inst.pdgate("token", "issue", "-c", inst.conf, "--staff", name, "--role", role, "--ttl", "1h")
    check(r.returncode == 0, f"token issue: {r.stderr.strip()}")
    return r.stdout.strip()


# ---------------------------------------------------------------------------------------------
# Certificate rotation (rot daemon, in order).

@case("SIGHUP: new handshakes on both listeners get the new certificates; kept-alive ones carry on")
def rotate(env):
    d = env.rot
    inst = d.install
    old_p, old_c = both(d)
    eq(old_p, inst.pki.server.fingerprint, "partner listener before: the certificate init made")
    check(old_c != old_p, "the compliance listener has a certificate of its own")
    partner = inst.pki.partner(GOOD)
    # a connection that has not authenticated gets one answer only (admission): staff do
    auth = {"Authorization": f"Bearer {staff_token(inst, 'officer')}"}
    with d.http(cert=partner) as kp, kept(cport(inst), inst) as kc:
        check_status(kp.request("GET", WHOAMI), 200, "partner request before the reload")
        check_status(kc.request("GET", "/v1/partners", auth), 200, "compliance request before the reload")
        new_p, new_c = server_cert(inst, "partner-1"), server_cert(inst, "compliance-1")
        put_cert(inst, "partner", new_p)
        put_cert(inst, "compliance", new_c)
        eq(both(d), (old_p, old_c), "new files, no SIGHUP yet: handshakes as before")
        said = sighup(d)
        check(f"sha256:{new_p.fingerprint} (partner listener)" in said
              and f"sha256:{new_c.fingerprint} (compliance listener)" in said,
              f"the log names the new certificates:\n{said}")
        eq(both(d), (new_p.fingerprint, new_c.fingerprint), "new handshakes after SIGHUP")
        for v in ("1.2", "1.3"):
            eq(presented(d.port, inst, version=v), new_p.fingerprint, f"TLS {v} handshake")
        # the connections opened before carry on, with the certificate they were given
        for i in range(3):
            check_status(kp.request("GET", WHOAMI), 200, f"kept-alive partner request {i + 1} after")
            check_status(kc.request("GET", "/v1/partners", auth), 200,
                         f"kept-alive compliance request {i + 1} after")
        eq(fp(kp.sock.getpeercert(binary_form=True)), old_p, "the kept-alive connection's certificate")
        eq(fp(kc.sock.getpeercert(binary_form=True)), old_c, "the kept-alive compliance certificate")
    whoami(d, "a partner on a new connection after the rotation")
    r = requests.get(f"https://127.0.0.1:{cport(inst)}/", verify=str(inst.server_ca), timeout=10 * SLOW)
    check_status(r, 200, "the compliance listener on a new connection")


@case("SIGHUP: a certificate with another key type (RSA, made with openssl) signs the new handshakes")
def rotate_rsa(env):
    d = env.rot
    inst = d.install
    rsa = openssl_server_cert(inst, "partner-rsa")
    # before: an EC certificate, so an RSA-only TLS 1.2 client finds nothing in common
    try:
        presented(d.port, inst, version="1.2", ciphers="ECDHE-RSA-AES128-GCM-SHA256")
    except (ssl.SSLError, OSError):
        pass
    else:
        raise pdtest.Failure("ECDHE-RSA negotiated with an EC certificate")
    with Saved(*files(inst, "partner")):
        put_cert(inst, "partner", rsa)
        sighup(d)
        eq(presented(d.port, inst, version="1.2", ciphers="ECDHE-RSA-AES128-GCM-SHA256"),
           rsa.fingerprint, "TLS 1.2 ECDHE-RSA with the RSA certificate")
        eq(presented(d.port, inst, version="1.3"), rsa.fingerprint, "TLS 1.3 (RSA-PSS)")
        whoami(d, "a partner served with the RSA certificate")
    sighup(d)
    check(presented(d.port, inst) != rsa.fingerprint, "the EC certificate is back after SIGHUP")


@case("a failed reload keeps the old certificates for new handshakes and the log says why")
def failed_reloads(env):
    d = env.rot
    inst = d.install
    before = both(d)
    pem, key = files(inst, "partner")
    cpem, ckey = files(inst, "compliance")
    other = server_cert(inst, "other")
    expired = server_cert(inst, "expired", not_before=now() - datetime.timedelta(days=30),
                          not_after=now() - datetime.timedelta(days=1))
    good_c = server_cert(inst, "compliance-2")
    cases = [
        # (what, {file: bytes or None to remove}, what the log must say)
        ("a key of another certificate", {key: other.key.read_bytes()}, "does not belong to the certificate"),
        ("a garbage certificate file", {pem: b"this is not PEM\n"}, "not a PEM certificate chain"),
        ("a PEM block of garbage", {pem: b"-----BEGIN CERTIFICATE-----\nAAAA####\n-----END CERTIFICATE-----\n"},
         "not a PEM certificate chain"),
        ("a missing key file", {key: None}, "No such file"),
        ("an expired certificate", {pem: expired.pem.read_bytes(), key: expired.key.read_bytes()}, "expired on"),
        # all or nothing: the compliance listener's new pair is good, the partner's is not
        ("a good compliance pair with a bad partner key",
         {cpem: good_c.pem.read_bytes(), ckey: good_c.key.read_bytes(), key: b""}, "empty"),
    ]
    for what, changes, says in cases:
        with Saved(pem, key, cpem, ckey):
            for path, data in changes.items():
                if data is None:
                    path.unlink()
                elif path.suffix == ".key":
                    write_key_file(path, data)
                else:
                    pdtest._write_atomic(path, data)
            said = sighup(d)
            check(d.running, f"{what}: the daemon died on SIGHUP")
            check(says in said and "reload failed: nothing was changed" in said,
                  f"{what}: the log does not say why ({says!r}):\n{said}")
            named = [str(p) for p in changes if str(p) in said]
            check(named, f"{what}: the log names none of the files changed:\n{said}")
            check("reload ok" not in said, f"{what}: something was reloaded:\n{said}")
            eq(both(d), before, f"{what}: new handshakes after the failed reload")
            whoami(d, f"{what}: a partner is served")
    said = sighup(d)
    check("reload ok: new handshakes" in said, f"the files restored: a good reload:\n{said}")
    eq(both(d), before, "the restored certificates")


@case("all or nothing: a new certificate waits while a contract file or the staff CRL is broken")
def all_or_nothing(env):
    d = env.rot
    inst = d.install
    before = both(d)
    new = server_cert(inst, "partner-3")
    staff_crl = inst.path("pki/staff-ca.crl")
    contract = inst.path("contracts/broken.json")
    with Saved(*files(inst, "partner"), staff_crl):
        put_cert(inst, "partner", new)
        contract.write_text('{"id": "CT-2026-0999", "partner": ')
        try:
            said = sighup(d)
        finally:
            contract.unlink()
        check("broken.json" in said and "reload of policies and contracts failed" in said,
              f"the broken contract named:\n{said}")
        eq(both(d), before, "a broken contract file keeps the old certificates")
        staff_crl.write_bytes(b"-----BEGIN X509 CRL-----\nnot base64\n-----END X509 CRL-----\n")
        said = sighup(d)
        check("reload of the staff CA/CRL failed" in said and str(staff_crl) in said,
              f"the staff CRL named:\n{said}")
        eq(both(d), before, "a broken staff CRL keeps the old certificates")
        pdtest._write_atomic(staff_crl, inst.pki.staff_ca.crl_bytes(next_update=now() + datetime.timedelta(days=30)))
        sighup(d)
        eq(both(d)[0], new.fingerprint, "with every file good, the new certificate")
    sighup(d)
    eq(both(d), before, "the old certificate again")


# ---------------------------------------------------------------------------------------------
# The staff CRL.

@case("staff CRL: a revoked staff certificate is refused after SIGHUP, on new and kept-alive connections")
def staff_crl(env):
    d = env.staff
    inst = d.install
    officer = inst.pki.staff("officer")
    token = staff_token(inst, "officer")
    url = f"https://127.0.0.1:{cport(inst)}/v1/partners"
    h = {"Authorization": f"Bearer {token}"}

    def call(session=requests):
        return session.get(url, headers=h, cert=officer.pair, verify=str(inst.server_ca), timeout=10 * SLOW)

    check_status(call(), 200, "the officer before the revocation")
    with requests.Session() as s:
        check_status(call(s), 200, "kept-alive session before the revocation")
        inst.pki.staff_ca.revoke(officer)
        check_status(call(), 200, "revoked in the file, no SIGHUP yet")
        said = sighup(d)
        check(re.search(r"reload ok: staff CA .*1 revoked", said), f"the staff CRL reloaded:\n{said}")
        body = check_error(call(), 403, "forbidden", "revoked staff certificate, new connection")
        check("revoked" in body["message"], f"message: {body}")
        check_error(call(s), 403, "forbidden", "revoked staff certificate, kept-alive session")
    # other staff are still served
    bob = inst.pki.issue("bob", by=inst.pki.staff_ca, cn="bob", uris=[pdtest.STAFF_URI + "bob"])
    r = requests.get(url, headers={"Authorization": f"Bearer {staff_token(inst, 'bob')}"}, cert=bob.pair,
                     verify=str(inst.server_ca), timeout=10 * SLOW)
    check_status(r, 200, "another staff member after the reload")


# ---------------------------------------------------------------------------------------------
# JSON logs.

REQ_KEYS = ["time", "kind", "request_id", "partner", "purpose", "method", "route", "status",
            "duration_us", "error", "detail"]
MSG_KEYS = ["time", "kind", "message"]
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def raw_request(d, data, cert=None):
    """Sends bytes as they are on a new connection to the partner port; the answer or None."""
    with d.http(cert=cert) as c:
        c.send(data)
        try:
            return c.read_response()
        except (ConnectionError, ValueError, OSError, ssl.SSLError):
            return None


@case("log_format = json: every line of a daemon that served good and bad requests is one JSON object")
def json_log(env):
    d = env.json_daemon
    inst = d.install
    good = inst.pki.partner(GOOD)
    stranger = inst.pki.issue("stranger", by=inst.pki.other_ca, partner=GOOD)
    whoami(d, "good partner")
    check_error(d.get("/v1/members/M0000001", cert=good), 401, "token_required", "no work order")
    check_error(d.get(WHOAMI, cert=stranger), 401, "certificate_invalid", "a refused certificate")
    check_error(d.get(WHOAMI), 401, "client_certificate_required", "no certificate")
    d.get("/v1/members/M0000001/x", cert=good)
    d.get('/v1/"quoted"\\back\\slash', cert=good)
    d.get("/v1/%E4%BC%9A%E5%93%A1?q=%00", cert=good)
    d.get(WHOAMI, cert=good, headers={"X-Purpose": "caf\u00e9 \"x\"", "X-Contract": "\u4f1a\u54e1".encode()})
    raw_request(d, b"GET /v1/\xe4\xbc\x9a\xe5\x93\xa1 HTTP/1.1\r\nHost: x\r\nX-Odd: \xff\xfe\"\\\r\n\r\n", good)
    raw_request(d, b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\nX-Odd: a\x01b\r\n\r\n", good)
    raw_request(d, b"GET /v1/members/M0000001 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x1b[31m\r\n\r\n", good)
    raw_request(d, b"\x16\x03\x01 not http at all\r\n\r\n", good)
    try:  # TLS 1.1: refused in the handshake, which libmicrohttpd reports in the log
        with d.tls(version="1.1"):
            pass
    except (ssl.SSLError, OSError):
        pass
    r = requests.get(f"https://127.0.0.1:{cport(inst)}/v1/partners", headers={"Authorization": "Bearer \u00e9"},
                     verify=str(inst.server_ca), timeout=10 * SLOW)
    check_status(r, (400, 401), "a non-ASCII token on the compliance listener")
    bad = inst.path("contracts/broken \u4f1a.json")
    bad.write_text('{"id": "\\u0001\\n"')
    try:
        sighup(d)
    finally:
        bad.unlink()
    sighup(d)
    d.signal(signal.SIGUSR1)
    log = inst.path("pdgate.log")
    pdtest.wait_until(lambda: "SIGUSR1" in log.read_text(errors="replace"), 5, what="SIGUSR1 in the log")

    text = log.read_bytes()
    check(text.endswith(b"\n"), "the log ends with a whole line")
    lines = text.split(b"\n")[:-1]
    check(len(lines) > 20, f"only {len(lines)} lines")
    reqs, msgs = [], []
    for i, raw in enumerate(lines, 1):
        try:
            obj = json.loads(raw.decode("utf-8"), object_pairs_hook=list)
        except (UnicodeDecodeError, ValueError) as e:
            raise pdtest.Failure(f"line {i} is not JSON ({e}): {raw[:200]!r}") from None
        keys = [k for k, _ in obj]
        o = dict(obj)
        check(TIME.match(str(o.get("time"))), f"line {i}: time {o.get('time')!r}")
        if o.get("kind") == "req":
            eq(keys, REQ_KEYS, f"line {i}: the request line's fields")
            check(re.fullmatch(r"[0-9a-f]{24}", o["request_id"] or ""), f"line {i}: request_id {o['request_id']!r}")
            check(isinstance(o["status"], int) and 100 <= o["status"] <= 599, f"line {i}: status {o['status']!r}")
            check(isinstance(o["duration_us"], int) and o["duration_us"] >= 0, f"line {i}: duration_us")
            for k in ("partner", "purpose", "method", "route", "error", "detail"):
                v = o[k]
                check(v is None or (isinstance(v, str) and v and all(0x21 <= ord(ch) < 0x7f for ch in v)),
                      f"line {i}: {k} {v!r} is not as the text line writes it")
            reqs.append(o)
        else:
            eq(keys, MSG_KEYS, f"line {i}: the message line's fields")
            check(o["kind"] in ("info", "warn", "error"), f"line {i}: kind {o['kind']!r}")
            check(isinstance(o["message"], str), f"line {i}: message")
            msgs.append(o)
    check(b"M0000001" not in text, "a member id reached the log")

    def find(**want):
        return [r for r in reqs if all(r.get(k) == v for k, v in want.items())]

    check(find(partner=GOOD, route=WHOAMI, status=200, error=None), "the good request")
    check(find(route="/v1/members/{}", status=401, error="token_required"), "the request without a work order")
    refused = find(status=401, error="certificate_invalid")
    check(refused and refused[0]["partner"] is None and refused[0]["detail"],
          f"the refused certificate, with why: {refused}")
    check(find(error="client_certificate_required"), "the request without a certificate")
    check(find(route="/v1/members/..."), "an unknown path under a route, shaped")
    check(find(status=400, error="bad_request"), "the control character in a header")
    check(find(status=401, error="token_invalid"), "the escape sequence in Authorization")
    check(any("broken" in m["message"] and "\u4f1a" in m["message"] for m in msgs),
          "the failed reload names the file, non-ASCII kept")
    check(any(m["message"].startswith("reload failed") and m["kind"] == "error" for m in msgs), "reload failed")
    check(any(m["message"].startswith("reload ok") for m in msgs), "reload ok")
    check(any(m["message"].startswith("partner listener: ") for m in msgs),
          "libmicrohttpd's handshake message")


# ---------------------------------------------------------------------------------------------
# SIGUSR1.

@case("SIGUSR1 reopens the log file at its path and reloads nothing; SIGHUP reopens it too")
def usr1(env):
    d = env.usr1
    inst = d.install
    log, rotated = inst.path("pdgate.log"), inst.path("pdgate.log.1")
    good = inst.pki.partner(GOOD)
    whoami(d, "before the rotation")
    os.rename(log, rotated)
    r = whoami(d, "after the rename, before SIGUSR1")
    rid_old = r.headers["X-Request-Id"]
    # changes that a reload would pick up: a revocation, a contract, a new server certificate
    victim = inst.pki.issue("victim", partner="maison-partners")
    whoami_body = d.get(WHOAMI, cert=victim).json()
    contracts_before = sorted(c["id"] for c in whoami_body["contracts"])
    inst.pki.partner_ca.revoke(victim)
    src = inst.path("contracts/CT-2026-0001.json")
    ct = json.loads(src.read_text())
    ct.update(id="CT-2026-0777", partner="maison-partners")
    inst.path("contracts/CT-2026-0777.json").write_text(json.dumps(ct))
    cert_before = presented(d.port, inst)
    with Saved(*files(inst, "partner")):
        put_cert(inst, "partner", server_cert(inst, "usr1-new"))
        d.signal(signal.SIGUSR1)
        pdtest.wait_until(lambda: log.exists() and "SIGUSR1: reopened the log file" in log.read_text(), 5,
                          what="a new log file at the configured path")
        r = whoami(d, "after SIGUSR1")
        rid_new = r.headers["X-Request-Id"]
        pdtest.wait_until(lambda: rid_new in log.read_text(), 5, what="the new request in the new file")
        old_text, new_text = rotated.read_text(), log.read_text()
        check(rid_old in old_text and rid_new not in old_text, "the old file: lines up to SIGUSR1")
        check(rid_old not in new_text, "the new file: nothing from before")
        check("reload" not in new_text.lower(), f"SIGUSR1 reloaded something:\n{new_text}")
        # nothing else reloaded
        r = d.get(WHOAMI, cert=victim)
        check_status(r, 200, "a certificate revoked in the file is still served after SIGUSR1")
        eq(sorted(c["id"] for c in r.json()["contracts"]), contracts_before, "contracts after SIGUSR1")
        eq(presented(d.port, inst), cert_before, "the server certificate after SIGUSR1")
    # the same changes are picked up by SIGHUP (so the checks above could fail), which also
    # reopens the log
    os.rename(log, inst.path("pdgate.log.2"))
    sighup(d)
    check(log.exists() and "reload ok" in log.read_text(), "SIGHUP reopened the log file")
    check_error(d.get(WHOAMI, cert=victim), 401, "certificate_invalid", "revoked, after SIGHUP")
    inst.path("contracts/CT-2026-0777.json").unlink()
    sighup(d)
    whoami(d, "after the second SIGHUP")


# ---------------------------------------------------------------------------------------------
# Expiry warnings.

def warnings_in(text):
    return [line for line in text.splitlines() if re.search(r" (warn|error) the (partner|staff) CRL | "
                                                             r"(warn|error) the server certificate ", line)]


def day(t):
    return t.strftime("%Y-%m-%d")


def hup_warnings(d, n):
    """SIGHUP, then the expiry lines its reload wrote (waiting for n of them; a SIGUSR1 line
    after them marks the end, so that none is missed)."""
    before = len(d.log())
    sighup(d, r"reload ok: new handshakes")
    d.signal(signal.SIGUSR1)
    pdtest.wait_until(lambda: "SIGUSR1" in d.log()[before:], 5, what="SIGUSR1 after the reload")
    got = warnings_in(d.log()[before:])
    eq(len(got), n, f"expiry lines after SIGHUP: {got}")
    return got


@case("expiry: warnings 7 days before a CRL's nextUpdate and 30 days before the certificate's notAfter",
      background=True)
def expiry(env):
    inst = env.install()
    pki = inst.pki
    partner_next = now() + datetime.timedelta(days=6)
    staff_next = now() + datetime.timedelta(days=8)       # outside the 7 days: no warning
    pki.partner_ca.write_crl(next_update=partner_next)
    pki.staff_ca.write_crl(next_update=staff_next)
    soon = server_cert(inst, "soon", not_after=now() + datetime.timedelta(days=29))
    put_cert(inst, "partner", soon)                       # both listeners use these files
    with pdtest.Daemon(inst) as d:
        start = pdtest.wait_until(lambda: warnings_in(d.log()) if len(warnings_in(d.log())) >= 2 else None,
                                  5, what="the warnings at start")
        eq(len(start), 2, f"warnings at start:\n{chr(10).join(start)}")
        crl = [w for w in start if "partner CRL" in w]
        check(crl and " warn " in crl[0] and str(inst.crl) in crl[0] and day(partner_next) in crl[0]
              and "in 6 day(s)" in crl[0], f"the partner CRL warning names the file and the date: {start}")
        crt = [w for w in start if "server certificate" in w]
        pem = files(inst, "partner")[0]
        check(crt and " warn " in crt[0] and str(pem) in crt[0] and day(soon.x509.not_valid_after_utc) in crt[0]
              and "partner and compliance listeners" in crt[0], f"the certificate warning: {start}")
        # checked again on SIGHUP; the staff CRL now within 7 days
        pki.staff_ca.write_crl(next_update=now() + datetime.timedelta(days=2))
        got = hup_warnings(d, 3)
        check(any(" warn the staff CRL " in w and str(inst.path("pki/staff-ca.crl")) in w and "in 2 day(s)" in w
                  for w in got), f"the staff CRL warning after SIGHUP: {got}")
        # renewed: a CRL of 30 days, a certificate of a year; no warning after the reload
        pki.partner_ca.write_crl(next_update=now() + datetime.timedelta(days=30))
        pki.staff_ca.write_crl(next_update=now() + datetime.timedelta(days=30))
        put_cert(inst, "partner", server_cert(inst, "renewed"))
        eq(hup_warnings(d, 0), [], "warnings after the renewal")
        # lapsed: an error, not a warning
        pki.staff_ca.write_crl(last_update=now() - datetime.timedelta(days=2),
                               next_update=now() - datetime.timedelta(days=1))
        got = hup_warnings(d, 1)
        check(len(got) == 1 and re.search(r" error the staff CRL .* is past its nextUpdate", got[0]),
              f"the lapsed staff CRL as an error: {got}")
        d.term()


@case("expiry: a fresh installation starts without a warning", background=True)
def no_warning(env):
    inst = env.install()
    with pdtest.Daemon(inst) as d:
        whoami(d, "a fresh installation")
        d.signal(signal.SIGUSR1)
        pdtest.wait_until(lambda: "SIGUSR1" in d.log(), 5, what="SIGUSR1 in the log")
        eq(warnings_in(d.log()), [], "warnings at start")
        d.term()


if __name__ == "__main__":
    pdtest.run(Env)
