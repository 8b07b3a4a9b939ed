#!/usr/bin/env python3
"""test_docs — the documents say what the code and the binary do.

- docs/operations.md's configuration table and the key table of gateway/src/config.c name the
  same (section, key) pairs: a key the parser takes that the table leaves out fails, and so does
  a row for a key the parser does not know;
- no document cites "SPEC": the specification is not in the repository, so a reader cannot
  follow such a reference; the documents point into each other instead. No form of the word is
  allowed (a placeholder is spelled otherwise, `PATH:TRANSFORM` say);
- README's document table names files that exist, and every document of docs/;
- every `pdgate COMMAND [SUBCOMMAND] --option` the documents show exists: the command and
  subcommand answer `--help`, and each long option is in that help text.

Needs nothing but the harness and the binary (no daemon)."""

import re
import subprocess

import pdtest
from pdtest import REPO, PDGATE, case, check, eq

OPERATIONS = REPO / "docs/operations.md"
CONFIG_C = REPO / "gateway/src/config.c"
README = REPO / "README.md"

# The documents a reader of the repository is sent to (README's table and what they link).
DOC_GLOBS = ("README.md", "docs/**/*", "certs/*.md", "policies/*.md", "contracts/*.md",
             "tests/e2e/README.md", "dist/**/*")

# Commands and options the documents describe whose branch is not merged here yet: each must be
# missing from the binary; once it is there the suite fails until it is taken off this list, so
# the list only shrinks. Entries: (command, subcommand or None, long option or None).
PENDING = set()
SUBCOMMANDS = ("cert", "token", "ledger", "report", "contract")


def doc_files():
    seen = set()
    for g in DOC_GLOBS:
        for p in sorted(REPO.glob(g)):
            if p.is_file() and p not in seen:
                seen.add(p)
                yield p


def cells(row):
    """The cells of a Markdown table row; a | inside a code span does not split."""
    out, cur, code = [], "", False
    for ch in row.strip().strip("|"):
        if ch == "`":
            code = not code
        if ch == "|" and not code:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def section_text(md, heading):
    """The text under the heading (a line equal to it) up to the next heading of its level."""
    lines = md.splitlines()
    level = heading.split(" ")[0]
    try:
        start = lines.index(heading)
    except ValueError:
        return None
    body = []
    for line in lines[start + 1:]:
        m = re.match(r"(#+) ", line)
        if m and len(m.group(1)) <= len(level):
            break
        body.append(line)
    return "\n".join(body)


def first_table(text, header):
    """The body rows (lists of cells) of the first table whose header cells are header."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and cells(line) == list(header):
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append(cells(row))
            return rows
    return None


def doc_config_keys(md):
    """(pairs, problems): the (section, key) pairs of the configuration table, in order."""
    text = section_text(md, "## Configuration")
    if text is None:
        return [], ["no '## Configuration' section"]
    rows = first_table(text, ("section", "key", "default", "meaning"))
    if rows is None:
        return [], ["no table | section | key | default | meaning | under Configuration"]
    pairs, problems, section = [], [], None
    for n, row in enumerate(rows, 1):
        if len(row) != 4:
            problems.append(f"row {n} has {len(row)} cells: {row}")
            continue
        if row[0]:
            m = re.fullmatch(r"`([a-z_]+)`", row[0])
            if not m:
                problems.append(f"row {n}: section cell {row[0]!r} is not one `name`")
                continue
            section = m.group(1)
        if section is None:
            problems.append(f"row {n}: no section yet")
            continue
        keys = re.findall(r"`([a-z_]+)`", row[1])
        if not keys or re.sub(r"`[a-z_]+`|[,\s]", "", row[1]):
            problems.append(f"row {n}: key cell {row[1]!r} is not `key`, `key`, …")
        pairs += [(section, k) for k in keys]
    return pairs, problems


def code_config_keys(src):
    """(sections, pairs) of config.c: its sections[] and keys[] tables."""
    m = re.search(r"sections\[\]\s*=\s*\{(.*?)\};", src, re.S)
    sections = re.findall(r'"([a-z_]+)"', m.group(1)) if m else []
    m = re.search(r"static const struct key keys\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
    pairs = re.findall(r'\{\s*"([a-z_]+)"\s*,\s*"([a-z_]+)"\s*,\s*K_', m.group(1)) if m else []
    return sections, pairs


def compare_keys(doc_pairs, code_sections, code_pairs):
    """Every difference between the table and config.c, as sentences (empty: they agree)."""
    problems = []
    code, doc = set(code_pairs), set(doc_pairs)
    for s, k in code_pairs:
        if (s, k) not in doc:
            problems.append(f"[{s}] {k}: config.c reads it, docs/operations.md's table does not "
                            f"list it (add a row with its default and meaning)")
    for s, k in doc_pairs:
        if (s, k) not in code:
            problems.append(f"[{s}] {k}: in docs/operations.md's table, but config.c has no such key")
    for p in sorted({p for p in doc_pairs if doc_pairs.count(p) > 1}):
        problems.append(f"[{p[0]}] {p[1]}: listed more than once in the table")
    for s in code_sections:
        if s not in {d for d, _ in doc_pairs}:
            problems.append(f"[{s}]: a section of config.c with no row in the table")
    return problems


SPEC = re.compile(r"\bSPEC\b")


def spec_mentions(text):
    return [n for n, line in enumerate(text.splitlines(), 1) if SPEC.search(line)]


# ---- the configuration table ----

@case("docs/operations.md's configuration table names exactly config.c's (section, key) pairs")
def _():
    doc_pairs, problems = doc_config_keys(OPERATIONS.read_text())
    sections, code_pairs = code_config_keys(CONFIG_C.read_text())
    check(len(sections) >= 8 and len(code_pairs) >= 30,
          f"config.c's tables not found ({len(sections)} sections, {len(code_pairs)} keys)")
    check(len(doc_pairs) >= 30, f"the table gave only {len(doc_pairs)} keys: {problems}")
    problems += compare_keys(doc_pairs, sections, code_pairs)
    check(not problems, "\n".join(problems))


@case("the table comparison fails each way: a key left out, a key that does not exist, a bad row")
def _():
    md = OPERATIONS.read_text()
    sections, code_pairs = code_config_keys(CONFIG_C.read_text())
    doc_pairs, _ = doc_config_keys(md)
    missing = [p for p in doc_pairs if p != code_pairs[-1]]
    out = compare_keys(missing, sections, code_pairs)
    check(any(f"[{code_pairs[-1][0]}] {code_pairs[-1][1]}: config.c reads it" in p for p in out),
          f"a key left out of the table is not noticed: {out}")
    out = compare_keys(doc_pairs + [("gateway", "no_such_key")], sections, code_pairs)
    check(any("no_such_key: in docs/operations.md's table, but config.c" in p for p in out),
          f"a row for an unknown key is not noticed: {out}")
    out = compare_keys(doc_pairs, sections + ["nowhere"], code_pairs)
    check(any("[nowhere]" in p for p in out), f"a section without a row is not noticed: {out}")
    # the parser: sections carry down, several keys in one cell, a cell that is not keys
    table = ("## Configuration\n\n| section | key | default | meaning |\n| --- | --- | --- | --- |\n"
             "| `a` | `x` | 1 | m |\n| | `y`, `z` | | `p|q` |\n| `b` | w | | |\n\n## Next\n")
    pairs, problems = doc_config_keys(table)
    eq(pairs, [("a", "x"), ("a", "y"), ("a", "z")], "pairs of a small table")
    check(len(problems) == 1 and "row 3" in problems[0], f"a key cell without `key`: {problems}")


# ---- references to the specification ----

@case("no document cites SPEC: each points into our own documents")
def _():
    found = []
    for p in doc_files():
        try:
            text = p.read_text()
        except UnicodeDecodeError:
            continue
        for n in spec_mentions(text):
            found.append(f"{p.relative_to(REPO)}:{n}: {text.splitlines()[n - 1].strip()[:120]}")
    check(not found, "SPEC is not in the repository; say what is meant instead (the decision order "
                     "in docs/api.md, say):\n" + "\n".join(found))
    eq(spec_mentions("a\nsee SPEC 9.1\nSPEC.\n(SPEC)\n"), [2, 3, 4], "the scanner finds SPEC")
    eq(spec_mentions("SPECIAL spec Spec SPECS _SPEC_\n"), [], "and nothing else")


# ---- README's document table ----

def readme_documents():
    text = section_text(README.read_text(), "## Where to read on")
    check(text is not None, "README has no '## Where to read on' section")
    rows = first_table(text, ("document", "for"))
    check(rows, "README's 'Where to read on' has no | document | for | table")
    names = []
    for row in rows:
        m = re.fullmatch(r"`([^`]+)`", row[0])
        check(m, f"README's document table: {row[0]!r} is not one `path`")
        names.append(m.group(1))
    return names


@case("README's document table names files that exist, and every document of docs/")
def _():
    names = readme_documents()
    missing = [n for n in names if not (REPO / n).is_file()]
    check(not missing, f"README names documents that do not exist: {missing}")
    docs = sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").iterdir() if p.is_file())
    unlisted = [d for d in docs if d not in names]
    check(not unlisted, f"documents of docs/ that README's table does not name: {unlisted}")
    check("docs/deploy.md" in names, "README's table links docs/deploy.md")


# ---- the commands the documents show ----

# Each `pdgate` word (perhaps as …/bin/pdgate), what follows it up to a shell separator
# captured by a lookahead, so that `runuser -u pdgate -- pdgate serve` yields both.
INVOCATION = re.compile(r"(?<![\w/.@-])(?:(?:[\w@.-]*/)*(?:bin|@BINDIR@)/)?pdgate"
                        r"(?=((?:[ \t]+[^\s|;&)'\"`<>]+)+))")


def code_spans(text, markdown=True):
    """The lines of every shell or unit-file block (```sh, ```ini) and every inline code span
    of a Markdown text (a span may run over lines of its paragraph); of a unit file, its Exec
    lines. Comments dropped. Other blocks (YAML, Java, sample output) hold prose."""
    if not markdown:
        out = [l for l in text.splitlines() if re.match(r"Exec[A-Za-z]*=", l)]
    else:
        out, fenced, para = [], None, []
        for line in text.splitlines() + [""]:
            if line.strip().startswith("```"):
                fenced = None if fenced is not None else line.strip()[3:] in ("sh", "bash", "ini")
            elif fenced is not None:
                if fenced:
                    out.append(line)
            elif line.strip():
                para.append(line.strip())
                continue
            out += re.findall(r"`([^`]+)`", " ".join(para))
            para = []
    joined = "\n".join(out).replace("\\\n", " ")
    return [re.sub(r"(^|\s)#.*", "", l) for l in joined.splitlines()]


def invocations(text, markdown=True):
    """(command, subcommand or None, [long options]) of each `pdgate …` in the code of text."""
    found = []
    for line in code_spans(text, markdown):
        for m in INVOCATION.finditer(line):
            words = m.group(1).split()
            if not words or not re.fullmatch(r"[a-z][a-z-]*", words[0]):
                continue
            cmd, sub = words[0], None
            if cmd in SUBCOMMANDS and len(words) > 1 and re.fullmatch(r"[a-z][a-z-]*", words[1]):
                sub = words[1]
            opts = re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", " ".join(words[1:]))
            found.append((cmd, sub, opts))
    return found


_help = {}


def help_text(cmd, sub):
    """pdgate CMD [SUB] --help: (exit status, output)."""
    key = (cmd, sub)
    if key not in _help:
        args = [PDGATE, cmd] + ([sub] if sub else []) + ["--help"]
        r = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
        _help[key] = (r.returncode, r.stdout + r.stderr)
    return _help[key]


@case("every pdgate command, subcommand and long option the documents show is in the binary")
def _():
    r = subprocess.run([PDGATE, "--help"], capture_output=True, text=True, timeout=30)
    commands = set(re.findall(r"^  ([a-z][a-z-]*) ", r.stdout, re.M))
    check({"init", "serve", "cert", "token", "ledger"} <= commands, f"pdgate --help: {r.stdout}")
    problems, seen_pending, total = [], set(), 0
    for p in doc_files():
        if p.suffix != ".md" and p.parent.name != "systemd":
            continue  # the manual page is groff, its options escaped (\-\-); test_install renders it
        for cmd, sub, opts in invocations(p.read_text(), markdown=p.suffix == ".md"):
            where = f"{p.relative_to(REPO)}: pdgate {cmd}{' ' + sub if sub else ''}"
            if cmd not in commands:
                problems.append(f"{where}: no such command")
                continue
            total += 1
            rc, text = help_text(cmd, sub)
            if sub and f"pdgate {cmd} {sub} " not in text:
                rc = rc or 1  # a command whose --help is shared by its subcommands
                if (cmd, sub, None) in PENDING:
                    seen_pending.add((cmd, sub, None))
                else:
                    problems.append(f"{where}: no such subcommand (not in `pdgate {cmd} {sub} --help`)")
                continue
            if (cmd, sub, None) in PENDING:
                seen_pending.add((cmd, sub, None))
                problems.append(f"{where} exists now: take it off PENDING in test_docs.py")
            for o in opts:
                present = re.search(re.escape(o) + r"(?![a-z0-9-])", text) is not None
                if (cmd, sub, o) in PENDING:
                    if present:
                        problems.append(f"{where} {o} exists now: take it off PENDING in test_docs.py")
                    seen_pending.add((cmd, sub, o))
                elif not present:
                    problems.append(f"{where}: {o} is not in its --help")
    check(total >= 40, f"only {total} invocations found in the documents")
    problems = list(dict.fromkeys(problems))
    for stale in sorted(PENDING - seen_pending, key=str):
        problems.append(f"PENDING {stale}: no document shows it any more: take it off the list")
    check(not problems, "\n".join(problems))


@case("the invocation scanner: commands, subcommands, options, continuations; not prose or paths")
def _():
    text = ("```sh\nrunuser -u pdgate -- pdgate ledger verify -c /etc/pdgate/pdgate.conf  # --nope\n"
            "pdgate cert issue -c X --partner p \\\n    --days=30 --out Y\n"
            "install -d -o pdgate -g pdgate /var/lib/pdgate\nsystemctl reload pdgate\n"
            "ExecStart=/usr/bin/pdgate serve -c F\n```\n"
            "Run `pdgate token issue --ttl 1h`; the pdgate user; pdgate.service; `pdgate_ready`.\n")
    eq(invocations("ExecStart=@BINDIR@/pdgate cert crl -c F --staff\n# pdgate cert revoke\n", markdown=False),
       [("cert", "crl", ["--staff"])], "a unit file")
    eq(invocations(text), [("ledger", "verify", []), ("cert", "issue", ["--partner", "--days", "--out"]),
                           ("serve", None, []), ("token", "issue", ["--ttl"])],
       "invocations of a small document")


if __name__ == "__main__":
    pdtest.run()
