"""One error hierarchy for the whole tool.

Every error a user can cause is a :class:`ZixlyError` with an exit code. The CLI
prints ``str(error)`` (never a traceback unless ``--debug``). Messages must never
contain secret values: pass :class:`zixly_stack.secrets.value.Secret` objects,
which mask themselves, or leave the value out.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ZixlyError(Exception):
    """Base class. ``exit_code`` is the process exit status the CLI uses."""

    exit_code: int = 1


@dataclass(frozen=True, order=True)
class Location:
    """A position in a source file, 1-based line and column (0 = unknown)."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.col or 1}"
        return self.file


@dataclass(frozen=True)
class Problem:
    """One configuration problem: where, which key path, what is wrong, a hint."""

    loc: Location
    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.loc}: {self.path}: {self.message}" if self.path else f"{self.loc}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return " ".join(text.splitlines())  # one problem, one line, whatever a library message holds


@dataclass
class ConfigError(ZixlyError):
    """Bad input. Carries *all* problems found, reported at once, GCC-like."""

    problems: list[Problem] = field(default_factory=list)
    exit_code: int = 2

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [str(p) for p in sorted(self.problems, key=lambda p: (p.loc, p.path))]
        n = len(self.problems)
        lines.append(f"{n} error{'s' if n != 1 else ''} in configuration; nothing was written")
        return "\n".join(lines)


class SecretsError(ZixlyError):
    """The secrets store cannot be used (no key, wrong key, corrupt file, refused rotation)."""

    exit_code = 3


class PlanError(ZixlyError):
    """Planning failed (host unreachable, facts unreadable)."""

    exit_code = 1


class ApplyError(ZixlyError):
    """Applying a plan failed; the previous release is left running."""

    exit_code = 1


class HealthGateError(ApplyError):
    """A container did not become healthy; the deploy was rolled back."""


class LockError(ZixlyError):
    """Another deploy holds the host lock."""

    exit_code = 4


class EngineError(ZixlyError):
    """The Docker engine is missing or does not answer."""

    exit_code = 5
