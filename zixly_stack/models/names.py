"""The one rule for environment and host names (they become directories, project names and labels).

An environment name is a directory under ``inventories/``, the output directory, the
``<base_dir>/<env>`` tree on hosts and the ``zixly-<env>`` prefix of every Compose project; a
host name is a directory of the rendered tree. So both are one DNS label: lowercase letters,
digits and ``-``, 1 to 63 characters, not starting or ending with ``-``. Nothing else can
contain ``/``, ``..``, spaces or control characters. :func:`check_name` is the only place that
decides; the CLI, the loader and the ``hosts.yaml`` model all call it.
"""

from __future__ import annotations

import re

from ..errors import ConfigError, Location, Problem

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
NAME_HINT = ("expected a DNS label: lowercase letters, digits and '-', 1 to 63 characters, "
             "not starting or ending with '-', such as 'production' or 'vps1'")
_NAME = re.compile(NAME_PATTERN)


def is_name(value: object) -> bool:
    """True when ``value`` is a usable environment or host name."""
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def name_problem(value: object, what: str = "environment") -> tuple[str, str] | None:
    """``(message, hint)`` saying why ``value`` is not a valid ``what`` name, or ``None`` when it is."""
    if is_name(value):
        return None
    shown = repr(value[:60] + "...") if isinstance(value, str) and len(value) > 63 else repr(value)
    return f"invalid {what} name {shown}", NAME_HINT


def require_name(value: str, what: str = "environment", where: str = "ENV") -> str:
    """``value`` when valid; else a :class:`ConfigError` (exit 2) located on the command line at ``where``."""
    bad = name_problem(value, what)
    if bad is None:
        return value
    raise ConfigError([Problem(Location("command line"), where, *bad)])
