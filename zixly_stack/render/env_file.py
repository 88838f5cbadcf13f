"""Env files for Compose ``env_file:`` — the only place secret values go (besides secret files)."""

from __future__ import annotations

from ..errors import ZixlyError


class EnvValueError(ZixlyError):
    """A value that cannot be written safely into a Compose env file."""

    exit_code = 2


def env_line(key: str, value: str) -> str:
    """``KEY='value'``: single quotes make Compose take the value literally (no interpolation)."""
    if "'" in value or "\n" in value or "\r" in value:
        raise EnvValueError(
            f"the value of {key} contains a single quote or a newline, which Compose env files cannot carry "
            "literally; set a value without them (zixly secrets set)"
        )
    return f"{key}='{value}'"


def env_file(items: list[tuple[str, str]]) -> str:
    """A whole env file, one variable a line, in the given order."""
    header = "# Rendered by zixly. Contains secrets: mode 0600, never commit.\n"
    return header + "".join(env_line(k, v) + "\n" for k, v in items)
