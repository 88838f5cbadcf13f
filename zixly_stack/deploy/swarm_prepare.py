"""Host preparation for ``mode: swarm`` nodes: planned from facts, applied before the swarm is set up.

Contract
--------
* Every host of a swarm environment is a node and is prepared with the steps of
  :mod:`zixly_stack.plan.prepare` its ``hosts.yaml`` ``prepare:`` leaves on, in swarm mode:
  the engine (no Compose CLI needed), ``daemon.json`` with ``no-new-privileges`` and without
  ``live-restore`` (the engine refuses swarm mode with it), the deploy user, SSH hardening,
  unattended upgrades and the firewall, which additionally opens the swarm ports (2377/tcp,
  7946/tcp+udp, 4789/udp) to the other nodes' addresses only. The nightly backup and
  health schedules are not installed on swarm nodes (docs/swarm.md, Known limits).
* :func:`plan_nodes` reads each node's preparation facts (one round trip, in parallel) and
  plans; nothing is planned for what is in place, so a second run plans nothing.
* :func:`apply_nodes` applies the plan of each node (nodes in parallel): its files written
  atomically over the connection (stdin, never an argv), then its commands; the first
  failing command stops that node with a :class:`~zixly_stack.errors.PlanError`.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..catalog.stack import Stack
from ..errors import PlanError
from ..plan.prepare import (
    FIREWALL_FILE,
    PrepareChange,
    PrepareSpec,
    change_lines,
    facts_script,
    parse_prepare,
    plan_prepare,
)
from ..runner.connect import Session, is_local, joined, parallel, run

SWARM_OFF = frozenset({"backup_schedule", "health_schedule", "notify"})
Plans = dict[str, tuple[PrepareChange, ...]]


def prepare_specs(stack: Stack) -> dict[str, PrepareSpec]:
    """``host -> PrepareSpec`` for every remote node (``@local`` is set up by ``zixly up`` / the engine module)."""
    out: dict[str, PrepareSpec] = {}
    for name, host in stack.hosts.items():
        if is_local(host):
            continue
        on = frozenset(k for k, v in host.prepare.model_dump().items() if v) - SWARM_OFF
        peers = tuple(h.address for n, h in stack.hosts.items() if n != name)
        out[name] = PrepareSpec(name, stack.env_name, on, host.port, True, peers)
    return out


def plan_nodes(session: Session, specs: Mapping[str, PrepareSpec]) -> tuple[Plans, list[str]]:
    """Each node's preparation still to do, and the warnings (``host: text``)."""
    names = [n for n in session.hosts if n in specs]

    def one(name: str) -> tuple[tuple[PrepareChange, ...], tuple[str, ...]]:
        res = run(session.hosts[name], facts_script(specs[name]), timeout=120)
        lines = res.stdout.split("@@prepare", 1)[-1].splitlines() if "@@prepare" in res.stdout else []
        if not lines:
            raise PlanError(f"{name}: could not read the host's preparation facts: "
                            f"{(res.stderr or res.stdout).strip()[-300:] or 'no output'}")
        return plan_prepare(specs[name], parse_prepare(lines))

    got = dict(zip(names, parallel(one, names), strict=True))
    warnings = [f"{n}: {w}" for n, (_, ws) in got.items() for w in ws]
    return {n: c for n, (c, _) in got.items() if c}, warnings


def _write(host: Any, name: str, path: str, text: str, mode: str) -> None:
    tmp = posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.zixly-tmp")
    script = joined([["mkdir", "-p", posixpath.dirname(path)]]) + \
        f" && cat > {shlex.quote(tmp)} && " + joined([["chmod", mode, tmp], ["mv", "-f", tmp, path]])
    res = run(host, script, timeout=120, stdin=text)
    if not res.ok:
        raise PlanError(f"{name}: prepare: cannot write {path}: {(res.stderr or res.stdout).strip()[-300:]}")


def apply_change(host: Any, name: str, change: PrepareChange) -> None:
    """One preparation change on a connected node (module contract)."""
    if change.upload:
        raise PlanError(f"{name}: prepare {change.step}: copying {change.upload[0]} is not done on swarm nodes")
    for path, text, mode in change.files:
        _write(host, name, path, text, mode)
    for argv in change.argvs:
        res = run(host, shlex.join(argv), timeout=900)
        if not res.ok:
            raise PlanError(f"{name}: prepare {change.step}: `{shlex.join(argv)}` failed: "
                            f"{(res.stderr or res.stdout).strip()[-400:]}")


def apply_nodes(session: Session, plans: Plans, say: Callable[[str, str], None]) -> int:
    """Apply *plans* (nodes in parallel); returns the number of changes made."""
    names = [n for n in plans if n in session.hosts]

    def one(name: str) -> int:
        for change in plans[name]:
            say(name, change.describe())
            apply_change(session.hosts[name], name, change)
        return len(plans[name])

    return sum(parallel(one, names))


def firewall_rules(change: PrepareChange) -> list[str]:
    """The accept rules of a firewall change's ruleset (what a plan shows of it)."""
    return [line.strip() for path, text, _ in change.files if path == FIREWALL_FILE
            for line in text.splitlines() if line.strip().endswith("accept")]


def plan_json(plans: Plans) -> list[dict[str, Any]]:
    """Machine-readable preparation plan: host, step, summary, files, commands, firewall rules."""
    return [{"host": host, "step": c.step, "summary": c.summary, "files": [p for p, _, _ in c.files],
             "commands": [shlex.join(a) for a in c.argvs], "rules": firewall_rules(c)}
            for host, changes in plans.items() for c in changes]


def plan_text(plans: Plans, warnings: Sequence[str]) -> list[str]:
    """Human plan lines: each change with its files, commands and firewall rules."""
    lines: list[str] = []
    for host, changes in plans.items():
        for c in changes:
            head, *rest = change_lines([c])
            lines.append(f"  {host}: {head}")
            lines += [f"  {x}" for x in rest]
            lines += [f"      rule: {r}" for r in firewall_rules(c)]
    lines += [f"  warning {w}" for w in warnings]
    return lines
