"""pdtest — the end-to-end harness: a case runner, fresh installations, a test PKI, the daemon.

Every suite (tests/e2e/test_*.py) starts the real `pdgate serve` on free ports of an installation
made by `pdgate init`, with certificates that the suite makes itself, and talks to it with real
clients: `requests` for ordinary HTTPS, the `ssl` module for what requests cannot express.
Standard library + requests + cryptography only. tests/e2e/README.md has the short version.

Environment:
  PDGATE        the binary (default <repo>/bin/pdgate; may be a sanitizer build)
  PDTEST_ONLY   run only the cases whose name contains one of these comma-separated words
  PDTEST_SLOW   multiply every timeout (default 1, or 3 for a binary whose name has "san")
  PDTEST_KEEP   1: keep the temporary folders even when every case passed
"""

import contextlib
import datetime
import hashlib
import inspect
import ipaddress
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from pathlib import Path

import requests
from requests.structures import CaseInsensitiveDict
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# TLS 1.0/1.1 are deprecated in the ssl module; the suites use them on purpose, to see them refused.
warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*TLSv1.*")
warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*ssl.*")

REPO = Path(__file__).resolve().parents[2]
PDGATE = os.environ.get("PDGATE") or str(REPO / "bin" / "pdgate")
SLOW = float(os.environ.get("PDTEST_SLOW") or (3 if "san" in Path(PDGATE).name else 1))

PARTNER_URI = "urn:pdgate:partner:"
STAFF_URI = "urn:pdgate:staff:"


# ---------------------------------------------------------------------------------------------
# Checks. Plain functions, not `assert`: `python3 -O` must not turn a test into one that passes.

class Failure(AssertionError):
    pass


def check(cond, msg):
    """Fails the case with msg unless cond holds."""
    if not cond:
        raise Failure(msg)


def eq(got, want, what):
    """Fails the case unless got == want, naming both."""
    if got != want:
        raise Failure(f"{what}: got {got!r}, want {want!r}")


def body_of(r):
    """The first 300 characters of a response body, for messages."""
    try:
        t = r.text
    except Exception:  # noqa: BLE001 - a body that is not text is still worth a look
        t = repr(r.content)
    return t[:300]


def check_status(r, status, what=""):
    """Fails unless response r has the status (an int, or a container of ints)."""
    ok = r.status_code in status if isinstance(status, (set, tuple, list, range)) else r.status_code == status
    check(ok, f"{what + ': ' if what else ''}status {r.status_code}, want {status}; body {body_of(r)!r}")


def check_error(r, status, code, what=""):
    """Checks a pdgate error answer: the status, a JSON body {error, message, request_id} with the
    given code, a request id equal to the X-Request-Id header, and Cache-Control: no-store.
    Returns the body."""
    check_status(r, status, what)
    try:
        body = r.json()
    except ValueError:
        raise Failure(f"{what}: body is not JSON: {body_of(r)!r}") from None
    check(isinstance(body, dict), f"{what}: body is not an object: {body!r}")
    eq(body.get("error"), code, f"{what}: error code")
    check(isinstance(body.get("message"), str) and body["message"], f"{what}: no message in {body!r}")
    rid = body.get("request_id")
    check(isinstance(rid, str) and rid, f"{what}: no request_id in {body!r}")
    eq(r.headers.get("X-Request-Id"), rid, f"{what}: X-Request-Id header vs body request_id")
    check_no_store(r, what)
    return body


def check_no_store(r, what=""):
    """Fails unless the response carries Cache-Control: no-store."""
    cc = r.headers.get("Cache-Control") or ""
    check("no-store" in [p.strip().lower() for p in cc.split(",")],
          f"{what}: Cache-Control is {cc!r}, want no-store")


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until it returns a true value (returned) or timeout seconds pass (fails)."""
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout * SLOW:.1f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# The runner.

class Case:
    def __init__(self, name, fn, background):
        self.name, self.fn, self.background = name, fn, background


_registry = []


def case(name, background=False):
    """Registers the decorated function as a case. It is called with the suite's Env if it takes
    one argument. background=True runs it in a thread alongside the others (for slow cases with
    a daemon of their own)."""
    def deco(fn):
        _registry.append(Case(name, fn, background))
        return fn
    return deco


class FixtureError(Exception):
    pass


def fixture(fn):
    """A lazily built, shared, thread-safe Env attribute: built on first use, cleaned up with the
    Env. If building it failed, every later use fails at once with the same reason."""
    name = fn.__name__

    def get(self):
        with self._fixture_lock(name):
            if name not in self._fixtures:
                try:
                    self._fixtures[name] = (True, fn(self))
                except Exception as e:  # noqa: BLE001 - remembered and re-raised to every user
                    self._fixtures[name] = (False, f"{type(e).__name__}: {e}")
            ok, val = self._fixtures[name]
            if not ok:
                raise FixtureError(f"fixture {name}: {val}")
            return val
    return property(get)


class Env:
    """What the cases of one suite share: a temporary folder, fixtures, and everything to clean
    up at the end (installations, daemons) in reverse order."""

    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="pdtest-"))
        self._stack = contextlib.ExitStack()
        self._lock = threading.RLock()
        self._locks = {}
        self._fixtures = {}

    def _fixture_lock(self, name):
        with self._lock:
            return self._locks.setdefault(name, threading.RLock())

    def enter(self, cm):
        """Enters a context manager now and exits it when the Env closes. Returns its value."""
        val = cm.__enter__()
        with self._lock:
            self._stack.push(cm.__exit__)
        return val

    def install(self, **kw):
        """A fresh installation under the Env's folder (see Install)."""
        return Install(root=self.tmp, **kw)

    def daemon(self, install, **kw):
        """Starts `pdgate serve` on install; stopped when the Env closes. Returns the Daemon."""
        return self.enter(Daemon(install, **kw))

    def close(self):
        self._stack.close()


def _takes_arg(fn):
    try:
        return len(inspect.signature(fn).parameters) >= 1
    except (TypeError, ValueError):
        return False


class _Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.passed = 0
        self.failed = 0

    def report(self, name, err, tb=None):
        with self.lock:
            if err is None:
                self.passed += 1
                print(f"ok - {name}", flush=True)
                return
            self.failed += 1
            lines = str(err).splitlines() or [type(err).__name__]
            print(f"not ok - {name}: {lines[0]}", flush=True)
            for line in lines[1:]:
                print(f"#   {line}", flush=True)
            if tb:
                for line in tb.rstrip().splitlines():
                    print(f"#   {line}", flush=True)


def _run_one(c, env, results):
    try:
        if _takes_arg(c.fn):
            c.fn(env)
        else:
            c.fn()
    except (Failure, FixtureError) as e:
        results.report(c.name, e)
    except Exception as e:  # noqa: BLE001 - any error fails the case, the runner goes on
        tb = "".join(traceback.format_exception(type(e), e, e.__traceback__)[-4:])
        results.report(c.name, f"{type(e).__name__}: {e}", tb)
    else:
        results.report(c.name, None)


def _on_term(signum, frame):
    raise SystemExit(128 + signum)


def run(env_factory=Env, cases=None):
    """Runs the cases (default: every @case of the suite), prints `ok - name` / `not ok - name:
    reason` per case and `N passed, N failed` last, and exits 1 on any failure. Background cases
    start first, each in its own thread; the others run one after another meanwhile."""
    cases = list(cases if cases is not None else _registry)
    only = [w.strip() for w in os.environ.get("PDTEST_ONLY", "").split(",") if w.strip()]
    if only:
        cases = [c for c in cases if any(w in c.name for w in only)]
    signal.signal(signal.SIGTERM, _on_term)
    results = _Results()
    t0 = time.monotonic()
    env = None
    try:
        env = env_factory()
        threads = []
        for c in cases:
            if c.background:
                t = threading.Thread(target=_run_one, args=(c, env, results), name=c.name, daemon=True)
                t.start()
                threads.append(t)
        for c in cases:
            if not c.background:
                _run_one(c, env, results)
        for t in threads:
            t.join()
    finally:
        if env is not None:
            try:
                env.close()
            except Exception as e:  # noqa: BLE001 - a crash found at cleanup is a failure
                results.report("cleanup", f"{type(e).__name__}: {e}")
            if results.failed == 0 and not os.environ.get("PDTEST_KEEP"):
                shutil.rmtree(env.tmp, ignore_errors=True)
            else:
                print(f"# files kept in {env.tmp}", flush=True)
    print(f"# {time.monotonic() - t0:.1f}s with {PDGATE}", flush=True)
    print(f"{results.passed} passed, {results.failed} failed", flush=True)
    sys.exit(1 if results.failed else 0)


# ---------------------------------------------------------------------------------------------
# Processes and ports.

_ports_given = set()
_ports_lock = threading.Lock()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick for port 0), never
    the same twice in one process."""
    with _ports_lock:
        for _ in range(100):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _ports_given:
                _ports_given.add(port)
                return port
    raise RuntimeError("no free port")


def pdgate(*args, cwd=None, timeout=120, env=None):
    """Runs `$PDGATE args...`; returns the CompletedProcess (text stdout/stderr, never raises on
    a non-zero exit)."""
    return subprocess.run([PDGATE, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout * SLOW, stdin=subprocess.DEVNULL, env=env)


def raise_nofile(n):
    """Raises this process's RLIMIT_NOFILE soft limit to at least n (up to the hard limit); the
    daemons started afterwards inherit it. Returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft


# ---------------------------------------------------------------------------------------------
# pdgate.conf, edited line by line so that comments and order stay.

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*[=:]\s*(.*?)\s*$")


def conf_get(text, section, key):
    """The value of section.key in INI text, or None."""
    cur = None
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m:
            cur = m.group(1).strip()
            continue
        m = _KEY.match(line)
        if m and cur == section and m.group(1) == key:
            return m.group(2)
    return None


def conf_set(text, section, key, value):
    """INI text with section.key set to value (None removes the key); adds the key at the end of
    its section, or the section at the end of the file, when missing."""
    lines = text.splitlines()
    cur, sec_end, found = None, None, False
    out = []
    for line in lines:
        m = _SECTION.match(line)
        if m:
            cur = m.group(1).strip()
            out.append(line)
            if cur == section:
                sec_end = len(out)
            continue
        m = _KEY.match(line)
        if m and cur == section and m.group(1) == key:
            found = True
            if value is not None:
                out.append(f"{key} = {value}")
            continue
        out.append(line)
        if cur == section and line.strip() and not line.lstrip().startswith((";", "#")):
            sec_end = len(out)
    if not found and value is not None:
        if sec_end is None:
            if out and out[-1].strip():
                out.append("")
            out += [f"[{section}]", f"{key} = {value}"]
        else:
            out.insert(sec_end, f"{key} = {value}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# The test PKI, on `cryptography`.

def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _sig_hash(key):
    return None if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) else hashes.SHA256()


def _write_key(path, key):
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def _write_atomic(path, data):
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class Cert:
    """A certificate and its key in PEM files."""

    def __init__(self, pem, key, cert=None, private_key=None):
        self.pem, self.key = Path(pem), Path(key)
        self.x509 = cert or x509.load_pem_x509_certificate(self.pem.read_bytes())
        self._private_key = private_key

    @classmethod
    def load(cls, pem, key):
        return cls(pem, key)

    @property
    def pair(self):
        """(cert file, key file) as requests' cert= wants it."""
        return (str(self.pem), str(self.key))

    @property
    def der(self):
        return self.x509.public_bytes(serialization.Encoding.DER)

    @property
    def fingerprint(self):
        """Lowercase hex SHA-256 of the DER certificate."""
        return hashlib.sha256(self.der).hexdigest()

    @property
    def serial(self):
        return self.x509.serial_number

    @property
    def private_key(self):
        if self._private_key is None:
            self._private_key = serialization.load_pem_private_key(self.key.read_bytes(), None)
        return self._private_key

    def __repr__(self):
        return f"Cert({self.pem.name}, serial {self.serial:x})"


class CA:
    """A certificate authority: makes leaf certificates and CRLs. Either new (CA.create) or an
    installation's own (CA.load with its key). crl is the CRL file that revoke() maintains."""

    def __init__(self, cert, key, pem=None, crl=None):
        self.cert, self.key = cert, key
        self.pem = Path(pem) if pem else None
        self.crl_path = Path(crl) if crl else None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, pem, key=None, crl=None):
        """The CA in pem (and its private key file, when there is one)."""
        cert = x509.load_pem_x509_certificate(Path(pem).read_bytes())
        k = serialization.load_pem_private_key(Path(key).read_bytes(), None) if key and Path(key).exists() else None
        return cls(cert, k, pem=pem, crl=crl)

    @classmethod
    def create(cls, folder, name="pdtest other CA", subject=None, days=365):
        """A new self-signed CA (EC P-256) written to folder/<slug>.pem/.key. subject (an
        x509.Name) overrides the name: a lookalike of another CA's subject, for instance."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        subj = subject or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = utcnow()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (x509.CertificateBuilder().subject_name(subj).issuer_name(subj)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=True, crl_sign=True,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(ski, critical=False)
                .sign(key, hashes.SHA256()))
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "ca"
        pem = folder / f"{slug}.pem"
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(folder / f"{slug}.key", key)
        return cls(cert, key, pem=pem)

    @property
    def subject(self):
        return self.cert.subject

    def issue(self, prefix, partner=None, cn=None, uris=None, eku="client", not_before=None,
              not_after=None, days=30, dns=(), ips=(), ca=False, key_usage=True):
        """Issues a leaf certificate into PREFIX.pem/.key (key EC P-256, mode 0600).
        partner: sets CN and the URI SAN urn:pdgate:partner:<partner> (uris/cn override).
        eku: "client", "server", "both", None (no extendedKeyUsage at all) or a list of OIDs.
        not_before/not_after: datetimes (default now - 1h .. now + days)."""
        check(self.key is not None, f"CA {self.subject.rfc4514_string()} has no private key here")
        prefix = Path(prefix)
        prefix.parent.mkdir(parents=True, exist_ok=True)
        now = utcnow()
        key = ec.generate_private_key(ec.SECP256R1())
        if uris is None:
            uris = [PARTNER_URI + partner] if partner else []
        cn = cn if cn is not None else (partner or prefix.name)
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []))
             .issuer_name(self.cert.subject).public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(not_before or now - datetime.timedelta(hours=1))
             .not_valid_after(not_after or now + datetime.timedelta(days=days))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                            critical=False))
        if key_usage:
            b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                              key_encipherment=False, data_encipherment=False,
                                              key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                                              encipher_only=False, decipher_only=False), critical=True)
        if eku is not None:
            oids = {"client": [ExtendedKeyUsageOID.CLIENT_AUTH],
                    "server": [ExtendedKeyUsageOID.SERVER_AUTH],
                    "both": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]}.get(eku, eku)
            b = b.add_extension(x509.ExtendedKeyUsage(list(oids)), critical=False)
        sans = [x509.UniformResourceIdentifier(u) for u in uris]
        sans += [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = b.sign(self.key, _sig_hash(self.key))
        pem = prefix.with_name(prefix.name + ".pem")
        keyfile = prefix.with_name(prefix.name + ".key")
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(keyfile, key)
        return Cert(pem, keyfile, cert, key)

    def crl_bytes(self, revoked=(), last_update=None, next_update=None, number=None, base=None):
        """A PEM CRL signed by this CA listing the serials (or Certs) in revoked, plus those of
        the CRL bytes base when given. nextUpdate in the past makes a stale CRL."""
        check(self.key is not None, "CA has no private key here")
        now = utcnow()
        serials = []
        old_number = 0
        if base:
            old = x509.load_pem_x509_crl(base)
            serials += [r.serial_number for r in old]
            try:
                old_number = old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
            except x509.ExtensionNotFound:
                pass
        serials += [r.serial if isinstance(r, Cert) else int(r) for r in revoked]
        b = (x509.CertificateRevocationListBuilder().issuer_name(self.cert.subject)
             .last_update(last_update or now - datetime.timedelta(minutes=1))
             .next_update(next_update or now + datetime.timedelta(days=7))
             .add_extension(x509.CRLNumber(number if number is not None else old_number + 1), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                            critical=False))
        seen = set()
        for s in serials:
            if s in seen:
                continue
            seen.add(s)
            b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(s)
                                          .revocation_date(now - datetime.timedelta(minutes=1)).build())
        return b.sign(self.key, _sig_hash(self.key)).public_bytes(serialization.Encoding.PEM)

    def write_crl(self, path=None, revoked=(), keep=True, **kw):
        """Writes a CRL (see crl_bytes) atomically to path (default: this CA's CRL file), keeping
        the entries already in that file when keep. Returns the path."""
        path = Path(path or self.crl_path)
        with self._lock:
            base = path.read_bytes() if keep and path.exists() else None
            _write_atomic(path, self.crl_bytes(revoked, base=base, **kw))
        return path

    def revoke(self, *certs, **kw):
        """Adds the certificates to this CA's CRL file, keeping what it lists (SIGHUP to apply)."""
        return self.write_crl(revoked=certs, **kw)


def revoked_serials(crl_path):
    """The serial numbers a PEM CRL file lists."""
    return {r.serial_number for r in x509.load_pem_x509_crl(Path(crl_path).read_bytes())}


# ---------------------------------------------------------------------------------------------
# Installations.

class PKI:
    """An installation's CAs (loaded from pki/) and a folder for the suite's own certificates."""

    def __init__(self, inst):
        d = inst.dir / "pki"
        self.inst = inst
        self.partner_ca = CA.load(d / "partner-ca.pem", d / "partner-ca.key", crl=inst.crl)
        self.staff_ca = CA.load(d / "staff-ca.pem", d / "staff-ca.key", crl=d / "staff-ca.crl")
        self.server_ca = CA.load(d / "server-ca.pem", d / "server-ca.key")
        self.server = Cert(d / "server.pem", d / "server.key")
        self.folder = inst.dir / "test-certs"
        self.folder.mkdir(exist_ok=True)
        self._other = None
        self._lock = threading.Lock()

    def partner(self, pid):
        """The demo certificate of partner pid, as `pdgate init` made it."""
        d = self.inst.dir / "pki" / "partners"
        return Cert(d / f"{pid}.pem", d / f"{pid}.key")

    def staff(self, name="officer"):
        d = self.inst.dir / "pki" / "staff"
        return Cert(d / f"{name}.pem", d / f"{name}.key")

    def issue(self, name, by=None, **kw):
        """A certificate from the CA `by` (default the partner CA) in test-certs/<name>.pem/.key;
        kw as for CA.issue."""
        return (by or self.partner_ca).issue(self.folder / name, **kw)

    @property
    def other_ca(self):
        """A CA that has nothing to do with the installation (made once)."""
        with self._lock:
            if self._other is None:
                self._other = CA.create(self.folder, "pdtest other CA")
            return self._other


class Install:
    """A fresh installation made by `$PDGATE init` in a new folder under root, with its two
    listeners moved to free ports. conf: dict {(section, key): value} applied on top.
    members=None passes no --members (a production installation has none)."""

    def __init__(self, root=None, members=20, conf=None, init_args=()):
        root = Path(root or tempfile.mkdtemp(prefix="pdtest-"))
        self.dir = Path(tempfile.mkdtemp(prefix="inst-", dir=root)) / "demo"
        sized = ("--members", members) if members is not None else ()
        r = pdgate("init", self.dir, *sized, *init_args)
        check(r.returncode == 0, f"pdgate init failed (exit {r.returncode}): {r.stderr.strip()[-800:]}")
        self.conf = self.dir / "pdgate.conf"
        check(self.conf.exists(), f"pdgate init made no {self.conf}")
        self.port = free_port()
        self.compliance_port = free_port()
        self.set("partner", "listen", f"127.0.0.1:{self.port}")
        self.set("compliance", "listen", f"127.0.0.1:{self.compliance_port}")
        for (sec, key), val in (conf or {}).items():
            self.set(sec, key, val)
        self._pki = None

    def path(self, rel):
        """A path of the installation: rel is relative to its folder."""
        return self.dir / rel

    def conf_text(self, conf=None):
        return Path(conf or self.conf).read_text()

    def get(self, section, key, conf=None):
        """The raw value of section.key in the configuration, or None."""
        return conf_get(self.conf_text(conf), section, key)

    def set(self, section, key, value, conf=None):
        """Sets section.key in the configuration (None removes it)."""
        p = Path(conf or self.conf)
        p.write_text(conf_set(p.read_text(), section, key, None if value is None else str(value)))

    def variant(self, name, changes=None, append=""):
        """A copy of the configuration in the same folder (so relative paths hold) as <name>.conf,
        with changes {(section, key): value or None} and raw text appended. Returns its path."""
        text = self.conf_text()
        for (sec, key), val in (changes or {}).items():
            text = conf_set(text, sec, key, None if val is None else str(val))
        p = self.dir / f"{name}.conf"
        p.write_text(text + append)
        return p

    def ledger_size(self):
        """How many entries the ledger holds (read once a daemon has made the file)."""
        path = self.path(self.get("ledger", "path") or "ledger.db")
        db = sqlite3.connect(str(path), timeout=10)
        try:
            return db.execute("SELECT count(*) FROM entries").fetchone()[0]
        finally:
            db.close()

    @property
    def server_ca(self):
        """The CA file clients trust for this installation's listeners."""
        return self.dir / "pki" / "server-ca.pem"

    @property
    def crl(self):
        """The partner CRL file the configuration names."""
        v = self.get("partner", "crl") or "pki/partner-ca.crl"
        return (self.dir / v) if not os.path.isabs(v) else Path(v)

    @property
    def pki(self):
        if self._pki is None:
            self._pki = PKI(self)
        return self._pki

    def pdgate(self, *args, **kw):
        """Runs `$PDGATE args...` in the installation's folder."""
        return pdgate(*args, cwd=self.dir, **kw)


# ---------------------------------------------------------------------------------------------
# Clients.

TLS_VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


def tls_context(ca=None, cert=None, version=None):
    """A client SSLContext trusting ca (a file; None: no verification of the server), presenting
    cert (a Cert or (pem, key)) if given, pinned to version ("1.0".."1.3") if given. Pinning
    below 1.2 also lowers OpenSSL's security level so that this client can really offer it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca:
        ctx.load_verify_locations(str(ca))
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        pem, key = cert.pair if isinstance(cert, Cert) else cert
        ctx.load_cert_chain(pem, key)
    if version:
        v = TLS_VERSIONS[version]
        if version in ("1.0", "1.1"):
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = v
        ctx.maximum_version = v
    return ctx


def tls_client_can_speak(version, folder):
    """True if this machine's client stack completes a handshake at the given TLS version with a
    local server pinned to it: so a refusal by pdgate is pdgate's, not the client's."""
    ca = CA.create(Path(folder) / f"selfcheck-{version}", "pdtest selfcheck CA")
    srv = ca.issue(Path(folder) / f"selfcheck-{version}" / "server", cn="localhost", eku="server",
                   ips=["127.0.0.1"])
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(*srv.pair)
    if version in ("1.0", "1.1"):
        sctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    sctx.minimum_version = sctx.maximum_version = TLS_VERSIONS[version]
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(5)
    port = lsock.getsockname()[1]
    result = {}

    def serve():
        try:
            conn, _ = lsock.accept()
            with sctx.wrap_socket(conn, server_side=True) as s:
                result["server"] = s.version()
                s.recv(1)
        except Exception as e:  # noqa: BLE001 - reported through result
            result["error"] = e

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with tls_context(ca.pem, version=version).wrap_socket(raw, server_hostname="127.0.0.1") as s:
                got = s.version()
                s.sendall(b"x")
        t.join(5)
        return got is not None and result.get("server") == got
    except (OSError, ssl.SSLError):
        return False
    finally:
        lsock.close()


class Response:
    """An HTTP/1.1 answer read off a raw socket; the same attributes as a requests.Response
    that the checks above use."""

    def __init__(self, status, reason, headers, content):
        self.status_code, self.reason = status, reason
        self.headers = CaseInsensitiveDict(headers)
        self.content = content

    @property
    def text(self):
        return self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)

    def __repr__(self):
        return f"<Response {self.status_code} {self.content[:80]!r}>"


class RawHTTP:
    """HTTP/1.1 by hand over one TLS socket: keeps the connection, sends exactly the bytes given,
    reads one response at a time (Content-Length, chunked, or until close)."""

    def __init__(self, sock, host="127.0.0.1"):
        self.sock, self.host = sock, host
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method, path, headers=None, body=b""):
        """Sends one request and returns its Response."""
        h = {"Host": self.host, "User-Agent": "pdtest"}
        h.update(headers or {})
        if body:
            h["Content-Length"] = str(len(body))
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        self.send(head.encode("latin-1") + body)
        return self.read_response(method)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed by the server")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 1 << 20:
                raise ValueError("response line too long")
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_response(self, method="GET"):
        status_line = self._line().decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ValueError(f"bad status line {status_line!r}")
        status = int(parts[1])
        headers = []
        while True:
            line = self._line()
            if not line:
                break
            k, _, v = line.decode("latin-1").partition(":")
            headers.append((k.strip(), v.strip()))
        hd = CaseInsensitiveDict(headers)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in hd.get("Transfer-Encoding", "").lower():
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._fill()
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    while self._line():
                        pass
                    break
        elif "Content-Length" in hd:
            n = int(hd["Content-Length"])
            while len(self.buf) < n:
                self._fill()
            body, self.buf = self.buf[:n], self.buf[n:]
        else:
            try:
                while True:
                    self._fill()
            except ConnectionError:
                pass
            body, self.buf = self.buf, b""
        return Response(status, parts[2] if len(parts) > 2 else "", headers, body)

    def closed_by_peer(self, wait=0.0):
        """True if the server has closed the connection (EOF or reset) within wait seconds;
        bytes that arrive meanwhile are kept in the buffer."""
        old = self.sock.gettimeout()
        self.sock.settimeout(max(wait, 0.001))
        try:
            data = self.sock.recv(65536)
            if not data:
                return True
            self.buf += data
            return False
        except (socket.timeout, ssl.SSLWantReadError):
            return False
        except (ConnectionError, ssl.SSLError, OSError):
            return True
        finally:
            try:
                self.sock.settimeout(old)
            except OSError:
                pass

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------------------------
# The daemon.

class DaemonExited(Failure):
    """pdgate serve ended while it should be running (or before it was ready)."""

    def __init__(self, rc, log):
        self.rc, self.log = rc, log
        super().__init__(f"pdgate serve exited with status {rc}; log tail:\n{tail(log)}")


def tail(text, n=15):
    return "\n".join(text.splitlines()[-n:])


_SANITIZER = re.compile(r"ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer")


class Daemon:
    """`pdgate serve -c CONF` as a subprocess, stdout and stderr into <install>/daemon-N.log.
    A context manager: started on enter, stopped on exit (SIGTERM, SIGKILL if it hangs); at exit
    a crash or a sanitizer report fails the suite."""

    _seq = 0
    _seq_lock = threading.Lock()

    def __init__(self, install, conf=None, args=(), env=None, ready_timeout=20):
        self.install = install
        self.conf = Path(conf or install.conf)
        self.args = list(args)
        self.env = env
        self.ready_timeout = ready_timeout
        self.proc = None
        self.rc = None
        self._ctx = {}
        self._ctx_lock = threading.Lock()
        listen = conf_get(self.conf.read_text(), "partner", "listen") or ""
        self.host, _, port = listen.rpartition(":")
        self.port = int(port)
        with Daemon._seq_lock:
            Daemon._seq += 1
            self.logfile = install.dir / f"daemon-{Daemon._seq}.log"

    # life cycle

    def start(self):
        """Starts the daemon and waits until its partner port completes a TLS handshake.
        Raises DaemonExited if it exits first, Failure if it is not ready in time."""
        with open(self.logfile, "ab") as log:
            self.proc = subprocess.Popen([PDGATE, "serve", "-c", str(self.conf), *self.args],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         cwd=self.install.dir, env=self.env)
        deadline = time.monotonic() + self.ready_timeout * SLOW
        ctx = tls_context(self.install.server_ca)
        last = None
        while True:
            if self.proc.poll() is not None:
                self.rc = self.proc.returncode
                raise DaemonExited(self.rc, self.log())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as raw:
                    with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                        return self
            except (OSError, ssl.SSLError) as e:
                last = e
            if time.monotonic() > deadline:
                self.kill()
                raise Failure(f"pdgate serve not ready on port {self.port} after "
                              f"{self.ready_timeout * SLOW:.0f}s ({last}); log tail:\n{tail(self.log())}")
            time.sleep(0.05)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        check(self.running, f"daemon not running (exit {self.proc.poll() if self.proc else None}); "
                            f"log tail:\n{tail(self.log())}")
        self.proc.send_signal(sig)

    def hup(self, settle=None):
        """Sends SIGHUP and waits until the daemon has written something new to its log that
        speaks of the reload (at most `settle` seconds, default 3). Returns the new log text."""
        before = len(self.log())
        self.signal(signal.SIGHUP)
        deadline = time.monotonic() + (settle if settle is not None else 3) * SLOW
        new = ""
        while time.monotonic() < deadline:
            new = self.log()[before:]
            if re.search(r"crl|reload|hup", new, re.I) and new.endswith("\n"):
                break
            time.sleep(0.05)
        time.sleep(0.05)
        return self.log()[before:]

    def term(self, timeout=15):
        """SIGTERM; fails unless the daemon exits with status 0 within timeout seconds."""
        self.signal(signal.SIGTERM)
        try:
            self.rc = self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failure(f"no exit within {timeout * SLOW:.0f}s of SIGTERM; log tail:\n{tail(self.log())}") from None
        eq(self.rc, 0, f"exit status after SIGTERM (log tail:\n{tail(self.log())})\n")
        self.check_sanitizer()
        return self.rc

    def kill(self):
        """SIGKILL and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.rc = self.proc.returncode if self.proc else None

    def log(self):
        """Everything the daemon wrote (stdout, stderr, and the [gateway] log file if set)."""
        text = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
        extra = conf_get(self.conf.read_text(), "gateway", "log")
        if extra:
            p = Path(extra) if os.path.isabs(extra) else self.conf.parent / extra
            if p.exists():
                text += p.read_text(errors="replace")
        return text

    def check_sanitizer(self):
        m = _SANITIZER.search(self.log())
        check(m is None, f"sanitizer report in the daemon log:\n{tail(self.log(), 30)}")

    def __enter__(self):
        if self.running:  # started by hand before the with
            return self
        try:
            return self.start()
        except BaseException:
            self.kill()
            raise

    def __exit__(self, exc_type, exc, tb):
        if self.proc is None:
            return False
        crashed = self.proc.poll() is not None and self.rc is None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15 * SLOW)
            except subprocess.TimeoutExpired:
                self.kill()
                if exc_type is None:
                    raise Failure(f"daemon on port {self.port} did not stop on SIGTERM; log tail:\n{tail(self.log())}")
        rc = self.proc.returncode
        if exc_type is None:
            check(not crashed, f"daemon on port {self.port} died on its own with status {rc}; "
                               f"log tail:\n{tail(self.log())}")
            check(rc == 0 or self.rc is not None,
                  f"daemon on port {self.port} exited {rc} on SIGTERM; log tail:\n{tail(self.log())}")
            self.check_sanitizer()
        self.rc = rc
        return False

    # clients

    def url(self, path):
        return f"https://127.0.0.1:{self.port}{path}"

    def get(self, path, cert=None, headers=None, session=None, method="GET", timeout=10, **kw):
        """One request with requests (a new connection unless session is given), trusting the
        installation's server CA. cert: a Cert, (pem, key), or None."""
        if isinstance(cert, Cert):
            cert = cert.pair
        return (session or requests).request(method, self.url(path), cert=cert, headers=headers,
                                             verify=str(self.install.server_ca),
                                             timeout=timeout * SLOW, **kw)

    def tls(self, cert=None, version=None, timeout=10, session=None, verify=True):
        """A TLS connection to the partner port (handshake done), presenting cert if given."""
        key = (cert.pair if isinstance(cert, Cert) else cert, version, verify)
        with self._ctx_lock:
            # One context per kind of client: a TLS session can only be resumed by its context.
            ctx = self._ctx.get(key)
            if ctx is None:
                ctx = self._ctx[key] = tls_context(self.install.server_ca if verify else None, cert, version)
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout * SLOW)
        try:
            return ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session)
        except BaseException:
            raw.close()
            raise

    def http(self, cert=None, version=None, timeout=10, session=None):
        """A RawHTTP over a new TLS connection."""
        return RawHTTP(self.tls(cert, version, timeout, session))
