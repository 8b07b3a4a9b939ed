#!/usr/bin/env python3
"""Pages built ahead: a change between page N and page N+1 is honoured by page N+1.

The gateway builds the page after the one it answered while that one commits and goes out,
and answers the next request with it only if nothing the build read has changed. Each case
pages through an installation of its own with one kept-alive connection, as an export does,
makes one change after page 1 and checks page 2: a member restricted by a members' request, the
work order revoked, the contract reloaded (SIGHUP) with a field less, a member's record changed
in members.db by another process, the partner suspended. And every page's entries: one per
member, consecutive indexes from X-Ledger-Index, in member order, for that request only.

Daemons: one per case, each on MEMBERS members under the contract the bench uses, its limits
lifted.
"""

import datetime
import hashlib
import hmac
import json
import re
import sqlite3

import requests

import pdtest
from pdtest import SLOW, case, check, check_error, check_status, eq

MEMBERS = 3000
LIMIT = 1000
PARTNER, CONTRACT, PURPOSE = "maison-partners", "CT-2026-0003", "service_delivery"
JST = datetime.timezone(datetime.timedelta(hours=9))


def pd(inst, *args):
    r = inst.pdgate(*args)
    check(r.returncode == 0, f"pdgate {' '.join(map(str, args))}: {r.stderr.strip()}")
    return r.stdout.strip()


def subject_of(inst, member_id):
    secret = inst.path("keys/pseudonym.key").read_bytes()
    ks = hmac.new(secret, b"pdgate subject v1\x00", hashlib.sha256).digest()
    return hmac.new(ks, member_id.encode(), hashlib.sha256).hexdigest()


def member_ids(inst):
    db = sqlite3.connect(str(inst.path("members.db")))
    try:
        return [m for (m,) in db.execute("SELECT member_id FROM members ORDER BY member_id")]
    finally:
        db.close()


def records(inst):
    db = sqlite3.connect(str(inst.path("members.db")))
    try:
        return {m: json.loads(r) for m, r in db.execute("SELECT member_id, record FROM members")}
    finally:
        db.close()


def released_by_record(rec):
    """service_delivery under a joint-use contract: only stop_use withholds a member."""
    return not (rec.get("restrictions") or {}).get("stop_use")


def ledger(inst):
    db = sqlite3.connect(str(inst.path(inst.get("ledger", "path") or "ledger.db")), timeout=10)
    try:
        rows = db.execute("SELECT idx, leaf FROM entries ORDER BY idx").fetchall()
    finally:
        db.close()
    return [(idx, json.loads(leaf)) for idx, leaf in rows]


def contract_path(inst):
    return inst.path(f"contracts/{CONTRACT}.json")


class Exporter:
    """One partner's kept-alive connection paging with its work order."""

    def __init__(self, d, token):
        self.d, self.token = d, token
        self.session = requests.Session()
        self.cert = d.install.pki.partner(PARTNER)
        self.after = None

    def page(self, after=None):
        path = f"/v1/members?limit={LIMIT}" + (f"&after={after}" if after else "")
        h = {"X-Purpose": PURPOSE, "Authorization": f"Bearer {self.token}"}
        return self.d.get(path, cert=self.cert, headers=h, session=self.session, timeout=60)

    def next(self):
        r = self.page(self.after)
        if r.status_code == 200:
            self.after = r.json()["next"]
        return r


class Env(pdtest.Env):
    def fresh(self):
        """A daemon of its own, the contract's limits lifted (a page of 1,000 each time), and
        a work order bound to the partner's certificate."""
        inst = self.install(members=MEMBERS)
        c = json.loads(contract_path(inst).read_text())
        c.pop("limits", None)
        contract_path(inst).write_text(json.dumps(c, ensure_ascii=False, indent=2))
        d = self.daemon(inst)
        tok = pd(inst, "token", "issue", "-c", inst.conf, "--contract", CONTRACT, "--purpose",
                 PURPOSE, "--ttl", "1h", "--cert", inst.path(f"pki/partners/{PARTNER}.pem"))
        return inst, d, Exporter(d, tok)


def page_members(inst, page_no):
    """The member ids page page_no (1-based) covers, in order."""
    ids = member_ids(inst)
    return ids[(page_no - 1) * LIMIT:page_no * LIMIT]


def a_released_member(inst, page_no, offset=0):
    recs = records(inst)
    ok = [m for m in page_members(inst, page_no) if released_by_record(recs[m])]
    check(len(ok) > offset, f"no member of page {page_no} the contract releases")
    return ok[offset]


def first_page(exp):
    r = exp.next()
    check_status(r, 200, "page 1")
    return r


@case("every page's entries: one per member, consecutive indexes from X-Ledger-Index, member order")
def consecutive(env):
    inst, d, exp = env.fresh()
    ids = member_ids(inst)
    answers = []
    while True:
        r = exp.next()
        check_status(r, 200, f"page {len(answers) + 1}")
        answers.append(r)
        if exp.after is None:
            break
    eq(len(answers), MEMBERS // LIMIT, "pages")
    by_request = {}
    for idx, e in ledger(inst):
        by_request.setdefault(e.get("request"), []).append((idx, e))
    for n, r in enumerate(answers, 1):
        body = r.json()
        rid = r.headers["X-Request-Id"]
        first = int(r.headers["X-Ledger-Index"])
        es = by_request.get(rid, [])
        want = ids[(n - 1) * LIMIT:n * LIMIT]
        eq(len(es), len(want), f"page {n}: entries")
        eq([i for i, _ in es], list(range(first, first + len(want))),
           f"page {n}: consecutive indexes from X-Ledger-Index")
        eq([e["subject"] for _, e in es], [subject_of(inst, m) for m in want],
           f"page {n}: entries in member order")
        released = [m["member_id"] for m in body["members"]]
        eq([e["subject"] for _, e in es if e["kind"] == "release"],
           [subject_of(inst, m) for m in released], f"page {n}: release entries and the body")
        eq(len(released) + body["withheld"], len(want), f"page {n}: released + withheld")
        for _, e in es:
            eq(e["request"], rid, f"page {n}: every entry is this request's")
        # each entry's digest is the released member's bytes in this answer
        text = r.content.decode()
        for (_, e), m in zip([x for x in es if x[1]["kind"] == "release"], body["members"]):
            enc = json.dumps(m, ensure_ascii=False, separators=(",", ":"))
            check(enc in text, f"page {n}: member {m['member_id']} not compact in the answer")
            eq(e["digest"], hashlib.sha256(enc.encode()).hexdigest(), f"page {n}: digest")
    # the requests follow each other in the ledger: nothing of a page built ahead is recorded
    eq(sum(len(v) for v in by_request.values() if v and v[0][1].get("kind") != "admin"),
       MEMBERS, "entries of the export, nothing more")


@case("a member restricted (stop_use request) after page 1: page 2 withholds it, with its deny entry")
def restricted(env):
    inst, d, exp = env.fresh()
    first_page(exp)
    m = a_released_member(inst, 2, 5)
    officer = pd(inst, "token", "issue", "-c", inst.conf, "--staff", "officer", "--role", "officer",
                 "--ttl", "1h")
    today = datetime.datetime.now(JST).date().isoformat()
    rr = requests.post(f"https://127.0.0.1:{inst.compliance_port}/v1/subjects/{m}/requests",
                       json={"type": "stop_use", "received": today},
                       headers={"Authorization": f"Bearer {officer}"},
                       verify=str(inst.server_ca), timeout=30 * SLOW)
    check_status(rr, 201, "stop_use request")
    r = exp.next()
    check_status(r, 200, "page 2")
    got = [x["member_id"] for x in r.json()["members"]]
    check(m not in got, f"{m} released on page 2 after its stop_use request")
    es = [e for _, e in ledger(inst) if e.get("request") == r.headers["X-Request-Id"]
          and e.get("subject") == subject_of(inst, m)]
    eq([(e["kind"], e["reason"]) for e in es], [("deny", "member_restricted")], f"{m}'s entry")
    # the members around it are released as before
    check(a_released_member(inst, 2, 4) in got and a_released_member(inst, 2, 6) in got,
          "page 2 lost other members")


@case("the work order revoked after page 1: page 2 is 401 token_invalid, nothing released")
def revoked(env):
    inst, d, exp = env.fresh()
    first_page(exp)
    payload = exp.token.split(".")[1]
    jti = json.loads(__import__("base64").urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]
    pd(inst, "token", "revoke", "-c", inst.conf, jti)
    r = exp.next()
    body = check_error(r, 401, "token_invalid", "page 2 after revocation")
    check("members" not in body, "a refused page carries members")
    es = [e for _, e in ledger(inst) if e.get("request") == r.headers.get("X-Request-Id")]
    eq([(e["kind"], e["reason"]) for e in es], [("deny", "token_invalid")], "page 2's entry")


@case("the contract reloaded (SIGHUP) after page 1 without phone: page 2 releases no phone")
def reloaded(env):
    inst, d, exp = env.fresh()
    r1 = first_page(exp)
    check(all("phone" in m for m in r1.json()["members"] if m), "page 1 has phones")
    c = json.loads(contract_path(inst).read_text())
    c["purposes"][PURPOSE]["fields"].remove("phone")
    contract_path(inst).write_text(json.dumps(c, ensure_ascii=False, indent=2))
    log = d.hup()
    check(not re.search(r"refus|invalid", log, re.I), f"reload refused: {log[-400:]}")
    r = exp.next()
    check_status(r, 200, "page 2")
    ms = r.json()["members"]
    check(ms and not any("phone" in m for m in ms), "page 2 still releases phone after the reload")
    items = {tuple(e["items"]) for _, e in ledger(inst)
             if e.get("request") == r.headers["X-Request-Id"] and e["kind"] == "release"}
    check(items and not any(any(i.startswith("phone") for i in it) for it in items),
          f"page 2's entries record phone: {items}")


@case("a member's record changed in members.db after page 1: page 2 has the new record")
def record_changed(env):
    inst, d, exp = env.fresh()
    first_page(exp)
    m = a_released_member(inst, 2, 7)
    gone = a_released_member(inst, 2, 8)
    db = sqlite3.connect(str(inst.path("members.db")), timeout=10)
    try:
        with db:
            db.execute("UPDATE members SET record = json_set(record, '$.email', "
                       "'changed.between.pages@example.jp') WHERE member_id = ?", (m,))
            db.execute("UPDATE members SET record = json_set(record, '$.restrictions.stop_use', "
                       "json('true')) WHERE member_id = ?", (gone,))
    finally:
        db.close()
    r = exp.next()
    check_status(r, 200, "page 2")
    got = {x["member_id"]: x for x in r.json()["members"]}
    check(m in got, f"{m} missing from page 2")
    eq(got[m].get("email"), "changed.between.pages@example.jp", f"{m}'s email on page 2")
    check(gone not in got, f"{gone} released although its record now says stop_use")


@case("the partner suspended after page 1: page 2 is 403 partner_suspended")
def suspended(env):
    inst, d, exp = env.fresh()
    first_page(exp)
    officer = pd(inst, "token", "issue", "-c", inst.conf, "--staff", "officer", "--role", "officer",
                 "--ttl", "1h")
    rr = requests.post(f"https://127.0.0.1:{inst.compliance_port}/v1/partners/{PARTNER}/suspend",
                       json={"reason": "pages test"}, headers={"Authorization": f"Bearer {officer}"},
                       verify=str(inst.server_ca), timeout=30 * SLOW)
    check(rr.status_code in (200, 201), f"suspend: {rr.status_code} {rr.text[:200]}")
    r = exp.next()
    check_error(r, 403, "partner_suspended", "page 2 while suspended")


if __name__ == "__main__":
    pdtest.run(Env)
