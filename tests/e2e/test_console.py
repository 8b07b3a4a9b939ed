#!/usr/bin/env python3
"""test_console — the compliance console in headless Chromium, as tests/run sees it.

Runs tests/browser/console.test.mjs (node + playwright-core driving Debian's /usr/bin/chromium
against a real installation and daemon), after `npm ci` in tests/browser when its node_modules
is missing, and relays its output; its last line is the suite's `N passed, N failed`. Without
node, npm or Chromium this fails with one line saying what to install: a console that was never
opened in a browser is not a passing console.

Environment: PDGATE (passed on), CHROMIUM (default /usr/bin/chromium), PDTEST_ONLY, PDTEST_KEEP.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BROWSER = ROOT / "tests" / "browser"
SCRIPT = BROWSER / "console.test.mjs"
TIMEOUT = 900


def fail(why):
    print(f"not ok - console in Chromium: {why}", flush=True)
    print("0 passed, 1 failed", flush=True)
    sys.exit(1)


def main():
    node = shutil.which("node")
    if not node:
        fail("node is not installed (apt-get install -y nodejs npm)")
    chromium = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
    if not os.access(chromium, os.X_OK):
        fail(f"no Chromium at {chromium} (apt-get install -y chromium chromium-driver)")
    if not (BROWSER / "node_modules" / "playwright-core").is_dir():
        npm = shutil.which("npm")
        if not npm:
            fail("npm is not installed and tests/browser/node_modules is missing (apt-get install -y npm)")
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BROWSER, capture_output=True,
                           text=True, timeout=600, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            fail(f"npm ci in tests/browser failed (exit {r.returncode}): {(r.stderr or r.stdout).strip()[-400:]}")
    env = dict(os.environ)
    env.setdefault("PDGATE", str(ROOT / "bin" / "pdgate"))
    env["CHROMIUM"] = chromium
    try:
        r = subprocess.run([node, str(SCRIPT)], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        sys.stdout.write(out)
        fail(f"console.test.mjs did not finish within {TIMEOUT}s")
    out = r.stdout or ""
    sys.stdout.write(out)
    lines = [l for l in out.splitlines() if l.strip()]
    last = lines[-1] if lines else ""
    parts = last.split(" ")
    if not (len(parts) == 4 and parts[1] == "passed," and parts[3] == "failed"
            and parts[0].isdigit() and parts[2].isdigit()):
        fail(f"console.test.mjs printed no summary line (exit {r.returncode})")
    sys.stdout.flush()
    sys.exit(r.returncode if r.returncode else (1 if int(parts[2]) else 0))


if __name__ == "__main__":
    main()
