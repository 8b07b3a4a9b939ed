#!/usr/bin/env python3
"""Hostile requests on the partner listener (SPEC 9.1 step 2, 13): bytes a client controls.

NUL and control bytes in X-Purpose, X-Contract, X-Justification and Authorization (sent on raw
TLS sockets, since no HTTP client sends them), repeated and over-long headers, odd query strings,
path tricks, HTTP/1.0 and /0.9, pipelined requests, bodies on GET. Each gets a clear 4xx JSON
error from pdgate, or an answer libmicrohttpd makes itself (named in the case), never releases
a record beyond what the same request without the hostile bytes would, and the daemon keeps
serving. One daemon, shared; the cases run in order because each counts ledger entries.
"""

import json
import socket
import sqlite3
import ssl
import time

import pdtest
from pdtest import case, check, check_error, check_status, eq

GOOD = "sakura-mail"
CONTRACT = "CT-2026-0001"
PURPOSE = "marketing"


class Env(pdtest.Env):
    @pdtest.fixture
    def install_dir(self):
        return self.install()

    @pdtest.fixture
    def main(self):
        return self.daemon(self.install_dir)

    @pdtest.fixture
    def inst(self):
        """The installation, once its daemon runs (and has made the ledger file)."""
        return self.main.install

    @pdtest.fixture
    def cert(self):
        return self.install_dir.pki.partner(GOOD)

    @pdtest.fixture
    def token(self):
        r = self.inst.pdgate("token", "issue", "-c", self.inst.conf, "--contract", CONTRACT,
                             "--purpose", PURPOSE, "--ttl", "1h", "--cert", self.cert.pem)
        eq(r.returncode, 0, f"pdgate token issue: {r.stderr.strip()[-300:]}")
        return r.stdout.strip()

    @pdtest.fixture
    def member(self):
        """A member the mailing house may receive for marketing: opted in, no restriction."""
        for mid, rec in members(self.install_dir).items():
            if rec.get("consents", {}).get("marketing") is True and \
                    not any(rec.get("restrictions", {}).values()):
                return mid
        raise pdtest.Failure("no member opted in to marketing in the demo data")


def members(inst):
    db = sqlite3.connect(str(inst.dir / "members.db"))
    try:
        rows = db.execute("SELECT member_id, record FROM members ORDER BY member_id").fetchall()
    finally:
        db.close()
    return {m: json.loads(r) for m, r in rows}


def ledger(inst):
    """Every ledger leaf, parsed, in index order (read only once the daemon made the file)."""
    db = sqlite3.connect(str(inst.dir / (inst.get("ledger", "path") or "ledger.db")), timeout=10)
    try:
        rows = db.execute("SELECT leaf FROM entries ORDER BY idx").fetchall()
    finally:
        db.close()
    return [json.loads(leaf) for (leaf,) in rows]


def releases(inst):
    """How many release entries the ledger holds."""
    return sum(1 for e in ledger(inst) if e.get("kind") == "release")


def entries_of(inst, r):
    rid = r.headers.get("X-Request-Id")
    return [e for e in ledger(inst) if rid and e.get("request") == rid]


def head(target, headers=b"", version=b"HTTP/1.1", method=b"GET", host=True):
    """The bytes of a request head; headers are raw "Name: value\\r\\n" lines."""
    return (method + b" " + target + b" " + version + b"\r\n" +
            (b"Host: 127.0.0.1\r\n" if host else b"") + headers + b"\r\n")


def raw(env, data, n=1, method="GET"):
    """Sends data on a new TLS connection with the good certificate; reads n answers."""
    with env.main.http(cert=env.cert) as c:
        c.send(data)
        return [c.read_response(method) for _ in range(n)]


def auth(env):
    return f"Authorization: Bearer {env.token}\r\n".encode()


def member_path(env):
    return f"/v1/members/{env.member}".encode()


def still_serving(env, what):
    r = env.main.get("/v1/whoami", cert=env.cert)
    check_status(r, 200, f"after {what}: whoami")
    eq(r.json().get("partner"), GOOD, f"after {what}: whoami partner")


def refused(env, data, status, code, what, n_releases=0):
    """Sends data; the answer must be the JSON error code with status, and the ledger must gain
    exactly n_releases release entries (none by default)."""
    before = releases(env.inst)
    (r,) = raw(env, data)
    check_error(r, status, code, what)
    eq(releases(env.inst) - before, n_releases, f"{what}: release entries written")
    still_serving(env, what)
    return r


def by_mhd(env, data, status, what, method="GET"):
    """An answer libmicrohttpd makes itself (HTML, before pdgate sees the request): the status,
    nothing released, and the daemon keeps serving."""
    before = releases(env.inst)
    (r,) = raw(env, data, method=method)
    check_status(r, status, what)
    check(env.member not in r.text, f"{what}: the answer names the member")
    eq(releases(env.inst) - before, 0, f"{what}: release entries written")
    still_serving(env, what)
    return r


def control(env, extra=b""):
    """The good request (marketing, the good member, the work order) with extra header lines:
    200, one release entry for marketing under the contract."""
    before = releases(env.inst)
    (r,) = raw(env, head(member_path(env), auth(env) + extra))
    check_status(r, 200, "control request")
    es = entries_of(env.inst, r)
    eq([(e.get("kind"), e.get("purpose"), e.get("contract")) for e in es],
       [("release", PURPOSE, CONTRACT)], "control request: its ledger entries")
    eq(releases(env.inst) - before, 1, "control request: release entries written")
    return r


@case("the control request releases the member for marketing")
def _(env):
    r = control(env, b"X-Purpose: marketing\r\nX-Contract: CT-2026-0001\r\n")
    check(isinstance(r.json(), dict) and r.json(), "a record came back")


# --- NUL inside a header value ------------------------------------------------------------
# libmicrohttpd 0.9.75 ends a header value at its first NUL and drops the rest unseen; pdgate
# finds the hidden bytes in the head itself and refuses (issue 11 case 3).

def nul_refused(env, line, what):
    """A header line holding a NUL: 400 bad_request at step 2, nothing released or recorded,
    and the tail reaches no decision."""
    before = len(ledger(env.inst))
    r = refused(env, head(member_path(env), auth(env) + line), 400, "bad_request", what)
    eq(len(ledger(env.inst)), before, f"{what}: ledger entries (refused at step 2)")
    check("statistics" not in json.dumps(ledger(env.inst)), f"{what}: the tail reached the ledger")
    return r


@case("X-Purpose marketing\\0statistics: 400 bad_request, nothing released")
def _(env):
    nul_refused(env, b"X-Purpose: marketing\x00statistics\r\n", "X-Purpose NUL")


@case("X-Purpose statistics\\0marketing: 400 bad_request, nothing released")
def _(env):
    nul_refused(env, b"X-Purpose: statistics\x00marketing\r\n", "X-Purpose statistics NUL")


@case("a NUL first in a value, or last: 400 bad_request")
def _(env):
    nul_refused(env, b"X-Purpose: \x00marketing\r\n", "X-Purpose starting with NUL")
    nul_refused(env, b"X-Purpose: marketing\x00\r\n", "X-Purpose ending with NUL")
    nul_refused(env, b"X-Purpose:\x00\r\n", "X-Purpose of a NUL")


@case("X-Contract with a NUL: 400 bad_request")
def _(env):
    nul_refused(env, b"X-Contract: CT-2026-0001\x00CT-2026-0003\r\n", "X-Contract NUL")


@case("X-Justification with a NUL: 400 bad_request")
def _(env):
    nul_refused(env, b"X-Justification: audit\x00statistics\r\n", "X-Justification NUL")


@case("any other header with a NUL or a control byte: 400 bad_request")
def _(env):
    for line in (b"User-Agent: curl\x00/8\r\n", b"X-Other: a\x00b\r\n", b"Accept: */*\x01\r\n",
                 b"X-Other: \x1b[2J\r\n"):
        nul_refused(env, line, f"header {line!r}")


@case("a header folded onto a second line (obs-fold): 400 bad_request")
def _(env):
    nul_refused(env, b"X-Purpose: market\r\n ing\r\n", "folded X-Purpose")


@case("a NUL in the request target: 400 bad_request, nothing recorded")
def _(env):
    before = len(ledger(env.inst))
    for target in (member_path(env) + b"\x00junk", b"/v1/whoami\x00/../members/M0000001",
                   b"/v1/members?limit=1\x00&limit=900"):
        refused(env, head(target, auth(env)), 400, "bad_request", f"target {target!r}")
    eq(len(ledger(env.inst)), before, "ledger entries")


@case("Authorization with a NUL after the token: 401 token_invalid, recorded as a deny")
def _(env):
    r = refused(env, head(member_path(env), f"Authorization: Bearer {env.token}\x00junk\r\n".encode()),
                401, "token_invalid", "Authorization NUL")
    eq([e.get("kind") for e in entries_of(env.inst, r)], ["deny"], "ledger entries")


@case("Authorization with a NUL before the token: 401 token_invalid, recorded as a deny")
def _(env):
    r = refused(env, head(member_path(env), f"Authorization: Bearer\x00 {env.token}\r\n".encode()),
                401, "token_invalid", "Authorization NUL in scheme")
    eq([e.get("kind") for e in entries_of(env.inst, r)], ["deny"], "ledger entries")


# --- control bytes ---------------------------------------------------------------------------

@case("control bytes in X-Purpose, X-Contract, X-Justification: 400 bad_request")
def _(env):
    for name in (b"X-Purpose", b"X-Contract", b"X-Justification"):
        for bad in (b"\x01", b"\x1b[31m", b"\x7f", b"\x08", b"a\rb"):
            refused(env, head(member_path(env), auth(env) + name + b": x" + bad + b"\r\n"),
                    400, "bad_request", f"{name.decode()} with {bad!r}")


@case("control bytes in Authorization: 401 token_invalid, recorded, nothing released")
def _(env):
    for bad in (b"\x01", b"\x1b", b"\x7f"):
        r = refused(env, head(member_path(env), b"Authorization: Bearer " + env.token.encode() + bad + b"\r\n"),
                    401, "token_invalid", f"Authorization with {bad!r}")
        eq([e.get("kind") for e in entries_of(env.inst, r)], ["deny"], "ledger entries")


@case("a line feed inside a header value: libmicrohttpd's 400")
def _(env):
    by_mhd(env, head(member_path(env), auth(env) + b"X-Purpose: market\ning\r\n"), 400, "LF in X-Purpose")


@case("UTF-8 and Latin-1 bytes in X-Purpose: 400, nothing released")
def _(env):
    refused(env, head(member_path(env), auth(env) + "X-Purpose: マーケティング\r\n".encode()),
            400, "purpose_conflict", "UTF-8 X-Purpose")
    refused(env, head(member_path(env), auth(env) + b"X-Purpose: m\xe9\r\n"),
            400, "purpose_conflict", "Latin-1 X-Purpose")


# --- repeated and over-long headers ---------------------------------------------------------

@case("repeated X-Purpose, X-Contract, X-Justification: 400 bad_request")
def _(env):
    refused(env, head(member_path(env), auth(env) + b"X-Purpose: marketing\r\nX-Purpose: marketing\r\n"),
            400, "bad_request", "two X-Purpose")
    refused(env, head(member_path(env), auth(env) + b"X-Purpose: marketing\r\nx-purpose: statistics\r\n"),
            400, "bad_request", "X-Purpose and x-purpose")
    refused(env, head(member_path(env), auth(env) + b"X-Contract: CT-2026-0001\r\nX-Contract: CT-2026-0001\r\n"),
            400, "bad_request", "two X-Contract")
    refused(env, head(member_path(env), auth(env) + b"X-Justification: a\r\nX-Justification: b\r\n"),
            400, "bad_request", "two X-Justification")


@case("two Authorization headers: 401 token_invalid")
def _(env):
    refused(env, head(member_path(env), auth(env) + auth(env)), 401, "token_invalid", "two Authorization")


@case("over-long header values: 400, or 431 over the 8 KiB head")
def _(env):
    refused(env, head(member_path(env), auth(env) + b"X-Purpose: " + b"m" * 65 + b"\r\n"),
            400, "bad_request", "X-Purpose of 65 bytes")
    refused(env, head(member_path(env), auth(env) + b"X-Contract: " + b"C" * 65 + b"\r\n"),
            400, "bad_request", "X-Contract of 65 bytes")
    refused(env, head(member_path(env), auth(env) + b"X-Justification: " + b"j" * 2049 + b"\r\n"),
            400, "bad_request", "X-Justification of 2049 bytes")
    refused(env, head(member_path(env), auth(env) + b"X-Pad: " + b"p" * 9000 + b"\r\n"),
            431, "request_too_large", "a 9000-byte header")
    refused(env, head(member_path(env), b"Authorization: Bearer " + b"A" * 8300 + b"\r\n"),
            431, "request_too_large", "an 8300-byte Authorization")


@case("identity headers from the client are ignored")
def _(env):
    (r,) = raw(env, head(b"/v1/whoami", b"X-Partner: maison-partners\r\nX-Client-Cert: x\r\n"
                         b"X-Forwarded-Client-Cert: Hash=1;URI=urn:pdgate:partner:maison-partners\r\n"
                         b"X-SSL-Client-S-DN: CN=maison-partners\r\n"))
    check_status(r, 200, "whoami with identity headers")
    eq(r.json().get("partner"), GOOD, "the partner comes from the certificate")


# --- query strings ----------------------------------------------------------------------------

@case("odd query strings on the page: 400 bad_request, nothing recorded")
def _(env):
    for q in (b"limit=1e3", b"limit=-1", b"limit=0", b"limit=1001", b"limit=+5", b"limit=%205",
              b"limit=5%00", b"limit=0x10", b"limit=", b"limit", b"limit=18446744073709551621",
              b"after=../x", b"after=M0000001%00x", b"after=M%2f1", b"after=" + b"M" * 65,
              b"limit=5&limit=6", b"limit=5&x=1", b"x=1", b"after=M1&after=M2", b"limit=5&limit=5"):
        before = len(ledger(env.inst))
        refused(env, head(b"/v1/members?" + q, auth(env)), 400, "bad_request", f"query {q!r}")
        eq(len(ledger(env.inst)), before, f"query {q!r}: ledger entries (refused before step 4)")


@case("a good page still works: limit=5")
def _(env):
    before = releases(env.inst)
    (r,) = raw(env, head(b"/v1/members?limit=5", auth(env)))
    check_status(r, 200, "limit=5")
    body = r.json()
    eq(len(body["members"]) + body["withheld"], 5, "members and withheld")
    eq(releases(env.inst) - before, len(body["members"]), "one release entry per member sent")


@case("a query on the member route: 400 bad_request")
def _(env):
    refused(env, head(member_path(env) + b"?x=1", auth(env)), 400, "bad_request", "member with ?x=1")
    refused(env, head(member_path(env) + b"?limit=5", auth(env)), 400, "bad_request", "member with ?limit=5")


# --- paths ------------------------------------------------------------------------------------

@case("path tricks: 404 not_found or 400 bad_request")
def _(env):
    m = member_path(env)
    for target, status, code in (
            (b"/v1/members/..%2f", 404, "not_found"),
            (b"/v1/members/..%2F..%2Fv1%2Fwhoami", 404, "not_found"),
            (m + b"/", 404, "not_found"),
            (b"//v1/whoami", 404, "not_found"),
            (b"/v1//whoami", 404, "not_found"),
            (b"/v1/whoami/", 404, "not_found"),
            (b"/v1/./whoami", 404, "not_found"),
            (b"/v1/members/../whoami", 404, "not_found"),
            (m + b"%2fx", 404, "not_found"),
            (b"/v1/members/%2e%2e", 400, "bad_request"),
            (b"/v1/members/" + b"M" * 65, 400, "bad_request"),
            (b"/v1/members/" + b"M" * 300, 400, "bad_request"),
            (b"/v1/members/M%20001", 400, "bad_request"),
            (b"/v1/members/M%C3%A9", 400, "bad_request"),
            (m + b"%00", 400, "bad_request"),
            (m + b"%00x", 400, "bad_request"),
            (b"/v1/whoami%00x", 400, "bad_request"),
            (b"/V1/WHOAMI", 404, "not_found"),
            (b"https://127.0.0.1/v1/whoami", 404, "not_found"),
            (b"*", 404, "not_found")):
        refused(env, head(target, auth(env)), status, code, f"path {target[:80]!r}")


@case("a 64-character member id is well-formed (404 member_not_found, recorded)")
def _(env):
    r = refused(env, head(b"/v1/members/" + b"M" * 64, auth(env)), 404, "member_not_found", "64-char id")
    eq([e.get("kind") for e in entries_of(env.inst, r)], ["deny"], "ledger entries")


@case("methods: lowercase get, POST, HEAD on a GET route: 405")
def _(env):
    refused(env, head(b"/v1/whoami", method=b"get"), 405, "method_not_allowed", "get")
    refused(env, head(b"/v1/whoami", b"Content-Length: 0\r\n", method=b"POST"), 405,
            "method_not_allowed", "POST")
    (r,) = raw(env, head(member_path(env), auth(env), method=b"HEAD"), method="HEAD")
    check_status(r, 405, "HEAD")
    check(r.headers.get("Allow") == "GET", f"HEAD: Allow {r.headers.get('Allow')!r}")


# --- HTTP versions, pipelining, bodies --------------------------------------------------------

@case("HTTP/1.0: answered like 1.1, and the member request recorded")
def _(env):
    (r,) = raw(env, head(b"/v1/whoami", version=b"HTTP/1.0", host=False))
    check_status(r, 200, "HTTP/1.0 whoami")
    before = releases(env.inst)
    (r,) = raw(env, head(member_path(env), auth(env), version=b"HTTP/1.0", host=False))
    check_status(r, 200, "HTTP/1.0 member")
    eq(releases(env.inst) - before, 1, "HTTP/1.0 member: release entries")
    eq([e.get("kind") for e in entries_of(env.inst, r)], ["release"], "its own entry")


@case("HTTP/0.9, HTTP/2.0 text, HTTP/1.1 without Host: libmicrohttpd's 400 / 505 / 400")
def _(env):
    by_mhd(env, b"GET " + member_path(env) + b"\r\n\r\n", 400, "HTTP/0.9")
    by_mhd(env, head(member_path(env), auth(env), version=b"HTTP/2.0"), 505, "HTTP/2.0")
    by_mhd(env, head(member_path(env), auth(env), host=False), 400, "1.1 without Host")


@case("pipelined requests: answered in order, each its own id and entries")
def _(env):
    m = member_path(env)
    before = releases(env.inst)
    rs = raw(env, head(b"/v1/whoami") +
             head(m, auth(env) + b"X-Purpose: x\x01\r\n") +
             head(m, auth(env)) +
             head(b"/v1/members?limit=1001", auth(env)) +
             head(m, auth(env)), n=5)
    eq([r.status_code for r in rs], [200, 400, 200, 400, 200], "statuses in order")
    ids = [r.headers.get("X-Request-Id") for r in rs]
    eq(len(set(ids)), 5, "distinct request ids")
    eq(releases(env.inst) - before, 2, "release entries: one per 200 member answer")
    for r in (rs[2], rs[4]):
        eq([e.get("kind") for e in entries_of(env.inst, r)], ["release"], "a member answer's entry")
    still_serving(env, "pipelining")


@case("a body on GET: 400 bad_request, nothing released")
def _(env):
    refused(env, head(b"/v1/whoami", b"Content-Length: 5\r\n") + b"hello", 400, "bad_request",
            "whoami with a body")
    refused(env, head(member_path(env), auth(env) + b"Content-Length: 5\r\n") + b"hello", 400,
            "bad_request", "member with a body")
    refused(env, head(member_path(env), auth(env) + b"Transfer-Encoding: chunked\r\n") +
            b"5\r\nhello\r\n0\r\n\r\n", 400, "bad_request", "member with a chunked body")
    refused(env, head(b"/v1/members?limit=5", auth(env) + b"Content-Length: 2\r\n") + b"{}", 400,
            "bad_request", "page with a body")


# --- framing (issue 11 case 4, RFC 9112 6.1 and 6.3) ------------------------------------------

def framing_refused(env, data, what, d=None, cert="good", mhd=False):
    """data is a request with an ambiguous length, then a pipelined second request: one answer,
    400 bad_request (libmicrohttpd's own if mhd), and the connection closed; nothing released."""
    d = d or env.main
    before = releases(env.inst)
    with d.http(cert=env.cert if cert == "good" else cert) as c:
        c.send(data + head(member_path(env), auth(env)))
        r = c.read_response()
        if mhd:
            check_status(r, 400, what)
        else:
            check_error(r, 400, "bad_request", what)
        eq(r.headers.get("Connection", "").lower(), "close", f"{what}: Connection header")
        check(c.closed_by_peer(wait=2), f"{what}: the connection stayed open")
        check(not c.buf.startswith(b"HTTP/"), f"{what}: a second answer came: {c.buf[:60]!r}")
    eq(releases(env.inst) - before, 0, f"{what}: release entries")
    still_serving(env, what)


@case("Content-Length with Transfer-Encoding, then a pipelined request: one 400, closed")
def _(env):
    framing_refused(env, head(b"/v1/whoami", b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") +
                    b"0\r\n\r\n", "CL 5 + TE chunked")
    framing_refused(env, head(b"/v1/whoami", b"Transfer-Encoding: chunked\r\nContent-Length: 0\r\n") +
                    b"0\r\n\r\n", "TE chunked + CL 0")


@case("Content-Length: 0 and Content-Length: 0, 40: one 400, closed")
def _(env):
    framing_refused(env, head(b"/v1/whoami", b"Content-Length: 0\r\nContent-Length: 0, 40\r\n"),
                    "CL 0 + CL 0, 40")
    framing_refused(env, head(b"/v1/whoami", b"Content-Length: 0\r\nContent-Length: 0\r\n"),
                    "CL 0 twice")
    # a list as the only Content-Length: libmicrohttpd refuses it before pdgate sees it
    framing_refused(env, head(b"/v1/whoami", b"Content-Length: 0, 0\r\n"), "CL as a list", mhd=True)
    framing_refused(env, head(b"/v1/whoami", b"Content-Length: +0\r\n"), "CL with a sign", mhd=True)


@case("Transfer-Encoding other than chunked, or twice: one 400, closed")
def _(env):
    framing_refused(env, head(b"/v1/whoami", b"Transfer-Encoding: gzip\r\n"), "TE gzip")
    framing_refused(env, head(b"/v1/whoami", b"Transfer-Encoding: gzip, chunked\r\n") +
                    b"0\r\n\r\n", "TE gzip, chunked")
    framing_refused(env, head(b"/v1/whoami", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n") +
                    b"0\r\n\r\n", "TE twice")


@case("ambiguous framing without a certificate, and on the compliance listener: one 400, closed")
def _(env):
    framing_refused(env, head(b"/v1/whoami", b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") +
                    b"0\r\n\r\n", "no certificate", cert=None)
    d = env.main
    ctx = ssl.create_default_context(cafile=str(d.install.server_ca))
    with socket.create_connection(("127.0.0.1", d.install.compliance_port), timeout=10) as raw_sock:
        with ctx.wrap_socket(raw_sock, server_hostname="127.0.0.1") as tls:
            c = pdtest.RawHTTP(tls)
            c.send(head(b"/v1/ledger/checkpoint", b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") +
                   b"0\r\n\r\n" + head(b"/v1/ledger/checkpoint"))
            r = c.read_response()
            check_error(r, 400, "bad_request", "compliance: CL + TE")
            check(c.closed_by_peer(wait=2), "compliance: the connection stayed open")
            check(not c.buf.startswith(b"HTTP/"), "compliance: a second answer came")


# --- the request log never holds a member id (issue 11 case 2) ------------------------------

NEAR_MISSES = (b"//v1/members/{id}", b"/v1/./members/{id}", b"/V1/members/{id}",
               b"/v1//members/{id}", b"http://127.0.0.1/v1/members/{id}", b"/v1/members/{id}/",
               b"/v1/members/{id}/x", b"/v1/members/{id}%00", b"/v1/members/{id}?x=1",
               b"/v1/members/{id}\x00", b"/v1/members//{id}", b"/v1/members?after={id}&x=1")
# decoded into a route's path: answered by the route, and logged as its pattern
ENCODED = (b"/%76%31/members/{id}", b"/v1/members%2f{id}")


def log_clean(env, mid, what):
    log = env.main.log()
    check(mid not in log, f"{what}: the member id is in the log: "
          f"{[ln for ln in log.splitlines() if mid in ln][:3]!r}")


@case("near-miss paths on the partner listener: the log never holds the member id")
def _(env):
    for mid in (env.member, "M7777777"):
        for shape in NEAR_MISSES:
            target = shape.replace(b"{id}", mid.encode())
            (r,) = raw(env, head(target, auth(env)))
            check(400 <= r.status_code < 500, f"{target!r}: status {r.status_code}")
        for shape in ENCODED:
            raw(env, head(shape.replace(b"{id}", mid.encode()), auth(env)))
        (r,) = raw(env, head(f"/v1/members/{mid}".encode(), auth(env) + b"Content-Length: 0\r\n",
                             method=b"POST"))
        check_status(r, 405, "POST on the member route")
        (r,) = raw(env, head(f"/v1/members/{mid}".encode(), auth(env) + b"X-Purpose: a\x00b\r\n"))
        check_status(r, 400, "a NUL in a header")
    time.sleep(0.2)
    log_clean(env, env.member, "partner listener")
    log_clean(env, "M7777777", "partner listener")


@case("near-miss paths on the compliance listener: the log never holds the member id")
def _(env):
    d = env.main
    ctx = ssl.create_default_context(cafile=str(d.install.server_ca))
    staff = d.install.pdgate("token", "issue", "-c", d.install.conf, "--staff", "officer",
                             "--role", "officer", "--ttl", "1h")
    eq(staff.returncode, 0, f"staff token: {staff.stderr.strip()[-200:]}")
    bearer = f"Authorization: Bearer {staff.stdout.strip()}\r\n".encode()
    shapes = (b"//v1/reports/subject/{id}", b"/v1//reports/subject/{id}", b"/v1/./reports/subject/{id}",
              b"/V1/reports/subject/{id}", b"http://127.0.0.1/v1/reports/subject/{id}",
              b"/v1/reports/subject/{id}/", b"/v1/reports/subject/{id}/x", b"/v1/reports/subject/{id}%00",
              b"/v1/reports/subject/{id}\x00", b"/v1/reports/subject//{id}", b"/v1/reports%2fsubject/{id}")
    for mid in (env.member, "M7777777"):
        for shape in shapes:
            for auth_line in (b"", bearer):
                target = shape.replace(b"{id}", mid.encode())
                with socket.create_connection(("127.0.0.1", d.install.compliance_port), timeout=10) as s:
                    with ctx.wrap_socket(s, server_hostname="127.0.0.1") as tls:
                        c = pdtest.RawHTTP(tls)
                        c.send(head(target, auth_line))
                        r = c.read_response()
                        if b"%2f" not in shape:  # decoded into the route's path
                            check(400 <= r.status_code < 500, f"compliance {target!r}: status {r.status_code}")
    time.sleep(0.2)
    log_clean(env, env.member, "compliance listener")
    log_clean(env, "M7777777", "compliance listener")


@case("the daemon serves on after all of it, and the log holds no control byte")
def _(env):
    still_serving(env, "everything")
    control(env)
    log = env.main.log()
    for line in log.splitlines():
        check(not any(ord(ch) < 0x20 and ch != "\t" for ch in line), f"a log line with a control byte: {line[:200]!r}")
    check(env.member not in log, "a member id reached the log")


if __name__ == "__main__":
    pdtest.run(Env)
