"""The n8n payload's pure parts: what pruning removes and keeps, and the cache key.

The real build (npm ci, the sqlite3 binding, n8n --version, the image) is exercised by the
kit build the engine tests start and by ``tests/engine/test_n8n.py`` / ``tests/hooks/test_n8n_real.py``
running that image.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from zixly_stack.images.n8n_stage import _binding_cache, prune_node_modules, tree_key

KEPT = [
    "lodash/index.js",
    "lodash/package.json",
    "pg/lib/client.js",
    "@n8n/db/dist/index.d.ts",  # n8n's own declarations stay
    "n8n-workflow/dist/index.d.ts",
    "typescript/lib/lib.es5.d.ts",
    "isolated-vm/prebuilds/linux-x64/isolated-vm.abi137.glibc.node",
    "agent-browser/bin/agent-browser-linux-x64",
    "some-lib/lib/darwin.js",  # platform-named JavaScript is code, not a foreign binary
    "some-lib/lib/arm/index.js",
    "sqlite3/build/Release/node_sqlite3.node",
]
REMOVED = [
    "lodash/index.js.map",
    "lodash/README.md",
    "@n8n/db/dist/index.js.map",
    "n8n/dist/build.tsbuildinfo",
    "pg/lib/client.d.ts",
    "pg/src/client.ts",
    "isolated-vm/prebuilds/win32-x64/isolated-vm.abi137.node",
    "isolated-vm/prebuilds/linux-arm64/isolated-vm.abi137.glibc.node",
    "isolated-vm/prebuilds/linux-x64/isolated-vm.abi137.musl.node",
    "agent-browser/bin/agent-browser-darwin-arm64",
    "agent-browser/bin/agent-browser-win32-x64.exe",
]


def test_prune_removes_what_n8n_never_loads_and_keeps_the_rest(tmp_path: Path) -> None:
    nm = tmp_path / "node_modules"
    for rel in KEPT + REMOVED:
        path = nm / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        binary = "agent-browser-" in rel and not rel.endswith(".exe")
        path.write_bytes(b"\x7fELF" + b"\0" * 60 if binary else b"x" * 10)
    files, size = prune_node_modules(nm)
    assert sorted(str(p.relative_to(nm)) for p in nm.rglob("*") if p.is_file()) == sorted(KEPT)
    assert files == len(REMOVED) and size > 0


def test_tree_key_follows_package_json_and_lockfile(tmp_path: Path) -> None:
    pj = tmp_path / "package.json"
    pj.write_text('{"dependencies": {"n8n": "2.41.1"}}')
    bare = tree_key(pj)
    (tmp_path / "package-lock.json").write_text('{"lockfileVersion": 3}')
    locked = tree_key(pj)
    (tmp_path / "package-lock.json").write_text('{"lockfileVersion": 3, "packages": {}}')
    assert len({bare, locked, tree_key(pj)}) == 3


@pytest.mark.parametrize("name", ["n8n", "n8n-2.38"])
def test_the_recipe_ships_a_lockfile_for_its_package_json(name: str) -> None:
    import json

    recipe = Path(__file__).parents[2] / "images" / name
    manifest = json.loads((recipe / "package.json").read_text())
    lock = json.loads((recipe / "package-lock.json").read_text())
    root = lock["packages"][""]
    assert root["dependencies"] == manifest["dependencies"]
    assert lock["packages"]["node_modules/n8n"]["version"] == manifest["dependencies"]["n8n"]
    # only the npm registry is reachable here (n8n's own xlsx URL points at a CDN): every package is a
    # tarball URL on it (so npm ci asks for no metadata) checked against its integrity
    packages = {k: v for k, v in lock["packages"].items() if k and not v.get("link")}
    assert len(packages) > 2000
    assert [k for k, v in packages.items() if not v.get("resolved", "").startswith("https://registry.npmjs.org/")
            or not v["resolved"].endswith(f"-{v['version']}.tgz")] == []
    assert [k for k, v in packages.items() if not v.get("integrity", "").startswith("sha512-")] == []
    assert manifest["version"] == manifest["dependencies"]["n8n"]


def test_the_sqlite3_binding_is_kept_per_sqlite3_and_node_version(tmp_path: Path) -> None:
    """Every n8n tree with the same sqlite3 and Node reuses one compiled binding; it lives under
    ``stage-`` (the kit's sweep of scratch directories leaves those to their builder)."""
    (tmp_path / "package.json").write_text('{"zixly": {"node": "24.21.0"}}')
    cache = _binding_cache("5.1.7", tmp_path)
    assert cache.name == "stage-sqlite3-5.1.7-node24.21.0"
    (tmp_path / "package.json").write_text('{"zixly": {"node": "24.22.0"}}')
    assert _binding_cache("5.1.7", tmp_path) != cache
