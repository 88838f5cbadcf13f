"""What the rules report: a :class:`Finding` about rendered output, with where it came from.

The rules judge the rendered tree (compose files, stack files, Traefik's dynamic config,
file modes), so no spelling in the catalog gets around them. Each finding carries its
:class:`Origin` -- the catalog service and container that produced the offending output --
and the key path inside that container's definition, so :mod:`locate` can point the
message at ``services/<name>/service.yaml:line:col`` (or at the environment override or
the hosts.yaml key that caused it).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Location, Problem
from ..models.service import HARDENING_RULES, Container

PathT = tuple[str | int, ...]


@dataclass(frozen=True)
class Origin:
    """The catalog definition a rendered container comes from.

    ``container`` is None for containers the renderer adds itself (provisioning jobs);
    ``spec`` is the container as the environment runs it (overrides applied), whose
    ``exceptions`` and ``role`` the rules read.
    """

    service: str
    container: str | None
    spec: Container | None
    kind: str = "app"

    def exempt(self, rule: str) -> bool:
        """True when the catalog declares a reasoned exception for ``rule`` here."""
        return self.spec is not None and any(e.rule == rule for e in self.spec.exceptions)

    @property
    def is_job(self) -> bool:
        """One-shot container (``role: job``)."""
        return self.spec is not None and self.spec.role == "job"


@dataclass(frozen=True)
class Finding(Problem):
    """A rule violation in rendered output (``loc`` is the rendered file until located).

    ``key`` is a path inside the origin container's definition (``("cap_add", 0)``);
    ``env_key`` a path in environment.yaml and ``hosts_key`` one in hosts.yaml when the
    offending value comes from there instead.
    """

    rule: str = ""
    origin: Origin | None = None
    key: PathT = ()
    env_key: PathT | None = None
    hosts_key: PathT | None = None
    exemptable: bool = True
    rendered: str = ""


def finding(rule: str, origin: Origin | None, key: PathT, message: str, why: str, rendered: str,
            *, exemptable: bool = True, env_key: PathT | None = None, hosts_key: PathT | None = None) -> Finding:
    """Build a finding. ``rendered`` is ``<file>`` or ``<file> <key path>`` of the offending output;
    the hint says ``why`` and how to declare an exception, or that none is possible."""
    can = exemptable and rule in HARDENING_RULES
    if can:
        where = f"containers.{origin.container}" if origin and origin.container else "the container"
        hint = (f"{why}; if this container really needs it, add to {where}: "
                f"exceptions: [{{rule: {rule}, reason: \"<why>\"}}]")
    else:
        hint = f"{why}; no exception is possible for this"
    file = rendered.split(" ", 1)[0]
    return Finding(Location(file), rendered, f"hardening [{rule}]: {message}", hint, rule=rule, origin=origin,
                   key=key, env_key=env_key, hosts_key=hosts_key, exemptable=can, rendered=rendered)


class Report:
    """Collects findings for one rendered file, skipping those a catalog exception covers."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.findings: list[Finding] = []

    def add(self, rule: str, origin: Origin | None, key: PathT, where: str, message: str, why: str, *,
            exemptable: bool = True, env_key: PathT | None = None, hosts_key: PathT | None = None) -> None:
        """Record a violation at rendered key path ``where`` unless an exception covers it."""
        if exemptable and origin is not None and origin.exempt(rule):
            return
        rendered = f"{self.file} {where}" if where else self.file
        self.findings.append(finding(rule, origin, key, message, why, rendered, exemptable=exemptable,
                                     env_key=env_key, hosts_key=hosts_key))
