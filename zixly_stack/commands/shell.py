"""Small host-side shell wrappers around argv lists. Pure.

Each wrapper is ``[sh|bash, -c, FIXED SCRIPT, NAME, ARGS...]``: the script text is a
constant of this module and everything variable travels as a positional argument, so no
value is ever spliced into shell code (nothing to quote, nothing to inject).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

PIPE_MARK = b"@@zixly-pipe"
# PRODUCER | CONSUMER on the host; the consumer's stdout/stderr are the wrapper's own, then a
# marker line with both exit codes, then the end of the producer's stderr (kept in a 0600 temp file).
_PIPE = (
    'n=$1; shift; e=$(mktemp) || exit 125; '
    '"${@:1:$n}" 2>"$e" | "${@:$((n+1))}"; rc=("${PIPESTATUS[@]}"); '
    "printf '\\n%s %s %s\\n' " + PIPE_MARK.decode() + ' "${rc[0]}" "${rc[1]}" >&2; '
    'tail -c 16384 "$e" >&2; rm -f "$e"'
)
_STATUS = re.compile(rb"\n" + re.escape(PIPE_MARK) + rb" (\d+) (\d+)\n")
_ENV_FILE = 'f=$1; shift; if [ -f "$f" ]; then set -a; . "$f" || exit 126; set +a; fi; exec "$@"'


def pipe(producer: Sequence[str], consumer: Sequence[str]) -> list[str]:
    """``PRODUCER | CONSUMER`` in bash on the host; see :func:`parse_pipe_status`."""
    return ["bash", "-c", _PIPE, "bash", str(len(producer)), *producer, *consumer]


def parse_pipe_status(stderr: bytes) -> tuple[tuple[int, int] | None, bytes, bytes]:
    """``((producer code, consumer code), producer stderr, consumer stderr)`` from :func:`pipe`'s stderr;
    codes are None when the marker is missing (the wrapper did not finish)."""
    found = list(_STATUS.finditer(stderr))
    if not found:
        return None, b"", stderr
    m = found[-1]
    return (int(m.group(1)), int(m.group(2))), stderr[m.end():], stderr[: m.start()]


def with_env_file(env_file: str, argv: Sequence[str]) -> list[str]:
    """*argv* with the variables of *env_file* exported when that file exists (credentials stay in
    the file and the process environment, never in an argv)."""
    return ["sh", "-c", _ENV_FILE, "sh", env_file, *argv]


def with_env(values: dict[str, str], argv: Sequence[str], unset: Sequence[str] = ()) -> list[str]:
    """``env [-u NAME]... NAME=VALUE... ARGV`` -- only for values that are not secret."""
    out = ["env"]
    for name in unset:
        out += ["-u", name]
    return [*out, *(f"{k}={v}" for k, v in sorted(values.items())), *argv]


def with_timeout(seconds: int, argv: Sequence[str]) -> list[str]:
    """*argv* killed by the host after *seconds* (``timeout``: the command ends even if this side stops watching)."""
    return ["timeout", "--kill-after=30", str(seconds), *argv]
