#!/usr/bin/env python3
"""test_structure — the source tree keeps the shape docs/architecture.md describes.

- the include graph of gateway/src has no circle, between files or between modules (a.c and
  a.h are one module; a private header, a_int.h or a_private.h, belongs to module a);
- no source file of gateway/src is longer than 1,200 lines (one job per file);
- every module of gateway/src is named in docs/architecture.md's module table (a row of its
  own, or a part named in its module's row).

Needs nothing but the sources (no binary, no daemon)."""

import re

import pdtest
from pdtest import REPO, case, check, eq

SRC = REPO / "gateway/src"
ARCH = REPO / "docs/architecture.md"
MAX_LINES = 1200
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def module(name):
    return re.sub(r"_(int|private)$", "", name.rsplit(".", 1)[0])


def graphs(folder):
    """The include edges between the folder's files, and between its modules."""
    files = sorted(p.name for p in folder.iterdir() if p.suffix in (".c", ".h"))
    fedges = {f: {h for h in INCLUDE.findall((folder / f).read_text(errors="replace"))
                  if (folder / h).exists()} for f in files}
    medges = {}
    for f, hs in fedges.items():
        medges.setdefault(module(f), set()).update(module(h) for h in hs if module(h) != module(f))
    return fedges, medges


def circles(edges):
    """The strongly connected components of more than one node, and the self-loops (Tarjan,
    iterative, so that a deep graph cannot overflow the stack)."""
    index, low, on, stack, out, n = {}, {}, set(), [], [], 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = n
        n += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = n
                    n += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in edges.get(v, ()):
                    out.append(sorted(comp))
    return out


def table_modules():
    """The module names docs/architecture.md's module table gives in code spans: the first
    column's, and the parts a row names in its text (`ledger_db` (inside the ledger) …)."""
    text = ARCH.read_text()
    part = text.split("## Modules", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in part.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([a-z][a-z0-9_]*)`", line))
    return names


@case("the include graph of gateway/src has no circle, between files or between modules")
def no_circle(env):
    fedges, medges = graphs(SRC)
    check(len(fedges) > 100 and sum(map(len, fedges.values())) > 300,
          f"read {len(fedges)} files and their includes")
    eq(circles(fedges), [], "file circles")
    eq(circles(medges), [], "module circles")


@case("the circle finder finds circles: two, three, a self-loop; none in a chain")
def finder(env):
    eq(circles({"a": {"b"}, "b": {"a"}}), [["a", "b"]], "a pair")
    eq(circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}), [["a", "b", "c"]], "three")
    eq(circles({"a": {"a"}}), [["a"]], "a self-loop")
    eq(circles({"a": {"b"}, "b": {"c"}, "c": set()}), [], "a chain")
    chain = {str(i): {str(i + 1)} for i in range(5000)}
    chain["5000"] = {"0"}
    eq(len(circles(chain)), 1, "a circle of 5,001 without recursion")
    eq((module("compliance_int.h"), module("server_private.h"), module("ledger_db.c")),
       ("compliance", "server", "ledger_db"), "private headers belong to their module")


@case(f"no source file of gateway/src is longer than {MAX_LINES:,} lines")
def file_sizes(env):
    sizes = {p.name: len(p.read_text(errors="replace").splitlines()) for p in SRC.glob("*.[ch]")}
    eq({n: s for n, s in sizes.items() if s > MAX_LINES}, {}, "files over the limit")


@case("docs/architecture.md's module table names every module of gateway/src")
def module_table(env):
    have = {module(p.name) for p in SRC.glob("*.c")}
    named = table_modules()
    check(len(have) > 50, f"{len(have)} modules in gateway/src")
    eq(sorted(have - named), [], "modules the table does not name")


if __name__ == "__main__":
    pdtest.run()
