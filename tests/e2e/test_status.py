#!/usr/bin/env python3
"""The status listener (SPEC 15.2): /healthz, /readyz with each check driven to 503 by its real
cause and back, /metrics through a real Prometheus parser (`promtool check metrics`).

Causes: a partner CRL and a staff CRL past their nextUpdate (SIGHUP), the ledger on a full
tmpfs (root only), the kill switch of the compliance API, an HTTP origin that is stopped and
started again, and a checkpointer that cannot store a checkpoint because another process holds
the ledger's write lock (an administrator's sqlite3 shell, a backup tool)."""

import base64
import datetime
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import http.server
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pdtest  # noqa: E402
from pdtest import SLOW, case, check, check_error, check_no_store, check_status, eq, wait_until  # noqa: E402

CONTRACT, PARTNER, PURPOSE = "CT-2026-0001", "sakura-mail", "contact"
INTERVAL_MS = 200
CHECKS = ["partner_crl", "staff_crl", "ledger", "gateway", "origin", "checkpoint", "witness"]
PROMTOOL = shutil.which("promtool")
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# ---------------------------------------------------------------------------------------------
# Helpers.

def status_port(d):
    listen = pdtest.conf_get(d.conf.read_text(), "status", "listen")
    check(listen, f"{d.conf} has no [status] listen")
    return int(listen.rpartition(":")[2])


def status(d, path, method="GET", **kw):
    """One request to the status listener of daemon d (plain HTTP)."""
    return requests.request(method, f"http://127.0.0.1:{status_port(d)}{path}",
                            timeout=10 * SLOW, **kw)


def started(d):
    """d, once its status listener answers (it starts after the partner listener, which is
    what the harness waits for)."""
    def up():
        try:
            return status(d, "/healthz").status_code == 200
        except requests.ConnectionError:
            return False
    wait_until(up, 10, what="the status listener")
    return d


def readyz(d):
    """(status code, body) of GET /readyz, after checking the body's shape."""
    r = status(d, "/readyz")
    check_status(r, (200, 503), "/readyz")
    check_no_store(r, "/readyz")
    eq(r.headers.get("Content-Type"), "application/json", "/readyz Content-Type")
    doc = r.json()
    eq(sorted(doc), ["checks", "ready"], "/readyz members")
    eq(list(doc["checks"]), CHECKS, "/readyz checks, in order")
    for name, c in doc["checks"].items():
        check(isinstance(c.get("ok"), bool), f"check {name}: {c!r}")
        if c["ok"]:
            eq(c, {"ok": True}, f"a passing check {name}")
        else:
            check(isinstance(c.get("reason"), str) and c["reason"], f"check {name} says no why: {c!r}")
    eq(doc["ready"], all(c["ok"] for c in doc["checks"].values()), "ready is every check")
    eq(r.status_code, 200 if doc["ready"] else 503, "/readyz status")
    return r.status_code, doc


def failing(d):
    """The names of the checks that fail now."""
    return [n for n, c in readyz(d)[1]["checks"].items() if not c["ok"]]


def wait_failing(d, want, seconds, what, also=()):
    """Waits until the checks in want fail, and no other but those in also; returns the
    /readyz body."""
    def now():
        f = set(failing(d))
        return set(want) <= f <= set(want) | set(also)
    wait_until(now, seconds, what=f"{what}: failing checks {want}")
    return readyz(d)[1]


def promtool_check(text):
    """Fails unless promtool accepts the exposition with no problem at all."""
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    eq((r.returncode, r.stdout + r.stderr), (0, ""), "promtool check metrics")


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Samples(dict):
    """{(name, ((label, value), ...)): value}, and the text they were read from."""
    text = ""


def metrics(d):
    """GET /metrics, checked by promtool, as Samples."""
    r = status(d, "/metrics")
    check_status(r, 200, "/metrics")
    eq(r.headers.get("Content-Type"), METRICS_TYPE, "/metrics Content-Type")
    check_no_store(r, "/metrics")
    if PROMTOOL:
        promtool_check(r.text)
    out = Samples()
    out.text = r.text
    for line in r.text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = _SAMPLE.match(line)
        check(m, f"not a sample line: {line!r}")
        labels = tuple(sorted(_LABEL.findall(m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(ms, name, **labels):
    """A sample's value, 0 when the series is not written (a status not seen yet)."""
    return ms.get((name, tuple(sorted(labels.items()))), 0.0)


def token(inst, contract=CONTRACT, purpose=PURPOSE, partner=PARTNER):
    r = inst.pdgate("token", "issue", "-c", inst.conf, "--contract", contract, "--purpose",
                    purpose, "--ttl", "1h", "--cert", inst.pki.partner(partner).pem)
    check(r.returncode == 0, f"token issue: {r.stderr.strip()}")
    return r.stdout.strip()


def staff_token(inst, role="officer"):
    r = inst.pdgate("token", "issue", "-c", inst.conf, "--staff", "officer", "--role", role,
                    "--ttl", "1h")
    check(r.returncode == 0, f"staff token issue: {r.stderr.strip()}")
    return r.stdout.strip()


def member(d, tok, mid="M0000001", session=None):
    return d.get(f"/v1/members/{mid}", cert=d.install.pki.partner(PARTNER), session=session,
                 headers={"Authorization": "Bearer " + tok})


def compliance_post(d, path, tok, body=None):
    port = int(d.install.get("compliance", "listen", conf=d.conf).rpartition(":")[2])
    return requests.post(f"https://127.0.0.1:{port}{path}", json=body,
                         headers={"Authorization": "Bearer " + tok},
                         verify=str(d.install.server_ca), timeout=10 * SLOW)


def utc(seconds_from_now):
    return pdtest.utcnow() + datetime.timedelta(seconds=seconds_from_now)


# ---------------------------------------------------------------------------------------------

class Env(pdtest.Env):
    @pdtest.fixture
    def main(self):
        """A daemon that the cases below leave as they found it."""
        return started(self.daemon(self.install(conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})))

    @pdtest.fixture
    def main_token(self):
        return token(self.main.install)


@case("/healthz: 200 ok, HEAD without a body, no-store")
def healthz(env):
    d = env.main
    r = status(d, "/healthz")
    check_status(r, 200, "/healthz")
    eq(r.text, "ok\n", "/healthz body")
    eq(r.headers.get("Content-Type"), "text/plain; charset=utf-8", "Content-Type")
    check_no_store(r, "/healthz")
    r = status(d, "/healthz", method="HEAD")
    check_status(r, 200, "HEAD /healthz")
    eq(r.content, b"", "HEAD body")
    eq(r.headers.get("Content-Length"), "3", "HEAD Content-Length")


@case("anything else: unknown paths 404, other methods 405 with Allow: GET, HEAD")
def not_found(env):
    d = env.main
    for path in ("/", "/metrics/", "/healthz/x", "/v1/members/M0000001", "/READYZ", "/ui/"):
        check_status(status(d, path), 404, path)
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
        for path in ("/healthz", "/readyz", "/metrics"):
            r = status(d, path, method=method, data=b"x=1" if method != "OPTIONS" else None)
            check_status(r, 405, f"{method} {path}")
            eq(r.headers.get("Allow"), "GET, HEAD", f"{method} {path}: Allow")
    check_status(status(d, "/healthz"), 200, "still serving after the refusals")
    # a query string is not part of the path
    check_status(status(d, "/metrics?x=1"), 200, "/metrics?x=1")


@case("/metrics: Prometheus format 0.0.4 that promtool accepts, with the SPEC's metrics")
def metrics_format(env):
    d = env.main
    check(PROMTOOL, "promtool is not installed (Debian package prometheus: make deps)")
    ms = metrics(d)
    text = ms.text
    for family, kind in [
            ("pdgate_build_info", "gauge"), ("pdgate_requests_total", "counter"),
            ("pdgate_decisions_total", "counter"), ("pdgate_request_duration_seconds", "histogram"),
            ("pdgate_ledger_size", "gauge"), ("pdgate_ledger_commit_duration_seconds", "histogram"),
            ("pdgate_ledger_commit_entries", "histogram"),
            ("pdgate_ledger_commit_failures_total", "counter"), ("pdgate_checkpoint_size", "gauge"),
            ("pdgate_checkpoint_age_seconds", "gauge"),
            ("pdgate_crl_next_update_timestamp_seconds", "gauge"),
            ("pdgate_certificate_not_after_timestamp_seconds", "gauge"),
            ("pdgate_gateway_suspended", "gauge"), ("pdgate_partner_suspended", "gauge"),
            ("pdgate_origin_requests_total", "counter"), ("pdgate_connections", "gauge"),
            ("pdgate_ready", "gauge"), ("pdgate_ready_check", "gauge")]:
        check(f"# TYPE {family} {kind}\n" in text, f"no TYPE line for {family} {kind}")
        check(re.search(rf"^# HELP {family} \S", text, re.M), f"no HELP line for {family}")
    versions = [lbl for (n, lbl) in ms if n == "pdgate_build_info"]
    eq(len(versions), 1, "one build_info sample")
    check(re.fullmatch(r"\d+\.\d+\.\d+\S*", dict(versions[0])["version"]), f"version {versions[0]}")
    for ca in ("partner", "staff"):
        check(value(ms, "pdgate_crl_next_update_timestamp_seconds", ca=ca) > time.time(),
              f"the {ca} CRL's nextUpdate")
    for cert in ("partner_listener", "compliance_listener", "partner_ca", "staff_ca"):
        check(value(ms, "pdgate_certificate_not_after_timestamp_seconds", cert=cert) > time.time(),
              f"notAfter of {cert}")
    for listener in ("partner", "compliance", "status"):
        check(("pdgate_request_duration_seconds_count", (("listener", listener),)) in ms,
              f"a duration histogram for {listener}")
    eq(value(ms, "pdgate_ready"), 1.0, "pdgate_ready")
    for c in CHECKS:
        eq(value(ms, "pdgate_ready_check", check=c), 1.0, f"pdgate_ready_check {c}")
    partners = sorted(dict(lbl)["partner"] for (n, lbl) in ms if n == "pdgate_partner_suspended")
    check(PARTNER in partners and "shiken-proctor" in partners, f"registered partners: {partners}")
    r = status(d, "/metrics", method="HEAD")
    check_status(r, 200, "HEAD /metrics")
    eq(r.content, b"", "HEAD /metrics body")


@case("/metrics moves: a release by one on requests, decisions, origin; the ledger size is the ledger's")
def metrics_move(env):
    d = env.main
    tok = env.main_token
    s = requests.Session()
    check_status(member(d, tok, session=s), 200, "warm-up")  # the kept-alive connection
    wait_until(lambda: value(metrics(d), "pdgate_ledger_size") == d.install.ledger_size(), 5,
               what="the gauge to settle")
    before = metrics(d)
    r = member(d, tok, session=s)
    check_status(r, 200, "a release")
    key = {"listener": "partner", "code": "200"}
    # counted when libmicrohttpd reports the answer finished, which the client can outrun
    wait_until(lambda: value(metrics(d), "pdgate_requests_total", **key)
               > value(before, "pdgate_requests_total", **key), 5, what="the 200 to be counted")
    after = metrics(d)
    eq(value(after, "pdgate_requests_total", **key) - value(before, "pdgate_requests_total", **key),
       1.0, "requests_total{partner,200}")
    eq(value(after, "pdgate_request_duration_seconds_count", listener="partner")
       - value(before, "pdgate_request_duration_seconds_count", listener="partner"), 1.0,
       "request duration count")
    rel = {"kind": "release", "reason": ""}
    eq(value(after, "pdgate_decisions_total", **rel) - value(before, "pdgate_decisions_total", **rel),
       1.0, "decisions_total{release}")
    eq(value(after, "pdgate_origin_requests_total", result="ok")
       - value(before, "pdgate_origin_requests_total", result="ok"), 1.0, "origin ok")
    check(value(after, "pdgate_ledger_commit_entries_count")
          > value(before, "pdgate_ledger_commit_entries_count"), "a commit counted")
    eq(value(after, "pdgate_ledger_size"), float(d.install.ledger_size()), "ledger size")
    eq(value(after, "pdgate_ledger_size"), float(r.headers["X-Ledger-Index"]) + 1,
       "ledger size after this answer's entry")
    check(value(after, "pdgate_connections", listener="partner") >= 1, "the kept-alive connection")
    eq(value(after, "pdgate_ledger_commit_failures_total"), 0.0, "no failed commit")
    # checkpoints follow within the interval
    wait_until(lambda: (lambda m: value(m, "pdgate_checkpoint_size") == value(m, "pdgate_ledger_size")
                        and value(m, "pdgate_checkpoint_age_seconds") < 5)(metrics(d)),
               5, what="a checkpoint over every entry")
    # a page counts each member: 5 releases, one origin request
    before = metrics(d)
    r = d.get("/v1/members?limit=5", cert=d.install.pki.partner(PARTNER), session=s,
              headers={"Authorization": "Bearer " + tok})
    check_status(r, 200, "a page")
    after = metrics(d)
    got = len(r.json()["members"]) + r.json()["withheld"]
    eq(value(after, "pdgate_decisions_total", **rel) - value(before, "pdgate_decisions_total", **rel),
       float(len(r.json()["members"])), "a release per member of the page")
    eq(value(after, "pdgate_origin_requests_total", result="ok")
       - value(before, "pdgate_origin_requests_total", result="ok"), 1.0, "one origin request")
    eq(value(after, "pdgate_ledger_size") - value(before, "pdgate_ledger_size"), float(got),
       "an entry per member")


@case("/metrics: a refusal raises decisions_total with its reason, recorded or not")
def metrics_refusals(env):
    d = env.main
    cert = d.install.pki.partner(PARTNER)
    before = metrics(d)
    # step 5: recorded as a deny
    r = d.get("/v1/members/M0000001", cert=cert, headers={"X-Purpose": "marketing"})
    check_error(r, 401, "token_required", "no work order")
    # step 2: answered before the ledger is reached
    r = d.get("/v1/members/bad.id", cert=cert, headers={"X-Purpose": "marketing"})
    check_error(r, 400, "bad_request", "a malformed member id")
    # an answer is counted when libmicrohttpd reports it finished, just after its last byte
    # left: the client can read it first, so wait for the count
    code400 = value(before, "pdgate_requests_total", listener="partner", code="400")
    wait_until(lambda: value(metrics(d), "pdgate_requests_total", listener="partner", code="400")
               > code400, 5, what="the 400 to be counted")
    after = metrics(d)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    eq(delta("pdgate_decisions_total", kind="deny", reason="token_required"), 1.0, "deny token_required")
    eq(delta("pdgate_decisions_total", kind="unrecorded", reason="bad_request"), 1.0,
       "unrecorded bad_request")
    eq(delta("pdgate_decisions_total", kind="release", reason=""), 0.0, "no release")
    eq(delta("pdgate_requests_total", listener="partner", code="401"), 1.0, "a 401 counted")
    eq(delta("pdgate_requests_total", listener="partner", code="400"), 1.0, "a 400 counted")
    # every reason is the fixed table's, every kind one of three
    kinds = {dict(lbl)["kind"] for (n, lbl) in after if n == "pdgate_decisions_total"}
    eq(kinds, {"release", "deny", "unrecorded"}, "kinds")


@case("/metrics and /readyz name no member, token or partner certificate")
def no_personal_data(env):
    d = env.main
    tok = env.main_token
    check_status(member(d, tok, "M0000002"), 200, "a release")
    cert = d.install.pki.partner(PARTNER)
    jti = json.loads(base64.urlsafe_b64decode(tok.split(".")[1] + "==="))["jti"]
    texts = [metrics(d).text, status(d, "/readyz").text]
    with sqlite3.connect(f"file:{d.install.path('members.db')}?mode=ro", uri=True) as db:
        record = db.execute("SELECT record FROM members WHERE member_id = 'M0000002'").fetchone()[0]
    name = json.loads(record).get("name", {})
    words = [w for w in (name.values() if isinstance(name, dict) else [name]) if isinstance(w, str) and w]
    for t in texts:
        for needle in ["M0000002", "M0000001", jti, cert.fingerprint, tok[:40], *words]:
            check(needle not in t, f"{needle!r} in a status answer")


@case("docs/operations.md: its scrape configuration and alerting rules pass promtool")
def documented_rules(env):
    check(PROMTOOL, "promtool is not installed (Debian package prometheus: make deps)")
    doc = (pdtest.REPO / "docs" / "operations.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    rules = [b for b in blocks if b.startswith("groups:")]
    scrape = [b for b in blocks if b.startswith("scrape_configs:")]
    eq((len(rules), len(scrape)), (1, 1), "one rules block and one scrape block")
    check("pdgate_ready_check" in rules[0], "the rules use the readiness metrics")
    for name, text, what in (("rules.yml", rules[0], "rules"), ("prometheus.yml", scrape[0], "config")):
        path = env.tmp / name
        path.write_text(text)
        r = subprocess.run([PROMTOOL, "check", what, str(path)], capture_output=True, text=True,
                           timeout=60)
        eq(r.returncode, 0, f"promtool check {what}: {r.stdout}{r.stderr}")
    # every metric the rules name is one /metrics writes
    names = set(re.findall(r"\b(pdgate_[a-z_]+)", rules[0]))
    written = {n for (n, _) in metrics(env.main)}
    for n in names:
        check(n in written or n + "_bucket" in written or n.removesuffix("_bucket") + "_bucket" in written,
              f"{n} is not written by /metrics")


@case("/readyz: 200 with every check passing on a healthy gateway")
def ready_ok(env):
    code, doc = readyz(env.main)
    eq(code, 200, "/readyz")
    eq(doc["checks"], {c: {"ok": True} for c in CHECKS}, "checks")


@case("partner and staff CRLs past nextUpdate: 503 partner_crl / staff_crl, 200 with current ones")
def crl_lapsed(env):
    inst = env.install()
    d = started(env.daemon(inst))
    eq(failing(d), [], "before")
    pki = inst.pki
    for ca, name, effect in ((pki.partner_ca, "partner_crl", "partner"), (pki.staff_ca, "staff_crl", "staff")):
        ca.write_crl(last_update=utc(-7200), next_update=utc(-60))
        d.hup()
        doc = wait_failing(d, [name], 5, f"lapsed {name}")
        reason = doc["checks"][name]["reason"]
        check("nextUpdate" in reason and effect in reason, f"{name} reason: {reason!r}")
        ms = metrics(d)
        check(value(ms, "pdgate_crl_next_update_timestamp_seconds", ca=effect) < time.time(),
              f"the {effect} CRL's nextUpdate in the metrics")
        eq(value(ms, "pdgate_ready_check", check=name), 0.0, f"pdgate_ready_check {name}")
        eq(value(ms, "pdgate_ready"), 0.0, "pdgate_ready")
        if name == "partner_crl":  # the cause is real: partners are refused
            r = d.get("/v1/whoami", cert=pki.partner(PARTNER))
            check_error(r, 401, "certificate_invalid", "a partner under a lapsed CRL")
        ca.write_crl(next_update=utc(7 * 86400))
        d.hup()
        wait_failing(d, [], 5, f"current {name}")
    check_status(d.get("/v1/whoami", cert=pki.partner(PARTNER)), 200, "whoami after the CRLs")


@case("the kill switch: 503 gateway while suspended, 200 on resume; partner_suspended moves")
def kill_switch(env):
    inst = env.install()
    d = started(env.daemon(inst))
    officer = staff_token(inst)
    check_status(compliance_post(d, "/v1/gateway/suspend", officer, {"reason": "readiness test"}),
                 200, "suspend")
    doc = wait_failing(d, ["gateway"], 5, "suspended")
    check("suspended" in doc["checks"]["gateway"]["reason"], doc["checks"]["gateway"]["reason"])
    eq(value(metrics(d), "pdgate_gateway_suspended"), 1.0, "pdgate_gateway_suspended")
    r = d.get("/v1/members/M0000001", cert=inst.pki.partner(PARTNER),
              headers={"Authorization": "Bearer " + token(inst)})
    check_error(r, 503, "gateway_suspended", "a partner while suspended")
    eq(value(metrics(d), "pdgate_decisions_total", kind="unrecorded", reason="gateway_suspended"),
       1.0, "the refusal counted")
    check_status(compliance_post(d, "/v1/gateway/resume", officer), 200, "resume")
    wait_failing(d, [], 5, "resumed")
    eq(value(metrics(d), "pdgate_gateway_suspended"), 0.0, "pdgate_gateway_suspended after resume")

    check_status(compliance_post(d, f"/v1/partners/{PARTNER}/suspend", officer, {"reason": "test"}),
                 200, "suspend a partner")
    ms = metrics(d)
    eq(value(ms, "pdgate_partner_suspended", partner=PARTNER), 1.0, "partner suspended")
    eq(value(ms, "pdgate_partner_suspended", partner="shiken-proctor"), 0.0, "another partner")
    eq(failing(d), [], "a partner's suspension is not the gateway's")
    check_status(compliance_post(d, f"/v1/partners/{PARTNER}/resume", officer), 200, "resume a partner")
    eq(value(metrics(d), "pdgate_partner_suspended", partner=PARTNER), 0.0, "partner resumed")
    ms = metrics(d)
    check(value(ms, "pdgate_requests_total", listener="compliance", code="200") >= 4,
          "the compliance listener's requests counted")


class Origin:
    """The member system over HTTP, from the installation's members.db; stop() and start() on
    the same port."""

    def __init__(self, db_path):
        self.db_path = db_path
        self.port = pdtest.free_port()
        self.server = None
        self.conns = set()  # the connections pdgate keeps alive: stop() cuts them too
        self.lock = threading.Lock()
        self.start()

    def start(self):
        db_path, origin = self.db_path, self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                with origin.lock:
                    origin.conns.add(self.connection)

            def finish(self):
                with origin.lock:
                    origin.conns.discard(self.connection)
                super().finish()

            def do_GET(self):
                mid = self.path.rpartition("/")[2]
                with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
                    row = db.execute("SELECT record FROM members WHERE member_id=?", (mid,)).fetchone()
                body = row[0].encode() if row else b'{"error":"not found"}'
                self.send_response(200 if row else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@case("an origin that is down: 503 origin after 3 failed requests, 200 once it is back", background=True)
def origin_down(env):
    inst = env.install(conf={("origin", "timeout_ms"): 1000})
    origin = Origin(inst.path("members.db"))
    try:
        inst.set("origin", "url", f"http://127.0.0.1:{origin.port}")
        d = started(env.daemon(inst))
        tok = token(inst)
        check_status(member(d, tok), 200, "through the HTTP origin")
        origin.stop()
        for i in range(3):
            eq(failing(d), [], f"after {i} failed requests")
            check_error(member(d, tok), 502, "origin_error", f"origin down, request {i + 1}")
        doc = wait_failing(d, ["origin"], 5, "origin down")
        reason = doc["checks"]["origin"]["reason"]
        check(re.search(r"the last [3-9] requests to the origin failed \(origin_error\)", reason),
              f"origin reason: {reason!r}")
        ms = metrics(d)
        check(value(ms, "pdgate_origin_requests_total", result="error") >= 3, "origin errors counted")
        eq(value(ms, "pdgate_decisions_total", kind="deny", reason="origin_error"), 3.0, "denies counted")
        eq(failing(d), ["origin"], "still down: the probe fails too")
        origin.start()
        # no partner request: /readyz itself asks the origin again
        wait_failing(d, [], 10, "origin back")
        check_status(member(d, tok), 200, "released again")
    finally:
        origin.stop()


@case("the ledger on a full file system: 503 ledger, 200 once there is room (no request needed)",
      background=True)
def ledger_full(env):
    if os.geteuid() != 0:
        print("# skip: mounting a tmpfs needs root")
        return
    inst = env.install(conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
    mnt = env.tmp / "status-full-fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"# skip: cannot mount a tmpfs: {r.stderr.strip()}")
        return
    try:
        inst.set("ledger", "path", str(mnt / "ledger.db"))
        tok = token(inst)
        with pdtest.Daemon(inst) as d:
            started(d)
            check_status(member(d, tok), 200, "a release before")
            eq(failing(d), [], "before")
            ballast = mnt / "ballast"
            with open(ballast, "wb") as f:  # fill the file system to the brim
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
            # the checkpoints cannot be stored either: that check may fail too
            doc = wait_failing(d, ["ledger"], 5, "full", also=["checkpoint"])
            check("full" in doc["checks"]["ledger"]["reason"], doc["checks"]["ledger"]["reason"])
            s = requests.Session()
            for i in range(400):
                r = member(d, tok, f"M{i % 20 + 1:07d}", session=s)
                if r.status_code == 503:
                    check_error(r, 503, "ledger_unavailable", "a full disk")
                    break
                check_status(r, 200, "before the WAL needs a new page")
            eq(r.status_code, 503, "a commit failed on the full disk")
            doc = wait_failing(d, ["ledger"], 5, "a failed commit", also=["checkpoint"])
            reason = doc["checks"]["ledger"]["reason"]
            check("commit failed" in reason and "full" in reason, f"ledger reason: {reason!r}")
            ms = metrics(d)
            check(value(ms, "pdgate_ledger_commit_failures_total") >= 1, "a failed commit counted")
            check(value(ms, "pdgate_decisions_total", kind="unrecorded", reason="ledger_unavailable") >= 1,
                  "ledger_unavailable counted")
            ballast.unlink()
            # no request: the writer's own probe finds the ledger writable again
            wait_failing(d, [], 10, "room again")
            check_status(member(d, tok, session=s), 200, "released again")
            d.term()
        r = inst.pdgate("ledger", "verify", "-c", inst.conf)
        check(r.returncode == 0 and r.stdout.endswith("ledger OK\n"), f"verify: {r.stdout}{r.stderr}")
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@case("a stalled checkpointer (another process holds the ledger's write lock): 503 checkpoint, "
      "200 when it lets go", background=True)
def checkpoint_stalled(env):
    interval = 400
    inst = env.install(conf={("ledger", "checkpoint_interval_ms"): interval})
    d = started(env.daemon(inst))
    tok = token(inst)
    # a checkpoint first, so that there is an age to measure (a fresh ledger has none yet)
    pdtest.wait_until(lambda: re.search(r"^pdgate_checkpoint_age_seconds ", metrics(d).text, re.M),
                      10, 0.1, "a first checkpoint")
    db = sqlite3.connect(str(inst.path("ledger.db")), timeout=0, isolation_level=None)
    try:
        for attempt in range(20):
            check_status(member(d, tok), 200, "a release")
            deadline = time.monotonic() + 2 * SLOW
            while True:  # the writer may be between two statements
                try:
                    db.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError:
                    check(time.monotonic() < deadline, "no write lock on the ledger")
                    time.sleep(0.005)
            size = db.execute("SELECT count(*) FROM entries").fetchone()[0]
            signed = db.execute("SELECT coalesce(max(size), 0) FROM checkpoints").fetchone()[0]
            if signed < size:
                break  # entries wait, and no checkpoint can be stored
            db.execute("ROLLBACK")  # the writer signed first: again
        else:
            check(False, "could not hold the lock before a checkpoint")
        eq(failing(d), [], "right after")
        doc = wait_failing(d, ["checkpoint"], interval * 10 / 1000 + 8, "stalled")
        reason = doc["checks"]["checkpoint"]["reason"]
        check("waited" in reason and f"{interval} ms" in reason, f"checkpoint reason: {reason!r}")
        ms = metrics(d)
        check(value(ms, "pdgate_checkpoint_size") < value(ms, "pdgate_ledger_size"), "unsigned entries")
        check(value(ms, "pdgate_checkpoint_age_seconds") > interval * 10 / 1000, "checkpoint age")
        db.execute("ROLLBACK")
        wait_failing(d, [], 10, "released")
        ms = metrics(d)
        eq(value(ms, "pdgate_checkpoint_size"), value(ms, "pdgate_ledger_size"), "signed again")
    finally:
        db.close()


@case("[status] listen off loopback: refused without allow_remote, served with it")
def remote(env):
    inst = env.main.install
    port = pdtest.free_port()
    conf = inst.variant("remote", {("status", "listen"): f"0.0.0.0:{port}"})
    r = inst.pdgate("serve", "-c", conf, "-n")
    check(r.returncode != 0, f"serve -n accepted 0.0.0.0 without allow_remote: {r.stdout}")
    check("not a loopback address" in r.stderr and "allow_remote = true" in r.stderr,
          f"the error says why and what to do: {r.stderr!r}")
    r = inst.pdgate("serve", "-c", inst.variant("remote6", {("status", "listen"): f"[::]:{port}"}), "-n")
    check(r.returncode != 0 and "not a loopback address" in r.stderr, f"[::]: {r.stderr!r}")
    conf = inst.variant("remote-ok", {("status", "listen"): f"0.0.0.0:{port}",
                                      ("status", "allow_remote"): "true",
                                      ("partner", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                                      ("compliance", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                                      ("ledger", "path"): "ledger-remote.db",
                                      ("gateway", "state"): "state-remote.db"})
    r = inst.pdgate("serve", "-c", conf, "-n")
    eq((r.returncode, r.stdout.strip()), (0, "configuration OK"), f"allow_remote: {r.stderr}")
    d = started(env.daemon(inst, conf=conf))
    check(f"status listener on http://0.0.0.0:{port}" in d.log(), "the address in the log")


@case("no [status] section: no status listener, the gateway serves as before")
def no_status(env):
    inst = env.main.install
    conf = inst.variant("no-status", {("partner", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                                      ("compliance", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                                      ("ledger", "path"): "ledger-nostatus.db",
                                      ("gateway", "state"): "state-nostatus.db"})
    text = re.sub(r"(?m)^; /healthz.*\n", "", conf.read_text())
    text = re.sub(r"(?ms)^\[status\]\n.*?(?=^\[|\Z)", "", text)
    check("[status]" not in text and "/healthz" not in text, "the section is gone")
    conf.write_text(text)
    d = env.daemon(inst, conf=conf)
    check_status(d.get("/v1/whoami", cert=inst.pki.partner(PARTNER)), 200, "whoami")
    check("status listener" not in d.log(), "no status listener started")


@case("the status listener's connections are bounded: one more waits until one goes")
def bounded(env):
    d = env.main
    port = status_port(d)
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(16)]
    extra = None
    try:
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", port), timeout=1)  # in the backlog
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        try:
            got = extra.recv(100)
        except socket.timeout:
            got = None
        eq(got, None, "an answer beyond the 16 connections")
        for s in held:
            s.close()
        held = []
        extra.settimeout(5 * SLOW)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = extra.recv(4096)
            if not chunk:
                break
            data += chunk
        check(data.startswith(b"HTTP/1.1 200"), f"the waiting request once room was made: {data[:80]!r}")
    finally:
        for s in held:
            s.close()
        if extra is not None:
            extra.close()
    check_status(d.get("/v1/whoami", cert=d.install.pki.partner(PARTNER)), 200,
                 "the partner listener was never concerned")


if __name__ == "__main__":
    pdtest.run(Env)
