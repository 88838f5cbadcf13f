"""Imports flow one way: no cycle between files or top-level packages of zixly_stack, and no
import inside a function without a stated reason (AST walk of zixly_stack/).

Three kinds of import are told apart: *top* (module level, run when the module is imported),
*lazy* (inside a function or method, run when it is called) and *typing* (under
``if TYPE_CHECKING:``, never run). Top and lazy imports are edges of the graphs below, so hiding an
import inside a function does not hide a cycle. ``typing`` imports are the one exception: they
never run and the type checker resolves a loop through them; they are few, and each is listed
in :data:`TYPING_ONLY` so a new one is a reviewed choice.

1. No cycle between two files (strongly connected components of the module graph).
2. No cycle between top-level packages (``zixly_stack.<name>``; a top-level module such as
   ``project.py`` counts as its own package).
3. An import inside a function carries ``# lazy: <reason>``, on its line or as a comment line
   right above its block of imports: to keep the CLI's start-up fast (``zixly --help`` loads every
   command module, not what the commands run), or to load an optional or heavy dependency only
   when it is used.

The checker is proven able to fail: planted trees with a cycle or an unmarked lazy import are
flagged (see the tests at the end).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "zixly_stack"
LAZY_MARK = "# lazy:"


@dataclass(frozen=True)
class Edge:
    """One import of module *src* naming module *dst*."""

    src: str
    dst: str
    line: int
    kind: str  # "top" | "lazy" | "typing"
    where: str  # "path:line"


def module_name(root: Path, path: Path) -> str:
    """``zixly_stack/a/b.py`` -> ``zixly_stack.a.b``; a package's ``__init__.py`` is the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement of *tree* with its kind."""

    def walk(node: ast.AST, kind: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, kind
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from walk(child, "lazy" if kind == "top" else kind)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), "typing")
                for stmt in child.orelse:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), kind)
            else:
                yield from walk(child, kind)

    yield from walk(tree, "top")


def _resolve(src: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` statement starts from."""
    if not node.level:
        return node.module or ""
    base = src.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def edges(root: Path, files: Iterable[Path]) -> list[Edge]:
    """The imports between modules of the package under *root* (other imports are left out)."""
    paths = sorted(files)
    modules = {module_name(root, p) for p in paths}
    out: list[Edge] = []
    for path in paths:
        src = module_name(root, path)
        rel = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, kind in _imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = _resolve(src, path.name == "__init__.py", node)
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    targets.append(sub if sub in modules else base)
            for dst in targets:
                while dst and dst not in modules and "." in dst:
                    dst = dst.rsplit(".", 1)[0]
                if dst in modules and dst != src:
                    out.append(Edge(src, dst, node.lineno, kind, f"{rel}:{node.lineno}"))
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
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
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def top_package(module: str) -> str:
    """``zixly_stack.backup.drill`` -> ``zixly_stack.backup``."""
    return ".".join(module.split(".")[:2])


def describe(comp: list[str], es: list[Edge], key: object = None) -> str:
    """A cycle and the imports that tie it, one ``src -> dst (path:line, kind)`` a line."""
    member = set(comp)
    name = top_package if key == "package" else (lambda m: m)
    ties = sorted({f"  {name(e.src)} -> {name(e.dst)}  ({e.where}, {e.kind})" for e in es
                   if name(e.src) in member and name(e.dst) in member and name(e.src) != name(e.dst)})
    return " <-> ".join(comp) + "\n" + "\n".join(ties)


def file_cycles(es: list[Edge]) -> list[str]:
    """Every cycle between files through run-time imports (top and lazy), described."""
    run = [e for e in es if e.kind != "typing"]
    graph: dict[str, set[str]] = {}
    for e in run:
        graph.setdefault(e.src, set()).add(e.dst)
    return [describe(c, run) for c in cycles(graph)]


def package_cycles(es: list[Edge]) -> list[str]:
    """Every cycle between top-level packages through run-time imports, described."""
    run = [e for e in es if e.kind != "typing"]
    graph: dict[str, set[str]] = {}
    for e in run:
        a, b = top_package(e.src), top_package(e.dst)
        if a != b:
            graph.setdefault(a, set()).add(b)
    return [describe(c, run, "package") for c in cycles(graph)]


def unmarked_lazy(root: Path, files: Iterable[Path]) -> list[str]:
    """``path:line: import`` of every import inside a function without a ``# lazy: <reason>``: on its
    own line, or as a comment line right above the block of import statements it belongs to."""
    out: list[str] = []
    for path in sorted(files):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        found = list(_imports(ast.parse(text, str(path))))
        in_import = {i for node, _ in found for i in range(node.lineno, (node.end_lineno or node.lineno) + 1)}
        for node, kind in found:
            if kind != "lazy":
                continue
            above = node.lineno - 1
            while above in in_import:
                above -= 1
            here = lines[node.lineno - 1]
            reason = here.split(LAZY_MARK, 1)[1] if LAZY_MARK in here else ""
            if not reason.strip() and above >= 1 and lines[above - 1].strip().startswith(LAZY_MARK):
                reason = lines[above - 1].strip()[len(LAZY_MARK):]
            if not reason.strip():
                out.append(f"{path.relative_to(root).as_posix()}:{node.lineno}: {here.strip()}")
    return out


def _package_files() -> list[Path]:
    return sorted((ROOT / PACKAGE).rglob("*.py"))


def test_no_cycle_between_files() -> None:
    found = file_cycles(edges(ROOT, _package_files()))
    assert not found, "import cycles between files:\n" + "\n".join(found)


def test_no_cycle_between_packages() -> None:
    found = package_cycles(edges(ROOT, _package_files()))
    assert not found, "import cycles between top-level packages:\n" + "\n".join(found)


def test_imports_inside_functions_say_why() -> None:
    found = unmarked_lazy(ROOT, _package_files())
    assert not found, (f"imports inside a function without `{LAZY_MARK} <reason>` (move them to the top; "
                       "keep one inside only for start-up time or an optional dependency):\n" + "\n".join(found))


def test_typing_only_imports_are_few() -> None:
    """The ``if TYPE_CHECKING:`` imports (for annotations only, never run), each listed here so a
    new one is a reviewed choice; ``backup.site -> backup.local`` is the one that closes a loop
    (``local`` opens sites), which only the type checker sees."""
    typing = sorted({f"{e.src} -> {e.dst}" for e in edges(ROOT, _package_files()) if e.kind == "typing"})
    assert typing == TYPING_ONLY, typing


TYPING_ONLY = [
    "zixly_stack.backup.site -> zixly_stack.backup.local",
    # modules `zixly --help` loads name the loaded project's type without loading it (start-up time)
    "zixly_stack.cli.credentials_cmd -> zixly_stack.project",
    "zixly_stack.cli.deploy_report -> zixly_stack.project",
    "zixly_stack.cli.doctor_cmd -> zixly_stack.doctor",
    "zixly_stack.cli.hooks_cmd -> zixly_stack.project",
    "zixly_stack.cli.main -> zixly_stack.project",
    "zixly_stack.cli.prepared -> zixly_stack.project",
    "zixly_stack.deploy.signin -> zixly_stack.project",
    "zixly_stack.hooks.local_run -> zixly_stack.project",
    "zixly_stack.hooks.swarm -> zixly_stack.project",
    "zixly_stack.render.templates -> zixly_stack.models.service",
    "zixly_stack.render.templates -> zixly_stack.render.context",
    "zixly_stack.render.tree -> zixly_stack.secrets.fingerprint",
]


# -- the checker can fail ------------------------------------------------------------------------

def _plant(tmp: Path, files: dict[str, str]) -> list[Path]:
    out = []
    for rel, text in files.items():
        p = tmp / PACKAGE / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        out.append(p)
    return out


@pytest.mark.parametrize("files", [
    {"__init__.py": "", "a/__init__.py": "", "a/x.py": "from . import y\n", "a/y.py": "from .x import f\n"},
    {"__init__.py": "", "a/__init__.py": "", "a/x.py": "def f():\n    from .y import g  # lazy: start-up\n",
     "a/y.py": "from zixly_stack.a import x\n"},
])
def test_a_planted_file_cycle_fails(tmp_path: Path, files: dict[str, str]) -> None:
    found = file_cycles(edges(tmp_path, _plant(tmp_path, files)))
    assert len(found) == 1 and found[0].startswith("zixly_stack.a.x <-> zixly_stack.a.y"), found


def test_a_planted_package_cycle_fails(tmp_path: Path) -> None:
    files = {"__init__.py": "", "a/__init__.py": "", "b/__init__.py": "",
             "a/x.py": "from ..b.y import g\n", "a/z.py": "", "b/y.py": "from ..a import z\n"}
    es = edges(tmp_path, _plant(tmp_path, files))
    assert file_cycles(es) == []
    found = package_cycles(es)
    assert len(found) == 1 and found[0].startswith("zixly_stack.a <-> zixly_stack.b"), found
    assert "zixly_stack/a/x.py:1" in found[0] and "zixly_stack/b/y.py:1" in found[0]


def test_typing_imports_do_not_count(tmp_path: Path) -> None:
    files = {"__init__.py": "", "x.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .y import T\n",
             "y.py": "from .x import f\n"}
    es = edges(tmp_path, _plant(tmp_path, files))
    assert [e.kind for e in es if e.src == "zixly_stack.x"] == ["typing"]
    assert file_cycles(es) == []


def test_an_unmarked_lazy_import_fails(tmp_path: Path) -> None:
    files = {"__init__.py": "", "x.py": "def f():\n    import json\n    # lazy: optional dependency\n"
             "    import yaml\n    from os import (\n        path,\n    )\n    import httpx  # lazy: start-up time\n"
             "    import csv  # lazy:\n\n    import re\n"}
    found = unmarked_lazy(tmp_path, _plant(tmp_path, files))
    assert found == ["zixly_stack/x.py:2: import json", "zixly_stack/x.py:11: import re"], found
