#!/usr/bin/env python3
"""Work orders at the partner API (issue 5; SPEC 9.1 step 5 and 10), end to end.

Starts the real `pdgate serve` on a fresh installation and sends it tokens made two ways: by
`pdgate token issue`, and by hand here, with hand-built base64url segments signed ES256 (raw
R || S) by the installation's own keys/token.key — so that a refusal is the rule under test and
never a forging mistake of the test. Every family of bad tokens is sent beside its control: the
same construction without the defect, which must be served.

Each refusal is checked for its status and code, a JSON body {error, message, request_id} and
nothing else, no member data, a message that does not quote the token, and exactly one deny
entry in the ledger with that reason. Each release is checked against its ledger entry, whose
`token` member is the work order's jti.

Daemons: `main` (most cases, run in order), and in a background thread `relaxed`, an
installation whose mailing-house contract says `"token_binding": "optional"` and whose joint-use
contract does not require work orders at all.
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import pdtest
from pdtest import case, check, check_error, check_status, eq

GOOD = "sakura-mail"        # the demo mailing house
CONTRACT = "CT-2026-0001"   # its contract: token_required, token_binding required
PURPOSE = "contact"         # a purpose of that contract with no consent rule
OTHER = "maison-partners"   # another demo partner
OTHER_CONTRACT = "CT-2026-0003"
DAY = 86400
DROP = object()             # in claims(...)/header(...): leave the member out


# ---------------------------------------------------------------------------------------------
# Tokens by hand.

def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def seg(x):
    """A base64url segment of a dict (compact JSON), a str (raw JSON text, to write duplicates
    or number literals that json.dumps would not) or bytes (as they are)."""
    if isinstance(x, dict):
        x = json.dumps(x, separators=(",", ":"), ensure_ascii=False)
    if isinstance(x, str):
        x = x.encode()
    return b64u(x)


def es256(key, data):
    """An ES256 JWS signature: R || S, 32 bytes each (RFC 7518 3.4), not DER."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def compact(header, payload, key=None, sig=None):
    """header.payload.signature. sig: None (ES256 with key), a callable of the signing input,
    or the signature bytes themselves."""
    si = f"{seg(header)}.{seg(payload)}"
    if sig is None:
        sig = es256(key, si.encode())
    elif callable(sig):
        sig = sig(si.encode())
    return f"{si}.{b64u(sig)}"


def jti_of(token):
    """The jti of a compact token's payload (none if it has none)."""
    p = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))).get("jti")


def thumbprint(cert):
    """cnf.x5t#S256 of a certificate: base64url SHA-256 of its DER (RFC 8705 3.1)."""
    return b64u(hashlib.sha256(cert.der).digest())


# ---------------------------------------------------------------------------------------------
# The suite's shared state.

class Env(pdtest.Env):
    def __init__(self):
        super().__init__()
        self.sent = []           # every token sent to `main`, for the log check at the end
        self.sent_lock = threading.Lock()

    @pdtest.fixture
    def inst(self):
        return self.install()

    @pdtest.fixture
    def main(self):
        return self.daemon(self.inst)

    @pdtest.fixture
    def key(self):
        """The installation's token signing key, as pdgate init wrote it."""
        return serialization.load_pem_private_key((self.inst.dir / self.inst.get("tokens", "key")).read_bytes(), None)

    @pdtest.fixture
    def members(self):
        """{member_id: record} of the main installation's members that the contact purpose
        releases, in member_id order."""
        out = {m: r for m, r in member_records(self.inst).items() if not r.get("restrictions", {}).get("stop_use")}
        check(len(out) >= 4, f"only {len(out)} demo members without stop_use")
        return out

    @property
    def member(self):
        """The member the single-record cases ask for."""
        return next(iter(self.members))

    def claims(self, cert=None, **changes):
        """A work order's claims for the demo mailing house, bound to cert (default its demo
        certificate); changes replace members, DROP removes one."""
        now = int(time.time())
        c = {"iss": self.inst.get("tokens", "issuer"), "aud": "pdgate-partner", "sub": GOOD,
             "iat": now, "exp": now + 3600, "jti": secrets.token_urlsafe(16),
             "contract": CONTRACT, "purpose": PURPOSE,
             "cnf": {"x5t#S256": thumbprint(cert or self.inst.pki.partner(GOOD))}}
        for k, v in changes.items():
            if v is DROP:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    def token(self, header=None, key=None, **changes):
        """A work order signed ES256 with the installation's key (or key)."""
        return compact(header or {"alg": "ES256", "typ": "JWT"}, self.claims(**changes), key or self.key)

    def issue(self, *args):
        """`pdgate token issue -c CONF args...`: the token it prints."""
        r = self.inst.pdgate("token", "issue", "-c", self.inst.conf, *args)
        eq(r.returncode, 0, f"pdgate token issue {' '.join(map(str, args))} (stderr {r.stderr.strip()[-300:]!r})")
        t = r.stdout.strip()
        check(re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", t),
              f"pdgate token issue printed {r.stdout[:200]!r}, not one compact token")
        return t

    def work_order(self, *extra, purpose=PURPOSE, cert=True):
        args = ["--contract", CONTRACT, "--purpose", purpose, "--ttl", "1h"]
        if cert:
            args += ["--cert", self.inst.pki.partner(GOOD).pem]
        return self.issue(*args, *extra)


# ---------------------------------------------------------------------------------------------
# Requests and what every answer must show.

def send(env, token, cert=None, path=None, headers=None, d=None, auth=None):
    """GET path (default one member) on d (default main) with cert (default the mailing house's
    demo certificate) and the token as a bearer (none if token is None; auth overrides the
    whole Authorization value)."""
    d = d or env.main
    h = dict(headers or {})
    if auth is not None:
        h["Authorization"] = auth
    elif token is not None:
        h["Authorization"] = f"Bearer {token}"
        if d is env.main:
            with env.sent_lock:
                env.sent.append(token)
    return d.get(path or f"/v1/members/{env.member}", cert=cert or d.install.pki.partner(GOOD), headers=h)


def ledger(inst):
    """Every ledger leaf, parsed, in index order."""
    db = sqlite3.connect(str(inst.dir / (inst.get("ledger", "path") or "ledger.db")), timeout=10)
    try:
        rows = db.execute("SELECT idx, leaf FROM entries ORDER BY idx").fetchall()
    finally:
        db.close()
    out = []
    for idx, leaf in rows:
        e = json.loads(leaf)
        eq(e.get("index"), idx, "a leaf's index against its row")
        out.append(e)
    return out


def entries_of(inst, r):
    """The ledger entries of the request that r answers."""
    rid = r.headers.get("X-Request-Id")
    check(rid, f"answer {r.status_code} has no X-Request-Id")
    return [e for e in ledger(inst) if e.get("request") == rid]


def member_records(inst):
    """{member_id: record} of every member in an installation's origin database."""
    db = sqlite3.connect(str(inst.dir / "members.db"))
    try:
        rows = db.execute("SELECT member_id, record FROM members ORDER BY member_id").fetchall()
    finally:
        db.close()
    return {m: json.loads(r) for m, r in rows}


def member_values(rec):
    """Values of a member record that must never appear in a refusal."""
    vals = [rec.get("name", {}).get("family"), rec.get("name", {}).get("given"), rec.get("email"),
            rec.get("phone"), rec.get("address", {}).get("street"), rec.get("my_number"),
            rec.get("member_id")]
    return [v for v in vals if isinstance(v, str) and len(v) >= 2]


def no_member_data(env, r, what, inst=None):
    text = r.text
    for rec in member_records(inst or env.inst).values():
        for v in member_values(rec):
            check(v not in text, f"{what}: the answer holds member data {v!r}: {text[:300]!r}")


def refused(env, r, status, code, token=None, rule=None, what="", jti=None, d=None):
    """Checks a refusal: status and code, an error body of exactly {error, message, request_id},
    no member data, a message that says the rule (regex) and never quotes the token, and one deny
    entry in the ledger with this reason, the token's jti (jti=) or null, and nothing released."""
    d = d or env.main
    body = check_error(r, status, code, what)
    eq(sorted(body), ["error", "message", "request_id"], f"{what}: members of the error body")
    no_member_data(env, r, what, d.install)
    msg = body["message"]
    if token:
        parts = [token] + [p for p in token.split(".") if len(p) >= 8]
        for p in parts:
            check(p not in r.text, f"{what}: the answer quotes the token: {msg!r}")
            for k, v in r.headers.items():
                check(p not in v, f"{what}: header {k} quotes the token")
    if rule:
        check(re.search(rule, msg, re.I), f"{what}: message {msg!r} does not name the rule /{rule}/")
    es = entries_of(d.install, r)
    eq(len(es), 1, f"{what}: ledger entries of the refused request")
    e = es[0]
    eq(e.get("kind"), "deny", f"{what}: ledger kind")
    eq(e.get("reason"), code, f"{what}: ledger reason")
    eq(e.get("token"), jti, f"{what}: ledger token")
    check(e.get("digest") is None and not e.get("items"), f"{what}: a deny entry with released items: {e!r}")
    eq(str(e.get("index")), r.headers.get("X-Ledger-Index"), f"{what}: X-Ledger-Index against the entry")
    return body


def served(env, r, token, what="", d=None):
    """Checks a release of one member: 200, the member's own record (as the contract shapes it),
    and one release entry carrying the token's jti."""
    d = d or env.main
    check_status(r, 200, what)
    pdtest.check_no_store(r, what)
    rec = env.members[env.member]
    body = r.json()
    eq(body.get("name", {}).get("family"), rec["name"]["family"], f"{what}: name.family released")
    check(not {"phone", "my_number", "birth_date", "consents"} & set(body),
          f"{what}: more than the contract allows: {sorted(body)}")
    check(body.get("member_id") != rec["member_id"], f"{what}: member_id released unpseudonymised")
    es = entries_of(d.install, r)
    eq(len(es), 1, f"{what}: ledger entries of the request")
    e = es[0]
    eq(e.get("kind"), "release", f"{what}: ledger kind")
    eq(e.get("token"), jti_of(token), f"{what}: ledger token (the jti)")
    eq(e.get("contract"), CONTRACT, f"{what}: ledger contract")
    eq(e.get("purpose"), PURPOSE, f"{what}: ledger purpose")
    eq(e.get("reason"), None, f"{what}: ledger reason")
    eq(str(e.get("index")), r.headers.get("X-Ledger-Index"), f"{what}: X-Ledger-Index against the entry")
    return body


def ok(env, token, what, **kw):
    return served(env, send(env, token, **kw), token, what, d=kw.get("d"))


def bad(env, token, rule=None, what="", status=401, code="token_invalid", jti=None, **kw):
    return refused(env, send(env, token, **kw), status, code, token, rule, what, jti)


# ---------------------------------------------------------------------------------------------
# Background: the contract variants, on a daemon of their own.

@case("token_binding optional: unbound 200, bound here 200, bound elsewhere 401; a contract "
      "without token_required serves without one", background=True)
def relaxed(env):
    inst = env.install()
    cpath = inst.dir / "contracts" / f"{CONTRACT}.json"
    c = json.loads(cpath.read_text())
    c["token_binding"] = "optional"
    cpath.write_text(json.dumps(c, ensure_ascii=False, indent=2))
    opath = inst.dir / "contracts" / f"{OTHER_CONTRACT}.json"
    o = json.loads(opath.read_text())
    o["token_required"] = False
    opath.write_text(json.dumps(o, ensure_ascii=False, indent=2))
    d = env.daemon(inst)
    key = serialization.load_pem_private_key((inst.dir / inst.get("tokens", "key")).read_bytes(), None)
    mine = inst.pki.partner(GOOD)
    twin = inst.pki.issue("relaxed-twin", partner=GOOD)
    now = int(time.time())

    def tok(cnf):
        c = {"iss": inst.get("tokens", "issuer"), "aud": "pdgate-partner", "sub": GOOD, "iat": now,
             "exp": now + 600, "jti": secrets.token_urlsafe(16), "contract": CONTRACT, "purpose": PURPOSE}
        if cnf is not None:
            c["cnf"] = {"x5t#S256": thumbprint(cnf)}
        return compact({"alg": "ES256", "typ": "JWT"}, c, key)

    mid = next(m for m, r in member_records(inst).items() if not r.get("restrictions", {}).get("stop_use"))
    for what, t, cert in (("unbound", tok(None), mine), ("bound to this certificate", tok(mine), mine),
                          ("unbound, from a second certificate of the partner", tok(None), twin)):
        r = send(env, t, cert=cert, d=d, path=f"/v1/members/{mid}")
        check_status(r, 200, f"optional binding, {what}")
        eq(r.json().get("name", {}).get("family"), member_records(inst)[mid]["name"]["family"],
           f"optional binding, {what}: name.family")
        es = entries_of(inst, r)
        eq([(e.get("kind"), e.get("token")) for e in es], [("release", jti_of(t))],
           f"optional binding, {what}: ledger")
    t = tok(twin)
    r = send(env, t, cert=mine, d=d, path=f"/v1/members/{mid}")
    refused(env, r, 401, "token_invalid", t, r"cnf", "optional binding, bound to another certificate",
            jti=jti_of(t), d=d)
    r = send(env, None, cert=mine, d=d, path=f"/v1/members/{mid}", headers={"X-Purpose": PURPOSE})
    refused(env, r, 401, "token_required", None, None, "optional binding still requires a token", d=d)
    # The joint-use partner's contract does not ask for work orders: X-Purpose decides alone.
    r = d.get("/v1/members?limit=3", cert=inst.pki.partner(OTHER), headers={"X-Purpose": "service_delivery"})
    check_status(r, 200, "token_required false, no token")
    es = entries_of(inst, r)
    check(es and all(e.get("token") is None for e in es), f"entries without a token carry one: {es!r}")
    eq({e.get("contract") for e in es}, {OTHER_CONTRACT}, "contract of the entries")


# ---------------------------------------------------------------------------------------------
# Controls: a token made here is accepted, so that every refusal below is the rule's.

@case("a work order from pdgate token issue, bound to the certificate: 200, its jti in the ledger")
def issued_ok(env):
    t = env.work_order()
    ok(env, t, "issued, bound work order")
    # the token's own claims are as the SPEC lists them
    p = t.split(".")[1]
    c = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    eq(sorted(c), sorted(["iss", "aud", "sub", "iat", "exp", "jti", "contract", "purpose", "cnf"]), "claims issued")
    eq(c["cnf"], {"x5t#S256": thumbprint(env.inst.pki.partner(GOOD))}, "cnf of the issued token")
    # the token decides the purpose; X-Purpose that agrees is fine; whoami needs no token
    ok(env, t, "with an agreeing X-Purpose", headers={"X-Purpose": PURPOSE})
    ok(env, t, "with an agreeing X-Contract", headers={"X-Contract": CONTRACT})
    check_status(env.main.get("/v1/whoami", cert=env.inst.pki.partner(GOOD)), 200, "whoami without a token")


@case("a work order made here with the installation's key: 200 (the control of every case below)")
def crafted_ok(env):
    ok(env, env.token(), "crafted work order")
    ok(env, env.token(header={"alg": "ES256"}), "without typ")
    ok(env, env.token(header={"alg": "ES256", "typ": "JWT", "kid": "token-2026.1"}), "with a short kid")
    now = int(time.time())
    ok(env, env.token(nbf=now - 10), "with nbf in the past")
    ok(env, env.token(max_records=1000), "with max_records")


@case("a page under a work order: one release entry per member, each with the jti")
def page_ok(env):
    t = env.token()
    r = send(env, t, path="/v1/members?limit=3")
    check_status(r, 200, "page")
    body = r.json()
    es = entries_of(env.inst, r)
    eq(len(es), len(body["members"]) + body["withheld"], "entries of the page")
    check(all(e.get("token") == jti_of(t) for e in es), f"page entries without the jti: {es!r}")


# ---------------------------------------------------------------------------------------------
# No token, and not a bearer token.

@case("no Authorization where the contract requires a work order: 401 token_required, recorded")
def no_token(env):
    for what, path, h in (("one member", None, {}), ("one member with X-Purpose", None, {"X-Purpose": PURPOSE}),
                          ("a page with X-Purpose", "/v1/members?limit=5", {"X-Purpose": PURPOSE})):
        r = send(env, None, path=path, headers=h)
        refused(env, r, 401, "token_required", None, r"work order|token", f"no token, {what}")


@case("Authorization that is not one bearer token: 401 token_invalid")
def not_bearer(env):
    t = env.token()
    for what, auth in (("Basic", "Basic c2FrdXJhOm1haWw="), ("Bearer and nothing", "Bearer "),
                       ("the token without Bearer", t), ("Bearer twice", f"Bearer Bearer {t}"),
                       ("a token with padding", f"Bearer {t}=="), ("two tokens", f"Bearer {t} {t}")):
        r = send(env, None, auth=auth)
        refused(env, r, 401, "token_invalid", t, None, f"Authorization: {what}")
    # two Authorization headers, the second a good token: refused, not last-wins
    with env.main.http(cert=env.inst.pki.partner(GOOD)) as c:
        c.send((f"GET /v1/members/{env.member} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {env.token()}\r\nAuthorization: Bearer {t}\r\n\r\n").encode())
        r = c.read_response()
    check_status(r, (400, 401), "two Authorization headers")
    check(r.status_code != 200, "two Authorization headers served")
    no_member_data(env, r, "two Authorization headers")


# ---------------------------------------------------------------------------------------------
# The algorithm is pinned before the signature is looked at.

@case("alg none, None, NONE: refused with no signature, a real ES256 one, or random bytes")
def alg_none(env):
    for alg in ("none", "None", "NONE", "nOnE"):
        h = {"alg": alg, "typ": "JWT"}
        c = env.claims()
        for what, sig in (("no signature", b""), ("the token key's ES256 signature", None),
                          ("64 random bytes", secrets.token_bytes(64))):
            t = compact(h, c, env.key, sig)
            bad(env, t, r"header: alg", f"alg {alg}, {what}")
    # and with the signature segment missing altogether
    t = f"{seg({'alg': 'none'})}.{seg(env.claims())}"
    bad(env, t, r"form|segment", "alg none, two segments")


@case("alg HS256 keyed with the token public key's PEM: refused (the libjwt 1.10 key confusion)")
def alg_hs256(env):
    pem = (env.inst.dir / "keys" / "token.pub").read_bytes()
    der = env.key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    for what, secret in (("the PEM file", pem), ("the PEM without its last newline", pem.rstrip(b"\n")),
                         ("the DER key", der)):
        for alg, hf in (("HS256", hashlib.sha256), ("HS384", hashlib.sha384), ("HS512", hashlib.sha512)):
            t = compact({"alg": alg, "typ": "JWT"}, env.claims(), sig=lambda si: hmac.new(secret, si, hf).digest())
            bad(env, t, r"header: alg", f"{alg} keyed with {what}")


@case("alg RS256, PS256, ES384, EdDSA, es256 and a missing alg: refused")
def alg_other(env):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    t = compact({"alg": "RS256", "typ": "JWT"}, env.claims(),
                sig=lambda si: rsa_key.sign(si, padding.PKCS1v15(), hashes.SHA256()))
    bad(env, t, r"header: alg", "RS256 with an RSA key")
    t = compact({"alg": "PS256", "typ": "JWT"}, env.claims(),
                sig=lambda si: rsa_key.sign(si, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()))
    bad(env, t, r"header: alg", "PS256 with an RSA key")
    # the right key, the wrong names for its algorithm
    for alg in ("ES384", "ES512", "EdDSA", "es256", "ES256 ", "ES256\u0000", ""):
        bad(env, env.token(header={"alg": alg, "typ": "JWT"}), r"^header: (alg|not valid JSON)", f"alg {alg!r} signed by the token key")
    bad(env, env.token(header={"typ": "JWT"}), r"alg", "no alg")
    bad(env, env.token(header={"alg": ["ES256"], "typ": "JWT"}), r"alg", "alg as an array")


# ---------------------------------------------------------------------------------------------
# The signature.

@case("ES256 signed by another key: refused")
def other_key(env):
    other = ec.generate_private_key(ec.SECP256R1())
    bad(env, env.token(key=other), r"^signature: does not verify", "a fresh P-256 key")
    # the partner's own certificate key: the partner cannot write its own work orders
    bad(env, env.token(key=env.inst.pki.partner(GOOD).private_key), r"^signature: does not verify",
        "the partner's certificate key")


@case("a truncated, extended, flipped, DER or re-used signature: refused")
def bad_signature(env):
    c = env.claims()
    h = {"alg": "ES256", "typ": "JWT"}
    si = f"{seg(h)}.{seg(c)}".encode()
    good = es256(env.key, si)
    der = env.key.sign(si, ec.ECDSA(hashes.SHA256()))
    flipped = bytes([good[0] ^ 1]) + good[1:]
    for what, sig in (("63 bytes", good[:63]), ("32 bytes", good[:32]), ("1 byte", good[:1]),
                      ("65 bytes (a zero added)", good + b"\0"), ("128 bytes (twice)", good + good),
                      ("one bit flipped", flipped), ("DER-encoded", der), ("all zero", bytes(64))):
        bad(env, compact(h, c, sig=sig), r"^signature:", f"signature {what}")
    # the signature of one token on another's payload
    other = env.claims(sub=GOOD, purpose="marketing")
    bad(env, compact(h, other, sig=good), r"signature", "another payload's signature")
    # the same valid token with one character more or less in the signature segment
    t = compact(h, c, env.key)
    bad(env, t[:-1], r"^(signature|form):", "signature segment one character short")
    bad(env, t + "A", r"^(signature|form):", "signature segment one character long")
    # the control: the very signature, untouched
    ok(env, compact(h, c, sig=good), "the untouched signature")


# ---------------------------------------------------------------------------------------------
# Claims.

@case("missing each required claim in turn: refused, naming the claim")
def missing_claims(env):
    for claim in ("iss", "aud", "iat", "exp", "jti", "sub", "contract", "purpose"):
        bad(env, env.token(**{claim: DROP}), rf"^claims: {claim} missing", f"no {claim}")


@case("iss, aud, jti, sub and unknown claims of the wrong kind: refused")
def wrong_claims(env):
    fp = thumbprint(env.inst.pki.partner(GOOD))
    # (what, changes, rule, refused after the token was verified: the ledger then holds its jti)
    for what, changes, rule, verified in (
            ("another issuer", {"iss": "pdgate.local/other"}, r"iss", False),
            ("the staff audience", {"aud": "pdgate-compliance"}, r"aud|staff|work order", False),
            ("aud as an array", {"aud": ["pdgate-partner"]}, r"aud", False),
            ("an unknown audience", {"aud": "pdgate"}, r"aud", False),
            ("jti with a slash", {"jti": "../../etc"}, r"jti", False),
            ("an empty jti", {"jti": ""}, r"jti", False),
            ("jti of 129 characters", {"jti": "a" * 129}, r"jti", False),
            ("sub of another partner", {"sub": OTHER}, r"sub", True),
            ("sub that is no partner id", {"sub": "Sakura Mail"}, r"sub", False),
            ("a claim pdgate never writes", {"scope": "members:read"}, r"claim", False),
            ("a staff role on a work order", {"role": "officer"}, r"claim|role", False),
            ("max_records 0", {"max_records": 0}, r"max_records", False),
            ("max_records negative", {"max_records": -1}, r"max_records", False),
            ("max_records as a string", {"max_records": "3"}, r"max_records", False),
            ("cnf as a hex fingerprint", {"cnf": {"x5t#S256": env.inst.pki.partner(GOOD).fingerprint}}, r"cnf", False),
            ("cnf with a second member", {"cnf": {"x5t#S256": fp, "x5t": "AAAA"}}, r"cnf", False),
            ("cnf as a string", {"cnf": fp}, r"cnf", False),
            ("cnf empty", {"cnf": {}}, r"cnf", False)):
        t = env.token(**changes)
        r = send(env, t)
        refused(env, r, 401, "token_invalid", t, rule, what, jti=jti_of(t) if verified else None)


@case("exp past, nbf and iat in the future: refused beyond the 60 s leeway, served within it")
def time_rules(env):
    now = int(time.time())
    bad(env, env.token(iat=now - 7200, exp=now - 120), r"expired", "exp 120 s in the past")
    bad(env, env.token(iat=now - 40 * DAY + 3600, exp=now - 30 * DAY), r"expired", "exp a month in the past")
    bad(env, env.token(nbf=now + 120), r"not yet valid", "nbf 120 s in the future")
    bad(env, env.token(iat=now + 120, exp=now + 3600), r"iat .*future", "iat 120 s in the future")
    bad(env, env.token(iat=now + 2 * DAY, exp=now + 3 * DAY), r"iat .*future", "iat two days in the future")
    bad(env, env.token(iat=now, exp=now), r"exp", "exp equal to iat")
    bad(env, env.token(iat=now, exp=now + 30, nbf=now + 30), r"nbf is not before exp", "nbf at exp")
    ok(env, env.token(iat=now - 3600, exp=now - 20), "exp 20 s in the past (leeway)")
    ok(env, env.token(nbf=now + 20), "nbf 20 s in the future (leeway)")
    ok(env, env.token(iat=now + 20, exp=now + 3600), "iat 20 s in the future (leeway)")


@case("exp as a string, a real, 1e30, a boolean, null: refused")
def claim_types(env):
    now = int(time.time())
    c = env.claims()
    h = {"alg": "ES256", "typ": "JWT"}

    def raw(name, literal):
        d = dict(c, jti=secrets.token_urlsafe(16))
        text = json.dumps(d, separators=(",", ":"))
        return text.replace(f'"{name}":{d[name]}', f'"{name}":{literal}', 1)

    for name in ("exp", "iat"):
        for literal in (f'"{c[name]}"', "1e30", f"{c[name]}.0", f"{c[name] / 1000:.0f}e3", "true", "null",
                        "-1", "9007199254740993", "[%d]" % c[name]):
            text = raw(name, literal)
            check(f'"{name}":{literal}' in text, f"test bug: {name} not replaced in {text}")
            bad(env, compact(h, text, env.key), rf"\b{name}\b", f"{name} as {literal}")
    bad(env, env.token(nbf=str(now)), r"nbf", "nbf as a string")
    # the control: the same raw text with the integer literal
    ok(env, compact(h, raw("exp", str(c["exp"])), env.key), "exp as the integer literal")


@case("a lifetime of 40 days (or 31 days and a second): refused; exactly 31 days: served")
def lifetime(env):
    now = int(time.time())
    bad(env, env.token(iat=now, exp=now + 40 * DAY), r"lifetime", "40 days")
    bad(env, env.token(iat=now, exp=now + 31 * DAY + 1), r"lifetime", "31 days and one second")
    bad(env, env.token(iat=now - 39 * DAY, exp=now + DAY), r"lifetime", "40 days, mostly gone")
    ok(env, env.token(iat=now, exp=now + 31 * DAY), "exactly 31 days")


@case("duplicate alg in the header, duplicate sub, jti or cnf member in the payload: refused")
def duplicates(env):
    c = env.claims()
    body = json.dumps(c, separators=(",", ":"))
    for what, header in (("alg twice, both ES256", '{"alg":"ES256","alg":"ES256","typ":"JWT"}'),
                         ("alg HS256 then ES256", '{"alg":"HS256","typ":"JWT","alg":"ES256"}'),
                         ("alg none then ES256", '{"alg":"none","alg":"ES256"}'),
                         ("typ twice", '{"alg":"ES256","typ":"JWT","typ":"JWT"}')):
        bad(env, compact(header, body, env.key), r"duplicate|json|header", what)
    for what, payload in (
            ("sub of another partner then this one", body.replace('"sub":', f'"sub":"{OTHER}","sub":', 1)),
            ("sub twice, the same", body.replace('"sub":', f'"sub":"{GOOD}","sub":', 1)),
            ("jti twice", body.replace('"jti":', '"jti":"revoked-one","jti":', 1)),
            ("purpose twice", body.replace('"purpose":', '"purpose":"marketing","purpose":', 1)),
            ("cnf.x5t#S256 twice", body.replace('"x5t#S256":', '"x5t#S256":"AAAA","x5t#S256":', 1))):
        check(payload != body, f"test bug: nothing duplicated for {what}")
        bad(env, compact({"alg": "ES256", "typ": "JWT"}, payload, env.key), r"duplicate|json|payload", what)
    ok(env, compact('{"alg":"ES256","typ":"JWT"}', body.replace(c["jti"], secrets.token_urlsafe(16)), env.key),
       "the same texts without duplicates")


@case("crit, jku, jwk, x5u, x5c, cty, an unknown header member, a bad typ: refused")
def header_members(env):
    pub = env.key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64u(pub.x.to_bytes(32, "big")), "y": b64u(pub.y.to_bytes(32, "big"))}
    for what, extra, rule in (("crit [exp]", {"crit": ["exp"]}, r"crit"),
                              ("crit []", {"crit": []}, r"crit"),
                              ("crit [b64] with b64 false", {"crit": ["b64"], "b64": False}, r"crit|member"),
                              ("jku", {"jku": "https://attacker.example/jwks.json"}, r"member|jku"),
                              ("jwk (the right key, even)", {"jwk": jwk}, r"member|jwk"),
                              ("x5u", {"x5u": "https://attacker.example/cert.pem"}, r"member|x5u"),
                              ("x5c", {"x5c": [b64u(env.inst.pki.partner(GOOD).der)]}, r"member|x5c"),
                              ("cty JWT", {"cty": "JWT"}, r"member|cty"),
                              ("zip", {"zip": "DEF"}, r"member|zip"),
                              ("an unknown member", {"pdgate": 1}, r"member"),
                              ("typ jwt", {"typ": "jwt"}, r"typ"),
                              ("typ at+jwt", {"typ": "at+jwt"}, r"typ"),
                              ("typ as a number", {"typ": 1}, r"typ")):
        h = {"alg": "ES256", "typ": "JWT"}
        h.update(extra)
        bad(env, env.token(header=h), rule, f"header with {what}")


@case("kid with ../, too long, of 10 KB: refused (a 10 KB kid may meet the 8 KiB header limit)")
def kid(env):
    for what, k in (("../../keys/token", "../../keys/token"), ("..", ".."), ("/etc/passwd", "/etc/passwd"),
                    ("a NUL", "key\u0000"), ("65 characters", "k" * 65), ("a number", 7), ("empty", "")):
        bad(env, env.token(header={"alg": "ES256", "typ": "JWT", "kid": k}), r"kid|header", f"kid {what}")
    # 10 KB: the bearer value is longer than a token may be (8192 bytes), and the header longer
    # than the listener reads. Either refusal is right; releasing is not.
    t = env.token(header={"alg": "ES256", "typ": "JWT", "kid": "k" * 10240})
    before = [e for e in ledger(env.inst) if e.get("kind") == "release"]
    with env.main.http(cert=env.inst.pki.partner(GOOD)) as c:
        try:
            r = c.request("GET", f"/v1/members/{env.member}", headers={"Authorization": f"Bearer {t}"})
        except (OSError, ConnectionError, ValueError) as e:
            raise pdtest.Failure(f"kid of 10 KB: no answer ({e!r}), want 401 or 431") from None
    check(r.status_code in (401, 431), f"kid of 10 KB: status {r.status_code}, want 401 or 431; {r.text[:200]!r}")
    no_member_data(env, r, "kid of 10 KB")
    check(t.split(".")[0] not in r.text, "kid of 10 KB: the answer quotes the token")
    after = [e for e in ledger(env.inst) if e.get("kind") == "release"]
    eq(len(after), len(before), "release entries after a 10 KB kid")
    if r.status_code == 401:
        refused(env, r, 401, "token_invalid", t, r"form|8192|long", "kid of 10 KB")
    # a kid that makes a token just under the 8192-byte limit goes through the token rules
    t = env.token(header={"alg": "ES256", "typ": "JWT", "kid": "k" * 5000})
    check(len(t) < 8192, f"test bug: token of {len(t)} bytes")
    bad(env, t, r"kid", "kid of 5,000 characters")
    check(env.main.running, "daemon died on the kid cases")


# ---------------------------------------------------------------------------------------------
# Binding (RFC 8705) and the token's partner, contract and purpose.

@case("the same bound token with another partner's certificate: 401 token_invalid")
def other_partner(env):
    t = env.work_order()
    r = send(env, t, cert=env.inst.pki.partner(OTHER))
    refused(env, r, 401, "token_invalid", t, r"binding: sub", "mailing house token, joint-use partner's certificate",
            jti=jti_of(t))
    e = entries_of(env.inst, r)[0]
    eq(e.get("partner"), OTHER, "ledger partner of the refusal")
    eq(e.get("cert"), env.inst.pki.partner(OTHER).fingerprint, "ledger cert of the refusal")
    ok(env, t, "the token with its own certificate afterwards")


@case("a bound token with a second certificate of the same partner: 401 (cnf)")
def other_cert_same_partner(env):
    twin = env.inst.pki.issue("sakura-twin", partner=GOOD)
    check_status(env.main.get("/v1/whoami", cert=twin), 200, "whoami with the second certificate")
    t = env.work_order()
    bad(env, t, r"cnf", "issued for the demo certificate, used with the second", cert=twin, jti=jti_of(t))
    t = env.token()
    bad(env, t, r"cnf", "crafted, bound to the demo certificate, used with the second", cert=twin, jti=jti_of(t))
    ok(env, env.token(cert=twin), "bound to the second certificate, used with it", cert=twin)


@case("an unbound work order where the contract requires binding: 401 (cnf)")
def unbound_required(env):
    t = env.token(cnf=DROP)
    bad(env, t, r"cnf", "unbound work order", jti=jti_of(t))
    r = env.inst.pdgate("token", "issue", "-c", env.inst.conf, "--contract", CONTRACT, "--purpose", PURPOSE,
                        "--ttl", "1h")
    check(r.returncode != 0 and not r.stdout.strip(), f"token issue made an unbound work order for a contract "
                                                      f"that requires binding: {r.stdout[:100]!r}")


@case("a work order naming another partner's contract, or a purpose its contract lacks: 401")
def wrong_contract_purpose(env):
    t = env.token(contract=OTHER_CONTRACT, purpose="service_delivery")
    bad(env, t, r"contract", "contract of another partner", jti=jti_of(t))
    t = env.token(contract="CT-2099-9999")
    bad(env, t, r"contract", "a contract not on file", jti=jti_of(t))
    t = env.token(purpose="statistics")
    bad(env, t, r"purpose", "a purpose the contract does not list", jti=jti_of(t))


@case("a staff token at the partner API: 401 token_invalid")
def staff_token(env):
    for role in ("auditor", "officer"):
        t = env.issue("--staff", "auditor-one", "--role", role, "--ttl", "1h")
        bad(env, t, r"staff|aud|work order", f"staff token ({role})")
        bad(env, t, r"staff|aud|work order", f"staff token ({role}) on a page", path="/v1/members?limit=2")
    # a staff-shaped token with the partner audience is no work order either
    now = int(time.time())
    c = {"iss": env.inst.get("tokens", "issuer"), "aud": "pdgate-partner", "sub": GOOD, "iat": now,
         "exp": now + 600, "jti": secrets.token_urlsafe(16), "role": "officer"}
    bad(env, compact({"alg": "ES256", "typ": "JWT"}, c, env.key), None, "staff claims with aud pdgate-partner")


# ---------------------------------------------------------------------------------------------
# X-Purpose and X-Contract against the token.

@case("X-Purpose that disagrees with the token: 400 purpose_conflict; X-Contract: 400 bad_request")
def purpose_conflict(env):
    t = env.work_order()
    for p in ("marketing", "statistics", "no_such_purpose"):
        bad(env, t, r"purpose", f"token {PURPOSE}, X-Purpose {p}", status=400, code="purpose_conflict",
            jti=jti_of(t), headers={"X-Purpose": p})
    bad(env, t, r"contract", "X-Contract of another partner", status=400, code="bad_request", jti=jti_of(t),
        headers={"X-Contract": OTHER_CONTRACT})
    r = send(env, t, path="/v1/members?limit=2", headers={"X-Purpose": "marketing"})
    refused(env, r, 400, "purpose_conflict", t, None, "a page with a disagreeing X-Purpose", jti=jti_of(t))
    ok(env, t, "the same token without the header")


# ---------------------------------------------------------------------------------------------
# Revocation and max_records, through the state database.

@case("a revoked jti: 401 on the next request, on a kept-alive connection and a new one")
def revoked(env):
    t = env.work_order()
    jti = jti_of(t)
    d = env.main
    with env.sent_lock:
        env.sent.append(t)
    with d.http(cert=env.inst.pki.partner(GOOD)) as c:
        hdr = {"Authorization": f"Bearer {t}"}
        r = c.request("GET", f"/v1/members/{env.member}", headers=hdr)
        check_status(r, 200, "before revocation")
        check("close" not in (r.headers.get("Connection") or "").lower(), "server closes after each request")
        pr = env.inst.pdgate("token", "revoke", "-c", env.inst.conf, jti)
        eq(pr.returncode, 0, f"pdgate token revoke (stderr {pr.stderr.strip()[-300:]!r})")
        r = c.request("GET", f"/v1/members/{env.member}", headers=hdr)
        # RawHTTP responses have no .request; check them with the same rules by hand
        body = check_error(r, 401, "token_invalid", "revoked, kept-alive connection")
        check(re.search(r"revoked", body["message"], re.I), f"message {body['message']!r} does not say revoked")
        check(t.split(".")[1] not in r.text and t.split(".")[2] not in r.text, "the answer quotes the token")
        no_member_data(env, r, "revoked, kept-alive connection")
        es = entries_of(env.inst, r)
        eq([(e.get("kind"), e.get("reason"), e.get("token")) for e in es], [("deny", "token_invalid", jti)],
           "ledger of the revoked request")
    bad(env, t, r"revoked", "revoked, new connection", jti=jti)
    bad(env, t, r"revoked", "revoked, a page", jti=jti, path="/v1/members?limit=2")
    # revoking twice is fine; another token is untouched
    pr = env.inst.pdgate("token", "revoke", "-c", env.inst.conf, jti)
    eq(pr.returncode, 0, f"second revocation (stderr {pr.stderr.strip()[-300:]!r})")
    ok(env, env.work_order(), "another work order after the revocation")


@case("max_records 3: a page of 2, then a page of 2 refused whole, one more served, then refused")
def max_records_pages(env):
    all_ids = sorted(env.members)
    # two releasable members in a row for a page: find them in the whole table order
    db = sqlite3.connect(str(env.inst.dir / "members.db"))
    try:
        order = [m for (m,) in db.execute("SELECT member_id FROM members ORDER BY member_id")]
    finally:
        db.close()
    start = next((i for i in range(len(order) - 1) if order[i] in env.members and order[i + 1] in env.members), None)
    check(start is not None, f"no two releasable members in a row among {all_ids}")
    q = "/v1/members?limit=2" + (f"&after={order[start - 1]}" if start > 0 else "")
    t = env.work_order("--max-records", "3")
    jti = jti_of(t)
    r = send(env, t, path=q)
    check_status(r, 200, "first page of 2")
    eq(len(r.json()["members"]), 2, "members on the first page")
    es = entries_of(env.inst, r)
    eq([(e["kind"], e["token"]) for e in es], [("release", jti)] * 2, "ledger of the first page")
    r = send(env, t, path=q)
    refused(env, r, 401, "token_invalid", t, r"max_records", "second page of 2 with 1 record left", jti=jti)
    ok(env, t, "one more record (the third)")
    bad(env, t, r"max_records", "a fourth record", jti=jti)
    bad(env, t, r"max_records", "a page after the budget is spent", jti=jti, path=q)
    released = [e for e in ledger(env.inst) if e.get("token") == jti and e.get("kind") == "release"]
    eq(len(released), 3, "records released under the work order")


@case("max_records 2 over single requests on two connections, and a page of 1 over a spent budget")
def max_records_single(env):
    t = env.token(max_records=2)
    jti = jti_of(t)
    ok(env, t, "first record")
    with env.sent_lock:
        env.sent.append(t)
    with env.main.http(cert=env.inst.pki.partner(GOOD)) as c:
        r = c.request("GET", f"/v1/members/{env.member}", headers={"Authorization": f"Bearer {t}"})
        check_status(r, 200, "second record, kept-alive connection")
        r = c.request("GET", f"/v1/members/{env.member}", headers={"Authorization": f"Bearer {t}"})
        check_error(r, 401, "token_invalid", "third record, kept-alive connection")
        no_member_data(env, r, "third record")
    bad(env, t, r"max_records", "third record, new connection", jti=jti)
    bad(env, t, r"max_records", "a page of 1", jti=jti, path="/v1/members?limit=1")
    # the budget is the jti's, not the request's: another token with the same budget is fresh
    ok(env, env.token(max_records=2), "another token with max_records 2")


@case("max_records 3 under 12 concurrent requests: exactly 3 records released")
def max_records_concurrent(env):
    t = env.token(max_records=3)
    jti = jti_of(t)
    results, lock = [], threading.Lock()

    def one():
        try:
            r = send(env, t)
        except Exception as e:  # noqa: BLE001 - reported below
            r = e
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one) for _ in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    errors = [r for r in results if isinstance(r, Exception)]
    check(not errors, f"{len(errors)} request(s) failed: {errors[:1]!r}")
    eq(sorted(r.status_code for r in results), [200] * 3 + [401] * 9, "statuses of 12 concurrent requests")
    for r in results:
        if r.status_code == 200:
            served(env, r, t, "a concurrent request served")
        else:
            refused(env, r, 401, "token_invalid", t, r"max_records", "a concurrent request refused", jti=jti)
    released = [e for e in ledger(env.inst) if e.get("token") == jti and e.get("kind") == "release"]
    eq(len(released), 3, "release entries under the work order")


@case("a revocation and a max_records count survive a restart", background=True)
def restart(env):
    inst = env.install()
    key = serialization.load_pem_private_key((inst.dir / inst.get("tokens", "key")).read_bytes(), None)
    mine = inst.pki.partner(GOOD)
    mid = next(m for m, r in member_records(inst).items() if not r.get("restrictions", {}).get("stop_use"))
    path = f"/v1/members/{mid}"
    now = int(time.time())

    def tok(**kw):
        c = {"iss": inst.get("tokens", "issuer"), "aud": "pdgate-partner", "sub": GOOD, "iat": now,
             "exp": now + 600, "jti": secrets.token_urlsafe(16), "contract": CONTRACT, "purpose": PURPOSE,
             "cnf": {"x5t#S256": thumbprint(mine)}, **kw}
        return compact({"alg": "ES256", "typ": "JWT"}, c, key)

    budget, doomed = tok(max_records=2), tok()
    with pdtest.Daemon(inst) as d:
        check_status(send(env, budget, d=d, path=path), 200, "first record of 2, first run")
        check_status(send(env, doomed, d=d, path=path), 200, "the token to revoke, first run")
        r = inst.pdgate("token", "revoke", "-c", inst.conf, jti_of(doomed))
        eq(r.returncode, 0, f"pdgate token revoke (stderr {r.stderr.strip()[-300:]!r})")
        d.term()
    with pdtest.Daemon(inst) as d:
        refused(env, send(env, doomed, d=d, path=path), 401, "token_invalid", doomed, r"revoked",
                "revoked before the restart", jti=jti_of(doomed), d=d)
        check_status(send(env, budget, d=d, path=path), 200, "second record of 2, after the restart")
        refused(env, send(env, budget, d=d, path=path), 401, "token_invalid", budget, r"max_records",
                "third record of 2, after the restart", jti=jti_of(budget), d=d)


# ---------------------------------------------------------------------------------------------
# Last: what the daemon wrote.

@case("the request log records each refusal with its code and never quotes a token")
def log_clean(env):
    d = env.main
    now = int(time.time())
    t = env.token(iat=now - 7200, exp=now - 3600)
    r = send(env, t)
    check_status(r, 401, "an expired token")
    rid = r.headers.get("X-Request-Id")
    log = pdtest.wait_until(lambda: rid in d.log() and d.log(), 3, what="the refusal in the log")
    lines = [ln for ln in log.splitlines() if rid in ln]
    eq(len(lines), 1, "log lines of the refused request")
    fields = lines[0].split()
    check(len(fields) == 11 and fields[-2] == "token_invalid" and " 401 " in lines[0],
          f"log line of an expired token: {lines[0]!r}")
    # the rule that refused is in the log too, as the client was told it
    check(urllib.parse.unquote(fields[-1]) == r.json()["message"] and "expired" in fields[-1],
          f"the log names the rule: {lines[0]!r}")
    with env.sent_lock:
        sent = list(env.sent)
    check(len(sent) > 100, f"only {len(sent)} tokens were sent")
    for tok in sent:
        for part in tok.split(".")[1:]:
            if len(part) >= 16:
                check(part not in log, f"the log quotes a token segment {part[:24]}...")
    check(d.running, "daemon not running at the end")


if __name__ == "__main__":
    pdtest.run(Env)
