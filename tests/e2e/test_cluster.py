#!/usr/bin/env python3
"""The ledger on PostgreSQL (SPEC 18): a server of the suite's own (pgserver.py), a ledger the
real daemon wrote moved into it with `pdgate ledger migrate`, and `pdgate ledger verify |
export | checkpoint | prove` against it giving what they give on the file, down to the bytes;
a hand-changed row named by verify; and the refusals: a URL that does not parse, a server not
reached, a database already holding a ledger, another origin's key, a running gateway, a
database that is not pdgate's, a newer schema.
"""

import base64
import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import requests

import pdtest
from pdtest import case, check, check_error, eq
from pgserver import PgServer

CONTRACT, PARTNER, PURPOSE = "CT-2026-0001", "sakura-mail", "contact"
INTERVAL_MS = 200


def cli(inst, *args, ok=True):
    r = inst.pdgate("ledger", *args)
    if ok:
        check(r.returncode == 0, f"pdgate ledger {' '.join(map(str, args))}: exit {r.returncode}: "
                                 f"{r.stderr.strip()[-600:]}")
    return r


def refused(inst, args, words, status=1):
    r = cli(inst, *args, ok=False)
    eq(r.returncode, status, f"exit status of {args[0]} (stderr {r.stderr.strip()!r})")
    check(any(w in r.stderr for w in words), f"expected one of {words} in {r.stderr.strip()!r}")
    return r


def vkey_of(env, name):
    """A file holding the verifier key of a fresh Ed25519 key under name (C2SP signed-note,
    type 0x01)."""
    pk = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kid = hashlib.sha256(name.encode() + b"\n\x01" + pk).digest()[:4]
    key = base64.b64encode(b"\x01" + pk).decode()
    path = env.tmp / "other.vkey"
    path.write_text(f"{name}+{kid.hex()}+{key}\n")
    return path


def ledger_db(inst):
    return inst.path(inst.get("ledger", "path") or "ledger.db")


def unlimited(inst):
    """The contract without rate or volume limits (the nodes count them each on their own)."""
    p = inst.path(f"contracts/{CONTRACT}.json")
    c = json.loads(p.read_text(encoding="utf-8"))
    c.pop("limits", None)
    c["valid_until"] = "2099-12-31T23:59:59+09:00"
    p.write_text(json.dumps(c, ensure_ascii=False, indent=2), encoding="utf-8")


def token(inst):
    r = inst.pdgate("token", "issue", "-c", inst.conf, "--contract", CONTRACT, "--purpose",
                    PURPOSE, "--ttl", "1h", "--cert", inst.pki.partner(PARTNER).pem)
    check(r.returncode == 0, f"token issue: {r.stderr.strip()}")
    return r.stdout.strip()


def some_requests(d, tok):
    cert = d.install.pki.partner(PARTNER)
    auth = {"Authorization": "Bearer " + tok}
    for path, headers in [("/v1/members/M0000001", auth), ("/v1/members?limit=5", auth),
                          ("/v1/members/M0000002", {**auth, "X-Purpose": "marketing"}),
                          ("/v1/members/NOSUCH999", auth)]:
        r = d.get(path, cert=cert, headers=headers)
        check(r.headers.get("X-Ledger-Index", "").isdigit(), f"{path}: {r.status_code}")


class Env(pdtest.Env):
    @pdtest.fixture
    def pg(self):
        return self.enter(PgServer())

    @pdtest.fixture
    def done(self):
        """An installation whose daemon answered requests and stopped: a signed ledger.db."""
        inst = self.install(members=30, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
        with pdtest.Daemon(inst) as d:
            tok = token(inst)
            some_requests(d, tok)
            time.sleep(3 * INTERVAL_MS / 1000)
            some_requests(d, tok)
            d.term()
        return inst

    @pdtest.fixture
    def moved(self):
        """The done ledger migrated into a database of its own; its URL."""
        url = self.pg.database_url("moved")
        self.pg.create_database("moved")
        inst = self.done
        r = cli(inst, "migrate", "--from", ledger_db(inst), "--to", url, "-c",
                inst.conf)
        check("verified before and after" in r.stdout, f"migrate says: {r.stdout!r}")
        self.migrate_out = r.stdout
        return url

    def vkey(self):
        return str(self.done.path("keys/ledger.vkey"))


@case("migrate: the ledger moved, verify on PostgreSQL says what it says on the file")
def _(env):
    inst = env.done
    url = env.moved
    on_file = cli(inst, "verify", "-c", inst.conf).stdout.splitlines()
    on_pg = cli(inst, "verify", "--db", url, "--vkey", env.vkey()).stdout.splitlines()
    eq(on_pg, on_file, "verify's lines")
    eq(on_pg[-1], "ledger OK", "verdict")
    size = int(on_file[0].split()[1])
    check(f"migrated {size} entries" in env.migrate_out, env.migrate_out)
    eq(env.migrate_out.splitlines()[:2], on_file[:2], "migrate's size and checkpoint lines")


@case("export, checkpoint and prove on PostgreSQL: the file's bytes; check-proof passes")
def _(env):
    inst = env.done
    url = env.moved
    eq(cli(inst, "export", "--db", url).stdout, cli(inst, "export", "-c", inst.conf).stdout,
       "exported leaves")
    eq(cli(inst, "export", "--db", url, "--start", "3", "--end", "7").stdout,
       cli(inst, "export", "-c", inst.conf, "--start", "3", "--end", "7").stdout, "a range")
    eq(cli(inst, "checkpoint", "--db", url).stdout, cli(inst, "checkpoint", "-c", inst.conf).stdout,
       "the latest checkpoint note")
    for index in ("0", "5"):
        a = cli(inst, "prove", "--db", url, "--vkey", env.vkey(), index).stdout
        b = cli(inst, "prove", "-c", inst.conf, index).stdout
        eq(json.loads(a), json.loads(b), f"proof bundle of entry {index}")
        bundle = env.tmp / f"bundle-{index}.json"
        bundle.write_text(a)
        r = cli(inst, "check-proof", bundle, "--vkey", env.vkey())
        eq(r.returncode, 0, "check-proof")


@case("a leaf changed by hand in PostgreSQL: verify names its entry")
def _(env):
    inst = env.done
    url = env.pg.database_url("tampered")
    env.pg.create_database("tampered")
    cli(inst, "migrate", "--from", ledger_db(inst), "--to", url, "-c", inst.conf)
    env.pg.psql("UPDATE batches SET leaves = replace(leaves, 'sakura-mail', 'sakura-maiL') "
                "WHERE first = (SELECT min(first) FROM batches WHERE leaves LIKE '%sakura-mail%')",
                dbname="tampered")
    # the view of one row per entry, as people read it with psql
    first = int(env.pg.psql("SELECT min(idx) FROM entries WHERE leaf LIKE '%sakura-maiL%'",
                            dbname="tampered").strip())
    refused(inst, ["verify", "--db", url, "--vkey", env.vkey()],
            [f"entry {first}: the leaf does not hash to its stored hash"])
    # the tree state row edited: a checkpoint beyond what is stored
    env.pg.psql("DELETE FROM checkpoints WHERE size = (SELECT max(size) FROM checkpoints)",
                dbname="tampered")
    refused(inst, ["verify", "--db", url, "--vkey", env.vkey()], ["entry", "checkpoint"])


@case("migrate refuses: non-empty database, another origin, bad URL, no server, running gateway")
def _(env):
    inst = env.done
    url = env.moved
    db = ledger_db(inst)
    before = env.pg.psql("SELECT count(*), coalesce(sum(n), 0) FROM batches", dbname="moved")
    refused(inst, ["migrate", "--from", db, "--to", url, "-c", inst.conf],
            ["already holds a ledger"])
    eq(env.pg.psql("SELECT count(*), coalesce(sum(n), 0) FROM batches", dbname="moved"), before,
       "nothing added")
    refused(inst, ["migrate", "--from", db, "--to", "postgresql://h:port/x", "-c", inst.conf],
            ["ledger url does not parse"])
    refused(inst, ["migrate", "--from", db, "--to", "mysql://h/x", "-c", inst.conf],
            ["not a postgresql:// URL", "--to a postgresql:// URL"])
    refused(inst, ["migrate", "--from", db, "--to",
                   f"postgresql://postgres@127.0.0.1:{pdtest.free_port()}/x", "-c", inst.conf],
            ["cannot reach PostgreSQL"])
    refused(inst, ["migrate", "--from", db], ["migrate takes --from"], status=2)
    # another installation's key of the same name: the file does not verify with it
    other = env.install(members=5)
    env.pg.create_database("other")
    refused(inst, ["migrate", "--from", db, "--to", env.pg.database_url("other"), "--vkey",
                   other.path("keys/ledger.vkey")], ["does not verify"])
    # a key of another origin line: the file's origin is not the key's name
    refused(inst, ["migrate", "--from", db, "--to", env.pg.database_url("other"), "--vkey",
                   vkey_of(env, "pdgate.test/another")], ["ledger origin is"])
    eq(env.pg.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                   dbname="other").strip(), "0", "nothing created for a refused move")
    # a database of someone else's
    env.pg.create_database("foreign")
    env.pg.psql("CREATE TABLE invoices(id integer)", dbname="foreign")
    refused(inst, ["migrate", "--from", db, "--to", env.pg.database_url("foreign"), "-c",
                   inst.conf], ["not a pdgate ledger"])
    eq(env.pg.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                   dbname="foreign").strip(), "1", "its tables left alone")
    # a running gateway holds the file: refused, the database untouched
    live = env.install(members=5)
    with pdtest.Daemon(live):
        env.pg.create_database("live")
        refused(live, ["migrate", "--from", ledger_db(live), "--to",
                       env.pg.database_url("live"), "-c", live.conf], ["a pdgate is running"])
    eq(env.pg.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                   dbname="live").strip(), "0", "nothing created")


@case("verify on PostgreSQL refuses a newer schema and a database that is not pdgate's")
def _(env):
    inst = env.done
    env.pg.create_database("newer")
    url = env.pg.database_url("newer")
    cli(inst, "migrate", "--from", ledger_db(inst), "--to", url, "-c", inst.conf)
    env.pg.psql("UPDATE meta SET value = '3' WHERE key = 'schema'", dbname="newer")
    refused(inst, ["verify", "--db", url, "--vkey", env.vkey()], ["ledger schema 3 (a newer pdgate's)"])
    env.pg.create_database("none")
    refused(inst, ["export", "--db", env.pg.database_url("none")], ["not a pdgate ledger"])


def serve_n(inst, name, url, path=None):
    conf = inst.variant(name, {("ledger", "path"): path, ("ledger", "url"): url})
    return inst.pdgate("serve", "-c", conf, "-n")


@case("serve -n and serve with [ledger] url: an empty database or pdgate's is OK, others refused")
def _(env):
    inst = env.done
    env.pg.create_database("fresh")
    r = serve_n(inst, "fresh", env.pg.database_url("fresh"))
    eq((r.returncode, r.stdout.strip()), (0, "configuration OK"), f"an empty database: {r.stderr}")
    eq(env.pg.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                   dbname="fresh").strip(), "0", "-n creates nothing")
    r = serve_n(inst, "moved", env.moved)
    eq((r.returncode, r.stdout.strip()), (0, "configuration OK"), f"the moved ledger: {r.stderr}")
    for name, url, words in [
        ("badurl", "postgresql://h:port/x", "[ledger] url: ledger url does not parse"),
        ("notpg", "mysql://h/x", "[ledger] url: not a postgresql:// URL"),
        ("noserver", f"postgresql://postgres@127.0.0.1:{pdtest.free_port()}/x",
         "[ledger] url: cannot reach PostgreSQL"),
        ("foreign", None, "[ledger] url: not a pdgate ledger"),
        ("newer", None, "[ledger] url: ledger schema 3 (a newer pdgate's)"),
    ]:
        if url is None:
            if name == "foreign":
                env.pg.create_database("foreign2")
                env.pg.psql("CREATE TABLE invoices(id integer)", dbname="foreign2")
                url = env.pg.database_url("foreign2")
            else:
                env.pg.create_database("newer2")
                url = env.pg.database_url("newer2")
                cli(inst, "migrate", "--from", ledger_db(inst), "--to", url, "-c", inst.conf)
                env.pg.psql("UPDATE meta SET value = '3' WHERE key = 'schema'", dbname="newer2")
        r = serve_n(inst, name, url)
        check(r.returncode != 0 and words in r.stderr, f"{name}: exit {r.returncode}: {r.stderr!r}")
    # another origin line in the configuration than the database's
    conf = inst.variant("origin", {("ledger", "path"): None, ("ledger", "url"): env.moved,
                                   ("ledger", "origin"): "pdgate.test/another"})
    r = inst.pdgate("serve", "-c", conf, "-n")
    check(r.returncode != 0 and "ledger origin is" in r.stderr, f"origin: {r.stderr!r}")
    # serve itself refuses the same, before it listens
    for name, url, words in [("s-badurl", "postgresql://h:port/x", "ledger url does not parse"),
                             ("s-newer", env.pg.database_url("newer2"), "a newer pdgate's"),
                             ("s-foreign", env.pg.database_url("foreign2"), "not a pdgate ledger")]:
        conf = node_conf(inst, name, url)
        r = inst.pdgate("serve", "-c", conf, timeout=60)
        check(r.returncode != 0 and "[ledger] url: " in r.stderr and words in r.stderr,
              f"serve {name}: exit {r.returncode}: {r.stderr!r}")
    # a file and a database at once, or neither
    r = serve_n(inst, "both", env.moved, path="ledger.db")
    check(r.returncode != 0 and "has both path and url" in r.stderr, f"both: {r.stderr!r}")
    r = serve_n(inst, "neither", None)
    check(r.returncode != 0 and "lacks the required key 'path'" in r.stderr, f"neither: {r.stderr!r}")


def node_conf(inst, name, url):
    """A configuration of its own for one node of inst on the PostgreSQL ledger url: its own
    listeners, state database and log."""
    return inst.variant(name, {("ledger", "path"): None, ("ledger", "url"): url,
                               ("partner", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                               ("compliance", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                               ("gateway", "state"): f"state-{name}.db"})


def leaves_of(inst, url):
    out = cli(inst, "export", "--db", url).stdout
    return [json.loads(x) for x in out.splitlines()]


def spread(daemons, tok, n, threads=8):
    """n member requests over the daemons in turn, threads at once; [(node, index, request)]."""
    cert = daemons[0].install.pki.partner(PARTNER)
    auth = {"Authorization": "Bearer " + tok}
    got, lock = [], threading.Lock()

    def one(i):
        d = daemons[i % len(daemons)]
        r = d.get(f"/v1/members/M{1 + i % 25:07d}", cert=cert, headers=auth)
        eq(r.status_code, 200, f"request {i} to node {i % len(daemons)}: {r.text[:200]}")
        with lock:
            got.append((i % len(daemons), int(r.headers["X-Ledger-Index"]),
                        r.headers["X-Request-Id"]))

    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(one, range(n)))
    return got


@case("one node on PostgreSQL: every answer's entry is there, verify passes after")
def _(env):
    inst = env.install(members=30, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
    env.pg.create_database("single")
    url = env.pg.database_url("single")
    conf = node_conf(inst, "single", url)
    unlimited(inst)
    with pdtest.Daemon(inst, conf=conf) as d:
        got = spread([d], token(inst), 60)
        d.term()
    leaves = leaves_of(inst, url)
    for _, idx, rid in got:
        eq((leaves[idx]["index"], leaves[idx]["request"]), (idx, rid), f"entry {idx}")
    eq(leaves[0]["admin"]["action"], "gateway_start", "the first entry")
    eq(leaves[-1]["admin"]["action"], "gateway_stop", "the last entry")
    r = cli(inst, "verify", "--db", url, "--vkey", inst.path("keys/ledger.vkey"))
    check(f"size {len(leaves)}\ncheckpoint {len(leaves)} " in r.stdout, r.stdout)


@case("two nodes on one PostgreSQL: requests spread over both, one tree, consistent checkpoints")
def _(env):
    inst = env.install(members=30, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
    env.pg.create_database("two")
    url = env.pg.database_url("two")
    c1, c2 = node_conf(inst, "node1", url), node_conf(inst, "node2", url)
    unlimited(inst)
    tok = token(inst)
    with pdtest.Daemon(inst, conf=c1) as d1, pdtest.Daemon(inst, conf=c2) as d2:
        got = spread([d1, d2], tok, 300, threads=16)
        time.sleep(3 * INTERVAL_MS / 1000)
        got += spread([d2, d1], tok, 100)
        d1.term()
        # node 2 serves on after node 1 stopped
        got += spread([d2], tok, 40)
        d2.term()
    eq(len({idx for _, idx, _ in got}), len(got), "no index given twice")
    leaves = leaves_of(inst, url)
    for node, idx, rid in got:
        eq((leaves[idx]["index"], leaves[idx]["request"]), (idx, rid), f"entry {idx} (node {node})")
    starts = [x["index"] for x in leaves if x["kind"] == "admin" and x["admin"]["action"] == "gateway_start"]
    stops = [x["index"] for x in leaves if x["kind"] == "admin" and x["admin"]["action"] == "gateway_stop"]
    eq((len(starts), len(stops)), (2, 2), "each node started and stopped once")
    cps = int(env.pg.psql("SELECT count(*) FROM checkpoints", dbname="two"))
    check(cps >= 3, f"checkpoints: {cps}")
    # verify checks every checkpoint's consistency with the next, whichever node signed it
    r = cli(inst, "verify", "--db", url, "--vkey", inst.path("keys/ledger.vkey"))
    check(r.stdout.endswith("ledger OK\n") and f"checkpoint {len(leaves)} " in r.stdout, r.stdout)


@case("node 1 kill -9ed under load while node 2 serves on: every 200 from either has its entry")
def _(env):
    inst = env.install(members=30, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
    env.pg.create_database("killed")
    url = env.pg.database_url("killed")
    c1, c2 = node_conf(inst, "k1", url), node_conf(inst, "k2", url)
    unlimited(inst)
    tok = token(inst)
    cert = inst.pki.partner(PARTNER)
    auth = {"Authorization": "Bearer " + tok}
    got, lock, stop = [], threading.Lock(), threading.Event()
    with pdtest.Daemon(inst, conf=c1) as d1, pdtest.Daemon(inst, conf=c2) as d2:
        def load(d, k):
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = d.get(f"/v1/members/M{1 + (i + k) % 25:07d}", cert=cert, headers=auth,
                              timeout=5)
                except Exception:  # noqa: BLE001 - the killed node's connections fail
                    continue
                if r.status_code == 200:
                    with lock:
                        got.append((int(r.headers["X-Ledger-Index"]), r.headers["X-Request-Id"]))
        threads = [threading.Thread(target=load, args=(d, k)) for k, d in
                   enumerate([d1, d1, d1, d1, d2, d2, d2, d2])]
        for t in threads:
            t.start()
        time.sleep(1.5)
        d1.kill()
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join()
        after = spread([d2], tok, 20)
        d2.term()
    check(len(got) > 50, f"answers under load: {len(got)}")
    leaves = leaves_of(inst, url)
    for idx, rid in got + [(i, r) for _, i, r in after]:
        eq(leaves[idx]["request"], rid, f"entry {idx}")
    r = cli(inst, "verify", "--db", url, "--vkey", inst.path("keys/ledger.vkey"))
    check(r.stdout.endswith("ledger OK\n"), r.stdout)


@case("PostgreSQL stopped under a node: 503 ledger_unavailable, nothing released; back by itself")
def _(env):
    inst = env.install(members=30, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
    env.pg.create_database("outage")
    url = env.pg.database_url("outage")
    conf = node_conf(inst, "outage", url)
    unlimited(inst)
    tok = token(inst)
    cert = inst.pki.partner(PARTNER)
    auth = {"Authorization": "Bearer " + tok}
    with pdtest.Daemon(inst, conf=conf) as d:
        spread([d], tok, 20)
        env.pg.pause()
        try:
            for i in range(5):
                r = d.get(f"/v1/members/M{1 + i:07d}", cert=cert, headers=auth)
                pdtest.check_error(r, 503, "ledger_unavailable", f"request {i} while stopped")
                check(b"M000000" not in r.content, f"released while stopped: {r.content[:200]!r}")
        finally:
            env.pg.resume()
        # back by itself: the next commit connects again
        deadline = time.monotonic() + 20
        while True:
            r = d.get("/v1/members/M0000007", cert=cert, headers=auth)
            if r.status_code == 200:
                break
            check(time.monotonic() < deadline, f"not back after the restart: {r.status_code} {r.text[:300]}")
            time.sleep(0.2)
        got = spread([d], tok, 20)
        d.term()
    leaves = leaves_of(inst, url)
    for _, idx, rid in got:
        eq(leaves[idx]["request"], rid, f"entry {idx}")
    r = cli(inst, "verify", "--db", url, "--vkey", inst.path("keys/ledger.vkey"))
    check(r.stdout.endswith("ledger OK\n"), r.stdout)


def staff_token(inst, name, role):
    r = inst.pdgate("token", "issue", "-c", inst.conf, "--staff", name, "--role", role, "--ttl", "1h")
    check(r.returncode == 0, f"token issue --staff: {r.stderr.strip()}")
    return r.stdout.strip()


def officer_call(d, conf, path, tok, body=None, method="POST"):
    """One request to the compliance listener of node d (its own port, from its conf)."""
    port = int(d.install.get("compliance", "listen", conf=conf).rpartition(":")[2])
    return requests.request(method, f"https://127.0.0.1:{port}{path}", json=body,
                            headers={"Authorization": f"Bearer {tok}"},
                            verify=str(d.install.server_ca), timeout=30 * pdtest.SLOW)


@case("two nodes: a suspension made on node 1 refuses node 2's next request on its kept-alive "
      "connection, recorded; lifted on node 2, node 1 serves again")
def _(env):
    inst = env.install(members=30, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
    env.pg.create_database("suspend")
    url = env.pg.database_url("suspend")
    c1, c2 = node_conf(inst, "s1", url), node_conf(inst, "s2", url)
    unlimited(inst)
    tok, officer = token(inst), staff_token(inst, "officer", "officer")
    auth = {"Authorization": "Bearer " + tok}
    cert = inst.pki.partner(PARTNER)
    reason = "委託先での漏えいの疑い（調査中）"
    with pdtest.Daemon(inst, conf=c1) as d1, pdtest.Daemon(inst, conf=c2) as d2:
        raw2, raw1 = d2.http(cert=cert), d1.http(cert=cert)
        for raw, node in ((raw2, 2), (raw1, 1)):
            for path in ("/v1/members/M0000001", "/v1/members?limit=2"):
                eq(raw.request("GET", path, headers=auth).status_code, 200, f"node {node} {path}, before")
        r = officer_call(d1, c1, f"/v1/partners/{PARTNER}/suspend", officer, {"reason": reason})
        eq(r.status_code, 200, f"suspend on node 1: {r.text[:300]}")
        doc = r.json()
        eq((doc["suspended"], doc["changed"]), (True, True), "suspended on node 1")
        # node 2 has not been told: its next release checks under the tree lock
        refusals = []
        for path in ("/v1/members/M0000002", "/v1/members?limit=2", "/v1/members/M0000003"):
            r = raw2.request("GET", path, headers=auth)
            check_error(r, 403, "partner_suspended", f"node 2 {path}, kept-alive, after the suspension")
            check(b"M000000" not in r.content, f"released: {r.content[:200]!r}")
            idx = r.headers.get("X-Ledger-Index", "")
            check(idx.isdigit(), f"node 2's refusal of {path} recorded: {r.headers}")
            refusals.append(int(idx))
        check(not raw2.closed_by_peer(0.1), "node 2's connection kept")
        check_error(raw1.request("GET", "/v1/members/M0000004", headers=auth), 403, "partner_suspended",
                    "node 1, kept-alive")
        # node 2's compliance API reads the state from the database
        parts = officer_call(d2, c2, "/v1/partners", officer, method="GET").json()["partners"]
        mine = [p for p in parts if p["partner"] == PARTNER][0]
        eq((mine["suspended"], mine["reason"], mine["by"]), (True, reason, "officer"), "node 2's view")
        # a second suspension on node 2 changes nothing: the row is the database's
        r = officer_call(d2, c2, f"/v1/partners/{PARTNER}/suspend", officer, {"reason": "again"})
        eq((r.status_code, r.json()["changed"]), (200, False), "suspend again on node 2")
        # lifted on node 2: node 1 serves again on its kept-alive connection
        r = officer_call(d2, c2, f"/v1/partners/{PARTNER}/resume", officer)
        eq((r.status_code, r.json()["changed"]), (200, True), f"resume on node 2: {r.text[:300]}")
        # node 1 hears of it by NOTIFY (a lift need not wait for a commit: refusing a little
        # longer is on the safe side), within moments
        deadline = time.monotonic() + 5
        while (r := raw1.request("GET", "/v1/members/M0000005", headers=auth)).status_code != 200:
            check_error(r, 403, "partner_suspended", "node 1 before it heard of the resume")
            check(time.monotonic() < deadline, "node 1 did not hear of the resume within 5 s")
            time.sleep(0.05)
        for path in ("/v1/members/M0000005", "/v1/members?limit=2"):
            eq(raw1.request("GET", path, headers=auth).status_code, 200, f"node 1 {path}, after the resume")
            eq(raw2.request("GET", path, headers=auth).status_code, 200, f"node 2 {path}, after the resume")
        # the gateway's kill switch, the same way
        r = officer_call(d2, c2, "/v1/gateway/suspend", officer, {"reason": "緊急停止訓練"})
        eq(r.status_code, 200, f"gateway suspend on node 2: {r.text[:300]}")
        check_error(raw1.request("GET", "/v1/members/M0000006", headers=auth), 503, "gateway_suspended",
                    "node 1, kept-alive, gateway suspended on node 2")
        eq(officer_call(d1, c1, "/v1/gateway/resume", officer).status_code, 200, "gateway resume on node 1")
        deadline = time.monotonic() + 5
        while (r := raw2.request("GET", "/v1/members/M0000007", headers=auth)).status_code != 200:
            check_error(r, 503, "gateway_suspended", "node 2 before it heard of the resume")
            check(time.monotonic() < deadline, "node 2 did not hear of the gateway's resume within 5 s")
            time.sleep(0.05)
        raw1.close()
        raw2.close()
        d1.term()
        d2.term()
    leaves = leaves_of(inst, url)
    for idx in refusals:
        eq((leaves[idx]["kind"], leaves[idx]["reason"], leaves[idx]["partner"]),
           ("deny", "partner_suspended", PARTNER), f"entry {idx}")
    after = [x for x in leaves if x["index"] > doc["ledger_index"] and x["kind"] == "release"]
    resumed = [x["index"] for x in leaves if x["kind"] == "admin" and x["admin"]["action"] == "partner_resume"]
    eq(len(resumed), 1, "one partner_resume entry")
    check(all(x["index"] > resumed[0] for x in after),
          f"a release between the suspension and the resume: {[x['index'] for x in after]}")
    r = cli(inst, "verify", "--db", url, "--vkey", inst.path("keys/ledger.vkey"))
    check(r.stdout.endswith("ledger OK\n"), r.stdout)


@case("two nodes: a suspension that reaches node 2 by no notification still refuses its next "
      "releases (one member, a page): the check under the tree lock, recorded")
def _(env):
    # no checkpoint while it runs: a checkpoint's transaction reads the shared state too, and
    # would put an unheard change in force before the release the case watches
    inst = env.install(members=30, conf={("ledger", "checkpoint_interval_ms"): 600000})
    env.pg.create_database("unheard")
    url = env.pg.database_url("unheard")
    c1, c2 = node_conf(inst, "u1", url), node_conf(inst, "u2", url)
    unlimited(inst)
    tok = token(inst)
    auth = {"Authorization": "Bearer " + tok}
    cert = inst.pki.partner(PARTNER)
    with pdtest.Daemon(inst, conf=c1) as d1, pdtest.Daemon(inst, conf=c2) as d2:
        raw2 = d2.http(cert=cert)
        eq(raw2.request("GET", "/v1/members/M0000001", headers=auth).status_code, 200, "before")
        # what another node's change does, without its NOTIFY: node 2 is not told, only its
        # next commit can see it
        def unheard(change):
            env.pg.psql(f"BEGIN; SELECT 1 FROM tree WHERE id = 0 FOR UPDATE; {change}; "
                        "UPDATE state SET generation = generation + 1; COMMIT", dbname="unheard")

        def refused(path):
            r = raw2.request("GET", path, headers=auth)
            check_error(r, 403, "partner_suspended", f"node 2 {path}")
            check(b"M000000" not in r.content, f"released: {r.content[:200]!r}")
            return int(r.headers["X-Ledger-Index"])

        suspend = (f"INSERT INTO suspensions(partner, by, reason, since_ms) VALUES ('{PARTNER}', "
                   "'officer', 'unheard', 0)")
        unheard(suspend)
        got = [refused("/v1/members?limit=3")]  # a page: the writer's answer waited for
        unheard(f"DELETE FROM suspensions WHERE partner = '{PARTNER}'")
        for _ in range(5):  # refused from memory until a commit of node 2 reads the lift
            if raw2.request("GET", "/v1/members/M0000004", headers=auth).status_code == 200:
                break
        else:
            raise pdtest.Failure("node 2 never served again after the unheard lift")
        unheard(suspend)
        got.append(refused("/v1/members/M0000002"))  # one member: the writer's callback
        check_error(d1.get("/v1/members/M0000003", cert=cert, headers=auth), 403, "partner_suspended",
                    "node 1")
        raw2.close()
        d1.term()
        d2.term()
        log = d2.log()
    eq(log.count("is refused under"), 2, f"node 2's refusals under the lock, not from memory:\n{log[-2000:]}")
    leaves = leaves_of(inst, url)
    for idx in got:
        eq((leaves[idx]["kind"], leaves[idx]["reason"]), ("deny", "partner_suspended"), f"entry {idx}")
    r = cli(inst, "verify", "--db", url, "--vkey", inst.path("keys/ledger.vkey"))
    check(r.stdout.endswith("ledger OK\n"), r.stdout)


def jti_of(tok):
    part = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["jti"]


@case("two nodes: a work order revoked through node 1 is refused on node 2's kept-alive "
      "connection, recorded; one revoked unheard is refused under the tree lock")
def _(env):
    # no checkpoint while it runs (as in the unheard suspension above)
    inst = env.install(members=30, conf={("ledger", "checkpoint_interval_ms"): 600000})
    env.pg.create_database("revoke")
    url = env.pg.database_url("revoke")
    c1, c2 = node_conf(inst, "r1", url), node_conf(inst, "r2", url)
    unlimited(inst)
    tok, other = token(inst), token(inst)
    auditor = staff_token(inst, "auditor", "auditor")
    jti = jti_of(tok)
    auth, auth2 = {"Authorization": "Bearer " + tok}, {"Authorization": "Bearer " + other}
    cert = inst.pki.partner(PARTNER)
    with pdtest.Daemon(inst, conf=c1) as d1, pdtest.Daemon(inst, conf=c2) as d2:
        raw2 = d2.http(cert=cert)
        for path in ("/v1/members/M0000001", "/v1/members?limit=2"):
            eq(raw2.request("GET", path, headers=auth).status_code, 200, f"node 2 {path}, before")
        r = inst.pdgate("token", "revoke", "-c", c1, jti)
        eq(r.returncode, 0, f"pdgate token revoke on node 1 (stderr {r.stderr.strip()[-300:]!r})")
        got = []
        for path in ("/v1/members/M0000002", "/v1/members?limit=2"):
            r = raw2.request("GET", path, headers=auth)
            body = check_error(r, 401, "token_invalid", f"node 2 {path}, kept-alive, after the revocation")
            check("revoked" in body["message"], f"message {body['message']!r}")
            check(b"M000000" not in r.content, f"released: {r.content[:200]!r}")
            idx = r.headers.get("X-Ledger-Index", "")
            check(idx.isdigit(), f"node 2's refusal of {path} recorded: {r.headers}")
            got.append(int(idx))
        check(not raw2.closed_by_peer(0.1), "node 2's connection kept")
        eq(raw2.request("GET", "/v1/members/M0000003", headers=auth2).status_code, 200,
           "another work order untouched")
        # revoked by another node without its NOTIFY: only node 2's next commit can see it
        env.pg.psql("BEGIN; SELECT 1 FROM tree WHERE id = 0 FOR UPDATE; INSERT INTO revoked(jti, "
                    f"revoked_at) VALUES ('{jti_of(other)}', 0); UPDATE state SET generation = "
                    "generation + 1; COMMIT", dbname="revoke")
        r = raw2.request("GET", "/v1/members/M0000004", headers=auth2)
        check_error(r, 401, "token_invalid", "node 2, the unheard revocation")
        check(b"M000000" not in r.content, f"released: {r.content[:200]!r}")
        got.append(int(r.headers["X-Ledger-Index"]))
        check_error(d1.get("/v1/members/M0000005", cert=cert, headers=auth), 401, "token_invalid",
                    "node 1")
        # a staff token revoked through node 1 is refused by node 2's compliance API
        eq(officer_call(d2, c2, "/v1/partners", auditor, method="GET").status_code, 200,
           "node 2's compliance API, before")
        eq(inst.pdgate("token", "revoke", "-c", c1, jti_of(auditor)).returncode, 0, "staff revoke")
        deadline = time.monotonic() + 5
        while (r := officer_call(d2, c2, "/v1/partners", auditor, method="GET")).status_code == 200:
            check(time.monotonic() < deadline, "node 2 did not hear of the staff revocation in 5 s")
            time.sleep(0.05)
        body = check_error(r, 401, "token_invalid", "node 2's compliance API, staff token revoked")
        check("revoked" in body["message"], f"message {body['message']!r}")
        raw2.close()
        d1.term()
        d2.term()
        log = d2.log()
    # the first refusal may come from memory (NOTIFY heard) or the lock; the unheard one only
    # from the lock
    check("decided under shared state 2 is refused under 3" in log,
          f"node 2's refusal under the lock:\n{log[-2000:]}")
    leaves = leaves_of(inst, url)
    # the shared state out of reach: exit 1 with the reason, the node's own file revoked
    bad = node_conf(inst, "r3", f"postgresql://postgres@127.0.0.1:{pdtest.free_port()}/revoke")
    r = inst.pdgate("token", "revoke", "-c", bad, "never-shared")
    eq(r.returncode, 1, f"revoke with the database out of reach (stderr {r.stderr.strip()!r})")
    check("the shared state" in r.stderr and "revoked never-shared" not in r.stdout,
          f"revoke unreachable: {r.stderr.strip()!r} {r.stdout!r}")
    for idx, t in zip(got, (jti, jti, jti_of(other))):
        eq((leaves[idx]["kind"], leaves[idx]["reason"], leaves[idx].get("token")),
           ("deny", "token_invalid", t), f"entry {idx}")
    r = cli(inst, "verify", "--db", url, "--vkey", inst.path("keys/ledger.vkey"))
    check(r.stdout.endswith("ledger OK\n"), r.stdout)


if __name__ == "__main__":
    pdtest.run(Env)
