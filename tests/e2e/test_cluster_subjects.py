#!/usr/bin/env python3
"""Members' requests on several nodes (a PostgreSQL ledger, docs/cluster.md): a stop request
registered through one node's compliance API is honoured by the very next release of another
node's kept-alive connection (one member, a page), and lifted the same way; a request row
written straight into the database without a notification is honoured at the other node's
next commit, under the tree lock; both nodes registering at once give distinct ids; the lists
and the member's view on either node show every request; `pdgate ledger migrate -c` copies a
single gateway's suspensions, revoked tokens and requests, and a node whose state file holds
some that were never copied refuses to start.
"""

import datetime
import hashlib
import hmac
import json
import re
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import requests

import pdtest
from pdtest import case, check, check_error, eq
from pgserver import PgServer

MEMBERS = 600
SAKURA, SAKURA_CT = "sakura-mail", "CT-2026-0001"     # entrustment
MIRAI, MIRAI_CT = "mirai-insurance", "CT-2026-0005"   # third_party, consented
JST = datetime.timezone(datetime.timedelta(hours=9))
ID_RE = re.compile(r"^RQ-(\d{4})-(\d{6})$")


def today():
    return datetime.datetime.now(JST).date().isoformat()


def pd(inst, *args, conf=None):
    r = inst.pdgate(*args)
    check(r.returncode == 0, f"pdgate {' '.join(map(str, args))}: {r.stderr.strip()[-600:]}")
    return r.stdout.strip()


def staff(inst, name, role):
    return pd(inst, "token", "issue", "-c", inst.conf, "--staff", name, "--role", role, "--ttl", "2h")


def work_order(inst, contract, purpose, partner):
    return pd(inst, "token", "issue", "-c", inst.conf, "--contract", contract, "--purpose", purpose,
              "--ttl", "2h", "--cert", inst.pki.partner(partner).pem)


def unlimited(inst, contract):
    p = inst.path(f"contracts/{contract}.json")
    c = json.loads(p.read_text(encoding="utf-8"))
    c.pop("limits", None)
    c["valid_until"] = "2099-12-31T23:59:59+09:00"
    p.write_text(json.dumps(c, ensure_ascii=False, indent=2), encoding="utf-8")


def node_conf(inst, name, url, state=None):
    return inst.variant(name, {("ledger", "path"): None, ("ledger", "url"): url,
                               ("partner", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                               ("compliance", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                               ("partner", "idle_timeout_s"): 60,
                               ("gateway", "state"): state or f"state-{name}.db"})


def call(d, conf, path, tok, body=None, method="GET"):
    """One request to the compliance listener of node d (its own port, from its conf)."""
    port = int(d.install.get("compliance", "listen", conf=conf).rpartition(":")[2])
    return requests.request(method, f"https://127.0.0.1:{port}{path}", json=body,
                            headers={"Authorization": f"Bearer {tok}"},
                            verify=str(d.install.server_ca), timeout=30 * pdtest.SLOW)


def register(d, conf, tok, member, kind):
    r = call(d, conf, f"/v1/subjects/{member}/requests", tok,
             {"type": kind, "received": today(), "channel": "窓口"}, "POST")
    eq(r.status_code, 201, f"register {kind} for {member}: {r.text[:300]}")
    return r.json()


def servable(inst):
    """Members, in order, both sakura-mail and mirai-insurance (consented, third party) may
    receive by their records; and every member in order."""
    db = sqlite3.connect(inst.path("members.db"))
    out, every = [], []
    for m, text in db.execute("SELECT member_id, record FROM members ORDER BY member_id"):
        every.append(m)
        r = json.loads(text)
        c, x = r.get("consents") or {}, r.get("restrictions") or {}
        if x.get("stop_use") or x.get("stop_third_party") or c.get("marketing") is False:
            continue
        if c.get("third_party_provision") is True and (
                c.get("consented") is True or MIRAI_CT in (c.get("consented") or [])):
            out.append(m)
    db.close()
    return out, every


def subject_of(inst, member_id):
    secret = inst.path("keys/pseudonym.key").read_bytes()
    ks = hmac.new(secret, b"pdgate subject v1\x00", hashlib.sha256).digest()
    return hmac.new(ks, member_id.encode(), hashlib.sha256).hexdigest()


def page_with(raw, auth, every, m):
    """The page of the one member m (after the member before it): (released, withheld)."""
    prev = every[every.index(m) - 1]
    r = raw.request("GET", f"/v1/members?limit=1&after={prev}", headers=auth)
    eq(r.status_code, 200, f"the page at {m}: {r.text[:300]}")
    page = r.json()
    eq(page["next"], m, "the page's cursor")
    return len(page["members"]), page["withheld"]


def leaves_of(inst, url):
    r = inst.pdgate("ledger", "export", "--db", url)
    check(r.returncode == 0, f"export: {r.stderr.strip()[-300:]}")
    return [json.loads(x) for x in r.stdout.splitlines()]


def verify(inst, url):
    r = inst.pdgate("ledger", "verify", "--db", url, "--vkey", inst.path("keys/ledger.vkey"))
    check(r.stdout.endswith("ledger OK\n"), f"verify: {r.stdout[-300:]} {r.stderr[-300:]}")


class Env(pdtest.Env):
    @pdtest.fixture
    def pg(self):
        return self.enter(PgServer())


@case("two nodes: a stop request registered on node 1 is honoured by node 2's next release on "
      "its kept-alive connection (one member, a page); refused on node 2, node 1 serves again")
def _(env):
    inst = env.install(members=MEMBERS, conf={("ledger", "checkpoint_interval_ms"): 200})
    env.pg.create_database("stops")
    url = env.pg.database_url("stops")
    c1, c2 = node_conf(inst, "n1", url), node_conf(inst, "n2", url)
    unlimited(inst, SAKURA_CT)
    unlimited(inst, MIRAI_CT)
    ok, every = servable(inst)
    check(len(ok) >= 4, f"only {len(ok)} members both partners may receive")
    m, m3 = ok[1], ok[2]
    officer, auditor = staff(inst, "officer", "officer"), staff(inst, "alice", "auditor")
    sak = {"Authorization": "Bearer " + work_order(inst, SAKURA_CT, "marketing", SAKURA)}
    mir = {"Authorization": "Bearer " + work_order(inst, MIRAI_CT, "consented", MIRAI)}
    with pdtest.Daemon(inst, conf=c1) as d1, pdtest.Daemon(inst, conf=c2) as d2:
        s2, s1 = d2.http(cert=inst.pki.partner(SAKURA)), d1.http(cert=inst.pki.partner(SAKURA))
        r2 = d2.http(cert=inst.pki.partner(MIRAI))
        for raw, auth, what in ((s2, sak, "sakura on node 2"), (s1, sak, "sakura on node 1"),
                                (r2, mir, "mirai on node 2")):
            eq(raw.request("GET", f"/v1/members/{m}", headers=auth).status_code, 200, f"{what}, before")
        eq(page_with(s2, sak, every, m), (1, 0), "the page holds the member, before")
        stop = register(d1, c1, officer, m, "stop_use")
        # node 2's very next requests on its kept-alive connection
        r = s2.request("GET", f"/v1/members/{m}", headers=sak)
        body = check_error(r, 403, "member_restricted", "node 2, one member, after stop_use on node 1")
        check(m.encode() not in r.content, f"released: {r.content[:200]!r}")
        eq(body["message"], "the member has asked to stop the use of their data", "message")
        refused_at = int(r.headers["X-Ledger-Index"])
        eq(page_with(s2, sak, every, m), (0, 1), "node 2's page withholds it")
        check_error(r2.request("GET", f"/v1/members/{m}", headers=mir), 403, "member_restricted",
                    "node 2, the third party too")
        check(not s2.closed_by_peer(0.1), "node 2's connection kept")
        # stop_third_party on node 1: the third party refused on node 2, the entrustment served
        third = register(d1, c1, officer, m3, "stop_third_party")
        check_error(r2.request("GET", f"/v1/members/{m3}", headers=mir), 403, "member_restricted",
                    "node 2, mirai, after stop_third_party on node 1")
        eq(s2.request("GET", f"/v1/members/{m3}", headers=sak).status_code, 200,
           "node 2, sakura (an entrustment), after stop_third_party")
        # either node's view of the member
        for d, c, n in ((d1, c1, 1), (d2, c2, 2)):
            doc = call(d, c, f"/v1/subjects/{m}", auditor).json()
            eq(doc["restrictions"], {"stop_use": True, "stop_third_party": False}, f"node {n}'s view")
            eq([x["id"] for x in doc["requests"]], [stop["id"]], f"node {n}'s requests of the member")
        # refused on node 2: node 1 serves again on its kept-alive connection
        r = call(d2, c2, f"/v1/subjects/{m}/requests/{stop['id']}/close", officer,
                 {"outcome": "refused", "reason": "本人確認ができないため"}, "POST")
        eq(r.status_code, 200, f"closed as refused on node 2: {r.text[:300]}")
        deadline = time.monotonic() + 5
        while (r := s1.request("GET", f"/v1/members/{m}", headers=sak)).status_code != 200:
            check_error(r, 403, "member_restricted", "node 1 before it heard of the closing")
            check(time.monotonic() < deadline, "node 1 did not hear of the closing within 5 s")
            time.sleep(0.05)
        eq(page_with(s1, sak, every, m), (1, 0), "node 1's page holds the member again")
        eq(s2.request("GET", f"/v1/members/{m}", headers=sak).status_code, 200, "node 2 serves again")
        for d, c, n in ((d1, c1, 1), (d2, c2, 2)):
            doc = call(d, c, f"/v1/subjects/{m}", auditor).json()
            eq(doc["restrictions"], {"stop_use": False, "stop_third_party": False}, f"node {n}, lifted")
            eq([(x["id"], x["outcome"]) for x in doc["requests"]], [(stop["id"], "refused")],
               f"node {n}'s requests, after")
            got = call(d, c, "/v1/subjects/requests", auditor).json()
            eq(sorted(x["id"] for x in got["requests"]), sorted([stop["id"], third["id"]]),
               f"node {n}'s list")
        for raw in (s1, s2, r2):
            raw.close()
        d1.term()
        d2.term()
    leaves = leaves_of(inst, url)
    eq((leaves[refused_at]["kind"], leaves[refused_at]["reason"], leaves[refused_at]["subject"]),
       ("deny", "member_restricted", subject_of(inst, m)), "node 2's refusal, recorded")
    verify(inst, url)


@case("two nodes: a request written into the database without a notification is honoured by "
      "node 2's next commit under the tree lock (one member, a page), recorded")
def _(env):
    # no checkpoint while it runs: its transaction reads the shared state too
    inst = env.install(members=MEMBERS, conf={("ledger", "checkpoint_interval_ms"): 600000})
    env.pg.create_database("unheard")
    url = env.pg.database_url("unheard")
    c1, c2 = node_conf(inst, "u1", url), node_conf(inst, "u2", url)
    unlimited(inst, SAKURA_CT)
    ok, every = servable(inst)
    sak = {"Authorization": "Bearer " + work_order(inst, SAKURA_CT, "marketing", SAKURA)}
    a, b = ok[1], ok[3]
    seq = iter(range(900001, 900010))

    def unheard(member):
        """What another node's registering does, without its NOTIFY."""
        k = next(seq)
        env.pg.psql("BEGIN; SELECT 1 FROM tree WHERE id = 0 FOR UPDATE; INSERT INTO "
                    "subject_requests(id, year, seq, subject, type, received, opened_at, "
                    f"opened_by, opened_index, status) VALUES ('RQ-2026-{k:06d}', 2026, {k}, "
                    f"'{subject_of(inst, member)}', 'stop_use', '{today()}', 0, 'someone', 0, "
                    "'open'); UPDATE state SET generation = generation + 1; COMMIT",
                    dbname="unheard")

    with pdtest.Daemon(inst, conf=c1) as d1, pdtest.Daemon(inst, conf=c2) as d2:
        raw2 = d2.http(cert=inst.pki.partner(SAKURA))
        eq(raw2.request("GET", f"/v1/members/{a}", headers=sak).status_code, 200, "before")
        eq(page_with(raw2, sak, every, b), (1, 0), "the page holds b, before")
        unheard(a)
        r = raw2.request("GET", f"/v1/members/{a}", headers=sak)
        check_error(r, 403, "member_restricted", "node 2, one member, the unheard request")
        check(a.encode() not in r.content, f"released: {r.content[:200]!r}")
        got = [int(r.headers["X-Ledger-Index"])]
        unheard(b)
        r = raw2.request("GET", f"/v1/members?limit=1&after={every[every.index(b) - 1]}", headers=sak)
        eq(r.status_code, 200, f"the page: {r.text[:300]}")
        page = r.json()
        eq((len(page["members"]), page["withheld"], page["next"]), (0, 1, b), "the page withholds b")
        first = int(r.headers["X-Ledger-Index"])
        eq(d1.get(f"/v1/members/{a}", cert=inst.pki.partner(SAKURA), headers=sak).status_code, 403,
           "node 1")
        raw2.close()
        d1.term()
        d2.term()
        log = d2.log()
    # each change is refused under the lock unless node 2's 30 s reload came between it and
    # the request (a slow run); two such reloads cannot fall within these few seconds
    under = log.count("(a member's restrictions changed meanwhile): decided again")
    print(f"# refused under the tree lock: {under} of the 2 unheard changes")
    check(1 <= under <= 2, f"node 2's refusals under the lock: {under}\n{log[-2000:]}")
    leaves = leaves_of(inst, url)
    eq((leaves[got[0]]["kind"], leaves[got[0]]["reason"]), ("deny", "member_restricted"), "one member")
    mine = [x for x in leaves[first:first + 1] if x.get("subject") == subject_of(inst, b)]
    eq([(x["kind"], x["reason"]) for x in mine], [("deny", "member_restricted")], "the page's entry of b")
    verify(inst, url)


@case("two nodes registering requests at once get distinct ids, numbered on; either node lists all")
def _(env):
    inst = env.install(members=MEMBERS)
    env.pg.create_database("ids")
    url = env.pg.database_url("ids")
    c1, c2 = node_conf(inst, "i1", url), node_conf(inst, "i2", url)
    officer, auditor = staff(inst, "officer", "officer"), staff(inst, "alice", "auditor")
    _, every = servable(inst)
    n = 24
    with pdtest.Daemon(inst, conf=c1) as d1, pdtest.Daemon(inst, conf=c2) as d2:
        nodes = ((d1, c1), (d2, c2))

        def one(i):
            d, c = nodes[i % 2]
            return register(d, c, officer, every[i % 10], "disclosure" if i % 3 else "stop_use")["id"]

        with ThreadPoolExecutor(8) as ex:
            ids = list(ex.map(one, range(n)))
        eq(len(set(ids)), n, f"distinct ids: {sorted(ids)}")
        nums = sorted(int(ID_RE.match(x).group(2)) for x in ids)
        eq(nums, list(range(1, n + 1)), "numbered from 1 on, none skipped")
        for d, c in nodes:
            got = call(d, c, "/v1/subjects/requests?status=open", auditor).json()["requests"]
            eq(sorted(x["id"] for x in got), sorted(ids), "either node lists every request")
        d1.term()
        d2.term()


def jti_of(tok):
    import base64
    part = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["jti"]


@case("migrate -c: a single gateway's suspensions, revoked tokens and requests move with its "
      "ledger; a node on a state file never copied refuses to start")
def _(env):
    inst = env.install(members=MEMBERS)
    unlimited(inst, SAKURA_CT)
    ok, _ = servable(inst)
    m, m2 = ok[0], ok[1]
    officer, auditor = staff(inst, "officer", "officer"), staff(inst, "alice", "auditor")
    wo = work_order(inst, SAKURA_CT, "marketing", SAKURA)
    sak = {"Authorization": "Bearer " + wo}
    cert = inst.pki.partner(SAKURA)
    with pdtest.Daemon(inst) as d:
        c = inst.conf
        eq(d.get(f"/v1/members/{m}", cert=cert, headers=sak).status_code, 200, "before")
        r = call(d, c, f"/v1/partners/{MIRAI}/suspend", officer, {"reason": "調査中"}, "POST")
        eq(r.status_code, 200, f"suspend: {r.text[:200]}")
        stop = register(d, c, officer, m, "stop_use")
        asked = register(d, c, officer, m2, "disclosure")
        r = call(d, c, f"/v1/subjects/{m2}/requests/{asked['id']}/close", officer,
                 {"outcome": "completed"}, "POST")
        eq(r.status_code, 200, f"close: {r.text[:200]}")
        check_error(d.get(f"/v1/members/{m}", cert=cert, headers=sak), 403, "member_restricted",
                    "restricted on the single gateway")
        d.term()
    revoked = work_order(inst, SAKURA_CT, "marketing", SAKURA)
    pd(inst, "token", "revoke", "-c", inst.conf, jti_of(revoked))
    env.pg.create_database("carry")
    url = env.pg.database_url("carry")
    state = inst.get("gateway", "state")
    conf = node_conf(inst, "carried", url, state)
    # moved without its state: refused, saying what to run
    for args in (("serve", "-c", conf, "-n"), ("serve", "-c", conf)):
        r = inst.pdgate(*args)
        check(r.returncode != 0 and "never given" in r.stderr and "pdgate ledger migrate" in r.stderr,
              f"{' '.join(args[:1] + args[3:])} on an uncopied state: {r.returncode} {r.stderr.strip()[-400:]}")
        check("1 suspensions and 2 open or completed" in r.stderr, r.stderr.strip()[-400:])
    out = pd(inst, "ledger", "migrate", "--from", inst.path(inst.get("ledger", "path") or "ledger.db"),
             "--to", url, "-c", inst.conf)
    check("verified before and after" in out, out)
    check("copied 1 suspensions, 1 revoked tokens and 2 members' requests" in out, out)
    eq(env.pg.psql("SELECT partner FROM suspensions", dbname="carry").split(), [MIRAI], "suspensions")
    eq(env.pg.psql("SELECT jti FROM revoked", dbname="carry").split(), [jti_of(revoked)], "revoked")
    eq(env.pg.psql("SELECT id || ' ' || status || ' ' || COALESCE(outcome, '-') FROM subject_requests "
                   "ORDER BY id", dbname="carry").splitlines(),
       [f"{stop['id']} open -", f"{asked['id']} closed completed"], "requests")
    pd(inst, "serve", "-c", conf, "-n")
    with pdtest.Daemon(inst, conf=conf) as d:
        check_error(d.get(f"/v1/members/{m2}", cert=inst.pki.partner(MIRAI),
                          headers={"Authorization": "Bearer " + work_order(inst, MIRAI_CT, "consented", MIRAI)}),
                    403, "partner_suspended", "the suspension carried")
        check_error(d.get(f"/v1/members/{m}", cert=cert, headers=sak), 403, "member_restricted",
                    "the restriction carried")
        eq(d.get(f"/v1/members/{m2}", cert=cert, headers=sak).status_code, 200, "another member")
        check_error(d.get(f"/v1/members/{m2}", cert=cert, headers={"Authorization": "Bearer " + revoked}),
                    401, "token_invalid", "the revocation carried")
        got = call(d, conf, "/v1/subjects/requests", auditor).json()["requests"]
        eq(sorted(x["id"] for x in got), sorted([stop["id"], asked["id"]]), "the requests listed")
        nxt = register(d, conf, officer, m2, "stop_third_party")
        eq(int(ID_RE.match(nxt["id"]).group(2)), int(ID_RE.match(asked["id"]).group(2)) + 1,
           "numbered on after the copied ones")
        d.term()
    # a second node's state file that holds a suspension of its own: refused, then copied alone
    other = node_conf(inst, "late", url)
    db = sqlite3.connect(inst.path("state-late.db"))
    db.execute("CREATE TABLE suspensions(partner TEXT PRIMARY KEY, by TEXT, reason TEXT, since_ms INTEGER)")
    db.execute("INSERT INTO suspensions VALUES ('', 'officer', '緊急停止', 1)")
    db.commit()
    db.close()
    r = inst.pdgate("serve", "-c", other, "-n")
    check(r.returncode != 0 and "never given" in r.stderr, f"the late node: {r.stderr.strip()[-300:]}")
    out = pd(inst, "ledger", "migrate", "--to", url, "-c", other)
    check("copied 1 suspensions, 0 revoked tokens and 0 members' requests" in out, out)
    pd(inst, "serve", "-c", other, "-n")
    eq(sorted(env.pg.psql("SELECT quote_literal(partner) FROM suspensions", dbname="carry").split()),
       sorted(["''", f"'{MIRAI}'"]), "the gateway's suspension added")
    # a state file whose request id the database gives another request: refused, nothing stored
    clash = node_conf(inst, "clash", url)
    db = sqlite3.connect(inst.path("state-clash.db"))
    db.execute("CREATE TABLE suspensions(partner TEXT PRIMARY KEY, by TEXT, reason TEXT, since_ms INTEGER)")
    db.execute("INSERT INTO suspensions VALUES ('yet-another', 'officer', 'x', 1)")
    db.execute("CREATE TABLE subject_requests(id TEXT PRIMARY KEY, year INTEGER, seq INTEGER, subject TEXT, "
               "type TEXT, received TEXT, channel TEXT, note TEXT, opened_at INTEGER, opened_by TEXT, "
               "opened_index INTEGER, status TEXT, outcome TEXT, reason TEXT, closed_at INTEGER, "
               "closed_by TEXT, closed_index INTEGER)")
    y, n = ID_RE.match(stop["id"]).groups()
    db.execute("INSERT INTO subject_requests(id, year, seq, subject, type, received, opened_at, opened_by, "
               "opened_index, status) VALUES (?, ?, ?, ?, 'stop_use', ?, 1, 'officer', 1, 'open')",
               (stop["id"], int(y), int(n), subject_of(inst, m2), today()))
    db.commit()
    db.close()
    r = inst.pdgate("ledger", "migrate", "--to", url, "-c", clash)
    check(r.returncode == 1 and "holds another request of that id" in r.stderr and "nothing was stored" in r.stderr,
          f"a clashing id: {r.returncode} {r.stderr.strip()[-300:]}")
    eq(env.pg.psql("SELECT count(*) FROM suspensions WHERE partner = 'yet-another'", dbname="carry").strip(),
       "0", "nothing of it stored")
    r = inst.pdgate("serve", "-c", clash, "-n")
    check(r.returncode != 0 and "never given" in r.stderr, "the clashing node still refused")
    r = inst.pdgate("ledger", "migrate", "--to", url)
    check(r.returncode == 2 and "-c FILE" in r.stderr, f"migrate without --from or -c: {r.stderr.strip()}")
    verify(inst, url)


if __name__ == "__main__":
    pdtest.run(Env)
