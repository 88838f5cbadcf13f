"""Template files of the catalog: where they may be, how they are parsed, what a failure says.

A ``files[].template`` names a file under ``services/<svc>/`` (first) or ``templates/``; the
name is a relative, normalized path (the model refuses ``..`` and absolute paths) and the file,
symlinks resolved, must still lie under that directory, so no template can read ``/etc/passwd``
from the machine that renders. Templates run in a Jinja sandbox with strict undefined variables,
bounded ``*`` and ``**`` (no constant folding of ``9**9**9``) and a bounded output; every
failure is a :class:`ConfigError` located in the template file (``file:line``), never a crash.
"""

from __future__ import annotations

import contextlib
import operator
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from ..config.yamlsrc import PathT, Positions, display_path, dotted
from ..errors import ConfigError, Location, Problem

MAX_BYTES = 256 * 1024  # a template file, and what it renders to
MAX_SEQUENCE = 100_000  # 'x' * n and [..] * n
MAX_EXPONENT = 64
MAX_BITS = 65536
DEADLINE_S = 5.0  # a template that computes for longer is refused (nested loops over large ranges)


class _Timeout(Exception):
    """Raised by the deadline's SIGALRM handler inside a running template."""


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (main thread with SIGALRM only; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _Timeout(f"still computing after {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:  # someone else's timer was running: give it back what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))


class TemplateFileError(ValueError):
    """A template reference that cannot be used (missing, outside its directory, too large)."""


class _Bounded(SandboxedEnvironment):
    """The sandbox with ``*`` and ``**`` intercepted: no huge numbers or strings from a template."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        if op == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise jinja2.exceptions.SecurityError(f"exponent {right} is larger than {MAX_EXPONENT}")
        if op == "**" and isinstance(left, int) and isinstance(right, int) and left.bit_length() * right > MAX_BITS:
            raise jinja2.exceptions.SecurityError(f"a power of more than {MAX_BITS} bits")
        if op == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) and len(seq) * times > MAX_SEQUENCE:
                    raise jinja2.exceptions.SecurityError(f"repeating a sequence past {MAX_SEQUENCE} items")
        return operator.pow(left, right) if op == "**" else operator.mul(left, right)


ENV = _Bounded(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


def template_path(root: Path, svc: str, name: str) -> Path:
    """The file ``name`` refers to for service ``svc`` (module contract); TemplateFileError otherwise."""
    for base in (root / "services" / svc, root / "templates"):
        cand = base / name
        if not cand.is_file():
            continue
        real = cand.resolve()
        if not real.is_relative_to(base.resolve()):
            raise TemplateFileError(f"template {name!r} leads outside {display_path(root, base)}/ (to {real})")
        if real.stat().st_size > MAX_BYTES:
            raise TemplateFileError(f"template {name!r} is larger than {MAX_BYTES} bytes")
        return cand
    raise TemplateFileError(f"template {name!r} not found")


def _line_of(tb: TracebackType | None, filename: str) -> int:
    line = 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def located(exc: BaseException, shown: str, where: str) -> ConfigError:
    """A template failure as a problem at ``shown:line`` (``where`` is the key path that uses it)."""
    line = getattr(exc, "lineno", None) or _line_of(exc.__traceback__, shown) or 1
    if isinstance(exc, jinja2.TemplateSyntaxError):
        message = f"template syntax: {exc.message}"
    elif isinstance(exc, jinja2.TemplateError):
        message = f"template: {exc.message or type(exc).__name__}"
    elif isinstance(exc, _Timeout):
        message = f"template: {exc}"
    elif isinstance(exc, RecursionError):  # Python's own text varies ("... in comparison") with the tracer
        message = "template: RecursionError: maximum recursion depth exceeded (a macro or include calls itself)"
    else:
        message = f"template: {type(exc).__name__}: {str(exc)[:200]}"
    return ConfigError([Problem(Location(shown, line, 1), where, message,
                                "templates see env, domain, service, url(svc), host(svc) and setting(name)")])


def compile_template(root: Path, path: Path, where: str) -> jinja2.Template:
    """Parse a template file (syntax errors become located problems)."""
    shown = display_path(root, path)
    try:
        text = path.read_text(encoding="utf-8")
        code = ENV.compile(text, name=shown, filename=shown)
        return ENV.template_class.from_code(ENV, code, ENV.make_globals(None))
    except UnicodeDecodeError:
        raise ConfigError([Problem(Location(shown, 1, 1), where, "template is not UTF-8 text")]) from None
    except (jinja2.TemplateError, RecursionError, MemoryError, ValueError, TypeError) as exc:
        raise located(exc, shown, where) from None


def run_template(template: jinja2.Template, shown: str, where: str, variables: dict[str, Any]) -> str:
    """Render a compiled template; every failure (undefined name, sandbox refusal...) is located."""
    out: list[str] = []
    size = 0
    try:
        with _deadline(DEADLINE_S):
            for chunk in template.generate(**variables):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise jinja2.exceptions.SecurityError(f"output larger than {MAX_BYTES} bytes")
                out.append(chunk)
    except Exception as exc:  # anything a template expression can raise is a template error
        raise located(exc, shown, where).with_traceback(None) from None
    return "".join(out)


def check_template(root: Path, pos: Positions, svc: str, where: PathT, name: str) -> list[Problem]:
    """Problems of one ``files[].template`` reference: it must exist under services/<svc>/ or
    templates/ (symlinks resolved) and parse; ``pos`` locates the reference in service.yaml."""
    try:
        path = template_path(root, svc, name)
    except TemplateFileError as exc:
        return [Problem(pos.loc(where), dotted(where), str(exc), f"looked in services/{svc}/ and templates/")]
    try:
        compile_template(root, path, dotted(where))
    except ConfigError as exc:
        return exc.problems
    return []
