"""Read-only round trips to a host: facts, old file texts, another release's hashes.

Each function is one command on the host (see :mod:`zixly_stack.plan.facts` for the
fact script) and returns parsed, pure data. Plans never read secret files back: only
their sha256 travels (``zixly secrets recover`` is the one reader of their content).
"""

from __future__ import annotations

import base64
import posixpath
import shlex
from collections.abc import Sequence
from typing import Any

from ..errors import PlanError
from ..plan.facts import HostFacts, facts_script, parse_facts
from ..plan.paths import EnvPaths
from ..plan.prepare import PrepareSpec
from ..runner.connect import run


def read_facts(host: Any, name: str, paths: EnvPaths, env: str, *, prepare: PrepareSpec | None = None,
               drift_dirs: Sequence[str] | None = None) -> HostFacts:
    """Everything the planner needs about *host* (with *prepare*: its preparation too; with *drift_dirs*:
    what drift needs, see :func:`~zixly_stack.plan.facts.facts_script`), in one round trip."""
    res = run(host, facts_script(paths, env, prepare=prepare, drift_dirs=drift_dirs), timeout=120)
    facts = parse_facts(res.stdout)
    if not facts.complete:
        detail = (res.stderr or res.stdout).strip()[-500:]
        raise PlanError(f"{name}: could not read the host's state: {detail or 'no output'}")
    return facts


def read_texts(host: Any, name: str, directory: str, rels: Sequence[str]) -> dict[str, str]:
    """Texts of release-relative files under *directory* (missing files are left out)."""
    files = read_files(host, name, directory, rels)
    return {rel: data.decode("utf-8", errors="replace") for rel, data in files.items()}


def read_files(host: Any, name: str, directory: str, rels: Sequence[str]) -> dict[str, bytes]:
    """Bytes of release-relative files under *directory*, in one round trip (missing files are left out).

    Plans read only non-secret files; ``zixly secrets recover`` alone reads secret ones.
    """
    if not rels:
        return {}
    parts = []
    for rel in rels:
        path = posixpath.join(directory, rel)
        parts.append(
            f"if [ -f {shlex.quote(path)} ]; then printf '%s\\t' {shlex.quote(rel)} && base64 -w0 {shlex.quote(path)}"
            " && echo; fi"
        )
    res = run(host, "; ".join(parts), timeout=120)
    if not res.ok:
        raise PlanError(f"{name}: could not read files of {directory}: {res.stderr.strip()[-300:]}")
    out: dict[str, bytes] = {}
    for line in res.stdout.splitlines():
        rel, sep, data = line.partition("\t")
        if sep:
            out[rel] = base64.b64decode(data)
    return out


def read_hashes(host: Any, name: str, directory: str) -> dict[str, str]:
    """``relative path -> sha256`` of every file under *directory* on *host*."""
    find = ["find", ".", "-type", "f", "-exec", "sha256sum", "{}", "+"]
    cmd = f"cd {shlex.quote(directory + '/')} && {shlex.join(find)}"
    res = run(host, cmd, timeout=120)
    if not res.ok:
        raise PlanError(f"{name}: cannot read {directory}: {res.stderr.strip()[-300:]}")
    out = {}
    for line in res.stdout.splitlines():
        digest, _, path = line.partition("  ")
        if len(digest) == 64 and path:
            out[path[2:] if path.startswith("./") else path] = digest
    return out


def read_log(host: Any, paths: EnvPaths, lines: int = 10) -> list[str]:
    """The last *lines* entries of the release log (JSON lines, no secrets)."""
    res = run(host, f"tail -n {int(lines)} {shlex.quote(paths.log)} 2>/dev/null || true", timeout=30)
    return [x for x in res.stdout.splitlines() if x.strip()]
