"""Click parameter types shared by every command that takes an environment or host name.

Each converts through :func:`zixly_stack.models.names.require_name`, the one rule for names, so a
name such as ``../inventories/production`` is refused (exit 2, nothing read or written) before
the command runs, whatever the command.
"""

from __future__ import annotations

from typing import Any

import click

from ..models.names import require_name


class NameParam(click.ParamType):  # type: ignore[type-arg]  # generic only from click 8.2
    """An environment or host name (one DNS label)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.name = f"{what} name"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        where = "NAME"
        if isinstance(param, click.Option):
            where = max(param.opts, key=len)
        elif param is not None:
            where = param.human_readable_name
        return require_name(str(value), self.what, where)


ENV = NameParam("environment")
HOST = NameParam("host")
