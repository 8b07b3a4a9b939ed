#!/usr/bin/env python3
"""Recipients abroad (APPI Art. 28) through the real daemon with real certificates.

The demo's third party abroad (CT-2026-0007, Singapore) releases only the members who consented
to provision abroad besides the third-party consent, one by one and in pages, and the others are
withheld with consent_missing; its release and deny leaves record the country, and the leaves of
recipients in Japan have no such member; whoami, the provision report (JSON and CSV), the
subject report and the disclosure document carry the country. An entrustment or joint-use
contract abroad without its safeguards, or a contract with a bad country, fails
`pdgate contract check` with the file and the JSON path, keeps `pdgate serve` from starting, and
is refused on reload while the running set stays; with its safeguards it loads, and a release
keeps the country it went to when the contract later changes.

Daemons: `main` (the demo with crafted members), `reload` (contracts written and reloaded).
"""

import csv
import datetime
import hashlib
import hmac
import io
import json
import re
import sqlite3

import requests

import pdtest
from pdtest import SLOW, case, check, check_error, check_no_store, check_status, eq

MEMBERS = 300
ABROAD, ABROAD_CT, ABROAD_PURPOSE = "imd-registry", "CT-2026-0007", "service_delivery"
MIRAI, MIRAI_CT = "mirai-insurance", "CT-2026-0005"  # a third party in Japan
SAKURA, SAKURA_CT = "sakura-mail", "CT-2026-0001"
JST = datetime.timezone(datetime.timedelta(hours=9))
# member: (third_party_provision, foreign_provision or None for absent, stop_third_party)
CRAFTED = {
    "M0000001": (True, True, False),    # both consents: released
    "M0000002": (True, False, False),   # no consent to provision abroad
    "M0000003": (True, None, False),    # the consent abroad never asked
    "M0000004": (False, True, False),   # abroad yes, third parties no
    "M0000005": (True, True, True),     # both, but asked to stop provision to third parties
}
FIELDS = ["name.family", "name.given", "name.family_kana", "name.given_kana", "membership.status",
          "certifications"]


# ---------------------------------------------------------------------------------------------
# Helpers.

def pd(inst, *args):
    r = inst.pdgate(*args)
    check(r.returncode == 0, f"pdgate {' '.join(map(str, args))}: {r.stderr.strip()}")
    return r.stdout.strip()


def work_order(inst, contract, purpose, partner):
    return pd(inst, "token", "issue", "-c", inst.conf, "--contract", contract, "--purpose", purpose,
              "--ttl", "2h", "--cert", inst.path(f"pki/partners/{partner}.pem"))


def auditor(inst):
    return pd(inst, "token", "issue", "-c", inst.conf, "--staff", "suzuki", "--role", "auditor",
              "--ttl", "2h")


def staff_get(d, path, token):
    port = int(d.install.get("compliance", "listen").rpartition(":")[2])
    return requests.get(f"https://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"},
                        verify=str(d.install.server_ca), timeout=30 * SLOW)


def ok_json(r, what):
    check_status(r, 200, what)
    check_no_store(r, what)
    return r.json()


def subject_of(inst, member_id):
    ks = hmac.new(inst.path("keys/pseudonym.key").read_bytes(), b"pdgate subject v1\x00",
                  hashlib.sha256).digest()
    return hmac.new(ks, member_id.encode(), hashlib.sha256).hexdigest()


def members_of(inst):
    with sqlite3.connect(f"file:{inst.path('members.db')}?mode=ro", uri=True) as db:
        return {mid: json.loads(rec) for mid, rec in
                db.execute("SELECT member_id, record FROM members ORDER BY member_id")}


def craft(inst):
    with sqlite3.connect(inst.path("members.db")) as db:
        for mid, (tp, abroad, stop_tp) in CRAFTED.items():
            rec = json.loads(db.execute("SELECT record FROM members WHERE member_id=?", (mid,)).fetchone()[0])
            rec["consents"]["third_party_provision"] = tp
            rec["consents"].pop("foreign_provision", None)
            if abroad is not None:
                rec["consents"]["foreign_provision"] = abroad
            rec["restrictions"] = {"stop_use": False, "stop_third_party": stop_tp}
            db.execute("UPDATE members SET record=? WHERE member_id=?",
                       (json.dumps(rec, ensure_ascii=False, separators=(",", ":")), mid))


def releasable_abroad(rec):
    """SPEC 9.2 and 16.5 for CT-2026-0007 (a third party abroad, an ordinary purpose)."""
    c, r = rec.get("consents") or {}, rec.get("restrictions") or {}
    return (r.get("stop_use") is not True and r.get("stop_third_party") is not True
            and c.get("third_party_provision") is True and c.get("foreign_provision") is True
            and c.get(ABROAD_PURPOSE) is not False)


def expected(rec):
    """What CT-2026-0007 releases of a record: its fields, nothing else (SPEC 9.3)."""
    out = {"name": {k: rec["name"][k] for k in ("family", "given", "family_kana", "given_kana")
                    if rec["name"].get(k) is not None},
           "membership": {"status": rec["membership"]["status"]}}
    if rec.get("certifications") is not None:
        out["certifications"] = rec["certifications"]
    return out


def leaf_at(inst, index):
    """The ledger's leaf of index, as exported (one line, byte for byte)."""
    lines = pd(inst, "ledger", "export", "-c", inst.conf, "--start", str(index), "--end", str(index + 1)).splitlines()
    eq(len(lines), 1, f"the leaf of {index}")
    return lines[0]


def contract_abroad(cid, partner, relationship, country, safeguards=None, purposes=None):
    now = datetime.datetime.now(JST)
    c = {"id": cid, "partner": partner, "partner_name": f"{partner} Pte. Ltd.",
         "relationship": relationship, "country": country, "status": "active",
         "valid_from": (now - datetime.timedelta(days=30)).isoformat(timespec="seconds"),
         "valid_until": (now + datetime.timedelta(days=365)).isoformat(timespec="seconds"),
         "token_required": False,
         "purposes": purposes or {"contact": {"fields": ["member_id", "email"]}},
         "confidentiality": "業務委託契約書 第10条（秘密保持）"}
    if safeguards is not None:
        c["foreign_safeguards"] = safeguards
    if country is None:
        del c["country"]
    return c


def write(path, c):
    path.write_text(json.dumps(c, ensure_ascii=False, indent=1))
    return path


SAFEGUARDS = "委託契約 第9条：個人情報保護法と同等の安全管理措置、再委託の禁止、監査の受入れ（基準適合体制）"


class Env(pdtest.Env):
    @pdtest.fixture
    def main(self):
        inst = self.install(members=MEMBERS)
        craft(inst)
        return self.daemon(inst)

    @pdtest.fixture
    def members(self):
        return members_of(self.main.install)

    @pdtest.fixture
    def auditor(self):
        return auditor(self.main.install)

    @pdtest.fixture
    def reload(self):
        return self.daemon(self.install(members=20))


# ---------------------------------------------------------------------------------------------
# The third party abroad.

@case("a third party abroad releases one member only with both consents; the others: 403 consent_missing")
def one_by_one(env):
    d, inst, members = env.main, env.main.install, env.members
    wo = work_order(inst, ABROAD_CT, ABROAD_PURPOSE, ABROAD)
    cert = inst.pki.partner(ABROAD)
    want = {"M0000001": None, "M0000002": "consent_missing", "M0000003": "consent_missing",
            "M0000004": "consent_missing", "M0000005": "member_restricted"}
    for mid, code in want.items():
        r = d.get(f"/v1/members/{mid}", cert=cert, headers={"Authorization": f"Bearer {wo}"})
        idx = r.headers.get("X-Ledger-Index")
        check(idx is not None and idx.isdigit(), f"{mid}: X-Ledger-Index {idx!r}")
        leaf = leaf_at(inst, int(idx))
        entry = json.loads(leaf)
        if code is None:
            check_status(r, 200, mid)
            eq(r.json(), expected(members[mid]), f"{mid}: exactly the contract's fields")
            eq((entry["kind"], entry["basis"]), ("release", "consent"), f"{mid}: release entry")
            eq(entry["digest"], hashlib.sha256(r.content).hexdigest(), f"{mid}: digest")
        else:
            check_error(r, 403, code, mid)
            eq((entry["kind"], entry["reason"]), ("deny", code), f"{mid}: deny entry")
            for v in (members[mid]["name"]["family"] + members[mid]["name"]["given"], members[mid]["email"]):
                check(v not in r.text, f"{mid}: the refusal carries member data")
        eq(entry["country"], "SG", f"{mid}: the leaf records the country")
        check(leaf.endswith(',"justification":null,"country":"SG"}'), f"{mid}: the country last: {leaf}")
        eq(entry["subject"], subject_of(inst, mid), f"{mid}: subject reference")
    # why a member without the consent abroad was refused, in words
    r = d.get("/v1/members/M0000002", cert=cert, headers={"Authorization": f"Bearer {wo}"})
    check("abroad" in r.json()["message"], f"the message names the consent abroad: {r.json()['message']}")


@case("pages: only members with consents.foreign_provision true, the rest counted in withheld")
def pages(env):
    d, inst, members = env.main, env.main.install, env.members
    wo = work_order(inst, ABROAD_CT, ABROAD_PURPOSE, ABROAD)
    got, withheld, after = [], 0, None
    while True:
        q = f"/v1/members?limit=70" + (f"&after={after}" if after else "")
        r = d.get(q, cert=inst.pki.partner(ABROAD), headers={"Authorization": f"Bearer {wo}"})
        body = r.json() if r.status_code == 200 else {}
        check_status(r, 200, q)
        got += body["members"]
        withheld += body["withheld"]
        after = body["next"]
        if after is None:
            break
    want = [mid for mid in members if releasable_abroad(members[mid])]
    consenting_tp = [m for m in members if members[m]["consents"].get("third_party_provision") is True]
    check(0 < len(want) < len(consenting_tp), f"{len(want)} releasable of {len(consenting_tp)} "
                                              "third-party consents: the data cannot tell the rule")
    eq(len(got), len(want), "members released")
    eq(withheld, len(members) - len(want), "withheld")
    for mid, rec in zip(want, got):
        eq(rec, expected(members[mid]), f"page: {mid}")
    share = sum(1 for m in members.values() if m["consents"].get("foreign_provision") is True) / len(members)
    check(0.02 < share < 0.10, f"synthetic members consenting to provision abroad: {share:.3f} (most do not)")


@case("leaves of recipients in Japan are as before: no country member")
def japan_leaves(env):
    d, inst = env.main, env.main.install
    for partner, ct, purpose in ((SAKURA, SAKURA_CT, "contact"), (MIRAI, MIRAI_CT, "consented")):
        wo = work_order(inst, ct, purpose, partner)
        r = d.get("/v1/members?limit=20", cert=inst.pki.partner(partner), headers={"Authorization": f"Bearer {wo}"})
        check_status(r, 200, partner)
        leaf = leaf_at(inst, int(r.headers["X-Ledger-Index"]))
        check('"country"' not in leaf and leaf.endswith(',"justification":null}'), f"{partner}: {leaf}")
    # and the ledger verifies with both kinds in it
    r = inst.pdgate("ledger", "verify", "-c", inst.conf)
    eq(r.returncode, 0, f"ledger verify: {r.stdout} {r.stderr}")


@case("whoami names each contract's country")
def whoami(env):
    d, inst = env.main, env.main.install
    for partner, ct, country in ((ABROAD, ABROAD_CT, "SG"), (SAKURA, SAKURA_CT, "JP"), (MIRAI, MIRAI_CT, "JP")):
        body = ok_json(d.get("/v1/whoami", cert=inst.pki.partner(partner)), partner)
        eq([(c["id"], c["country"]) for c in body["contracts"]], [(ct, country)], f"{partner}: contracts")


@case("the provision report (JSON, CSV), the subject report and the disclosure document carry the country")
def reports(env):
    d, inst, tok = env.main, env.main.install, env.auditor
    wo = work_order(inst, ABROAD_CT, ABROAD_PURPOSE, ABROAD)
    check_status(d.get("/v1/members/M0000001", cert=inst.pki.partner(ABROAD),
                       headers={"Authorization": f"Bearer {wo}"}), 200, "a release abroad")
    wo = work_order(inst, SAKURA_CT, "contact", SAKURA)
    check_status(d.get("/v1/members/M0000001", cert=inst.pki.partner(SAKURA),
                       headers={"Authorization": f"Bearer {wo}"}), 200, "a release in Japan")
    doc = ok_json(staff_get(d, "/v1/reports/provisions?limit=100000", tok), "provisions")
    abroad = [r for r in doc["records"] if r["recipient"] == ABROAD]
    home = [r for r in doc["records"] if r["recipient"] != ABROAD]
    check(abroad and home, "records of both")
    for r in abroad:
        eq(r["country"], "SG", f"record {r['index']}")
        eq(r["basis_label"], "本人の同意（法第27条第1項、外国にある第三者への提供は法第28条第1項）", "basis abroad")
    for r in home:
        eq(r["country"], "JP", f"record {r['index']}")
        check("第28条" not in r["basis_label"], f"no Art. 28 in Japan: {r['basis_label']}")
    r = staff_get(d, f"/v1/reports/provisions?partner={ABROAD}&format=csv", tok)
    check_status(r, 200, "csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8").lstrip("\ufeff"), newline="")))
    eq(list(rows[0])[:7], ["index", "time", "date", "recipient", "recipient_name", "country", "contract"],
       "CSV columns")
    check(rows and all(x["country"] == "SG" and x["recipient"] == ABROAD for x in rows), f"CSV rows {rows[:1]}")
    subj = ok_json(staff_get(d, "/v1/reports/subject/M0000001", tok), "subject report")
    eq(sorted({(x["recipient"], x["country"]) for x in subj["releases"]}),
       sorted({(ABROAD, "SG"), (SAKURA, "JP")}), "subject report")
    r = staff_get(d, "/v1/reports/subject/M0000001?format=html", tok)
    check_status(r, 200, "disclosure")
    html = r.content.decode("utf-8")
    eq(html.count("外国にある提供先（国・地域コード SG）"),
       sum(1 for x in subj["releases"] if x["country"] == "SG"), "each release abroad said so")
    r = inst.pdgate("report", "provisions", "-c", inst.conf, "--partner", ABROAD)
    check(r.returncode == 0 and all(x["country"] == "SG" for x in json.loads(r.stdout)["records"]),
          f"pdgate report provisions: {r.stderr}")


# ---------------------------------------------------------------------------------------------
# Contracts abroad refused.

@case("pdgate contract check: abroad without safeguards or with a bad country fails with the file and path")
def contract_check(env):
    inst = env.main.install
    folder = env.tmp / "check"
    folder.mkdir(exist_ok=True)
    bad = {
        "entrustment-us.json": (contract_abroad("CT-2026-0901", "cloud-us", "entrustment", "US"),
                                "$.foreign_safeguards: missing: a contract of relationship entrustment "
                                "with a recipient abroad (country US)"),
        "joint-fr.json": (contract_abroad("CT-2026-0902", "joint-fr", "joint_use", "FR",
                                          purposes={"benefits": {"fields": ["member_id"]}}),
                          "$.foreign_safeguards: missing: a contract of relationship joint_use"),
        "uk.json": (contract_abroad("CT-2026-0903", "cloud-uk", "entrustment", "UK", SAFEGUARDS),
                    '$.country: "UK" is not an assigned ISO 3166-1 alpha-2 code (the United Kingdom is "GB")'),
        "lower.json": (contract_abroad("CT-2026-0904", "cloud-sg", "entrustment", "sg", SAFEGUARDS),
                       "$.country: must be an ISO 3166-1 alpha-2 country code"),
        "japan.json": (contract_abroad("CT-2026-0905", "cloud-jp", "entrustment", None, SAFEGUARDS),
                       "$.foreign_safeguards: only for a recipient abroad"),
        "blank.json": (contract_abroad("CT-2026-0906", "cloud-sg", "entrustment", "SG", "\u3000"),
                       "$.foreign_safeguards: blank;"),
    }
    for name, (c, msg) in bad.items():
        p = write(folder / name, c)
        r = inst.pdgate("contract", "check", p)
        eq(r.returncode, 1, f"{name}: exit status")
        check(f"{p}: {msg}" in r.stderr, f"{name}: want {msg!r}\n  got {r.stderr.strip()!r}")
        check(not r.stdout.strip(), f"{name}: no OK line")
    good = [write(folder / "ok-entrustment.json",
                  contract_abroad("CT-2026-0911", "cloud-sg", "entrustment", "SG", SAFEGUARDS)),
            write(folder / "ok-third-party.json",
                  contract_abroad("CT-2026-0912", "reg-us", "third_party", "US",
                                  purposes={"consented": {"fields": ["name"]}})),
            write(folder / "ok-gb.json", contract_abroad("CT-2026-0913", "cloud-gb", "joint_use", "GB", SAFEGUARDS,
                                                         purposes={"benefits": {"fields": ["member_id"]}}))]
    r = inst.pdgate("contract", "check", *good)
    eq((r.returncode, r.stderr.strip()), (0, ""), "contracts abroad with their safeguards")
    eq(r.stdout.split(), [x for p in good for x in ("OK", str(p))], "an OK line each")
    r = inst.pdgate("contract", "check", pdtest.REPO / "contracts/examples" / f"{ABROAD_CT}.json")
    eq(r.returncode, 0, f"the demo contract abroad: {r.stderr}")
    listing = env.tmp / "list"
    listing.mkdir(exist_ok=True)
    for p in good:
        (listing / p.name).write_bytes(p.read_bytes())
    r = inst.pdgate("contract", "list", "--dir", listing, "--json")
    listed = {c["id"]: c for c in json.loads(r.stdout)} if r.returncode == 0 else {}
    eq((listed.get("CT-2026-0913", {}).get("country"), bool(listed.get("CT-2026-0913", {}).get("foreign_safeguards"))),
       ("GB", True), f"contract list --json names the country and the safeguards: {r.stderr}")
    eq((listed.get("CT-2026-0912", {}).get("country"), listed.get("CT-2026-0912", {}).get("foreign_safeguards", "?")),
       ("US", None), "a third party abroad without safeguards: null")


@case("pdgate serve refuses to start with an entrustment abroad without safeguards, naming file and path")
def refused_at_start(env):
    inst = env.install(members=5)
    p = write(inst.path("contracts/CT-2026-0921.json"),
              contract_abroad("CT-2026-0921", "cloud-us", "entrustment", "US"))
    try:
        with pdtest.Daemon(inst, ready_timeout=10):
            pass
    except pdtest.DaemonExited as e:
        check(e.rc != 0, f"exit status {e.rc}")
        check("CT-2026-0921.json" in e.log and "$.foreign_safeguards: missing" in e.log,
              f"the log names the file and the path:\n{pdtest.tail(e.log)}")
    else:
        raise pdtest.Failure("pdgate serve started with an entrustment abroad without safeguards")
    # with them, it starts and the contract is in force abroad
    c = contract_abroad("CT-2026-0921", "cloud-us", "entrustment", "US", SAFEGUARDS)
    write(p, c)
    d = env.daemon(inst)
    body = ok_json(d.get("/v1/whoami", cert=inst.pki.issue("cloud-us", partner="cloud-us")), "whoami")
    eq([(x["id"], x["country"]) for x in body["contracts"]], [("CT-2026-0921", "US")], "in force")


@case("reload: a contract abroad without safeguards keeps the running set; with them it loads; a release keeps its country")
def reload(env):
    d = env.reload
    inst = d.install
    tok = auditor(inst)
    cert = inst.pki.issue("cloud-sg", partner="cloud-sg")
    path = inst.path("contracts/CT-2026-0931.json")
    before = sorted(c["id"] for c in ok_json(staff_get(d, "/v1/contracts", tok), "contracts")["contracts"])
    write(path, contract_abroad("CT-2026-0931", "cloud-sg", "entrustment", "SG"))
    log = d.hup()
    check("reload of policies and contracts failed" in log, f"the reload is refused:\n{log}")
    check("CT-2026-0931.json" in log and "$.foreign_safeguards: missing" in log,
          f"the log names the file and the path:\n{log}")
    check_error(d.get("/v1/members/M0000002", cert=cert, headers={"X-Purpose": "contact"}), 403,
                "partner_unknown", "not loaded")
    eq(ok_json(d.get("/v1/whoami", cert=cert), "whoami")["contracts"], [], "no contract in force")
    eq(sorted(c["id"] for c in ok_json(staff_get(d, "/v1/contracts", tok), "contracts")["contracts"]),
       before, "the running set stays")
    # with its safeguards: loaded, released, recorded abroad
    write(path, contract_abroad("CT-2026-0931", "cloud-sg", "entrustment", "SG", SAFEGUARDS))
    log = d.hup()
    check(re.search(r"reload ok: \d+ contracts", log), f"the reload takes it:\n{log}")
    body = ok_json(d.get("/v1/whoami", cert=cert), "whoami after the reload")
    eq([(c["id"], c["country"]) for c in body["contracts"]], [("CT-2026-0931", "SG")], "whoami")
    reg = next(c for c in ok_json(staff_get(d, "/v1/contracts", tok), "contracts")["contracts"]
               if c["id"] == "CT-2026-0931")
    eq((reg["country"], reg["foreign_safeguards"]), ("SG", SAFEGUARDS), "GET /v1/contracts")
    r = d.get("/v1/members/M0000002", cert=cert, headers={"X-Purpose": "contact"})
    check_status(r, 200, "an entrustee abroad needs no consent of the member")
    first = int(r.headers["X-Ledger-Index"])
    eq(json.loads(leaf_at(inst, first))["country"], "SG", "the release leaf")
    # the contract moves to Japan: new releases say so, the earlier one keeps where it went
    write(path, contract_abroad("CT-2026-0931", "cloud-sg", "entrustment", None))
    check(re.search(r"reload ok", d.hup()), "reload to Japan")
    r = d.get("/v1/members/M0000002", cert=cert, headers={"X-Purpose": "contact"})
    check_status(r, 200, "in Japan")
    second = int(r.headers["X-Ledger-Index"])
    check("country" not in json.loads(leaf_at(inst, second)), "the leaf in Japan has no country")
    recs = ok_json(staff_get(d, "/v1/reports/provisions?partner=cloud-sg", tok), "provisions")["records"]
    eq([(x["index"], x["country"]) for x in recs], [(first, "SG"), (second, "JP")],
       "each record where it went at the time")
    eq(ok_json(d.get("/v1/whoami", cert=cert), "whoami")["contracts"][0]["country"], "JP", "whoami now")


if __name__ == "__main__":
    pdtest.run(Env)
