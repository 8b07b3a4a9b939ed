#!/usr/bin/env python3
"""test_pki — SPEC 15.5, PKI for real partners, end to end.

- `pdgate cert sign`: certificate signing requests made by the `openssl req` command (EC P-256
  and RSA-2048) are signed and the certificates work on the partner listener (GET /v1/whoami
  names the partner); a request with a broken signature, a 1024-bit RSA key, a file that is no
  request, an oversized file are refused with a clear message, a non-zero exit, no certificate
  file and no register row; a request whose subject and SAN name another partner (and ask for
  CA:TRUE and serverAuth) gets a certificate that names only --partner.
- `pdgate cert issue --server --dns/--ip`: the new certificate, swapped into the configuration
  of an installation and the daemon restarted, is what a TLS handshake to 127.0.0.1 sees, and
  its SANs decide which names verify; the next one, put over those files, is served after
  SIGHUP; bad names are refused.
- `--p12 FILE --passphrase-file F`: opened by `openssl pkcs12` and by Java's `keytool`, and used
  by curl (--cert-type P12) for a real request.
- `pdgate cert list`: on a fresh installation, and on one whose register does not exist yet (it
  is made from pki/ on first use); revocation from the CRL. A failure halfway leaves neither
  files nor a row.
- certificates_expiring in the supervision summary (API and `pdgate report summary`): a
  certificate issued for --days 10 and a CRL near its nextUpdate.
"""

import datetime
import json
import os
import shutil
import socket
import sqlite3
import ssl
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import requests

import pdtest
from pdtest import PARTNER_URI, case, check, eq

WHOAMI = "/v1/whoami"


def openssl(*args, cwd=None, check_rc=True):
    r = subprocess.run(["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    if check_rc:
        check(r.returncode == 0, f"openssl {' '.join(map(str, args))}: {r.stderr.strip()[-400:]}")
    return r


def csr(folder, name, newkey, subj="/CN=whatever", extra=()):
    """A key and a CSR made by `openssl req` into folder/name.key and name.csr (PEM)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key, req = folder / f"{name}.key", folder / f"{name}.csr"
    openssl("req", "-new", "-newkey", newkey[0], *newkey[1:], "-nodes", "-keyout", key,
            "-subj", subj, *extra, "-out", req)
    return key, req


EC256 = ("ec", "-pkeyopt", "ec_paramgen_curve:P-256")
RSA2048 = ("rsa:2048",)


def register(install):
    """The register as `pdgate cert list --json` shows it: {serial: row}."""
    r = install.pdgate("cert", "list", "-c", install.conf, "--json")
    check(r.returncode == 0, f"cert list --json: exit {r.returncode}: {r.stderr.strip()[-400:]}")
    doc = json.loads(r.stdout)
    return {c["serial"]: c for c in doc["certificates"]}


def serial_hex(cert):
    """The serial as pdgate and openssl write it: upper-case hex of whole bytes (so a serial
    whose first byte is below 0x10 keeps its leading zero)."""
    h = format(cert.serial_number, "X")
    return "0" * (len(h) % 2) + h


def load(path):
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def sans(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def utc(obj, name):
    v = getattr(obj, name + "_utc", None)
    return v if v is not None else getattr(obj, name).replace(tzinfo=datetime.timezone.utc)


def check_partner_cert(cert, partner):
    """The profile of `cert issue`: CN and the one URI SAN name partner, clientAuth only,
    digitalSignature only, not a CA."""
    cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    eq(cns, [partner], "CN")
    san = sans(cert)
    check(san is not None, "the certificate has a subjectAltName")
    eq([str(u) for u in san.get_values_for_type(x509.UniformResourceIdentifier)],
       [PARTNER_URI + partner], "URI SANs")
    eq(len(list(san)), 1, "no other SAN")
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    eq(list(eku), [ExtendedKeyUsageOID.CLIENT_AUTH], "extended key usage")
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    check(bc.critical and not bc.value.ca, "basicConstraints critical, CA:FALSE")
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    check(ku.digital_signature and not ku.key_cert_sign and not ku.key_encipherment,
          "keyUsage digitalSignature only")


def whoami(d, pem, key, partner, what):
    r = d.get(WHOAMI, cert=(str(pem), str(key)))
    pdtest.check_status(r, 200, what)
    eq(r.json()["partner"], partner, f"{what}: whoami partner")
    fp = load(pem).fingerprint(hashes.SHA256()).hex()
    eq(r.json()["certificate"], "sha256:" + fp, f"{what}: whoami certificate")
    return r.json()


def sign(install, *args):
    return install.pdgate("cert", "sign", "-c", install.conf, *args)


def refused(install, r, before, out, says, what):
    """A refusal: exit != 0, the message, no file at out, the register unchanged."""
    check(r.returncode != 0, f"{what}: exit 0 (stdout {r.stdout.strip()!r})")
    check(says.lower() in r.stderr.lower(), f"{what}: stderr does not say {says!r}: {r.stderr.strip()!r}")
    eq(r.stdout, "", f"{what}: nothing on stdout")
    check(not Path(out).exists(), f"{what}: {out} was written")
    eq(set(register(install)), set(before), f"{what}: register rows")


class Env(pdtest.Env):
    @pdtest.fixture
    def main(self):
        """An installation and its daemon, shared by the cases that leave both as they were."""
        return self.daemon(self.install())

    @pdtest.fixture
    def work(self):
        p = self.tmp / "work"
        p.mkdir()
        return p


# ---------------------------------------------------------------------------------------------
# cert sign

@case("sign: an EC P-256 CSR from openssl req; the certificate works on the partner listener")
def _(env):
    d, inst = env.main, env.main.install
    key, req = csr(env.work, "ec", EC256, "/CN=sakura-mail")
    out = env.work / "ec.pem"
    before = register(inst)
    r = sign(inst, "--partner", "sakura-mail", "--csr", req, "--out", out)
    eq(r.returncode, 0, f"exit status ({r.stderr.strip()})")
    cert = load(out)
    fp = cert.fingerprint(hashes.SHA256()).hex()
    eq(r.stdout.strip(), "sha256:" + fp, "the printed fingerprint")
    check_partner_cert(cert, "sakura-mail")
    pub = serialization.load_pem_private_key(key.read_bytes(), None).public_key()
    eq(cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
       pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
       "the certificate carries the CSR's key")
    life = utc(cert, "not_valid_after") - utc(cert, "not_valid_before")
    eq(life, datetime.timedelta(days=397, minutes=5), "lifetime (397 days, from 5 minutes back)")
    whoami(d, out, key, "sakura-mail", "EC certificate")
    after = register(inst)
    new = set(after) - set(before)
    eq(new, {serial_hex(cert)}, "one new register row, of this serial")
    row = after[serial_hex(cert)]
    eq((row["kind"], row["name"], row["sha256"], row["how"], row["revoked"]),
       ("partner", "sakura-mail", "sha256:" + fp, "sign", False), "its row")
    eq(row["file"], str(out), "the row names the file")


@case("sign: an RSA-2048 CSR; --days; the default path pki/partners/ID.pem")
def _(env):
    d, inst = env.main, env.main.install
    key, req = csr(env.work, "rsa", RSA2048, "/CN=kaede-net")
    r = sign(inst, "--partner", "kaede-net", "--csr", req, "--days", "30")
    eq(r.returncode, 0, f"exit status ({r.stderr.strip()})")
    out = inst.dir / "pki" / "partners" / "kaede-net.pem"
    check(out.exists(), "pki/partners/kaede-net.pem written")
    check(not (inst.dir / "pki" / "partners" / "kaede-net.key").exists(), "and no key: the partner has it")
    cert = load(out)
    check_partner_cert(cert, "kaede-net")
    eq(cert.public_key().key_size, 2048, "RSA key size")
    life = utc(cert, "not_valid_after") - utc(cert, "not_valid_before")
    eq(life, datetime.timedelta(days=30, minutes=5), "lifetime")
    whoami(d, out, key, "kaede-net", "RSA certificate")
    # a second request for the same partner may not replace the file, nor pair with a stray key
    before = register(inst)
    r = sign(inst, "--partner", "kaede-net", "--csr", req)
    check(r.returncode != 0 and "already exists" in r.stderr and "--out" in r.stderr,
          f"signing over pki/partners/kaede-net.pem: {r.returncode} {r.stderr.strip()!r}")
    eq(set(register(inst)), set(before), "no row for the refused one")


@case("sign: a CSR naming another partner (subject, SAN, CA:TRUE, serverAuth) names only --partner")
def _(env):
    d, inst = env.main, env.main.install
    key, req = csr(env.work, "liar", EC256, "/CN=sakura-mail/O=Sakura", extra=(
        "-addext", f"subjectAltName=URI:{PARTNER_URI}sakura-mail,DNS:sakura.example",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "extendedKeyUsage=serverAuth,clientAuth"))
    out = env.work / "liar.pem"
    r = sign(inst, "--partner", "tokei-lab", "--csr", req, "--out", out)
    eq(r.returncode, 0, f"exit status ({r.stderr.strip()})")
    cert = load(out)
    check_partner_cert(cert, "tokei-lab")
    eq([a.rfc4514_string() for a in cert.subject], ["CN=tokei-lab"], "the whole subject")
    who = whoami(d, out, key, "tokei-lab", "the other partner's request")
    check(who["partner"] != "sakura-mail", "never trusted as sakura-mail")


@case("sign: refusals write no certificate and no register row")
def _(env):
    inst = env.main.install
    before = register(inst)
    _, good = csr(env.work, "base", EC256, "/CN=x")
    raw = subprocess.run(["openssl", "req", "-in", str(good), "-outform", "DER"], capture_output=True,
                         check=True).stdout
    # the signature is the last field: flip a byte inside it
    bad = bytearray(raw)
    bad[-6] ^= 0x41
    (env.work / "badsig.der").write_bytes(bytes(bad))
    _, weak = csr(env.work, "weak", ("rsa:1024",), "/CN=x")
    (env.work / "notcsr.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    (env.work / "huge.csr").write_bytes(good.read_bytes() + b"\n" + b"x" * (70 * 1024))
    (env.work / "empty.csr").write_bytes(b"")
    cases = [
        ("badsig.der", "does not verify with the request's own key"),
        (weak.name, "RSA key of 1024 bits"),
        ("notcsr.pem", "not a certificate signing request"),
        ("huge.csr", "larger than 65536 bytes"),
        ("empty.csr", "empty"),
    ]
    for name, says in cases:
        out = env.work / f"refused-{name}.pem"
        r = sign(inst, "--partner", "sakura-mail", "--csr", env.work / name, "--out", out)
        refused(inst, r, before, out, says, name)
        check("nothing was issued" in r.stderr, f"{name}: says nothing was issued: {r.stderr!r}")
    # the default path too: nothing appears in pki/partners
    r = sign(inst, "--partner", "nobody-here", "--csr", weak)
    refused(inst, r, before, inst.dir / "pki" / "partners" / "nobody-here.pem", "1024", "default path")
    r = sign(inst, "--partner", "Not_An_Id", "--csr", good, "--out", env.work / "x.pem")
    refused(inst, r, before, env.work / "x.pem", "a partner id must match", "bad partner id")
    eq(r.returncode, 2, "a bad partner id is a usage error")


# ---------------------------------------------------------------------------------------------
# cert issue --server

@case("server certificate: --dns/--ip swapped into an installation; the handshake to 127.0.0.1 sees its SANs", background=True)
def _(env):
    inst = env.install()
    before = register(inst)
    prefix = inst.dir / "pki" / "server-2027"
    r = inst.pdgate("cert", "issue", "-c", inst.conf, "--server", "--dns", "gw.pdtest.example",
                    "api.pdtest.example", "--ip", "127.0.0.1", "--out", prefix)
    eq(r.returncode, 0, f"exit status ({r.stderr.strip()})")
    cert = load(f"{prefix}.pem")
    check(oct(os.stat(f"{prefix}.key").st_mode & 0o777) == "0o600", "the key has mode 0600")
    san = sans(cert)
    eq(san.get_values_for_type(x509.DNSName), ["gw.pdtest.example", "api.pdtest.example"], "DNS SANs")
    eq([str(i) for i in san.get_values_for_type(x509.IPAddress)], ["127.0.0.1"], "IP SANs")
    eq(list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value),
       [ExtendedKeyUsageOID.SERVER_AUTH], "serverAuth only")
    eq(cert.issuer, load(inst.server_ca).subject, "issued by the server CA")
    row = register(inst).get(serial_hex(cert))
    check(row is not None and row["kind"] == "server" and row["how"] == "issue",
          f"a server row in the register: {row}")
    eq(row["name"], "gw.pdtest.example,api.pdtest.example,127.0.0.1", "the row names the SANs")
    eq(set(register(inst)) - set(before), {serial_hex(cert)}, "one row")
    # swapped in: both listeners, then a restart
    for sec in ("partner", "compliance"):
        inst.set(sec, "cert", f"{prefix}.pem")
        inst.set(sec, "key", f"{prefix}.key")
    with pdtest.Daemon(inst) as d:
        for host, ok in (("127.0.0.1", True), ("gw.pdtest.example", True),
                         ("api.pdtest.example", True), ("localhost", False)):
            ctx = ssl.create_default_context(cafile=str(inst.server_ca))
            with socket.create_connection(("127.0.0.1", d.port), timeout=10) as raw:
                try:
                    with ctx.wrap_socket(raw, server_hostname=host) as s:
                        der = s.getpeercert(binary_form=True)
                        got = True
                except ssl.SSLCertVerificationError as e:
                    got, der = False, None
                    check("match" in str(e) or "mismatch" in str(e).lower(), f"{host}: {e}")
            eq(got, ok, f"handshake verifying {host}")
            if der:
                eq(x509.load_der_x509_certificate(der), cert, f"{host}: the new certificate is served")
        # the compliance listener too
        ctx = ssl.create_default_context(cafile=str(inst.server_ca))
        with socket.create_connection(("127.0.0.1", inst.compliance_port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                eq(x509.load_der_x509_certificate(s.getpeercert(binary_form=True)), cert,
                   "compliance listener")
        # and a partner request over it
        r = d.get(WHOAMI, cert=inst.pki.partner("sakura-mail"))
        pdtest.check_status(r, 200, "whoami over the new server certificate")
        # the next one put over the configured files and SIGHUP: new handshakes get it
        nxt = inst.dir / "pki" / "server-2028"
        r = inst.pdgate("cert", "issue", "-c", inst.conf, "--server", "--dns", "next.pdtest.example",
                        "--ip", "127.0.0.1", "--out", nxt)
        eq(r.returncode, 0, f"the next server certificate: {r.stderr.strip()}")
        os.replace(f"{nxt}.key", f"{prefix}.key")
        os.replace(f"{nxt}.pem", f"{prefix}.pem")
        logged = d.hup()
        check("reload" in logged.lower(), f"SIGHUP logged a reload: {logged[-300:]!r}")
        ctx = ssl.create_default_context(cafile=str(inst.server_ca))
        with socket.create_connection(("127.0.0.1", d.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="next.pdtest.example") as s:
                eq(x509.load_der_x509_certificate(s.getpeercert(binary_form=True)), load(f"{prefix}.pem"),
                   "after SIGHUP, the next certificate is served")
        d.term()


@case("server certificate: bad names, no --out, an existing file: refused, nothing written")
def _(env):
    inst = env.main.install
    before = register(inst)
    out = env.work / "srv-bad"
    for args, says in [
        (("--dns", "Gw.Example.org"), "lower case"),
        (("--dns", "*.example.org"), "wildcard"),
        (("--dns", "gw.example.org."), "dot"),
        (("--dns", "gw_1.example.org"), "a-z, 0-9"),
        (("--dns", "192.0.2.1"), "--ip"),
        (("--ip", "192.0.2.300"), "not an IPv4"),
        (("--ip", "0.0.0.0"), "unspecified"),
        (("--dns", "a.example", "a.example"), "twice"),
    ]:
        r = inst.pdgate("cert", "issue", "-c", inst.conf, "--server", *args, "--out", out)
        what = " ".join(args)
        check(r.returncode != 0, f"{what}: exit 0")
        check(says in r.stderr, f"{what}: stderr does not say {says!r}: {r.stderr.strip()!r}")
        check(not Path(f"{out}.pem").exists() and not Path(f"{out}.key").exists(), f"{what}: files written")
    r = inst.pdgate("cert", "issue", "-c", inst.conf, "--server", "--dns", "gw.example.org")
    check(r.returncode == 2 and "--out" in r.stderr, f"without --out: {r.returncode} {r.stderr.strip()!r}")
    live = inst.dir / "pki" / "server"
    old = Path(f"{live}.pem").read_bytes()
    r = inst.pdgate("cert", "issue", "-c", inst.conf, "--server", "--dns", "gw.example.org", "--out", live)
    check(r.returncode != 0 and "already exists" in r.stderr, f"over the live one: {r.stderr.strip()!r}")
    eq(Path(f"{live}.pem").read_bytes(), old, "the live certificate is untouched")
    eq(set(register(inst)), set(before), "no register rows")


# ---------------------------------------------------------------------------------------------
# PKCS#12

@case("p12: openssl pkcs12 and keytool open it; curl uses it for a request")
def _(env):
    d, inst = env.main, env.main.install
    pp = env.work / "p12-pass"
    pp.write_text("correct horse battery staple\n")
    os.chmod(pp, 0o600)
    p12 = env.work / "java-co.p12"
    prefix = env.work / "java-co"
    r = inst.pdgate("cert", "issue", "-c", inst.conf, "--partner", "sakura-mail", "--out", prefix,
                    "--p12", p12, "--passphrase-file", pp)
    eq(r.returncode, 0, f"exit status ({r.stderr.strip()})")
    eq(oct(os.stat(p12).st_mode & 0o777), "0o600", "the bundle's mode")
    cert = load(f"{prefix}.pem")
    info = openssl("pkcs12", "-in", p12, "-passin", f"file:{pp}", "-info", "-noout")
    text = info.stdout + info.stderr
    check("MAC: sha256" in text, f"SHA-256 MAC: {text!r}")
    check("AES-256-CBC" in text and "PBKDF2" in text, f"AES-256-CBC under PBKDF2: {text!r}")
    out = openssl("pkcs12", "-in", p12, "-passin", f"file:{pp}", "-nokeys", "-clcerts").stdout
    eq(x509.load_pem_x509_certificate(out.encode()), cert, "the bundle's certificate")
    keypem = openssl("pkcs12", "-in", p12, "-passin", f"file:{pp}", "-nocerts", "-nodes").stdout
    k = serialization.load_pem_private_key(keypem.encode(), None)
    eq(k.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
       cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
       "the bundle's key")
    wrong = env.work / "wrong-pass"
    wrong.write_text("not the passphrase\n")
    r2 = openssl("pkcs12", "-in", p12, "-passin", f"file:{wrong}", "-info", "-noout", check_rc=False)
    check(r2.returncode != 0, "a wrong passphrase does not open it")
    keytool = shutil.which("keytool")
    if keytool:
        k = subprocess.run([keytool, "-list", "-keystore", str(p12), "-storetype", "PKCS12",
                            f"-storepass:file", str(pp)], capture_output=True, text=True, timeout=120)
        eq(k.returncode, 0, f"keytool -list: {k.stdout.strip()[-300:]} {k.stderr.strip()[-300:]}")
        check("PrivateKeyEntry" in k.stdout and "sakura-mail" in k.stdout, f"keytool shows the key entry: {k.stdout!r}")
        fp = ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))
        check(fp in k.stdout, "keytool shows the certificate's SHA-256")
    else:
        print("SKIP keytool: Java is not installed here; openssl opened the bundle", flush=True)
    # a real request with the bundle
    c = subprocess.run(["curl", "-sS", "--cacert", str(inst.server_ca), "--cert-type", "P12",
                        "--cert", f"{p12}:correct horse battery staple",
                        f"https://127.0.0.1:{d.port}{WHOAMI}"], capture_output=True, text=True, timeout=60)
    eq(c.returncode, 0, f"curl with the bundle: {c.stderr.strip()}")
    eq(json.loads(c.stdout)["partner"], "sakura-mail", "whoami over the bundle")


@case("p12: a bad passphrase file, or a failure writing the bundle, leaves no files and no row")
def _(env):
    inst = env.main.install
    before = register(inst)
    pp = env.work / "pp-open"
    pp.write_text("correct horse battery staple\n")
    os.chmod(pp, 0o644)
    short = env.work / "pp-short"
    short.write_text("short\n")
    os.chmod(short, 0o600)
    prefix = env.work / "bundle-refused"
    for f, says in ((pp, "chmod 600"), (short, "8 to 1024"), (env.work / "pp-none", "No such file")):
        r = inst.pdgate("cert", "issue", "-c", inst.conf, "--partner", "sakura-mail", "--out", prefix,
                        "--p12", env.work / "refused.p12", "--passphrase-file", f)
        check(r.returncode != 0 and says in r.stderr, f"{f.name}: {r.returncode} {r.stderr.strip()!r}")
    os.chmod(pp, 0o600)
    # the certificate and key are written, then the bundle fails: all of it is undone
    r = inst.pdgate("cert", "issue", "-c", inst.conf, "--partner", "sakura-mail", "--out", prefix,
                    "--p12", env.work / "no-such-folder" / "x.p12", "--passphrase-file", pp)
    check(r.returncode != 0, "exit 0 although the bundle could not be written")
    for ext in (".pem", ".key"):
        check(not Path(f"{prefix}{ext}").exists(), f"{prefix}{ext} left behind")
    eq(set(register(inst)), set(before), "no register row after the failure")
    # the certificate file fails: no key left, no row
    r = inst.pdgate("cert", "issue", "-c", inst.conf, "--partner", "sakura-mail", "--out",
                    env.work / "no-such-folder" / "x")
    check(r.returncode != 0 and "No such file" in r.stderr, f"into a missing folder: {r.stderr.strip()!r}")
    eq(set(register(inst)), set(before), "no register row after that failure either")


# ---------------------------------------------------------------------------------------------
# cert list

def files_of(inst):
    """Every certificate pdgate init put in the installation: {sha256: (kind, name)}."""
    out = {}
    for kind, folder in (("partner", "partners"), ("staff", "staff")):
        for p in sorted((inst.dir / "pki" / folder).glob("*.pem")):
            c = load(p)
            out["sha256:" + c.fingerprint(hashes.SHA256()).hex()] = (kind, p.stem)
    c = load(inst.dir / "pki" / "server.pem")
    out["sha256:" + c.fingerprint(hashes.SHA256()).hex()] = ("server", "localhost,127.0.0.1,::1")
    return out


@case("list: a fresh installation lists what init issued; the table and --json agree")
def _(env):
    inst = env.install()
    want = files_of(inst)
    check(len(want) >= 5, f"init made certificates: {want}")
    rows = register(inst)
    eq({r["sha256"]: (r["kind"], r["name"]) for r in rows.values()}, want, "cert list --json")
    for r in rows.values():
        eq(r["revoked"], False, f"{r['name']} not revoked")
        check(r["not_before"] < r["not_after"], "times")
    t = inst.pdgate("cert", "list", "-c", inst.conf)
    eq(t.returncode, 0, f"cert list: {t.stderr.strip()}")
    lines = t.stdout.strip().splitlines()
    check(lines[0].split()[:4] == ["SERIAL", "KIND", "NAME", "SHA-256"], f"header {lines[0]!r}")
    eq(len(lines) - 1, len(rows), "one line per certificate")
    for line in lines[1:]:
        f = line.split()
        check(f[0] in rows and rows[f[0]]["sha256"] == f[3] and f[-1] == "no", f"line {line!r}")


@case("list: an installation made before the register gets it on first use, complete; revocation from the CRL", background=True)
def _(env):
    inst = env.install()
    # as an installation from before: a state database with the daemon's tables, no register
    with pdtest.Daemon(inst) as d:
        pdtest.check_status(d.get(WHOAMI, cert=inst.pki.partner("sakura-mail")), 200, "whoami")
        d.term()
    state = inst.dir / (inst.get("gateway", "state") or "state.db")
    db = sqlite3.connect(str(state))
    db.execute("DROP TABLE IF EXISTS certificates")
    db.commit()
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    check("certificates" not in tables and tables, f"a state database without the register: {tables}")
    want = files_of(inst)
    rows = register(inst)
    eq({r["sha256"]: (r["kind"], r["name"]) for r in rows.values()}, want,
       "made from pki/partners, pki/staff and the server certificate")
    for r in rows.values():
        eq((r["how"], r["issued_at"]), ("found", None), f"{r['name']}: found, not issued here")
    # a later issue adds to it; a revocation shows
    r = inst.pdgate("cert", "issue", "-c", inst.conf, "--partner", "late-comer")
    eq(r.returncode, 0, f"issue: {r.stderr.strip()}")
    victim = inst.dir / "pki" / "partners" / "sakura-mail.pem"
    r = inst.pdgate("cert", "revoke", "-c", inst.conf, victim)
    eq(r.returncode, 0, f"revoke: {r.stderr.strip()}")
    rows = register(inst)
    eq(len(rows), len(want) + 1, "one more row")
    by_name = {r["name"]: r for r in rows.values()}
    eq(by_name["late-comer"]["how"], "issue", "the new row")
    eq(by_name["sakura-mail"]["revoked"], True, "sakura-mail revoked")
    eq(by_name["shiken-proctor"]["revoked"], False, "shiken-proctor not")
    # a CRL that does not load: revocation unknown, and the command says so
    crl = inst.crl
    saved = crl.read_bytes()
    crl.write_text("not a CRL\n")
    r = inst.pdgate("cert", "list", "-c", inst.conf, "--json")
    check(r.returncode == 1 and "revocation unknown" in r.stderr, f"broken CRL: {r.returncode} {r.stderr!r}")
    partners = [c for c in json.loads(r.stdout)["certificates"] if c["kind"] == "partner"]
    check(partners and all(c["revoked"] is None for c in partners), "partner revocation null")
    crl.write_bytes(saved)


# ---------------------------------------------------------------------------------------------
# certificates_expiring

@case("summary: certificates_expiring names a --days 10 certificate and a CRL near nextUpdate", background=True)
def _(env):
    inst = env.install()
    r = inst.pdgate("cert", "issue", "-c", inst.conf, "--partner", "short-lived", "--days", "10")
    eq(r.returncode, 0, f"issue --days 10: {r.stderr.strip()}")
    short_fp = r.stdout.strip()
    r = inst.pdgate("cert", "issue", "-c", inst.conf, "--staff", "temp-auditor", "--days", "20")
    eq(r.returncode, 0, f"issue staff --days 20: {r.stderr.strip()}")
    r = inst.pdgate("cert", "issue", "-c", inst.conf, "--partner", "revoked-soon", "--days", "5")
    eq(r.returncode, 0, "issue revoked-soon")
    r = inst.pdgate("cert", "revoke", "-c", inst.conf, inst.dir / "pki" / "partners" / "revoked-soon.pem")
    eq(r.returncode, 0, f"revoke: {r.stderr.strip()}")
    r = inst.pdgate("cert", "crl", "-c", inst.conf, "--days", "3")
    eq(r.returncode, 0, f"cert crl --days 3: {r.stderr.strip()}")
    # the compliance listener on a server certificate that ends in 20 days
    srv = inst.dir / "pki" / "server-short"
    r = inst.pdgate("cert", "issue", "-c", inst.conf, "--server", "--dns", "localhost", "--ip",
                    "127.0.0.1", "--days", "20", "--out", srv)
    eq(r.returncode, 0, f"issue --server --days 20: {r.stderr.strip()}")
    srv_fp = r.stdout.strip()
    inst.set("compliance", "cert", f"{srv}.pem")
    inst.set("compliance", "key", f"{srv}.key")
    with pdtest.Daemon(inst) as d:
        d.hup()
        token = inst.pdgate("token", "issue", "-c", inst.conf, "--staff", "sato", "--role",
                            "auditor", "--ttl", "10m").stdout.strip()
        s = requests.get(f"https://127.0.0.1:{inst.compliance_port}/v1/supervision/summary",
                                      headers={"Authorization": f"Bearer {token}"},
                                      verify=str(inst.server_ca), timeout=30 * pdtest.SLOW)
        pdtest.check_status(s, 200, "summary")
        api = s.json()["certificates_expiring"]
        d.term()
    cli = inst.pdgate("report", "summary", "-c", inst.conf)
    eq(cli.returncode, 0, f"pdgate report summary: {cli.stderr.strip()}")
    offline = json.loads(cli.stdout)["certificates_expiring"]
    for got, where in ((api, "API"), (offline, "pdgate report summary")):
        by = {(c["kind"], c["name"]): c for c in got}
        short = by.get(("partner", "short-lived"))
        check(short is not None, f"{where}: short-lived listed: {got}")
        eq(short["sha256"], short_fp, f"{where}: its fingerprint")
        check(short["days_left"] in (9, 10), f"{where}: days_left {short['days_left']}")
        check(short["file"].endswith("pki/partners/short-lived.pem"), f"{where}: file {short['file']}")
        staff = by.get(("staff", "temp-auditor"))
        check(staff is not None and staff["days_left"] in (19, 20), f"{where}: the staff certificate: {staff}")
        crl = by.get(("crl", "partner"))
        check(crl is not None and crl["days_left"] in (2, 3) and crl["serial"] is None,
              f"{where}: the partner CRL due in 3 days: {crl}")
        check(("partner", "revoked-soon") not in by, f"{where}: a revoked certificate is not listed")
        check(("partner", "sakura-mail") not in by, f"{where}: a 397-day certificate is not listed")
        servers = [c for c in got if c["kind"] == "server"]
        eq([c["sha256"] for c in servers], [srv_fp],
           f"{where}: the compliance listener's 20-day server certificate, not the partner listener's 730-day one")
        check(servers[0]["days_left"] in (19, 20) and servers[0]["file"] == f"{srv}.pem",
              f"{where}: the server item: {servers[0]}")
        check(("crl", "staff") not in by, f"{where}: the staff CRL (30 days) is not listed")
        ends = [c["ends"] for c in got if c["ends"]]
        eq(ends, sorted(ends), f"{where}: soonest first")
        for c in got:
            eq(set(c), {"kind", "name", "serial", "sha256", "file", "ends", "days_left", "problem"},
               f"{where}: members of an item")


if __name__ == "__main__":
    pdtest.run(Env)
