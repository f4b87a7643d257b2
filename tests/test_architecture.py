"""The package's shape: no import cycles, layers that point one way, small modules and functions.

The import graph is read from the source (every ``import`` counts, those
inside functions too; only ``if TYPE_CHECKING:`` blocks are skipped), so a
cycle hidden by a lazy import fails here as it would in review.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "accelbench"

#: Modules that read runs: they must never reach torch, a device, a family or the runner.
#: (``accelbench.cli`` itself dispatches to cli.run or cli.read: test_read_side_without_torch
#: runs the read commands where torch cannot be imported.)
READ_SIDE = ("accelbench", "accelbench.kinds", "accelbench.supervise", "accelbench.errors",
             "accelbench.numerics.tolerance", "accelbench.cli.read")
READ_SIDE_PACKAGES = ("accelbench.results", "accelbench.analysis", "accelbench.report")
#: What the read side may not import, directly or through others.
MEASURING = ("torch", "accelbench.devices", "accelbench.measure", "accelbench.workloads",
             "accelbench.distributed", "accelbench.runner", "accelbench.numerics.checks",
             "accelbench.numerics.tensors", "accelbench.cli.run")
#: Layer of each subpackage; a module may import only from its own layer or lower ones.
#: Storage (results) sits below both its writer (measure) and its readers (analysis).
LAYERS = {
    "accelbench.kinds": 0, "accelbench.errors": 0, "accelbench.supervise": 0,
    "accelbench._core": 0,
    "accelbench.results": 1, "accelbench.workloads": 1,
    "accelbench.devices": 2, "accelbench.numerics": 2,
    "accelbench.measure": 3, "accelbench.ops": 3, "accelbench.distributed": 4,
    "accelbench.runner": 5,
    "accelbench.analysis": 6,
    "accelbench.report": 7,
    "accelbench.cli": 8, "accelbench.pytest_plugin": 8, "accelbench._worker": 8,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
NATIVE = {"accelbench._core"}  # the compiled extension: a module, but not a .py file


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(name: str) -> set[str]:
    """Modules ``name`` imports at run time (accelbench modules resolved, others top-level)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in MODULES or sub in NATIVE else base)
    resolved = set()
    for mod in out:
        if mod.startswith("accelbench"):
            while mod not in MODULES and mod not in NATIVE and "." in mod:
                mod = mod.rpartition(".")[0]
            resolved.add(mod)
        else:
            resolved.add(mod.split(".")[0])
    resolved.discard(name)
    return resolved


GRAPH = {name: _imports(name) for name in MODULES}


def _closure(name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        mod = todo.pop()
        for dep in GRAPH.get(mod, ()):
            # importing accelbench.x.y runs accelbench/x/__init__.py first
            parents = [".".join(dep.split(".")[:i]) for i in range(2, dep.count(".") + 2)]
            for m in [dep, *(p for p in parents if p in MODULES)]:
                if m not in seen:
                    seen.add(m)
                    todo.append(m)
    return seen


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in GRAPH:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return out


def _layer(name: str) -> int | None:
    best = None
    for prefix, layer in LAYERS.items():
        if (name == prefix or name.startswith(prefix + ".")) and (
                best is None or len(prefix) > len(best[0])):
            best = (prefix, layer)
    return None if best is None else best[1]


def test_the_graph_reader_sees_lazy_imports() -> None:
    # accelbench.cli imports its run/read halves inside a function
    assert {"accelbench.cli.run", "accelbench.cli.read"} <= GRAPH["accelbench.cli"]
    assert "torch" in GRAPH["accelbench.measure.case"] | _closure("accelbench.measure.case")


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_layers_point_one_way() -> None:
    backwards = []
    for name, deps in GRAPH.items():
        mine = _layer(name)
        for dep in deps:
            theirs = _layer(dep) if dep.startswith("accelbench") else None
            if mine is not None and theirs is not None and theirs > mine:
                backwards.append(f"{name} -> {dep}")
    assert backwards == []


@pytest.mark.parametrize("name", [m for m in MODULES if m in READ_SIDE
                                  or m.startswith(READ_SIDE_PACKAGES)])
def test_read_side_never_reaches_torch_or_the_runner(name: str) -> None:
    reached = _closure(name) | GRAPH[name]
    bad = sorted(m for m in reached if m in MEASURING or m.startswith(
        tuple(f"{p}." for p in MEASURING)))
    assert bad == [], f"{name} reaches {bad}"


def test_modules_and_functions_are_small() -> None:
    big_modules = [f"{n} ({len(p.read_text().splitlines())} lines)" for n, p in MODULES.items()
                   if len(p.read_text().splitlines()) > 500]
    long_functions = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    long_functions.append(f"{name}.{node.name} ({length} lines)")
    assert big_modules == [] and long_functions == []


BLOCK_TORCH = """
import os
import sys
sys.modules["torch"] = None  # `import torch` now raises ImportError
from accelbench.cli import main
code = main(sys.argv[1:])
import accelbench
frame = accelbench.load(os.environ["RUN_TO_LOAD"])
loaded = sorted(m for m in sys.modules if m.startswith(("accelbench.devices",
    "accelbench.measure", "accelbench.workloads", "accelbench.distributed")))
print("ROWS", len(frame), "LOADED", loaded)
sys.exit(code)
"""


def test_read_side_works_where_torch_cannot_be_imported(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import FAST, TINY_MATMUL

    (tmp_path / "tiny.toml").write_text(TINY_MATMUL)
    runs = []
    for name in ("a", "b"):
        proc = subprocess.run(
            [sys.executable, "-m", "accelbench", "run", "--device", "cpu", "--suite",
             "tiny.toml", "--out", name, "-q", *FAST], capture_output=True, text=True,
            timeout=300, cwd=tmp_path, check=False)
        assert proc.returncode == 0, proc.stderr
        (run,) = (tmp_path / name).iterdir()
        runs.append(str(run))
    env = dict(os.environ, COLUMNS="200", RUN_TO_LOAD=runs[0])
    for args in (["compare", *runs], ["consistency", *runs],
                 ["compare", "--format", "json", *runs]):
        proc = subprocess.run([sys.executable, "-c", BLOCK_TORCH, *args], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path, env=env, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "ROWS 4 LOADED []" in proc.stdout
    assert "consistency 100.0%" in subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH, "consistency", *runs], capture_output=True,
        text=True, timeout=120, cwd=tmp_path, env=env, check=False).stdout
    # in a pipe (no terminal, no COLUMNS) tables keep their natural width instead of 80 columns
    quiet = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    piped = subprocess.run([sys.executable, "-m", "accelbench", "compare", *runs],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path, env=quiet,
                           check=False)
    assert piped.returncode == 0, piped.stderr
    rows = [line for line in piped.stdout.splitlines() if "tiny 64" in line]
    assert rows and all("fp32" in r or "fp64" in r for r in rows)  # one line per case
    assert max(len(line) for line in piped.stdout.splitlines()) > 80
    # the blocker is real: a measuring command fails under it
    proc = subprocess.run([sys.executable, "-c", BLOCK_TORCH, "info", "--device", "cpu"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
                          check=False)
    assert proc.returncode != 0 and "torch" in proc.stdout + proc.stderr
