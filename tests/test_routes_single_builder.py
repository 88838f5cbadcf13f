"""A route's host name, its public origin and the Traefik router each have one builder (AST walk of zixly_stack/).

- ``<subdomain>.<domain>``: an f-string or ``+`` chain joining something, ``"."`` and a
  ``...domain`` is allowed only in ``catalog/routes.py:route_host``;
- ``https://<host>`` (no explicit ``:port`` after the host: a public URL, not a request to an
  edge address) only in ``catalog/routes.py:https_origin``;
- a ``Host(`...`)`` rule only in ``render/traefik.py:host_rule``;
- a router: a dict literal with ``rule`` and ``entryPoints`` keys only in ``render/traefik.py:router``, a
  ``traefik.http.routers.`` label only in ``render/traefik.py:router_labels``.

A second builder elsewhere fails with its file, line and the function to call instead.
The checker is proven able to fail: planted modules with each kind of builder are flagged.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "zixly_stack"
# what -> (module, function) that alone may build it
OWNERS = {
    "host name": ("catalog/routes.py", "route_host"),
    "https origin": ("catalog/routes.py", "https_origin"),
    "Host rule": ("render/traefik.py", "host_rule"),
    "router": ("render/traefik.py", "router"),
    "router label": ("render/traefik.py", "router_labels"),
}


def _pieces(node: ast.expr) -> list[ast.expr] | None:
    """The parts of an f-string or of a ``+`` chain, in order; None for anything else."""
    if isinstance(node, ast.JoinedStr):
        return [v.value if isinstance(v, ast.FormattedValue) else v for v in node.values]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _pieces(node.left) or [node.left]
        right = _pieces(node.right) or [node.right]
        return left + right
    return None


def _text(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _kinds(node: ast.AST) -> list[str]:
    """What builders *node* is (usually none)."""
    found: list[str] = []
    if isinstance(node, ast.Dict) and {"rule", "entryPoints"} <= {_text(k) for k in node.keys if k is not None}:
        found.append("router")
    if not isinstance(node, ast.expr):
        return found
    parts = _pieces(node)
    if not parts:
        return found
    for i, part in enumerate(parts):
        text = _text(part)
        if text is None:
            continue
        after = parts[i + 1] if i + 1 < len(parts) else None
        if (text == "." and i > 0 and _text(parts[i - 1]) is None and after is not None and _text(after) is None
                and "domain" in ast.unparse(after)):
            found.append("host name")
        if text.endswith("https://") and after is not None and _text(after) is None:
            nxt = _text(parts[i + 2]) if i + 2 < len(parts) else None
            if not (nxt or "").startswith(":"):
                found.append("https origin")
        if text.endswith("Host(`") and after is not None:
            found.append("Host rule")
        if "traefik.http.routers." in text:
            found.append("router label")
    return found


def builders(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, kind, enclosing function) of every builder in *tree*; nested f-strings count once."""
    out: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, func: str) -> None:
        kinds = _kinds(node)
        for kind in kinds:
            out.append((getattr(node, "lineno", 0), kind, func))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            func = node.name
        for child in ast.iter_child_nodes(node):
            if kinds and isinstance(child, ast.expr) and not isinstance(child, ast.Dict):
                continue  # the parts of a chain already looked at
            visit(child, func)

    visit(tree, "")
    return out


def offences(rel: str, tree: ast.AST) -> list[str]:
    """A line per builder in module *rel* that is not its kind's owner."""
    return [f"zixly_stack/{rel}:{line}: builds a {kind} in {func or 'module level'}; call "
            f"{OWNERS[kind][0]}:{OWNERS[kind][1]} instead"
            for line, kind, func in builders(tree) if (rel, func) != OWNERS[kind]]


def test_each_route_piece_has_one_builder() -> None:
    bad: list[str] = []
    seen: set[str] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bad += offences(rel, tree)
        seen |= {kind for _, kind, func in builders(tree) if (rel, func) == OWNERS[kind]}
    assert not bad, "\n".join(bad)
    assert seen == set(OWNERS), f"owners that build nothing any more: {set(OWNERS) - seen}"


@pytest.mark.parametrize(("source", "kind"), [
    ('def f(r, env):\n    return f"{r.subdomain}.{env.domain}"\n', "host name"),
    ('def f(sub, domain):\n    return sub + "." + domain\n', "host name"),
    ('def f(host):\n    return f"https://{host}/"\n', "https origin"),
    ('def f(host, port):\n    return f"https://{host}" + ("" if port == 443 else f":{port}")\n', "https origin"),
    ('def f(h):\n    return f"Host(`{h}`) && PathPrefix(`/x`)"\n', "Host rule"),
    ('def f(r):\n    return {"rule": r, "entryPoints": ["websecure"], "service": "x"}\n', "router"),
    ('def f(n):\n    return {f"traefik.http.routers.{n}.rule": "x"}\n', "router label"),
])
def test_a_second_builder_is_flagged(source: str, kind: str) -> None:
    got = offences("planted.py", ast.parse(source))
    assert len(got) == 1 and f"builds a {kind} in f;" in got[0], got


@pytest.mark.parametrize("source", [
    'def f(address, port, path):\n    return f"https://{address}:{port}{path}"\n',  # an edge address, not a route
    'def f(client, host_domain):\n    return f"{client}.demo.{host_domain}"\n',  # a domain, not a route host
    'def f(name):\n    return f"{name}.yml"\n',
])
def test_other_strings_are_not_builders(source: str) -> None:
    assert offences("planted.py", ast.parse(source)) == []
