#!/usr/bin/env python3
"""make cluster-demo (tests/cluster-demo): two nodes of one installation on a PostgreSQL server of
the demo's own answer, each with an entry of the one ledger; its --check mode says so; Ctrl-C
stops both nodes and the server and removes the server's folder.
"""

import os
import re
import signal
import subprocess
import time

import pdtest
from pdtest import case, check, eq
import pgserver

DEMO = str(pdtest.REPO / "tests" / "cluster-demo")


def pg_running(folder):
    """Processes whose command line names folder (the demo's PostgreSQL, its nodes)."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if folder.encode() in f.read():
                        found.append(int(d))
            except OSError:
                pass
    return found


@case("cluster-demo --check: both nodes answer, their entries are of one ledger, all stopped after")
def _(env):
    os.chmod(env.tmp, 0o711)  # the demo's PostgreSQL runs as postgres, under this folder
    d = str(env.tmp / "check")
    r = subprocess.run([DEMO, "--check", "--dir", d], capture_output=True, text=True,
                       timeout=180, env=dict(os.environ, PDGATE=pdtest.PDGATE))
    eq(r.returncode, 0, f"exit status; stdout {r.stdout!r} stderr {r.stderr[-600:]!r}")
    check(r.stdout.endswith("cluster-demo --check: ok\n"), r.stdout)
    idx = [int(x) for x in re.findall(r"X-Ledger-Index (\d+)", r.stdout)]
    eq(len(idx), 2, f"one member answer per node: {r.stdout!r}")
    check(not [p for p in os.listdir(d) if p.startswith("pdgate-pg-")], "server folder left")
    eq(pg_running(d), [], "processes left behind")


@case("cluster-demo: the printed curl commands reach each node; Ctrl-C stops everything")
def _(env):
    os.chmod(env.tmp, 0o711)
    d = str(env.tmp / "run")
    port = pdtest.free_port()
    p = subprocess.Popen([DEMO, "--dir", d, "--port", str(port)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, PDGATE=pdtest.PDGATE))
    try:
        out = []
        end = time.monotonic() + 120
        while time.monotonic() < end:
            line = p.stdout.readline()
            if not line:
                break
            out.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(out)
        ports = [int(x) for x in re.findall(r"https://127\.0\.0\.1:(\d+)/v1/members", text)]
        eq(ports, [port, port + 1], f"the nodes' curl commands: {text!r}")
        tok = re.search(r"TOKEN=\$\((.*)\)\n", text).group(1).split()
        r = subprocess.run(tok, capture_output=True, text=True, cwd=os.getcwd())
        eq(r.returncode, 0, f"the printed token command: {r.stderr}")
        inst = pdtest.Path(d) / "inst"
        cert = (str(inst / "pki/partners/sakura-mail.pem"), str(inst / "pki/partners/sakura-mail.key"))
        idx = []
        for pp in ports:
            res = pdtest.requests.get(f"https://127.0.0.1:{pp}/v1/members/M0000001", cert=cert,
                                      verify=str(inst / "pki/server-ca.pem"), timeout=30,
                                      headers={"Authorization": "Bearer " + r.stdout.strip()})
            eq(res.status_code, 200, f"node on {pp}: {res.text[:200]}")
            idx.append(int(res.headers["X-Ledger-Index"]))
        check(idx[1] > idx[0], f"one ledger: indexes {idx}")
        p.send_signal(signal.SIGINT)
        eq(p.wait(90), 0, "exit status after Ctrl-C")
        check("stopping" in p.stdout.read(), "says it stops")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    check(not [x for x in os.listdir(d) if x.startswith("pdgate-pg-")], "server folder left")
    eq(pg_running(d), [], "processes left behind")


if __name__ == "__main__":
    if pgserver.available():
        print(f"# skipped: {pgserver.available()}")
        raise SystemExit(0)
    pdtest.run()
