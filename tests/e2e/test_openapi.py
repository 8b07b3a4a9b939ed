#!/usr/bin/env python3
"""docs/openapi.yaml and docs/clients.md against the real daemon (SPEC 15.6).

- The document is linted by a real OpenAPI validator, Redocly CLI at the version pinned in
  tests/openapi/package.json (installed there with `npm ci` when missing: no node, no npm or no
  registry is a failure, not a skip), with tests/openapi/redocly.yaml (recommended-strict).
- Its routes are the daemon's: the set of (listener, method, path) of the document equals the
  one `pdgate serve --routes` prints from the very tables the listeners route by, both ways;
  and a running daemon routes every documented path with exactly the documented methods (a
  method it does not serve gets 405 with that Allow, which only a routed path can give).
- Every operation is called on a running daemon; each answer's status must be documented for
  it, its headers documented (required ones present, values as their schemas say) and its
  body valid against the documented schema (checked here by a small JSON Schema evaluator that
  refuses any keyword it does not implement). Every documented query and header parameter is
  accepted, and an unknown query parameter refused.
- Its error codes are apierr.c's table with their statuses; the headers pdgate reads and sets
  (as the C sources spell them) are the document's; the member record and the purpose ids follow
  policies/.
- docs/clients.md: its Python and Java programs are taken out of the page (the blocks after
  `<!-- tested: FILE -->`) and run against a daemon whose mailing contract allows 30 requests a
  minute, its bucket kept spent by the test until they say they wait, so that they must wait on
  429 Retry-After; what they print must be what the gateway answers, and the member they print
  must be the ledger entry they name.
"""

import copy
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import urllib.parse
from pathlib import Path

import requests

import pdtest
from pdtest import SLOW, Failure, case, check, check_error, eq, wait_until

ROOT = pdtest.REPO
DOC = ROOT / "docs" / "openapi.yaml"
CLIENTS = ROOT / "docs" / "clients.md"
LINT = ROOT / "tests" / "openapi"
PINNED = json.loads((LINT / "package.json").read_text())["dependencies"]["@redocly/cli"]
MEMBERS = 20
SAKURA, SAKURA_CT = "sakura-mail", "CT-2026-0001"
CLIENT_RPM = 30  # the mailing contract's requests_per_minute in the clients' installation
CLIENT_LIMIT = 6  # members per page in the clients' runs: 20 members make 4 pages
# Headers every HTTP answer may carry that OpenAPI does not list per response.
FRAMING = {"date", "content-length", "content-type", "connection"}


# ---------------------------------------------------------------------------------------------
# The validator from npm.

def redocly_argv():
    """[node, cli.js] of the pinned @redocly/cli, installed with `npm ci` in tests/openapi if it
    is missing or another version. Fails, naming what to install, if it cannot be had."""
    node = shutil.which("node")
    if not node:
        raise Failure("node is not installed (apt-get install -y nodejs npm)")
    v = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    m = re.match(r"v(\d+)\.(\d+)", v)
    major, minor = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    check(major >= 23 or (major == 22 and minor >= 12) or (major == 20 and minor >= 19),
          f"node {v}: @redocly/cli {PINNED} needs node 20.19+ or 22.12+")
    pkg = LINT / "node_modules" / "@redocly" / "cli" / "package.json"
    have = json.loads(pkg.read_text()).get("version") if pkg.exists() else None
    if have != PINNED:
        npm = shutil.which("npm")
        if not npm:
            raise Failure("npm is not installed and tests/openapi/node_modules is missing "
                          "(apt-get install -y npm)")
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=LINT, capture_output=True,
                           text=True, timeout=600, stdin=subprocess.DEVNULL)
        check(r.returncode == 0, f"npm ci in tests/openapi failed (exit {r.returncode}): "
                                 f"{(r.stderr or r.stdout).strip()[-600:]}")
        have = json.loads(pkg.read_text()).get("version")
        eq(have, PINNED, "@redocly/cli version after npm ci")
    return [node, str(LINT / "node_modules" / "@redocly" / "cli" / "bin" / "cli.js")]


def redocly(argv, *args):
    env = dict(os.environ, REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true",
               NO_COLOR="1")
    return subprocess.run([*argv, *args], cwd=LINT, capture_output=True, text=True, env=env,
                          timeout=300, stdin=subprocess.DEVNULL)


# ---------------------------------------------------------------------------------------------
# The document: references, routes, schemas.

def resolve(doc, node):
    """node with its $ref followed (to any depth of the document), or node itself."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and len(node) == 1:
        ref = node["$ref"]
        check(ref.startswith("#/"), f"external $ref {ref!r}")
        node = doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        seen += 1
        check(seen < 50, f"$ref loop at {ref}")
    return node


def listeners_of(item, path):
    """The listeners a path item's servers name: one, or (a path both serve) each once."""
    servers = item.get("servers") or []
    names = [s.get("x-pdgate-listener") for s in servers]
    check(names and None not in names and len(set(names)) == len(names),
          f"{path}: its servers must name its listeners (x-pdgate-listener), got {names}")
    return names


METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SCHEMES = {"partner": {"partnerCertificate", "workOrder"},
           "compliance": {"staffToken", "staffCertificate"}}


def doc_operations(doc):
    """[(listener, METHOD, path, operation)] of the document. An operation of a path that both
    listeners serve is listed once for each, with the security requirements of that listener."""
    out = []
    for path, item in doc["paths"].items():
        listeners = listeners_of(item, path)
        for listener in listeners:
            for m in METHODS:
                if m not in item:
                    continue
                op = item[m]
                if len(listeners) > 1:
                    sec = [r for r in op.get("security") or [] if set(r) <= SCHEMES[listener]]
                    check(sec, f"{m.upper()} {path}: no security requirement for the {listener} listener")
                    op = dict(op, security=sec)
                out.append((listener, m.upper(), path, op))
    return out


def pattern_of(path):
    """A document path as the daemon's route tables spell it: each {name} is {}."""
    return re.sub(r"\{[^/}]+\}", "{}", path)


def doc_routes(doc):
    return {(lis, m, pattern_of(p)) for lis, m, p, _ in doc_operations(doc)}


def daemon_routes():
    r = pdtest.pdgate("serve", "--routes")
    check(r.returncode == 0, f"pdgate serve --routes: exit {r.returncode}: {r.stderr.strip()}")
    routes = set()
    for line in r.stdout.splitlines():
        parts = line.split()
        check(len(parts) == 3 and parts[0] in ("partner", "compliance"),
              f"pdgate serve --routes: cannot read {line!r}")
        routes.add(tuple(parts))
    check(len(routes) >= 10, f"pdgate serve --routes printed only {len(routes)} routes")
    return routes


def route_diff(documented, served):
    """What keeps the two sets apart, one line each (empty if they are the same set)."""
    out = [f"the daemon serves {m} {p} on the {lis} listener; docs/openapi.yaml does not document it"
           for lis, m, p in sorted(served - documented)]
    out += [f"docs/openapi.yaml documents {m} {p} on the {lis} listener; the daemon has no such route"
            for lis, m, p in sorted(documented - served)]
    return out


def param_example(doc, p):
    p = resolve(doc, p)
    if "example" in p:
        return p["example"]
    s = resolve(doc, p.get("schema", {}))
    check("example" in s, f"parameter {p['name']} has no example")
    return s["example"]


def concrete(doc, path, op, item):
    """path with each {name} replaced by its parameter's example."""
    params = {}
    for p in (item.get("parameters") or []) + (op.get("parameters") or []):
        p = resolve(doc, p)
        if p["in"] == "path":
            params[p["name"]] = str(param_example(doc, p))

    def sub(m):
        check(m.group(1) in params, f"{path}: no path parameter {m.group(1)} is described")
        return urllib.parse.quote(params[m.group(1)], safe="")
    return re.sub(r"\{([^/}]+)\}", sub, path)


def find_operation(doc, listener, method, url_path):
    """The operation of the document that a request names, or a failure."""
    for lis, m, p, op in doc_operations(doc):
        if lis == listener and m == method and re.fullmatch(re.sub(r"\{[^/}]+\}", "[^/]+", p), url_path):
            return p, op
    raise Failure(f"docs/openapi.yaml has no operation for {method} {url_path} on the {listener} listener")


class SchemaError(Exception):
    pass


ANNOTATIONS = {"description", "example", "examples", "title", "format", "default",
               "contentMediaType", "deprecated", "readOnly", "writeOnly"}
KEYWORDS = {"$ref", "type", "enum", "const", "properties", "required", "additionalProperties",
            "items", "oneOf", "anyOf", "allOf", "pattern", "minimum", "maximum", "minLength",
            "maxLength", "propertyNames"} | ANNOTATIONS


def _is(v, t):
    return {"object": lambda: isinstance(v, dict), "array": lambda: isinstance(v, list),
            "string": lambda: isinstance(v, str), "boolean": lambda: isinstance(v, bool),
            "integer": lambda: isinstance(v, int) and not isinstance(v, bool),
            "number": lambda: isinstance(v, (int, float)) and not isinstance(v, bool),
            "null": lambda: v is None}[t]()


def schema_errors(doc, schema, v, at="$"):
    """The ways v breaks schema (JSON Schema 2020-12, the keywords the document uses)."""
    if schema is True or schema == {}:
        return []
    if schema is False:
        return [f"{at}: nothing is allowed here"]
    unknown = {k for k in schema if k not in KEYWORDS and not k.startswith("x-")}
    if unknown:
        raise SchemaError(f"schema keyword(s) {sorted(unknown)} at {at}: the evaluator of "
                          f"tests/e2e/test_openapi.py does not implement them")
    errs = []
    if "$ref" in schema:
        errs += schema_errors(doc, resolve(doc, {"$ref": schema["$ref"]}), v, at)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(v, t) for t in types):
            return errs + [f"{at}: {json.dumps(v, ensure_ascii=False)[:80]} is not {'/'.join(types)}"]
    if "const" in schema and v != schema["const"]:
        errs.append(f"{at}: {v!r} is not {schema['const']!r}")
    if "enum" in schema and v not in schema["enum"]:
        errs.append(f"{at}: {v!r} is not one of {schema['enum']}")
    if isinstance(v, str):
        if "pattern" in schema and not re.search(schema["pattern"], v):
            errs.append(f"{at}: {v!r} does not match {schema['pattern']}")
        if len(v) < schema.get("minLength", 0) or len(v) > schema.get("maxLength", len(v)):
            errs.append(f"{at}: length {len(v)} out of range")
    if _is(v, "number"):
        if "minimum" in schema and v < schema["minimum"]:
            errs.append(f"{at}: {v} < {schema['minimum']}")
        if "maximum" in schema and v > schema["maximum"]:
            errs.append(f"{at}: {v} > {schema['maximum']}")
    if isinstance(v, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in v:
                errs.append(f"{at}: required member {k!r} is missing")
        for k, val in v.items():
            if "propertyNames" in schema:
                errs += schema_errors(doc, schema["propertyNames"], k, f"{at}[name {k!r}]")
            if k in props:
                errs += schema_errors(doc, props[k], val, f"{at}.{k}")
            elif "additionalProperties" in schema:
                errs += schema_errors(doc, schema["additionalProperties"], val, f"{at}.{k}")
    if isinstance(v, list) and "items" in schema:
        for i, val in enumerate(v):
            errs += schema_errors(doc, schema["items"], val, f"{at}[{i}]")
    for sub in schema.get("allOf", []):
        errs += schema_errors(doc, sub, v, at)
    if "anyOf" in schema and all(schema_errors(doc, s, v, at) for s in schema["anyOf"]):
        errs.append(f"{at}: matches none of anyOf")
    if "oneOf" in schema:
        n = sum(not schema_errors(doc, s, v, at) for s in schema["oneOf"])
        if n != 1:
            errs.append(f"{at}: matches {n} of oneOf, want exactly 1")
    return errs


def same_set(got, want, what, got_name, want_name):
    """Fails unless the two sets are equal, naming what each has that the other lacks."""
    only_got, only_want = sorted(set(got) - set(want)), sorted(set(want) - set(got))
    check(not only_got and not only_want,
          f"{what}: only in {got_name}: {only_got or 'nothing'}; only in {want_name}: "
          f"{only_want or 'nothing'}")


def check_value(doc, schema, v, what):
    errs = schema_errors(doc, schema, v)
    check(not errs, f"{what}: not as documented:\n" + "\n".join(errs[:12]))


def header_value(doc, schema, text, what):
    """A header's text checked against its schema (integers are decimal text)."""
    s = resolve(doc, schema)
    types = s.get("type") if isinstance(s.get("type"), list) else [s.get("type")]
    v = text
    if "integer" in types:
        check(re.fullmatch(r"-?\d+", text), f"{what}: {text!r} is not an integer")
        v = int(text)
    check_value(doc, s, v, what)


def check_answer(doc, listener, r, method=None):
    """Checks response r against the document: the operation its request names, its status, its
    headers and its body. Returns (operation path, the body decoded if JSON, else its text)."""
    u = urllib.parse.urlsplit(r.request.url)
    method = method or r.request.method
    path, op = find_operation(doc, listener, method, urllib.parse.unquote(u.path))
    what = f"{method} {u.path}{'?' + u.query if u.query else ''} → {r.status_code}"
    status = str(r.status_code)
    check(status in op["responses"], f"{what}: status {status} is not documented for "
                                     f"{op['operationId']} (body {pdtest.body_of(r)!r})")
    return path, check_response(doc, resolve(doc, op["responses"][status]), r, what)


def check_response(doc, resp, r, what):
    documented = {k.lower(): resolve(doc, h) for k, h in (resp.get("headers") or {}).items()}
    for name, h in documented.items():
        if h.get("required"):
            check(name in {k.lower() for k in r.headers}, f"{what}: no {name} header")
    for name, value in r.headers.items():
        if name.lower() in FRAMING:
            continue
        check(name.lower() in documented, f"{what}: header {name}: {value} is not documented")
        header_value(doc, documented[name.lower()]["schema"], value, f"{what}: header {name}")
    content = resp.get("content") or {}
    ctype = (r.headers.get("Content-Type") or "").split(";")[0].strip()
    check(ctype in content, f"{what}: Content-Type {ctype!r} is not documented ({sorted(content)})")
    schema = content[ctype].get("schema", {})
    if ctype == "application/json":
        body = r.json()
    else:
        body = r.text
        schema = schema if ctype.startswith("text/") or ctype.endswith("ndjson") else {}
    check_value(doc, schema, body, what)
    return body


# ---------------------------------------------------------------------------------------------
# The suite's shared state.

def token_issue(inst, *args):
    r = inst.pdgate("token", "issue", "-c", inst.conf, *args)
    check(r.returncode == 0, f"token issue {' '.join(map(str, args))}: {r.stderr.strip()}")
    return r.stdout.strip()


def cport(inst):
    return int(inst.get("compliance", "listen").rpartition(":")[2])


class Env(pdtest.Env):
    @pdtest.fixture
    def tool(self):
        return redocly_argv()

    @pdtest.fixture
    def doc(self):
        out = self.tmp / "openapi.json"
        r = redocly(self.tool, "bundle", str(DOC), "--ext", "json", "-o", str(out),
                    "--config", str(LINT / "redocly.yaml"))
        check(r.returncode == 0 and out.exists(),
              f"redocly bundle: exit {r.returncode}: {(r.stderr + r.stdout).strip()[-800:]}")
        return json.loads(out.read_text())

    @pdtest.fixture
    def main(self):
        inst = self.install(members=MEMBERS)
        d = self.daemon(inst)
        d.sakura = inst.pki.partner(SAKURA)
        d.work_order = token_issue(inst, "--contract", SAKURA_CT, "--purpose", "marketing",
                                   "--ttl", "1h", "--cert", d.sakura.pem)
        d.auditor = token_issue(inst, "--staff", "sato", "--role", "auditor", "--ttl", "1h")
        d.officer = token_issue(inst, "--staff", "officer", "--role", "officer", "--ttl", "1h")
        # entry 1, the first after gateway_start, is sakura-mail's: the example of getReceipt
        r = d.get("/v1/members/M0000003", cert=d.sakura,
                  headers={"Authorization": f"Bearer {d.work_order}"})
        eq((r.status_code, r.headers.get("X-Ledger-Index")), (200, "1"), "sakura-mail's entry 1")
        wait_until(lambda: d.get("/v1/ledger/receipts/1", cert=d.sakura).status_code == 200,
                   10 * SLOW, what="a checkpoint over entry 1")
        return d

    @pdtest.fixture
    def clients(self):
        """A daemon whose mailing contract allows CLIENT_RPM requests a minute, a work order,
        and what the examples must print, from the test's own requests."""
        inst = self.install(members=MEMBERS)
        cpath = inst.dir / "contracts" / f"{SAKURA_CT}.json"
        contract = json.loads(cpath.read_text())
        contract["limits"]["requests_per_minute"] = CLIENT_RPM
        cpath.write_text(json.dumps(contract, ensure_ascii=False, indent=2))
        d = self.daemon(inst)
        d.sakura = inst.pki.partner(SAKURA)
        d.work_order = token_issue(inst, "--contract", SAKURA_CT, "--purpose", "marketing",
                                   "--ttl", "1h", "--cert", d.sakura.pem)
        auth = {"Authorization": f"Bearer {d.work_order}"}
        me = d.get("/v1/whoami", cert=d.sakura).json()
        lines = [f"partner {me['partner']}, certificate {me['certificate']}"]
        lines += [f"contract {c['id']} ({c['relationship']}): {', '.join(c['purposes'])}"
                  for c in me["contracts"]]
        r = d.get("/v1/members/M0000003", cert=d.sakura, headers=auth)
        eq(r.status_code, 200, "the test's own request for M0000003")
        d.member_body = r.text
        lines.append(f"member M0000003 (ledger entry N): {r.text}")
        after, released, withheld, pages = None, 0, 0, 0
        while True:
            q = f"/v1/members?limit={CLIENT_LIMIT}" + (f"&after={after}" if after else "")
            page = d.get(q, cert=d.sakura, headers=auth).json()
            pages += 1
            released += len(page["members"])
            withheld += page["withheld"]
            after = page["next"]
            lines.append(f"page {pages}: {len(page['members'])} released, {page['withheld']} "
                         f"withheld, next {after or 'none'}")
            lines += [f"  {m.get('member_id', '-')}" for m in page["members"]]
            if after is None:
                break
        lines.append(f"total: {released} released, {withheld} withheld in {pages} pages")
        eq(released + withheld, MEMBERS, "released + withheld over every page")
        check(released > 0 and withheld > 0, f"the demo data should have both: {released} released, "
                                             f"{withheld} withheld")
        d.expected = lines
        return d


# ---------------------------------------------------------------------------------------------
# The document itself.

@case(f"redocly lint (@redocly/cli {PINNED}, recommended-strict): no error, no warning")
def _(env):
    r = redocly(env.tool, "--version")
    check(PINNED in r.stdout, f"redocly --version says {r.stdout.strip()!r}, want {PINNED}")
    r = redocly(env.tool, "lint", "--config", str(LINT / "redocly.yaml"), "--format", "stylish",
                str(DOC))
    out = (r.stdout + r.stderr).strip()
    check(r.returncode == 0, f"redocly lint: exit {r.returncode}:\n{out[-1500:]}")
    check(not re.search(r"\b(error|warning)\b", r.stdout, re.I),
          f"redocly lint reported problems:\n{out[-1500:]}")
    check(str(env.doc.get("openapi", "")).startswith("3.1."), f"openapi: {env.doc.get('openapi')}")


@case("the linter can fail: a copy of the document with a broken reference is refused")
def _(env):
    broken = env.tmp / "broken.yaml"
    broken.write_text(DOC.read_text().replace("$ref: '#/components/schemas/Whoami'",
                                              "$ref: '#/components/schemas/NoSuchSchema'", 1))
    check(broken.read_text() != DOC.read_text(), "no Whoami reference to break")
    r = redocly(env.tool, "lint", "--config", str(LINT / "redocly.yaml"), str(broken))
    check(r.returncode != 0, f"redocly lint passed a document with a dangling $ref:\n{r.stdout[-600:]}")


@case("servers: one for each listener, and every path names the listener that serves it")
def _(env):
    names = [s.get("x-pdgate-listener") for s in env.doc["servers"]]
    eq(sorted(names), ["compliance", "partner"], "the listeners of the servers")
    ports = {s["x-pdgate-listener"]: s["variables"]["port"]["default"] for s in env.doc["servers"]}
    eq(ports, {"partner": "8443", "compliance": "9443"}, "the demo ports")
    for path, item in env.doc["paths"].items():
        listeners_of(item, path)
    schemes = {k: v["type"] for k, v in env.doc["components"]["securitySchemes"].items()}
    eq(schemes, {"partnerCertificate": "mutualTLS", "workOrder": "http",
                 "staffCertificate": "mutualTLS", "staffToken": "http"}, "security schemes")


@case("routes: the document's are exactly the daemon's (pdgate serve --routes), both ways")
def _(env):
    problems = route_diff(doc_routes(env.doc), daemon_routes())
    check(not problems, "\n".join(problems))


@case("routes: the comparison fails for a route the document lacks and for one the daemon lacks")
def _(env):
    served = daemon_routes()
    doc = copy.deepcopy(env.doc)
    del doc["paths"]["/v1/whoami"]
    doc["paths"]["/v1/members/{member_id}/photo"] = copy.deepcopy(doc["paths"]["/v1/members/{member_id}"])
    problems = route_diff(doc_routes(doc), served)
    check(any("serves GET /v1/whoami on the partner listener" in p for p in problems),
          f"a route missing from the document went unnoticed: {problems}")
    check(any("documents GET /v1/members/{}/photo" in p for p in problems),
          f"a documented route the daemon lacks went unnoticed: {problems}")
    eq(len(problems), 2, "problems found")


@case("routes: the running daemon routes every documented path, with exactly its documented methods")
def _(env):
    d, doc = env.main, env.doc
    for path, item in doc["paths"].items():
        for listener in listeners_of(item, path):
            methods = {m.upper() for m in METHODS if m in item}
            op = item[next(m for m in METHODS if m in item)]
            url = concrete(doc, path, op, item)
            r = call(d, listener, "DELETE", url)
            eq(r.status_code, 405, f"DELETE {url} ({listener}): a routed path answers 405 "
                                   f"(body {pdtest.body_of(r)!r})")
            eq(set((r.headers.get("Allow") or "").split(", ")), methods, f"Allow of {url}")
            check_response(doc, resolve(doc, doc["components"]["responses"]["MethodNotAllowed"]),
                           r, f"DELETE {url}")
            check_error(r, 405, "method_not_allowed", f"DELETE {url}")
    for listener in ("partner", "compliance"):
        r = call(d, listener, "GET", "/v1/no/such/route")
        check_error(r, 404, "not_found", f"an unknown path on the {listener} listener")
        eq(r.json()["message"], "no such route", "its message")
        check_response(doc, resolve(doc, doc["components"]["responses"]["NoRoute"]), r,
                       f"GET /v1/no/such/route ({listener})")


# ---------------------------------------------------------------------------------------------
# The daemon's answers against the document.

def call(d, listener, method, path, token=None, cert=None, headers=None, body=None, data=None):
    """One request to a listener of daemon d; partner requests carry sakura-mail's certificate
    unless cert says otherwise (False: none)."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    if listener == "partner":
        port = d.port
        cert = d.sakura if cert is None else cert
    else:
        port = cport(d.install)
    if isinstance(cert, pdtest.Cert):
        cert = cert.pair
    return requests.request(method, f"https://127.0.0.1:{port}{path}", headers=h,
                            cert=cert or None, json=body, data=data,
                            verify=str(d.install.server_ca), timeout=30 * SLOW)


@case("every operation answers as documented: status, headers and body, successes and refusals")
def _(env):
    d, doc = env.main, env.doc
    wo, aud, off = d.work_order, d.auditor, d.officer
    other = d.install.pki.issue("stranger", by=d.install.pki.other_ca, partner=SAKURA)
    wait_until(lambda: call(d, "compliance", "GET", "/v1/ledger/checkpoint", aud).status_code == 200,
               10, what="a first checkpoint")
    size = d.install.ledger_size()
    P, C = "partner", "compliance"
    jst_today = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=9)).date()
    anon = {"id": "AN-2026-0001", "title": "会員属性統計用データ", "made": jst_today.isoformat(),
            "recipient": None, "method": None, "spec_sha256": "0" * 64,
            "items": ["birth_date:age_band:10", "gender", "courses[].code"], "k": 5,
            "members": 100, "left_out": 1, "rows": 90, "suppressed": 9, "replaced": 2}
    calls = [
        # (listener, method, path, keyword arguments, status)
        (P, "GET", "/v1/whoami", {}, 200),
        (P, "GET", "/v1/whoami?x=1", {}, 400),
        (P, "GET", "/v1/whoami", {"cert": other}, 401),
        (P, "GET", "/v1/members/M0000003", {"token": wo}, 200),
        (P, "GET", "/v1/members/M0000001", {"token": wo}, (200, 403)),
        (P, "GET", "/v1/members/M0000003", {}, 401),
        (P, "GET", "/v1/members/M9999999", {"token": wo}, 404),
        (P, "GET", "/v1/members/M0000003", {"token": wo, "headers": {"X-Purpose": "contact"}}, 400),
        (P, "GET", "/v1/members/M0000003?a=1", {"token": wo}, 400),
        (P, "GET", "/v1/members?limit=5", {"token": wo}, 200),
        (P, "GET", "/v1/members?limit=0", {"token": wo}, 400),
        (P, "GET", "/v1/members?limit=5", {}, 401),
        (P, "GET", "/v1/ledger/checkpoint", {}, 200),
        (P, "GET", "/v1/ledger/checkpoint?x=1", {}, 400),
        (P, "GET", "/v1/ledger/checkpoint", {"cert": other}, 401),
        (P, "GET", "/v1/ledger/receipts/1", {}, 200),
        (P, "GET", "/v1/ledger/receipts/0", {}, 404),
        (P, "GET", "/v1/ledger/receipts/99999999", {}, 404),
        (P, "GET", "/v1/ledger/receipts/01", {}, 400),
        (P, "GET", "/v1/ledger/receipts/1", {"cert": other}, 401),
        (C, "GET", "/", {}, 200),
        (C, "GET", "/ui/app.js", {}, 200),
        (C, "GET", "/ui/style.css", {}, 200),
        (C, "GET", "/ui/no-such-file.js", {}, 404),
        (C, "GET", "/?x=1", {}, 400),
        (C, "GET", "/v1/ledger/checkpoint", {"token": aud}, 200),
        (C, "GET", "/v1/ledger/checkpoint", {}, 401),
        (C, "GET", "/v1/ledger/checkpoint", {"token": wo}, 403),
        (C, "GET", "/v1/ledger/vkey", {"token": aud}, 200),
        (C, "GET", f"/v1/ledger/entries?start=0&end={size}", {"token": aud}, 200),
        (C, "GET", "/v1/ledger/entries?start=0&end=99999999", {"token": aud}, 400),
        (C, "GET", "/v1/ledger/proof/inclusion?index=0", {"token": aud}, 200),
        (C, "GET", "/v1/ledger/proof/consistency?old=1", {"token": aud}, 200),
        (C, "GET", "/v1/ledger/search?limit=5", {"token": aud}, 200),
        (C, "GET", "/v1/ledger/search?kind=other", {"token": aud}, 400),
        (C, "GET", "/v1/reports/provisions?limit=5", {"token": aud}, 200),
        (C, "GET", "/v1/reports/provisions?format=csv&limit=2", {"token": aud}, 200),
        (C, "GET", "/v1/reports/subject/M0000003", {"token": aud}, 200),
        (C, "GET", "/v1/reports/breach?partner=sakura-mail", {"token": aud}, 200),
        (C, "GET", "/v1/reports/breach", {"token": aud}, 400),
        (C, "GET", "/v1/reports/breach?partner=sakura-mail&format=csv", {"token": aud}, 200),
        (C, "POST", "/v1/reports/breach/notification-list?partner=sakura-mail", {"token": aud}, 403),
        (C, "POST", "/v1/reports/breach/notification-list", {"token": off}, 400),
        (C, "POST", "/v1/reports/breach/notification-list?partner=sakura-mail", {"token": off}, 200),
        (C, "GET", "/v1/supervision/summary", {"token": aud}, 200),
        (C, "GET", "/v1/contracts", {"token": aud}, 200),
        (C, "GET", "/v1/partners", {"token": aud}, 200),
        (C, "POST", "/v1/contracts/CT-2026-0001/deletion", {"token": off}, 400),
        (C, "POST", "/v1/contracts/CT-9999-0000/deletion",
         {"token": off, "body": {"attested_by": "試験", "deleted_at": "2026-04-01", "certificate": "DC-1"}}, 404),
        (C, "POST", "/v1/contracts/CT-2026-0001/deletion",
         {"token": off, "body": {"attested_by": "試験", "deleted_at": "2026-04-01", "certificate": "DC-1"}}, 201),
        (C, "POST", "/v1/partners/sakura-mail/suspend", {"token": aud, "body": {"reason": "試験"}}, 403),
        (C, "POST", "/v1/partners/sakura-mail/suspend", {"token": off}, 400),
        (C, "POST", "/v1/partners/nobody-here/suspend", {"token": off, "body": {"reason": "試験"}}, 404),
        (C, "POST", "/v1/partners/sakura-mail/suspend", {"token": off, "body": {"reason": "試験"}}, 200),
        (P, "GET", "/v1/members/M0000003", {"token": wo}, 403),
        (C, "POST", "/v1/partners/sakura-mail/resume", {"token": off}, 200),
        (C, "POST", "/v1/gateway/suspend", {"token": off, "body": {"reason": "試験"}}, 200),
        (P, "GET", "/v1/members?limit=5", {"token": wo}, 503),
        (C, "POST", "/v1/gateway/resume", {"token": off, "body": {"reason": "復旧"}}, 200),
        (P, "GET", "/v1/members/M0000003", {"token": wo}, 200),
        (C, "GET", "/v1/reports/subject/M0000003?format=html", {"token": aud}, 200),
        (C, "GET", "/v1/reports/subject/M0000003?format=csv", {"token": aud}, 200),
        (C, "POST", "/v1/subjects/M0000004/requests", {"token": aud, "body": {"type": "stop_use"}}, 403),
        (C, "POST", "/v1/subjects/M0000004/requests", {"token": off, "body": {"type": "stop"}}, 400),
        (C, "POST", "/v1/subjects/M0000004/requests",
         {"token": off, "body": {"type": "disclosure", "received": "2026-04-01", "channel": "郵送"}}, 201),
        (C, "GET", "/v1/subjects/M0000004", {"token": aud}, 200),
        (C, "GET", "/v1/subjects/requests?status=open", {"token": aud}, 200),
        (C, "POST", "/v1/subjects/M0000004/requests/RQ-1999-000001/close",
         {"token": off, "body": {"outcome": "completed"}}, 404),
        (C, "POST", "/v1/anonymised", {"token": aud, "body": anon}, 403),
        (C, "POST", "/v1/anonymised", {"token": off, "body": dict(anon, k=1)}, 400),
        (C, "POST", "/v1/anonymised", {"token": off, "body": anon}, 201),
        (C, "POST", "/v1/anonymised", {"token": off, "body": anon}, 409),
        (C, "GET", "/v1/anonymised", {"token": aud}, 200),
    ]
    answered = set()
    for listener, method, path, kw, status in calls:
        r = call(d, listener, method, path, **kw)
        want = status if isinstance(status, tuple) else (status,)
        check(r.status_code in want, f"{method} {path}: status {r.status_code}, want {status}; "
                                     f"body {pdtest.body_of(r)!r}")
        opath, body = check_answer(doc, listener, r, method)
        if r.status_code < 300:
            answered.add((listener, method, opath))
        if path.startswith("/v1/ledger/entries") and r.status_code == 200:
            lines = body.split("\n")
            eq(lines[-1], "", "entries end with a line feed")
            eq(len(lines) - 1, size, "entries")
            entry = resolve(doc, doc["components"]["schemas"]["LedgerEntry"])
            for i, line in enumerate(lines[:-1]):
                check_value(doc, entry, json.loads(line), f"ledger entry {i}")
        if "provisions?format=csv" in path:
            check(body.startswith("\ufeffindex,time,date,recipient,"), f"CSV head: {body[:40]!r}")
        if r.status_code == 200 and ("format=csv" in path and "breach" in path or "notification-list" in path):
            check(body.startswith("\ufeffmember_id,subject,items,"), f"CSV head: {body[:40]!r}")
        if r.status_code == 201 and path.endswith("/requests"):  # then close it, and again
            close = f"{path}/{r.json()['id']}/close"
            for want, kw in ((200, {"outcome": "withdrawn"}), (409, {"outcome": "completed"})):
                r2 = call(d, listener, "POST", close, token=off, body=kw)
                eq(r2.status_code, want, f"POST {close}: {pdtest.body_of(r2)!r}")
                opath2, _ = check_answer(doc, listener, r2, "POST")
                if r2.status_code < 300:
                    answered.add((listener, "POST", opath2))
    missing = {(lis, m, p) for lis, m, p, _ in doc_operations(doc)} - answered
    check(not missing, "operations this case never saw answer 2xx (add a call): "
                       + ", ".join(f"{m} {p}" for _, m, p in sorted(missing)))


@case("every documented parameter, with its example, is accepted; an unknown query parameter is not")
def _(env):
    d, doc = env.main, env.doc
    tokens = {"auditor": d.auditor, "officer": d.officer}
    for listener, method, path, op in doc_operations(doc):
        if method != "GET":
            continue
        item = doc["paths"][path]
        url = concrete(doc, path, op, item)
        params = [resolve(doc, p) for p in (op.get("parameters") or [])]
        query = {p["name"]: str(param_example(doc, p)) for p in params if p["in"] == "query"}
        headers = {p["name"]: str(param_example(doc, p)).encode()
                   for p in params if p["in"] == "header"}
        token = None
        for req in op.get("security") or []:
            if "workOrder" in req:
                token = d.work_order
            for role in req.get("staffToken", []):
                token = tokens[role]
        q = urllib.parse.urlencode(query)
        r = call(d, listener, method, url + ("?" + q if q else ""), token=token, headers=headers)
        eq(r.status_code, 200, f"{method} {url}?{q} with {sorted(headers)}: body {pdtest.body_of(r)!r}")
        check_answer(doc, listener, r, method)
        r = call(d, listener, method, url + "?" + urllib.parse.urlencode({**query, "zz": "1"}),
                 token=token)
        check_error(r, 400, "bad_request", f"{method} {url} with an unknown query parameter")
        m = re.search(r"this route takes: (.*)$", r.json()["message"])
        if m and m.group(1) != "nothing":
            eq(set(m.group(1).split(", ")), set(query), f"the query parameters {path} takes")


@case("security: each operation asks for the credentials the document says")
def _(env):
    d, doc = env.main, env.doc
    for listener, method, path, op in doc_operations(doc):
        url = concrete(doc, path, op, doc["paths"][path])
        sec = op.get("security")
        body = {"reason": "試験"} if method == "POST" else None
        if listener == "compliance" and sec == []:
            r = call(d, listener, method, url)
            eq(r.status_code, 200, f"{method} {url} without a token")
            continue
        if listener == "compliance":
            roles = {role for req in sec for role in req.get("staffToken", [])}
            eq(len(roles), 1, f"{method} {path}: the role it needs")
            check_error(call(d, listener, method, url, body=body), 401, "token_required",
                        f"{method} {url} without a token")
            check_error(call(d, listener, method, url, token=d.work_order, body=body), 403,
                        "forbidden", f"{method} {url} with a work order")
            if roles == {"officer"}:
                check_error(call(d, listener, method, url, token=d.auditor, body=body), 403,
                            "forbidden", f"{method} {url} with an auditor token")
            continue
        needs = [set(req) for req in sec]
        check(all("partnerCertificate" in n for n in needs), f"{path}: every way in needs the certificate")
        if any("workOrder" in n for n in needs):
            check_error(call(d, listener, method, url), 401, "token_required",
                        f"{method} {url} without a work order (the demo contracts require one)")
        else:
            eq(call(d, listener, method, url).status_code, 200, f"{method} {url} with the certificate alone")


# ---------------------------------------------------------------------------------------------
# Errors, headers and catalogs: the document against the sources.

def apierr_table():
    text = (ROOT / "gateway" / "src" / "apierr.c").read_text()
    codes = {c: int(s) for c, s in re.findall(r'\[APIERR_\w+\]\s*=\s*\{"(\w+)",\s*(\d+),', text)}
    check(len(codes) > 20, f"only {len(codes)} codes read from apierr.c")
    codes.pop("ok", None)
    return codes


def response_codes(doc, resp):
    """The error codes a response's body may carry (from its allOf's enum or const)."""
    schema = resolve(doc, (resp.get("content") or {}).get("application/json", {}).get("schema", {}))
    out = set()
    for part in schema.get("allOf", []):
        e = resolve(doc, part).get("properties", {}).get("error", {})
        out |= set(e.get("enum", [])) | ({e["const"]} if "const" in e else set())
    return out


@case("errors: ErrorCode is apierr.c's table, and each response carries only codes of its status")
def _(env):
    doc, table = env.doc, apierr_table()
    ec = doc["components"]["schemas"]["ErrorCode"]
    same_set(ec["enum"], table, "error codes", "ErrorCode's enum", "apierr.c")
    eq(ec["x-pdgate-status"], table, "ErrorCode's x-pdgate-status vs apierr.c")
    rows = {c: int(s) for c, s in re.findall(r"^\| `(\w+)` \| (\d+) \|", ec["description"], re.M)}
    eq(rows, table, "the table in ErrorCode's description vs apierr.c")
    seen = {}
    for _, m, p, op in doc_operations(doc):
        for status, resp in op["responses"].items():
            for code in response_codes(doc, resolve(doc, resp)):
                eq(table.get(code), int(status), f"{m} {p}: `{code}` under status {status}")
                seen[code] = status
    for name, status in (("NoRoute", 404), ("MethodNotAllowed", 405)):
        for code in response_codes(doc, doc["components"]["responses"][name]):
            eq(table.get(code), status, f"response {name}: `{code}`")
            seen[code] = status
    check(set(seen) == set(table), "codes no response of the document carries: "
                                   + ", ".join(sorted(set(table) - set(seen))))


def c_sources():
    """The sources of the two listeners the document describes: the status listener (status.c,
    plain HTTP for the machine's monitoring, docs/operations.md) is not one of them."""
    return "\n".join(p.read_text() for p in sorted((ROOT / "gateway" / "src").glob("*.c"))
                     if p.name != "status.c")


@case("headers: those pdgate reads and those it sets are the document's, both ways")
def _(env):
    doc, src = env.doc, c_sources()
    read = set(re.findall(r'server_request_header\(\s*\w+,\s*"([^"]+)"', src))
    check({"Authorization", "X-Purpose"} <= read, f"headers read, as found in the sources: {read}")
    documented = {resolve(doc, p)["name"] for p in doc["components"]["parameters"].values()
                  if resolve(doc, p)["in"] == "header"}
    for _, _, path, op in doc_operations(doc):
        documented |= {resolve(doc, p)["name"] for p in op.get("parameters") or []
                       if resolve(doc, p)["in"] == "header"}
    if any(s["type"] == "http" for s in doc["components"]["securitySchemes"].values()):
        documented.add("Authorization")  # a bearer scheme is the Authorization header
    same_set(documented, read, "request headers", "docs/openapi.yaml", "what gateway/src reads")
    consts = {"ALLOW": "Allow", "CONTENT_TYPE": "Content-Type", "CONNECTION": "Connection"}
    set_ = set(re.findall(r'(?:server_reply_header|MHD_add_response_header)\(\s*[\w>-]+,\s*"([^"]+)"', src))
    for c in re.findall(r"MHD_add_response_header\([^,]+,\s*MHD_HTTP_HEADER_(\w+)", src) + \
            re.findall(r"server_reply_header\([^,]+,\s*MHD_HTTP_HEADER_(\w+)", src):
        check(c in consts, f"MHD_HTTP_HEADER_{c}: add it to this test's table")
        set_.add(consts[c])
    check({"X-Request-Id", "X-Ledger-Index", "Retry-After"} <= set_, f"headers set, as found: {set_}")
    answered = set()
    for resp in list(doc["components"]["responses"].values()) + [
            resolve(doc, r) for _, _, _, op in doc_operations(doc) for r in op["responses"].values()]:
        answered |= set(resolve(doc, resp).get("headers") or {})
    answered |= {"Content-Type"}  # every response's content
    check("Connection: close" in doc["info"]["description"], "info.description: Connection: close")
    answered |= {"Connection"}
    same_set({h.lower() for h in answered}, {h.lower() for h in set_}, "response headers",
             "docs/openapi.yaml", "what gateway/src sets")


def catalog_paths(schema, doc, prefix=""):
    out = set()
    s = resolve(doc, schema)
    for k, sub in s.get("properties", {}).items():
        sub = resolve(doc, sub)
        if sub.get("type") == "object":
            out |= catalog_paths(sub, doc, f"{prefix}{k}.")
        elif sub.get("type") == "array":
            out |= catalog_paths(sub["items"], doc, f"{prefix}{k}[].")
        else:
            out.add(prefix + k)
    return out


@case("schemas: the member record is the catalog's releasable paths; purposes and kinds are policies/'")
def _(env):
    doc = env.doc
    fields = json.loads((ROOT / "policies" / "fields.json").read_text())["fields"]
    releasable = {f["path"] for f in fields if f["class"] != "internal"}
    same_set(catalog_paths(doc["components"]["schemas"]["MemberRecord"], doc), releasable,
             "member record paths", "MemberRecord", "policies/fields.json (not internal)")
    classes = {f["class"] for f in fields}
    check(classes <= set(doc["components"]["schemas"]["FieldClass"]["enum"]),
          f"FieldClass lacks {classes - set(doc['components']['schemas']['FieldClass']['enum'])}")
    purposes = json.loads((ROOT / "policies" / "purposes.json").read_text())["purposes"]
    same_set(doc["components"]["schemas"]["PurposeId"]["enum"], {p["id"] for p in purposes},
             "purposes", "PurposeId", "policies/purposes.json")
    check({p["kind"] for p in purposes} <= set(doc["components"]["schemas"]["PurposeKind"]["enum"]),
          "PurposeKind lacks a kind of policies/purposes.json")


# ---------------------------------------------------------------------------------------------
# docs/clients.md: the examples run against the daemon.

def tested_blocks():
    text = CLIENTS.read_text()
    blocks = {name: (lang, code) for name, lang, code in
              re.findall(r"<!-- tested: (\S+) -->\n```(\w+)\n(.*?)\n```\n", text, re.S)}
    check("partner_client.py" in blocks and blocks["partner_client.py"][0] == "python",
          "docs/clients.md: no ```python block after <!-- tested: partner_client.py -->")
    check("PartnerClient.java" in blocks and blocks["PartnerClient.java"][0] == "java",
          "docs/clients.md: no ```java block after <!-- tested: PartnerClient.java -->")
    return blocks


def drain(env, d):
    """Spends the contract's request bucket until a 429 (checked against the document)."""
    auth = {"Authorization": f"Bearer {d.work_order}"}
    for _ in range(CLIENT_RPM * 3):
        r = d.get("/v1/members/M0000003", cert=d.sakura, headers=auth)
        if r.status_code == 429:
            check_error(r, 429, "rate_limited", "the drained bucket")
            check_answer(env.doc, "partner", r)
            return
        eq(r.status_code, 200, "while spending the bucket")
    raise Failure(f"no 429 after {CLIENT_RPM * 3} requests at requests_per_minute {CLIENT_RPM}")


def run_client(env, d, argv, cwd, extra, who):
    """Runs a client with the contract's bucket spent and kept spent, by requests of the test's
    own, until the client says it waits on a 429 (however slowly it starts: a JVM under load,
    a sanitizer build). Returns what it printed; fails on a non-zero exit or a hang."""
    drain(env, d)
    stop = threading.Event()
    auth = {"Authorization": f"Bearer {d.work_order}"}

    def keep_spent():
        with requests.Session() as s:
            while not stop.is_set():
                r = s.get(d.url("/v1/members/M0000003"), cert=d.sakura.pair, headers=auth,
                          verify=str(d.install.server_ca), timeout=30 * SLOW)
                if r.status_code == 429:
                    stop.wait(0.05)

    spender = threading.Thread(target=keep_spent, daemon=True)
    spender.start()
    errfile = cwd / f"{who}.stderr"
    lines = []
    with open(errfile, "w") as err:
        p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=err, text=True, encoding="utf-8", env=client_env(d, **extra))
        watchdog = threading.Timer(300 * SLOW, p.kill)
        watchdog.start()
        try:
            for line in p.stdout:
                lines.append(line)
                if WAIT.fullmatch(line.rstrip("\n")):
                    stop.set()
            rc = p.wait()
        finally:
            watchdog.cancel()
            stop.set()
            spender.join(60 * SLOW)
    out = "".join(lines)
    check(rc == 0, f"{who}: exit {rc}:\n{(out + errfile.read_text())[-1500:]}")
    return out


WAIT = re.compile(r"rate limited: waiting (\d+) s \(Retry-After\)")


def check_client_output(env, d, out, who):
    lines = out.splitlines()
    waits = [int(m.group(1)) for m in map(WAIT.fullmatch, lines) if m]
    check(waits, f"{who} never waited on a 429 Retry-After:\n{out[-1500:]}")
    check(all(1 <= w <= 60 for w in waits), f"{who}: waits {waits}")
    rest = [l for l in lines if not WAIT.fullmatch(l)]
    m = next((re.fullmatch(r"member M0000003 \(ledger entry (\d+)\): .*", l) for l in rest
              if l.startswith("member ")), None)
    check(m, f"{who} printed no member line:\n{out[-1500:]}")
    index = int(m.group(1))
    got = [re.sub(r"^(member M0000003 \(ledger entry )\d+\)", r"\1N)", l) for l in rest]
    for i, (g, w) in enumerate(zip(got, d.expected)):
        eq(g, w, f"{who}, line {i + 1} (waits aside)")
    eq(len(got), len(d.expected), f"{who}: lines printed (waits aside)")
    r = d.install.pdgate("ledger", "export", "-c", d.install.conf, "--start", index, "--end", index + 1)
    check(r.returncode == 0, f"ledger export: {r.stderr.strip()}")
    leaf = json.loads(r.stdout)
    eq((leaf["index"], leaf["kind"], leaf["partner"], leaf["contract"]),
       (index, "release", SAKURA, SAKURA_CT), f"the ledger entry {who} named")
    eq(leaf["digest"], hashlib.sha256(d.member_body.encode()).hexdigest(),
       f"entry {index}'s digest vs the member body {who} printed")


def client_env(d, **extra):
    e = dict(os.environ, PDGATE_URL=f"https://127.0.0.1:{d.port}", PDGATE_CA=str(d.install.server_ca),
             PDGATE_TOKEN=d.work_order, PDGATE_MEMBER="M0000003", PDGATE_LIMIT=str(CLIENT_LIMIT))
    e.update(extra)
    return e


@case("docs/clients.md: the Python client runs against the daemon, pages, counts withheld, waits on 429")
def _(env):
    d = env.clients
    _, code = tested_blocks()["partner_client.py"]
    f = env.tmp / "py" / "partner_client.py"
    f.parent.mkdir(exist_ok=True)
    f.write_text(code + "\n")
    out = run_client(env, d, ["python3", str(f)], f.parent,
                     {"PDGATE_CERT": str(d.sakura.pem), "PDGATE_KEY": str(d.sakura.key),
                      "PYTHONIOENCODING": "utf-8"}, "partner_client.py")
    check_client_output(env, d, out, "partner_client.py")


@case("docs/clients.md: the Java client compiles with javac and runs with a PKCS#12 identity")
def _(env):
    javac, java = shutil.which("javac"), shutil.which("java")
    if not (javac and java):
        print("# skip: no javac/java on this machine (apt-get install -y openjdk-17-jdk-headless)")
        return
    d = env.clients
    _, code = tested_blocks()["PartnerClient.java"]
    folder = env.tmp / "java"
    (folder / "classes").mkdir(parents=True, exist_ok=True)
    (folder / "PartnerClient.java").write_text(code + "\n")
    r = subprocess.run([javac, "-Xlint:all", "-Werror", "-d", "classes", "PartnerClient.java"],
                       cwd=folder, capture_output=True, text=True, timeout=300 * SLOW)
    check(r.returncode == 0, f"javac: exit {r.returncode}:\n{(r.stdout + r.stderr)[-1500:]}")
    p12 = folder / "sakura-mail.p12"
    r = subprocess.run(["openssl", "pkcs12", "-export", "-in", str(d.sakura.pem), "-inkey",
                        str(d.sakura.key), "-name", SAKURA, "-out", str(p12), "-passout",
                        "pass:pdtest-p12-secret"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"openssl pkcs12 -export: {r.stderr.strip()}")
    out = run_client(env, d, [java, "-cp", "classes", "PartnerClient"], folder,
                     {"PDGATE_P12": str(p12), "PDGATE_P12_PASSWORD": "pdtest-p12-secret"},
                     "PartnerClient.java")
    check_client_output(env, d, out, "PartnerClient.java")


@case("docs/clients.md: C#, curl and PowerShell clients, the PKCS#12 command, and the receipts note")
def _(env):
    text = CLIENTS.read_text()
    for lang in ("python", "java", "csharp", "sh", "powershell"):
        check(f"```{lang}\n" in text, f"docs/clients.md has no ```{lang} block")
    for needle in ("HttpClientHandler", "X509Certificate2", "Retry-After", "openssl pkcs12 -export",
                   "pdgate cert issue --partner ID --p12", "Invoke-WebRequest", "--retry",
                   "Checking a receipt", "receipts/{index}"):
        check(needle in text, f"docs/clients.md does not mention {needle!r}")
    readme = (ROOT / "README.md").read_text()
    for doc in ("docs/openapi.yaml", "docs/clients.md"):
        check(re.search(rf"^\| `{re.escape(doc)}` \|", readme, re.M), f"README's document table lacks {doc}")


if __name__ == "__main__":
    pdtest.run(Env)
