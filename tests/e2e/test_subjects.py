#!/usr/bin/env python3
"""Members' requests (開示・訂正・削除・利用停止・第三者提供停止) through the real daemon.

The register's routes with their refusals (roles, partner credentials, bodies, ids, closing
twice); the restriction a stop request puts on every partner at once, on a kept-alive
connection, with the deny entry in the ledger; stop_third_party against third-party contracts
only; refused lifts, completed keeps; the register and its restrictions across a restart; the
ledger naming members by subject reference only; the summary's overdue requests; the disclosure
document (html, csv); a ledger that cannot write (503, nothing stored).

Daemons: `main` (most cases, each on members of its own), `full` (its ledger on a small tmpfs).
"""

import csv
import datetime
import hashlib
import hmac
import io
import json
import os
import re
import sqlite3
import subprocess

import requests

import pdtest
from pdtest import SLOW, case, check, check_error, check_no_store, check_status, eq

MEMBERS = 600
SAKURA, SAKURA_CT = "sakura-mail", "CT-2026-0001"      # entrustment, marketing
MIRAI, MIRAI_CT = "mirai-insurance", "CT-2026-0005"    # third_party, consented
JST = datetime.timezone(datetime.timedelta(hours=9))
ID_RE = re.compile(r"^RQ-\d{4}-\d{6}$")


def cport(inst):
    return int(inst.get("compliance", "listen").rpartition(":")[2])


def call(d, path, token=None, cert=None, method="GET", body=None, raw=None):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    if isinstance(cert, pdtest.Cert):
        cert = cert.pair
    kw = {"json": body} if raw is None else {"data": raw, "headers": {**h, "Content-Type": "application/json"}}
    kw.setdefault("headers", h)
    return requests.request(method, f"https://127.0.0.1:{cport(d.install)}{path}", cert=cert,
                            verify=str(d.install.server_ca), timeout=30 * SLOW, **kw)


def ok(r, status, what):
    check_status(r, status, what)
    check_no_store(r, what)
    return r.json()


def pd(inst, *args):
    r = inst.pdgate(*args)
    check(r.returncode == 0, f"pdgate {' '.join(map(str, args))}: {r.stderr.strip()}")
    return r.stdout.strip()


def staff(inst, name, role):
    return pd(inst, "token", "issue", "-c", inst.conf, "--staff", name, "--role", role, "--ttl", "2h")


def work_order(inst, contract, purpose, partner):
    return pd(inst, "token", "issue", "-c", inst.conf, "--contract", contract, "--purpose", purpose,
              "--ttl", "2h", "--cert", inst.path(f"pki/partners/{partner}.pem"))


def subject_of(inst, member_id):
    secret = inst.path("keys/pseudonym.key").read_bytes()
    ks = hmac.new(secret, b"pdgate subject v1\x00", hashlib.sha256).digest()
    return hmac.new(ks, member_id.encode(), hashlib.sha256).hexdigest()


def today(days=0):
    return (datetime.datetime.now(JST).date() + datetime.timedelta(days=days)).isoformat()


def servable(inst):
    """Members both sakura-mail (marketing) and mirai-insurance (consented, third party) may
    receive by their records: consent given, no restriction."""
    db = sqlite3.connect(inst.path("members.db"))
    out = []
    for m, text in db.execute("SELECT member_id, record FROM members ORDER BY member_id"):
        r = json.loads(text)
        c, x = r.get("consents") or {}, r.get("restrictions") or {}
        if x.get("stop_use") or x.get("stop_third_party") or c.get("marketing") is False:
            continue
        if c.get("third_party_provision") is True and (
                c.get("consented") is True or MIRAI_CT in (c.get("consented") or [])):
            out.append(m)
    db.close()
    return out


class Env(pdtest.Env):
    @pdtest.fixture
    def main(self):
        return self.daemon(self.install(members=MEMBERS, conf={("partner", "idle_timeout_s"): 60}))

    @pdtest.fixture
    def t(self):
        inst = self.main.install
        return {"officer": staff(inst, "officer", "officer"), "auditor": staff(inst, "alice", "auditor"),
                "sakura": work_order(inst, SAKURA_CT, "marketing", SAKURA),
                "mirai": work_order(inst, MIRAI_CT, "consented", MIRAI)}

    @pdtest.fixture
    def members(self):
        """Members served to both partners, handed out one set per case."""
        got = servable(self.main.install)
        check(len(got) >= 8, f"only {len(got)} members both partners may receive")
        return got

    def member(self, i):
        return self.members[i]


def post_request(d, tok, member, **body):
    body.setdefault("received", today())
    return call(d, f"/v1/subjects/{member}/requests", tok, method="POST", body=body)


def close(d, tok, member, rid, **body):
    return call(d, f"/v1/subjects/{member}/requests/{rid}/close", tok, method="POST", body=body)


def one(raw, wo, member):
    return raw.request("GET", f"/v1/members/{member}", headers={"Authorization": f"Bearer {wo}"})


def newest_deny(d, tok, member):
    page = ok(call(d, f"/v1/ledger/search?kind=deny&member={member}&limit=1", tok), 200, "deny search")
    return page["entries"][0] if page["entries"] else None


@case("register and close: answers, ids, the admin entries name the member by subject reference")
def _(env):
    d, t, m = env.main, env.t, env.member(0)
    inst = d.install
    r = post_request(d, t["officer"], m, type="disclosure", received=today(-3), channel="郵送",
                     note="本人確認書類あり（運転免許証）")
    doc = ok(r, 201, "register")
    check(ID_RE.match(doc["id"]), f"id {doc['id']}")
    eq(doc["id"][3:7], str(datetime.datetime.now(JST).year), "the id's year is this Japan year")
    eq((doc["type"], doc["status"], doc["outcome"], doc["received"], doc["channel"], doc["member_id"],
        doc["opened_by"], doc["age_days"]),
       ("disclosure", "open", None, today(-3), "郵送", m, "officer", 3), "the request")
    eq(doc["restrictions"], {"stop_use": False, "stop_third_party": False}, "no restriction")
    eq(r.headers["X-Ledger-Index"], str(doc["opened_index"]), "X-Ledger-Index")
    e = ok(call(d, f"/v1/ledger/search?kind=admin&member={m}&limit=1", t["auditor"]), 200, "admin")["entries"][0]
    eq(e["index"], doc["opened_index"], "the entry of the act")
    eq(e["subject"], subject_of(inst, m), "the entry's subject reference")
    eq(e["admin"]["action"], "subject_request", "action")
    eq(e["admin"]["detail"], {"received": today(-3), "request_id": doc["id"], "type": "disclosure"}, "detail")
    second = ok(post_request(d, t["officer"], m, type="correction"), 201, "a second request")
    check(second["id"] > doc["id"], f"ids grow: {doc['id']} then {second['id']}")
    r = close(d, t["officer"], m, doc["id"], outcome="completed")
    c = ok(r, 200, "close")
    eq((c["status"], c["outcome"], c["closed_by"], c["reason"]), ("closed", "completed", "officer", None), "closed")
    e = ok(call(d, f"/v1/ledger/search?kind=admin&member={m}&limit=1", t["auditor"]), 200, "admin")["entries"][0]
    eq((e["index"], e["admin"]["action"], e["admin"]["detail"]),
       (c["closed_index"], "subject_request_close",
        {"outcome": "completed", "received": today(-3), "request_id": doc["id"], "type": "disclosure"}),
       "the closing's entry")
    check_error(close(d, t["officer"], m, doc["id"], outcome="withdrawn"), 409, "conflict", "closing twice")
    whole = ok(call(d, f"/v1/subjects/{m}", t["auditor"]), 200, "the member")
    eq([q["id"] for q in whole["requests"]], [doc["id"], second["id"]], "the member's requests, oldest first")
    eq(whole["subject"], subject_of(inst, m), "subject")
    # the member id is in no leaf: the ledger holds references only
    size = int(call(d, "/v1/ledger/entries?start=0&end=0", t["auditor"]).headers["X-Ledger-Size"])
    text = call(d, f"/v1/ledger/entries?start=0&end={size}", t["auditor"]).text
    check(m not in text, "the member id appears nowhere in the ledger export")
    check("本人確認書類" not in text, "the officer's note is not in the ledger")
    # nor in the register
    db = sqlite3.connect(inst.path("state.db"))
    dump = "\n".join(db.iterdump())
    db.close()
    check(m not in dump and subject_of(inst, m) in dump, "the register holds the subject reference, not the id")


@case("refusals: roles, partner credentials, bodies, types, outcomes, dates, ids")
def _(env):
    d, t, m = env.main, env.t, env.member(1)
    inst = d.install
    before = ok(call(d, f"/v1/subjects/{m}", t["auditor"]), 200, "before")["requests"]
    pcert = inst.pki.partner(SAKURA)
    for path in (f"/v1/subjects/{m}/requests", f"/v1/subjects/{m}/requests/RQ-2026-000001/close"):
        body = {"type": "stop_use", "received": today(), "outcome": "completed"}
        check_error(call(d, path, t["auditor"], method="POST", body=body), 403, "forbidden", f"auditor {path}")
        check_error(call(d, path, t["sakura"], method="POST", body=body), 403, "forbidden", f"work order {path}")
        check_error(call(d, path, cert=pcert, method="POST", body=body), 403, "forbidden", f"partner cert {path}")
        check_error(call(d, path, method="POST", body=body), 401, "token_required", f"no token {path}")
    for path in (f"/v1/subjects/{m}", "/v1/subjects/requests"):
        check_error(call(d, path, cert=pcert), 403, "forbidden", f"partner cert GET {path}")
        check_error(call(d, path, t["sakura"]), 403, "forbidden", f"work order GET {path}")
    bad = {
        "no body": None,
        "not an object": [],
        "unknown type": {"type": "erase_all", "received": today()},
        "no type": {"received": today()},
        "a member outside the body's shape": {"type": "stop_use", "received": today(), "member": "M1"},
        "no received": {"type": "stop_use"},
        "a malformed date": {"type": "stop_use", "received": "2026-02-30"},
        "a time, not a date": {"type": "stop_use", "received": "2026-04-01T09:00:00+09:00"},
        "a date in the future": {"type": "stop_use", "received": today(2)},
        "a number for a date": {"type": "stop_use", "received": 20260401},
        "a blank channel": {"type": "stop_use", "received": today(), "channel": "\u3000"},
        "a note with a newline": {"type": "stop_use", "received": today(), "note": "a\nb"},
        "a note too long": {"type": "stop_use", "received": today(), "note": "長" * 1001},
    }
    for what, body in bad.items():
        r = call(d, f"/v1/subjects/{m}/requests", t["officer"], method="POST", body=body)
        err = check_error(r, 400, "bad_request", what)
        if body and what.startswith(("unknown type", "no type")):
            check(err["message"].startswith("type:"), f"{what}: names the field: {err['message']}")
        if body and "date" in what or what == "no received":
            check(err["message"].startswith("received:"), f"{what}: names the field: {err['message']}")
    check_error(call(d, f"/v1/subjects/{m}/requests", t["officer"], method="POST",
                     raw=b'{"type":"stop_use","type":"disclosure","received":"2026-01-01"}'),
                400, "bad_request", "a member twice")
    check_error(call(d, "/v1/subjects/M.1/requests", t["officer"], method="POST",
                     body={"type": "stop_use", "received": today()}), 400, "bad_request", "bad member id")
    check_error(call(d, f"/v1/subjects/{'M' * 65}/requests", t["officer"], method="POST",
                     body={"type": "stop_use", "received": today()}), 400, "bad_request", "member id too long")
    check_error(call(d, f"/v1/subjects/{'M' * 65}", t["auditor"]), 400, "bad_request", "GET bad member id")
    check_error(call(d, "/v1/subjects/requests?status=pending", t["auditor"]), 400, "bad_request", "status")
    check_error(call(d, "/v1/subjects/requests?member=M1", t["auditor"]), 400, "bad_request", "unknown parameter")
    check_error(call(d, f"/v1/subjects/{m}?x=1", t["auditor"]), 400, "bad_request", "query on a member")
    # closing
    rq = ok(post_request(d, t["officer"], m, type="deletion"), 201, "a request to close")["id"]
    for what, body in {"unknown outcome": {"outcome": "done"}, "open is no outcome": {"outcome": "open"},
                       "refused without a reason": {"outcome": "refused"},
                       "refused with a blank reason": {"outcome": "refused", "reason": " "},
                       "an unknown member": {"outcome": "completed", "note": "x"}, "no body": None}.items():
        check_error(close(d, t["officer"], m, rq, **(body or {})) if body else
                    call(d, f"/v1/subjects/{m}/requests/{rq}/close", t["officer"], method="POST"),
                    400, "bad_request", what)
    check_error(close(d, t["officer"], m, "RQ-1999-999999", outcome="completed"), 404, "not_found", "unknown id")
    check_error(close(d, t["officer"], m, "RQ-26-1", outcome="completed"), 400, "bad_request", "malformed id")
    check_error(close(d, t["officer"], env.member(2), rq, outcome="completed"), 404, "not_found",
                "another member's request")
    after = ok(call(d, f"/v1/subjects/{m}", t["auditor"]), 200, "after")["requests"]
    eq([q["id"] for q in after], [q["id"] for q in before] + [rq], "only the one good request was stored")
    eq(after[-1]["status"], "open", "and it is still open")


@case("stop_use: a kept-alive connection is refused on its next request, the deny entry is in the ledger; "
      "refused lifts it")
def _(env):
    d, t, m = env.main, env.t, env.member(3)
    inst = d.install
    raw = d.http(cert=inst.pki.partner(SAKURA))
    eq(one(raw, t["sakura"], m).status_code, 200, "served before")
    rq = ok(post_request(d, t["officer"], m, type="stop_use", channel="電話"), 201, "stop_use")
    eq(rq["restrictions"], {"stop_use": True, "stop_third_party": False}, "in force")
    r = one(raw, t["sakura"], m)
    err = check_error(r, 403, "member_restricted", "the next request on the same connection")
    eq(err["message"], "the member has asked to stop the use of their data", "the record rule's message")
    check(not raw.closed_by_peer(0.1), "connection kept")
    e = newest_deny(d, t["auditor"], m)
    check(e is not None and e["reason"] == "member_restricted" and str(e["index"]) == r.headers["X-Ledger-Index"],
          f"the deny entry: {e}")
    eq(e["subject"], subject_of(inst, m), "the deny entry's subject")
    # a page leaves the member out and counts it
    with requests.Session() as s:
        idx = env.members.index(m)
        prev = env.members[idx - 1] if idx > 0 else None
        after = f"&after={prev}" if prev else ""
        page = d.get(f"/v1/members?limit=1{after}", cert=inst.pki.partner(SAKURA), session=s,
                     headers={"Authorization": f"Bearer {t['sakura']}"})
    check_status(page, 200, "a page")
    mirai = d.http(cert=inst.pki.partner(MIRAI))
    check_error(one(mirai, t["mirai"], m), 403, "member_restricted", "stop_use refuses the third party too")
    ok(close(d, t["officer"], m, rq["id"], outcome="refused", reason="ご本人確認ができなかったため"), 200,
       "refused")
    eq(one(raw, t["sakura"], m).status_code, 200, "refused lifts it, on the same connection")
    eq(one(mirai, t["mirai"], m).status_code, 200, "for every partner")
    whole = ok(call(d, f"/v1/subjects/{m}", t["auditor"]), 200, "member")
    eq(whole["restrictions"], {"stop_use": False, "stop_third_party": False}, "lifted")
    eq(whole["requests"][-1]["reason"], "ご本人確認ができなかったため", "the reason kept")
    raw.close()
    mirai.close()


@case("stop_third_party: refuses third-party contracts only; withdrawn lifts, completed keeps")
def _(env):
    d, t, m = env.main, env.t, env.member(4)
    inst = d.install
    sak, mir = d.http(cert=inst.pki.partner(SAKURA)), d.http(cert=inst.pki.partner(MIRAI))
    eq((one(sak, t["sakura"], m).status_code, one(mir, t["mirai"], m).status_code), (200, 200), "before")
    first = ok(post_request(d, t["officer"], m, type="stop_third_party"), 201, "stop_third_party")
    err = check_error(one(mir, t["mirai"], m), 403, "member_restricted", "the third party")
    eq(err["message"], "the member has asked to stop provision to third parties", "message")
    eq(one(sak, t["sakura"], m).status_code, 200, "an entrustment is not a third party")
    ok(close(d, t["officer"], m, first["id"], outcome="withdrawn"), 200, "withdrawn")
    eq(one(mir, t["mirai"], m).status_code, 200, "withdrawn lifts it")
    second = ok(post_request(d, t["officer"], m, type="stop_third_party"), 201, "again")
    check_error(one(mir, t["mirai"], m), 403, "member_restricted", "again in force")
    c = ok(close(d, t["officer"], m, second["id"], outcome="completed"), 200, "completed")
    eq(c["restrictions"], {"stop_use": False, "stop_third_party": True}, "completed keeps it")
    check_error(one(mir, t["mirai"], m), 403, "member_restricted", "completed: still refused")
    eq(one(sak, t["sakura"], m).status_code, 200, "still served under entrustment")
    sak.close()
    mir.close()


@case("the list of requests: open and closed, oldest first, age in days; the summary's overdue requests")
def _(env):
    d, t, m = env.main, env.t, env.member(5)
    inst = d.install
    old = ok(post_request(d, t["officer"], m, type="disclosure", received=today(-20)), 201, "20 days ago")
    recent = ok(post_request(d, t["officer"], m, type="correction", received=today(-2)), 201, "2 days ago")
    listed = ok(call(d, "/v1/subjects/requests?status=open", t["auditor"]), 200, "open")
    eq(listed["status"], "open", "status echoed")
    ids = [q["id"] for q in listed["requests"]]
    check(old["id"] in ids and recent["id"] in ids, "both open")
    check(ids.index(old["id"]) < ids.index(recent["id"]), "oldest first")
    got = {q["id"]: q for q in listed["requests"]}
    eq((got[old["id"]]["age_days"], got[recent["id"]]["age_days"]), (20, 2), "age in days")
    eq(got[old["id"]]["subject"], subject_of(inst, m), "named by subject reference")
    check(all(q["status"] == "open" for q in listed["requests"]), "only open ones")
    summary = ok(call(d, "/v1/supervision/summary", t["auditor"]), 200, "summary")
    over = [q["id"] for q in summary["requests_overdue"]]
    check(old["id"] in over and recent["id"] not in over, f"overdue: {over}")
    ok(close(d, t["officer"], m, old["id"], outcome="completed"), 200, "close the old one")
    summary = ok(call(d, "/v1/supervision/summary", t["auditor"]), 200, "summary")
    check(old["id"] not in [q["id"] for q in summary["requests_overdue"]], "a closed request is not overdue")
    closed = ok(call(d, "/v1/subjects/requests?status=closed", t["auditor"]), 200, "closed")
    check(old["id"] in [q["id"] for q in closed["requests"]], "closed listed")
    check(all(q["status"] == "closed" for q in closed["requests"]), "only closed ones")
    now_open = ok(call(d, "/v1/subjects/requests?status=open", t["auditor"]), 200, "open again")
    every = ok(call(d, "/v1/subjects/requests", t["auditor"]), 200, "all")
    eq(every["count"], now_open["count"] + closed["count"], "all = open + closed")
    eq(now_open["count"], listed["count"] - 1, "the closed one left the open list")


@case("the disclosure document: html in Japanese, escaped, print style under a strict CSP; csv")
def _(env):
    d, t, m = env.main, env.t, env.member(6)
    inst = d.install
    for partner, wo in ((SAKURA, t["sakura"]), (MIRAI, t["mirai"])):
        check_status(d.get(f"/v1/members/{m}", cert=inst.pki.partner(partner),
                           headers={"Authorization": f"Bearer {wo}"}), 200, f"a release to {partner}")
    js = ok(call(d, f"/v1/reports/subject/{m}", t["auditor"]), 200, "json")
    eq(ok(call(d, f"/v1/reports/subject/{m}?format=json", t["auditor"]), 200, "format=json"), js,
       "json is the default and unchanged")
    r = call(d, f"/v1/reports/subject/{m}?format=html", t["auditor"])
    check_status(r, 200, "html")
    check(r.headers["Content-Type"].startswith("text/html"), r.headers["Content-Type"])
    csp = r.headers.get("Content-Security-Policy", "")
    check("default-src 'none'" in csp and re.search(r"style-src 'sha256-[A-Za-z0-9+/=]+'", csp)
          and "unsafe-inline" not in csp and "script-src" not in csp, f"csp: {csp}")
    html = r.content.decode("utf-8")
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    import base64
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    check(f"'sha256-{digest}'" in csp, "the CSP names the style's hash")
    check("@media print" in style and "@page" in style, "a print stylesheet")
    for words in ("個人データの提供記録の開示", m, "提供先", "利用目的", "提供の根拠", "<html lang=\"ja\">"):
        check(words in html, f"the page says {words!r}")
    check("<script" not in html.lower(), "no script")
    names = {rec["recipient_name"] for rec in js["releases"]}
    for n in names:
        check(n in html or n.replace("&", "&amp;") in html, f"recipient name {n!r} shown")
    r = call(d, f"/v1/reports/subject/{m}?format=csv", t["auditor"])
    check_status(r, 200, "csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    eq(len(rows), js["count"], "one row per provision")
    eq({row["recipient"] for row in rows}, {SAKURA, MIRAI}, "the recipients")
    check_error(call(d, f"/v1/reports/subject/{m}?format=pdf", t["auditor"]), 400, "bad_request", "format")
    none = call(d, f"/v1/reports/subject/{env.member(7)}?format=html", t["auditor"])
    check("提供した記録はありません" in none.text, "a member without provisions")


@case("the disclosure document escapes a hostile partner name and organisation", background=True)
def _(env):
    inst = env.install(members=400, conf={("compliance", "organisation"): "<b>協会</b> & \"会員\""})
    ct = inst.path(f"contracts/{SAKURA_CT}.json")
    doc = json.loads(ct.read_text())
    hostile = "<script>alert(1)</script>さくら&\"'"
    doc["partner_name"] = hostile
    ct.write_text(json.dumps(doc, ensure_ascii=False))
    d = env.daemon(inst)
    m = servable(inst)[0]
    wo = work_order(inst, SAKURA_CT, "marketing", SAKURA)
    check_status(d.get(f"/v1/members/{m}", cert=inst.pki.partner(SAKURA),
                       headers={"Authorization": f"Bearer {wo}"}), 200, "a release")
    html = call(d, f"/v1/reports/subject/{m}?format=html", staff(inst, "alice", "auditor")).text
    check("<script>" not in html, "the partner name is not markup")
    check("&lt;script&gt;alert(1)&lt;/script&gt;さくら&amp;&quot;&#39;" in html, "escaped")
    check("&lt;b&gt;協会&lt;/b&gt; &amp; &quot;会員&quot;" in html, "the organisation escaped")
    check("<b>" not in html, "no markup from the configuration")


@case("the register and its restrictions survive a restart", background=True)
def _(env):
    inst = env.install(members=400)
    m = servable(inst)[0]
    d = env.daemon(inst)
    off, aud = staff(inst, "officer", "officer"), staff(inst, "alice", "auditor")
    wo = work_order(inst, SAKURA_CT, "marketing", SAKURA)
    rq = ok(post_request(d, off, m, type="stop_use"), 201, "stop_use")
    d.term()
    d2 = env.daemon(inst)
    check_error(d2.get(f"/v1/members/{m}", cert=inst.pki.partner(SAKURA), headers={"Authorization": f"Bearer {wo}"}),
                403, "member_restricted", "after a restart")
    eq(ok(call(d2, f"/v1/subjects/{m}", aud), 200, "member")["requests"][0]["id"], rq["id"], "register kept")
    nxt = ok(post_request(d2, off, m, type="disclosure"), 201, "numbering goes on")
    check(nxt["id"] > rq["id"], f"{nxt['id']} after {rq['id']}")
    ok(close(d2, off, m, rq["id"], outcome="withdrawn"), 200, "withdrawn")
    d2.term()
    d3 = env.daemon(inst)
    check_status(d3.get(f"/v1/members/{m}", cert=inst.pki.partner(SAKURA), headers={"Authorization": f"Bearer {wo}"}),
                 200, "lifted, and still lifted after a restart")
    r = inst.pdgate("ledger", "verify", "-c", inst.conf)
    check(r.returncode == 0, f"ledger verify: {r.stdout}{r.stderr}")


@case("a ledger that cannot write: 503 ledger_unavailable and nothing stored", background=True)
def _(env):
    if os.geteuid() != 0:
        print("# skip: mounting a tmpfs needs root")
        return
    inst = env.install(members=20)
    mnt = env.tmp / "subjects-full-fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"# skip: cannot mount a tmpfs: {r.stderr.strip()}")
        return
    try:
        inst.set("ledger", "path", str(mnt / "ledger.db"))
        with pdtest.Daemon(inst) as d:
            off, aud = staff(inst, "officer", "officer"), staff(inst, "alice", "auditor")
            m = "M0000001"
            ok(post_request(d, off, m, type="disclosure"), 201, "before")
            with open(mnt / "ballast", "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
            created, refused = 1, None
            for _ in range(400):
                r = post_request(d, off, m, type="stop_use", note="x" * 900)
                if r.status_code == 503:
                    refused = r
                    break
                check_status(r, 201, "while the WAL has room")
                created += 1
            check(refused is not None, "no 503 on a full disk")
            if refused is not None:
                check_error(refused, 503, "ledger_unavailable", "a full ledger")
                check("X-Ledger-Index" not in refused.headers, "no index: nothing recorded")
            eq(len(ok(call(d, f"/v1/subjects/{m}", aud), 200, "member")["requests"]), created,
               "the refused request was not stored")
            (mnt / "ballast").unlink()
            d.term()
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


if __name__ == "__main__":
    pdtest.run(Env)
