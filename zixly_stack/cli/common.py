"""What every command module shares: the consoles (results on stdout, progress and errors on
stderr) and the repo root the ``zixly`` group chose."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import click
from rich.console import Console

PIPED_WIDTH = 200  # columns of a console whose stream is a pipe, a log file or CI


def make_console(*, stderr: bool = False, file: IO[str] | None = None) -> Console:
    """A console for command output; PIPED_WIDTH columns wide when its stream is not a terminal.

    Rich falls back to 80 columns off a terminal, which squeezes a wide table (the sign-in table
    of ``zixly up`` in a CI log or ``| tee``) into one-character columns. Lines are never
    hard-wrapped (``soft_wrap``). Without *file* the console writes to the current
    ``sys.stdout``/``sys.stderr`` at each print, so a test runner's capture still sees it.
    """
    console = Console(stderr=stderr, file=file, highlight=False, emoji=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = PIPED_WIDTH
    return console


err_console = make_console(stderr=True)
out_console = make_console()


def root_of(ctx: click.Context) -> Path:
    """The repo root chosen by ``--root`` or discovery."""
    return Path(ctx.obj["root"])
