"""What every command module shares: the consoles (results on stdout, progress and errors on
stderr) and the repo root the ``zixly`` group chose."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

err_console = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)
out_console = Console(highlight=False, emoji=False, soft_wrap=True)


def root_of(ctx: click.Context) -> Path:
    """The repo root chosen by ``--root`` or discovery."""
    return Path(ctx.obj["root"])
