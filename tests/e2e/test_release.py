#!/usr/bin/env python3
"""Purpose-bound release (issue 3, SPEC 5-9) through the real daemon with real certificates.

Each demo contract releases exactly its catalog leaves for each purpose (key sets and values of
real answers, against the contract files and policies/fields.json); every refusal of steps 4-10
with its code and its ledger entry; the member rules one by one and in pages; My Number only to
the payroll contractor; pseudonyms per contract; rate and volume limits; contract reloads; an
HTTP origin run here that misbehaves in every way SPEC 6 names; 100,000 members paged through.

Daemons: `main` (the demo contracts plus test contracts for partners of our own, with crafted
members M0000001-M0000008), `reload` (SIGHUP), `http` (an HTTP origin in this process),
`closed` (an origin port nobody listens on) and, in the background, `big` (100,000 members).
"""

import contextlib
import datetime
import hashlib
import http.server
import json
import os
import re
import sqlite3
import threading
import time
import urllib.parse
from pathlib import Path

import requests

import pdtest
from pdtest import SLOW, Failure, case, check, check_error, check_no_store, check_status, eq

JST = datetime.timezone(datetime.timedelta(hours=9))
HEX32 = re.compile(r"^[0-9a-f]{32}$")
DEMO = {  # contract id -> partner, as the brief fixes them
    "CT-2026-0001": "sakura-mail",
    "CT-2026-0002": "shiken-proctor",
    "CT-2026-0003": "maison-partners",
    "CT-2026-0004": "tokei-lab",
    "CT-2026-0005": "mirai-insurance",
    "CT-2026-0006": "midori-payroll",
}
PAYROLL = "CT-2026-0006"
MIRAI = "CT-2026-0005"
MAIN_MEMBERS = 40
JUST = "照会書 第123号（法令に基づく照会）への回答"


# ---------------------------------------------------------------------------------------------
# The catalog and the expected release, computed here from the files alone.

class Catalog:
    def __init__(self, folder):
        fields = json.loads((Path(folder) / "fields.json").read_text())["fields"]
        self.leaves = [f["path"] for f in fields]
        self.cls = {f["path"]: f["class"] for f in fields}
        purposes = json.loads((Path(folder) / "purposes.json").read_text())["purposes"]
        self.kind = {p["id"]: p["kind"] for p in purposes}

    def expand(self, spec):
        """A contract field "path[:transform]" -> [(leaf, transform or None)]: an object path
        stands for every catalog leaf below it (SPEC 5)."""
        path, _, tf = spec.partition(":")
        out = [(leaf, tf or None) for leaf in self.leaves
               if leaf == path or leaf.startswith(path + ".") or leaf.startswith(path + "[].")]
        check(out, f"contract field {spec!r} names no catalog leaf")
        return out


class Pseudonym:
    """Stands for a pseudonym in an expected answer: 32 lowercase hex digits."""

    def __init__(self, of):
        self.of = of  # the original value, which must not appear


def jst_today():
    return datetime.datetime.now(JST).date()


def age_band(birth, n, today):
    y, m, d = map(int, birth.split("-"))
    age = today.year - y - ((today.month, today.day) < (m, d))
    lo = age // n * n
    return f"{lo}-{lo + n - 1}"


def transformed(value, tf, today):
    if tf is None:
        return value
    name, _, arg = tf.partition(":")
    if name == "pseudonym":
        return Pseudonym(value)
    if name == "mask":
        n = int(arg)
        return value if len(value) <= n else "*" * (len(value) - n) + value[len(value) - n:]
    if name == "prefix":
        return value[:int(arg)]
    if name == "year":
        return value[:4]
    if name == "age_band":
        return age_band(value, int(arg), today)
    raise Failure(f"unknown transform {tf!r}")


def _put(out, rec, segs, tf, today):
    name, arr = segs[0]
    v = rec.get(name) if isinstance(rec, dict) else None
    if v is None:
        return
    if len(segs) == 1:
        out[name] = transformed(v, tf, today)
    elif arr:
        o = out.setdefault(name, [{} for _ in v])
        for i, e in enumerate(v):
            _put(o[i], e, segs[1:], tf, today)
    else:
        _put(out.setdefault(name, {}), v, segs[1:], tf, today)


def expected_release(cat, fields, record, today):
    """What SPEC 9.3 releases of record for a purpose's contract fields: the listed leaves,
    absent and null values left out, arrays element by element, transforms applied."""
    out = {}
    for spec in fields:
        for leaf, tf in cat.expand(spec):
            segs = [(s[:-2], True) if s.endswith("[]") else (s, False) for s in leaf.split(".")]
            _put(out, record, segs, tf, today)
    return out


def compare(got, want, what, pseudonyms=None):
    """got must have exactly want's keys, array lengths and values (a Pseudonym: 32 hex)."""
    if isinstance(want, Pseudonym):
        check(isinstance(got, str) and HEX32.match(got), f"{what}: {got!r} is not 32 hex digits")
        check(got != want.of and got != hashlib.sha256(want.of.encode()).hexdigest()[:32],
              f"{what}: pseudonym {got!r} is the plain value or its unkeyed hash")
        if pseudonyms is not None:
            pseudonyms.append((what, want.of, got))
    elif isinstance(want, dict):
        check(isinstance(got, dict), f"{what}: got {type(got).__name__}, want an object")
        eq(sorted(got), sorted(want), f"{what}: keys")
        for k in want:
            compare(got[k], want[k], f"{what}.{k}", pseudonyms)
    elif isinstance(want, list):
        check(isinstance(got, list), f"{what}: got {type(got).__name__}, want an array")
        eq(len(got), len(want), f"{what}: array length")
        for i, (g, w) in enumerate(zip(got, want)):
            compare(g, w, f"{what}[{i}]", pseudonyms)
    else:
        eq(got, want, what)


def rule(cat, contract, purpose, rec):
    """SPEC 9.2 for one member: None, or the refusal's code."""
    kind = cat.kind[purpose]
    if kind == "exception":
        return None
    cons, rest = rec.get("consents") or {}, rec.get("restrictions") or {}
    if rest.get("stop_use") is True:
        return "member_restricted"
    if contract["relationship"] == "third_party":
        if rest.get("stop_third_party") is True:
            return "member_restricted"
        if cons.get("third_party_provision") is not True:
            return "consent_missing"
    if purpose in ("marketing", "survey") and cons.get(purpose) is False:
        return "consent_missing"
    if contract["purposes"][purpose].get("requires_consent") or kind == "consent":
        if cons.get(purpose) is not True and contract["id"] not in (cons.get("consented") or []):
            return "consent_missing"
    return None


def load_members(inst):
    with sqlite3.connect(f"file:{inst.path('members.db')}?mode=ro", uri=True) as db:
        return {mid: json.loads(rec) for mid, rec in
                db.execute("SELECT member_id, record FROM members ORDER BY member_id")}


def distinctive(rec, unique=False):
    """Values of a record that no refusal may carry: names, contact data, numbers. unique: only
    those no other member shares (for answers that carry other members' data)."""
    out = [rec["email"], rec["phone"], rec["my_number"], rec["photo"]["sha256"]]
    if not unique:
        out += [rec["name"][k] for k in ("family", "given", "family_kana", "given_kana")]
        out += [rec["address"]["street"], rec["address"]["postal_code"], rec["birth_date"]]
    return [v for v in out if v]


def check_no_leak(r, recs, what, unique=False):
    """Fails if the answer (body or headers) carries a distinctive value of one of recs."""
    text = r.content.decode("utf-8", "replace") + json.dumps(dict(r.headers), ensure_ascii=False)
    for rec in recs:
        for v in distinctive(rec, unique):
            check(v not in text, f"{what}: the answer carries {v!r} of {rec['member_id']}: {text[:300]!r}")


# ---------------------------------------------------------------------------------------------
# Installations, contracts and members made by the suite.

def iso(dt):
    return dt.astimezone(JST).isoformat(timespec="seconds")


def make_contract(cid, partner, purposes, relationship="entrustment", status="active",
                  valid_from=None, valid_until=None, token_required=False, limits=None):
    now = datetime.datetime.now(JST)
    c = {"id": cid, "partner": partner, "partner_name": f"{partner} 株式会社",
         "relationship": relationship, "status": status,
         "valid_from": iso(valid_from or now - datetime.timedelta(days=30)),
         "valid_until": iso(valid_until or now + datetime.timedelta(days=365)),
         "token_required": token_required, "my_number_permitted": False,
         "purposes": {p: (v if isinstance(v, dict) else {"fields": v}) for p, v in purposes.items()},
         "confidentiality": "業務委託契約書 第10条（秘密保持）", "notes": "pdgate e2e test contract"}
    if limits:
        c["limits"] = limits
    return c


def write_contract(inst, c):
    (inst.path("contracts") / f"{c['id']}.json").write_text(json.dumps(c, ensure_ascii=False, indent=1))


# Test partners of the main installation and their contracts (token_required false, so that a
# request can name, omit or invent its purpose).
OPEN_FIELDS = ["member_id", "name.family", "name.family_kana:mask:1", "phone:mask:4",
               "address.postal_code:prefix:3", "address.prefecture", "birth_date:age_band:5",
               "membership.joined:year", "email"]


def test_contracts():
    now = datetime.datetime.now(JST)
    day = datetime.timedelta(days=1)
    return [
        make_contract("CT-2026-0101", "open-mail", {
            "contact": OPEN_FIELDS,
            "marketing": ["member_id", "name.family"],
            "legal_obligation": ["member_id", "name", "address"]}),
        make_contract("CT-2026-0102", "term-co", {"contact": ["member_id"]}, status="terminated"),
        make_contract("CT-2026-0103", "susp-co", {"contact": ["member_id"]}, status="suspended"),
        make_contract("CT-2026-0104", "exp-co", {"contact": ["member_id"]},
                      valid_from=now - 400 * day, valid_until=now - day),
        make_contract("CT-2026-0105", "future-co", {"contact": ["member_id"]},
                      valid_from=now + 10 * day, valid_until=now + 400 * day),
        make_contract("CT-2026-0111", "twin-co", {"contact": ["member_id", "name.family"]}),
        make_contract("CT-2026-0112", "twin-co", {"contact": ["member_id", "email"],
                                                  "survey": ["member_id:pseudonym"]}),
        make_contract("CT-2026-0121", "rate-co", {"contact": ["member_id"]},
                      limits={"requests_per_minute": 5}),
        make_contract("CT-2026-0122", "vol-co", {"legal_obligation": ["member_id"]},
                      limits={"records_per_day": 10}),
        make_contract("CT-2026-0123", "burst-co", {"contact": ["member_id"]},
                      limits={"requests_per_minute": 10}),
        make_contract("CT-2026-0124", "flood-co", {"legal_obligation": ["member_id"]},
                      limits={"records_per_day": 10}),
    ]


# Crafted members: (marketing, survey, third_party_provision, consented, stop_use,
# stop_third_party); None for marketing leaves the flag out of the record.
CRAFTED = {
    "M0000001": (True, True, True, [MIRAI], False, False),    # consents to everything
    "M0000002": (False, False, True, [MIRAI], False, False),  # opted out of marketing, survey
    "M0000003": (True, True, True, [MIRAI], True, False),     # stop_use
    "M0000004": (True, True, True, [MIRAI], False, True),     # stop_third_party
    "M0000005": (True, True, False, [MIRAI], False, False),   # no third-party consent
    "M0000006": (True, True, True, [], False, False),         # third party, contract not listed
    "M0000007": (None, True, True, [], False, False),         # no marketing flag at all
    "M0000008": (None, True, True, [MIRAI], False, False),    # only the contract listed
}


def craft_members(inst):
    with sqlite3.connect(inst.path("members.db")) as db:
        for mid, (mk, sv, tp, listed, stop, stop_tp) in CRAFTED.items():
            rec = json.loads(db.execute("SELECT record FROM members WHERE member_id=?", (mid,)).fetchone()[0])
            cons = {"survey": sv, "third_party_provision": tp, "consented": listed}
            if mk is not None:
                cons = {"marketing": mk, **cons}
            rec["consents"] = cons
            rec["restrictions"] = {"stop_use": stop, "stop_third_party": stop_tp}
            db.execute("UPDATE members SET record=? WHERE member_id=?",
                       (json.dumps(rec, ensure_ascii=False, separators=(",", ":")), mid))


class Partner:
    """One partner's certificate and kept-alive session against one daemon."""

    def __init__(self, d, cert):
        self.d, self.cert = d, cert
        self.session = requests.Session()

    def get(self, path, headers=None, token=None, purpose=None, **kw):
        # header values as UTF-8 bytes: X-Justification is a sentence in Japanese
        h = {k: v.encode() if isinstance(v, str) else v for k, v in (headers or {}).items()}
        if token:
            h["Authorization"] = "Bearer " + token
        if purpose:
            h["X-Purpose"] = purpose
        return self.d.get(path, cert=self.cert, headers=h, session=self.session, **kw)


class Env(pdtest.Env):
    def __init__(self):
        super().__init__()
        self._tokens = {}
        self._partners = {}
        self.answers = []  # (daemon, X-Ledger-Index, kind, reason, body digest), checked last
        self.answers_lock = threading.Lock()
        self.figures = []

    @pdtest.fixture
    def main(self):
        inst = self.install(members=MAIN_MEMBERS)
        craft_members(inst)
        for c in test_contracts():
            write_contract(inst, c)
        return self.daemon(inst)

    @pdtest.fixture
    def cat(self):
        return Catalog(self.main.install.path("policies"))

    @pdtest.fixture
    def members(self):
        return load_members(self.main.install)

    @pdtest.fixture
    def contracts(self):
        folder = self.main.install.path("contracts")
        return {p.stem: json.loads(p.read_text()) for p in folder.glob("CT-*.json")}

    @pdtest.fixture
    def http(self):
        return _http_fixture(self)

    def token(self, d, contract, purpose, partner, *extra):
        key = (d.port, contract, purpose, partner, extra)
        with self.answers_lock:
            if key not in self._tokens:
                inst = d.install
                r = inst.pdgate("token", "issue", "-c", inst.conf, "--contract", contract,
                                "--purpose", purpose, "--ttl", "1h", "--cert",
                                inst.pki.partner(partner).pem, *extra)
                check(r.returncode == 0, f"token issue {contract} {purpose}: {r.stderr.strip()}")
                self._tokens[key] = r.stdout.strip()
            return self._tokens[key]

    def partner(self, d, pid, demo=True):
        """The partner's Partner on daemon d: its demo certificate, or one issued here."""
        key = (d.port, pid)
        with self.answers_lock:
            if key not in self._partners:
                cert = d.install.pki.partner(pid) if demo else d.install.pki.issue(pid, partner=pid)
                self._partners[key] = Partner(d, cert)
            return self._partners[key]

    def noted(self, d, r, kind, reason=None):
        """Remembers the answer's ledger index for the final ledger case; returns r."""
        idx = r.headers.get("X-Ledger-Index")
        check(idx is not None and idx.isdigit(), f"no X-Ledger-Index on {r.status_code} {pdtest.body_of(r)!r}")
        page = urllib.parse.urlsplit(r.url).path == "/v1/members"
        if page and kind == "release":
            kind = None  # a page's index is its first member's entry: released or withheld
        digest = hashlib.sha256(r.content).hexdigest() if kind == "release" else None
        with self.answers_lock:
            self.answers.append((d, int(idx), kind, reason, digest))
        return r


def refused(env, d, r, status, code, what):
    """A refusal from step 4 on: the error body, and a ledger index recording it."""
    check_error(r, status, code, what)
    env.noted(d, r, "deny", code)
    return r


def released(env, d, r, what):
    check_status(r, 200, what)
    check_no_store(r, what)
    env.noted(d, r, "release")
    return r.json()


# ---------------------------------------------------------------------------------------------
# Background: 100,000 members through the pages.

@case("100,000 members paged through with limit=1000: each seen once, memory flat", background=True)
def page_100k(env):
    n = 100_000
    inst = env.install(members=n)
    d = env.daemon(inst)
    p = env.partner(d, "tokei-lab")
    tok = env.token(d, "CT-2026-0004", "statistics", "tokei-lab")
    with sqlite3.connect(f"file:{inst.path('members.db')}?mode=ro", uri=True) as db:
        stopped = db.execute("SELECT count(*) FROM members WHERE "
                             "json_extract(record, '$.restrictions.stop_use') = 1").fetchone()[0]

    def rss_kb():
        for line in Path(f"/proc/{d.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise Failure("no VmRSS")

    after, pages, got, withheld, seen, rss = None, 0, 0, 0, set(), {}
    t0 = time.monotonic()
    while True:
        r = p.get("/v1/members?limit=1000" + (f"&after={after}" if after else ""), token=tok,
                  timeout=60)
        check_status(r, 200, f"page {pages + 1} after {after}")
        body = r.json()
        check(len(body["members"]) + body["withheld"] <= 1000, f"page {pages + 1}: over the limit")
        got += len(body["members"])
        withheld += body["withheld"]
        seen.update(m["member_id"] for m in body["members"])
        pages += 1
        if pages in (3, 50):
            rss[pages] = rss_kb()
        after = body["next"]
        if after is None:
            break
        check(pages < 200, "more than 200 pages of 1000")
    wall = time.monotonic() - t0
    rss["end"] = rss_kb()
    eq(got + withheld, n, "members released + withheld")
    eq(withheld, stopped, "withheld (the members with stop_use)")
    eq(len(seen), got, "distinct pseudonyms")
    eq(pages, n // 1000, "pages")
    env.figures.append(f"paging {n:,} members: {wall:.1f} s ({n / wall:,.0f} members/s), RSS "
                       f"{rss[3]} kB after page 3, {rss[50]} kB after page 50, {rss['end']} kB after page 100")
    # AddressSanitizer holds freed memory in its quarantine (256 MiB): RSS grows by design there.
    # Otherwise: the second half of the pages must not grow the daemon at all (a leak of even
    # 50 bytes a record would show 2.5 MB there), and the whole run only by bounded caches (the
    # ledger's SQLite page cache fills during the first 30,000 entries or so).
    if "san" not in Path(pdtest.PDGATE).name:
        check(rss["end"] - rss[50] < 4 * 1024,
              f"the daemon's RSS grew from {rss[50]} kB to {rss['end']} kB over pages 50-100")
        check(rss["end"] - rss[3] < 48 * 1024,
              f"the daemon's RSS grew from {rss[3]} kB to {rss['end']} kB while paging")
    check(wall < 150 * SLOW, f"paging took {wall:.1f} s")


# ---------------------------------------------------------------------------------------------
# whoami

@case("whoami: each partner sees its contracts in force, their purposes and the fields each releases")
def whoami(env):
    d = env.main
    for cid, pid in DEMO.items():
        p = env.partner(d, pid)
        r = p.get("/v1/whoami")
        check_status(r, 200, f"whoami {pid}")
        check_no_store(r, pid)
        body = r.json()
        eq(body["partner"], pid, "partner")
        eq(body["certificate"], "sha256:" + p.cert.fingerprint, f"{pid}: certificate")
        eq([c["id"] for c in body["contracts"]], [cid], f"{pid}: contracts")
        c, want = body["contracts"][0], env.contracts[cid]
        for k in ("relationship", "status", "valid_from", "valid_until"):
            eq(c[k], want[k], f"{pid}: {k}")
        eq(sorted(c["purposes"]), sorted(want["purposes"]), f"{pid}: purposes")
        for pur, spec in want["purposes"].items():
            eq(c["purposes"][pur]["fields"], spec["fields"], f"{pid} {pur}: fields")
            eq(c["purposes"][pur]["kind"], env.cat.kind[pur], f"{pid} {pur}: kind")
            eq(c["purposes"][pur]["requires_consent"], spec.get("requires_consent", False),
               f"{pid} {pur}: requires_consent")
    body = env.partner(d, "twin-co", demo=False).get("/v1/whoami").json()
    eq([c["id"] for c in body["contracts"]], ["CT-2026-0111", "CT-2026-0112"], "twin-co: both contracts")
    for pid in ("term-co", "susp-co", "exp-co"):
        body = env.partner(d, pid, demo=False).get("/v1/whoami").json()
        eq(body["contracts"], [], f"{pid}: a contract not in force is not listed")


# ---------------------------------------------------------------------------------------------
# Exactly the contract's fields.

@case("each demo contract releases exactly its fields for each purpose, one by one and in a page")
def exact_fields(env):
    d, cat, members = env.main, env.cat, env.members
    for cid, pid in DEMO.items():
        contract = env.contracts[cid]
        eq(contract, json.loads((pdtest.REPO / "contracts" / "examples" / f"{cid}.json").read_text()),
           f"{cid}: the installation's copy vs contracts/examples")
        p = env.partner(d, pid)
        for purpose, spec in contract["purposes"].items():
            tok = env.token(d, cid, purpose, pid)
            what = f"{pid} {purpose}"
            allowed = []
            for mid in list(members)[:12]:
                rec = members[mid]
                r = p.get(f"/v1/members/{mid}", token=tok)
                refusal = rule(cat, contract, purpose, rec)
                if refusal:
                    refused(env, d, r, 403, refusal, f"{what} {mid}")
                    check_no_leak(r, [rec], f"{what} {mid}")
                    continue
                allowed.append(mid)
                compare(released(env, d, r, f"{what} {mid}"),
                        expected_release(cat, spec["fields"], rec, jst_today()), f"{what} {mid}")
            check(allowed, f"{what}: no member of the first 12 released: the suite's data is wrong")
            # the whole database in one page, against the rules and the release computed here
            r = p.get(f"/v1/members?limit={MAIN_MEMBERS}", token=tok)
            body = released(env, d, r, f"{what} page")
            eq(sorted(body), ["members", "next", "withheld"], f"{what} page: keys")
            eq(body["next"], None, f"{what} page: next")
            want = [mid for mid in members if not rule(cat, contract, purpose, members[mid])]
            eq(body["withheld"], len(members) - len(want), f"{what} page: withheld")
            eq(len(body["members"]), len(want), f"{what} page: members")
            for mid, got in zip(want, body["members"]):
                compare(got, expected_release(cat, spec["fields"], members[mid], jst_today()),
                        f"{what} page {mid}")


@case("transforms: mask and prefix on code points, year, age_band, pseudonym as 32 hex digits")
def transforms(env):
    d, members = env.main, env.members
    p = env.partner(d, "open-mail", demo=False)
    for mid in ("M0000001", "M0000009", "M0000010"):
        rec = members[mid]
        body = released(env, d, p.get(f"/v1/members/{mid}", purpose="contact"), f"contact {mid}")
        compare(body, expected_release(env.cat, OPEN_FIELDS, rec, jst_today()), f"contact {mid}")
        kana = rec["name"]["family_kana"]
        eq(body["name"]["family_kana"], "*" * (len(kana) - 1) + kana[-1], f"{mid}: kana mask:1")
        check(re.fullmatch(r"\*+\d{4}", body["phone"]), f"{mid}: phone mask:4 {body['phone']!r}")
        eq(body["address"]["postal_code"], rec["address"]["postal_code"][:3], f"{mid}: prefix:3")
        check(re.fullmatch(r"\d{4}", body["membership"]["joined"]), f"{mid}: year")
        lo, hi = map(int, body["birth_date"].split("-"))
        check(lo % 5 == 0 and hi == lo + 4, f"{mid}: age_band:5 {body['birth_date']!r}")
    # the statistics contractor: pseudonym, age_band:10, year
    tok = env.token(d, "CT-2026-0004", "statistics", "tokei-lab")
    body = released(env, d, env.partner(d, "tokei-lab").get("/v1/members/M0000001", token=tok), "statistics")
    check(HEX32.match(body["member_id"]), f"pseudonym {body['member_id']!r}")
    check(re.fullmatch(r"\d+-\d+", body["birth_date"]), f"age_band:10 {body['birth_date']!r}")
    lo, hi = map(int, body["birth_date"].split("-"))
    check(lo % 10 == 0 and hi == lo + 9, f"age_band:10 {body['birth_date']!r}")
    check(re.fullmatch(r"\d{4}", body["membership"]["joined"]), "joined:year")


@case("pseudonyms: stable within a contract (purposes, pages), different across contracts")
def pseudonyms(env):
    d = env.main
    mid = "M0000001"
    sakura = env.partner(d, "sakura-mail")

    def pseudo(p, cid, pid, purpose, path=f"/v1/members/{mid}"):
        r = p.get(path, token=env.token(d, cid, purpose, pid))
        body = released(env, d, r, f"{pid} {purpose}")
        return body["members"][0]["member_id"] if "members" in body else body["member_id"]

    a = pseudo(sakura, "CT-2026-0001", "sakura-mail", "marketing")
    eq(pseudo(sakura, "CT-2026-0001", "sakura-mail", "marketing"), a, "same contract, same purpose, again")
    eq(pseudo(sakura, "CT-2026-0001", "sakura-mail", "contact"), a, "same contract, another purpose")
    eq(pseudo(sakura, "CT-2026-0001", "sakura-mail", "contact", "/v1/members?limit=1"), a,
       "same contract, in a page")
    b = pseudo(env.partner(d, "maison-partners"), "CT-2026-0003", "maison-partners", "survey")
    c = pseudo(env.partner(d, "tokei-lab"), "CT-2026-0004", "tokei-lab", "statistics")
    twin = env.partner(d, "twin-co", demo=False)
    e = released(env, d, twin.get(f"/v1/members/{mid}", purpose="survey"), "twin-co survey")["member_id"]
    for x in (a, b, c, e):
        check(HEX32.match(x), f"pseudonym {x!r}")
    eq(len({a, b, c, e}), 4, f"pseudonyms of {mid} under four contracts ({a}, {b}, {c}, {e})")
    other = pseudo(sakura, "CT-2026-0001", "sakura-mail", "contact", "/v1/members/M0000002")
    check(other != a, "two members share a pseudonym")


@case("My Number: released only to the payroll contractor for my_number_affairs, never elsewhere")
def my_number(env):
    d, members = env.main, env.members
    numbers = {m["my_number"] for m in members.values()}
    p = env.partner(d, "midori-payroll")
    tok = env.token(d, PAYROLL, "my_number_affairs", "midori-payroll")
    body = released(env, d, p.get("/v1/members/M0000001", token=tok), "payroll")
    eq(body["my_number"], members["M0000001"]["my_number"], "payroll: my_number")
    page = released(env, d, p.get("/v1/members?limit=5", token=tok), "payroll page")
    for m in page["members"]:
        eq(m["my_number"], members[m["member_id"]]["my_number"], f"payroll page {m['member_id']}")
    # every other contract, every purpose, one member and a page: no my_number key, no number
    for cid, pid in DEMO.items():
        if cid == PAYROLL:
            continue
        q = env.partner(d, pid)
        for purpose in env.contracts[cid]["purposes"]:
            tok = env.token(d, cid, purpose, pid)
            for path in ("/v1/members/M0000001", f"/v1/members?limit={MAIN_MEMBERS}"):
                r = q.get(path, token=tok)
                check_status(r, (200, 403), f"{pid} {purpose} {path}")
                check("my_number" not in r.text, f"{pid} {purpose}: my_number in {r.text[:200]!r}")
                check(not any(n in r.text for n in numbers), f"{pid} {purpose}: a My Number in the answer")
    q = env.partner(d, "open-mail", demo=False)
    r = q.get("/v1/members/M0000001", purpose="legal_obligation", headers={"X-Justification": JUST})
    check("my_number" not in released(env, d, r, "open-mail legal_obligation"), "exception purpose: my_number")
    # a work order of the payroll contract cannot be stretched to another purpose
    r = env.partner(d, "midori-payroll").get("/v1/members/M0000001", token=env.token(
        d, PAYROLL, "my_number_affairs", "midori-payroll"), purpose="contact")
    refused(env, d, r, 400, "purpose_conflict", "payroll token with X-Purpose contact")
    check("my_number" not in r.text, "purpose_conflict: my_number")
    r = env.main.install.pdgate("token", "issue", "-c", d.install.conf, "--contract", PAYROLL,
                                "--purpose", "contact", "--ttl", "1h", "--cert",
                                d.install.pki.partner("midori-payroll").pem)
    check(r.returncode != 0 and not r.stdout.strip(), "token issue for a purpose the payroll contract lacks")


# ---------------------------------------------------------------------------------------------
# Refusals of steps 4 to 7.

@case("purpose not in the contract: 403 purpose_not_permitted")
def purpose_not_permitted(env):
    d = env.main
    p = env.partner(d, "open-mail", demo=False)
    for purpose in ("survey", "statistics", "my_number_affairs", "protect_life"):
        r = p.get("/v1/members/M0000001", purpose=purpose, headers={"X-Justification": JUST})
        refused(env, d, r, 403, "purpose_not_permitted", purpose)
        check_no_leak(r, [env.members["M0000001"]], purpose)
    r = p.get("/v1/members?limit=5", purpose="survey")
    refused(env, d, r, 403, "purpose_not_permitted", "survey page")


@case("unknown purpose: 403 purpose_not_permitted, the name kept out of the ledger")
def purpose_unknown(env):
    d = env.main
    p = env.partner(d, "open-mail", demo=False)
    indices = []
    for purpose in ("advertising", "Contact", "contact\u00a0", "legal_obligation;drop"):
        r = p.get("/v1/members/M0000001", purpose=purpose)
        refused(env, d, r, 403, "purpose_not_permitted", repr(purpose))
        indices.append(int(r.headers["X-Ledger-Index"]))
    leaves = _export(d)
    for i in indices:
        eq(leaves[i]["purpose"], None, f"entry {i}: an unknown purpose in the ledger")
        eq(leaves[i]["contract"], "CT-2026-0101", f"entry {i}: contract")


@case("missing purpose: 400 purpose_missing (no work order names one)")
def purpose_missing(env):
    d = env.main
    p = env.partner(d, "open-mail", demo=False)
    refused(env, d, p.get("/v1/members/M0000001"), 400, "purpose_missing", "no X-Purpose")
    refused(env, d, p.get("/v1/members?limit=3"), 400, "purpose_missing", "page, no X-Purpose")


@case("exception purpose: 400 justification_required without X-Justification, 200 with one, stop_use overridden")
def exception_purpose(env):
    d = env.main
    p = env.partner(d, "open-mail", demo=False)
    r = p.get("/v1/members/M0000001", purpose="legal_obligation")
    refused(env, d, r, 400, "justification_required", "no justification")
    r = p.get("/v1/members/M0000001", purpose="legal_obligation", headers={"X-Justification": "x" * 513})
    refused(env, d, r, 400, "justification_required", "513 characters")
    r = p.get("/v1/members/M0000001", purpose="legal_obligation", headers={"X-Justification": "照" * 512})
    released(env, d, r, "512 characters of 3 bytes")
    # the free-text rule (docs/api.md): the header's bytes are UTF-8, decoded by pdgate
    bad = {
        "a C1 control (0xC2 0x9B)": "照会\u009b2J",
        "only ideographic spaces": "\u3000\u3000\u3000",
        "a right-to-left override": "照会書 第\u202e321号",
        "a left-to-right isolate": "照会\u2066書\u2069",
        "a zero width space between blanks": "\u3000\u200b\u3000",
    }
    indices = []
    for what, text in bad.items():
        for path in ("/v1/members/M0000001", "/v1/members?limit=3"):
            r = p.get(path, purpose="legal_obligation", headers={"X-Justification": text})
            refused(env, d, r, 400, "justification_required", f"{path}: {what}")
            check("not blank" in r.json()["message"], f"the message names the rule: {r.json()['message']}")
            indices.append(int(r.headers["X-Ledger-Index"]))
    leaves = _export(d)
    for i in indices:
        eq((leaves[i]["kind"], leaves[i]["justification"]), ("deny", None),
           f"entry {i}: a refused justification is not recorded")
    r = p.get("/v1/members/M0000001", purpose="legal_obligation", headers={"X-Justification": "照会書\u3000第123号"})
    eq(_export(d)[int(r.headers["X-Ledger-Index"])]["justification"], "照会書\u3000第123号",
       "an ideographic space inside is kept")
    released(env, d, r, "an ideographic space inside")
    for mid in ("M0000002", "M0000003"):  # opted out; stop_use
        r = p.get(f"/v1/members/{mid}", purpose="legal_obligation", headers={"X-Justification": JUST})
        compare(released(env, d, r, f"legal_obligation {mid}"),
                expected_release(env.cat, ["member_id", "name", "address"], env.members[mid],
                                 jst_today()), f"legal_obligation {mid}")
    r = p.get("/v1/members?limit=8", purpose="legal_obligation", headers={"X-Justification": JUST})
    body = released(env, d, r, "legal_obligation page")
    eq([m["member_id"] for m in body["members"]], list(CRAFTED), "legal_obligation page members")
    eq(body["withheld"], 0, "legal_obligation page withheld")
    r = p.get("/v1/members/M0000003", purpose="marketing")
    refused(env, d, r, 403, "member_restricted", "stop_use, ordinary purpose")


@case("terminated, suspended-status, expired and not-yet-valid contracts: 403 contract_inactive")
def contract_inactive(env):
    d = env.main
    for pid in ("term-co", "susp-co", "exp-co", "future-co"):
        p = env.partner(d, pid, demo=False)
        r = p.get("/v1/members/M0000001", purpose="contact")
        refused(env, d, r, 403, "contract_inactive", pid)
        check_no_leak(r, [env.members["M0000001"]], pid)
        refused(env, d, p.get("/v1/members?limit=2", purpose="contact"), 403, "contract_inactive", f"{pid} page")


@case("contract choice: two contracts listing the purpose → 400 contract_ambiguous; X-Contract chooses")
def contract_choice(env):
    d = env.main
    p = env.partner(d, "twin-co", demo=False)
    rec = env.members["M0000001"]
    r = p.get("/v1/members/M0000001", purpose="contact")
    refused(env, d, r, 400, "contract_ambiguous", "no X-Contract")
    check_no_leak(r, [rec], "ambiguous")
    refused(env, d, p.get("/v1/members?limit=2", purpose="contact"), 400, "contract_ambiguous", "page")
    for cid, fields in (("CT-2026-0111", ["member_id", "name.family"]),
                        ("CT-2026-0112", ["member_id", "email"])):
        r = p.get("/v1/members/M0000001", purpose="contact", headers={"X-Contract": cid})
        compare(released(env, d, r, cid), expected_release(env.cat, fields, rec, jst_today()), cid)
    # a purpose only one of them lists needs no X-Contract
    released(env, d, p.get("/v1/members/M0000001", purpose="survey"), "survey, listed once")
    r = p.get("/v1/members/M0000001", purpose="contact", headers={"X-Contract": "CT-2026-0101"})
    refused(env, d, r, 403, "contract_inactive", "X-Contract of another partner's contract")
    r = p.get("/v1/members/M0000001", purpose="survey", headers={"X-Contract": "CT-2026-0111"})
    refused(env, d, r, 403, "purpose_not_permitted", "X-Contract without the purpose")


@case("partner_unknown: a valid certificate for a partner without a contract")
def partner_unknown(env):
    d = env.main
    p = env.partner(d, "nobody-here", demo=False)
    r = p.get("/v1/whoami")
    check_status(r, 200, "whoami")
    eq(r.json()["contracts"], [], "whoami contracts")
    for path in ("/v1/members/M0000001", "/v1/members?limit=3"):
        r = p.get(path, purpose="contact")
        refused(env, d, r, 403, "partner_unknown", path)
        check_no_leak(r, [env.members["M0000001"]], path)


@case("work orders: a contract that requires one refuses without it (401 token_required)")
def token_required(env):
    d = env.main
    p = env.partner(d, "sakura-mail")
    r = p.get("/v1/members/M0000001", purpose="marketing")
    refused(env, d, r, 401, "token_required", "no token")
    check_no_leak(r, [env.members["M0000001"]], "no token")
    r = p.get("/v1/members/M0000001", token=env.token(d, "CT-2026-0001", "marketing", "sakura-mail"),
              purpose="contact")
    refused(env, d, r, 400, "purpose_conflict", "X-Purpose against the token")


@case("work orders: max_records counts released records across pages and single requests")
def max_records(env):
    d = env.main
    p = env.partner(d, "shiken-proctor")
    tok = env.token(d, "CT-2026-0002", "service_delivery", "shiken-proctor", "--max-records", "3")
    r = p.get("/v1/members?limit=5", token=tok)
    refused(env, d, r, 401, "token_invalid", "a page of 5 under max_records 3")
    check_no_leak(r, [env.members["M0000001"]], "page over max_records")
    body = released(env, d, p.get("/v1/members?limit=2", token=tok), "a page of 2")
    eq(len(body["members"]), 2, "a page of 2 under max_records 3")
    released(env, d, p.get("/v1/members/M0000009", token=tok), "the third record")
    r = p.get("/v1/members/M0000010", token=tok)
    refused(env, d, r, 401, "token_invalid", "a fourth record")
    check_no_leak(r, [env.members["M0000010"]], "fourth record")


# ---------------------------------------------------------------------------------------------
# Member rules (SPEC 9.2) on the crafted members, written out by hand.

RULES = {  # (contract, purpose, partner): {member: expected code or None}, in member order
    ("CT-2026-0001", "marketing", "sakura-mail"): [
        None, "consent_missing", "member_restricted", None, None, None, None, None],
    ("CT-2026-0003", "survey", "maison-partners"): [
        None, "consent_missing", "member_restricted", None, None, None, None, None],
    ("CT-2026-0005", "consented", "mirai-insurance"): [
        None, None, "member_restricted", "member_restricted", "consent_missing",
        "consent_missing", "consent_missing", None],
    ("CT-2026-0005", "marketing", "mirai-insurance"): [
        None, "consent_missing", "member_restricted", "member_restricted", "consent_missing",
        None, "consent_missing", None],
    ("CT-2026-0002", "service_delivery", "shiken-proctor"): [
        None, None, "member_restricted", None, None, None, None, None],
}


@case("member rules, one by one: opted out, stop_use, stop_third_party, no third-party consent, requires_consent")
def member_rules(env):
    d = env.main
    for (cid, purpose, pid), want in RULES.items():
        p = env.partner(d, pid)
        tok = env.token(d, cid, purpose, pid)
        for mid, code in zip(CRAFTED, want):
            r = p.get(f"/v1/members/{mid}", token=tok)
            what = f"{pid} {purpose} {mid}"
            if code is None:
                released(env, d, r, what)
            else:
                refused(env, d, r, 403, code, what)
                check_no_leak(r, [env.members[mid]], what)
            eq(code, rule(env.cat, env.contracts[cid], purpose, env.members[mid]), f"{what}: the suite's model")


@case("member rules in pages: the excluded members left out and counted in withheld")
def member_rules_pages(env):
    d = env.main
    for (cid, purpose, pid), want in RULES.items():
        p = env.partner(d, pid)
        tok = env.token(d, cid, purpose, pid)
        r = p.get("/v1/members?limit=8", token=tok)
        what = f"{pid} {purpose} page"
        body = released(env, d, r, what)
        keep = [mid for mid, code in zip(CRAFTED, want) if code is None]
        eq(body["withheld"], len(want) - len(keep), f"{what}: withheld")
        eq(body["next"], "M0000008", f"{what}: next")
        # mirai releases no member_id: recognise members by e-mail or name
        key = "email" if purpose == "consented" else None
        if purpose == "marketing" and cid == MIRAI:
            got = [(m["name"]["family"], m["name"]["given"]) for m in body["members"]]
            exp = [(env.members[mid]["name"]["family"], env.members[mid]["name"]["given"]) for mid in keep]
        elif key:
            got = [m[key] for m in body["members"]]
            exp = [env.members[mid][key] for mid in keep]
        elif "member_id:pseudonym" in env.contracts[cid]["purposes"][purpose]["fields"]:
            got = [m["member_id"] for m in body["members"]]
            exp = [p.get(f"/v1/members/{mid}", token=tok).json()["member_id"] for mid in keep]
        else:
            got = [m["member_id"] for m in body["members"]]
            exp = keep
        eq(got, exp, f"{what}: the members released")
        withheld = [mid for mid, code in zip(CRAFTED, want) if code is not None]
        check_no_leak(r, [env.members[mid] for mid in withheld], what, unique=True)


# ---------------------------------------------------------------------------------------------
# Limits (own partners, so that no other case is affected).

@case("rate limit: requests_per_minute 5 → the sixth request is 429 rate_limited with Retry-After")
def rate_limit(env):
    d = env.main
    p = env.partner(d, "rate-co", demo=False)
    t0 = time.monotonic()
    for i in range(5):
        released(env, d, p.get("/v1/members/M0000001", purpose="contact"), f"request {i + 1}")
    for path in ("/v1/members/M0000001", "/v1/members?limit=2"):
        r = p.get(path, purpose="contact")
        refused(env, d, r, 429, "rate_limited", path)
        ra = r.headers.get("Retry-After", "")
        check(ra.isdigit() and 1 <= int(ra) <= 60, f"Retry-After {ra!r}")
    check(time.monotonic() - t0 < 50, "the requests took most of a minute: the test proves nothing")
    # another contract is not affected
    released(env, d, env.partner(d, "open-mail", demo=False).get("/v1/members/M0000001", purpose="contact"),
             "another contract")


@case("volume limit: records_per_day 10 → pages trimmed to what is left, then 429 with Retry-After")
def volume_limit(env):
    d = env.main
    p = env.partner(d, "vol-co", demo=False)
    h = {"X-Justification": JUST}
    after, counts = None, []
    for _ in range(3):
        r = p.get("/v1/members?limit=4" + (f"&after={after}" if after else ""), purpose="legal_obligation", headers=h)
        body = released(env, d, r, f"page {len(counts) + 1}")
        counts.append(len(body["members"]))
        eq(body["withheld"], 0, "withheld")
        after = body["next"]
    eq(counts, [4, 4, 2], "records per page under records_per_day 10")
    eq(after, "M0000010", "next after the trimmed page")
    for path in (f"/v1/members?limit=4&after={after}", "/v1/members/M0000020"):
        r = p.get(path, purpose="legal_obligation", headers=h)
        refused(env, d, r, 429, "rate_limited", path)
        ra = r.headers.get("Retry-After", "")
        check(ra.isdigit() and 1 <= int(ra) <= 86400, f"Retry-After {ra!r}")
        check_no_leak(r, [env.members["M0000020"]], path)


def parallel(n, fn):
    """Runs fn(i) for i in 0..n-1 in n threads started together; returns the results in order."""
    out, barrier = [None] * n, threading.Barrier(n)

    def run(i):
        barrier.wait()
        try:
            out[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - reported by the case
            out[i] = e
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for x in out:
        if isinstance(x, Exception):
            raise Failure(f"a parallel request failed: {type(x).__name__}: {x}")
    return out


@case("limits under concurrency: 20 requests at once against 10 per minute, 6 pages of 10 at once against 10 records a day")
def limits_parallel(env):
    d = env.main
    burst = env.partner(d, "burst-co", demo=False)
    rs = parallel(20, lambda i: d.get("/v1/members/M0000001", cert=burst.cert, headers={"X-Purpose": "contact"}))
    eq(sorted(r.status_code for r in rs), [200] * 10 + [429] * 10, "statuses of 20 requests at 10 per minute")
    for r in rs:
        if r.status_code == 429:
            refused(env, d, r, 429, "rate_limited", "burst")
        else:
            released(env, d, r, "burst")
    flood = env.partner(d, "flood-co", demo=False)
    h = {"X-Purpose": "legal_obligation", "X-Justification": JUST.encode()}
    rs = parallel(6, lambda i: d.get("/v1/members?limit=10", cert=flood.cert, headers=h))
    for r in rs:
        check_status(r, (200, 429), "flood page")
    total = sum(len(r.json()["members"]) for r in rs if r.status_code == 200)
    check(total <= 10, f"6 pages at once released {total} records under records_per_day 10: "
                       f"{[(r.status_code, len(r.json().get('members', []))) for r in rs]}")


@case("the day's volume survives a restart (seeded from the ledger)")
def volume_restart(env):
    inst = env.install(members=20)
    write_contract(inst, make_contract("CT-2026-0131", "day-co", {"legal_obligation": ["member_id"]},
                                       limits={"records_per_day": 10}))
    h = {"X-Justification": JUST}
    cert = inst.pki.issue("day-co", partner="day-co")
    with pdtest.Daemon(inst) as d:
        p = Partner(d, cert)
        body = released(env, d, p.get("/v1/members?limit=8", purpose="legal_obligation", headers=h), "before")
        eq(len(body["members"]), 8, "first page")
        d.term()
    d = env.daemon(inst)
    p = Partner(d, cert)
    body = released(env, d, p.get("/v1/members?limit=8&after=M0000008", purpose="legal_obligation",
                                  headers=h), "after the restart")
    eq(len(body["members"]), 2, "a page after the restart: the 2 records left today")
    refused(env, d, p.get("/v1/members/M0000020", purpose="legal_obligation", headers=h), 429,
            "rate_limited", "after the restart, nothing left")


# ---------------------------------------------------------------------------------------------
# Reloads.

@case("contract reload: a broken file keeps the whole old set; a good reload takes effect")
def reload(env):
    inst = env.install(members=10)
    write_contract(inst, make_contract("CT-2026-0301", "reload-co", {"contact": ["member_id", "email"]}))
    d = env.daemon(inst)
    members = load_members(inst)
    rec = members["M0000001"]
    old = Partner(d, inst.pki.issue("reload-co", partner="reload-co"))
    late = Partner(d, inst.pki.issue("late-co", partner="late-co"))

    def served_as_before(what):
        body = released(env, d, old.get("/v1/members/M0000001", purpose="contact"), what)
        compare(body, expected_release(env.cat, ["member_id", "email"], rec, jst_today()), what)
        refused(env, d, late.get("/v1/members/M0000001", purpose="contact"), 403, "partner_unknown", what)

    served_as_before("before")
    # one good change, one new contract, and one broken file: nothing of it may take effect
    write_contract(inst, make_contract("CT-2026-0301", "reload-co", {"contact": ["member_id", "name.family"]}))
    write_contract(inst, make_contract("CT-2026-0302", "late-co", {"contact": ["member_id"]}))
    broken = [
        ("CT-2026-0399.json", json.dumps(make_contract("CT-2026-0399", "bad-co", {
            "contact": ["member_id", "restrictions.stop_use"]}), ensure_ascii=False), "restrictions"),
        ("CT-2026-0399.json", '{"id": "CT-2026-0399", "partner": ', "CT-2026-0399.json"),
        ("CT-2026-0399.json", json.dumps(make_contract("CT-2026-0399", "bad-co", {
            "contact": ["my_number"]}), ensure_ascii=False), "my_number"),
    ]
    for name, text, needle in broken:
        (inst.path("contracts") / name).write_text(text)
        log = d.hup()
        check(re.search(r"reload of policies and contracts failed", log), f"log after a broken reload:\n{log}")
        check(name in log and needle in log, f"the log does not name {name} / {needle}:\n{log}")
        served_as_before(f"after a broken reload ({needle})")
    (inst.path("contracts") / "CT-2026-0399.json").unlink()
    log = d.hup()
    check(re.search(r"reload ok: \d+ contracts", log), f"log after a good reload:\n{log}")
    body = released(env, d, old.get("/v1/members/M0000001", purpose="contact"), "after the good reload")
    compare(body, expected_release(env.cat, ["member_id", "name.family"], rec, jst_today()), "changed contract")
    released(env, d, late.get("/v1/members/M0000001", purpose="contact"), "new contract")
    # a work order does not outlive its contract's status
    shiken = Partner(d, inst.pki.partner("shiken-proctor"))
    tok = env.token(d, "CT-2026-0002", "service_delivery", "shiken-proctor")
    released(env, d, shiken.get("/v1/members/M0000001", token=tok), "work order, contract active")
    path = inst.path("contracts/CT-2026-0002.json")
    for status in ("suspended", "terminated", "active"):
        c = json.loads(path.read_text())
        c["status"] = status
        path.write_text(json.dumps(c, ensure_ascii=False))
        check(re.search(r"reload ok", d.hup()), f"reload with CT-2026-0002 {status}")
        r = shiken.get("/v1/members/M0000001", token=tok)
        if status == "active":
            released(env, d, r, "work order, contract active again")
        else:
            refused(env, d, r, 403, "contract_inactive", f"work order, contract {status}")
            check_no_leak(r, [rec], f"contract {status}")


# ---------------------------------------------------------------------------------------------
# An HTTP origin run by the suite.

class Origin:
    """The association's member system, from an installation's members.db, over HTTP/1.1 with
    kept-alive connections; `mode` switches it to one misbehaviour or another."""

    def __init__(self, db_path, max_bytes, hang_s):
        self.db_path, self.max_bytes, self.hang_s = db_path, max_bytes, hang_s
        self.mode = "good"
        self.requests = 0
        self.clients = set()  # (host, port) of each connection pdgate made
        self.lock = threading.Lock()
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                with origin.lock:
                    origin.requests += 1
                    origin.clients.add(self.client_address)
                status, body = origin.answer(self.path)
                if status == "hang":
                    time.sleep(origin.hang_s)
                    status = 200
                try:
                    self.send_response(status)
                    if status in (301, 302):
                        self.send_header("Location", "http://127.0.0.1:1/members/M0000001")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def record(self, mid):
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as db:
            row = db.execute("SELECT record FROM members WHERE member_id=?", (mid,)).fetchone()
        return row[0].encode() if row else None

    def rows(self, after, limit):
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as db:
            return db.execute("SELECT member_id, record FROM members WHERE member_id > ? "
                              "ORDER BY member_id LIMIT ?", (after or "", limit + 1)).fetchall()

    def spoil(self, rec, mode):
        """The record bytes as the mode spoils them."""
        if mode == "dup_top":
            return rec[:-1] + b',"email":"dup@example.jp"}'
        if mode == "dup_nested":
            return rec.replace(b'"family":', b'"family":"X","family":', 1)
        if mode == "deep_array":
            return rec[:-1] + b',"extra":' + b"[" * 70 + b"]" * 70 + b"}"
        if mode == "deep_object":
            return rec[:-1] + b',"extra":' + b'{"a":' * 66 + b"1" + b"}" * 66 + b"}"
        if mode == "bad_utf8":
            return rec.replace(b'"gender":"', b'"gender":"\xc3\x28', 1)
        if mode == "big":
            return rec[:-1] + b',"padding":"' + b"a" * self.max_bytes + b'"}'
        if mode == "not_json":
            return rec[: len(rec) // 2]
        if mode == "array":
            return b"[" + rec + b"]"
        return rec

    def answer(self, path):
        u = urllib.parse.urlsplit(path)
        mode = self.mode
        if u.path.startswith("/members/"):
            mid = urllib.parse.unquote(u.path[len("/members/"):])
            rec = self.record("M0000002" if mode == "wrong_member" else mid)
            if rec is None:
                return 404, b'{"error":"not found"}'
            if mode == "status_500":
                return 500, rec
            if mode == "redirect":
                return 302, rec
            if mode == "hang":
                return "hang", rec
            if mode == "empty":
                return 200, b""
            return 200, self.spoil(rec, mode)
        if u.path == "/members":
            q = urllib.parse.parse_qs(u.query)
            limit = int(q["limit"][0])
            after = q.get("after", [None])[0]
            rows = self.rows(after, limit)
            nxt = rows[limit - 1][0] if len(rows) > limit else None
            recs = [r for _, r in rows[:limit]]
            if mode == "page_extra":
                recs = [r for _, r in rows[:limit + 1]]
            if mode == "page_rewind" and after:
                recs = [self.record(after).decode()] + recs[:-1]
            if mode == "page_dup" and recs:
                recs[-1] = self.spoil(recs[-1].encode(), "dup_top").decode()
            if mode == "page_unordered" and len(recs) > 1:
                recs[0], recs[1] = recs[1], recs[0]
            if mode == "page_deep" and recs:
                recs[0] = self.spoil(recs[0].encode(), "deep_array").decode()
            if mode == "hang":
                return "hang", b"{}"
            if mode == "status_500":
                return 500, b'{"members":[' + ",".join(recs).encode() + b'],"next":null}'
            body = '{"members":[' + ",".join(recs) + '],"next":' + json.dumps(nxt) + "}"
            return 200, body.encode()
        return 404, b"{}"


HTTP_TIMEOUT_MS = 1000
HTTP_MAX_BYTES = 8192


def _http_fixture(env):
    inst = env.install(members=30, conf={("origin", "timeout_ms"): HTTP_TIMEOUT_MS,
                                         ("origin", "max_record_bytes"): HTTP_MAX_BYTES})
    origin = Origin(inst.path("members.db"), HTTP_MAX_BYTES, hang_s=4 * HTTP_TIMEOUT_MS / 1000 * SLOW)
    env.enter(contextlib.closing(origin))
    inst.set("origin", "url", f"http://127.0.0.1:{origin.port}")
    return env.daemon(inst), origin


def _http_partner(env):
    d, origin = env.http
    return d, origin, env.partner(d, "shiken-proctor"), env.token(d, "CT-2026-0002", "service_delivery", "shiken-proctor")


SHIKEN_FIELDS = ["member_id", "name", "birth_date:year", "photo", "courses[].code",
                 "courses[].completed", "certifications[].code"]


@case("HTTP origin: a good record and pages are released as from the embedded origin")
def http_good(env):
    d, origin, p, tok = _http_partner(env)
    origin.mode = "good"
    n0, c0 = origin.requests, len(origin.clients)
    members = load_members(d.install)
    contract = json.loads(d.install.path("contracts/CT-2026-0002.json").read_text())
    eq(contract["purposes"]["service_delivery"]["fields"], SHIKEN_FIELDS, "shiken-proctor fields")
    for mid in ("M0000001", "M0000002", "M0000030"):
        r = p.get(f"/v1/members/{mid}", token=tok)
        code = rule(env.cat, contract, "service_delivery", members[mid])
        if code:
            refused(env, d, r, 403, code, mid)
        else:
            compare(released(env, d, r, mid), expected_release(env.cat, SHIKEN_FIELDS, members[mid], jst_today()), mid)
    refused(env, d, p.get("/v1/members/M0099999", token=tok), 404, "member_not_found", "unknown member")
    after, seen, withheld = None, [], 0
    while True:
        r = p.get("/v1/members?limit=7" + (f"&after={after}" if after else ""), token=tok)
        body = released(env, d, r, f"page after {after}")
        seen += [m["member_id"] for m in body["members"]]
        for m in body["members"]:
            compare(m, expected_release(env.cat, SHIKEN_FIELDS, members[m["member_id"]], jst_today()),
                    f"page {m['member_id']}")
        withheld += body["withheld"]
        after = body["next"]
        if after is None:
            break
    want = [mid for mid in members if not rule(env.cat, contract, "service_delivery", members[mid])]
    eq(seen, want, "members over the HTTP origin's pages")
    eq(withheld, len(members) - len(want), "withheld over the pages")
    n, c = origin.requests - n0, len(origin.clients) - c0
    check(c * 2 <= n, f"{n} origin requests took {c} connections: the connections are not reused")


@case("bad parameters: 400 bad_request before any decision (no ledger entry)")
def bad_parameters(env):
    d = env.main
    p = env.partner(d, "open-mail", demo=False)
    for path in ("/v1/members?limit=0", "/v1/members?limit=1001", "/v1/members?limit=abc",
                 "/v1/members?limit=-1", "/v1/members?after=M%2F1", "/v1/members?limit=5&limit=6",
                 "/v1/members?color=red", "/v1/members/" + "M" * 65, "/v1/members/M0000001?x=1",
                 "/v1/members/M%200001", "/v1/whoami?x=1"):
        r = p.get(path, purpose="contact")
        check_error(r, 400, "bad_request", path)
        eq(r.headers.get("X-Ledger-Index"), None, f"{path}: a ledger index before step 4")
    for n in (1, 1000):
        body = released(env, d, p.get(f"/v1/members?limit={n}", purpose="contact"), f"limit={n}")
        check(len(body["members"]) + body["withheld"] == min(n, MAIN_MEMBERS), f"limit={n}: size")
    body = released(env, d, p.get("/v1/members", purpose="contact"), "default limit")
    eq(len(body["members"]) + body["withheld"], MAIN_MEMBERS, "default limit (100) covers all 40")
    body = released(env, d, p.get("/v1/members?after=M0000040", purpose="contact"), "after the last")
    eq((body["members"], body["next"], body["withheld"]), ([], None, 0), "a page after the last member")
    refused(env, d, p.get("/v1/members/M0009999", purpose="contact"), 404, "member_not_found", "unknown")


BAD_ORIGIN = [  # mode, status, code, what
    ("dup_top", 502, "origin_invalid", "a duplicate key at the top"),
    ("dup_nested", 502, "origin_invalid", "a duplicate key inside name"),
    ("deep_array", 502, "origin_invalid", "arrays nested 70 deep"),
    ("deep_object", 502, "origin_invalid", "objects nested 67 deep"),
    ("bad_utf8", 502, "origin_invalid", "invalid UTF-8"),
    ("big", 502, "origin_invalid", f"a body over max_record_bytes ({HTTP_MAX_BYTES})"),
    ("wrong_member", 502, "origin_invalid", "another member's record"),
    ("not_json", 502, "origin_invalid", "half a record"),
    ("array", 502, "origin_invalid", "an array instead of a record"),
    ("empty", 502, "origin_invalid", "an empty 200"),
    ("status_500", 502, "origin_error", "a 500 carrying the record"),
    ("redirect", 502, "origin_error", "a redirect (never followed)"),
]


def _bad_origin_case(mode, status, code, what):
    @case(f"HTTP origin, {what}: {status} {code}, nothing of the record released")
    def _(env):
        d, origin, p, tok = _http_partner(env)
        members = load_members(d.install)
        origin.mode = mode
        try:
            r = p.get("/v1/members/M0000001", token=tok)
            refused(env, d, r, status, code, mode)
            check_no_leak(r, [members["M0000001"], members["M0000002"]], mode)
        finally:
            origin.mode = "good"
        released(env, d, p.get("/v1/members/M0000001", token=tok), f"good again after {mode}")


for _m in BAD_ORIGIN:
    _bad_origin_case(*_m)


@case("HTTP origin pages: a spoiled record, a deep nest, wrong order, one too many, a rewind or a 500 refuses the whole page")
def http_bad_pages(env):
    d, origin, p, tok = _http_partner(env)
    members = load_members(d.install)
    first = [members[m] for m in list(members)[:5]]
    for mode, status, code in (("page_dup", 502, "origin_invalid"), ("page_deep", 502, "origin_invalid"),
                               ("page_unordered", 502, "origin_invalid"), ("page_extra", 502, "origin_invalid"),
                               ("page_rewind", 502, "origin_invalid"), ("status_500", 502, "origin_error")):
        origin.mode = mode
        try:
            r = p.get("/v1/members?limit=5" + ("&after=M0000001" if mode == "page_rewind" else ""), token=tok)
            refused(env, d, r, status, code, mode)
            check_no_leak(r, first, mode)
        finally:
            origin.mode = "good"
    released(env, d, p.get("/v1/members?limit=5", token=tok), "good page again")


@case("HTTP origin that hangs: 504 origin_timeout within timeout_ms, then served again")
def http_hang(env):
    d, origin, p, tok = _http_partner(env)
    members = load_members(d.install)
    origin.mode = "hang"
    try:
        for path in ("/v1/members/M0000001", "/v1/members?limit=3"):
            t0 = time.monotonic()
            r = p.get(path, token=tok)
            took = time.monotonic() - t0
            refused(env, d, r, 504, "origin_timeout", path)
            check_no_leak(r, [members["M0000001"]], path)
            limit = HTTP_TIMEOUT_MS / 1000 + 1.5 * SLOW
            check(took < limit, f"{path}: 504 after {took:.2f} s, want under {limit:.1f} s")
            check(took >= HTTP_TIMEOUT_MS / 1000 * 0.8, f"{path}: 504 after only {took:.2f} s")
    finally:
        origin.mode = "good"
    released(env, d, p.get("/v1/members/M0000001", token=tok), "good again after a hang")


@case("HTTP origin on a closed port: 502 origin_error")
def http_closed(env):
    inst = env.http[0].install
    closed = pdtest.free_port()  # nobody listens here
    conf = inst.variant("closed", {("partner", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                                   ("compliance", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                                   ("origin", "url"): f"http://127.0.0.1:{closed}",
                                   ("ledger", "path"): "ledger-closed.db",
                                   ("gateway", "state"): "state-closed.db"})
    d = env.daemon(inst, conf=conf)
    p = env.partner(d, "shiken-proctor")
    tok = env.token(env.http[0], "CT-2026-0002", "service_delivery", "shiken-proctor")
    members = load_members(inst)
    for path in ("/v1/members/M0000001", "/v1/members?limit=3"):
        t0 = time.monotonic()
        r = p.get(path, token=tok)
        refused(env, d, r, 502, "origin_error", path)
        check_no_leak(r, [members["M0000001"]], path)
        check(time.monotonic() - t0 < HTTP_TIMEOUT_MS / 1000 + 1.5 * SLOW, f"{path}: slow")


@case("SIGTERM while requests wait on a hanging HTTP origin: each is answered, exit 0")
def http_hang_sigterm(env):
    # Handlers run on their own threads while their connections are suspended; stopping must
    # answer every one of them before libmicrohttpd closes the connections.
    inst = env.http[0].install
    origin = env.http[1]
    conf = inst.variant("term", {("partner", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                                 ("compliance", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                                 ("ledger", "path"): "ledger-term.db",
                                 ("gateway", "state"): "state-term.db"})
    d = env.daemon(inst, conf=conf)
    tok = env.token(env.http[0], "CT-2026-0002", "service_delivery", "shiken-proctor")
    members = load_members(inst)
    results = [None] * 6

    def one(i):
        try:
            results[i] = env.partner(d, "shiken-proctor").get(f"/v1/members/M000000{i + 1}", token=tok)
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = e

    origin.mode = "hang"
    try:
        n0 = origin.requests
        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(results))]
        for t in threads:
            t.start()
        # SIGTERM once every request is in the origin's hands (each waits there for pdgate's
        # timeout_ms): all of them are in flight, none has been answered yet
        deadline = time.monotonic() + 10 * SLOW
        while origin.requests - n0 < len(results) and time.monotonic() < deadline:
            time.sleep(0.01)
        eq(origin.requests - n0, len(results), "requests that reached the origin before SIGTERM")
        d.term(timeout=15)
        for t in threads:
            t.join(30 * SLOW)
    finally:
        origin.mode = "good"
    for i, r in enumerate(results):
        check(not isinstance(r, Exception), f"request {i} got no answer across SIGTERM: {r!r}")
        if not isinstance(r, Exception):
            check_error(r, 504, "origin_timeout", f"request {i} across SIGTERM")
            check_no_leak(r, [members[f"M000000{i + 1}"]], f"request {i}")
            leaves = _export(d)
            idx = int(r.headers.get("X-Ledger-Index", "-1"))
            check(0 <= idx < len(leaves), f"request {i}: X-Ledger-Index {idx} not in the stopped ledger")
            if 0 <= idx < len(leaves):
                eq((leaves[idx]["kind"], leaves[idx].get("reason")), ("deny", "origin_timeout"),
                   f"request {i}: its entry")


@case("docs/api.md lists every error code of gateway/src/apierr.c with its status")
def docs_codes():
    table = (pdtest.REPO / "gateway" / "src" / "apierr.c").read_text()
    codes = re.findall(r'\[APIERR_\w+\]\s*=\s*\{"(\w+)",\s*(\d+),', table)
    check(len(codes) > 20, f"only {len(codes)} codes read from apierr.c")
    doc = (pdtest.REPO / "docs" / "api.md").read_text()
    listed = set(re.findall(r"^\|[^|\n]*\|[^|\n]*\| `(\w+)` \| (\d+) \|", doc, re.M))
    for code, status in codes:
        if code != "ok":
            check((code, status) in listed, f"docs/api.md: no row for `{code}` with status {status}")
    for code, status in listed:
        check((code, status) in codes, f"docs/api.md lists `{code}` {status}, which apierr.c does not")


# ---------------------------------------------------------------------------------------------
# Last: the ledger holds an entry for every answer this suite got, as decided.

def _export(d):
    r = d.install.pdgate("ledger", "export", "-c", d.conf)
    check(r.returncode == 0, f"ledger export: {r.stderr.strip()}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


@case("ledger: each answer's X-Ledger-Index names an entry with its decision and digest")
def ledger_entries(env):
    by_daemon = {}
    with env.answers_lock:
        answers = list(env.answers)
    if not os.environ.get("PDTEST_ONLY"):
        check(len(answers) > 100, f"only {len(answers)} answers noted")
    for d, idx, kind, reason, digest in answers:
        by_daemon.setdefault(id(d), (d, []))[1].append((idx, kind, reason, digest))
    for d, items in by_daemon.values():
        if not d.running:
            continue
        leaves = _export(d)
        for idx, kind, reason, digest in items:
            check(idx < len(leaves), f"index {idx} past the ledger's {len(leaves)} entries")
            leaf = leaves[idx]
            eq(leaf["index"], idx, "leaf index")
            if kind is None:
                check(leaf["kind"] in ("release", "deny"), f"entry {idx}: kind {leaf['kind']!r}")
            else:
                eq(leaf["kind"], kind, f"entry {idx} kind")
                eq(leaf["reason"], reason, f"entry {idx} reason")
            if digest:
                eq(leaf["digest"], digest, f"entry {idx}: digest of the body sent")
            check("M00000" not in json.dumps(leaf), f"entry {idx} holds a member id: {leaf}")


class Suite(Env):
    def close(self):
        for f in self.figures:
            print(f"# {f}", flush=True)
        super().close()


if __name__ == "__main__":
    pdtest.run(Suite)
