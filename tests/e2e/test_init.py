#!/usr/bin/env python3
"""test_init — `pdgate init` and `pdgate cert` end to end: the files of SPEC section 4, their
modes, the certificates (checked with `openssl` and Python `cryptography`), issuing, revoking
and re-signing CRLs. Self-contained: needs only the pdgate binary ($PDGATE, default bin/pdgate)."""

import base64
import configparser
import datetime
import glob
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PDGATE = os.environ.get("PDGATE") or os.path.join(ROOT, "bin", "pdgate")
# pdgate init's default share folder: the parent of the folder holding the binary.
SHARE = os.path.dirname(os.path.dirname(os.path.realpath(PDGATE)))

passed = 0
failed = 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok - {what}")
    else:
        failed += 1
        print(f"FAIL {what}" + (f": {detail}" if detail else ""))
    return cond


def pdgate(*args, env=None):
    e = dict(os.environ)
    e.pop("PDGATE_SHARE", None)
    if env:
        e.update(env)
    return subprocess.run([PDGATE, *args], capture_output=True, text=True, env=e, timeout=600)


def openssl_verify(ca, cert, purpose="sslclient", crl=None):
    cmd = ["openssl", "verify", "-CAfile", ca, "-purpose", purpose]
    if crl:
        cmd += ["-crl_check", "-CRLfile", crl]
    p = subprocess.run(cmd + [cert], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def load_crl(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_crl(f.read())


def crl_number(crl):
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def utc(obj, name):
    """obj.<name>_utc (cryptography 42+), else the naive UTC obj.<name> (Debian 12 has 38)."""
    v = getattr(obj, name + "_utc", None)
    if v is None:
        v = getattr(obj, name).replace(tzinfo=datetime.timezone.utc)
    return v


def lifetime(cert):
    return utc(cert, "not_valid_after") - utc(cert, "not_valid_before")


def issued_by(cert, ca):
    """True if ca's key verifies cert's signature (verify_directly_issued_by needs 40+)."""
    try:
        ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                               ec.ECDSA(cert.signature_hash_algorithm))
        return cert.issuer == ca.subject
    except Exception:
        return False


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def ext(cert, cls):
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def write_share(base, contracts, policies=True):
    """A throwaway share folder: minimal catalogs and the given contracts {file: object}."""
    os.makedirs(base)
    if policies:
        os.makedirs(os.path.join(base, "policies"))
        for name in ("purposes.json", "fields.json"):
            with open(os.path.join(base, "policies", name), "w") as f:
                json.dump({"test": name}, f)
    if contracts is not None:
        d = os.path.join(base, "contracts", "examples")
        os.makedirs(d)
        for name, body in contracts.items():
            with open(os.path.join(d, name), "w") as f:
                f.write(body if isinstance(body, str) else json.dumps(body))
    return base


SPEC4 = [
    "pdgate.conf",
    "pki/partner-ca.pem", "pki/partner-ca.key", "pki/partner-ca.crl",
    "pki/staff-ca.pem", "pki/staff-ca.key", "pki/staff-ca.crl",
    "pki/server-ca.pem", "pki/server-ca.key",
    "pki/server.pem", "pki/server.key",
    "pki/staff/officer.pem", "pki/staff/officer.key",
    "keys/ledger.key", "keys/ledger.vkey", "keys/token.key", "keys/token.pub",
    "keys/pseudonym.key",
    "members.db", "policies/purposes.json", "policies/fields.json",
]

CONF_SHAPE = {
    "gateway": {"name": "demo", "state": "state.db"},
    "partner": {"listen": "127.0.0.1:8443", "cert": "pki/server.pem", "key": "pki/server.key",
                "client_ca": "pki/partner-ca.pem", "crl": "pki/partner-ca.crl",
                "max_connections": "1024"},
    "compliance": {"listen": "127.0.0.1:9443", "cert": "pki/server.pem",
                   "key": "pki/server.key", "staff_ca": "pki/staff-ca.pem",
                   "staff_crl": "pki/staff-ca.crl", "require_client_cert": "false",
                   "ui": "ui"},
    "origin": {"url": "sqlite:members.db", "timeout_ms": "2000",
               "max_record_bytes": "1048576"},
    "policy": {"purposes": "policies/purposes.json", "fields": "policies/fields.json",
               "contracts": "contracts"},
    "ledger": {"path": "ledger.db", "origin": "pdgate.local/demo", "key": "keys/ledger.key",
               "checkpoint_interval_ms": "1000"},
    "tokens": {"issuer": "pdgate.local/demo", "key": "keys/token.key"},
    "keys": {"pseudonym": "keys/pseudonym.key"},
    "status": {"listen": "127.0.0.1:9444"},
}


def repo_partners():
    ids = set()
    for path in glob.glob(os.path.join(SHARE, "contracts", "examples", "*.json")):
        with open(path) as f:
            ids.add(json.load(f)["partner"])
    return sorted(ids)


def test_demo_install(tmp):
    """init from the repository's own share folder, as `make run` does."""
    d = os.path.join(tmp, "demo")
    p = pdgate("init", d, "--members", "20")
    if not check(p.returncode == 0, "init DIR from the repository", p.stderr):
        return None
    partners = repo_partners()
    check(len(partners) > 0, "the repository has example contracts with partners")
    for rel in SPEC4:
        check(os.path.isfile(os.path.join(d, rel)), f"{rel} exists")
    for pid in partners:
        for ext_ in (".pem", ".key"):
            check(os.path.isfile(os.path.join(d, "pki", "partners", pid + ext_)),
                  f"pki/partners/{pid}{ext_} exists")
    got = sorted(os.path.basename(x)[:-4] for x in glob.glob(os.path.join(d, "pki/partners/*.pem")))
    check(got == partners, "one certificate per distinct partner of the example contracts",
          f"{got} != {partners}")
    examples = sorted(os.path.basename(x) for x in glob.glob(os.path.join(SHARE, "contracts/examples/*.json")))
    copied = sorted(os.path.basename(x) for x in glob.glob(os.path.join(d, "contracts/*.json")))
    check(examples == copied, "contracts/ holds copies of contracts/examples")
    for name in os.listdir(os.path.join(SHARE, "policies")):
        src = os.path.join(SHARE, "policies", name)
        if os.path.isfile(src) and not name.startswith("."):
            with open(src, "rb") as a, open(os.path.join(d, "policies", name), "rb") as b:
                check(a.read() == b.read(), f"policies/{name} copied byte for byte")
    ui_src = os.path.join(SHARE, "gateway", "ui")
    check(os.path.isdir(os.path.join(d, "ui")), "ui/ exists (the compliance console)")
    for name in (os.listdir(ui_src) if os.path.isdir(ui_src) else []):
        src = os.path.join(ui_src, name)
        if os.path.isfile(src) and not name.startswith("."):
            with open(src, "rb") as a, open(os.path.join(d, "ui", name), "rb") as b:
                check(a.read() == b.read(), f"ui/{name} copied byte for byte")
    check(mode(d) == 0o700, "DIR has mode 0700", oct(mode(d)))
    keys = [os.path.relpath(k, d) for k in glob.glob(os.path.join(d, "**", "*.key"), recursive=True)]
    check(len(keys) >= 10, "private keys found", str(keys))
    for k in keys:
        check(mode(os.path.join(d, k)) == 0o600, f"{k} mode 0600", oct(mode(os.path.join(d, k))))
    check(not glob.glob(d + ".tmp-*"), "no temporary folder left behind")
    check(not os.path.exists(os.path.join(d, "ledger.db")), "ledger.db is left to the first start")

    cp = configparser.ConfigParser(inline_comment_prefixes=None, comment_prefixes=(";", "#"))
    cp.read(os.path.join(d, "pdgate.conf"))
    check(sorted(cp.sections()) == sorted(CONF_SHAPE), "pdgate.conf sections", str(cp.sections()))
    for sec, kv in CONF_SHAPE.items():
        if sec in cp:
            check(dict(cp[sec]) == kv, f"pdgate.conf [{sec}] as in SPEC 8", str(dict(cp[sec])))
    paths = [("partner", "cert"), ("partner", "key"), ("partner", "client_ca"), ("partner", "crl"),
             ("compliance", "cert"), ("compliance", "key"), ("compliance", "staff_ca"),
             ("policy", "purposes"), ("policy", "fields"), ("policy", "contracts"),
             ("ledger", "key"), ("tokens", "key"), ("keys", "pseudonym")]
    for sec, key in paths:
        val = cp.get(sec, key, fallback="")
        check(val and not val.startswith("/") and os.path.exists(os.path.join(d, val)),
              f"{sec}.{key} = {val} is relative and exists")
    check(p.stdout.count("pki/partners/") >= len(partners) and "next:" in p.stdout,
          "init prints what it made and the next step", p.stdout[-400:])
    for pid in partners[:1]:
        fp = "sha256:" + hashlib.sha256(load_cert(os.path.join(d, "pki/partners", pid + ".pem"))
                                        .public_bytes(serialization.Encoding.DER)).hexdigest()
        check(fp in p.stdout, "init prints each partner's fingerprint")

    before = os.stat(os.path.join(d, "pdgate.conf")).st_mtime_ns
    p = pdgate("init", d, "--members", "5")
    check(p.returncode != 0 and "exists" in p.stderr, "init refuses an existing DIR", p.stderr)
    check(os.stat(os.path.join(d, "pdgate.conf")).st_mtime_ns == before, "existing DIR untouched")
    return d


def test_certificates(d):
    """The certificates init made, read with Python cryptography."""
    pki = os.path.join(d, "pki")
    pca = load_cert(os.path.join(pki, "partner-ca.pem"))
    sca = load_cert(os.path.join(pki, "staff-ca.pem"))
    vca = load_cert(os.path.join(pki, "server-ca.pem"))
    for name, ca in (("partner", pca), ("staff", sca), ("server", vca)):
        bc = ext(ca, x509.BasicConstraints)
        check(bc is not None and bc.critical and bc.value.ca and bc.value.path_length == 0,
              f"{name} CA: critical CA:true pathlen:0")
        ku = ext(ca, x509.KeyUsage)
        check(ku is not None and ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
              and not ku.value.digital_signature, f"{name} CA: keyCertSign + cRLSign")
        ski, aki = ext(ca, x509.SubjectKeyIdentifier), ext(ca, x509.AuthorityKeyIdentifier)
        check(ski is not None and aki is not None and ski.value.digest == aki.value.key_identifier,
              f"{name} CA: SKI and AKI")
        life = lifetime(ca)
        check(3650 <= life.days <= 3651, f"{name} CA lifetime 10 years", str(life))
        check(isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
              and ca.public_key().curve.name == "secp256r1", f"{name} CA key EC P-256")
        check(issued_by(ca, ca), f"{name} CA is self-signed")
    check(len({pca.subject, sca.subject, vca.subject}) == 3, "three distinct CAs")

    server = load_cert(os.path.join(pki, "server.pem"))
    check(issued_by(server, vca), "server certificate signed by the server CA")
    san = ext(server, x509.SubjectAlternativeName).value
    check(san.get_values_for_type(x509.DNSName) == ["localhost"], "server SAN DNS:localhost")
    ips = sorted(str(i) for i in san.get_values_for_type(x509.IPAddress))
    check(ips == ["127.0.0.1", "::1"], "server SAN IP:127.0.0.1 and IP:::1", str(ips))
    check(list(ext(server, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH],
          "server EKU serverAuth")
    life = lifetime(server)
    check(730 <= life.days <= 731, "server lifetime 2 years", str(life))

    partners = sorted(glob.glob(os.path.join(pki, "partners", "*.pem")))
    serials = set()
    for path in partners:
        pid = os.path.basename(path)[:-4]
        c = load_cert(path)
        check(issued_by(c, pca), f"{pid}: signed by the partner CA")
        check(not issued_by(c, sca), f"{pid}: not signed by the staff CA")
        uris = ext(c, x509.SubjectAlternativeName).value.get_values_for_type(
            x509.UniformResourceIdentifier)
        check(uris == [f"urn:pdgate:partner:{pid}"], f"{pid}: URI SAN", str(uris))
        cn = c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        check([a.value for a in cn] == [pid], f"{pid}: CN")
        check(list(ext(c, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH],
              f"{pid}: EKU clientAuth only")
        ku = ext(c, x509.KeyUsage)
        check(ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign,
              f"{pid}: keyUsage digitalSignature")
        check(not ext(c, x509.BasicConstraints).value.ca, f"{pid}: not a CA")
        check(ext(c, x509.AuthorityKeyIdentifier).value.key_identifier
              == ext(pca, x509.SubjectKeyIdentifier).value.digest, f"{pid}: AKI names the CA key")
        check(0 < c.serial_number < 2 ** 128 and c.serial_number.bit_length() > 64,
              f"{pid}: random 128-bit serial")
        serials.add(c.serial_number)
        life = lifetime(c)
        check(397 <= life.days <= 398, f"{pid}: lifetime 397 days", str(life))
        rc, out = openssl_verify(os.path.join(pki, "partner-ca.pem"), path, "sslclient",
                                 os.path.join(pki, "partner-ca.crl"))
        check(rc == 0, f"{pid}: openssl verify -purpose sslclient -crl_check", out)
        with open(path[:-4] + ".key", "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        check(key.public_key().public_numbers() == c.public_key().public_numbers(),
              f"{pid}: key matches the certificate")
    check(len(serials) == len(partners), "serials differ")

    staff = load_cert(os.path.join(pki, "staff", "officer.pem"))
    check(issued_by(staff, sca), "staff certificate signed by the staff CA")
    uris = ext(staff, x509.SubjectAlternativeName).value.get_values_for_type(
        x509.UniformResourceIdentifier)
    check(uris == ["urn:pdgate:staff:officer"], "staff URI SAN", str(uris))

    rc, out = openssl_verify(os.path.join(pki, "server-ca.pem"), os.path.join(pki, "server.pem"),
                             "sslclient")
    check(rc != 0, "the server certificate fails -purpose sslclient", out)
    rc, out = openssl_verify(os.path.join(pki, "server-ca.pem"), os.path.join(pki, "server.pem"),
                             "sslserver")
    check(rc == 0, "the server certificate passes -purpose sslserver", out)
    rc, out = openssl_verify(os.path.join(pki, "partner-ca.pem"),
                             os.path.join(pki, "staff", "officer.pem"))
    check(rc != 0, "the staff certificate does not chain to the partner CA", out)

    for name, ca in (("partner-ca", pca), ("staff-ca", sca)):
        crl = load_crl(os.path.join(pki, name + ".crl"))
        check(crl.is_signature_valid(ca.public_key()), f"{name}.crl signed by its CA")
        check(crl.issuer == ca.subject, f"{name}.crl issuer")
        check(crl_number(crl) == 1 and len(crl) == 0, f"{name}.crl number 1, empty")
        life = utc(crl, "next_update") - utc(crl, "last_update")
        check(life == datetime.timedelta(days=30), f"{name}.crl nextUpdate 30 days", str(life))
        check(crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
              .key_identifier == ext(ca, x509.SubjectKeyIdentifier).value.digest,
              f"{name}.crl AKI")


def test_keys(d):
    with open(os.path.join(d, "keys", "ledger.key"), "rb") as f:
        data = f.read()
    check(data.startswith(b"-----BEGIN PRIVATE KEY-----"), "ledger.key is PKCS#8 PEM")
    led = serialization.load_pem_private_key(data, None)
    check(isinstance(led, ed25519.Ed25519PrivateKey), "ledger.key is Ed25519")
    with open(os.path.join(d, "keys", "ledger.vkey")) as f:
        vkey = f.read()
    check(vkey.endswith("\n") and vkey.count("\n") == 1, "ledger.vkey is one line")
    m = re.fullmatch(r"([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)\n", vkey)
    if check(m is not None, "vkey format name+keyid+base64", vkey):
        name, keyid, b64 = m.groups()
        pub = led.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        check(name == "pdgate.local/demo", "vkey name is the ledger origin")
        check(base64.b64decode(b64) == b"\x01" + pub, "vkey key is 0x01 || public key")
        want = hashlib.sha256(name.encode() + b"\n" + b"\x01" + pub).digest()[:4].hex()
        check(keyid == want, "vkey key id = SHA-256(name \\n 0x01 key)[:4]", f"{keyid} != {want}")
    with open(os.path.join(d, "keys", "token.key"), "rb") as f:
        tok = serialization.load_pem_private_key(f.read(), None)
    check(isinstance(tok, ec.EllipticCurvePrivateKey) and tok.curve.name == "secp256r1",
          "token.key is EC P-256")
    with open(os.path.join(d, "keys", "token.pub"), "rb") as f:
        pub = serialization.load_pem_public_key(f.read())
    check(pub.public_numbers() == tok.public_key().public_numbers(), "token.pub matches token.key")
    with open(os.path.join(d, "keys", "pseudonym.key")) as f:
        check(re.fullmatch(r"[0-9a-f]{64}\n", f.read()) is not None,
              "pseudonym.key is 64 hex digits and a newline")


def foreign_cert(tmp):
    """A client certificate from a CA that is not the installation's."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pdgate demo partner CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    leaf = (x509.CertificateBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sakura-mail")]))
        .issuer_name(name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(
            [x509.UniformResourceIdentifier("urn:pdgate:partner:sakura-mail")]), False)
        .sign(key, hashes.SHA256()))
    path = os.path.join(tmp, "foreign.pem")
    with open(path, "wb") as f:
        f.write(leaf.public_bytes(serialization.Encoding.PEM))
    return path


def test_cert_commands(d, tmp):
    conf = os.path.join(d, "pdgate.conf")
    pki = os.path.join(d, "pki")
    pca_pem, crl = os.path.join(pki, "partner-ca.pem"), os.path.join(pki, "partner-ca.crl")

    for args in (["init"], ["cert"], ["cert", "issue"], ["cert", "revoke"], ["cert", "crl"]):
        p = pdgate(*args, "--help")
        check(p.returncode == 0 and "usage" in p.stdout, f"{' '.join(args)} --help")

    p = pdgate("cert", "issue", "-c", conf, "--partner", "newco")
    ok = check(p.returncode == 0, "cert issue --partner newco", p.stderr)
    newco = os.path.join(pki, "partners", "newco.pem")
    if ok:
        der = load_cert(newco).public_bytes(serialization.Encoding.DER)
        check(p.stdout.strip() == "sha256:" + hashlib.sha256(der).hexdigest(),
              "cert issue prints sha256:<hex of SHA-256 of the DER>", p.stdout)
        check(mode(os.path.join(pki, "partners", "newco.key")) == 0o600, "issued key mode 0600")
        rc, out = openssl_verify(pca_pem, newco, "sslclient")
        check(rc == 0, "openssl verify -CAfile partner-ca.pem -purpose sslclient OK", out)
        rc, out = openssl_verify(pca_pem, newco, "sslclient", crl)
        check(rc == 0, "and with the CRL", out)
    p = pdgate("cert", "issue", "-c", conf, "--partner", "newco")
    check(p.returncode != 0 and "exists" in p.stderr, "cert issue never overwrites", p.stderr)
    for bad in ("NewCo", "-x", "a_b", "a" * 64, "", "a,URI:urn:pdgate:partner:x"):
        p = pdgate("cert", "issue", "-c", conf, "--partner", bad)
        check(p.returncode == 2, f"invalid partner id {bad!r} refused", p.stderr)
    p = pdgate("cert", "issue", "-c", conf, "--partner", "x", "--staff", "y")
    check(p.returncode == 2, "--partner and --staff together refused")
    for days in ("0", "-1", "abc", "99999"):
        p = pdgate("cert", "issue", "-c", conf, "--partner", "dayco", "--days", days)
        check(p.returncode == 2, f"--days {days} refused")
    p = pdgate("cert", "issue", "--partner", "noconf")
    check(p.returncode == 2, "cert issue without -c refused")

    p = pdgate("cert", "issue", "-c", conf, "--partner", "shortco", "--days", "7",
               "--out", os.path.join(tmp, "shortco"))
    if check(p.returncode == 0, "cert issue --days 7 --out PREFIX", p.stderr):
        c = load_cert(os.path.join(tmp, "shortco.pem"))
        life = lifetime(c)
        check(7 <= life.days <= 8, "--days 7 lifetime", str(life))
        check(mode(os.path.join(tmp, "shortco.key")) == 0o600, "--out key mode 0600")
    p = pdgate("cert", "issue", "-c", conf, "--staff", "auditor1")
    auditor = os.path.join(pki, "staff", "auditor1.pem")
    if check(p.returncode == 0, "cert issue --staff auditor1", p.stderr):
        rc, out = openssl_verify(os.path.join(pki, "staff-ca.pem"), auditor, "sslclient")
        check(rc == 0, "staff certificate verifies against the staff CA", out)
        uris = ext(load_cert(auditor), x509.SubjectAlternativeName).value \
            .get_values_for_type(x509.UniformResourceIdentifier)
        check(uris == ["urn:pdgate:staff:auditor1"], "staff URI SAN", str(uris))

    # Revocation.
    p = pdgate("cert", "revoke", "-c", conf, newco)
    check(p.returncode == 0 and "SIGHUP" in p.stdout, "cert revoke says to send SIGHUP",
          p.stdout + p.stderr)
    rc, out = openssl_verify(pca_pem, newco, "sslclient", crl)
    check(rc != 0 and "revoked" in out, "openssl verify -crl_check fails after revoke", out)
    others = [x for x in glob.glob(os.path.join(pki, "partners", "*.pem")) if x != newco]
    rc, out = openssl_verify(pca_pem, others[0], "sslclient", crl)
    check(rc == 0, "other partners still verify", out)
    pca = load_cert(pca_pem)
    c = load_crl(crl)
    check(c.is_signature_valid(pca.public_key()) and crl_number(c) == 2 and len(c) == 1,
          "CRL re-signed, number 2, one entry")
    check(mode(crl) == 0o644, "CRL mode 0644", oct(mode(crl)))
    r = c.get_revoked_certificate_by_serial_number(load_cert(newco).serial_number)
    check(r is not None and abs((utc(r, "revocation_date") - datetime.datetime.now(
        datetime.timezone.utc)).total_seconds()) < 120, "entry dated now")

    second = others[0]
    p = pdgate("cert", "revoke", "-c", conf, second)
    c = load_crl(crl)
    check(p.returncode == 0 and crl_number(c) == 3 and len(c) == 2
          and c.get_revoked_certificate_by_serial_number(load_cert(newco).serial_number)
          and c.get_revoked_certificate_by_serial_number(load_cert(second).serial_number),
          "a second revocation keeps the first", p.stderr)
    p = pdgate("cert", "revoke", "-c", conf, newco)
    check(p.returncode == 0 and "already" in p.stdout and crl_number(load_crl(crl)) == 3,
          "revoking twice changes nothing", p.stdout + p.stderr)

    with open(crl, "rb") as f:
        crl_before = f.read()
    for what, path in (("a certificate from another CA", foreign_cert(tmp)),
                       ("the server certificate", os.path.join(pki, "server.pem")),
                       ("the partner CA itself", pca_pem)):
        p = pdgate("cert", "revoke", "-c", conf, path)
        check(p.returncode != 0, f"revoke refuses {what}", p.stdout + p.stderr)
    with open(crl, "rb") as f:
        check(f.read() == crl_before, "refused revocations leave the CRL alone")
    p = pdgate("cert", "revoke", "-c", conf, os.path.join(tmp, "missing.pem"))
    check(p.returncode != 0, "revoke of a missing file refused")

    p = pdgate("cert", "revoke", "-c", conf, auditor)
    scrl = load_crl(os.path.join(pki, "staff-ca.crl"))
    check(p.returncode == 0 and len(scrl) == 1 and crl_number(scrl) == 2 and len(load_crl(crl)) == 2,
          "a staff certificate goes on the staff CRL only", p.stderr)
    rc, out = openssl_verify(os.path.join(pki, "staff-ca.pem"), auditor, "sslclient",
                             os.path.join(pki, "staff-ca.crl"))
    check(rc != 0 and "revoked" in out, "revoked staff certificate fails openssl verify", out)

    # Concurrent revocations: none may be lost.
    names = [f"batch{i}" for i in range(6)]
    for n in names:
        pdgate("cert", "issue", "-c", conf, "--partner", n)
    results = {}

    def revoke(n):
        results[n] = pdgate("cert", "revoke", "-c", conf, os.path.join(pki, "partners", n + ".pem"))
    threads = [threading.Thread(target=revoke, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c = load_crl(crl)
    check(all(r.returncode == 0 for r in results.values()), "concurrent revocations succeed")
    check(len(c) == 2 + len(names) and crl_number(c) == 3 + len(names),
          "concurrent revocations: every entry kept, one CRL number each",
          f"{len(c)} entries, number {crl_number(c)}")

    # Re-publishing.
    p = pdgate("cert", "crl", "-c", conf, "--days", "2")
    c2 = load_crl(crl)
    check(p.returncode == 0 and crl_number(c2) == crl_number(c) + 1 and len(c2) == len(c)
          and utc(c2, "next_update") - utc(c2, "last_update") == datetime.timedelta(days=2)
          and "SIGHUP" in p.stdout, "cert crl --days 2 re-signs with every entry", p.stderr)
    p = pdgate("cert", "crl", "-c", conf, "--staff")
    s2 = load_crl(os.path.join(pki, "staff-ca.crl"))
    check(p.returncode == 0 and crl_number(s2) == 3 and len(s2) == 1, "cert crl --staff", p.stderr)

    # A CA key that others can read is refused.
    os.chmod(os.path.join(pki, "partner-ca.key"), 0o644)
    p = pdgate("cert", "crl", "-c", conf)
    check(p.returncode != 0 and "mode" in (p.stdout + p.stderr),
          "a CA key readable by others is refused", p.stderr)
    os.chmod(os.path.join(pki, "partner-ca.key"), 0o600)


def test_share_rules(tmp):
    contracts = {
        "CT-1.json": {"id": "CT-1", "partner": "alpha-co"},
        "CT-2.json": {"id": "CT-2", "partner": "beta"},
        "CT-3.json": {"id": "CT-3", "partner": "alpha-co"},
        "README.md": "not a contract",
    }
    share = write_share(os.path.join(tmp, "share-ok"), contracts)
    d = os.path.join(tmp, "nested", "deeper", "inst")
    p = pdgate("init", d, "--members", "3", "--share", share)
    if check(p.returncode == 0, "init --share DIR, creating missing parents", p.stderr):
        got = sorted(os.listdir(os.path.join(d, "pki", "partners")))
        check(got == ["alpha-co.key", "alpha-co.pem", "beta.key", "beta.pem"],
              "distinct partners only", str(got))
        check(sorted(os.listdir(os.path.join(d, "contracts"))) == ["CT-1.json", "CT-2.json",
                                                                  "CT-3.json"],
              "only *.json contracts copied")
    d2 = os.path.join(tmp, "viaenv")
    p = pdgate("init", d2, "--members", "3", env={"PDGATE_SHARE": share})
    check(p.returncode == 0 and os.path.isfile(os.path.join(d2, "pki/partners/beta.pem")),
          "PDGATE_SHARE is honoured", p.stderr)
    d3 = os.path.join(tmp, "named")
    p = pdgate("init", d3, "--members", "3", "--share", share, "--name", "test-1")
    if check(p.returncode == 0, "init --name", p.stderr):
        with open(os.path.join(d3, "keys", "ledger.vkey")) as f:
            check(f.read().startswith("pdgate.local/test-1+"), "--name sets the ledger origin")

    empty = os.path.join(tmp, "empty")
    os.mkdir(empty)
    p = pdgate("init", empty, "--share", share)
    check(p.returncode != 0 and os.listdir(empty) == [], "an existing empty DIR is refused too")

    cases = [
        ("no contracts/examples", write_share(os.path.join(tmp, "s1"), None), "contracts/examples"),
        ("no policies", write_share(os.path.join(tmp, "s2"), contracts, policies=False), "policies"),
        ("no contract files", write_share(os.path.join(tmp, "s3"), {}), "no contract"),
        ("a contract without partner", write_share(os.path.join(tmp, "s4"), {"a.json": {"id": "x"}}),
         "partner"),
        ("an invalid partner id", write_share(os.path.join(tmp, "s5"), {"a.json": {"partner": "Bad Id"}}),
         "partner"),
        ("duplicate JSON members", write_share(os.path.join(tmp, "s6"),
                                               {"a.json": '{"partner":"a","partner":"b"}'}), "a.json"),
        ("malformed JSON", write_share(os.path.join(tmp, "s7"), {"a.json": '{"partner":'}), "a.json"),
    ]
    for i, (what, sh, word) in enumerate(cases):
        target = os.path.join(tmp, f"fail{i}", "inst")
        p = pdgate("init", target, "--members", "3", "--share", sh)
        check(p.returncode != 0 and word in p.stderr, f"init fails with a clear message: {what}",
              p.stderr)
        check(not os.path.exists(target) and not os.path.exists(os.path.dirname(target)),
              f"nothing left behind: {what}")

    # A failure halfway (an unreadable catalog) removes the partly built installation.
    sh = write_share(os.path.join(tmp, "s8"), contracts)
    os.mkfifo(os.path.join(sh, "policies", "zz-fifo"))
    target = os.path.join(tmp, "halfway")
    p = pdgate("init", target, "--members", "3", "--share", sh)
    check(p.returncode != 0 and not os.path.exists(target) and not glob.glob(target + ".tmp-*"),
          "a failure while building leaves no DIR and no temporary folder", p.stderr)

    for args in (["init"], ["init", "a", "b"], ["init", "x", "--members", "lots"],
                 ["init", "x", "--name", "Bad"], ["init", "x", "--bogus"]):
        p = pdgate(*args)
        check(p.returncode == 2, f"usage error: {' '.join(args)}", p.stderr)


def main():
    if not os.access(PDGATE, os.X_OK):
        print(f"FAIL no pdgate binary at {PDGATE}")
        print("0 passed, 1 failed")
        return 1
    tmp = tempfile.mkdtemp(prefix="pdgate-test-init.")
    try:
        d = test_demo_install(tmp)
        if d is not None:
            test_certificates(d)
            test_keys(d)
            test_cert_commands(d, tmp)
        test_share_rules(tmp)
    except Exception as e:  # a crash is a failure, never a silent pass
        import traceback
        traceback.print_exc()
        check(False, f"unexpected exception {e!r}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
