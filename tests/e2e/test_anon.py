#!/usr/bin/env python3
"""Anonymised information (匿名加工情報, APPI Art. 43; issue 14, SPEC 16.4) through the real CLI
and the real daemon.

`pdgate anonymize` on 20,000 synthetic members, once through a running gateway and once with
none: data.csv compared row for row with what this suite computes itself from members.db (the
transforms, the groups smaller than k suppressed, rare attribute values replaced by その他, the
members whose use is stopped left out: the record's stop_use and a stop_use request registered
through the compliance API); every quasi-identifier combination held by at least k rows; no
value of a forbidden class (names, kana, emails, phone numbers, addresses, member ids, My
Numbers, photos, certification numbers) anywhere in the three files; random row order; the
admin entry, committed before the files appear, written by the gateway while it runs and by the
command itself when none does (a gateway_start / gateway_stop of its own), the ledger intact.
Every refusal: the spec (forbidden classes, unknown paths, transforms that do not fit, k < 2,
unknown keys, bad ids, duplicate keys), the folder, an id recorded already, a data set with no
row left, a gateway whose listener cannot be reached, a listener that wants a staff certificate
the command does not have. The routes: POST /v1/anonymised (officer) and GET (auditor), their
role checks, bodies refused naming the field, 409 for an id given twice, the notices.

Daemons: `small` (300 members, for the routes and the refusals); the 20,000 installation gets
daemons of its own, started and stopped by its case; `certs` (require_client_cert = true).
"""

import collections
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
import time
from pathlib import Path

import requests

import pdtest
from pdtest import SLOW, case, check, check_error, check_no_store, check_status, eq

BIG = 20000
K = 5
JST = datetime.timezone(datetime.timedelta(hours=9))
SAKURA, SAKURA_CT = "sakura-mail", "CT-2026-0001"
OTHER = "その他"

SPEC = {"title": "会員属性統計用データ", "recipient": None, "k": K,
        "quasi": {"birth_date": "age_band:10", "gender": None, "address.prefecture": None,
                  "membership.grade": None},
        "attributes": ["membership.joined:year", "courses[].code", "courses[].completed"]}
ITEMS = ["birth_date:age_band:10", "gender", "address.prefecture", "membership.grade",
         "membership.joined:year", "courses[].code", "courses[].completed"]


def today():
    return datetime.datetime.now(JST).date()


def cport(inst):
    return int(inst.get("compliance", "listen").rpartition(":")[2])


def call(inst, path, token=None, cert=None, method="GET", body=None, raw=None, conf_cert=None):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    if isinstance(cert, pdtest.Cert):
        cert = cert.pair
    kw = {"json": body} if raw is None else {"data": raw}
    if raw is not None:
        h["Content-Type"] = "application/json"
    return requests.request(method, f"https://127.0.0.1:{cport(inst)}{path}", cert=cert,
                            verify=str(inst.server_ca), timeout=30 * SLOW, headers=h, **kw)


def pd(inst, *args):
    r = inst.pdgate(*args)
    check(r.returncode == 0, f"pdgate {' '.join(map(str, args))}: {r.stderr.strip()}")
    return r.stdout.strip()


def staff(inst, name, role):
    return pd(inst, "token", "issue", "-c", inst.conf, "--staff", name, "--role", role, "--ttl", "2h")


def work_order(inst):
    return pd(inst, "token", "issue", "-c", inst.conf, "--contract", SAKURA_CT, "--purpose",
              "marketing", "--ttl", "2h", "--cert", inst.path(f"pki/partners/{SAKURA}.pem"))


def anonymize(inst, spec, out, conf=None, staff_name="sato", extra=(), timeout=300):
    """Writes the spec (a dict, or text as is) beside the installation and runs the command."""
    path = inst.dir / f"spec-{time.monotonic_ns()}.json"
    path.write_text(spec if isinstance(spec, str) else json.dumps(spec, ensure_ascii=False))
    args = ["anonymize", "-c", conf or inst.conf, "--spec", path, "--out", out]
    if staff_name:
        args += ["--staff", staff_name]
    t = time.monotonic()
    r = inst.pdgate(*args, *extra, timeout=timeout)
    return r, time.monotonic() - t


def made(inst, spec, out, **kw):
    r, took = anonymize(inst, spec, out, **kw)
    check(r.returncode == 0, f"anonymize exit {r.returncode}: {r.stderr.strip()[-800:]}")
    return json.loads(r.stdout.strip().splitlines()[-1]), took


def refused(inst, spec, out, want, **kw):
    """Exit 1 with want in stderr, and nothing at out (nor a folder beside it)."""
    r, _ = anonymize(inst, spec, out, **kw)
    eq(r.returncode, 1, f"exit status ({want}); stderr {r.stderr.strip()[-400:]!r}")
    check(want in r.stderr, f"{want!r} not in stderr: {r.stderr.strip()[-600:]}")
    out = Path(out)
    left = [p.name for p in out.parent.iterdir() if p.name.startswith(out.name + ".tmp-")] \
        if out.parent.is_dir() else []
    check(not left, f"temporary folders left: {left}")
    return r.stderr


def spec_with(id_, **changes):
    s = json.loads(json.dumps(SPEC))
    s["id"] = id_
    s.update(changes)
    return s


def ledger_entries(inst, action="anonymised_dataset"):
    db = sqlite3.connect(str(inst.path("ledger.db")), timeout=10)
    try:
        rows = db.execute("SELECT idx, leaf FROM entries ORDER BY idx").fetchall()
    finally:
        db.close()
    out = []
    for idx, leaf in rows:
        e = json.loads(leaf)
        if action is None or (e["kind"] == "admin" and e["admin"]["action"] == action):
            out.append(e)
    return out


def read_set(out):
    """The three files of a data set: (rows of data.csv with its header, report, notice)."""
    out = Path(out)
    eq(sorted(p.name for p in out.iterdir()), ["data.csv", "publication.txt", "report.json"],
       f"files in {out}")
    raw = (out / "data.csv").read_bytes()
    check(raw.startswith(b"\xef\xbb\xbf"), "data.csv: UTF-8 with a byte-order mark")
    text = raw.decode("utf-8")[1:]
    check(text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""), "data.csv: CRLF rows")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    report = json.loads((out / "report.json").read_text())
    notice = (out / "publication.txt").read_text()
    eq(report["data_sha256"], hashlib.sha256(raw).hexdigest(), "report: data.csv's hash")
    return rows, report, notice


# ---------------------------------------------------------------------------------------------
# What the data set must be, computed here from members.db.

def members_of(inst):
    db = sqlite3.connect(str(inst.path("members.db")))
    try:
        return [json.loads(t) for (t,) in db.execute("SELECT record FROM members ORDER BY member_id")]
    finally:
        db.close()


def age_band(birth, day, width=10):
    y, m, d = map(int, birth.split("-"))
    age = day.year - y - ((day.month, day.day) < (m, d))
    lo = age // width * width
    return f"{lo}-{lo + width - 1}"


def raw_row(rec, day):
    """The member's cells before suppression and replacement: quasi strings, attribute sets."""
    addr = rec.get("address") or {}
    ms = rec.get("membership") or {}
    courses = rec.get("courses") or []
    joined = ms.get("joined")
    quasi = (age_band(rec["birth_date"], day) if rec.get("birth_date") else "",
             rec.get("gender") or "", addr.get("prefecture") or "", ms.get("grade") or "")
    attrs = ({joined[:4]} if joined else set(),
             {c["code"] for c in courses if c.get("code")},
             {c["completed"] for c in courses if c.get("completed")})
    return quasi, attrs


def expected(records, left_out, day, k=K):
    """The rows data.csv must hold (as sorted tuples), the suppressed count and the replaced count."""
    rows = [raw_row(r, day) for r in records if r["member_id"] not in left_out]
    size = collections.Counter(q for q, _ in rows)
    kept = [(q, a) for q, a in rows if size[q] >= k]
    held = [collections.Counter() for _ in range(3)]
    for _, attrs in kept:
        for i, vals in enumerate(attrs):
            held[i].update(vals)
    out, replaced = [], 0
    for q, attrs in kept:
        cells = []
        for i, vals in enumerate(attrs):
            keep = sorted(v for v in vals if held[i][v] >= k)
            rare = [v for v in vals if held[i][v] < k]
            replaced += len(rare)
            cells.append(";".join(keep + ([OTHER] if rare else [])))
        out.append(q + tuple(cells))
    return sorted(out), len(rows) - len(kept), replaced


FORBIDDEN_PATHS = [("member_id",), ("name", "family"), ("name", "given"), ("name", "family_kana"),
                   ("name", "given_kana"), ("address", "postal_code"), ("address", "city"),
                   ("address", "street"), ("address", "building"), ("phone",), ("email",),
                   ("photo", "url"), ("photo", "sha256"), ("my_number",)]
PATTERNS = {"member id": re.compile(r"M\d{7}"), "email": re.compile(r"[\w.+-]+@example\.(?:jp|com|ne\.jp)"),
            "phone": re.compile(r"(?<![\d-])0\d{1,3}-\d{2,4}-\d{4}(?![\d-])"),
            "My Number": re.compile(r"(?<!\d)\d{12}(?!\d)"),
            "certification number": re.compile(r"(?<!\d)\d{4}-\d{5}(?!\d)"),
            "postal code": re.compile(r"(?<![\d-])\d{3}-\d{4}(?![\d-])"),
            "photo": re.compile(r"members\.example")}


def forbidden_values(records):
    vals = set()
    for r in records:
        for p in FORBIDDEN_PATHS:
            v = r
            for k in p:
                v = v.get(k) if isinstance(v, dict) else None
            if isinstance(v, str) and v:
                vals.add(v)
        for c in r.get("certifications") or []:
            if c.get("number"):
                vals.add(c["number"])
    return vals


def strings_in(doc):
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for k, v in doc.items():
            yield k
            yield from strings_in(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from strings_in(v)


def check_no_forbidden(records, rows, report, notice, data_text):
    """No value of a forbidden class: cell by cell, value by value of the report, and the notice
    as text; then no shape of one (ids, emails, phones, My Numbers, ...) in any file."""
    vals = forbidden_values(records)
    for i, row in enumerate(rows):
        for cell in row:
            for part in cell.split(";"):
                check(part not in vals, f"data.csv row {i} holds a forbidden value")
    for s in strings_in(report):
        check(s not in vals, "report.json holds a forbidden value")
    names = {v for r in records for v in ((r.get("name") or {}).values())} | \
            {(r.get("address") or {}).get("city") for r in records} - {None}
    # a one-character given name (修, 律) is in the words of the law: those are checked as
    # words of their own, every longer one anywhere in the text
    words = set(re.split(r"[\s、。・（）：「」]+", notice))
    for n in names:
        check(not n or (n not in words and (len(n) < 2 or n not in notice)),
              "publication.txt holds a name or a city")
    for what, rx in PATTERNS.items():
        for name, text in (("data.csv", data_text), ("publication.txt", notice)):
            m = rx.search(text)
            check(m is None, f"{name} holds something shaped like a {what}")
    for what in ("member id", "email", "phone", "photo"):
        check(PATTERNS[what].search(json.dumps(report, ensure_ascii=False)) is None,
              f"report.json holds something shaped like a {what}")


def check_k(rows, k=K):
    groups = collections.Counter(tuple(r[:4]) for r in rows)
    small = [g for g, n in groups.items() if n < k]
    check(not small, f"{len(small)} quasi-identifier combinations with fewer than {k} rows")
    for col in (4, 5, 6):
        held = collections.Counter(v for r in rows for v in set(r[col].split(";")) if v)
        rare = [v for v, n in held.items() if n < k and v != OTHER]
        check(not rare, f"column {ITEMS[col]}: values held by fewer than {k} rows: {rare[:5]}")


# ---------------------------------------------------------------------------------------------

class Env(pdtest.Env):
    @pdtest.fixture
    def small(self):
        return self.daemon(self.install(members=300))

    @pdtest.fixture
    def t(self):
        inst = self.small.install
        return {"officer": staff(inst, "officer", "officer"), "auditor": staff(inst, "alice", "auditor"),
                "sakura": work_order(inst)}


def subject_of(inst, member_id):
    secret = inst.path("keys/pseudonym.key").read_bytes()
    ks = hmac.new(secret, b"pdgate subject v1\x00", hashlib.sha256).digest()
    return hmac.new(ks, member_id.encode(), hashlib.sha256).hexdigest()


@case("20,000 members through the gateway and without it: the rows computed here, k, no "
      "forbidden value, stop_use left out, random order, the entry before the files")
def _(env):
    inst = env.install(members=BIG)
    records = members_of(inst)
    eq(len(records), BIG, "members")
    day = today()
    by_record = {r["member_id"] for r in records if (r.get("restrictions") or {}).get("stop_use")}
    check(by_record, "some members have stop_use in their record")
    # a member to stop through the register: in a group that is kept either way
    sizes = collections.Counter(raw_row(r, day)[0] for r in records if r["member_id"] not in by_record)
    x = next(r["member_id"] for r in records
             if r["member_id"] not in by_record and sizes[raw_row(r, day)[0]] > K + 1)

    with pdtest.Daemon(inst) as d:
        tok = staff(inst, "officer", "officer")
        r = call(inst, f"/v1/subjects/{x}/requests", tok, method="POST",
                 body={"type": "stop_use", "received": day.isoformat(), "channel": "電話"})
        check_status(r, 201, "stop_use request")
        before = inst.ledger_size()
        got, took_gw = made(inst, spec_with("AN-2026-0101"), inst.dir / "set-gateway")
        eq(got["recorded_by"], "gateway", "recorded through the running gateway")
        check(d.running, "the gateway still runs")
        entries = ledger_entries(inst)
        eq(len(entries), 1, "one anonymised_dataset entry")
        e = entries[0]
        eq(e["index"], got["ledger_index"], "the index the command printed")
        check(e["index"] >= before, "a new entry")
        check(e["token"] and e["request"], "the gateway's entry names the command's officer token and the request")
        eq(e["admin"]["staff"], "sato", "the staff member")
        listed = call(inst, "/v1/anonymised", staff(inst, "alice", "auditor"))
        check_status(listed, 200, "GET /v1/anonymised")
        notice_gw = listed.json()["datasets"][0]["notice"]

    rows_gw, report_gw, notice_file = read_set(inst.dir / "set-gateway")
    eq(notice_file, notice_gw, "publication.txt is the notice the API lists")
    # the gateway stopped: the command is the ledger's writer now
    got2, took_cmd = made(inst, spec_with("AN-2026-0102"), inst.dir / "set-command")
    eq(got2["recorded_by"], "command", "recorded by the command itself, no gateway running")
    rows_cmd, report_cmd, notice_cmd = read_set(inst.dir / "set-command")

    all_entries = ledger_entries(inst, None)
    mine = [i for i, e in enumerate(all_entries) if e["kind"] == "admin"
            and e["admin"]["action"] == "anonymised_dataset" and e["admin"]["detail"]["id"] == "AN-2026-0102"]
    eq(len(mine), 1, "the command's entry")
    i = mine[0]
    eq(all_entries[i - 1]["admin"]["action"], "gateway_start", "the command opened the ledger: gateway_start before")
    eq(all_entries[i + 1]["admin"]["action"], "gateway_stop", "and closed it: gateway_stop after")
    check(all_entries[i]["token"] is None, "no token when the command writes itself")
    r = inst.pdgate("ledger", "verify", "-c", inst.conf)
    eq(r.returncode, 0, f"ledger verify: {r.stdout} {r.stderr}")

    want, want_supp, want_repl = expected(records, by_record | {x}, day)
    with_x, _, _ = expected(records, by_record, day)
    check(with_x != want, "the check can tell the stopped member's row")
    data_text = (inst.dir / "set-command" / "data.csv").read_text(encoding="utf-8-sig")
    for name, rows, report, notice in (("gateway", rows_gw, report_gw, notice_file),
                                       ("command", rows_cmd, report_cmd, notice_cmd)):
        eq(rows[0], ITEMS, f"{name}: the header is the items, no linking column")
        body = rows[1:]
        check(sorted(tuple(r) for r in body) == want,
              f"{name}: data.csv differs from the rows computed here "
              f"({len(body)} rows, want {len(want)})")
        check_k(body)
        for key, val in (("members", BIG), ("left_out", len(by_record) + 1), ("rows", len(want)),
                         ("suppressed", want_supp), ("replaced", want_repl), ("k", K)):
            eq(report[key], val, f"{name}: report.json {key}")
        eq(report["items"], ITEMS, f"{name}: report items")
        check(report["replaced"] > 0 and report["suppressed"] > 0, "something replaced and suppressed")
        check_no_forbidden(records, body, report, notice, data_text)
        check("第43条第3項" in notice and "第43条第4項" not in notice, f"{name}: Art. 43(3) only")
        for label in ("生年月日から求めた年齢（10歳刻み）", "住所（都道府県）", "受講講座（コード）", "入会日（年のみ）"):
            check(label in notice, f"{name}: notice lists {label}")
    eq(report_cmd["spec_sha256"] != report_gw["spec_sha256"], True, "each spec's own hash")
    # the same rows, in another order: no row order links the two sets or follows member ids
    check(sorted(map(tuple, rows_gw[1:])) == sorted(map(tuple, rows_cmd[1:])), "same rows")
    same = sum(a == b for a, b in zip(rows_gw[1:], rows_cmd[1:]))
    check(same < len(want) // 10, f"{same} of {len(want)} rows in the same place in two runs")
    in_order = [tuple(raw_row(r, day)[0]) for r in records
                if r["member_id"] not in by_record | {x}]
    firsts = [tuple(r[:4]) for r in rows_cmd[1:51]]
    check(firsts != in_order[:50], "rows do not come in member order")
    # an id is given once, with the gateway running or not
    refused(inst, spec_with("AN-2026-0101"), inst.dir / "again", "AN-2026-0101 is recorded already")
    print(f"# {BIG:,} members, k {K}: {len(want):,} rows kept, {want_supp:,} suppressed, "
          f"{want_repl:,} values replaced, {len(by_record) + 1} left out; "
          f"{took_gw:.2f} s through the gateway, {took_cmd:.2f} s by itself", flush=True)
    check(took_cmd < 20 * SLOW, f"{BIG:,} members took {took_cmd:.1f} s")


# ---------------------------------------------------------------------------------------------

BAD_SPECS = {
    "name.family": ({"quasi": {"name.family": None}}, "$.quasi[\"name.family\"]: name.family is of class name"),
    "email": ({"attributes": ["email"]}, "$.attributes[0]: email is of class contact"),
    "address.city": ({"quasi": {"address.city": None}}, "class contact"),
    "address.postal_code": ({"quasi": {"address.postal_code": "prefix:3"}}, "class contact"),
    "phone": ({"attributes": ["phone:mask:4"]}, "phone is of class contact"),
    "member_id": ({"quasi": {"member_id": None}}, "member_id is of class identifier"),
    "member_id pseudonym": ({"quasi": {"member_id": "pseudonym"}}, "class identifier"),
    "certifications[].number": ({"attributes": ["certifications[].number"]}, "class identifier"),
    "photo.url": ({"quasi": {"photo.url": None}}, "class image"),
    "my_number": ({"attributes": ["my_number"]}, "my_number is of class my_number"),
    "consents": ({"attributes": ["consents.marketing"]}, "class internal"),
    "restrictions": ({"quasi": {"restrictions.stop_use": None}}, "class internal"),
    "address (an object with contact leaves)": ({"quasi": {"address": None}}, "class contact"),
    "unknown path": ({"quasi": {"shoe_size": None}},
                     '$.quasi.shoe_size: "shoe_size" is not a path of the field catalog'),
    "a date transform on a text": ({"quasi": {"gender": "year"}}, "$.quasi.gender: gender: year applies only to a date field"),
    "a text transform on a date": ({"quasi": {"birth_date": "prefix:4"}}, "applies only to a string field"),
    "an age band on another date": ({"attributes": ["membership.joined:age_band:10"]}, "applies only to the birth date"),
    "a pseudonym": ({"attributes": ["gender:pseudonym"]}, "links a row to a member"),
    "an unknown transform": ({"quasi": {"gender": "hash"}}, "unknown transform"),
    "one leaf twice": ({"attributes": ["birth_date:year"]}, "birth_date is a column already"),
    "k = 1": ({"k": 1}, "$.k: must be an integer from 2"),
    "k = 0": ({"k": 0}, "$.k:"),
    "k a string": ({"k": "5"}, "$.k:"),
    "k a fraction": ({"k": 4.5}, "$.k:"),
    "unknown key": ({"purpose": "statistics"}, "$.purpose: unknown key"),
    "a bad id": ({"id": "AN-2026-1"}, "$.id: must match"),
    "a path as id": ({"id": "../AN-2026-0001"}, "$.id: must match"),
    "a recipient without method": ({"recipient": "統計研究所"}, "$.method: missing"),
    "a method without recipient": ({"method": "手渡し"}, "$.method: only with a recipient"),
    "a blank title": ({"title": "　"}, "$.title:"),
    "no quasi": ({"quasi": {}}, "$.quasi:"),
}


@case("refusals of the spec: every rule, with the JSON path and the reason; nothing written, "
      "nothing recorded")
def _(env):
    inst = env.small.install
    before = inst.ledger_size()
    for what, (change, want) in BAD_SPECS.items():
        s = spec_with("AN-2026-0201")
        s.update(change)
        refused(inst, s, inst.dir / "bad", want)
        check(not (inst.dir / "bad").exists(), f"{what}: the folder was made")
    text = json.dumps(spec_with("AN-2026-0201"), ensure_ascii=False)
    refused(inst, text.replace('"k": 5', '"k": 5, "k": 6'), inst.dir / "bad", "duplicate")
    refused(inst, text[:-3], inst.dir / "bad", "line 1")
    refused(inst, "[]", inst.dir / "bad", "$: must be an object")
    refused(inst, '{"id":"AN-2026-0201"}' + " " * 70000, inst.dir / "bad", "--spec")
    r = inst.pdgate("anonymize", "-c", inst.conf, "--out", inst.dir / "bad")
    eq(r.returncode, 2, "no --spec: usage")
    r = inst.pdgate("anonymize", "--help")
    check(r.returncode == 0 and "--spec" in r.stdout and "--staff" in r.stdout, "--help")
    eq(inst.ledger_size(), before, "nothing recorded")
    eq(ledger_entries(inst), [], "no data set entry")


@case("refusals of the folder, the staff name, a data set with no row left; an empty folder "
      "is taken; the listener of the gateway holding the ledger cannot be reached")
def _(env):
    inst = env.small.install
    full = inst.dir / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    refused(inst, spec_with("AN-2026-0301"), full, "a folder with files in it")
    eq((full / "keep.txt").read_text(), "mine", "what was there stays")
    (inst.dir / "afile").write_text("x")
    refused(inst, spec_with("AN-2026-0301"), inst.dir / "afile", "exists and is not a folder")
    refused(inst, spec_with("AN-2026-0301"), inst.dir / "no" / "such", "No such file")
    refused(inst, spec_with("AN-2026-0301"), inst.dir / "x", "is not a staff name", staff_name="Sato!")
    before = inst.ledger_size()
    refused(inst, spec_with("AN-2026-0301", k=100000), inst.dir / "none", "no row is left to publish")
    eq(inst.ledger_size(), before, "nothing recorded for a set with no row")
    # a gateway holds the ledger: the command does not open it, it asks the configured
    # listener, which is not this gateway's
    elsewhere = inst.variant("elsewhere", {("compliance", "listen"): f"127.0.0.1:{pdtest.free_port()}"})
    refused(inst, spec_with("AN-2026-0301"), inst.dir / "x", "cannot be reached", conf=elsewhere)
    eq(inst.ledger_size(), before, "nothing recorded")
    # an empty folder made beforehand is taken
    empty = inst.dir / "empty"
    empty.mkdir()
    got, _ = made(inst, spec_with("AN-2026-0301", k=2), empty)
    eq(got["recorded_by"], "gateway", "through the gateway")
    rows, report, _ = read_set(empty)
    check(len(rows) > 1 and report["rows"] == len(rows) - 1, "rows written")


@case("without a gateway, the entry first: a ledger that cannot be opened to write leaves "
      "nothing written; an id recorded already is refused")
def _(env):
    inst = env.install(members=120)
    got, _ = made(inst, spec_with("AN-2026-0601", k=2), inst.dir / "first")
    eq(got["recorded_by"], "command", "no gateway: the command writes")
    refused(inst, spec_with("AN-2026-0601", k=2), inst.dir / "again", "AN-2026-0601 is recorded already")
    other = inst.dir / "keys" / "other-ledger.key"
    r = subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(other)],
                       capture_output=True, text=True)
    eq(r.returncode, 0, f"openssl genpkey: {r.stderr}")
    os.chmod(other, 0o600)
    wrong = inst.variant("wrongkey", {("ledger", "key"): "keys/other-ledger.key"})
    before = inst.ledger_size()
    refused(inst, spec_with("AN-2026-0602", k=2), inst.dir / "second", "does not verify", conf=wrong)
    check(not (inst.dir / "second").exists(), "no data set without its entry")
    eq(inst.ledger_size(), before, "nothing recorded")
    r = inst.pdgate("ledger", "verify", "-c", inst.conf)
    eq(r.returncode, 0, f"ledger verify: {r.stdout} {r.stderr}")


@case("POST /v1/anonymised: officer only, partner credentials 403, bodies refused naming the "
      "field, an id given twice 409; GET lists every data set with its notice")
def _(env):
    d, t = env.small, env.t
    inst = d.install
    pcert = inst.pki.partner(SAKURA)
    body = {"id": "AN-2026-0401", "title": "講座受講傾向データ（提供用）", "made": today().isoformat(),
            "recipient": "一般財団法人 生活文化研究所", "method": "暗号化した電子ファイルを記録媒体で手渡し",
            "spec_sha256": "a" * 64, "items": ["gender", "membership.grade", "courses[].code"],
            "k": 5, "members": 300, "left_out": 3, "rows": 250, "suppressed": 47, "replaced": 2}
    check_error(call(inst, "/v1/anonymised", t["auditor"], method="POST", body=body), 403, "forbidden", "auditor")
    check_error(call(inst, "/v1/anonymised", t["sakura"], method="POST", body=body), 403, "forbidden", "work order")
    check_error(call(inst, "/v1/anonymised", cert=pcert, method="POST", body=body), 403, "forbidden", "partner cert")
    check_error(call(inst, "/v1/anonymised", method="POST", body=body), 401, "token_required", "no token")
    check_error(call(inst, "/v1/anonymised", cert=pcert), 403, "forbidden", "partner cert GET")
    check_error(call(inst, "/v1/anonymised", t["sakura"]), 403, "forbidden", "work order GET")
    check_error(call(inst, "/v1/anonymised"), 401, "token_required", "GET without a token")
    before = inst.ledger_size()
    bad = {
        "no body": (None, "a JSON body"),
        "not JSON": ("{", "body:"),
        "an unknown member": (dict(body, partner="x"), "unknown member 'partner'"),
        "no items": ({k: v for k, v in body.items() if k != "items"}, "items:"),
        "a forbidden item": (dict(body, items=["gender", "name.family"]), "items[1]: name.family is of class name"),
        "an item twice": (dict(body, items=["gender", "gender"]), "items[1]:"),
        "a pseudonym": (dict(body, items=["member_id:pseudonym"]), "items[0]:"),
        "k = 1": (dict(body, k=1), "k:"),
        "k a string": (dict(body, k="5"), "k: must be a whole number"),
        "fewer rows than k": (dict(body, rows=4, suppressed=293), "rows: fewer than k"),
        "counts that do not add up": (dict(body, suppressed=40), "members:"),
        "a bad id": (dict(body, id="AN-1"), "id:"),
        "a method without recipient": (dict(body, recipient=None), "method: only with a recipient"),
        "a recipient without method": (dict(body, method=None), "method: missing"),
        "made tomorrow": (dict(body, made=(today() + datetime.timedelta(days=1)).isoformat()), "made:"),
        "made last year": (dict(body, made="2025-01-01"), "made:"),
        "a bad hash": (dict(body, spec_sha256="xyz"), "spec_sha256:"),
        "a title with a line break": (dict(body, title="a\nb"), "title:"),
    }
    for what, (b, want) in bad.items():
        if isinstance(b, str):
            r = call(inst, "/v1/anonymised", t["officer"], method="POST", raw=b)
        elif b is None:
            r = call(inst, "/v1/anonymised", t["officer"], method="POST", raw=b"")
        else:
            r = call(inst, "/v1/anonymised", t["officer"], method="POST", body=b)
        err = check_error(r, 400, "bad_request", what)
        check(want in err["message"], f"{what}: {want!r} not in {err['message']!r}")
    eq(inst.ledger_size(), before, "nothing recorded by a refused body")
    r = call(inst, "/v1/anonymised", t["officer"], method="POST", body=body)
    check_status(r, 201, "recorded")
    check_no_store(r)
    doc = r.json()
    eq(r.headers.get("X-Ledger-Index"), str(doc["ledger_index"]), "X-Ledger-Index")
    eq(doc["by"], "officer", "by")
    for part in ("第43条第4項", "暗号化した電子ファイルを記録媒体で手渡し", "匿名加工情報である旨を明示",
                 "・会員区分", "講座受講傾向データ（提供用）（AN-2026-0401）"):
        check(part in doc["notice"], f"notice: {part}")
    err = check_error(call(inst, "/v1/anonymised", t["officer"], method="POST", body=body), 409, "conflict", "twice")
    check(str(doc["ledger_index"]) in err["message"], "the conflict names the entry")
    e = [x for x in ledger_entries(inst) if x["admin"]["detail"]["id"] == "AN-2026-0401"]
    eq(len(e), 1, "one entry")
    det = e[0]["admin"]["detail"]
    eq(list(det), sorted(det), "detail keys ascending")
    for k, v in (("items", "gender,membership.grade,courses[].code"), ("k", "5"), ("rows", "250"),
                 ("suppressed", "47"), ("recipient", body["recipient"]), ("method", body["method"])):
        eq(det[k], v, f"detail {k}")
    check(e[0]["subject"] is None and e[0]["partner"] is None, "no member, no partner in the entry")
    listed = call(inst, "/v1/anonymised", t["auditor"])
    check_status(listed, 200, "list")
    check_no_store(listed)
    sets = {s["id"]: s for s in listed.json()["datasets"]}
    check("AN-2026-0401" in sets, "listed")
    eq(sets["AN-2026-0401"]["notice"], doc["notice"], "the same notice")
    eq(listed.json()["count"], len(listed.json()["datasets"]), "count")
    check_error(call(inst, "/v1/anonymised?id=AN-2026-0401", t["auditor"]), 400, "bad_request", "a query")


@case("[compliance] require_client_cert: the command presents the staff certificate of --staff, "
      "and is refused without one")
def _(env):
    inst = env.install(members=120, conf={("compliance", "require_client_cert"): "true"})
    with pdtest.Daemon(inst):
        refused(inst, spec_with("AN-2026-0501", k=2), inst.dir / "x", "a staff certificate is needed",
                staff_name="sato")
        got, _ = made(inst, spec_with("AN-2026-0501", k=2), inst.dir / "set", staff_name="officer")
        eq(got["recorded_by"], "gateway", "through the gateway")
        # another staff member's certificate does not go with this name
        refused(inst, spec_with("AN-2026-0502", k=2), inst.dir / "y", "403 forbidden",
                staff_name="sato", extra=("--cert", inst.path("pki/staff/officer.pem"),
                                          "--key", inst.path("pki/staff/officer.key")))
    e = ledger_entries(inst)
    eq([x["admin"]["detail"]["id"] for x in e], ["AN-2026-0501"], "one entry")
    eq(e[0]["admin"]["staff"], "officer", "by the certificate's staff member")


if __name__ == "__main__":
    pdtest.run(Env)
