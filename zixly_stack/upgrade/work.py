"""What the upgrade executor works with on one host, and the error it raises.

:class:`HostWork` is one host of an environment as the backup machinery sees it: the
environment with its secrets (:class:`~zixly_stack.backup.local.Env`, which knows each host's
backup plan) and the host reached through the deploy's runner (:class:`~zixly_stack.backup.site.Site`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..backup.local import Env
from ..backup.site import Site
from ..plan.paths import EnvPaths

Say = Callable[[str], None]


class UpgradeFailed(Exception):
    """A step of an upgrade failed; the message says which and what was (not) changed."""


@dataclass
class HostWork:
    """One host of an environment, ready for upgrade work (module doc)."""

    env: Env
    site: Site
    paths: EnvPaths
    say: Say = field(default=lambda text: None)

    @property
    def host(self) -> str:
        """The host's name in hosts.yaml."""
        return self.site.host
