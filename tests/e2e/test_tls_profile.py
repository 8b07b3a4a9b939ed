#!/usr/bin/env python3
"""The TLS profile (issue 11, SPEC 13) through the real daemon with real clients.

Both listeners offer TLS 1.2 and 1.3 with ECDHE and AEAD suites only (AES-GCM, ChaCha20-Poly1305)
and signature algorithms of SHA-256 or better; a client certificate whose chain is signed with a
weaker digest is refused; the HTTPS origin client holds to the same profile. Checked with
`openssl s_client` (suites, the CertificateRequest's signature algorithms), Python's `ssl` (client
certificates), `testssl.sh` against each listener (nothing rated LOW or worse), and HTTPS origins
run here that offer only what the profile excludes (`openssl s_server` where Python cannot say
it, e.g. signature algorithms).

Daemons: `main` (both listeners, a contract of our own for the partner `tls-co`), `origin` (an
HTTPS origin in this process whose TLS configuration each case picks) and `sigalg_origin` (an
`openssl s_server` origin restarted per case).
"""

import collections
import contextlib
import datetime
import http.server
import json
import os
import re
import shutil
import socket
import sqlite3
import ssl
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pdtest
from pdtest import SLOW, case, check, check_error, check_status, eq

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
PARTNER = "tls-co"
CONTRACT = "CT-2026-0901"
FIELDS = ["member_id", "name.family", "email"]

# TLS 1.2 suites that must not negotiate: CBC (with SHA-1 and SHA-2 MACs; the issue's suite
# first), static RSA key exchange, finite-field DHE, AES-CCM. @SECLEVEL=0 so that the client
# offers them at all.
REFUSED_TLS12 = [
    "ECDHE-ECDSA-AES128-SHA@SECLEVEL=0",
    "ECDHE-ECDSA-AES256-SHA@SECLEVEL=0",
    "ECDHE-ECDSA-AES128-SHA256@SECLEVEL=0",
    "ECDHE-ECDSA-AES256-SHA384@SECLEVEL=0",
    "ECDHE-RSA-AES128-SHA@SECLEVEL=0",
    "AES128-GCM-SHA256@SECLEVEL=0",
    "AES256-SHA@SECLEVEL=0",
    "DHE-RSA-AES128-GCM-SHA256@SECLEVEL=0",
    "ECDHE-ECDSA-AES128-CCM@SECLEVEL=0",
]
# The control: ECDHE with AEAD, each of them.
ACCEPTED_TLS12 = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
]
ACCEPTED_TLS13 = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]
REFUSED_TLS13 = ["TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"]
WEAK_SIGALG = re.compile(r"SHA1|SHA224|MD5", re.I)

SEVERE = ("LOW", "MEDIUM", "HIGH", "CRITICAL")


# ---------------------------------------------------------------------------------------------
# openssl s_client

def s_client(port, *args, timeout=10):
    """Runs `openssl s_client` against 127.0.0.1:port with an empty stdin (it ends after the
    handshake). Returns (negotiated cipher or None, full output)."""
    cmd = [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", *args]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout * SLOW)
    out = r.stdout + r.stderr
    m = re.search(r"^New, (\S+), Cipher is (\S+)", out, re.M)
    cipher = m.group(2) if m and m.group(2) != "(NONE)" else None
    return cipher, out


def client_offers(cipher, tls13=False):
    """True if this machine's openssl would put the suite in its ClientHello: so a suite that
    does not negotiate was refused by pdgate, not left out by the client."""
    args = ["ciphers", "-s", "-tls1_3" if tls13 else "-tls1_2"]
    args += ["-ciphersuites", cipher, "ALL:@SECLEVEL=0"] if tls13 else [cipher]
    r = subprocess.run([OPENSSL, *args], capture_output=True, text=True)
    name = cipher.split("@")[0]
    return r.returncode == 0 and name in r.stdout.strip().split(":")


def openssl_issue(ca_pem, ca_key, prefix, digest, san, eku, key=None, cn=None, rsa=False):
    """A leaf certificate made with the openssl CLI (`cryptography` refuses to sign with SHA-1),
    signed by ca_pem/ca_key with digest ("sha1", "sha224", "sha256", ...), into PREFIX.pem, its
    key (EC P-256, or RSA 2048 when rsa) into PREFIX.key unless key (a file) is given: then
    that key is certified."""
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    pem, csr, ext = (prefix.with_name(prefix.name + s) for s in (".pem", ".csr", ".ext"))
    if key is None:
        key = prefix.with_name(prefix.name + ".key")
        alg = ["RSA", "-pkeyopt", "rsa_keygen_bits:2048"] if rsa else ["EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
        run(OPENSSL, "genpkey", "-algorithm", *alg, "-out", key)
        os.chmod(key, 0o600)
    ext.write_text("basicConstraints = critical, CA:FALSE\n"
                   "keyUsage = critical, digitalSignature\n"
                   f"extendedKeyUsage = {eku}\n"
                   f"subjectAltName = {san}\n"
                   "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n")
    run(OPENSSL, "req", "-new", "-key", key, "-subj", f"/CN={cn or prefix.name}", "-out", csr)
    run(OPENSSL, "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key,
        "-set_serial", "0x" + os.urandom(16).hex(), "-days", "30", f"-{digest}",
        "-extfile", ext, "-out", pem)
    cert = pdtest.Cert(pem, key)
    eq(cert.x509.signature_hash_algorithm.name.replace("-", ""), digest, f"{pem.name}: signature digest")
    return cert


def run(*cmd):
    r = subprocess.run([str(c) for c in cmd], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    check(r.returncode == 0, f"{' '.join(map(str, cmd[:3]))}: exit {r.returncode}: {r.stderr.strip()[-400:]}")
    return r


class Env(pdtest.Env):
    @pdtest.fixture
    def main(self):
        inst = self.install(members=10)
        write_contract(inst)
        return self.daemon(inst)

    @pdtest.fixture
    def origin(self):
        return _origin_fixture(self)

    @pdtest.fixture
    def sigalg_origin(self):
        return _sigalg_origin_fixture(self)

    def listeners(self):
        d = self.main
        return [("partner", d.port), ("compliance", d.install.compliance_port)]


def write_contract(inst):
    now = datetime.datetime.now(datetime.timezone.utc)
    c = {"id": CONTRACT, "partner": PARTNER, "partner_name": "TLS 株式会社",
         "relationship": "entrustment", "status": "active",
         "valid_from": (now - datetime.timedelta(days=30)).isoformat(timespec="seconds"),
         "valid_until": (now + datetime.timedelta(days=365)).isoformat(timespec="seconds"),
         "token_required": False, "my_number_permitted": False,
         "purposes": {"contact": {"fields": FIELDS}},
         "confidentiality": "業務委託契約書 第10条（秘密保持）", "notes": "pdgate e2e test contract"}
    (inst.path("contracts") / f"{CONTRACT}.json").write_text(json.dumps(c, ensure_ascii=False))


def member(inst, mid="M0000001"):
    with sqlite3.connect(f"file:{inst.path('members.db')}?mode=ro", uri=True) as db:
        return json.loads(db.execute("SELECT record FROM members WHERE member_id=?", (mid,)).fetchone()[0])


def check_nothing_released(r, rec, what):
    """The answer carries no value of the member's record."""
    text = r.content.decode("utf-8", "replace") + json.dumps(dict(r.headers), ensure_ascii=False)
    for v in (rec["email"], rec["name"]["family"], rec["name"]["given"], rec["phone"]):
        check(v not in text, f"{what}: the answer carries {v!r}: {text[:300]!r}")


def check_released(r, rec, what):
    check_status(r, 200, what)
    body = r.json()
    eq(body.get("email"), rec["email"], f"{what}: email released")
    eq(body.get("name", {}).get("family"), rec["name"]["family"], f"{what}: name.family released")


def ledger_entry(d, idx):
    r = d.install.pdgate("ledger", "export", "-c", d.conf)
    check(r.returncode == 0, f"ledger export: {r.stderr.strip()}")
    leaves = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    check(idx < len(leaves), f"index {idx} past the ledger's {len(leaves)} entries")
    return leaves[idx]


# ---------------------------------------------------------------------------------------------
# The suites each listener offers.

@case("both listeners, TLS 1.2: CBC, static RSA, DHE and CCM suites (the issue's ECDHE-ECDSA-AES128-SHA first) do not negotiate; each ECDHE AEAD suite does")
def tls12_suites(env):
    for name, port in env.listeners():
        for c in REFUSED_TLS12:
            check(client_offers(c), f"this openssl cannot offer {c}: the check would prove nothing")
            got, out = s_client(port, "-tls1_2", "-cipher", c)
            check(got is None, f"{name} listener negotiated {got} when offered only {c}")
        for c in ACCEPTED_TLS12:
            got, out = s_client(port, "-tls1_2", "-cipher", c)
            eq(got, c, f"{name} listener, TLS 1.2 offered only {c} (output tail: {out[-300:]!r})")


@case("both listeners, TLS 1.3: the AES-GCM and ChaCha20-Poly1305 suites negotiate, the CCM ones do not")
def tls13_suites(env):
    for name, port in env.listeners():
        for c in ACCEPTED_TLS13:
            got, out = s_client(port, "-tls1_3", "-ciphersuites", c)
            eq(got, c, f"{name} listener, TLS 1.3 offered only {c} (output tail: {out[-300:]!r})")
        for c in REFUSED_TLS13:
            check(client_offers(c, tls13=True), f"this openssl cannot offer {c}")
            got, out = s_client(port, "-tls1_3", "-ciphersuites", c)
            check(got is None, f"{name} listener negotiated {got} when offered only {c}")


@case("both listeners: the CertificateRequest lists no SHA-1, SHA-224 or MD5 signature algorithm, and the server signs with SHA-256 or better")
def certificate_request(env):
    for name, port in env.listeners():
        for version in ("-tls1_2", "-tls1_3"):
            got, out = s_client(port, version)
            check(got is not None, f"{name} {version}: no handshake: {out[-300:]!r}")
            m = re.search(r"^Requested Signature Algorithms: (\S+)$", out, re.M)
            check(m is not None, f"{name} {version}: no CertificateRequest seen: {out[-400:]!r}")
            algs = m.group(1).split(":")
            weak = [a for a in algs if WEAK_SIGALG.search(a)]
            check(not weak, f"{name} {version}: the CertificateRequest lists {weak} (all: {algs})")
            for want in ("ECDSA+SHA256", "RSA-PSS+SHA256", "ed25519"):
                check(want in algs, f"{name} {version}: {want} missing from {algs}")
            m = re.search(r"^Peer signing digest: (\S+)$", out, re.M)
            check(m is not None and m.group(1) in ("SHA256", "SHA384", "SHA512"),
                  f"{name} {version}: the server signed with {m.group(1) if m else None}")
        # A client that accepts only SHA-1 (or SHA-224) signatures from the server finds none.
        for sigalg in ("ECDSA+SHA1", "ECDSA+SHA224"):
            got, out = s_client(port, "-tls1_2", "-sigalgs", sigalg,
                                "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256@SECLEVEL=0")
            check(got is None, f"{name}: a TLS 1.2 handshake signed with {sigalg} negotiated {got}")


# ---------------------------------------------------------------------------------------------
# Client certificates signed with a weak digest.

def _https(d, cert, path, version, headers):
    """GET over Python's ssl at the TLS version with the client certificate. The client is
    lowered to security level 0 so that it presents a SHA-1 certificate at all: the verdict is
    pdgate's."""
    ctx = pdtest.tls_context(d.install.server_ca, version=version)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.load_cert_chain(*cert.pair)
    with socket.create_connection(("127.0.0.1", d.port), timeout=10 * SLOW) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return pdtest.RawHTTP(s).request("GET", path, headers={"Connection": "close", **headers})


@case("a partner certificate signed by the partner CA with ECDSA+SHA1 or SHA-224: 401 certificate_invalid, nothing released; the same with SHA-256, SHA-384 is served")
def weak_client_certificates(env):
    d = env.main
    rec = member(d.install)
    pki = d.install.dir / "pki"
    certs, key = {}, None
    for label in ("SHA1", "SHA224", "SHA256", "SHA384"):
        # one key and one identity: only the digest of the CA's signature differs
        certs[label] = c = openssl_issue(pki / "partner-ca.pem", pki / "partner-ca.key",
                                         d.install.pki.folder / f"tls-co-{label.lower()}",
                                         label.lower(), f"URI:{pdtest.PARTNER_URI}{PARTNER}",
                                         "clientAuth", key=key, cn=PARTNER)
        key = c.key
    for version in ("1.2", "1.3"):
        for label in ("SHA224", "SHA1"):
            what = f"TLS {version}, certificate signed with {label}"
            r = _https(d, certs[label], "/v1/members/M0000001", version, {"X-Purpose": "contact"})
            body = check_error(r, 401, "certificate_invalid", what)
            check(label in body["message"] and "SHA-256" in body["message"],
                  f"{what}: the message does not say why: {body['message']!r}")
            check_nothing_released(r, rec, what)
        for label in ("SHA256", "SHA384"):
            r = _https(d, certs[label], "/v1/members/M0000001", version, {"X-Purpose": "contact"})
            check_released(r, rec, f"TLS {version}, the same certificate signed with {label}")


# ---------------------------------------------------------------------------------------------
# testssl.sh against each listener.

def renegotiation_refused(port):
    """True if a client-initiated renegotiation (s_client's "R") on a TLS 1.2 connection makes
    the server close the connection while the client still has its stdin open: no second
    handshake can happen."""
    p = subprocess.Popen([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = []
    reader = threading.Thread(target=lambda: out.append(p.stdout.read()), daemon=True)
    reader.start()
    try:
        time.sleep(1 * SLOW)  # the first handshake
        p.stdin.write(b"R\n")
        p.stdin.flush()
        p.wait(10 * SLOW)
    except subprocess.TimeoutExpired:
        return False  # still connected: the renegotiation went through
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        reader.join(5)
    text = b"".join(out).decode(errors="replace")
    return "RENEGOTIATING" in text and "Cipher is" in text


# testssl 3.0.8 sends "R" to s_client and closes its stdin at once: when s_client reads the end
# of its input before it sees the server close the connection, it exits 0 and testssl rates the
# server "VULNERABLE, DoS threat" (HIGH) although no renegotiation took place. That race is
# lost now and then against a server that closes on renegotiation, as libmicrohttpd does. Such
# a finding is checked again here, without the race, before it counts.
RACY = {"secure_client_renego": renegotiation_refused}
# The one finding not counted, with its reason (docs/operations.md, "TLS profile"): the server
# certificate is issued by the installation's own server CA, which every client pins, and
# carries no CRL or OCSP address because nothing serves one to partners yet; testssl applies
# the web PKI's rule (HIGH). It is printed, not hidden.
EXCEPTED = {"cert_revocation": "the installation's private server CA has no revocation service"}
_testssl_lock = threading.Lock()  # one scan at a time: two at once on two cores starve the daemon


def testssl(env, name, port):
    exe = shutil.which("testssl") or shutil.which("testssl.sh")
    check(exe is not None, "testssl.sh is not installed (make deps installs the Debian package)")
    out = env.tmp / f"testssl-{name}.json"
    log = env.tmp / f"testssl-{name}.log"
    d = env.main
    # Every check of a default run but the client simulation, which rates nothing (each
    # simulated client is INFO) and takes a third of the time. --add-ca: clients trust the
    # installation's server CA, as `curl --cacert` does; --nodns none: no network here.
    cmd = [exe, "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
           "-p", "-s", "-f", "-P", "-S", "-h", "-U", "-e",
           "--openssl", OPENSSL, "--add-ca", str(d.install.server_ca),
           "--connect-timeout", str(int(10 * SLOW)), "--openssl-timeout", str(int(10 * SLOW)),
           "--jsonfile", str(out), f"127.0.0.1:{port}"]
    with _testssl_lock:
        t0 = time.monotonic()
        with open(log, "w") as f:
            subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                           timeout=600 * SLOW, env={**os.environ, "TERM": "dumb"})
        took = time.monotonic() - t0
    check(out.exists(), f"testssl wrote no {out.name}; its output: {log.read_text()[-800:]}")
    findings = json.loads(out.read_text())
    counts = collections.Counter(f["severity"] for f in findings)
    summary = ", ".join(f"{s} {counts.get(s, 0)}" for s in
                        ("OK", "INFO", "WARN", "LOW", "MEDIUM", "HIGH", "CRITICAL", "FATAL"))
    print(f"# testssl {name} listener ({took:.0f} s): {summary}", flush=True)
    for f in findings:
        if f["severity"] == "WARN":
            print(f"#   WARN {f['id']}: {f['finding']}", flush=True)
    # The scan really ran: protocols, the cipher categories, the header and vulnerability checks.
    ids = {f["id"] for f in findings}
    for want in ("TLS1_2", "TLS1_3", "cipherlist_STRONG", "cipher_order", "cert_chain_of_trust",
                 "HSTS", "LUCKY13", "SWEET32", "secure_renego"):
        # HSTS is "HSTS" when absent, "HSTS_time" and others when sent
        check(any(i == want or i.startswith(want + "_") for i in ids),
              f"testssl {name}: no {want} finding: the scan did not run through ({summary})")
    eq(counts.get("FATAL", 0), 0, f"testssl {name}: fatal scan problems")
    severe = []
    for f in findings:
        if f["severity"] not in SEVERE:
            continue
        if f["id"] in EXCEPTED:
            print(f"#   {f['severity']} {f['id']} ({f['finding']}) not counted: "
                  f"{EXCEPTED[f['id']]}", flush=True)
            continue
        recheck = RACY.get(f["id"])
        if recheck is not None and recheck(port):
            print(f"#   {f['severity']} {f['id']} ({f['finding']}) not counted: checked again "
                  "without testssl's race, the server closed the connection", flush=True)
            continue
        severe.append(f"{f['severity']} {f['id']}: {f['finding']}")
    check(not severe, f"testssl rates the {name} listener:\n" + "\n".join(severe))


@case("testssl.sh against the partner listener: no finding rated LOW or worse (cert_revocation excepted, with its reason)", background=True)
def testssl_partner(env):
    testssl(env, "partner", env.main.port)


@case("testssl.sh against the compliance listener: no finding rated LOW or worse (cert_revocation excepted, with its reason)", background=True)
def testssl_compliance(env):
    testssl(env, "compliance", env.main.install.compliance_port)


# ---------------------------------------------------------------------------------------------
# The HTTPS origin client.

class TLSOrigin:
    """The member system over HTTPS from an installation's members.db, one connection per
    request (so that each request is a new handshake); `mode` picks the TLS configuration the
    next handshake gets."""

    def __init__(self, folder, db_path):
        self.db_path = db_path
        self.ca = pdtest.CA.create(folder, "pdtest origin CA")
        key = None
        self.certs = {}
        for label in ("sha256", "sha224", "sha1"):
            self.certs[label] = c = openssl_issue(self.ca.pem, self.ca.pem.with_suffix(".key"),
                                                  Path(folder) / f"origin-{label}", label,
                                                  "DNS:localhost, IP:127.0.0.1", "serverAuth",
                                                  key=key, cn="localhost")
            key = c.key
        self.certs["rsa"] = openssl_issue(self.ca.pem, self.ca.pem.with_suffix(".key"),
                                          Path(folder) / "origin-rsa", "sha256",
                                          "DNS:localhost, IP:127.0.0.1", "serverAuth",
                                          cn="localhost", rsa=True)
        self.contexts = {
            "tls12_ecdsa_aead": self._ctx("sha256", "ECDHE-ECDSA-AES128-GCM-SHA256", tls12=True),
            "tls12_rsa_aead": self._ctx("rsa", "ECDHE-RSA-AES256-GCM-SHA384", tls12=True),
            "tls12_chacha": self._ctx("sha256", "ECDHE-ECDSA-CHACHA20-POLY1305", tls12=True),
            "tls13": self._ctx("sha256", None, tls13=True),
            "cbc": self._ctx("sha256", "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:"
                                       "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384", tls12=True),
            "rsa_cbc": self._ctx("rsa", "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384", tls12=True),
            "no_ecdhe": self._ctx("rsa", "AES128-GCM-SHA256:AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256",
                                  tls12=True),
            "sha224_chain": self._ctx("sha224", "ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0"),
            "sha1_chain": self._ctx("sha1", "ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0"),
        }
        self.mode = "tls12_ecdsa_aead"
        self.handshakes = collections.Counter()  # mode -> completed handshakes
        self.lock = threading.Lock()
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # closes after each answer

            def log_message(self, *a):
                pass

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                rec = origin.record(urllib.parse.unquote(u.path[len("/members/"):])) \
                    if u.path.startswith("/members/") else None
                status, body = (200, rec) if rec else (404, b'{"error":"not found"}')
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = self.socket.accept()
                mode = origin.mode
                sock.settimeout(10 * SLOW)
                try:
                    tls = origin.contexts[mode].wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError):
                    sock.close()
                    raise
                with origin.lock:
                    origin.handshakes[mode] += 1
                return tls, addr

            def handle_error(self, request, client_address):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _ctx(self, cert, ciphers, tls12=False, tls13=False):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if ciphers:
            ctx.set_ciphers(ciphers)  # before the certificate: a SHA-1 one needs SECLEVEL=0
        ctx.load_cert_chain(*self.certs[cert].pair)
        if tls12:
            ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if tls13:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        return ctx

    def record(self, mid):
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as db:
            row = db.execute("SELECT record FROM members WHERE member_id=?", (mid,)).fetchone()
        return row[0].encode() if row else None

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _origin_fixture(env):
    inst = env.install(members=10)
    write_contract(inst)
    origin = env.enter(contextlib.closing(TLSOrigin(inst.path("origin-pki"), inst.path("members.db"))))
    inst.set("origin", "url", f"https://127.0.0.1:{origin.port}")
    inst.set("origin", "ca", str(origin.ca.pem))
    return env.daemon(inst), origin


_partner_certs = {}
_partner_lock = threading.Lock()


def _member_via(d):
    """GET /v1/members/M0000001 as tls-co on daemon d (a certificate issued once per daemon)."""
    with _partner_lock:
        if d.port not in _partner_certs:
            _partner_certs[d.port] = d.install.pki.issue(f"{PARTNER}-{d.port}", partner=PARTNER)
        cert = _partner_certs[d.port]
    return d.get("/v1/members/M0000001", cert=cert, headers={"X-Purpose": "contact"})


def origin_refused(d, r, rec, what):
    """502 origin_error, nothing of the record in the answer, a deny entry in the ledger."""
    check_error(r, 502, "origin_error", what)
    check_nothing_released(r, rec, what)
    idx = r.headers.get("X-Ledger-Index")
    check(idx is not None and idx.isdigit(), f"{what}: no X-Ledger-Index")
    leaf = ledger_entry(d, int(idx))
    eq((leaf["kind"], leaf["reason"]), ("deny", "origin_error"), f"{what}: ledger entry {idx}")


@case("HTTPS origin: an ECDHE AEAD origin is served over TLS 1.2 (ECDSA and RSA, AES-GCM and ChaCha20) and TLS 1.3 (the control)")
def origin_good(env):
    d, origin = env.origin
    rec = member(d.install)
    for mode in ("tls12_ecdsa_aead", "tls12_rsa_aead", "tls12_chacha", "tls13"):
        origin.mode = mode
        before = origin.handshakes[mode]
        check_released(_member_via(d), rec, f"origin {mode}")
        check(origin.handshakes[mode] > before, f"origin {mode}: no handshake reached the origin")


BAD_ORIGINS = [
    (["cbc"], "offering only ECDHE-ECDSA CBC suites"),
    (["rsa_cbc"], "offering only ECDHE-RSA CBC suites"),
    (["no_ecdhe"], "offering only AEAD suites without ECDHE (static RSA, DHE)"),
    (["sha224_chain", "sha1_chain"], "whose certificate is signed with SHA-224, or SHA-1"),
]


def _bad_origin_case(modes, what):
    @case(f"HTTPS origin {what}: 502 origin_error, nothing released, then served again")
    def _(env):
        d, origin = env.origin
        rec = member(d.install)
        for mode in modes:
            origin.mode = mode
            try:
                origin_refused(d, _member_via(d), rec, f"origin {mode}")
            finally:
                origin.mode = "tls12_ecdsa_aead"
            check_released(_member_via(d), rec, f"origin good again after {mode}")


for _m in BAD_ORIGINS:
    _bad_origin_case(*_m)


class SServer:
    """`openssl s_server -WWW` serving members/<id> files over TLS 1.2, restarted with the
    signature algorithms a case wants (Python's ssl cannot restrict them)."""

    def __init__(self, folder, inst, cert):
        self.folder = Path(folder)
        (self.folder / "members").mkdir(parents=True, exist_ok=True)
        for mid in ("M0000001",):
            (self.folder / "members" / mid).write_bytes(json.dumps(member(inst, mid), ensure_ascii=False,
                                                                   separators=(",", ":")).encode())
        self.cert = cert
        self.port = pdtest.free_port()
        self.proc = None

    def start(self, sigalgs):
        self.stop()
        log = open(self.folder / "s_server.log", "ab")
        self.proc = subprocess.Popen(
            [OPENSSL, "s_server", "-accept", f"127.0.0.1:{self.port}", "-cert", str(self.cert.pem),
             "-key", str(self.cert.key), "-tls1_2", "-sigalgs", sigalgs,
             "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0", "-WWW", "-quiet"],
            cwd=self.folder, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        pdtest.wait_until(lambda: self._listening(), 10, what=f"s_server on port {self.port}")

    def _listening(self):
        if self.proc.poll() is not None:
            raise pdtest.Failure(f"s_server exited {self.proc.returncode}: "
                                 f"{(self.folder / 's_server.log').read_text()[-400:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def close(self):
        self.stop()


def _sigalg_origin_fixture(env):
    inst = env.origin[0].install
    origin = env.origin[1]
    srv = env.enter(contextlib.closing(SServer(inst.path("s_server"), inst, origin.certs["sha256"])))
    conf = inst.variant("sigalgs", {("partner", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                                    ("compliance", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                                    ("origin", "url"): f"https://127.0.0.1:{srv.port}",
                                    ("ledger", "path"): "ledger-sigalgs.db",
                                    ("gateway", "state"): "state-sigalgs.db"})
    return env.daemon(inst, conf=conf), srv


@case("HTTPS origin that signs its handshake only with ECDSA+SHA224, or ECDSA+SHA1: 502 origin_error, nothing released; ECDSA+SHA256 is served")
def origin_weak_sigalgs(env):
    d, srv = env.sigalg_origin
    rec = member(d.install)
    for sigalgs in ("ECDSA+SHA224", "ECDSA+SHA1"):
        srv.start(sigalgs)
        origin_refused(d, _member_via(d), rec, f"origin signing with {sigalgs}")
    srv.start("ECDSA+SHA256")
    check_released(_member_via(d), rec, "origin signing with ECDSA+SHA256")


if __name__ == "__main__":
    pdtest.run(Env)
