#!/usr/bin/env python3
"""Two gateway nodes on one PostgreSQL ledger (a server of the suite's own, pgserver.py) share
the partners' limits: a work order's max_records holds across both nodes, used alternately and
at once; a contract's records_per_day holds across both, hammered at once, with a node started
again still counting the day; PostgreSQL stopped: 503 ledger_unavailable, nothing released.
The ledger's release entries are what is counted, not the answers alone.
"""

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pdtest
from pdtest import case, check, check_error, eq
from pgserver import PgServer

CONTRACT, PARTNER, PURPOSE = "CT-2026-0001", "sakura-mail", "contact"
MEMBERS = 60


def set_limits(inst, limits):
    """The contract with these limits (none: no limits) and valid for long."""
    p = inst.path(f"contracts/{CONTRACT}.json")
    c = json.loads(p.read_text(encoding="utf-8"))
    c.pop("limits", None)
    if limits:
        c["limits"] = limits
    c["valid_until"] = "2099-12-31T23:59:59+09:00"
    p.write_text(json.dumps(c, ensure_ascii=False, indent=2), encoding="utf-8")


def token(inst, *extra):
    r = inst.pdgate("token", "issue", "-c", inst.conf, "--contract", CONTRACT, "--purpose",
                    PURPOSE, "--ttl", "1h", "--cert", inst.pki.partner(PARTNER).pem, *extra)
    check(r.returncode == 0, f"token issue: {r.stderr.strip()}")
    return r.stdout.strip()


def jti_of(tok):
    payload = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]


def node_conf(inst, name, url):
    """A configuration of its own for one node of inst on the PostgreSQL ledger url."""
    return inst.variant(name, {("ledger", "path"): None, ("ledger", "url"): url,
                               ("partner", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                               ("compliance", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                               ("gateway", "state"): f"state-{name}.db"})


def released_entries(inst, url, jti=None):
    """The ledger's releases of a member under CONTRACT (of work order jti if given)."""
    r = inst.pdgate("ledger", "export", "--db", url)
    check(r.returncode == 0, f"ledger export: {r.stderr.strip()[-400:]}")
    leaves = [json.loads(x) for x in r.stdout.splitlines()]
    return [x for x in leaves if x["kind"] == "release" and x.get("subject")
            and x.get("contract") == CONTRACT and (jti is None or x.get("token") == jti)]


class Env(pdtest.Env):
    @pdtest.fixture
    def pg(self):
        return self.enter(PgServer())


def ask(d, path, tok=None):
    """One request; (status, records released, answer)."""
    headers = {"Authorization": "Bearer " + tok}
    r = d.get(path, cert=d.install.pki.partner(PARTNER), headers=headers, timeout=30)
    n = 0
    if r.status_code == 200:
        body = r.json()
        n = len(body["members"]) if "members" in body else 1
    return r.status_code, n, r


def hammer(daemons, paths, tok=None, threads=16):
    """paths asked over the daemons in turn, threads at once; [(status, records, answer)]."""
    got, lock = [], threading.Lock()

    def one(i):
        res = ask(daemons[i % len(daemons)], paths[i], tok)
        with lock:
            got.append(res)

    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(one, range(len(paths))))
    return got


@case("max_records 30 used through two nodes, alternately and at once: exactly 30, then 401")
def _(env):
    inst = env.install(members=MEMBERS)
    env.pg.create_database("orders")
    url = env.pg.database_url("orders")
    set_limits(inst, None)
    tok = token(inst, "--max-records", "30")
    c1, c2 = node_conf(inst, "o1", url), node_conf(inst, "o2", url)
    with pdtest.Daemon(inst, conf=c1) as d1, pdtest.Daemon(inst, conf=c2) as d2:
        total = 0
        for i in range(6):  # alternately: a member, then a page of 2
            st, n, r = ask([d1, d2][i % 2], f"/v1/members/M{1 + i:07d}", tok)
            eq(st, 200, f"member {i} on node {1 + i % 2}: {r.text[:200]}")
            st, n2, r = ask([d2, d1][i % 2], f"/v1/members?limit=2&after=M{10 + i:07d}", tok)
            eq((st, n2), (200, 2), f"page {i}: {r.text[:200]}")
            total += n + n2
        eq(total, 18, "released alternately")
        # at once: members and pages of 3 over both nodes, far more than is left
        paths = [f"/v1/members/M{1 + i % 50:07d}" if i % 3 else
                 f"/v1/members?limit=3&after=M{1 + i % 40:07d}" for i in range(60)]
        got = hammer([d1, d2], paths, tok)
        for st, n, r in got:
            if st != 200:
                check_error(r, 401, "token_invalid", "over max_records at once")
                check(b"member_id" not in r.content, f"released when refused: {r.content[:200]!r}")
        total += sum(n for _, n, _ in got)
        check(total <= 30, f"two nodes at once released {total} records under max_records 30")
        # what is left, one member at a time, alternately: the count reaches 30 exactly
        for i in range(40):
            st, n, r = ask([d1, d2][i % 2], f"/v1/members/M{1 + i:07d}", tok)
            if st != 200:
                break
            total += n
        eq(total, 30, "records released under the work order, answers counted")
        for d in (d1, d2):
            st, _, r = ask(d, "/v1/members/M0000001", tok)
            check_error(r, 401, "token_invalid", "either node, once the work order is used up")
        d1.term()
        d2.term()
    eq(len(released_entries(inst, url, jti_of(tok))), 30, "release entries of the work order")


@case("records_per_day 40 hammered through two nodes at once: at most 40, the rest 429; "
      "a node started again still counts the day")
def _(env):
    inst = env.install(members=MEMBERS)
    env.pg.create_database("volume")
    url = env.pg.database_url("volume")
    set_limits(inst, {"records_per_day": 40})
    c1, c2 = node_conf(inst, "v1", url), node_conf(inst, "v2", url)
    tok = token(inst)
    with pdtest.Daemon(inst, conf=c1) as d1, pdtest.Daemon(inst, conf=c2) as d2:
        paths = [f"/v1/members/M{1 + i % 50:07d}" if i % 4 else
                 f"/v1/members?limit=5&after=M{1 + i % 40:07d}" for i in range(160)]
        got = hammer([d1, d2], paths, tok)
        total = sum(n for _, n, _ in got)
        check(total <= 40, f"two nodes at once released {total} records under records_per_day 40")
        eq(len(released_entries(inst, url)), total, "release entries = records answered")
        limited = 0
        for st, n, r in got:
            if st == 200:
                continue
            check_error(r, 429, "rate_limited", "over the day's volume")
            ra = int(r.headers.get("Retry-After", "0"))
            check(0 < ra <= 86400, f"Retry-After until JST midnight: {ra}")
            limited += 1
        check(limited > 0, "some were refused")
        # whatever the race left, one at a time: the day's 40 exactly
        for i in range(45):
            st, n, r = ask([d1, d2][i % 2], f"/v1/members/M{1 + i:07d}", tok)
            if st != 200:
                check_error(r, 429, "rate_limited", "the day used up")
                break
            total += n
        eq(total, 40, "records released on the day across the nodes")
        for d in (d1, d2):
            st, _, r = ask(d, "/v1/members?limit=3", tok)
            check_error(r, 429, "rate_limited", "either node, once the day is used up")
        d1.term()
    # node 1 started again, and a third node of its own state file: both count the day
    c3 = node_conf(inst, "v3", url)
    with pdtest.Daemon(inst, conf=c1) as d1, pdtest.Daemon(inst, conf=c3) as d3:
        for d in (d1, d3):
            st, _, r = ask(d, "/v1/members/M0000050", tok)
            check_error(r, 429, "rate_limited", "a node started again")
        d1.term()
        d3.term()
    eq(len(released_entries(inst, url)), 40, "release entries of the day")


@case("records_per_day 40: a node that has not heard of the other's releases trims its page at "
      "commit to what is left, then both answer 429")
def _(env):
    inst = env.install(members=MEMBERS)
    env.pg.create_database("trim")
    url = env.pg.database_url("trim")
    set_limits(inst, {"records_per_day": 40})
    c1, c2 = node_conf(inst, "t1", url), node_conf(inst, "t2", url)
    tok = token(inst)
    with pdtest.Daemon(inst, conf=c1) as d1, pdtest.Daemon(inst, conf=c2) as d2:
        st, n, r = ask(d1, "/v1/members?limit=10", tok)
        eq((st, n), (200, 10), f"node 1's first page: {r.text[:200]}")
        # node 2 releases 25 more; node 1 has not committed since, so it still counts 10
        for after in ("M0000010", "M0000030"):
            st, n, r = ask(d2, f"/v1/members?limit={15 if after == 'M0000010' else 10}"
                               f"&after={after}", tok)
            eq(st, 200, f"node 2's page after {after}: {r.text[:200]}")
        # node 1 decides 10 from its own count; its commit finds 35 and it is decided again
        st, n, r = ask(d1, "/v1/members?limit=10&after=M0000040", tok)
        eq((st, n), (200, 5), f"node 1's page trimmed to the 5 left: {r.text[:200]}")
        eq(r.json()["next"], "M0000045", "next after the trimmed page")
        # node 2 still counts 35: its single member is refused at commit, then 429
        st, n, r = ask(d2, "/v1/members/M0000050", tok)
        check_error(r, 429, "rate_limited", "node 2 learns the day is used up at its commit")
        check(0 < int(r.headers.get("Retry-After", "0")) <= 86400, "Retry-After")
        for d in (d1, d2):
            check_error(ask(d, "/v1/members/M0000051", tok)[2], 429, "rate_limited",
                        "then at once, on either node")
        d1.term()
        d2.term()
    eq(len(released_entries(inst, url)), 40, "release entries of the day")
    denies = [json.loads(x) for x in inst.pdgate("ledger", "export", "--db", url).stdout.splitlines()]
    denies = [x for x in denies if x["kind"] == "deny" and x.get("reason") == "rate_limited"]
    eq(len(denies), 3, "each 429 recorded as a deny entry")


@case("PostgreSQL stopped under two nodes: a work order's take and a daily volume answer 503, "
      "nothing released")
def _(env):
    inst = env.install(members=MEMBERS)
    env.pg.create_database("down")
    url = env.pg.database_url("down")
    set_limits(inst, {"records_per_day": 1000})
    tok, plain = token(inst, "--max-records", "100"), token(inst)
    c1, c2 = node_conf(inst, "d1", url), node_conf(inst, "d2", url)
    with pdtest.Daemon(inst, conf=c1) as d1, pdtest.Daemon(inst, conf=c2) as d2:
        for d in (d1, d2):
            eq(ask(d, "/v1/members/M0000001", tok)[0], 200, "a work order before")
            eq(ask(d, "/v1/members?limit=2", plain)[0], 200, "a page before")
        before = len(released_entries(inst, url))
        env.pg.pause()
        try:
            for d in (d1, d2):
                for path, t in [("/v1/members/M0000002", tok), ("/v1/members?limit=3", tok),
                                ("/v1/members/M0000003", plain), ("/v1/members?limit=3", plain)]:
                    st, n, r = ask(d, path, t)
                    check_error(r, 503, "ledger_unavailable", f"{path} while PostgreSQL is down")
                    check(b"member_id" not in r.content, f"released: {r.content[:200]!r}")
        finally:
            env.pg.resume()
        # back by itself; the work order's count and the volume go on from where they were
        deadline = time.monotonic() + 30
        while ask(d1, "/v1/members/M0000004", tok)[0] != 200:
            check(time.monotonic() < deadline, "not back after PostgreSQL returned")
            time.sleep(0.3)
        d1.term()
        d2.term()
    rel = released_entries(inst, url)
    check(len(rel) >= before + 1, f"released after: {len(rel)} (before {before})")
    uses = env.pg.psql(f"SELECT records FROM uses WHERE jti = '{jti_of(tok)}'", dbname="down")
    eq(int(uses.strip()), len([x for x in rel if x.get("token") == jti_of(tok)]),
       "the work order's shared count = its release entries")


if __name__ == "__main__":
    pdtest.run(Env)
