#!/usr/bin/env python3
"""Crash safety of a cluster: two `pdgate serve` nodes on one PostgreSQL ledger (a server of the
suite's own, tests/e2e/pgserver.py), three partners asking for members on kept-alive
connections to both nodes, and one of the two nodes `kill -9`ed at a random moment, 20 times
(which one drawn at random), restarted each time — and about one restart in four killed again
0-0.3 s after it began (opening the ledger, catching up, writing its first entry). For each kill: the other node served on
throughout, every one of its answers from the kill until the restarted node's first 200 a 200
(counted); after the restart `pdgate ledger verify --db postgresql://… --checkpoint NOTE` passes
with the last checkpoint a client read from the killed node before the kill (a consistency
proof from its size). At the end every 200 a partner got from either node has its entry, with
the request id and the SHA-256 of the body it was sent, and each run its gateway_start entry.

PDFAULTS_SEED fixes the moments and the victims (printed at the start); PDFAULTS_KILLS the
number of kills.
"""

import hashlib
import os
import random
import subprocess
import threading
import time
from collections import namedtuple

import faultlib
from faultlib import check, eq, figure, pdtest, scenario
from pdtest import case
import pgserver

KILLS = int(os.environ.get("PDFAULTS_KILLS") or 20)
PARTNERS = [("sakura-mail", "CT-2026-0001", "contact"),
            ("shiken-proctor", "CT-2026-0002", "service_delivery"),
            ("maison-partners", "CT-2026-0003", "service_delivery")]
MEMBERS = 50
INTERVAL_MS = 100
# a pause between a connection's requests: the two nodes, PostgreSQL and the clients share two
# cores, and what is looked at is the kills, not the rate
PACE_S = 0.004
# the share of the kills after which the restarted node is killed again while it starts
EARLY = 0.25

# one answer a client got: its node, when it was sent and came, status, X-Ledger-Index,
# X-Request-Id, the SHA-256 of the body, and when its connection was made
# every node's run, killed or not (their logs are checked for sanitizer reports)
STARTED = []
Answer = namedtuple("Answer", "node sent at status index request digest conn_at")


class Env(pdtest.Env):
    @pdtest.fixture
    def pg(self):
        return self.enter(pgserver.PgServer())


def node_conf(inst, name, url):
    """A configuration of its own for one node of inst on the PostgreSQL ledger url: its own
    listeners, state database and log (as tests/e2e/test_cluster.py makes them)."""
    return inst.variant(name, {("ledger", "path"): None, ("ledger", "url"): url,
                               ("partner", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                               ("compliance", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                               ("gateway", "state"): f"state-{name}.db"})


class Load:
    """Three partners, each with one kept-alive connection to each node, asking for members
    until stopped; a connection the node closes or loses is made again (at once, then every
    20 ms while the node is down). Every answer is recorded: (node, time it came, status,
    X-Ledger-Index, X-Request-Id, SHA-256 of the body, time its connection was made); every
    failed request or connection: (node, time)."""

    def __init__(self, inst, nodes, tokens):
        self.inst, self.nodes, self.tokens = inst, nodes, tokens
        self.answers, self.failures = [], []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(p, n, k), daemon=True)
                        for k, (p, _, _) in enumerate(PARTNERS) for n in range(len(nodes))]

    def start(self):
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
                    h = self.nodes[node].http(cert=cert, timeout=5)
                except OSError:
                    with self.lock:
                        self.failures.append((node, time.monotonic()))
                    self.stop.wait(0.02)
                    continue
            i += 1
            sent = time.monotonic()
            try:
                r = h.request("GET", f"/v1/members/M{(k * 17 + i) % MEMBERS + 1:07d}", auth)
            except (OSError, ValueError):  # the node is killed mid-answer
                with self.lock:
                    self.failures.append((node, time.monotonic()))
                h.close()
                h = None
                continue
            at = time.monotonic()
            idx = r.headers.get("X-Ledger-Index")
            with self.lock:
                self.answers.append(Answer(node, sent, at, r.status_code,
                                           int(idx) if idx else None,
                                           r.headers.get("X-Request-Id"),
                                           hashlib.sha256(r.content).hexdigest(), conn_at))
            if r.headers.get("Connection", "").lower() == "close":
                h.close()
                h = None
            self.stop.wait(PACE_S)
        if h is not None:
            h.close()

    def since(self, start):
        """The answers and failures recorded from position start (a (len, len) pair) on."""
        with self.lock:
            return self.answers[start[0]:], self.failures[start[1]:]

    def mark(self):
        with self.lock:
            return len(self.answers), len(self.failures)


def spawn(nodes, n, inst, conf):
    """Starts node n's pdgate serve without waiting for it to be ready (to kill it starting)."""
    d = nodes[n] = pdtest.Daemon(inst, conf=conf)
    STARTED.append(d)
    with open(d.logfile, "ab") as log:
        d.proc = subprocess.Popen([pdtest.PDGATE, "serve", "-c", str(conf)],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=inst.dir)


def read_checkpoint(d, inst):
    """The latest checkpoint note, as a partner reads it from node d, or None."""
    try:
        r = d.get("/v1/ledger/checkpoint", cert=inst.pki.partner(PARTNERS[0][0]), timeout=5)
    except OSError:
        return None
    return r.text if r.status_code == 200 else None


def first_200(load, mark, node, seconds, after=0.0):
    """The time of node's first 200 after mark on a connection made after `after` (a killed
    node's last answers may still be read after the kill), waiting up to seconds."""
    deadline = time.monotonic() + seconds * pdtest.SLOW
    while time.monotonic() < deadline:
        answers, _ = load.since(mark)
        for a in answers:
            if a.node == node and a.status == 200 and a.conn_at > after:
                return a.at
        time.sleep(0.01)
    return None


def ms(seconds):
    return f"{seconds * 1000:.0f} ms"


@case(f"two nodes on one PostgreSQL, one kill -9ed at random moments under load from 3 partners, "
      f"{KILLS} times: the other serves on, the ledger extends the last checkpoint seen; every "
      "200 has its entry")
def kills(env):
    why = pgserver.available()
    if why:
        print(f"# skip: cannot start PostgreSQL: {why}")
        return
    seed = int(os.environ.get("PDFAULTS_SEED") or time.time())
    print(f"# seed {seed} (PDFAULTS_SEED)", flush=True)
    rng = random.Random(seed)
    inst = env.install(members=MEMBERS, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
    faultlib.unlimit(inst, *[c for _, c, _ in PARTNERS])
    tokens = {p: faultlib.token(inst, c, purpose, p) for p, c, purpose in PARTNERS}
    url = env.pg.url
    vkey = str(inst.path("keys/ledger.vkey"))
    confs = [node_conf(inst, f"node{n + 1}", url) for n in range(2)]
    nodes = [pdtest.Daemon(inst, conf=c) for c in confs]
    STARTED[:] = nodes
    notes = env.tmp / "checkpoints"
    notes.mkdir()
    rounds = []  # per kill: (victim, the other's 200s meanwhile, time to ready, to first 200)
    down = [[], []]  # per node: (kill, first 200 after the restart)
    early = 0  # kills of a node while it was starting again
    waits = []  # the surviving node's answer times while the other was down
    proofs = 0
    load = Load(inst, nodes, tokens)
    try:
        for d in nodes:
            d.start()
        load.start()
        check(first_200(load, (0, 0), 0, 20) and first_200(load, (0, 0), 1, 20),
              "both nodes serve")
        for round_ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.0))
            victim = rng.randrange(2)
            other = 1 - victim
            note = read_checkpoint(nodes[victim], inst)
            mark = load.mark()
            t_kill = time.monotonic()
            nodes[victim].kill()
            if rng.random() < EARLY:
                # killed again while it starts: opening the ledger, catching up, its first entry
                spawn(nodes, victim, inst, confs[victim])
                time.sleep(rng.uniform(0.0, 0.3))
                nodes[victim].kill()
                early += 1
            t_restart = time.monotonic()
            nodes[victim] = pdtest.Daemon(inst, conf=confs[victim])
            STARTED.append(nodes[victim])
            nodes[victim].start()
            t_ready = time.monotonic()
            t_back = first_200(load, mark, victim, 20, after=t_restart)
            check(t_back is not None, f"kill {round_ + 1}: node {victim + 1} restarted but "
                                      f"answered no 200 within 20 s")
            answers, failures = load.since(mark)
            window = [a for a in answers if a.node == other and t_kill <= a.at <= t_back]
            ok = sum(1 for a in window if a.status == 200)
            bad = [a.status for a in window if a.status != 200]
            lost = [f for f in failures if f[0] == other and f[1] <= t_back]
            eq((bad[:5], len(lost)), ([], 0),
               f"kill {round_ + 1} of node {victim + 1}: node {other + 1}'s answers other than "
               f"200 and requests or connections failed from the kill to the restart")
            check(ok > 0, f"kill {round_ + 1}: node {other + 1} answered no 200 in the "
                          f"{ms(t_back - t_kill)} node {victim + 1} was down")
            if note is not None:
                seen = notes / f"checkpoint-{round_}"
                seen.write_text(note)
                r = inst.pdgate("ledger", "verify", "--db", url, "--vkey", vkey, "--interval",
                                str(INTERVAL_MS), "--checkpoint", seen, timeout=120)
                check(r.returncode == 0 and r.stdout.endswith("ledger OK\n")
                      and "extends checkpoint " in r.stdout,
                      f"kill {round_ + 1}: verify --checkpoint: "
                      f"{(r.stdout + r.stderr).strip()[-500:]}")
                proofs += 1
            waits += [a.at - a.sent for a in window]
            rounds.append((victim, ok, t_ready - t_kill, t_back - t_kill))
            down[victim].append((t_kill, t_back))
        load.finish()
        for d in nodes:
            d.term()
    finally:
        load.stop.set()
        for d in nodes:
            d.kill()
    for d in STARTED:  # the killed runs' logs too
        d.check_sanitizer()
    eq(proofs, KILLS, "a checkpoint read before each kill, and its consistency proof")
    verified = faultlib.verify(inst, conf=confs[0])
    check("\ncheckpoint " in verified, verified)
    leaves = faultlib.export(inst, conf=confs[0])
    # nothing refused by either node at any time, and no request or connection failed but to
    # a node killed (until it served again)
    eq(sorted({a.status for a in load.answers}), [200], "the statuses answered")
    stray = [(n, at) for n, at in load.failures
             if not any(k <= at <= b for k, b in down[n])]
    eq(stray[:5], [], "requests or connections failed outside the node's kill-to-restart")
    got = load.answers
    check(len(got) > KILLS * 20, f"only {len(got)} answers under load")
    eq(len({a.index for a in got}), len(got), "no ledger index answered twice")
    missing = [(a.index, a.request) for a in got
               if a.index >= len(leaves) or leaves[a.index].get("request") != a.request
               or leaves[a.index].get("digest") != a.digest]
    eq(missing[:5], [], f"200s answered without their entry (of {len(got)})")
    admin = [x["admin"]["action"] for x in leaves if x["kind"] == "admin"]
    starts = admin.count("gateway_start")
    check(KILLS + 2 <= starts <= KILLS + 2 + early,
          f"{starts} gateway_start entries: one per run ({KILLS + 2}, and up to {early} of the "
          "runs killed while starting)")
    eq(admin.count("gateway_stop"), 2, "a gateway_stop entry per clean stop")
    per_node = [sum(1 for a in got if a.node == n) for n in range(2)]
    killed = [sum(1 for r in rounds if r[0] == n) for n in range(2)]
    served = sorted(r[1] for r in rounds)
    ready = sorted(r[2] for r in rounds)
    back = sorted(r[3] for r in rounds)
    scenario("crash-cluster", "kill -9 of one node of two on one PostgreSQL (node 1 "
             f"{killed[0]}, node 2 {killed[1]} times), at a random moment 0.3-1.0 s apart, under "
             "load from 3 partners on a kept-alive connection to each node, restarted each time "
             f"({early} times killed again 0-0.3 s into its restart)", KILLS,
             f"the other node answered 200 to each request from the kill to the restarted "
             f"node's first 200, every answer of either node a 200, no request failed but to "
             f"the node killed; after each restart ledger verify --db postgresql:// "
             f"--checkpoint with the last checkpoint read from the killed node ({proofs} "
             f"consistency proofs); each of the {len(got)} 200s answered has its entry with its "
             f"request id and the body's digest; {starts} gateway_start entries")
    figure(f"crash-cluster: {len(got)} requests served ({per_node[0]} by node 1, {per_node[1]} "
           f"by node 2) across {KILLS} kills, {len(leaves)} entries")
    figure(f"crash-cluster: the surviving node's 200s while the other was down: min "
           f"{served[0]}, median {served[len(served) // 2]}, max {served[-1]} (of {len(waits)} "
           f"answers, p99 {ms(faultlib.p99(waits))}, worst {ms(max(waits))})")
    figure(f"crash-cluster: kill to restarted node ready {ms(ready[0])}-{ms(ready[-1])} (median "
           f"{ms(ready[len(ready) // 2])}), to its first 200 {ms(back[0])}-{ms(back[-1])} "
           f"(median {ms(back[len(back) // 2])})")


if __name__ == "__main__":
    pdtest.run(Env)
