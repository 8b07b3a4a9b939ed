#!/usr/bin/env python3
"""test_install — pdgate as an operator installs it (SPEC 15.1): `make install` into a staging
folder and into a prefix of its own, the systemd units checked by `systemd-analyze verify` and
rated by `systemd-analyze security`, the manual page rendered by groff, `pdgate --version`, the
installed binary finding its share folder, and `pdgate init --production`: its files, its server
certificate, a daemon serving it, and every refusal.

Needs make, systemd-analyze (package systemd: it only reads unit files, it boots nothing), groff
(groff-base) and openssl besides the harness's requirements; `make test` installs them."""

import json
import os
import re
import shutil
import socket
import sqlite3
import ssl
import subprocess
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import pdtest
from pdtest import REPO, PDGATE, case, check, check_error, eq

VERSION = (REPO / "VERSION").read_text().strip()
UNITS = ("pdgate.service", "pdgate-crl.service", "pdgate-crl.timer")
SCORE_MAX = 2.5
HOSTS = ("gw.example.test", "127.0.0.1", "2001:db8::7")


def make(*args):
    """`make -C <repo> ARGS` with the binary under test as the one installed (never rebuilt:
    -o), outside any make that runs this suite (its flags would leak in)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "SANITIZE")}
    r = subprocess.run(["make", "-C", str(REPO), "--no-print-directory", "-o", PDGATE,
                        f"BIN={PDGATE}", *args], capture_output=True, text=True, env=env,
                       stdin=subprocess.DEVNULL, timeout=300)
    check(r.returncode == 0, f"make {' '.join(args)} failed (exit {r.returncode}): "
                             f"{(r.stderr or r.stdout).strip()[-800:]}")
    return r


def run(*cmd, env=None, timeout=120):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file())


def nothing_left(parent, name):
    """The names under parent that an init of parent/name would have left behind."""
    return sorted(p.name for p in Path(parent).iterdir() if p.name.startswith(name))


class Env(pdtest.Env):
    @pdtest.fixture
    def staged(self):
        """make install DESTDIR=<tmp>/stage PREFIX=/usr: a package's tree."""
        stage = self.tmp / "stage"
        make("install", f"DESTDIR={stage}", "PREFIX=/usr")
        return stage

    @pdtest.fixture
    def prefixed(self):
        """make install PREFIX=<tmp>/prefix (no DESTDIR): units whose binary really exists
        where they say, which is what systemd-analyze verify checks."""
        prefix = self.tmp / "prefix"
        make("install", f"PREFIX={prefix}")
        return prefix

    @property
    def unitdir(self):
        return self.prefixed / "lib" / "systemd" / "system"

    @pdtest.fixture
    def state(self):
        d = self.tmp / "var-lib-pdgate"
        d.mkdir(mode=0o700)
        return d

    @pdtest.fixture
    def production(self):
        """pdgate init --production for three hosts, its ledger and state in a folder apart."""
        args = ["--production", "--state", str(self.state)]
        for h in HOSTS:
            args += ["--hostname", h]
        return self.install(members=None, init_args=args)

    @pdtest.fixture
    def served(self):
        return self.daemon(self.production)


# ---- make install ----

@case("make install DESTDIR PREFIX=/usr: binary, share folder, manual page, units, logrotate")
def _(env):
    st = env.staged
    pdg = st / "usr/bin/pdgate"
    check(pdg.is_file() and os.access(pdg, os.X_OK), "usr/bin/pdgate is an executable")
    eq(pdg.stat().st_mode & 0o777, 0o755, "usr/bin/pdgate mode")
    share = st / "usr/share/pdgate"
    for rel in ("policies/purposes.json", "policies/fields.json", "certs/profiles.cnf"):
        eq((share / rel).read_bytes(), (REPO / rel).read_bytes(), f"share/pdgate/{rel}")
    eq(sorted(p.name for p in (share / "contracts/examples").iterdir()),
       sorted(p.name for p in (REPO / "contracts/examples").glob("*.json")), "example contracts")
    eq(sorted(p.name for p in (share / "ui").iterdir()),
       sorted(p.name for p in (REPO / "gateway/ui").iterdir() if p.is_file()), "console files")
    for f in (share / "ui").iterdir():
        eq(f.read_bytes(), (REPO / "gateway/ui" / f.name).read_bytes(), f"ui/{f.name}")
    man = st / "usr/share/man/man8/pdgate.8"
    text = man.read_text()
    check(f'"pdgate {VERSION}"' in text and "@VERSION@" not in text and "@SHAREDIR@" not in text
          and "/usr/share/pdgate/" in text, "pdgate.8 has the version and the share folder")
    for u in UNITS:
        p = st / "lib/systemd/system" / u
        check(p.is_file(), f"lib/systemd/system/{u} (PREFIX=/usr: /lib/systemd/system)")
        check("@BINDIR@" not in p.read_text(), f"{u}: the binary's path written in")
    svc = (st / "lib/systemd/system/pdgate.service").read_text()
    check("ExecStart=/usr/bin/pdgate serve -c /etc/pdgate/pdgate.conf" in svc, "ExecStart")
    check((st / "etc/logrotate.d/pdgate").read_bytes() == (REPO / "dist/logrotate/pdgate").read_bytes(),
          "etc/logrotate.d/pdgate")
    for f in files_under(st):
        mode = (st / f).stat().st_mode & 0o777
        check(mode == (0o755 if f == "usr/bin/pdgate" else 0o644), f"{f}: mode {mode:o}")


@case("make uninstall takes away every file make install put there")
def _(env):
    stage = env.tmp / "stage-uninstall"
    make("install", f"DESTDIR={stage}", "PREFIX=/usr")
    check(len(files_under(stage)) > 20, "installed first")
    make("uninstall", f"DESTDIR={stage}", "PREFIX=/usr")
    eq(files_under(stage), [], "files left after make uninstall")


@case("pdgate.service: its own user, configuration checked first, SIGHUP, restart, hardening")
def _(env):
    text = (env.unitdir / "pdgate.service").read_text()
    conf = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, _, v = line.partition("=")
            conf.setdefault(k.strip(), []).append(v.strip())
    bindir = env.prefixed / "bin"
    eq(conf.get("User"), ["pdgate"], "User")
    eq(conf.get("ExecStartPre"), [f"{bindir}/pdgate serve -n -c /etc/pdgate/pdgate.conf"], "ExecStartPre")
    eq(conf.get("ExecStart"), [f"{bindir}/pdgate serve -c /etc/pdgate/pdgate.conf"], "ExecStart")
    eq(conf.get("ExecReload"), ["/bin/kill -HUP $MAINPID"], "ExecReload")
    eq(conf.get("Restart"), ["on-failure"], "Restart")
    eq(conf.get("CapabilityBoundingSet"), [""], "no capability at all")
    eq(conf.get("ProtectSystem"), ["strict"], "ProtectSystem")
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices",
                "RestrictSUIDSGID", "MemoryDenyWriteExecute", "LockPersonality"):
        eq(conf.get(key), ["yes"], key)
    eq(conf.get("RestrictAddressFamilies"), ["AF_INET AF_INET6 AF_UNIX"], "RestrictAddressFamilies")
    eq(conf.get("StateDirectory"), ["pdgate"], "the state folder /var/lib/pdgate, writable")
    check("IPAddressDeny" not in conf, "no IPAddressDeny: partners connect from anywhere")


@case("systemd-analyze verify accepts every installed unit")
def _(env):
    e = dict(os.environ, MANPATH=str(env.prefixed / "share/man"))  # Documentation=man:pdgate(8)
    for u in UNITS:
        r = run("systemd-analyze", "verify", env.unitdir / u, env=e)
        check(r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(),
              f"systemd-analyze verify {u}: exit {r.returncode}: {(r.stderr + r.stdout).strip()[-600:]}")
    # and it does look: a unit whose binary is missing is refused
    bad = env.tmp / "bad.service"
    bad.write_text((env.unitdir / "pdgate.service").read_text().replace(
        f"{env.prefixed}/bin/pdgate", f"{env.tmp}/nowhere/pdgate"))
    r = run("systemd-analyze", "verify", bad, env=e)
    check(r.returncode != 0 and "nowhere" in r.stderr, f"a missing binary is found out: {r.stderr.strip()[-300:]}")


def exposure(unit):
    r = run("systemd-analyze", "security", "--offline=yes", unit)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\S+)", r.stdout)
    check(m is not None, f"systemd-analyze security {unit.name}: no overall level in "
                         f"{(r.stdout + r.stderr).strip()[-400:]}")
    return float(m.group(1)), m.group(2)


@case(f"systemd-analyze security rates pdgate.service at most {SCORE_MAX}")
def _(env):
    score, word = exposure(env.unitdir / "pdgate.service")
    print(f"# systemd-analyze security pdgate.service: {score} {word}", flush=True)
    check(score <= SCORE_MAX, f"exposure {score} {word} above {SCORE_MAX}")
    score, word = exposure(env.unitdir / "pdgate-crl.service")
    print(f"# systemd-analyze security pdgate-crl.service: {score} {word}", flush=True)
    check(score <= SCORE_MAX, f"pdgate-crl.service exposure {score} {word}")


@case("pdgate-crl: both CRLs re-signed, then a reload; weekly, persistent, spread")
def _(env):
    svc = (env.unitdir / "pdgate-crl.service").read_text()
    bindir = env.prefixed / "bin"
    check(f"ExecStart={bindir}/pdgate cert crl -c /etc/pdgate/pdgate.conf\n" in svc and
          f"ExecStart={bindir}/pdgate cert crl -c /etc/pdgate/pdgate.conf --staff\n" in svc,
          "re-signs the partner and the staff CRL")
    check("Type=oneshot" in svc and "try-reload-or-restart pdgate.service" in svc, "oneshot, then a reload")
    check("ReadWritePaths=/etc/pdgate/pki\n" in svc, "only the pki folder writable")
    timer = (env.unitdir / "pdgate-crl.timer").read_text()
    for line in ("OnCalendar=weekly", "Persistent=true", "WantedBy=timers.target"):
        check(line + "\n" in timer, line)
    check(re.search(r"^RandomizedDelaySec=\S+", timer, re.M), "RandomizedDelaySec")
    # what the service runs works: on an installation of its own, both CRLs get a new number
    inst = env.install(members=2)
    before = [x509.load_pem_x509_crl((inst.dir / f"pki/{ca}-ca.crl").read_bytes()) for ca in ("partner", "staff")]
    for extra in ((), ("--staff",)):
        r = run(bindir / "pdgate", "cert", "crl", "-c", inst.conf, *extra)
        eq(r.returncode, 0, f"cert crl {extra}: {r.stderr}")
    after = [x509.load_pem_x509_crl((inst.dir / f"pki/{ca}-ca.crl").read_bytes()) for ca in ("partner", "staff")]
    for b, a in zip(before, after):
        num = lambda c: c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        check(num(a) == num(b) + 1, f"CRL number {num(b)} -> {num(a)}")


@case("dist/logrotate/pdgate: the log folder, SIGUSR1 to the main process after rotating")
def _(env):
    text = (REPO / "dist/logrotate/pdgate").read_text()
    check(re.search(r"^/var/log/pdgate/pdgate\.log \{", text, re.M), "rotates /var/log/pdgate/pdgate.log")
    m = re.search(r"postrotate\n(.*?)\n\s*endscript", text, re.S)
    check(m and "SIGUSR1" in m.group(1) and "pdgate.service" in m.group(1) and "main" in m.group(1),
          "postrotate sends SIGUSR1 to pdgate's main process")
    check("missingok" in text, "missingok: without a log file (the journal) it does nothing")


# ---- the manual page ----

def main_commands():
    src = (REPO / "gateway/src/main.c").read_text()
    table = src[src.index("commands[] = {"):]
    table = table[:table.index("};")]
    return re.findall(r'\{"([a-z-]+)",\s*[a-z_]+,', table)


@case("pdgate(8) renders without a warning")
def _(env):
    page = env.staged / "usr/share/man/man8/pdgate.8"
    r = run("groff", "-man", "-ww", "-z", page)
    check(r.returncode == 0 and not r.stderr.strip(), f"groff -man -ww -z: exit {r.returncode}: {r.stderr.strip()[-600:]}")
    if shutil.which("man"):
        r = run("man", "--warnings", "-l", page, env=dict(os.environ, MANWIDTH="80", MAN_KEEP_STDERR="1"))
        check(r.returncode == 0 and not r.stderr.strip(), f"man --warnings: {r.stderr.strip()[-600:]}")
        check("pdgate init DIR --production --hostname HOST" in re.sub(r"\s+", " ", r.stdout),
              "the rendered page reads as text")


@case("pdgate(8) has every subcommand of main.c, every option of their --help, every signal")
def _(env):
    page = (env.staged / "usr/share/man/man8/pdgate.8").read_text()
    plain = page.replace("\\-", "-").replace("\\fB", "").replace("\\fI", "").replace("\\fP", "")
    cmds = main_commands()
    check(len(cmds) >= 8 and "version" in cmds, f"commands of main.c: {cmds}")
    checked, options = [], set()
    for c in cmds:
        check(re.search(rf'^\.SS "pdgate {c}\b', plain, re.M), f"pdgate(8) has a section for '{c}'")
        helps = [pdtest.pdgate(c, "--help")]
        top = helps[0].stdout + helps[0].stderr
        # the commands with sub-commands, in their usage lines or listed under "COMMAND": each
        # one's own --help too
        subs = set(re.findall(rf"pdgate {c} ([a-z][a-z-]+)", top))
        if re.search(rf"pdgate {c} COMMAND", top):
            subs |= set(re.findall(r"^  ([a-z][a-z-]+)\s{2,}", top, re.M))
        checked.extend(f"{c} {sub}" for sub in subs)
        for sub in sorted(subs):
            helps.append(pdtest.pdgate(c, sub, "--help"))
            check(re.search(rf'^\.SS "pdgate {c} {sub}\b', plain, re.M), f"pdgate(8) has 'pdgate {c} {sub}'")
        for h in helps:
            for opt in sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", h.stdout + h.stderr))):
                if opt == "--help":
                    continue
                check(re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", plain),
                      f"pdgate(8) mentions {opt} of 'pdgate {c}'")
                options.add(opt)
    # the scan itself found what it is meant to find
    for want in ("cert issue", "cert crl", "ledger check-proof", "report breach", "token revoke"):
        check(want in checked, f"sub-command {want!r} among those checked: {sorted(checked)}")
    for want in ("--partner", "--days", "--no-resolve", "--max-records", "--production", "--hostname",
                 "--origin", "--state", "--vkey"):
        check(want in options, f"option {want} among those checked")
    print(f"# pdgate(8): {len(cmds)} commands, {len(checked)} sub-commands, {len(options)} options", flush=True)
    signals = plain[plain.index(".SH SIGNALS"):plain.index(".SH FILES")]
    for sig in ("SIGHUP", "SIGUSR1", "SIGTERM", "SIGINT"):
        check(sig in signals, f"SIGNALS has {sig}")
    for sect in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "FILES", "ENVIRONMENT",
                 '"EXIT STATUS"', '"SEE ALSO"'):
        check(f"\n.SH {sect}\n" in page, f"section {sect}")


# ---- the version ----

@case("pdgate --version and pdgate version: pdgate X.Y.Z, then the libraries it runs on")
def _():
    r = pdtest.pdgate("--version")
    eq(r.returncode, 0, f"exit status: {r.stderr}")
    lines = r.stdout.splitlines()
    eq(lines[0], f"pdgate {VERSION}", "first line, from the VERSION file")
    check(re.fullmatch(r"\d+\.\d+\.\d+", VERSION), f"VERSION is X.Y.Z: {VERSION!r}")
    names = [l.split(" ")[0] for l in lines[1:]]
    eq(names, ["OpenSSL", "libmicrohttpd", "GnuTLS", "SQLite", "jansson", "libcurl", "libjwt", "inih"],
       "one line per library")
    # the same shared libraries Python runs on, as Debian has them
    check(ssl.OPENSSL_VERSION in lines, f"{ssl.OPENSSL_VERSION} among {lines}")
    check(f"SQLite {sqlite3.sqlite_version}" in lines, f"SQLite {sqlite3.sqlite_version} among {lines}")
    v = pdtest.pdgate("version")
    eq((v.returncode, v.stdout), (0, r.stdout), "pdgate version says the same")
    bad = pdtest.pdgate("version", "--nonsense")
    eq(bad.returncode, 2, "an argument is a usage error")
    check("version" in pdtest.pdgate("--help").stdout, "listed by pdgate --help")


# ---- the installed binary ----

@case("the installed binary finds PREFIX/share/pdgate, not the source tree")
def _(env):
    prefix = env.tmp / "prefix-marked"
    make("install", f"PREFIX={prefix}")
    (prefix / "share/pdgate/policies/INSTALLED").write_text("from the installed share folder\n")
    e = {k: v for k, v in os.environ.items() if k != "PDGATE_SHARE"}
    demo = env.tmp / "from-installed" / "demo"
    r = run(prefix / "bin/pdgate", "init", demo, "--members", "3", env=e)
    eq(r.returncode, 0, f"installed pdgate init: {r.stderr}")
    check((demo / "policies/INSTALLED").is_file(), "the catalogs came from PREFIX/share/pdgate")
    eq(sorted(p.name for p in (demo / "ui").iterdir()),
       sorted(p.name for p in (REPO / "gateway/ui").iterdir() if p.is_file()), "the console from share/pdgate/ui")
    eq(len(list((demo / "contracts").glob("*.json"))), len(list((REPO / "contracts/examples").glob("*.json"))),
       "the example contracts")
    prod = env.tmp / "from-installed" / "prod"
    r = run(prefix / "bin/pdgate", "init", prod, "--production", "--hostname", "gw.example.test", env=e)
    eq(r.returncode, 0, f"installed pdgate init --production: {r.stderr}")
    check((prod / "policies/INSTALLED").is_file(), "production: the catalogs too")
    r = run(prefix / "bin/pdgate", "contract", "check", *sorted((REPO / "contracts/examples").glob("*.json")), env=e)
    eq(r.returncode, 0, f"installed pdgate contract check, with the installed catalogs: {r.stdout}{r.stderr}")


# ---- init --production ----

@case("init --production: CAs, keys, catalogs, an empty contracts folder, no partner, no member")
def _(env):
    inst = env.production
    d = inst.dir
    for f in ("partner-ca.pem", "partner-ca.key", "partner-ca.crl", "staff-ca.pem", "staff-ca.key",
              "staff-ca.crl", "server-ca.pem", "server-ca.key", "server.pem", "server.key"):
        check((d / "pki" / f).is_file(), f"pki/{f}")
    for f in ("ledger.key", "token.key", "pseudonym.key"):
        eq((d / "keys" / f).stat().st_mode & 0o777, 0o600, f"keys/{f} mode")
    for f in ("partner-ca.key", "staff-ca.key", "server-ca.key", "server.key"):
        eq((d / "pki" / f).stat().st_mode & 0o777, 0o600, f"pki/{f} mode")
    eq(d.stat().st_mode & 0o777, 0o700, "the installation's mode")
    eq(list((d / "contracts").iterdir()), [], "no contract")
    eq(list((d / "pki/partners").iterdir()) + list((d / "pki/staff").iterdir()), [],
       "no demo partner, no staff certificate")
    eq((d / "policies/purposes.json").read_bytes(), (REPO / "policies/purposes.json").read_bytes(), "catalogs")
    db = sqlite3.connect(f"file:{d / 'members.db'}?mode=ro", uri=True)
    try:
        eq(db.execute("SELECT count(*) FROM members").fetchone()[0], 0, "the embedded origin is empty")
    finally:
        db.close()
    eq(inst.get("origin", "url"), "sqlite:members.db", "[origin] url")
    eq(inst.get("ledger", "path"), f"{env.state}/ledger.db", "[ledger] path in --state")
    eq(inst.get("gateway", "state"), f"{env.state}/state.db", "[gateway] state in --state")
    eq(inst.get("ledger", "origin"), "gw.example.test/production", "[ledger] origin: the first host")
    eq(inst.get("tokens", "issuer"), "gw.example.test/production", "[tokens] issuer")
    eq(inst.get("compliance", "require_client_cert"), "true", "staff need a certificate")
    vkey = (d / "keys/ledger.vkey").read_text()
    check(vkey.startswith("gw.example.test/production+"), f"verifier key name: {vkey}")
    r = inst.pdgate("serve", "-n", "-c", inst.conf)
    eq((r.returncode, r.stdout.strip()), (0, "configuration OK"), f"serve -n: {r.stderr}")


@case("init --production: the server certificate names exactly the given hosts")
def _(env):
    d = env.production.dir
    cert = x509.load_pem_x509_certificate((d / "pki/server.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    eq(san.get_values_for_type(x509.DNSName), ["gw.example.test"], "DNS SANs")
    eq([str(a) for a in san.get_values_for_type(x509.IPAddress)], ["127.0.0.1", "2001:db8::7"], "IP SANs")
    eq(len(list(san)), 3, "nothing else (no localhost)")
    eq(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value, "gw.example.test", "CN")
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    eq(list(eku), [ExtendedKeyUsageOID.SERVER_AUTH], "serverAuth only")
    r = run("openssl", "x509", "-in", d / "pki/server.pem", "-noout", "-ext", "subjectAltName")
    check("DNS:gw.example.test" in r.stdout and "IP Address:127.0.0.1" in r.stdout and
          "localhost" not in r.stdout, f"openssl x509 -ext subjectAltName: {r.stdout.strip()}")
    r = run("openssl", "verify", "-CAfile", d / "pki/server-ca.pem", "-purpose", "sslserver",
            "-verify_hostname", "gw.example.test", d / "pki/server.pem")
    eq(r.returncode, 0, f"openssl verify for gw.example.test: {r.stdout}{r.stderr}")
    r = run("openssl", "verify", "-CAfile", d / "pki/server-ca.pem", "-purpose", "sslserver",
            "-verify_hostname", "localhost", d / "pki/server.pem")
    check(r.returncode != 0, "openssl verify for localhost fails")


@case("init --production: served; no certificate 401, an unknown partner 403, the hosts verify")
def _(env):
    dmn = env.served
    inst = dmn.install
    check_error(dmn.get("/v1/whoami"), 401, "client_certificate_required", "no client certificate")
    # a certificate of the installation's partner CA, for a partner no contract names
    r = inst.pdgate("cert", "issue", "-c", inst.conf, "--partner", "nobody", "--out", inst.dir / "nobody")
    eq(r.returncode, 0, f"cert issue: {r.stderr}")
    cert = pdtest.Cert(inst.dir / "nobody.pem", inst.dir / "nobody.key")
    check_error(dmn.get("/v1/members/M0000001", cert=cert, headers={"X-Purpose": "contact"}), 403,
                "partner_unknown", "a partner without a contract")
    who = dmn.get("/v1/whoami", cert=cert)
    check(who.status_code != 200 or not who.json().get("contracts"), f"whoami names no contract: {who.text}")
    # TLS: the certificate is good for the names given, and for no other
    ctx = ssl.create_default_context(cafile=str(inst.server_ca))
    for name in ("gw.example.test", "127.0.0.1"):
        with socket.create_connection(("127.0.0.1", dmn.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=name) as s:
                check(s.version() in ("TLSv1.2", "TLSv1.3"), f"{name}: {s.version()}")
    with socket.create_connection(("127.0.0.1", dmn.port), timeout=10) as raw:
        try:
            ctx.wrap_socket(raw, server_hostname="localhost").close()
            check(False, "localhost verified, but the certificate does not name it")
        except ssl.SSLCertVerificationError:
            pass
    # the ledger and the state database are in --state, and gateway_start has the version
    check((env.state / "ledger.db").is_file() and (env.state / "state.db").is_file(),
          "ledger.db and state.db in the --state folder")
    check(not (inst.dir / "ledger.db").exists(), "no ledger in the installation folder")
    r = inst.pdgate("ledger", "export", "-c", inst.conf)
    leaves = [json.loads(l) for l in r.stdout.splitlines()]
    eq(leaves[0]["admin"]["action"], "gateway_start", "entry 0")
    eq(leaves[0]["admin"].get("version"), VERSION, "gateway_start carries the version")
    check(any(l["kind"] == "deny" and l["reason"] == "partner_unknown" for l in leaves),
          "the unknown partner's refusal is in the ledger")
    dmn.term()
    r = inst.pdgate("ledger", "verify", "-c", inst.conf)
    eq(r.returncode, 0, f"ledger verify after the stop: {r.stdout}{r.stderr}")


@case("init --production --origin https://…: the URL in pdgate.conf, no embedded database")
def _(env):
    url = "https://members.example.test/api/v2"
    inst = env.install(members=None, init_args=["--production", "--hostname", "gw.example.test",
                                                "--origin", url, "--name", "tokyo"])
    eq(inst.get("origin", "url"), url, "[origin] url")
    check(not (inst.dir / "members.db").exists(), "no members.db")
    eq(inst.get("ledger", "origin"), "gw.example.test/tokyo", "--name")
    eq(inst.get("ledger", "path"), "ledger.db", "without --state, the ledger beside the configuration")
    r = inst.pdgate("serve", "-n", "-c", inst.conf)
    eq((r.returncode, r.stdout.strip()), (0, "configuration OK"), f"serve -n: {r.stderr}")


REFUSALS = [
    # (name, arguments after DIR, exit status, words of the message)
    ("--production without --hostname", ["--production"], 2, "needs --hostname"),
    ("a host name with an underscore", ["--production", "--hostname", "gw_1.example.org"], 2, "neither a host name"),
    ("a wildcard", ["--production", "--hostname", "*.example.org"], 2, "neither a host name"),
    ("a trailing dot", ["--production", "--hostname", "gw.example.org."], 2, "neither a host name"),
    ("a mistyped address", ["--production", "--hostname", "999.1.1.1"], 2, "neither a host name"),
    ("a second name smuggled in", ["--production", "--hostname", "gw.example.org,DNS:evil.example"], 2,
     "neither a host name"),
    ("an empty host name", ["--production", "--hostname", ""], 2, "neither a host name"),
    ("the same host twice", ["--production", "--hostname", "gw.example.org", "--hostname", "GW.example.org"], 2,
     "given twice"),
    ("--origin of another scheme", ["--production", "--hostname", "gw.example.org", "--origin", "ftp://members"], 1,
     "not https://"),
    ("--origin in cleartext to another machine",
     ["--production", "--hostname", "gw.example.org", "--origin", "http://members.example.org/api"], 1,
     "only to this machine"),
    ("--origin without a host", ["--production", "--hostname", "gw.example.org", "--origin", "https://"], 1,
     "not a valid URL with a host"),
    ("--origin with a blank", ["--production", "--hostname", "gw.example.org", "--origin", "https://a b/"], 1,
     "blank"),
    ("--origin with a newline (another section)",
     ["--production", "--hostname", "gw.example.org", "--origin", "https://m.example\n[partner]"], 1, "blank"),
    ("--origin sqlite: a file that is not there",
     ["--production", "--hostname", "gw.example.org", "--origin", "sqlite:/nonexistent/members.db"], 1,
     "does not load"),
    ("--members with --production", ["--production", "--hostname", "gw.example.org", "--members", "5"], 2,
     "synthetic members"),
    ("--hostname without --production", ["--hostname", "gw.example.org"], 2, "add --production"),
    ("--origin without --production", ["--origin", "https://members.example.org"], 2, "add --production"),
    ("--state relative", ["--production", "--hostname", "gw.example.org", "--state", "var/lib"], 1,
     "absolute path"),
    ("--state missing", ["--production", "--hostname", "gw.example.org", "--state", "/nonexistent/pdgate"], 1,
     "not an existing folder"),
]


@case("init --production refuses, says why, and creates nothing")
def _(env):
    parent = env.tmp / "refusals" / "deeper"
    for name, args, status, words in REFUSALS:
        r = pdtest.pdgate("init", parent / "inst", *args)
        eq(r.returncode, status, f"{name}: exit status ({r.stderr.strip()})")
        check(words in r.stderr, f"{name}: {words!r} in {r.stderr.strip()!r}")
        check(not parent.parent.exists(), f"{name}: {parent} (or its parents) left behind")
    # a --state that already holds a ledger: another installation's, not taken over
    taken = env.tmp / "refusals-state"
    taken.mkdir()
    (taken / "ledger.db").write_bytes(b"")
    parent.parent.mkdir(parents=True, exist_ok=True)
    r = pdtest.pdgate("init", parent.parent / "inst", "--production", "--hostname", "gw.example.org",
                      "--state", taken)
    check(r.returncode == 1 and "already holds ledger.db" in r.stderr, f"--state with a ledger: {r.stderr}")
    eq(nothing_left(parent.parent, "inst"), [], "--state with a ledger: nothing created")
    # an existing DIR: untouched
    existing = env.tmp / "refusals-existing"
    existing.mkdir()
    (existing / "keep").write_text("mine\n")
    r = pdtest.pdgate("init", existing, "--production", "--hostname", "gw.example.org")
    check(r.returncode == 1 and "already exists" in r.stderr, f"an existing DIR: {r.stderr}")
    eq(sorted(p.name for p in existing.iterdir()), ["keep"], "the existing DIR untouched")
    eq(nothing_left(existing.parent, "refusals-existing"), ["refusals-existing"], "no sibling left")


@case("init without --production: a demo, as before")
def _(env):
    inst = env.install(members=3)
    eq(inst.get("origin", "url"), "sqlite:members.db", "demo origin")
    check(any((inst.dir / "pki/partners").iterdir()) and (inst.dir / "pki/staff/officer.pem").is_file(),
          "demo partners and the officer")
    check(any((inst.dir / "contracts").glob("*.json")), "demo contracts")
    eq(inst.get("ledger", "origin"), "pdgate.local/demo", "demo ledger origin")
    cert = x509.load_pem_x509_certificate((inst.dir / "pki/server.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    eq((san.get_values_for_type(x509.DNSName), [str(a) for a in san.get_values_for_type(x509.IPAddress)]),
       (["localhost"], ["127.0.0.1", "::1"]), "demo server certificate")
    help_text = pdtest.pdgate("init", "--help").stdout
    check("--production" in help_text and "--hostname" in help_text, "init --help describes --production")


if __name__ == "__main__":
    pdtest.run(Env)
