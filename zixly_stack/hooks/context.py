""":class:`HookContext`: everything a hook may use, and nothing else.

Contract:

* Secrets come only from :meth:`HookContext.secret` (``Secret`` values from the
  environment's encrypted store); they travel to containers on **stdin**, never in an
  argv, and every text a hook shows (errors, logs) passes :meth:`HookContext.redact`.
* :meth:`exec` runs an argv list in a service's container through the transport, bounded
  by the hook's deadline; with ``check=True`` a non-zero exit raises :class:`HookError`
  carrying the command's name and the (redacted) tail of its output.
* :meth:`http` returns an ``httpx.Client`` for a container port (direct or through
  Traefik with a Host header, as the transport decides).
* Settings and public URLs resolve exactly as the renderer resolves ``${setting:...}`` and
  ``${url:...}`` placeholders.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ..catalog.stack import Stack
from ..models.service import Service
from ..render.context import RenderContext
from ..secrets.value import Secret, redact
from .base import ContainerRef, ExecResult, HookError, Transport
from .state import HookRecord

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class HookContext:
    """The world as one hook run sees it (see the module contract)."""

    env: str
    hook: str
    service: str
    stack: Stack
    secrets: Mapping[str, Secret]
    transport: Transport
    root: Path
    previous: HookRecord | None = None
    deadline: float = float("inf")
    log: Log = _quiet
    cancelled: threading.Event = field(default_factory=threading.Event)

    # -- configuration -------------------------------------------------------------
    @property
    def definition(self) -> Service:
        """The service this hook belongs to, with the environment's overrides applied."""
        return self.stack.services[self.service]

    def has_service(self, name: str) -> bool:
        """True when the environment runs service *name*."""
        return name in self.stack.services

    def secret(self, name: str) -> Secret:
        """A secret by full name (``n8n.owner_password``) or by this service's short name."""
        full = name if "." in name else f"{self.service}.{name}"
        value = self.secrets.get(full)
        if value is None:
            raise HookError(f"secret {full} is not in the store; deploy (or `zixly render`) creates it")
        return value

    def _render(self) -> RenderContext:
        return RenderContext(self.stack, self.secrets, self.root)

    def setting(self, name: str) -> str:
        """``${setting:NAME}`` (``admin_email``, ``domain``, ``timezone``, ``smtp_*`` ...)."""
        return self._render().setting(name)

    def public_url(self, service: str) -> str:
        """``${url:SERVICE}``, e.g. ``https://n8n.example.com``."""
        return self._render().public_url(service)

    def public_host(self, service: str) -> str:
        """``${host:SERVICE}``."""
        return self._render().public_host(service)

    def seeds(self, service: str | None = None) -> Path:
        """``services/<service>/seeds`` in the repo."""
        return self.root / "services" / (service or self.service) / "seeds"

    def redact(self, text: str) -> str:
        """*text* with every secret value of the environment masked."""
        return redact(text, self.secrets.values())

    # -- time ----------------------------------------------------------------------
    def remaining(self) -> float:
        """Seconds left before the hook's timeout; raises once it passed or the run was cancelled."""
        if self.cancelled.is_set():
            raise HookError("cancelled (the hook's timeout passed)")
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise HookError("the hook's timeout passed")
        return left

    def sleep(self, seconds: float) -> None:
        """Sleep, but never past the deadline (and wake up when cancelled)."""
        self.cancelled.wait(min(seconds, max(self.remaining(), 0.0)))

    # -- containers ----------------------------------------------------------------
    def exec(
        self,
        container: str,
        argv: Sequence[str],
        *,
        service: str | None = None,
        user: str | None = None,
        stdin: bytes | str | None = None,
        timeout: float = 120.0,
        check: bool = True,
    ) -> ExecResult:
        """Run *argv* in ``service/container`` (module contract)."""
        ref = ContainerRef(service or self.service, container)
        data = stdin.encode() if isinstance(stdin, str) else stdin
        res = self.transport.exec(ref, list(argv), user=user, stdin=data, timeout=min(timeout, self.remaining()))
        if check and not res.ok:
            tail = self.redact((res.stderr.strip() or res.stdout.strip())[-600:])
            raise HookError(f"{ref}: `{' '.join(argv[:3])}` exited {res.returncode}: {tail or 'no output'}")
        return res

    # -- HTTP ----------------------------------------------------------------------
    def http(self, container: str, port: int, *, service: str | None = None, timeout: float = 30.0) -> httpx.Client:
        """An HTTP client whose base URL is ``service/container``'s *port* (caller closes it)."""
        ep = self.transport.endpoint(ContainerRef(service or self.service, container), port)
        headers = {"Host": ep.host_header} if ep.host_header else {}
        return httpx.Client(base_url=ep.base_url, headers=headers, verify=ep.verify_tls,
                            timeout=min(timeout, self.remaining()), follow_redirects=False)

    def wait_http(
        self,
        client: httpx.Client,
        path: str,
        ready: Callable[[httpx.Response], bool],
        *,
        what: str,
        interval: float = 1.0,
    ) -> httpx.Response:
        """Poll ``GET path`` until *ready* says so (or the deadline passes: HookError naming *what*)."""
        last = "no answer"
        while True:
            try:
                resp = client.get(path)
                if ready(resp):
                    return resp
                last = f"HTTP {resp.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            if self.deadline - time.monotonic() <= interval or self.cancelled.is_set():
                raise HookError(f"{what} did not become ready ({path}: {last})")
            self.sleep(interval)
