#!/usr/bin/env python3
"""A single-member request while its ledger entry waits for the group commit.

The answer to GET /v1/members/{id} is made by the ledger writer once the entry is durable, and
its connection waits, suspended, until then. Here the ledger is made slow (the test holds its
write lock: the writer waits up to its busy timeout) or failing (held past it). Clients that
close their connection while their commit waits leave a daemon that serves on, one request log
line per request, an entry per answer made (the release is recorded although its client has
gone, as after a crash between commit and send), and nothing released where the commit failed.
SIGTERM while commits wait: the daemon answers them and exits 0. Each case has its own daemon.
"""

import json
import signal
import socket
import sqlite3
import time

import pdtest
from pdtest import SLOW, case, check, check_error, check_status, eq

GOOD = "sakura-mail"
CONTRACT = "CT-2026-0001"
PURPOSE = "marketing"


class Env(pdtest.Env):
    pass


def token(inst):
    r = inst.pdgate("token", "issue", "-c", inst.conf, "--contract", CONTRACT, "--purpose",
                    PURPOSE, "--ttl", "1h", "--cert", inst.pki.partner(GOOD).pem)
    eq(r.returncode, 0, f"pdgate token issue: {r.stderr.strip()[-300:]}")
    return r.stdout.strip()


def member(inst):
    """A member the mailing house may receive for marketing: opted in, no restriction."""
    db = sqlite3.connect(str(inst.dir / "members.db"))
    try:
        rows = db.execute("SELECT member_id, record FROM members ORDER BY member_id").fetchall()
    finally:
        db.close()
    for mid, rec in rows:
        rec = json.loads(rec)
        if rec.get("consents", {}).get("marketing") is True and \
                not any(rec.get("restrictions", {}).values()):
            return mid
    raise pdtest.Failure("no member opted in to marketing in the demo data")


def ledger_kinds(inst):
    db = sqlite3.connect(str(inst.dir / "ledger.db"), timeout=10)
    try:
        rows = db.execute("SELECT leaf FROM entries ORDER BY idx").fetchall()
    finally:
        db.close()
    return [json.loads(leaf).get("kind") for (leaf,) in rows]


def request_lines(d):
    """The request log lines of the member route, parsed."""
    out = []
    for line in d.log().splitlines():
        try:
            o = json.loads(line)
        except ValueError:
            continue
        if isinstance(o, dict) and o.get("kind") == "req" and o.get("route") == "/v1/members/{}":
            out.append(o)
    return out


def hold_write_lock(inst):
    """Takes the ledger's write lock from another connection (the writer may be between two
    statements: tries again). The writer's next commit waits for it."""
    db = sqlite3.connect(str(inst.dir / "ledger.db"), timeout=0, isolation_level=None)
    deadline = time.monotonic() + 5 * SLOW
    while True:
        try:
            db.execute("BEGIN IMMEDIATE")
            return db
        except sqlite3.OperationalError:
            check(time.monotonic() < deadline, "no write lock on the ledger")
            time.sleep(0.005)


def connect(d, n):
    """n TLS connections, their handshakes done (before the ledger is held: a handshake takes
    a while under the sanitizers, and the writer waits only so long)."""
    inst = d.install
    ctx = pdtest.tls_context(inst.server_ca, inst.pki.partner(GOOD))
    out = []
    for _ in range(n):
        raw = socket.create_connection(("127.0.0.1", d.port), timeout=30 * SLOW)
        tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        out.append((pdtest.RawHTTP(tls), tls))
    return out


def send_request(conn, tok, mid):
    """Sends the member request on conn, the answer not read."""
    c, _ = conn
    c.send((f"GET /v1/members/{mid} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {tok}\r\nX-Purpose: {PURPOSE}\r\n\r\n").encode())
    return conn


def slam(tls):
    """Closes the connection at once, with a reset (SO_LINGER 0), as a client that gives up."""
    try:
        tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    tls.close()


def wait_lines(d, n, what):
    pdtest.wait_until(lambda: len(request_lines(d)) >= n, 20, 0.05, what)
    time.sleep(0.2)  # nothing more comes
    return request_lines(d)


def setup(env):
    inst = env.install(conf={("gateway", "log_format"): "json"})
    d = env.daemon(inst)
    tok, mid = token(inst), member(inst)
    with d.http(cert=inst.pki.partner(GOOD)) as c:
        r = c.request("GET", f"/v1/members/{mid}", {"Authorization": f"Bearer {tok}",
                                                    "X-Purpose": PURPOSE})
    check_status(r, 200, "a release before")
    wait_lines(d, 1, "the first request's log line")  # written once its answer has gone out
    return inst, d, tok, mid


def still_serving(d, tok, mid, what):
    with d.http(cert=d.install.pki.partner(GOOD)) as c:
        r = c.request("GET", f"/v1/members/{mid}", {"Authorization": f"Bearer {tok}",
                                                    "X-Purpose": PURPOSE})
    check_status(r, 200, f"{what}: a release after")
    check("X-Ledger-Index" in r.headers, f"{what}: the answer names its entry")


@case("clients gone while their commits wait: the entries commit, the daemon serves on, "
      "one log line each", background=True)
def _(env):
    inst, d, tok, mid = setup(env)
    kinds0, lines0 = ledger_kinds(inst), len(request_lines(d))
    conns = connect(d, 7)
    db = hold_write_lock(inst)
    try:
        gone = [send_request(c, tok, mid) for c in conns[:6]]
        waiting, _ = send_request(conns[6], tok, mid)
        time.sleep(0.4)  # decided and queued: the writer waits for the lock
        eq(len(request_lines(d)), lines0, "no request ends while its commit waits")
        for _, tls in gone:
            slam(tls)
        time.sleep(0.2)
    finally:
        db.execute("ROLLBACK")
        db.close()
    r = waiting.read_response("GET")
    check_status(r, 200, "the client that waited")
    check("X-Ledger-Index" in r.headers, "its answer names its entry")
    lines = wait_lines(d, lines0 + 7, "a log line for each of the seven requests")
    new = lines[lines0:]
    eq(len(new), 7, f"request lines: {new!r}")
    eq(len({o["request_id"] for o in new}), 7, "one line per request")
    eq(sorted(o["status"] for o in new), [200] * 7, "each answer made was a release")
    eq(ledger_kinds(inst)[len(kinds0):].count("release"), 7,
       "the seven releases are recorded: durable before each answer was made")
    still_serving(d, tok, mid, "clients gone")
    d.term()
    r = inst.pdgate("ledger", "verify", "-c", inst.conf)
    check(r.returncode == 0 and r.stdout.endswith("ledger OK\n"), f"verify: {r.stdout}{r.stderr}")


@case("clients gone while their commits fail: 503 ledger_unavailable logged, nothing released",
      background=True)
def _(env):
    inst, d, tok, mid = setup(env)
    kinds0, lines0 = ledger_kinds(inst), len(request_lines(d))
    conns = connect(d, 5)
    db = hold_write_lock(inst)
    try:
        gone = [send_request(c, tok, mid) for c in conns[:4]]
        waiting, _ = send_request(conns[4], tok, mid)
        time.sleep(0.4)
        for _, tls in gone:
            slam(tls)
        # past the writer's busy timeout (2 s): the commit fails
        r = waiting.read_response("GET")
        check_error(r, 503, "ledger_unavailable", "the client that waited")
        check("X-Ledger-Index" not in r.headers, "a refusal that was not recorded names no entry")
        # the lock is held until every request has ended: one decided after the waiting one
        # may be in a later batch, which must fail too
        lines = wait_lines(d, lines0 + 5, "a log line for each of the five requests")
    finally:
        db.execute("ROLLBACK")
        db.close()
    new = lines[lines0:]
    eq(len(new), 5, f"request lines: {new!r}")
    eq([(o["status"], o["error"]) for o in new], [(503, "ledger_unavailable")] * 5,
       "each request logged as refused")
    eq(ledger_kinds(inst)[len(kinds0):].count("release"), 0, "nothing released")
    pdtest.wait_until(lambda: _serves(d, tok, mid), 10, 0.2, "the writer commits again")
    still_serving(d, tok, mid, "failed commits")
    d.term()


def _serves(d, tok, mid):
    with d.http(cert=d.install.pki.partner(GOOD)) as c:
        r = c.request("GET", f"/v1/members/{mid}", {"Authorization": f"Bearer {tok}",
                                                    "X-Purpose": PURPOSE})
    return r.status_code == 200


@case("SIGTERM while commits wait: each waiting request is answered, the daemon exits 0",
      background=True)
def _(env):
    inst, d, tok, mid = setup(env)
    kinds0 = ledger_kinds(inst)
    conns = connect(d, 6)
    db = hold_write_lock(inst)
    try:
        waiting = [send_request(c, tok, mid) for c in conns[:4]]
        gone = [send_request(c, tok, mid) for c in conns[4:]]
        time.sleep(0.4)
        for _, tls in gone:
            slam(tls)
        d.signal(signal.SIGTERM)
        time.sleep(0.5)
        check(d.running, "the daemon waits for the commits in progress")
    finally:
        db.execute("ROLLBACK")
        db.close()
    for c, _ in waiting:
        r = c.read_response("GET")
        check_status(r, 200, "a request that waited through SIGTERM")
        check("X-Ledger-Index" in r.headers, "its answer names its entry")
    try:
        d.rc = d.proc.wait(15 * SLOW)
    except Exception:
        d.kill()
        raise pdtest.Failure("no exit after SIGTERM with commits waiting")
    eq(d.rc, 0, "exit status")
    d.check_sanitizer()
    kinds = ledger_kinds(inst)[len(kinds0):]
    eq(kinds.count("release"), 6, f"every request's release recorded: {kinds!r}")
    r = inst.pdgate("ledger", "verify", "-c", inst.conf)
    check(r.returncode == 0 and r.stdout.endswith("ledger OK\n"), f"verify: {r.stdout}{r.stderr}")


if __name__ == "__main__":
    pdtest.run(Env)
