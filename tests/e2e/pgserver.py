"""pgserver — a PostgreSQL server of the tests' own: made, started, stopped and removed by them.

No test depends on a server the machine runs. `PgServer` runs Debian's PostgreSQL 15 binaries
(`initdb`, `pg_ctl`, from the `postgresql` package) as the `postgres` user (`runuser -u postgres
--`, since the tests run as root), in a temporary folder that user owns: the data folder and the
Unix socket are inside it, and it also listens on a free loopback port. It is stopped (`pg_ctl
stop -m immediate`) and the folder removed when the `with` block ends, at exit (atexit), and on
SIGTERM / SIGINT; a test killed with SIGKILL is the one case left behind (the folder's name
starts with `pdgate-pg-`).

`PgServer(standby_of=primary)` is a streaming standby of another PgServer instead (the layout of
docs/cluster.md): `pg_basebackup` of the primary (as `postgres`), `standby.signal` and
`primary_conninfo` naming it, and the primary then made to wait for it on every commit
(`synchronous_standby_names`, `synchronous_commit = on`). `crash()` kills a server hard (SIGKILL
to the postmaster and every process of its data folder at once, as a power cut would; or to the
postmaster alone), `freeze()` hangs one (SIGSTOP: connections open, nothing answered), and
`promote()` makes a standby the primary (`pg_ctl promote`). `multi_url()` names several servers
in one libpq URL that connects to whichever of them takes writes. A crashed or frozen server is
stopped and removed like the others (every process of its data folder killed).

As a program it wraps a command, for the unit tests written in C:

    python3 tests/e2e/pgserver.py build/unit/test_ledger_pg

runs the command with PDGATE_TEST_PG set to the database's URL and exits with its status.
"""

import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BINDIR = Path(os.environ.get("PDTEST_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
USER = "postgres"

_live = set()
_live_lock = threading.Lock()
_handlers_set = False


def _stop_all():
    with _live_lock:
        servers = list(_live)
    for s in servers:
        s.stop()


def _on_signal(signum, frame):
    _stop_all()
    raise SystemExit(128 + signum)


def _install_handlers():
    global _handlers_set
    if _handlers_set:
        return
    _handlers_set = True
    atexit.register(_stop_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            prev = signal.getsignal(sig)
            # a suite's own handler (pdtest's SIGTERM one raises SystemExit) runs through atexit
            if prev in (signal.SIG_DFL, signal.default_int_handler, None):
                signal.signal(sig, _on_signal)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available():
    """Why a server cannot be made here, or None."""
    if not (BINDIR / "initdb").exists() or not (BINDIR / "pg_ctl").exists():
        return f"no PostgreSQL binaries in {BINDIR} (the postgresql package)"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"no user {USER}"
    if os.geteuid() != 0:
        return "PostgreSQL refuses to run as root and runuser needs root: run the tests as root"
    return None


class PgServer:
    """One PostgreSQL server in a folder of its own. `url` is a libpq URL of the database
    `dbname` over the loopback port; `socket_url` the same over the Unix socket."""

    def __init__(self, dbname="pdgate", root=None, standby_of=None, name="pdgate_standby"):
        why = available()
        if why:
            raise RuntimeError(f"cannot start PostgreSQL: {why}")
        self.dbname = dbname
        self.dir = Path(tempfile.mkdtemp(prefix="pdgate-pg-", dir=root))
        pw = pwd.getpwnam(USER)
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = None
        self.proc_started = False
        self._stopped = False
        self.primary = standby_of
        self.frozen = False
        self.name = name  # a standby's application_name, as the primary's
        # synchronous_standby_names names it

    def _as_postgres(self, *args, check=True, timeout=60):
        r = subprocess.run(["runuser", "-u", USER, "--", *map(str, args)], capture_output=True,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, args[:2]))}: exit {r.returncode}: "
                               f"{r.stderr.strip() or r.stdout.strip()}")
        return r

    @property
    def url(self):
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{self.dbname}"

    @property
    def socket_url(self):
        return f"postgresql:///{self.dbname}?host={self.dir}&port={self.port}&user={USER}"

    def database_url(self, dbname):
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{dbname}"

    def _opts(self):
        return (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                f"-c unix_socket_directories={self.dir} -c shared_buffers=16MB "
                f"-c max_connections=60 -c fsync=on -c synchronous_commit=on")

    def _launch(self):
        """pg_ctl start on a free port (another one if it was taken meanwhile)."""
        for attempt in range(5):
            self.port = _free_port()
            r = self._as_postgres(BINDIR / "pg_ctl", "-D", self.data, "-l", self.log, "-o",
                                  self._opts(), "-w", "-t", "60", "start", check=False,
                                  timeout=90)
            if r.returncode == 0:
                self.proc_started = True
                return
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            if "already in use" not in log or attempt == 4:
                raise RuntimeError(f"pg_ctl start: exit {r.returncode}: {r.stderr.strip()}\n"
                                   f"{log[-2000:]}")

    def start(self):
        with _live_lock:
            _live.add(self)
        _install_handlers()
        if self.primary is not None:
            return self._start_standby()
        self._as_postgres(BINDIR / "initdb", "-D", self.data, "-U", USER, "--auth=trust",
                          "-E", "UTF8", "--locale=C", "--no-instructions")
        self._launch()
        self.create_database(self.dbname)
        return self

    def _start_standby(self):
        """A copy of the primary's data folder taken while it runs, started as its streaming
        standby; then the primary's commits wait for this standby's flush."""
        p = self.primary
        n = p.psql("SELECT count(*) FROM pg_stat_replication", dbname="postgres").strip()
        if n != "0":
            raise RuntimeError(f"the primary has {n} standbys already")
        self._as_postgres(BINDIR / "pg_basebackup", "-D", self.data, "-h", p.dir, "-p", p.port,
                          "-U", USER, "-X", "stream", "-c", "fast", timeout=120)
        pw = pwd.getpwnam(USER)
        signal_file = self.data / "standby.signal"
        signal_file.touch()
        os.chown(signal_file, pw.pw_uid, pw.pw_gid)
        # the primary's own settings came with the copy; the one added names the primary (over
        # TCP: its socket folder is the primary's) and this standby's name
        with open(self.data / "postgresql.auto.conf", "a") as f:
            f.write(f"primary_conninfo = 'host=127.0.0.1 port={p.port} user={USER} "
                    f"application_name={self.name}'\nhot_standby = on\n")
        self._launch()
        # the primary's commits wait for this standby from now on (in the primary's
        # postgresql.auto.conf, made after the copy: a promoted standby waits for none)
        p.psql(f"ALTER SYSTEM SET synchronous_standby_names = '\"{self.name}\"'",
               dbname="postgres")
        p.psql("SELECT pg_reload_conf()", dbname="postgres")
        deadline = time.monotonic() + 30
        while True:
            state = p.psql("SELECT sync_state FROM pg_stat_replication WHERE application_name "
                           f"= '{self.name}'", dbname="postgres").strip()
            if state == "sync":
                return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"the standby is not synchronous after 30 s ({state!r}):\n"
                                   f"{self.log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)

    def psql(self, sql, dbname=None, check=True):
        """Runs sql with psql over the socket; returns its stdout (unaligned, tuples only)."""
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-h", str(self.dir), "-p", str(self.port), "-U", USER,
                            "-d", dbname or self.dbname, "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError(f"psql: {r.stderr.strip()}")
        return r.stdout

    def create_database(self, name):
        self.psql(f'CREATE DATABASE "{name}"', dbname="postgres")

    def _processes(self):
        """The pids of the processes whose working folder is the data folder: the postmaster
        and every process it started (each works there)."""
        pids = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    cwd = os.readlink(d / "cwd")
                except OSError:
                    continue
                if cwd == str(self.data):
                    pids.append(int(d.name))
        return pids

    def _kill_all(self, timeout=10):
        """SIGKILL to every process of the data folder at once; waits until they are gone."""
        deadline = time.monotonic() + timeout
        while pids := self._processes():
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"processes {pids} of {self.data} outlived SIGKILL")
            time.sleep(0.02)

    def stop(self):
        """Stops the server and removes its folder; safe to call twice, and from atexit."""
        with _live_lock:
            if self._stopped:
                return
            self._stopped = True
            _live.discard(self)
        try:
            if self.proc_started and not self.frozen:  # a frozen one would not hear pg_ctl
                self._as_postgres(BINDIR / "pg_ctl", "-D", self.data, "-m", "immediate",
                                  "-w", "-t", "30", "stop", check=False, timeout=60)
        finally:
            try:
                self._kill_all()  # what pg_ctl did not stop (a crashed postmaster's children)
            finally:
                shutil.rmtree(self.dir, ignore_errors=True)

    def crash(self, postmaster_only=False):
        """The server killed hard. By default as by a power cut: SIGKILL to the postmaster and
        every process of its data folder at once (nothing flushed, nobody told). With
        postmaster_only, `kill -9` of the postmaster alone: its children see it gone and end
        on their own (a session waiting for its standby's acknowledgement is ended unanswered),
        within 10 s or killed. The data stays."""
        pids = self._processes()
        if postmaster_only:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self._processes() and time.monotonic() < deadline:
                time.sleep(0.02)
        self._kill_all()
        self.proc_started = False
        return pids

    def freeze(self):
        """The server hung: SIGSTOP to every process of its data folder. Its connections stay
        open and its kernel acknowledges what is sent, but nothing is answered (a stopped or
        stuck server, a machine paused). Stopped hard and removed with the rest."""
        self.frozen = True
        for pid in self._processes():
            os.kill(pid, signal.SIGSTOP)

    def promote(self):
        """A standby made the primary: it stops replaying and takes writes (pg_ctl promote)."""
        self._as_postgres(BINDIR / "pg_ctl", "-D", self.data, "-w", "-t", "60", "promote",
                          timeout=90)
        self.primary = None

    def in_recovery(self):
        return self.psql("SELECT pg_is_in_recovery()", dbname="postgres").strip() == "t"

    def pause(self):
        """Stops the server, keeping its data (for tests of a database that goes away)."""
        self._as_postgres(BINDIR / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        self.proc_started = False

    def resume(self):
        self._as_postgres(BINDIR / "pg_ctl", "-D", self.data, "-l", self.log, "-o",
                          self._opts(), "-w", "-t", "60", "start", timeout=90)
        self.proc_started = True

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
        return False


def multi_url(servers, dbname="pdgate"):
    """One libpq URL naming every server of servers, in order: a session is made with the
    first that takes writes (target_session_attrs=read-write), the others tried in turn."""
    hosts = ",".join(f"127.0.0.1:{s.port}" for s in servers)
    return f"postgresql://{USER}@{hosts}/{dbname}?target_session_attrs=read-write"


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print("usage: pgserver.py COMMAND [ARG...]  (runs it with PDGATE_TEST_PG set)",
              file=sys.stderr)
        return 2
    t0 = time.monotonic()
    with PgServer() as pg:
        print(f"# PostgreSQL on {pg.url} ({time.monotonic() - t0:.1f}s to start)", flush=True)
        env = dict(os.environ, PDGATE_TEST_PG=pg.url, PDGATE_TEST_PG_DIR=str(pg.dir),
                   PDGATE_TEST_PG_PORT=str(pg.port))
        return subprocess.call(argv[1:], env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
