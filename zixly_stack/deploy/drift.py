"""``zixly drift``: read each host once (the plan's fact script, with its drift queries) and compare.

Contract
--------
* Read-only: one command per host (:func:`~zixly_stack.plan.facts.facts_script` with
  ``drift_dirs``), run through the host's :class:`~zixly_stack.runner.Runner` as a command
  that changes nothing; no lock is taken.
* The comparison is the pure :func:`zixly_stack.plan.drift.find_drift`; a host that cannot be
  reached or read is an error of the report, never "no drift".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor  # threads: gevent's when the session patched them
from dataclasses import dataclass, field
from typing import Any

from ..errors import SecretsError
from ..plan.drift import Finding, drift_dirs, find_drift
from ..plan.facts import HostFacts, facts_script, parse_facts
from ..project import prepare_secrets, render, throwaway_secrets
from ..runner import Runner
from ..runner.connect import runner_for
from .runner import EnvTarget, env_target, open_env


@dataclass(frozen=True)
class HostDrift:
    """One host: its findings, or why it could not be read."""

    host: str
    release: str | None = None
    findings: tuple[Finding, ...] = ()
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        """``{"host", "release", "error", "findings": [...]}``."""
        return {"host": self.host, "release": self.release, "error": self.error or None,
                "findings": [f.to_json() for f in self.findings]}


@dataclass(frozen=True)
class DriftReport:
    """Every host of an environment."""

    env: str
    hosts: tuple[HostDrift, ...] = field(default_factory=tuple)

    @property
    def findings(self) -> list[Finding]:
        """Every host's findings, hosts in inventory order."""
        return [f for h in self.hosts for f in h.findings]

    @property
    def errors(self) -> dict[str, str]:
        """Hosts that could not be read -> why."""
        return {h.host: h.error for h in self.hosts if h.error}

    def to_json(self) -> dict[str, Any]:
        """The stable document of ``zixly drift --json`` (docs/drift.md)."""
        return {"environment": self.env, "drift": bool(self.findings), "count": len(self.findings),
                "hosts": [h.to_json() for h in self.hosts]}


def read_drift_facts(runner: Runner, et: EnvTarget, name: str) -> HostFacts:
    """*name*'s facts with the drift queries, in one read-only round trip (raises ValueError when cut short)."""
    target = et.targets[name]
    script = facts_script(target.paths, et.env, prepare=target.prepare, drift_dirs=drift_dirs(et.files_of(name)))
    res = runner.run(["sh", "-c", script], timeout=180, read=True)
    facts = parse_facts(res.out)
    if not facts.complete:
        raise ValueError(f"could not read the host's state: {res.tail() or 'no output'}")
    return facts


def host_drift(runner: Runner, et: EnvTarget, name: str) -> HostDrift:
    """One host's :class:`HostDrift` (an unreadable host is an error, not "no drift")."""
    try:
        facts = read_drift_facts(runner, et, name)
    except ValueError as exc:
        return HostDrift(name, error=str(exc))
    target = et.targets[name]
    return HostDrift(name, facts.release, find_drift(name, et.env, et.files_of(name), facts, target.prepare))


def drift_env(et: EnvTarget, runners: Mapping[str, Runner], unreachable: Mapping[str, str] | None = None,
              only: Sequence[str] | None = None) -> DriftReport:
    """Drift of every (chosen) host: *runners* for the reachable ones, *unreachable* -> why for the others."""
    names = [n for n in et.targets if not only or n in only]
    missing = dict(unreachable or {})
    reachable = [n for n in names if n in runners]
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(reachable)))) as pool:
        found = dict(zip(reachable, pool.map(lambda n: host_drift(runners[n], et, n), reachable), strict=True))
    hosts = [found.get(n) or HostDrift(n, error=f"unreachable: {missing.get(n, 'no connection')}") for n in names]
    return DriftReport(et.env, tuple(hosts))


def drift_of(et: EnvTarget, only: Sequence[str] | None = None) -> DriftReport:
    """Connect to the environment's (chosen) hosts, read and compare them, disconnect."""
    session = open_env(et, only)
    try:
        runners = {n: runner_for(h, n) for n, h in session.hosts.items()}
        return drift_env(et, runners, session.errors, only)
    finally:
        session.close()


def rendered_for_drift(loaded: Any) -> tuple[Any, ...]:
    """The environment's render for a drift check: with its secrets when the store opens, else with
    throwaway values (nothing is saved or written; secret files are then not judged: their keyed
    hashes cannot match the release's)."""
    try:
        values = prepare_secrets(loaded).values
    except SecretsError:
        values = throwaway_secrets(loaded)
    return render(loaded, values)


def drift_for(loaded: Any, runners: Mapping[str, Runner]) -> DriftReport:
    """Drift of a loaded environment over already open *runners* (host name -> runner; the health
    report's connections). Raises :class:`~zixly_stack.errors.PlanError` for a swarm environment."""
    et = env_target(loaded, rendered_for_drift(loaded))
    unreachable = {n: "no connection" for n in et.targets if n not in runners}
    return drift_env(et, runners, unreachable)
