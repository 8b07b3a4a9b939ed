#!/usr/bin/env python3
"""`pdgate ledger backup` and `pdgate anonymize` on a ledger in PostgreSQL (docs/cluster.md),
with a server of the suite's own (pgserver.py) and real daemons.

The backup is taken while two nodes serve under a load of member requests (after one of them
stopped and started again, so that the ledger holds one node's gateway_stop followed by the
other's entries): it verifies with the installation's verifier key, holds every entry answered
200 before it began (the same request at the same index), its checkpoint note is one the
nodes signed, and the nodes' later checkpoints extend it (`ledger verify --checkpoint`, a
consistency proof). Its state.db holds the node's state with the database's revoked tokens.
Restored by `pdgate ledger migrate` into a new database, a node serves from it and `ledger
verify --db` passes. The refusals: a database out of reach, one that is not pdgate's, another
origin's key, DEST existing — each exit status, the reason, and nothing left at DEST.

`pdgate anonymize` with `[ledger] url`: through a node's compliance listener when the node of
-c serves, by itself (one more writer on the shared store) when it does not — also while
another node serves — its entry in the shared ledger, an id given twice refused, verify passing.
"""

import base64
import glob
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

import pdtest
import pywitness
from pdtest import case, check, eq
from pgserver import PgServer
from test_witness import Witness, _Stopper

CONTRACT, PARTNER, PURPOSE = "CT-2026-0001", "sakura-mail", "contact"
INTERVAL_MS = 200
PAGES = int(os.environ.get("PDTEST_PG_BACKUP_PAGES", "20"))  # × 1000 entries, for the figures
WINDOW_S = 6
LOADGEN_SRC = pdtest.REPO / "tests" / "bench" / "loadgen.c"

SPEC = {"title": "会員属性統計用データ", "recipient": None, "k": 2,
        "quasi": {"birth_date": "age_band:10", "gender": None, "address.prefecture": None},
        "attributes": ["membership.joined:year"]}


def pd(inst, *args, ok=True, **kw):
    r = inst.pdgate(*args, **kw)
    if ok:
        check(r.returncode == 0, f"pdgate {' '.join(map(str, args))}: exit {r.returncode}: "
                                 f"{r.stderr.strip()[-800:]}")
    return r


def unlimited(inst):
    p = inst.path(f"contracts/{CONTRACT}.json")
    c = json.loads(p.read_text(encoding="utf-8"))
    c.pop("limits", None)
    c["valid_until"] = "2099-12-31T23:59:59+09:00"
    p.write_text(json.dumps(c, ensure_ascii=False, indent=2), encoding="utf-8")


def token(inst):
    return pd(inst, "token", "issue", "-c", inst.conf, "--contract", CONTRACT, "--purpose",
              PURPOSE, "--ttl", "1h", "--cert", inst.pki.partner(PARTNER).pem).stdout.strip()


def jti_of(tok):
    part = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["jti"]


def node_conf(inst, name, url):
    """One node's configuration on the PostgreSQL ledger url: its own listeners, state, log."""
    return inst.variant(name, {("ledger", "path"): None, ("ledger", "url"): url,
                               ("partner", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                               ("compliance", "listen"): f"127.0.0.1:{pdtest.free_port()}",
                               ("gateway", "state"): f"state-{name}.db"})


def spread(daemons, tok, n, threads=8):
    """n member requests over the daemons in turn; [(index, request id)] of the answers."""
    cert = daemons[0].install.pki.partner(PARTNER)
    auth = {"Authorization": "Bearer " + tok}

    def one(i):
        r = daemons[i % len(daemons)].get(f"/v1/members/M{1 + i % 25:07d}", cert=cert, headers=auth)
        eq(r.status_code, 200, f"request {i}: {r.text[:200]}")
        return int(r.headers["X-Ledger-Index"]), r.headers["X-Request-Id"]

    with ThreadPoolExecutor(threads) as ex:
        return list(ex.map(one, range(n)))


def officer_call(d, conf, path, body):
    """An officer's POST to the compliance listener of node d (its own port, from its conf)."""
    inst = d.install
    tok = pd(inst, "token", "issue", "-c", inst.conf, "--staff", "officer", "--role", "officer",
             "--ttl", "1h").stdout.strip()
    port = int(inst.get("compliance", "listen", conf=conf).rpartition(":")[2])
    return requests.post(f"https://127.0.0.1:{port}{path}", json=body, verify=str(inst.server_ca),
                         headers={"Authorization": f"Bearer {tok}"}, timeout=30 * pdtest.SLOW)


def leaves(inst, db):
    return [json.loads(x) for x in pd(inst, "ledger", "export", "--db", db).stdout.splitlines()]


def leftovers(dest):
    return [p for p in [str(dest)] if os.path.lexists(p)] + glob.glob(f"{dest}.tmp-*")


def refused(inst, conf, dest, status, words, extra=()):
    r = pd(inst, "ledger", "backup", "-c", conf, *extra, dest, ok=False)
    eq(r.returncode, status, f"exit status (stderr {r.stderr.strip()!r})")
    check(any(w in r.stderr for w in words), f"expected one of {words} in {r.stderr.strip()!r}")
    check("nothing was written to" in r.stderr and "backup OK" not in r.stdout,
          f"says: {r.stdout!r} {r.stderr!r}")
    eq(leftovers(dest), [], "left behind")
    return r


class Env(pdtest.Env):
    @pdtest.fixture
    def pg(self):
        return self.enter(PgServer())

    @pdtest.fixture
    def loadgen(self):
        """tests/bench/loadgen, built here if the bench has not built a fresh one."""
        built = pdtest.REPO / "build" / "bench" / "loadgen"
        if built.exists() and built.stat().st_mtime >= LOADGEN_SRC.stat().st_mtime:
            return built
        out = self.tmp / "loadgen"
        r = subprocess.run(["cc", "-O2", "-std=gnu11", "-o", str(out), str(LOADGEN_SRC), "-lssl",
                            "-lcrypto", "-lpthread"], capture_output=True, text=True)
        check(r.returncode == 0, f"building loadgen: {r.stderr[-800:]}")
        return out

    def load(self, d, tok, seconds):
        """loadgen against d for seconds after a 1 s warm-up; (Popen, stdout file)."""
        pki = d.install.dir / "pki"
        out = open(self.tmp / f"loadgen-{time.monotonic_ns()}.json", "w+")
        cmd = [str(self.loadgen), "-p", str(d.port), "--ca", str(pki / "server-ca.pem"),
               "--cert", str(pki / "partners" / f"{PARTNER}.pem"),
               "--key", str(pki / "partners" / f"{PARTNER}.key"),
               "-t", "1", "-c", "16", "-d", str(seconds), "-w", "1",
               "--path", "/v1/members/{id}", "--ids", "1-1000",
               "-H", f"Authorization: Bearer {tok}"]
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True), out

    def finish(self, proc, out):
        _, err = proc.communicate(timeout=120 * pdtest.SLOW)
        check(proc.returncode == 0, f"loadgen exit {proc.returncode}: {err.strip()[-500:]}")
        out.seek(0)
        res = json.loads(out.read())
        out.close()
        eq((res["errors"], res["status"]["5xx"]), (0, 0), f"loadgen errors and 5xx answers in {res}")
        check(res["requests"] > 100, f"only {res['requests']} requests in the window")
        return res

    @pdtest.fixture
    def backed(self):
        """Two nodes on one database; a backup through node 1's configuration taken while both
        serve under load. What the cases check: a dict."""
        inst = self.install(members=30, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
        self.pg.create_database("live")
        url = self.pg.database_url("live")
        c1, c2 = node_conf(inst, "n1", url), node_conf(inst, "n2", url)
        unlimited(inst)
        tok, gone = token(inst), token(inst)
        cert = inst.pki.partner(PARTNER)
        auth = {"Authorization": "Bearer " + tok}
        got, errors, lock, stop = [], [], threading.Lock(), threading.Event()
        dest = inst.dir / "backups" / "b1"
        dest.parent.mkdir()
        with pdtest.Daemon(inst, conf=c2) as d2:
            # node 1 serves, stops while node 2 serves on, and starts again
            with pdtest.Daemon(inst, conf=c1) as d1:
                spread([d1, d2], tok, 40)
                d1.term()
            spread([d2], tok, 20)
            pd(inst, "token", "revoke", "-c", c2, jti_of(gone))
            r = officer_call(d2, c2, "/v1/partners/tokei-lab/suspend", {"reason": "調査中"})
            eq(r.status_code, 200, f"suspend on node 2: {r.text[:300]}")
            with pdtest.Daemon(inst, conf=c1) as d1:
                def load(d, k):
                    i = 0
                    while not stop.is_set():
                        i += 1
                        r = d.get(f"/v1/members/M{1 + (i + k) % 25:07d}", cert=cert, headers=auth)
                        with lock:
                            if r.status_code != 200:
                                errors.append(f"{r.status_code} {r.text[:200]}")
                                return
                            got.append((time.monotonic(), int(r.headers["X-Ledger-Index"]),
                                        r.headers["X-Request-Id"]))
                threads = [threading.Thread(target=load, args=(d, k), daemon=True)
                           for k, d in enumerate([d1, d1, d1, d2, d2, d2])]
                for t in threads:
                    t.start()
                try:
                    time.sleep(1.5)
                    began = time.monotonic()
                    t0 = time.monotonic()
                    r = pd(inst, "ledger", "backup", "-c", c1, dest)
                    took = time.monotonic() - t0
                    time.sleep(3 * INTERVAL_MS / 1000)
                finally:
                    stop.set()
                    for t in threads:
                        t.join()
                # the nodes' later checkpoints: signed after the backup
                spread([d1, d2], tok, 20)
                time.sleep(3 * INTERVAL_MS / 1000)
                later = pd(inst, "ledger", "checkpoint", "--db", url).stdout
                d1.term()
            d2.term()
        eq(errors, [], "answers other than 200 under load")
        before = [(i, rid) for at, i, rid in got if at < began]
        print(f"# backup of {url.rsplit('/', 1)[1]} under load: {took:.2f} s; {len(got)} answers "
              f"under load, {len(before)} before the backup began", flush=True)
        return {"inst": inst, "url": url, "c1": c1, "out": r.stdout, "dest": dest,
                "before": before, "later": later, "gone": jti_of(gone), "gone_tok": gone}


@case("backup of a PostgreSQL ledger while two nodes serve under load: verified, every entry "
      "answered before it began, its checkpoint the nodes' and extended by their later ones")
def _(env):
    b = env.backed
    inst, dest = b["inst"], b["dest"]
    check(b["out"].rstrip().endswith(f"backup OK: {dest}"), b["out"])
    check(len(b["before"]) > 20, f"answers before the backup began: {len(b['before'])}")
    eq(sorted(p.name for p in dest.iterdir()), ["checkpoint", "ledger.db", "ledger.vkey", "state.db"],
       "the backup's files")
    eq(oct(dest.stat().st_mode & 0o777), "0o700", "DEST's mode")
    eq(oct((dest / "ledger.db").stat().st_mode & 0o777), "0o600", "ledger.db's mode")
    # verified with the installation's key, not the copy's own
    r = pd(inst, "ledger", "verify", "--db", dest / "ledger.db", "--vkey", inst.path("keys/ledger.vkey"))
    lines = r.stdout.splitlines()
    eq(lines[-1], "ledger OK", "verify on the copy")
    size = int(lines[-3].split()[1])
    check(f"size {size}\n" in b["out"] and f"checkpoint {size} " in b["out"], b["out"])
    eq(lines[-2].split()[1], str(size), "the copy ends at its checkpoint")
    copy = leaves(inst, dest / "ledger.db")
    eq(len(copy), size, "entries in the copy")
    for idx, rid in b["before"]:
        check(idx < size, f"entry {idx}, answered before the backup began, beyond the copy ({size})")
        eq((copy[idx]["index"], copy[idx]["request"]), (idx, rid), f"entry {idx} in the copy")
    # the ledger as several nodes wrote it: one's stop, then the other's entries
    stops = [x["index"] for x in copy if x["kind"] == "admin" and x["admin"]["action"] == "gateway_stop"]
    check(stops and any(copy[s + 1]["kind"] != "admin" or copy[s + 1]["admin"]["action"] != "gateway_start"
                        for s in stops), f"no stop followed by another node's entry: {stops}")
    # a single gateway's layout, marked as several nodes'
    db = sqlite3.connect(f"file:{dest / 'ledger.db'}?mode=ro", uri=True)
    try:
        meta = dict(db.execute("SELECT key, value FROM meta"))
        tables = {n for (n,) in db.execute("SELECT name FROM sqlite_schema WHERE type IN ('table', 'view')")}
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
        note = db.execute("SELECT note FROM checkpoints WHERE size = ?", (size,)).fetchone()[0]
    finally:
        db.close()
    eq((meta.get("schema"), meta.get("origin"), meta.get("nodes")),
       ("2", inst.get("ledger", "origin"), "shared"), "meta")
    check({"meta", "batches", "checkpoints", "entries"} <= tables, f"tables {tables}")
    eq(mode, "delete", "one file, a rollback journal")
    # without the mark, a single gateway's rule: the entry after a gateway_stop is a start
    unmarked = env.tmp / "unmarked.db"
    unmarked.write_bytes((dest / "ledger.db").read_bytes())
    db = sqlite3.connect(str(unmarked))
    db.execute("DELETE FROM meta WHERE key = 'nodes'")
    db.commit()
    db.close()
    r = pd(inst, "ledger", "verify", "--db", unmarked, "--vkey", inst.path("keys/ledger.vkey"), ok=False)
    check(r.returncode == 1 and "follows gateway_stop but is not gateway_start" in r.stderr,
          f"verify without the mark: {r.returncode} {r.stderr!r}")
    eq((dest / "checkpoint").read_text(), note, "the checkpoint file is the copy's latest note")
    eq((dest / "ledger.vkey").read_text(), inst.path("keys/ledger.vkey").read_text(), "ledger.vkey")
    # the nodes signed it: the same note is in the database
    pg_note = env.pg.psql(f"SELECT note FROM checkpoints WHERE size = {size}", dbname="live")
    eq(pg_note.rstrip("\n"), note.rstrip("\n"), "the database's checkpoint of that size")
    # and their later checkpoints extend it (a consistency proof from it to the latest)
    later_size = int(b["later"].splitlines()[1])
    check(later_size > size, f"a later checkpoint ({later_size}) than the backup's ({size})")
    r = pd(inst, "ledger", "verify", "--db", b["url"], "--vkey", inst.path("keys/ledger.vkey"),
           "--checkpoint", dest / "checkpoint")
    check(f"extends checkpoint {size} " in r.stdout and r.stdout.endswith("ledger OK\n"), r.stdout)
    # the state database of node 1, with the database's revoked tokens
    db = sqlite3.connect(f"file:{dest / 'state.db'}?mode=ro", uri=True)
    try:
        eq(db.execute("PRAGMA integrity_check").fetchone()[0], "ok", "state.db copy")
        eq(db.execute("PRAGMA journal_mode").fetchone()[0], "delete", "state.db journal mode")
        tables = {t for (t,) in db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
        check({"revoked", "uses", "suspensions"} <= tables, f"state.db tables {tables}")
        revoked = {j for (j,) in db.execute("SELECT jti FROM revoked")}
        sus = db.execute("SELECT partner, by, reason FROM suspensions").fetchall()
    finally:
        db.close()
    check(b["gone"] in revoked, f"the token revoked through node 2 is not in state.db: {revoked}")
    eq(sus, [("tokei-lab", "officer", "調査中")], "the database's suspensions in state.db")


@case("restore: the backup migrated into a new database, a node serves from it, verify passes")
def _(env):
    b = env.backed
    inst, dest = b["inst"], b["dest"]
    env.pg.create_database("restored")
    url = env.pg.database_url("restored")
    r = pd(inst, "ledger", "migrate", "--from", dest / "ledger.db", "--to", url, "-c", b["c1"])
    check("verified before and after" in r.stdout, r.stdout)
    size = int(r.stdout.splitlines()[0].split()[1])
    eq(leaves(inst, url), leaves(inst, dest / "ledger.db"), "the restored leaves")
    conf = node_conf(inst, "restored", url)
    # the revoked tokens put back, as docs/cluster.md says
    db = sqlite3.connect(f"file:{dest / 'state.db'}?mode=ro", uri=True)
    try:
        jtis = [j for (j,) in db.execute("SELECT jti FROM revoked")]
    finally:
        db.close()
    for jti in jtis:
        pd(inst, "token", "revoke", "-c", conf, jti)
    eq(sorted(env.pg.psql("SELECT jti FROM revoked", dbname="restored").split()), sorted(jtis),
       "the revoked tokens in the new database")
    with pdtest.Daemon(inst, conf=conf) as d:
        got = spread([d], token(inst), 10)
        r = d.get("/v1/members/M0000001", cert=inst.pki.partner(PARTNER),
                  headers={"Authorization": "Bearer " + b["gone_tok"]})
        pdtest.check_error(r, 401, "token_invalid", "a token revoked before the backup")
        d.term()
    check(all(i > size for i, _ in got), f"new entries after the restored {size}: {got}")
    eq(sum(1 for x in leaves(inst, url)[size:] if x["kind"] == "deny"), 1, "the refusal recorded")
    after = leaves(inst, url)
    eq(after[size]["admin"]["action"], "gateway_start", "the restored node's first entry")
    for i, rid in got:
        eq(after[i]["request"], rid, f"entry {i}")
    r = pd(inst, "ledger", "verify", "--db", url, "--vkey", inst.path("keys/ledger.vkey"))
    check(r.stdout.endswith("ledger OK\n"), r.stdout)


@case("backup refusals on PostgreSQL: no server, a database not pdgate's, another origin's key, "
      "no space left, DEST exists; nothing left at DEST")
def _(env):
    b = env.backed
    inst = b["inst"]
    dest = inst.dir / "backups" / "refused"
    off = node_conf(inst, "off", f"postgresql://postgres@127.0.0.1:{pdtest.free_port()}/x")
    r = refused(inst, off, dest, 1, ["cannot reach PostgreSQL"])
    check("postgresql://" not in r.stderr, f"the URL repeated: {r.stderr!r}")
    env.pg.create_database("foreign")
    env.pg.psql("CREATE TABLE invoices(id integer)", dbname="foreign")
    foreign = node_conf(inst, "foreign", env.pg.database_url("foreign"))
    refused(inst, foreign, dest, 1, ["not a pdgate ledger"])
    eq(env.pg.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                   dbname="foreign").strip(), "1", "its tables left alone")
    env.pg.create_database("empty")
    refused(inst, node_conf(inst, "empty", env.pg.database_url("empty")), dest, 1,
            ["not a pdgate ledger"])
    eq(env.pg.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                   dbname="empty").strip(), "0", "nothing made in an empty database")
    other = env.install(members=5)
    refused(inst, b["c1"], dest, 1, ["no signature by a known key"],
            extra=("--vkey", other.path("keys/ledger.vkey")))
    # no space left mid-copy: a file system smaller than the ledger
    full = inst.dir / "full-fs"
    full.mkdir()
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(full)],
                       capture_output=True, text=True)
    check(m.returncode == 0, f"mount tmpfs: {m.stderr.strip()}")
    try:
        r = refused(inst, b["c1"], full / "b", 4, ["full", "No space left"])
        eq(os.listdir(full), [], "nothing left on the full file system")
    finally:
        subprocess.run(["umount", "-l", str(full)], capture_output=True)
    dest.mkdir()
    r = pd(inst, "ledger", "backup", "-c", b["c1"], dest, ok=False)
    eq(r.returncode, 3, f"DEST exists: {r.stderr!r}")
    check("exists" in r.stderr, r.stderr)
    eq(list(dest.iterdir()), [], "DEST left as it was")
    eq(glob.glob(f"{dest}.tmp-*"), [], "no temporary folder")


@case("backup of a PostgreSQL ledger of 20,000 entries and more under a load of member requests on a "
      "node: verifies, adds < 100 ms to the longest request")
def _(env):
    inst = env.install(members=1000, conf={("ledger", "checkpoint_interval_ms"): 1000})
    env.pg.create_database("big")
    url = env.pg.database_url("big")
    c1, c2 = node_conf(inst, "big1", url), node_conf(inst, "big2", url)
    unlimited(inst)
    tok = token(inst)
    cert = inst.pki.partner(PARTNER)
    with pdtest.Daemon(inst, conf=c1) as d:
        t0 = time.monotonic()
        s = requests.Session()
        for i in range(PAGES):
            r = d.get("/v1/members?limit=1000", cert=cert, session=s, timeout=60,
                      headers={"Authorization": "Bearer " + tok})
            eq(r.status_code, 200, f"page {i}")
        fill = time.monotonic() - t0
        window = int(WINDOW_S * pdtest.SLOW)
        added = []
        for k in range(3):
            proc, out = env.load(d, tok, window)
            base = env.finish(proc, out)
            proc, out = env.load(d, tok, window)
            time.sleep(2)
            dest = env.tmp / f"big-{k}"
            t0 = time.monotonic()
            b = pd(inst, "ledger", "backup", "-c", c2, dest, timeout=300)
            took = time.monotonic() - t0
            during = env.finish(proc, out)
            check(took < window - 1, f"the backup took {took:.1f}s, longer than the window")
            r = pd(inst, "ledger", "verify", "--db", dest / "ledger.db", "--vkey",
                   inst.path("keys/ledger.vkey"))
            check(r.stdout.endswith("ledger OK\n"), r.stdout)
            added.append(during["max_ms"] - base["max_ms"])
            size = int(r.stdout.splitlines()[-3].split()[1])
            print(f"# round {k + 1}: backup of {size} entries ({(dest / 'ledger.db').stat().st_size / 2**20:.1f} "
                  f"MiB; filled in {fill:.1f} s) in {took * 1000:.0f} ms: {b.stdout.splitlines()[-2]}",
                  flush=True)
            print(f"# round {k + 1}: requests without a backup {base['rps']:.0f}/s, p99 "
                  f"{base['p99_ms']:.1f} ms, longest {base['max_ms']:.1f} ms; with one "
                  f"{during['rps']:.0f}/s, p99 {during['p99_ms']:.1f} ms, longest "
                  f"{during['max_ms']:.1f} ms ({added[-1]:+.1f} ms)", flush=True)
            if added[-1] < 100 * pdtest.SLOW:
                break
        d.term()
    check(min(added) < 100 * pdtest.SLOW, f"the backup added {', '.join(f'{a:.0f}' for a in added)} "
                                          "ms to the longest request of each round")


# ---------------------------------------------------------------------------------------------
# witnesses

W1, PY = "witness.example/w1", "witness.example/py"


def pg_cosigs(env, db, upto=None):
    """The database's cosignatures table: [(size, witness, time, line)] by size and witness."""
    where = f"WHERE size <= {upto} " if upto is not None else ""
    out = env.pg.psql("SELECT size, witness, time, encode(convert_to(line, 'UTF8'), 'hex') "
                      f"FROM cosignatures {where}ORDER BY size, witness", dbname=db)
    return [(int(a), b, int(c), bytes.fromhex(d).decode()) for a, b, c, d in
            (x.split("|") for x in out.splitlines() if x)]


def cosigned_note(inst, db, size):
    """The checkpoint of size with its cosignatures, as `ledger prove --db` hands it out."""
    r = pd(inst, "ledger", "prove", "--db", db, "--vkey", inst.path("keys/ledger.vkey"),
           "--size", str(size), "0")
    return json.loads(r.stdout)["checkpoint"]


def quorum_verify(inst, db, note_path, w1, py):
    return pd(inst, "ledger", "verify", "--db", db, "--vkey", inst.path("keys/ledger.vkey"),
              "--checkpoint", note_path, "--witness", w1.vkey, "--witness", py.vkey,
              "--quorum", "2", ok=False)


@case("backup of a witnessed PostgreSQL ledger of two nodes: the witnesses' cosignatures of its "
      "checkpoints in ledger.db, verified with their keys and a quorum of 2; restored by migrate, "
      "the new database serves them; a node on it, past which the witnesses cosigned, refuses it")
def _(env):
    inst = env.install(members=30, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
    unlimited(inst)
    vkey = inst.path("keys/ledger.vkey").read_text().strip()
    w1 = Witness(env.tmp, [vkey], name=W1)
    env.enter(_Stopper(w1))
    w1.start()
    py = env.enter(pywitness.PythonWitness(env.tmp / "py-witnessed", [vkey]))
    inst.set("witness", "w1", f"{w1.vkey} {w1.url[:-len('/add-checkpoint')]}")
    inst.set("witness", "py", f"{py.vkey} {py.url}")
    inst.set("witness", "quorum", 2)
    env.pg.create_database("witnessed")
    url = env.pg.database_url("witnessed")
    c1, c2 = node_conf(inst, "w1n", url), node_conf(inst, "w2n", url)
    tok = token(inst)
    dest = inst.dir / "backups" / "witnessed"
    dest.parent.mkdir(exist_ok=True)

    def latest_cosigned():
        cps = env.pg.psql("SELECT max(size) FROM checkpoints", dbname="witnessed").strip()
        return cps and {w for s, w, _, _ in pg_cosigs(env, "witnessed") if s == int(cps)} == {W1, PY}

    with pdtest.Daemon(inst, conf=c1) as d1, pdtest.Daemon(inst, conf=c2) as d2:
        for i in range(6):  # each node signs checkpoints of its own
            spread([(d1, d2)[i % 2]], tok, 2, threads=1)
            time.sleep(2 * INTERVAL_MS / 1000)
        pdtest.wait_until(latest_cosigned, 15 * pdtest.SLOW, 0.1,
                          "the latest checkpoint cosigned by both witnesses")
        r = pd(inst, "ledger", "backup", "-c", c1, dest)
        size = int(next(x for x in r.stdout.splitlines() if x.startswith("size ")).split()[1])
        # the nodes go on: the witnesses cosign past the backup's checkpoint
        spread([d1, d2], tok, 2, threads=1)
        pdtest.wait_until(lambda: latest_cosigned() and int(env.pg.psql(
            "SELECT max(size) FROM checkpoints", dbname="witnessed")) > size,
            15 * pdtest.SLOW, 0.1, "a later checkpoint cosigned by both witnesses")
        d1.term()
        d2.term()
    want = pg_cosigs(env, "witnessed", size)
    check(len(want) >= 6 and {s for s, _, _, _ in want} >= {size},
          f"the database's cosignatures up to {size}: {want}")
    check(f"and {len(want)} cosignatures of the witnesses\n" in r.stdout, r.stdout)
    db = sqlite3.connect(f"file:{dest / 'ledger.db'}?mode=ro", uri=True)
    try:
        copied = db.execute("SELECT size, witness, time, line FROM cosignatures "
                            "ORDER BY size, witness").fetchall()
    finally:
        db.close()
    eq(copied, want, "the cosignatures in the backup's ledger.db, row for row")
    # the backup's checkpoint with its cosignatures, checked with the witnesses' keys
    note = cosigned_note(inst, dest / "ledger.db", size)
    eq(note.count("\n\u2014 "), 3, f"the log's line and both cosignatures: {note!r}")
    (env.tmp / "backup-cp.note").write_text(note)
    v = quorum_verify(inst, dest / "ledger.db", env.tmp / "backup-cp.note", w1, py)
    eq(v.returncode, 0, f"verify --witness --quorum 2 on the backup: {v.stdout} {v.stderr}")
    check("cosigned by 2 of 2 witnesses" in v.stdout and v.stdout.endswith("ledger OK\n"),
          v.stdout)
    # the plain note (DEST/checkpoint, the one the nodes signed) carries none: refused
    v = quorum_verify(inst, dest / "ledger.db", dest / "checkpoint", w1, py)
    check(v.returncode == 1 and "0 valid cosignatures of the 2 required" in v.stderr,
          f"the plain note with a quorum: {v.returncode} {v.stderr!r}")
    # restored into a new database: the cosignatures move with it and are served from it
    env.pg.create_database("rewitnessed")
    url2 = env.pg.database_url("rewitnessed")
    m = pd(inst, "ledger", "migrate", "--from", dest / "ledger.db", "--to", url2, "-c", c1)
    check(f"and {len(want)} cosignatures of the witnesses" in m.stdout, m.stdout)
    eq(pg_cosigs(env, "rewitnessed"), want, "the cosignatures in the restored database")
    eq(cosigned_note(inst, url2, size), note, "the restored database's cosigned checkpoint")
    (env.tmp / "restored-cp.note").write_text(cosigned_note(inst, url2, size))
    v = quorum_verify(inst, url2, env.tmp / "restored-cp.note", w1, py)
    eq(v.returncode, 0, f"verify --db URL --witness --quorum 2: {v.stdout} {v.stderr}")
    # a node on it: the witnesses have cosigned past the backup, so it is refused as a cut tail
    node = pdtest.Daemon(inst, conf=node_conf(inst, "w3n", url2))
    with node:
        rr = node.get("/v1/members/M0000001", cert=inst.pki.partner(PARTNER),
                      headers={"Authorization": "Bearer " + tok})
        pdtest.check_error(rr, 503, "ledger_unavailable", "a release on the restored ledger")
        node.signal(signal.SIGTERM)
        node.rc = node.proc.wait(30)
        eq(node.rc, 1, "exit status of a refused node")
        node.check_sanitizer()


# ---------------------------------------------------------------------------------------------
# anonymize

def anonymize(inst, conf, id_, out):
    path = inst.dir / f"spec-{id_}.json"
    path.write_text(json.dumps(dict(SPEC, id=id_), ensure_ascii=False))
    return inst.pdgate("anonymize", "-c", conf, "--spec", path, "--out", out, "--staff", "sato",
                       timeout=120)


def made(inst, conf, id_, out):
    r = anonymize(inst, conf, id_, out)
    check(r.returncode == 0, f"anonymize exit {r.returncode}: {r.stderr.strip()[-800:]}")
    eq(sorted(p.name for p in Path(out).iterdir()), ["data.csv", "publication.txt", "report.json"],
       "the data set's files")
    return json.loads(r.stdout.strip().splitlines()[-1])


def datasets(inst, url):
    return {x["admin"]["detail"]["id"]: x for x in leaves(inst, url)
            if x["kind"] == "admin" and x["admin"]["action"] == "anonymised_dataset"}


@case("anonymize with [ledger] url: through the node of -c while it serves, by itself while only "
      "another node serves and with none; each entry in the shared ledger, an id given once")
def _(env):
    inst = env.install(members=300, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
    env.pg.create_database("anon")
    url = env.pg.database_url("anon")
    c1, c2 = node_conf(inst, "a1", url), node_conf(inst, "a2", url)
    unlimited(inst)
    tok = token(inst)
    with pdtest.Daemon(inst, conf=c1) as d1:
        with pdtest.Daemon(inst, conf=c2) as d2:
            spread([d1, d2], tok, 10)
            got = made(inst, c1, "AN-2026-0801", inst.dir / "via-node")
            eq(got["recorded_by"], "gateway", "through node 1's compliance listener")
            d1.term()
            # node 1 stopped, node 2 serves on: the command is one more writer
            with ThreadPoolExecutor(1) as ex:
                load = ex.submit(spread, [d2], tok, 40, 2)
                got2 = made(inst, c1, "AN-2026-0802", inst.dir / "by-itself")
                load.result()
            eq(got2["recorded_by"], "command", "by itself while another node serves")
            # an id given once, whichever way it would go
            for conf, words in ((c1, "AN-2026-0801 is recorded already"),
                                (c2, "AN-2026-0802 is recorded already")):
                r = anonymize(inst, conf, words.split()[0], inst.dir / f"again-{conf.stem}")
                eq(r.returncode, 1, f"again: {r.stderr!r}")
                check(words in r.stderr, r.stderr)
                check(not (inst.dir / f"again-{conf.stem}").exists(), "nothing written")
            spread([d2], tok, 5)
            d2.term()
    got3 = made(inst, c2, "AN-2026-0803", inst.dir / "no-node")
    eq(got3["recorded_by"], "command", "by itself with no node")
    sets = datasets(inst, url)
    eq(sorted(sets), ["AN-2026-0801", "AN-2026-0802", "AN-2026-0803"], "the data sets recorded")
    for g in (got, got2, got3):
        e = sets[g["id"]]
        eq((e["index"], e["admin"]["staff"]), (g["ledger_index"], "sato"), f"{g['id']}'s entry")
    check(sets["AN-2026-0801"]["token"], "the node's entry names the command's officer token")
    check(sets["AN-2026-0802"]["token"] is None, "no token when the command writes itself")
    all_ = leaves(inst, url)
    i = got3["ledger_index"]
    eq((all_[i - 1]["admin"]["action"], all_[i + 1]["admin"]["action"]),
       ("gateway_start", "gateway_stop"), "the command's own start and stop around its entry")
    r = pd(inst, "ledger", "verify", "--db", url, "--vkey", inst.path("keys/ledger.vkey"))
    check(r.stdout.endswith("ledger OK\n"), r.stdout)


LOCK_KEY = "x'7064616e6f6e0001'::bigint"  # the database's lock on recording a data set


class LockHolder:
    """A psql session of the test's holding the database's lock on recording a data set."""

    def __init__(self, env, db):
        self.env, self.db = env, db
        pg = env.pg
        self.p = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-h", str(pg.dir), "-p",
                                   str(pg.port), "-U", "postgres", "-d", db],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.p.stdin.write(f"SELECT pg_advisory_lock({LOCK_KEY});\n")
        self.p.stdin.flush()
        pdtest.wait_until(lambda: self.locks(True) == 1, 20, 0.05, "the test's lock taken")

    def locks(self, granted):
        return int(self.env.pg.psql(f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                    f"AND granted = {granted}", dbname=self.db))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.p.poll() is None:
            self.p.stdin.write("\\q\n")
            self.p.stdin.close()
            self.p.wait(30)


@case("anonymize with [ledger] url: the check that an id is free and its entry's commit under the "
      "database's lock — two commands of one id wait while it is held, then one records and the "
      "other is refused; a node's compliance listener waits too; held past 10 s: refused")
def _(env):
    inst = env.install(members=300, conf={("ledger", "checkpoint_interval_ms"): INTERVAL_MS})
    env.pg.create_database("anonlock")
    url = env.pg.database_url("anonlock")
    c1, c2 = node_conf(inst, "l1", url), node_conf(inst, "l2", url)
    unlimited(inst)
    tok = token(inst)
    with pdtest.Daemon(inst, conf=c1) as d1:
        spread([d1], tok, 2)
        d1.term()
    with LockHolder(env, "anonlock") as h, ThreadPoolExecutor(2) as ex:
        runs = [ex.submit(anonymize, inst, c, "AN-2026-0811", inst.dir / f"race-{c.stem}")
                for c in (c1, c2)]
        pdtest.wait_until(lambda: h.locks(False) == 2, 60 * pdtest.SLOW, 0.05,
                          "both commands waiting for the lock")
        check(not any(f.done() for f in runs), "a command went on while the lock was held")
        check("AN-2026-0811" not in datasets(inst, url), "recorded while the lock was held")
        h.__exit__()
        got = [f.result() for f in runs]
    eq(sorted(r.returncode for r in got), [0, 1], f"one recorded, one refused: {got}")
    no = next(r for r in got if r.returncode == 1)
    check("AN-2026-0811 is recorded already" in no.stderr, no.stderr)
    eq(list(datasets(inst, url)), ["AN-2026-0811"], "recorded once")
    eq(sorted(p.name for p in inst.dir.glob("race-*")),
       [f"race-{c.stem}" for c, r in zip((c1, c2), got) if r.returncode == 0], "one data set's files")
    # a node serving: its compliance listener takes the same lock
    with pdtest.Daemon(inst, conf=c2) as d2:
        with LockHolder(env, "anonlock") as h, ThreadPoolExecutor(1) as ex:
            run = ex.submit(anonymize, inst, c2, "AN-2026-0812", inst.dir / "via-node-lock")
            pdtest.wait_until(lambda: h.locks(False) == 1, 60 * pdtest.SLOW, 0.05,
                              "the node waiting for the lock")
            check(not run.done(), "the node recorded while the lock was held")
            h.__exit__()
            r = run.result()
        check(r.returncode == 0, r.stderr)
        eq(json.loads(r.stdout.strip().splitlines()[-1])["recorded_by"], "gateway", "through the node")
        # held past the wait: refused, nothing recorded or written
        with LockHolder(env, "anonlock"):
            t0 = time.monotonic()
            r = anonymize(inst, c2, "AN-2026-0813", inst.dir / "lock-held")
            took = time.monotonic() - t0
        eq(r.returncode, 1, r.stderr)
        check("another data set is being recorded (waited 10000 ms" in r.stderr and took >= 10, f"{took:.1f} s: "
              f"{r.stderr!r}")
        check(not (inst.dir / "lock-held").exists(), "nothing written")
        d2.term()
    with LockHolder(env, "anonlock"):
        r = anonymize(inst, c1, "AN-2026-0814", inst.dir / "lock-held-cmd")
    eq(r.returncode, 1, r.stderr)
    check("another data set is being recorded (waited 10000 ms" in r.stderr and "nothing was recorded" in r.stderr,
          r.stderr)
    check(not (inst.dir / "lock-held-cmd").exists(), "nothing written")
    eq(sorted(datasets(inst, url)), ["AN-2026-0811", "AN-2026-0812"], "the data sets recorded")
    r = pd(inst, "ledger", "verify", "--db", url, "--vkey", inst.path("keys/ledger.vkey"))
    check(r.stdout.endswith("ledger OK\n"), r.stdout)


@case("anonymize with [ledger] url refuses a database out of reach: nothing recorded or written")
def _(env):
    inst = env.install(members=50)
    conf = node_conf(inst, "off", f"postgresql://postgres@127.0.0.1:{pdtest.free_port()}/x")
    out = inst.dir / "set"
    r = anonymize(inst, conf, "AN-2026-0901", out)
    eq(r.returncode, 1, f"exit: {r.stderr!r}")
    check("cannot reach PostgreSQL" in r.stderr, r.stderr)
    check(not out.exists() and not glob.glob(f"{out}.tmp-*"), "nothing written")


if __name__ == "__main__":
    pdtest.run(Env, cases=[c for c in pdtest._registry if c.fn.__module__ == "__main__"])
