"""gevent monkey-patching, done once and only when SSH hosts are involved.

pyinfra runs hosts in greenlets; its SSH transport (paramiko) only yields between
greenlets when sockets and threads are gevent's, which is what pyinfra's own CLI does
first thing. The local connector needs no patch (it uses gevent's subprocess), so
``zixly up`` never patches. Call :func:`ensure_patched` before the first connection.
"""

from __future__ import annotations

import select
import sys
import warnings

_patched = False


def ensure_patched() -> None:
    """``gevent.monkey.patch_all()`` once per process (warnings about late patching silenced)."""
    global _patched
    if _patched:
        return
    # httpx imports httpcore lazily, and httpcore imports trio when it is installed; trio needs
    # select.epoll, which the patch removes. Imported first, hooks' HTTP clients work after it.
    # lazy: gevent is loaded only when SSH hosts are involved, and httpcore must come before its patch
    import httpcore  # noqa: F401
    from gevent import monkey  # type: ignore[import-untyped]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monkey.patch_all()
    _patched = True


def httpcore_after_patch() -> None:
    """Import httpcore in a process gevent patched before us (pyinfra's CLI patches on import).

    httpcore imports trio when it is installed, and trio's import needs ``select.epoll``, which
    the patch removes: every HTTP request of the hooks would fail. The original ``epoll`` is put
    back for that one import (trio only keeps a reference; the hooks' clients are synchronous).
    """
    if "httpcore" in sys.modules or hasattr(select, "epoll"):
        return
    # lazy: gevent is loaded only when SSH hosts are involved
    from gevent import monkey

    setattr(select, "epoll", monkey.get_original("select", "epoll"))  # noqa: B010 (mypy: epoll is a type)
    try:
        # lazy: must come while select.epoll is back (see above)
        import httpcore  # noqa: F401
    finally:
        delattr(select, "epoll")
