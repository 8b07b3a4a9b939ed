#!/usr/bin/env python3
"""Three pdgate nodes on one PostgreSQL ledger, and a PostgreSQL primary with a synchronous
standby that fails over (docs/cluster.md), each with servers of the suite's own (pgserver.py).

Three nodes: three partners asking each node on kept-alive connections; a partner suspended
through node 1 refused on the next request of the kept-alive connections to nodes 2 and 3 (403
partner_suspended, each refusal recorded), lifted through node 3 and served again on nodes 1 and
2; node 2 `kill -9`ed under load while nodes 1 and 3 serve on, restarted and catching up (its
receipts prove the others' entries); the checkpoints the three serve consistent with one another
(consistency proofs from the compliance API checked here, and `pdgate ledger verify --db
--checkpoint` with each); every 200 with its entry; `pdgate ledger verify --db` passes.

Failover: two nodes whose `[ledger] url` names the primary and its synchronous standby (one libpq
URL, target_session_attrs=read-write), under load; the primary killed hard; until the standby is
promoted every request gets 503 ledger_unavailable and nothing is released; then service comes
back by itself on the promoted standby; every 200 answered before and after has its entry in the
promoted database; the checkpoints read before and after are consistent; verify passes. The
primary killed two ways: every process at once (a power cut), or `kill -9` of its postmaster
alone. And the primary hung instead (SIGSTOP: connections open, nothing answered): each node
gives its sessions up after 35 s without an answer, and serves on from the promoted standby
(that case runs beside the others: it mostly waits).
"""

import base64
import hashlib
import json
import threading
import time
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

import requests
from cryptography.hazmat.primitives.asymmetric import ed25519

import pdtest
from pdtest import case, check, check_error, eq
import pgserver
from pgserver import PgServer

PARTNERS = [("sakura-mail", "CT-2026-0001", "contact"),
            ("shiken-proctor", "CT-2026-0002", "service_delivery"),
            ("maison-partners", "CT-2026-0003", "service_delivery")]
MEMBERS = 40
INTERVAL_MS = 200
# a pause between one connection's requests: three nodes, PostgreSQL and the clients share two
# cores, and what is looked at is what each answer says, not the rate
PACE_S = 0.005
# how long the primary stays down before the standby is promoted (the time an operator, or a
# failover manager, takes to see it gone)
OUTAGE_S = 1.5

Answer = namedtuple("Answer", "node partner sent at status index request digest code conn_at")


def H(b):
    return hashlib.sha256(b).digest()


def verify_consistency(first, second, proof, first_root, second_root):
    """RFC 9162 2.1.4.2."""
    if first == second:
        return not proof and first_root == second_root
    if first & (first - 1) == 0:
        proof = [first_root] + proof
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    if not proof:
        return False
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = H(b"\x01" + c + fr)
            sr = H(b"\x01" + c + sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = H(b"\x01" + sr + c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def open_note(inst, note):
    """The checkpoint's Ed25519 signature under keys/ledger.vkey checked. Returns (size, root)."""
    name, keyid_hex, keyb64 = inst.path("keys/ledger.vkey").read_text().strip().split("+", 2)
    key = base64.b64decode(keyb64)
    body, _, sigs = note.partition("\n\n")
    body += "\n"
    lines = body.splitlines()
    eq(lines[0], name, "checkpoint origin")
    good = False
    for line in sigs.splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "\u2014" and parts[1] == name:
            raw = base64.b64decode(parts[2])
            if raw[:4].hex() == keyid_hex:
                ed25519.Ed25519PublicKey.from_public_bytes(key[1:]).verify(raw[4:], body.encode())
                good = True
    check(good, f"no signature of {name} on the checkpoint:\n{note}")
    return int(lines[1]), base64.b64decode(lines[2])


def prepare(inst):
    """The three partners' contracts without rate or volume limits (each node counts them on
    its own, and the load is not what is looked at); a work order for each."""
    for _, ct, _ in PARTNERS:
        p = inst.path(f"contracts/{ct}.json")
        c = json.loads(p.read_text(encoding="utf-8"))
        c.pop("limits", None)
        c["valid_until"] = "2099-12-31T23:59:59+09:00"
        p.write_text(json.dumps(c, ensure_ascii=False, indent=2), encoding="utf-8")
    tokens = {}
    for pid, ct, purpose in PARTNERS:
        r = inst.pdgate("token", "issue", "-c", inst.conf, "--contract", ct, "--purpose", purpose,
                        "--ttl", "2h", "--cert", inst.pki.partner(pid).pem)
        check(r.returncode == 0, f"token issue {ct}: {r.stderr.strip()}")
        tokens[pid] = r.stdout.strip()
    return tokens


def staff_token(inst, name, role):
    r = inst.pdgate("token", "issue", "-c", inst.conf, "--staff", name, "--role", role, "--ttl", "2h")
    check(r.returncode == 0, f"token issue --staff: {r.stderr.strip()}")
    return r.stdout.strip()


def node_conf(inst, name, url):
    """A configuration of its own for one node of inst on the PostgreSQL ledger url: its own
    listeners, state database and log."""
    return inst.variant(name, {("ledger", "path"): None, ("ledger", "url"): url,
                               ("partner", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                               ("compliance", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                               ("gateway", "state"): f"state-{name}.db"})


def staff_call(d, path, tok, body=None, method="GET"):
    """One request to node d's compliance listener."""
    port = int(d.install.get("compliance", "listen", conf=d.conf).rpartition(":")[2])
    return requests.request(method, f"https://127.0.0.1:{port}{path}", json=body,
                            headers={"Authorization": f"Bearer {tok}"},
                            verify=str(d.install.server_ca), timeout=30 * pdtest.SLOW)


def cli(inst, *args):
    r = inst.pdgate("ledger", *args, timeout=300)
    check(r.returncode == 0, f"pdgate ledger {' '.join(map(str, args))}: exit {r.returncode}: "
                             f"{(r.stdout + r.stderr).strip()[-600:]}")
    return r.stdout


def leaves_of(inst, url):
    return [json.loads(x) for x in cli(inst, "export", "--db", url).splitlines()]


def code_of(r):
    try:
        return r.json().get("error")
    except ValueError:
        return None


def member(pid, k, i):
    return f"/v1/members/M{(k * 13 + i) % MEMBERS + 1:07d}"


class Load:
    """Each partner with one kept-alive connection to each node, asking for members until
    stopped; a connection the node closes or loses is made again (every 20 ms while the node is
    down). Every answer is recorded (Answer), every failed request or connection as (node,
    time)."""

    def __init__(self, inst, nodes, tokens, timeout=5):
        self.inst, self.nodes, self.tokens, self.timeout = inst, nodes, tokens, timeout
        self.answers, self.failures = [], []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(p, n, k), daemon=True)
                        for k, (p, _, _) in enumerate(PARTNERS) for n in range(len(nodes))]
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(15)
        check(not any(t.is_alive() for t in self.threads), "a client did not stop")

    def client(self, pid, node, k):
        cert = self.inst.pki.partner(pid)
        auth = {"Authorization": "Bearer " + self.tokens[pid]}
        h, i = None, 0
        while not self.stop.is_set():
            if h is None:
                try:
                    conn_at = time.monotonic()
                    h = self.nodes[node].http(cert=cert, timeout=self.timeout)
                except OSError:
                    with self.lock:
                        self.failures.append((node, time.monotonic()))
                    self.stop.wait(0.02)
                    continue
            i += 1
            sent = time.monotonic()
            try:
                r = h.request("GET", member(pid, k, i), auth)
            except (OSError, ValueError):  # the node killed mid-answer
                with self.lock:
                    self.failures.append((node, time.monotonic()))
                h.close()
                h = None
                continue
            at = time.monotonic()
            idx = r.headers.get("X-Ledger-Index")
            with self.lock:
                self.answers.append(Answer(node, pid, sent, at, r.status_code,
                                           int(idx) if idx else None,
                                           r.headers.get("X-Request-Id"),
                                           hashlib.sha256(r.content).hexdigest(),
                                           None if r.status_code == 200 else (code_of(r), r.content),
                                           conn_at))
            if r.headers.get("Connection", "").lower() == "close":
                h.close()
                h = None
            self.stop.wait(PACE_S)
        if h is not None:
            h.close()

    def mark(self):
        with self.lock:
            return len(self.answers)

    def since(self, mark):
        with self.lock:
            return self.answers[mark:]

    def first_200(self, node, seconds, sent_after):
        """The first 200 of node to a request sent after sent_after, waiting up to seconds."""
        deadline = time.monotonic() + seconds * pdtest.SLOW
        while time.monotonic() < deadline:
            with self.lock:
                for a in self.answers:
                    if a.node == node and a.status == 200 and a.sent > sent_after:
                        return a
            time.sleep(0.01)
        return None


def entries_of(leaves, answers, what):
    """Every 200 of answers has its entry: the index, the request id, the body's digest."""
    got = [a for a in answers if a.status == 200]
    eq(len({a.index for a in got}), len(got), f"{what}: no ledger index answered twice")
    missing = [(a.node + 1, a.index, a.request) for a in got
               if a.index is None or a.index >= len(leaves)
               or leaves[a.index].get("request") != a.request
               or leaves[a.index].get("digest") != a.digest]
    eq(missing[:5], [], f"{what}: 200s answered without their entry (of {len(got)})")
    return got


def read_note(d, inst):
    r = d.get("/v1/ledger/checkpoint", cert=inst.pki.partner(PARTNERS[0][0]))
    eq(r.status_code, 200, f"GET /v1/ledger/checkpoint on port {d.port}: {r.text[:200]}")
    return r.text


def consistent(inst, prover, auditor, a, b, what):
    """Checkpoint notes a and b consistent: the smaller's tree a prefix of the larger's, by a
    consistency proof that node prover's compliance API serves, checked here."""
    (sa, ra), (sb, rb) = sorted([open_note(inst, a), open_note(inst, b)])
    if sa == sb:
        eq(ra, rb, f"{what}: two checkpoints of size {sa}, one root")
        return
    r = staff_call(prover, f"/v1/ledger/proof/consistency?old={sa}&new={sb}", auditor)
    eq(r.status_code, 200, f"{what}: consistency proof {sa} -> {sb}: {r.text[:300]}")
    doc = r.json()
    eq((doc["old"], doc["new"]), (sa, sb), f"{what}: the proof's sizes")
    check(verify_consistency(sa, sb, [base64.b64decode(x) for x in doc["proof"]], ra, rb),
          f"{what}: the consistency proof {sa} -> {sb} does not verify")


def verify_with(inst, url, note, name):
    """`pdgate ledger verify --db url --checkpoint note` passes: the ledger extends note."""
    path = inst.dir / f"{name}.note"
    path.write_text(note)
    out = cli(inst, "verify", "--db", url, "--vkey", inst.path("keys/ledger.vkey"), "--interval",
              str(INTERVAL_MS), "--checkpoint", path)
    check(out.endswith("ledger OK\n") and "extends checkpoint " in out, out)
    return out


def ms(seconds):
    return f"{seconds * 1000:.0f} ms"


class Env(pdtest.Env):
    @pdtest.fixture
    def pg(self):
        return self.enter(PgServer())


@case("three nodes on one PostgreSQL: three partners over kept-alive connections to each; a "
      "suspension through node 1 refuses on nodes 2 and 3, lifted through node 3; node 2 "
      "kill -9ed under load and restarted; the three checkpoints consistent; every 200 recorded")
def _(env):
    inst = env.install(members=MEMBERS, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
    env.pg.create_database("three")
    url = env.pg.database_url("three")
    confs = [node_conf(inst, f"n{k + 1}", url) for k in range(3)]
    tokens = prepare(inst)
    officer, auditor = staff_token(inst, "officer", "officer"), staff_token(inst, "audit", "auditor")
    auths = {p: {"Authorization": "Bearer " + t} for p, t in tokens.items()}
    certs = {p: inst.pki.partner(p) for p, _, _ in PARTNERS}
    sakura = PARTNERS[0][0]
    nodes = [pdtest.Daemon(inst, conf=c) for c in confs]
    started = list(nodes)
    conns = {}
    load = None
    refusals, answers = [], []
    try:
        for d in nodes:
            d.start()
        # every partner on a kept-alive connection to every node, all at once
        for pid, _, _ in PARTNERS:
            for n, d in enumerate(nodes):
                conns[pid, n] = d.http(cert=certs[pid])

        def rounds(pid, n, count):
            out = []
            for i in range(count):
                sent = time.monotonic()
                r = conns[pid, n].request("GET", member(pid, n, i), auths[pid])
                eq(r.status_code, 200, f"{pid} on node {n + 1}: {r.text[:200]}")
                out.append(Answer(n, pid, sent, time.monotonic(), 200,
                                  int(r.headers["X-Ledger-Index"]), r.headers["X-Request-Id"],
                                  hashlib.sha256(r.content).hexdigest(), None, 0))
            return out

        with ThreadPoolExecutor(len(conns)) as ex:
            for got in ex.map(lambda key: rounds(*key, 12), list(conns)):
                answers += got
        eq(sorted({a.node for a in answers}), [0, 1, 2], "each node answered")
        eq(len({a.index for a in answers}), len(answers), "no index given twice")

        # suspended through node 1: the next request of the kept-alive connections to nodes 2
        # and 3 refused, each refusal with its entry; the other partners served on
        r = staff_call(nodes[0], f"/v1/partners/{sakura}/suspend", officer,
                       {"reason": "three-node drill"}, method="POST")
        eq(r.status_code, 200, f"suspend through node 1: {r.text[:300]}")
        suspended_at = r.json()["ledger_index"]
        for n in (1, 2, 0):
            for path in (f"/v1/members/M{n + 1:07d}", "/v1/members?limit=3"):
                r = conns[sakura, n].request("GET", path, auths[sakura])
                check_error(r, 403, "partner_suspended", f"node {n + 1} {path}, kept-alive")
                check(b"M000" not in r.content, f"released by node {n + 1}: {r.content[:200]!r}")
                idx = r.headers.get("X-Ledger-Index", "")
                check(idx.isdigit(), f"node {n + 1}'s refusal of {path} recorded: {r.headers}")
                refusals.append((n, int(idx)))
            check(not conns[sakura, n].closed_by_peer(0.05), f"node {n + 1}'s connection kept")
        for pid, _, _ in PARTNERS[1:]:
            for n in range(3):
                answers += rounds(pid, n, 1)
        # lifted through node 3: nodes 1 and 2 serve again on their kept-alive connections
        r = staff_call(nodes[2], f"/v1/partners/{sakura}/resume", officer, method="POST")
        eq((r.status_code, r.json().get("changed")), (200, True), f"resume through node 3: {r.text[:300]}")
        for n in (0, 1):
            deadline = time.monotonic() + 5 * pdtest.SLOW
            while (r := conns[sakura, n].request("GET", "/v1/members/M0000009",
                                                 auths[sakura])).status_code != 200:
                check_error(r, 403, "partner_suspended", f"node {n + 1} before it heard of the lift")
                check(time.monotonic() < deadline, f"node {n + 1} did not hear of the lift in 5 s")
                time.sleep(0.05)
            answers.append(Answer(n, sakura, 0, 0, 200, int(r.headers["X-Ledger-Index"]),
                                  r.headers["X-Request-Id"], hashlib.sha256(r.content).hexdigest(),
                                  None, 0))
            answers += rounds(sakura, n, 2)
        for c in conns.values():
            c.close()

        # node 2 kill -9ed under load: nodes 1 and 3 answer every request with a 200
        load = Load(inst, nodes, tokens)
        check(all(load.first_200(n, 20, 0) for n in range(3)), "the three nodes serve under load")
        time.sleep(1.0)
        t_kill = time.monotonic()
        nodes[1].kill()
        time.sleep(1.5)
        t_restart = time.monotonic()
        nodes[1] = pdtest.Daemon(inst, conf=confs[1])
        started.append(nodes[1])
        nodes[1].start()
        back = load.first_200(1, 20, t_restart)
        check(back is not None, "node 2 restarted but answered no 200 within 20 s")
        t_back = back.at
        time.sleep(1.0)
        load.finish()
        during = [a for a in load.answers if a.node != 1 and t_kill <= a.at <= t_back]
        eq(sorted({a.status for a in during}), [200], "nodes 1 and 3 while node 2 was down")
        check(sum(1 for a in during if a.node == 0) > 0 and sum(1 for a in during if a.node == 2) > 0,
              f"nodes 1 and 3 both served while node 2 was down ({len(during)} answers)")
        stray = [(n + 1, at) for n, at in load.failures if n != 1]
        eq(stray[:5], [], "requests or connections of nodes 1 and 3 that failed")
        eq(sorted({a.status for a in load.answers}), [200], "every answer under load")
        # node 2 caught up: its first entry after the restart follows the others' entries
        before = [a.index for a in load.answers if a.at < t_restart]
        check(back.index > max(before), f"node 2's first entry {back.index} after the restart "
                                        f"follows the others' (up to {max(before)})")

        # node 2 proves, by receipts, entries that nodes 1 and 3 answered while it was down
        time.sleep(3 * INTERVAL_MS / 1000)  # in a checkpoint by now
        for a in during[:: max(1, len(during) // 3)][:3]:
            r = nodes[1].get(f"/v1/ledger/receipts/{a.index}", cert=certs[a.partner])
            eq(r.status_code, 200, f"node 2's receipt of entry {a.index} (node {a.node + 1}'s): "
                                   f"{r.text[:200]}")
            eq(json.loads(json.loads(r.text)["leaf"])["request"], a.request, f"receipt {a.index}")
            bundle = env.tmp / f"receipt-{a.index}.json"
            bundle.write_text(r.text)
            rr = inst.pdgate("ledger", "check-proof", bundle, "--vkey", inst.path("keys/ledger.vkey"))
            eq(rr.returncode, 0, f"check-proof of node 2's receipt of {a.index}: {rr.stderr.strip()}")

        # the checkpoints the three serve: each consistent with each, by proofs from each
        notes = [read_note(d, inst) for d in nodes]
        for j, d in enumerate(nodes):
            for i in range(3):
                if i != j:
                    consistent(inst, d, auditor, notes[i], notes[j],
                               f"node {i + 1}'s and node {j + 1}'s checkpoints, proved by node {j + 1}")
        for d in nodes:
            d.term()
    finally:
        if load is not None:
            load.stop.set()
        for c in conns.values():
            c.close()
        for d in nodes:
            d.kill()
    for d in started:
        d.check_sanitizer()
    leaves = leaves_of(inst, url)
    got = entries_of(leaves, answers + load.answers, "three nodes")
    for n, idx in refusals:
        eq((leaves[idx]["kind"], leaves[idx]["reason"], leaves[idx]["partner"]),
           ("deny", "partner_suspended", sakura), f"node {n + 1}'s refusal, entry {idx}")
    resumed = [x["index"] for x in leaves if x["kind"] == "admin" and x["admin"]["action"] == "partner_resume"]
    eq(len(resumed), 1, "one partner_resume entry")
    between = [x["index"] for x in leaves if suspended_at < x["index"] < resumed[0]
               and x["kind"] == "release" and x.get("partner") == sakura]
    eq(between, [], f"releases to {sakura} between the suspension and the lift")
    admin = [x["admin"]["action"] for x in leaves if x["kind"] == "admin"]
    eq((admin.count("gateway_start"), admin.count("gateway_stop")), (4, 3),
       "gateway_start per run (node 2 twice), gateway_stop per clean stop")
    for k, note in enumerate(notes):
        verify_with(inst, url, note, f"node{k + 1}")
    out = cli(inst, "verify", "--db", url, "--vkey", inst.path("keys/ledger.vkey"))
    check(out.endswith("ledger OK\n") and f"size {len(leaves)}\n" in out, out)
    per = [sum(1 for a in got if a.node == n) for n in range(3)]
    print(f"# figure: three nodes: {len(got)} 200s ({per[0]}, {per[1]}, {per[2]} by nodes 1-3), "
          f"{len(refusals)} refusals while suspended, {len(leaves)} entries; node 2 down "
          f"{ms(t_back - t_kill)} from its kill to its first 200 after the restart", flush=True)


def failover(env, how):
    """Two nodes under load on a primary and its synchronous standby; the primary killed (how:
    "power" or "postmaster", pgserver.PgServer.crash), the standby promoted OUTAGE_S later."""
    primary = env.enter(PgServer(dbname="ha"))
    standby = env.enter(PgServer(dbname="ha", standby_of=primary))
    url = pgserver.multi_url([primary, standby], "ha")
    inst = env.install(members=MEMBERS, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
    confs = [node_conf(inst, f"ha{k + 1}", url) for k in range(2)]
    tokens = prepare(inst)
    officer, auditor = staff_token(inst, "officer", "officer"), staff_token(inst, "audit", "auditor")
    r = inst.pdgate("serve", "-c", confs[0], "-n")
    eq((r.returncode, r.stdout.strip()), (0, "configuration OK"), f"serve -n: {r.stderr.strip()}")
    nodes = [pdtest.Daemon(inst, conf=c) for c in confs]
    load = None
    try:
        for d in nodes:
            d.start()
        load = Load(inst, nodes, tokens)
        check(all(load.first_200(n, 20, 0) for n in range(2)), "both nodes serve under load")
        time.sleep(1.0)
        eq(primary.psql("SELECT sync_state FROM pg_stat_replication", dbname="postgres").strip(),
           "sync", "the standby is synchronous")
        before_notes = [read_note(d, inst) for d in nodes]
        t_crash = time.monotonic()
        primary.crash(postmaster_only=how == "postmaster")
        t_down = time.monotonic()
        time.sleep(OUTAGE_S)
        t_promote = time.monotonic()
        standby.promote()
        t_promoted = time.monotonic()
        backs = [load.first_200(n, 30, t_promote) for n in range(2)]
        check(all(backs), f"service back on the promoted standby within 30 s: {backs}")
        time.sleep(1.0)
        load.finish()
        # the shared state on the promoted standby: node 2 hears of a suspension and of its
        # lift through node 1 by the notifications of its listening connection, made again on
        # the promoted standby (whoami shows the node's copy and writes no entry: nothing of
        # node 2 commits, which would read the state too), and refuses in between, recorded
        sakura = PARTNERS[0][0]
        raw = nodes[1].http(cert=inst.pki.partner(sakura))
        auth = {"Authorization": "Bearer " + tokens[sakura]}

        def heard(suspended, what):
            t0 = time.monotonic()
            while raw.request("GET", "/v1/whoami").json()["suspended"] != suspended:
                check(time.monotonic() < t0 + 5 * pdtest.SLOW,
                      f"node 2 did not hear of the {what} through node 1 within 5 s")
                time.sleep(0.05)

        eq(raw.request("GET", "/v1/members/M0000001", auth).status_code, 200, "node 2, before")
        r = staff_call(nodes[0], f"/v1/partners/{sakura}/suspend", officer, {"reason": "drill"},
                       method="POST")
        eq(r.status_code, 200, f"suspend through node 1 after the failover: {r.text[:300]}")
        heard(True, "suspension")
        r = raw.request("GET", "/v1/members/M0000002", auth)
        check_error(r, 403, "partner_suspended", "node 2 after the suspension")
        refusal = int(r.headers["X-Ledger-Index"])
        r = staff_call(nodes[0], f"/v1/partners/{sakura}/resume", officer, method="POST")
        eq(r.status_code, 200, f"resume through node 1: {r.text[:300]}")
        heard(False, "lift")
        eq(raw.request("GET", "/v1/members/M0000003", auth).status_code, 200, "node 2, lifted")
        raw.close()
        after_notes = [read_note(d, inst) for d in nodes]
        # the checkpoints read before and after, consistent: proofs from each node
        for j, d in enumerate(nodes):
            for i in range(2):
                consistent(inst, d, auditor, before_notes[i], after_notes[j],
                           f"node {i + 1}'s checkpoint before, node {j + 1}'s after")
        for d in nodes:
            d.term()
    finally:
        if load is not None:
            load.stop.set()
        for d in nodes:
            d.kill()
    for d in nodes:
        d.check_sanitizer()
    answers = load.answers
    # while the primary was down and the standby not yet promoted: 503 ledger_unavailable to
    # every request, on both nodes, nothing released
    outage = [a for a in answers if a.sent >= t_down and a.at <= t_promote]
    per = [[a for a in outage if a.node == n] for n in range(2)]
    check(all(per), f"both nodes answered while the primary was down ({[len(x) for x in per]})")
    bad = [(a.node + 1, a.status, a.code and a.code[0]) for a in outage
           if a.status != 503 or a.code[0] != "ledger_unavailable"]
    eq(bad[:5], [], "answers other than 503 ledger_unavailable while the primary was down")
    leaked = [a for a in outage if b'"M0' in a.code[1]]
    eq(leaked[:3], [], "a member released in a 503")
    # each node serves every request sent once its first 200 after the promotion came back (one
    # sent a moment before that answer may have reached the node first and been in the last
    # batch that failed)
    after = [a for a in answers if a.sent > backs[a.node].at]
    eq(sorted({a.status for a in after}), [200], "the answers after service came back")
    # not a request or connection failed: the nodes stayed up throughout
    eq(load.failures[:5], [], "requests or connections that failed")
    # the promoted database holds every 200, of before the crash and after the promotion
    leaves = leaves_of(inst, standby.database_url("ha"))
    got = entries_of(leaves, answers, "failover")
    eq((leaves[refusal]["kind"], leaves[refusal]["reason"]), ("deny", "partner_suspended"),
       f"node 2's refusal after the failover, entry {refusal}")
    pre = [a for a in got if a.at < t_crash]
    post = [a for a in got if a.sent > t_promote]
    check(len(pre) > 20 and len(post) > 20, f"200s before the crash {len(pre)}, after {len(post)}")
    for k, note in enumerate(before_notes + after_notes):
        verify_with(inst, standby.database_url("ha"), note, f"ha-{k}")
    out = cli(inst, "verify", "--db", url, "--vkey", inst.path("keys/ledger.vkey"))
    check(out.endswith("ledger OK\n") and f"size {len(leaves)}\n" in out, out)
    first503 = [min(a.at for a in x if a.status == 503) - t_crash for x in per]
    gone = [b.at - t_crash for b in backs]
    waits = sorted(a.at - a.sent for a in outage)
    print(f"# figure: failover ({how}): the primary killed (its processes gone in "
          f"{ms(t_down - t_crash)}); 503 ledger_unavailable on both nodes "
          f"({len(outage)} answers, p99 {ms(waits[int(len(waits) * 0.99)])}); "
          f"pg_ctl promote {ms(t_promote - t_crash)} after the crash (it returned in "
          f"{ms(t_promoted - t_promote)}); first 200 {ms(backs[0].at - t_promote)} and "
          f"{ms(backs[1].at - t_promote)} after the promote began: 503s for {ms(gone[0])} and "
          f"{ms(gone[1])} in all (first 503 {ms(first503[0])}, {ms(first503[1])} after the "
          f"crash); {len(pre)} 200s before, {len(post)} after, {len(leaves)} entries", flush=True)



@case("a synchronous standby promoted after a power cut of the primary (every process killed at "
      "once), two nodes under load: 503 ledger_unavailable until the promotion, then service back "
      "by itself; every 200 in the promoted database, checkpoints before and after consistent")
def _(env):
    failover(env, "power")


@case("a synchronous standby promoted after kill -9 of the primary's postmaster (its sessions "
      "ended on their own), two nodes under load: the same")
def _(env):
    failover(env, "postmaster")


# how long a node waits for a byte of its commit's answer before it gives the session up
# (ledger_pg.c, silence_ms: the writer's statement_timeout and 5 s)
SILENCE_S = 35


@case("a synchronous standby promoted while the primary hangs (every process stopped: its "
      "connections open, nothing answered): each node gives its sessions up after 35 s of "
      "silence, answers 503 ledger_unavailable or commits on the promoted standby",
      background=True)
def _(env):
    primary = env.enter(PgServer(dbname="ha"))
    standby = env.enter(PgServer(dbname="ha", standby_of=primary))
    url = pgserver.multi_url([primary, standby], "ha")
    inst = env.install(members=MEMBERS, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
    confs = [node_conf(inst, f"hung{k + 1}", url) for k in range(2)]
    tokens = prepare(inst)
    auditor = staff_token(inst, "audit", "auditor")
    nodes = [pdtest.Daemon(inst, conf=c) for c in confs]
    load = None
    wait = (SILENCE_S + 20) * pdtest.SLOW  # the silence, a connect timeout, and some
    try:
        for d in nodes:
            d.start()
        load = Load(inst, nodes, tokens, timeout=wait + 10)
        check(all(load.first_200(n, 20, 0) for n in range(2)), "both nodes serve under load")
        time.sleep(1.0)
        before_notes = [read_note(d, inst) for d in nodes]
        t_freeze = time.monotonic()
        primary.freeze()
        time.sleep(OUTAGE_S)
        t_promote = time.monotonic()
        standby.promote()
        backs = [load.first_200(n, wait, t_promote) for n in range(2)]
        check(all(backs), f"service back on the promoted standby within {wait:.0f} s: {backs}")
        time.sleep(1.0)
        load.finish()
        # the old primary fenced (killed, as a failover manager does): the sessions still on it
        # end at once
        primary.stop()
        after_notes = [read_note(d, inst) for d in nodes]
        for j, d in enumerate(nodes):
            for i in range(2):
                consistent(inst, d, auditor, before_notes[i], after_notes[j],
                           f"node {i + 1}'s checkpoint before, node {j + 1}'s after")
        for d in nodes:
            d.term()
    finally:
        if load is not None:
            load.stop.set()
        for d in nodes:
            d.kill()
    for d in nodes:
        d.check_sanitizer()
    answers = load.answers
    eq(load.failures[:5], [], "requests or connections that failed (none answered in time)")
    # what was asked while the primary hung: answered, by each node, within the silence and a
    # connect timeout — a 503 ledger_unavailable (nothing released) for what was in a
    # transaction when the session was given up, else a 200 committed on the promoted standby
    # (a transaction's first statement is sent again on the new session); nothing committed
    # before the promotion (0.5 s: what was answered as the primary hung)
    hung = [[a for a in answers if a.node == n and t_freeze + 0.5 < a.at <= backs[n].at]
            for n in range(2)]
    check(all(hung), f"both nodes answered what was asked while the primary hung "
                     f"({[len(x) for x in hung]})")
    bad = [(a.node + 1, a.status, a.code and a.code[0]) for x in hung for a in x
           if (a.status, a.code and a.code[0]) != (503, "ledger_unavailable")
           and not (a.status == 200 and a.at > t_promote)]
    eq(bad[:5], [], "answers other than 503 ledger_unavailable or a 200 after the promotion, "
                    "while the primary hung")
    eq([a for x in hung for a in x if a.code and b'"M0' in a.code[1]][:3], [],
       "a member released in a 503")
    longest = [max(a.at - a.sent for a in answers if a.node == n) for n in range(2)]
    check(all(SILENCE_S - 5 < x < (SILENCE_S + 10) * pdtest.SLOW for x in longest),
          f"the longest waits {longest} s: each node waits for its sessions up to {SILENCE_S} s, "
          f"then connects again")
    n503 = sum(1 for x in hung for a in x if a.status == 503)
    leaves = leaves_of(inst, standby.database_url("ha"))
    got = entries_of(leaves, answers, "hung primary")
    pre = [a for a in got if a.at < t_freeze]
    post = [a for a in got if a.sent > t_promote]
    check(len(pre) > 20 and len(post) > 20, f"200s before {len(pre)}, after {len(post)}")
    for k, note in enumerate(before_notes + after_notes):
        verify_with(inst, standby.database_url("ha"), note, f"hung-{k}")
    out = cli(inst, "verify", "--db", standby.database_url("ha"), "--vkey",
              inst.path("keys/ledger.vkey"))
    check(out.endswith("ledger OK\n") and f"size {len(leaves)}\n" in out, out)
    print(f"# figure: failover (hung primary, the standby promoted "
          f"{ms(t_promote - t_freeze)} after): what was asked meanwhile answered after at most "
          f"{longest[0]:.1f} s and {longest[1]:.1f} s ({n503} of {sum(map(len, hung))} with "
          f"503 ledger_unavailable, the others 200 from the promoted standby); the first 200 "
          f"{backs[0].at - t_freeze:.1f} s and {backs[1].at - t_freeze:.1f} s after the primary "
          f"hung; {len(pre)} 200s before, {len(post)} after, {len(leaves)} entries", flush=True)

if __name__ == "__main__":
    pdtest.run(Env)
