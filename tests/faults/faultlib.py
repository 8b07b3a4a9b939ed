"""What the fault suites share, on top of the end-to-end harness (tests/e2e/pdtest.py): the
daemon's memory and descriptors from /proc, work orders, contracts without limits, the ledger's
entries, percentiles, and the one line per scenario that says what was injected, how often and
what was checked."""

import json
import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
import pdtest  # noqa: E402
from pdtest import SLOW, check, eq  # noqa: E402

HERE = Path(__file__).resolve().parent
# under AddressSanitizer freed memory waits in its quarantine (256 MiB at most) before reuse
QUARANTINE_KIB = 256 * 1024 if "san" in os.path.basename(pdtest.PDGATE) else 0


def preload(lib, **extra):
    """The environment of a pdgate run with lib preloaded (and the variables in extra). A
    sanitizer build wants its runtime first: told not to mind."""
    env = dict(os.environ, LD_PRELOAD=str(lib), **{k: str(v) for k, v in extra.items()})
    opts = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "verify_asan_link_order=0"
    return env


def proc_status(pid):
    """{"rss": VmRSS KiB, "hwm": VmHWM KiB, "fds": open descriptors} of process pid."""
    out = {"rss": 0, "hwm": 0}
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            out["rss"] = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            out["hwm"] = int(line.split()[1])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


class Sampler:
    """Samples a process's memory and descriptors every `every` seconds in a thread: the peaks,
    and the sample taken when mark() is called (the baseline after a warm-up)."""

    def __init__(self, pid, every=0.2):
        self.pid, self.every = pid, every
        self.peak_rss = self.peak_fds = 0
        self.marks = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def sample(self):
        try:
            s = proc_status(self.pid)
        except OSError:
            return None
        self.peak_rss = max(self.peak_rss, s["rss"])
        self.peak_fds = max(self.peak_fds, s["fds"])
        return s

    def mark(self, name):
        self.marks[name] = self.sample()
        return self.marks[name]

    def stop(self):
        self._stop.set()
        self._t.join()
        return self.sample()


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))] if xs else 0.0


def scenario(name, injected, times, checked):
    """The line `make faults` shows for each scenario: what was injected, how often, what was
    checked."""
    print(f"# {name}: injected {injected} x{times}; checked {checked}", flush=True)


def figure(text):
    print(f"# figure: {text}", flush=True)


def token(inst, contract, purpose, partner, ttl="2h"):
    r = inst.pdgate("token", "issue", "-c", inst.conf, "--contract", contract, "--purpose", purpose,
                    "--ttl", ttl, "--cert", inst.pki.partner(partner).pem)
    check(r.returncode == 0, f"token issue {contract} {purpose}: {r.stderr.strip()}")
    return r.stdout.strip()


def unlimit(inst, *contracts):
    """Takes the rate and volume limits out of the installation's copies of the contracts: the
    fault suites send thousands of requests, and a 429 is not what they look at."""
    for c in contracts:
        p = inst.path(f"contracts/{c}.json")
        doc = json.loads(p.read_text())
        doc.pop("limits", None)
        p.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")


def export(inst, conf=None):
    """The ledger's leaves, as `pdgate ledger export` prints them."""
    r = inst.pdgate("ledger", "export", "-c", conf or inst.conf, timeout=300)
    check(r.returncode == 0, f"ledger export: {r.stderr.strip()[-400:]}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def verify(inst, conf=None):
    """`pdgate ledger verify` passes; returns its output."""
    r = inst.pdgate("ledger", "verify", "-c", conf or inst.conf, timeout=300)
    check(r.returncode == 0 and r.stdout.endswith("ledger OK\n"),
          f"ledger verify: exit {r.returncode}: {(r.stdout + r.stderr).strip()[-600:]}")
    return r.stdout


def integrity(path):
    """`PRAGMA integrity_check` of an SQLite file is ok (read by the sqlite3 module here)."""
    import sqlite3
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute("PRAGMA integrity_check").fetchall()
    finally:
        db.close()
    eq(rows, [("ok",)], f"PRAGMA integrity_check of {Path(path).name}")


ERROR_KEYS = ["error", "message", "request_id"]


def check_refusal(r, status, code, what, leaks=()):
    """An error answer and nothing else: the status and code, a body of exactly the error's
    three members, none of the strings in leaks anywhere in it."""
    body = pdtest.check_error(r, status, code, what)
    eq(sorted(body), ERROR_KEYS, f"{what}: members of the error body")
    for s in leaks:
        check(s not in r.text, f"{what}: the answer holds {s!r}: {r.text[:200]!r}")
    return body


def wait(pred, seconds, what):
    return pdtest.wait_until(pred, seconds, 0.05, what)


__all__ = ["pdtest", "SLOW", "check", "eq"]
