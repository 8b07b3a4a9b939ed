"""The independent Python witness and client of tests/witness_py, for the suites.

    with start_python_witness(folder, [ledger_vkey]) as w:
        w.vkey   # its cosigner verifier key (type 0x04)
        w.url    # its submission prefix: POST w.url + "/add-checkpoint"

A gateway is pointed at it with a [witness] line `NAME = <w.vkey> <w.url>`.
"""

import importlib.util
import signal
import subprocess
import sys

import pdtest
from pdtest import SLOW, check

WITNESS_PY = pdtest.REPO / "tests" / "witness_py"


def load_client():
    """tests/witness_py/client.py as a module (Client, ComplianceProofs, LeafProofs, …)."""
    spec = importlib.util.spec_from_file_location("witness_py_client", WITNESS_PY / "client.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class PythonWitness:
    """tests/witness_py/witness.py on a free loopback port, with its key and state in folder.
    A context manager: stopped (SIGTERM, then SIGKILL) on exit, also on failure."""

    def __init__(self, folder, log_vkeys, name="witness.example/py"):
        self.dir = folder
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name, self.logs = name, list(log_vkeys)
        self.key, self.state = self.dir / "witness.pem", self.dir / "state.json"
        self.port = pdtest.free_port()
        self.proc, self.vkey = None, None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self):
        args = [sys.executable, str(WITNESS_PY / "witness.py"), "--name", self.name,
                "--key", str(self.key), "--state", str(self.state),
                "--listen", f"127.0.0.1:{self.port}"]
        for v in self.logs:
            args += ["--log", v]
        self.log = open(self.dir / "witness.log", "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log)
        self.vkey = self.proc.stdout.readline().decode().strip()
        line = self.proc.stdout.readline().decode()
        check(line.startswith("listening on "), f"the Python witness said {line!r}")
        return self

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        self.proc = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
        return False


def start_python_witness(folder, log_vkeys, name="witness.example/py"):
    """Starts the Python witness for the logs of log_vkeys (their verifier key lines) on a free
    port; returns it (w.vkey, w.url; a context manager that stops it). For a [witness] entry
    `NAME = <w.vkey> <w.url>`, or env.enter(...) in a suite."""
    w = PythonWitness(folder, log_vkeys, name)
    return w.__enter__()

