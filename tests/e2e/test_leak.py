#!/usr/bin/env python3
"""Leak response and deletion at a contract's end (issue 14, SPEC 16.2 and 16.3) through the real
daemon: the breach report as CSV, the officer's notification list with contact details read from
the origin at that moment (embedded SQLite and HTTP), its admin entry (count and filters, never a
member), a member who left the origin, an origin that fails and a ledger that cannot record; the
contractor's certificate of deletion and its refusals; deletion_due in the supervision summary.

Daemons: `main` (the embedded origin; its members.db is changed by the cases that say so),
`http` (an HTTP origin run by this suite), `ending` (contracts made to end, then deletions).
"""

import contextlib
import csv
import datetime
import hashlib
import hmac
import http.server
import io
import json
import sqlite3
import subprocess
import threading
import urllib.parse

import requests

import pdtest
from pdtest import SLOW, case, check, check_error, check_no_store, check_status, eq

SAKURA, SAKURA_CT = "sakura-mail", "CT-2026-0001"
PAYROLL, PAYROLL_CT = "midori-payroll", "CT-2026-0006"

MEMBERS = 40
CONTACT = ["name.family", "name.given", "name.family_kana", "name.given_kana",
           "address.postal_code", "address.prefecture", "address.city", "address.street",
           "address.building", "phone", "email"]
BASE = ["member_id", "subject", "items", "releases", "first", "last", "partner", "partner_name"]
NOTIFY = "/v1/reports/breach/notification-list"
JST = datetime.timezone(datetime.timedelta(hours=9))


def today():
    return datetime.datetime.now(JST).date()


def rows_of(r, what):
    """The CSV answer's rows as dicts, after its checks: type, BOM, CRLF, attachment."""
    check_status(r, 200, what)
    check_no_store(r, what)
    check(r.headers["Content-Type"].startswith("text/csv"), f"{what}: {r.headers['Content-Type']}")
    check(r.headers.get("Content-Disposition", "").startswith("attachment; filename="),
          f"{what}: Content-Disposition {r.headers.get('Content-Disposition')!r}")
    body = r.content.decode("utf-8")
    check(body.startswith("\ufeff"), f"{what}: a byte-order mark first")
    check(body.endswith("\r\n"), f"{what}: rows end in CRLF")
    return list(csv.DictReader(io.StringIO(body[1:], newline="")))


def record_of(db_path, mid):
    with sqlite3.connect(str(db_path)) as db:
        row = db.execute("SELECT record FROM members WHERE member_id=?", (mid,)).fetchone()
    return json.loads(row[0]) if row else None


def leaf_value(rec, path):
    v = rec
    for seg in path.split("."):
        v = v.get(seg) if isinstance(v, dict) else None
    return v or ""


def call(d, path, token=None, cert=None, method="GET", body=None, session=None):
    """One request to the compliance listener of daemon d."""
    h = {"Authorization": f"Bearer {token}"} if token else {}
    port = int(d.install.get("compliance", "listen").rpartition(":")[2])
    return (session or requests).request(method, f"https://127.0.0.1:{port}{path}", headers=h,
                                         cert=cert.pair if cert else None, json=body,
                                         verify=str(d.install.server_ca), timeout=30 * SLOW)


def pd(inst, *args):
    r = inst.pdgate(*args)
    check(r.returncode == 0, f"pdgate {' '.join(map(str, args))}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def staff_token(inst, name, role):
    return pd(inst, "token", "issue", "-c", inst.conf, "--staff", name, "--role", role, "--ttl", "8h").strip()


def work_order(inst, contract, purpose, partner):
    return pd(inst, "token", "issue", "-c", inst.conf, "--contract", contract, "--purpose", purpose,
              "--ttl", "2h", "--cert", inst.path(f"pki/partners/{partner}.pem")).strip()


def subject_of(inst, member_id):
    """The ledger's subject reference of a member (pseudo.h)."""
    ks = hmac.new(inst.path("keys/pseudonym.key").read_bytes(), b"pdgate subject v1\x00",
                  hashlib.sha256).digest()
    return hmac.new(ks, member_id.encode(), hashlib.sha256).hexdigest()


def ledger_text(inst):
    return pd(inst, "ledger", "export", "-c", inst.conf)


def release_pages(d, inst, partner, contract, purpose, limit):
    wo = work_order(inst, contract, purpose, partner)
    r = d.get(f"/v1/members?limit={limit}", cert=inst.pki.partner(partner),
              headers={"Authorization": f"Bearer {wo}"})
    check_status(r, 200, f"{partner} page")
    return r.json()


# ---------------------------------------------------------------------------------------------
# An HTTP origin run by this suite: the installation's members.db; a member in `gone` has left
# between the pages pdgate resolves subjects with and the record it asks for (404).

class Origin:
    def __init__(self, db_path):
        self.db_path = db_path
        self.gone = set()
        self.failing = False
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                status, body = origin.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path):
        if self.failing:
            return 500, b"{}"
        u = urllib.parse.urlsplit(path)
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as db:
            if u.path.startswith("/members/"):
                mid = urllib.parse.unquote(u.path[len("/members/"):])
                row = db.execute("SELECT record FROM members WHERE member_id=?", (mid,)).fetchone()
                if row is None or mid in self.gone:
                    return 404, b'{"error":"not found"}'
                return 200, row[0].encode()
            if u.path == "/members":
                q = urllib.parse.parse_qs(u.query)
                limit = int(q["limit"][0])
                rows = db.execute("SELECT member_id, record FROM members WHERE member_id > ? "
                                  "ORDER BY member_id LIMIT ?",
                                  (q.get("after", [""])[0], limit + 1)).fetchall()
        if u.path != "/members":
            return 404, b"{}"
        nxt = rows[limit - 1][0] if len(rows) > limit else None
        recs = [r for _, r in rows[:limit]]
        return 200, ('{"members":[' + ",".join(recs) + '],"next":' + json.dumps(nxt) + "}").encode()


# ---------------------------------------------------------------------------------------------
# The installations.

class Env(pdtest.Env):
    def traffic(self, d):
        inst = d.install
        release_pages(d, inst, SAKURA, SAKURA_CT, "contact", 12)
        release_pages(d, inst, PAYROLL, PAYROLL_CT, "my_number_affairs", 4)
        return d

    @pdtest.fixture
    def main(self):
        return self.traffic(self.daemon(self.install(members=MEMBERS)))

    @pdtest.fixture
    def http(self):
        inst = self.install(members=MEMBERS)
        origin = self.enter(contextlib.closing(Origin(inst.path("members.db"))))
        inst.set("origin", "url", f"http://127.0.0.1:{origin.port}")
        return self.traffic(self.daemon(inst)), origin

    @pdtest.fixture
    def ending(self):
        return self.traffic(self.daemon(self.install(members=20)))

    @pdtest.fixture
    def tokens(self):
        inst = self.main.install
        return {"auditor": staff_token(inst, "alice", "auditor"),
                "officer": staff_token(inst, "officer", "officer")}


def tokens_of(d):
    inst = d.install
    return staff_token(inst, "alice", "auditor"), staff_token(inst, "officer", "officer")


# ---------------------------------------------------------------------------------------------
# The breach report as CSV.

@case("breach CSV: one row per member of the JSON report, same ids, items, times; json unchanged")
def _(env):
    d, aud = env.main, env.tokens["auditor"]
    for partner in (SAKURA, PAYROLL):
        doc = call(d, f"/v1/reports/breach?partner={partner}", aud).json()
        eq(call(d, f"/v1/reports/breach?partner={partner}&format=json", aud).json()["count"],
           doc["count"], "format=json is the default answer")
        rows = rows_of(call(d, f"/v1/reports/breach?partner={partner}&format=csv", aud), partner)
        eq(list(rows[0].keys()) if rows else BASE, BASE, "columns")
        check(len(rows) > 0, f"{partner}: members affected")
        # members released meanwhile by other cases come last (oldest first): compare a prefix
        eq(len(rows), doc["count"], f"{partner}: rows == members")
        for row, m in zip(rows, doc["members"]):
            eq(row["member_id"], m["member_id"], "member id")
            eq(row["subject"], m["subject"], "subject")
            eq(row["items"].split(";"), m["items"], "items")
            eq((row["first"], row["last"], int(row["releases"])), (m["first"], m["last"], m["releases"]),
               "first, last, releases")
            eq((row["partner"], row["partner_name"]), (partner, doc["partner_name"]), "partner columns")
    rows = rows_of(call(d, f"/v1/reports/breach?partner={SAKURA}&format=csv&resolve=false", aud),
                   "no resolve")
    check(rows and all(r["member_id"] == "" for r in rows), "resolve=false: no member ids")
    rows = rows_of(call(d, f"/v1/reports/breach?partner={SAKURA}&format=csv&to=2000-01-01", aud), "empty")
    eq(rows, [], "a period with no release: the header alone")
    r = call(d, f"/v1/reports/breach?partner={SAKURA}&format=xml", aud)
    body = check_error(r, 400, "bad_request", "format=xml")
    check("format" in body["message"], body["message"])


# ---------------------------------------------------------------------------------------------
# The notification list.

def check_list(d, rows, doc, records, what):
    """rows of a notification list against the breach report doc and the records now."""
    eq(len(rows), doc["count"], f"{what}: one row per affected member")
    eq(list(rows[0].keys()), BASE + ["origin"] + CONTACT, f"{what}: columns")
    for row, m in zip(rows, doc["members"]):
        eq(row["subject"], m["subject"], f"{what}: order and subject")
        eq(row["items"].split(";"), m["items"], f"{what}: items")
        rec = records(m["member_id"]) if m["member_id"] else None
        if rec is None:
            eq(row["origin"], "missing", f"{what}: {m['subject'][:8]} missing")
            check(all(row[c] == "" for c in CONTACT), f"{what}: no contact for a missing member")
        else:
            eq(row["origin"], "found", f"{what}: {m['member_id']} found")
            eq(row["member_id"], m["member_id"], f"{what}: member id")
            for c in CONTACT:
                eq(row[c], leaf_value(rec, c), f"{what}: {m['member_id']} {c}")


@case("notification list, embedded origin: contact details now, a member who left, the entry")
def _(env):
    d, aud, off = env.main, env.tokens["auditor"], env.tokens["officer"]
    inst = d.install
    db = inst.path("members.db")
    doc = call(d, f"/v1/reports/breach?partner={SAKURA}", aud).json()
    mids = [m["member_id"] for m in doc["members"]]
    check(len(mids) >= 3, f"sakura released members: {mids}")
    # a building with a comma, quotes and a line break, changed after the release: the list
    # holds the address of this moment
    moved, gone = mids[0], mids[1]
    rec = record_of(db, moved)
    rec.setdefault("address", {})["building"] = '第2ビル, "本館"\n3階'
    with sqlite3.connect(str(db)) as c:
        c.execute("UPDATE members SET record=? WHERE member_id=?", (json.dumps(rec, ensure_ascii=False), moved))
        gone_rec = record_of(db, gone)
        c.execute("DELETE FROM members WHERE member_id=?", (gone,))
    try:
        before = inst.ledger_size()
        r = call(d, f"{NOTIFY}?partner={SAKURA}", off, method="POST", body={"reason": "漏えい事案 LK-1"})
        rows = rows_of(r, "notification list")
        index = int(r.headers["X-Ledger-Index"])
        check(index >= before, f"X-Ledger-Index {index}")
        doc = call(d, f"/v1/reports/breach?partner={SAKURA}", aud).json()
        check_list(d, rows, doc, lambda m: record_of(db, m), "embedded")
        by_subject = {r["subject"]: r for r in rows}
        eq(by_subject[subject_of(inst, moved)]["address.building"], '第2ビル, "本館"\n3階',
           "CSV escaping of comma, quotes and a line break")
        missing = [r for r in rows if r["origin"] == "missing"]
        eq([r["subject"] for r in missing], [subject_of(inst, gone)], "the member who left")
        check(missing[0]["items"] != "", "a member who left keeps the items")
        # the entry: partner, count, missing, the reason; no member
        leaf = [l for l in map(json.loads, ledger_text(inst).splitlines()) if l["index"] == index][0]
        eq(leaf["kind"], "admin", "an admin entry")
        eq((leaf["admin"]["action"], leaf["partner"], leaf["admin"]["staff"], leaf["subject"]),
           ("notification_list", SAKURA, "officer", None), "action, partner, staff, no subject")
        eq(leaf["admin"]["detail"], {"count": str(len(rows)), "missing": "1"}, "detail")
        eq(leaf["admin"]["reason"], "漏えい事案 LK-1", "reason")
        # with a period, the period is recorded too
        r = call(d, f"{NOTIFY}?partner={SAKURA}&from=2026-01-01&to={today().isoformat()}", off, method="POST")
        rows_of(r, "notification list with a period")
        i2 = int(r.headers["X-Ledger-Index"])
        text = ledger_text(inst)
        leaf = [l for l in map(json.loads, text.splitlines()) if l["index"] == i2][0]
        eq(sorted(leaf["admin"]["detail"]), ["count", "from", "missing", "to"], "detail keys")
        eq(leaf["admin"]["detail"]["from"], "2025-12-31T15:00:00.000Z", "from: the start of the JST day")
        # no member id, name, email or phone anywhere in the ledger
        for mid in mids:
            r0 = record_of(db, mid) or gone_rec
            for needle in (mid, r0.get("email"), r0.get("phone"), leaf_value(r0, "name.family") + leaf_value(r0, "name.given")):
                if needle:
                    check(needle not in text, f"the ledger holds {needle!r} of {mid}")
        check('本館' not in text, "the ledger holds no address")
        check(f"notification list of {SAKURA} by officer: {len(rows)} member(s), 1 missing" in d.log(),
              "the list is logged with its counts")
    finally:
        with sqlite3.connect(str(db)) as c:
            c.execute("INSERT OR REPLACE INTO members VALUES (?, ?)", (gone, json.dumps(gone_rec, ensure_ascii=False)))


@case("notification list, HTTP origin: contact details, a member removed (404), a failing origin")
def _(env):
    d, origin = env.http
    inst = d.install
    aud, off = tokens_of(d)
    doc = call(d, f"/v1/reports/breach?partner={PAYROLL}", aud).json()
    mids = [m["member_id"] for m in doc["members"]]
    check(len(mids) >= 2 and all(mids), f"payroll members resolved: {mids}")
    db = inst.path("members.db")
    r = call(d, f"{NOTIFY}?partner={PAYROLL}", off, method="POST")
    rows = rows_of(r, "HTTP list")
    check_list(d, rows, doc, lambda m: record_of(db, m), "http")
    eq([x["origin"] for x in rows], ["found"] * len(rows), "every member found")
    check("my_number" not in rows[0], "no My Number column")
    origin.gone.add(mids[-1])
    try:
        r = call(d, f"{NOTIFY}?partner={PAYROLL}", off, method="POST")
        rows = rows_of(r, "HTTP list, one removed")
        doc = call(d, f"/v1/reports/breach?partner={PAYROLL}", aud).json()
        check_list(d, rows, doc, lambda m: None if m in origin.gone else record_of(db, m), "http, removed")
        missing = [x for x in rows if x["origin"] == "missing"]
        eq([x["member_id"] for x in missing], [mids[-1]], "the member the origin answered 404 for")
        leaf = [l for l in map(json.loads, ledger_text(inst).splitlines())
                if l["index"] == int(r.headers["X-Ledger-Index"])][0]
        eq(leaf["admin"]["detail"]["missing"], "1", "missing counted in the entry")
        # the origin fails: 502, no CSV, no entry
        origin.failing = True
        size = inst.ledger_size()
        r = call(d, f"{NOTIFY}?partner={PAYROLL}", off, method="POST")
        check_error(r, 502, "origin_error", "a failing origin")
        check("X-Ledger-Index" not in r.headers, "no entry index")
        eq(inst.ledger_size(), size, "nothing recorded when the origin fails")
    finally:
        origin.failing = False
        origin.gone.clear()


@case("notification list: refusals — roles, credentials, filters, body")
def _(env):
    d, aud, off = env.main, env.tokens["auditor"], env.tokens["officer"]
    inst = d.install
    size = inst.ledger_size()
    wo = work_order(inst, SAKURA_CT, "contact", SAKURA)
    pcert = inst.pki.partner(SAKURA)
    url = f"{NOTIFY}?partner={SAKURA}"
    body = check_error(call(d, url, aud, method="POST"), 403, "forbidden", "auditor")
    check("officer" in body["message"], body["message"])
    check_error(call(d, url, method="POST"), 401, "token_required", "no token")
    check_error(call(d, url, wo, method="POST"), 403, "forbidden", "work order")
    check_error(call(d, url, off, cert=pcert, method="POST"), 403, "forbidden", "partner certificate")
    check_error(call(d, url, aud, method="GET"), 405, "method_not_allowed", "GET")
    for path, body, word in [
        (NOTIFY, None, "partner"),
        (f"{NOTIFY}?partner=Bad_Id", None, "partner"),
        (f"{NOTIFY}?partner={SAKURA}&from=2026-02-30", None, "from"),
        (f"{NOTIFY}?partner={SAKURA}&from=2026-05-01&to=2026-04-01", None, "from"),
        (f"{NOTIFY}?partner={SAKURA}&member=M0000001", None, "query parameter"),
        (url, {"reason": ""}, "reason"),
        (url, {"reason": "x", "members": ["M0000001"]}, "members"),
        (url, ["x"], "object"),
    ]:
        r = call(d, path, off, method="POST", body=body)
        b = check_error(r, 400, "bad_request", f"{path} {body}")
        check(word in b["message"], f"{path} {body}: message names {word}: {b['message']}")
    eq(inst.ledger_size(), size, "no refusal recorded anything")


@case("notification list and deletion: a ledger that cannot record answers 503 and nothing else")
def _(env):
    inst = env.install(members=10)
    mnt = env.tmp / "leak-full-fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"# skip: cannot mount a tmpfs: {r.stderr.strip()}")
        return
    try:
        inst.set("ledger", "path", str(mnt / "ledger.db"))
        with pdtest.Daemon(inst) as d:
            release_pages(d, inst, SAKURA, SAKURA_CT, "contact", 5)
            aud, off = tokens_of(d)
            with open(mnt / "ballast", "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
            s = requests.Session()
            got = None
            for i in range(400):
                r = call(d, f"{NOTIFY}?partner={SAKURA}", off, method="POST", session=s)
                if r.status_code == 503:
                    got = r
                    break
                check_status(r, 200, "until the WAL needs a new page")
            check(got is not None, "the notification list failed on the full disk")
            check_error(got, 503, "ledger_unavailable", "notification list, full disk")
            check(b"member_id" not in got.content and b"@" not in got.content, "no list answered")
            check("X-Ledger-Index" not in got.headers, "no index")
            r = call(d, f"/v1/contracts/{SAKURA_CT}/deletion", off, method="POST",
                     body={"attested_by": "佐倉", "deleted_at": today().isoformat(), "certificate": "DEL-9"})
            check_error(r, 503, "ledger_unavailable", "deletion, full disk")
            (mnt / "ballast").unlink()
            d.term()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


# ---------------------------------------------------------------------------------------------
# Deletion at a contract's end.

def deletion(d, tok, contract, body):
    return call(d, f"/v1/contracts/{contract}/deletion", tok, method="POST", body=body)


@case("certificate of deletion: recorded as an admin entry; refusals name the field")
def _(env):
    d, aud, off = env.main, env.tokens["auditor"], env.tokens["officer"]
    inst = d.install
    good = {"attested_by": "さくらメール株式会社 情報管理責任者 佐藤", "deleted_at": today().isoformat(),
            "certificate": "削除証明書 DC-2026-001（全件消去）"}
    size = inst.ledger_size()
    future = (today() + datetime.timedelta(days=1)).isoformat()
    for contract, body, status, word in [
        ("CT-9999-0000", good, 404, "not_found"),
        (SAKURA_CT, None, 400, "body"),
        (SAKURA_CT, {**good, "extra": 1}, 400, "extra"),
        (SAKURA_CT, {k: v for k, v in good.items() if k != "attested_by"}, 400, "attested_by"),
        (SAKURA_CT, {**good, "attested_by": ""}, 400, "attested_by"),
        (SAKURA_CT, {**good, "certificate": 7}, 400, "certificate"),
        (SAKURA_CT, {**good, "certificate": "x" * 1001}, 400, "certificate"),
        (SAKURA_CT, {**good, "deleted_at": "2026-02-30"}, 400, "deleted_at"),
        (SAKURA_CT, {**good, "deleted_at": "2026/03/01"}, 400, "deleted_at"),
        (SAKURA_CT, {**good, "deleted_at": future}, 400, "future"),
        (SAKURA_CT, {**good, "deleted_at": "2001-01-01"}, 400, "before the contract"),
    ]:
        r = deletion(d, off, contract, body)
        if status == 404:
            check_error(r, 404, "not_found", "unknown contract")
            continue
        b = check_error(r, 400, "bad_request", f"{body}")
        check(word in b["message"], f"{body}: message names {word}: {b['message']}")
    check_error(deletion(d, aud, SAKURA_CT, good), 403, "forbidden", "auditor")
    check_error(deletion(d, None, SAKURA_CT, good), 401, "token_required", "no token")
    check_error(call(d, f"/v1/contracts/{SAKURA_CT}/deletion", off, cert=inst.pki.partner(SAKURA),
                     method="POST", body=good), 403, "forbidden", "partner certificate")
    eq(inst.ledger_size(), size, "no refusal recorded anything")
    r = deletion(d, off, SAKURA_CT, good)
    check_status(r, 201, "deletion recorded")
    doc = r.json()
    eq((doc["action"], doc["contract"], doc["partner"], doc["deleted_at"], doc["by"]),
       ("contract_deletion", SAKURA_CT, SAKURA, good["deleted_at"], "officer"), "answer")
    index = int(r.headers["X-Ledger-Index"])
    eq(doc["ledger_index"], index, "index in body and header")
    leaf = [l for l in map(json.loads, ledger_text(inst).splitlines()) if l["index"] == index][0]
    eq((leaf["kind"], leaf["partner"], leaf["admin"]["action"], leaf["admin"]["target"]),
       ("admin", SAKURA, "contract_deletion", SAKURA), "the entry")
    eq(leaf["admin"]["detail"], {"attested_by": good["attested_by"], "certificate": good["certificate"],
                                 "contract": SAKURA_CT, "deleted_at": good["deleted_at"]}, "detail")


@case("deletion_due: ended entrustment contracts after releases, my_number flagged, gone once attested")
def _(env):
    d = env.ending
    inst = d.install
    aud, off = tokens_of(d)

    def due():
        r = call(d, "/v1/supervision/summary", aud)
        check_status(r, 200, "summary")
        return {x["contract"]: x for x in r.json()["deletion_due"]}

    eq(due(), {}, "nothing has ended")
    # payroll terminated, sakura past its valid_until, tokei ended without a release
    yesterday = (today() - datetime.timedelta(days=1)).isoformat()
    for ct, change in ((PAYROLL_CT, {"status": "terminated"}),
                       (SAKURA_CT, {"valid_until": f"{yesterday}T00:00:00+09:00"}),
                       ("CT-2026-0004", {"status": "terminated"})):
        p = inst.path(f"contracts/{ct}.json")
        c = json.loads(p.read_text())
        c.update(change)
        p.write_text(json.dumps(c, ensure_ascii=False, indent=2))
    said = d.hup()
    check("fail" not in said.lower(), f"reload: {said}")
    got = pdtest.wait_until(lambda: (lambda x: x if len(x) == 2 else None)(due()), 5, 0.1,
                            "two contracts due")
    eq(sorted(got), sorted([PAYROLL_CT, SAKURA_CT]), "due: the two that released")
    eq((got[PAYROLL_CT]["my_number"], got[PAYROLL_CT]["ended"]), (True, "terminated"), "payroll")
    eq((got[SAKURA_CT]["my_number"], got[SAKURA_CT]["ended"]), (False, "expired"), "sakura")
    check(got[SAKURA_CT]["releases"] >= 12 and got[PAYROLL_CT]["releases"] >= 4, f"releases: {got}")
    check(got[PAYROLL_CT]["first_release"] <= got[PAYROLL_CT]["last_release"], "first <= last")
    cli = {x["contract"] for x in json.loads(pd(inst, "report", "summary", "-c", inst.conf))["deletion_due"]}
    eq(cli, {PAYROLL_CT, SAKURA_CT}, "pdgate report summary: the same")
    r = deletion(d, off, PAYROLL_CT, {"attested_by": "みどり給与計算 責任者", "deleted_at": today().isoformat(),
                                      "certificate": "番号削除記録 MN-7"})
    check_status(r, 201, "payroll deletion")
    eq(sorted(due()), [SAKURA_CT], "payroll dropped once its deletion is recorded")
    r = deletion(d, off, SAKURA_CT, {"attested_by": "さくら", "deleted_at": yesterday, "certificate": "DC-1"})
    check_status(r, 201, "sakura deletion")
    eq(due(), {}, "nothing due")


if __name__ == "__main__":
    pdtest.run(Env)
