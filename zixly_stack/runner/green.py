"""gevent monkey-patching, done once and only when SSH hosts are involved.

pyinfra runs hosts in greenlets; its SSH transport (paramiko) only yields between
greenlets when sockets and threads are gevent's, which is what pyinfra's own CLI does
first thing. The local connector needs no patch (it uses gevent's subprocess), so
``zixly up`` never patches. Call :func:`ensure_patched` before the first connection.
"""

from __future__ import annotations

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
