"""The tree's own rules: no import cycle inside `monitor`, and the pure core never reads the clock.

The layers themselves (entry points → service → adapters → config → core, and the core importing no
I/O library) are import-linter contracts in pyproject.toml, run by `make lint`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "monitor" / "core"


def import_cycles(graph: grimp.ImportGraph, package: str) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    mods = sorted(m for m in graph.modules if m == package or m.startswith(package + "."))
    edges = {m: sorted(w for w in graph.find_modules_directly_imported_by(m) if w in graph.modules) for m in mods}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in mods:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = len(index)
                stack.append(v)
                on_stack.add(v)
            targets = edges.get(v, [])
            if i < len(targets):
                work.append((v, i + 1))
                w = targets[i]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    cycles.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return cycles


def test_no_import_cycle_inside_monitor():
    assert import_cycles(grimp.build_graph("monitor"), "monitor") == []


def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
    pkg = tmp_path / "cyc_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyc_pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from cyc_pkg import c\n")
    (pkg / "c.py").write_text("import cyc_pkg.a\n")
    (pkg / "d.py").write_text("import cyc_pkg.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles(grimp.build_graph("cyc_pkg"), "cyc_pkg") == [["cyc_pkg.a", "cyc_pkg.b", "cyc_pkg.c"]]


CLOCK_READS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
               ("time", "time"), ("time", "monotonic"), ("time", "perf_counter"), ("time", "time_ns"),
               ("time", "localtime"), ("time", "gmtime")}


def clock_reads(source: str) -> list[str]:
    """Calls like ``datetime.now()``, ``date.today()`` or ``time.time()`` (also through a module prefix),
    and ``from time import time``-style imports that would hide one."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name | ast.Attribute):
            owner = node.value.id if isinstance(node.value, ast.Name) else node.value.attr
            if (owner, node.attr) in CLOCK_READS:
                found.append(f"{owner}.{node.attr} (line {node.lineno})")
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            found += [f"from time import {a.name} (line {node.lineno})" for a in node.names
                      if ("time", a.name) in CLOCK_READS]
    return found


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(CORE)))
def test_the_core_never_reads_the_clock(path: Path):
    assert clock_reads(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("source", [
    "from datetime import datetime\nx = datetime.now()\n",
    "import datetime\nx = datetime.datetime.now(tz=None)\n",
    "from datetime import date\nx = date.today()\n",
    "import time\nx = time.time()\n",
    "from time import monotonic\n",
])
def test_the_clock_check_sees_a_clock_read(source: str):
    assert clock_reads(source)


def test_no_function_in_the_core_is_over_60_lines():
    long = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > 60:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert long == []


def test_monitor_has_no_flat_modules_but_its_entry_points():
    flat = sorted(p.name for p in (ROOT / "monitor").glob("*.py"))
    assert flat in (["__init__.py"], ["__init__.py", "__main__.py"])
