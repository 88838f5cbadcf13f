"""``python -m zixly_stack.engine``: make sure a Docker engine + compose plugin work here.

``--check`` only reports whether an engine answers (exit 0/1) and changes nothing.
Exit status 0 on success, 1 with a one-line ``engine: error: ...`` otherwise.
"""

from __future__ import annotations

import argparse
import sys

from zixly_stack.engine.setup import EngineError, ensure_engine
from zixly_stack.runner.local import engine_available


def main(argv: list[str] | None = None) -> int:
    """Parse *argv*, run the setup, return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m zixly_stack.engine", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    parser.add_argument("--check", action="store_true", help="only report whether an engine answers; change nothing")
    args = parser.parse_args(argv)
    if args.check:
        ok = engine_available()
        print(f"engine: {'available' if ok else 'not available'}")
        return 0 if ok else 1
    try:
        ensure_engine(verbose=not args.quiet)
    except EngineError as exc:
        print(f"engine: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
