"""Test doubles for hooks: a small stack builder and a scripted transport.

:class:`ScriptedTransport` stands in for a *container*, not for the code under test: it
answers each ``docker exec`` argv with a reply the test scripts from the vendor's
documented behaviour (e.g. "``occ config:system:get trusted_domains`` prints one domain
per line") and records every argv and stdin, so tests pin the exact commands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from zixly_stack.catalog.stack import Placed, Stack
from zixly_stack.hooks.base import ContainerRef, Endpoint, ExecResult
from zixly_stack.hooks.context import HookContext
from zixly_stack.hooks.runner import PlannedHook
from zixly_stack.hooks.state import HookRecord
from zixly_stack.models.environment import Environment, Host
from zixly_stack.models.service import Hook, Service
from zixly_stack.secrets.value import Secret


def service(name: str, hooks: Sequence[Hook] = ()) -> Service:
    """A minimal valid service carrying *hooks*."""
    return Service.model_validate({
        "name": name, "description": f"{name} for tests", "sources": ["https://example.com"],
        "containers": {"app": {"image": {"repository": "example/app", "tag": "1.0.0"}}},
        "hooks": [h.model_dump() for h in hooks],
    })


def stack_of(*services: Service, env: str = "test") -> Stack:
    """A stack running *services* on one local host."""
    environment = Environment.model_validate({"domain": "example.com", "admin_email": "admin@example.com"})
    st = Stack(env, environment, {"local": Host(address="@local")})
    for s in services:
        st.services[s.name] = s
        st.placements.append(Placed(s, "local", f"zixly-{env}-{s.name}"))
    return st


Reply = ExecResult | Callable[[list[str], bytes | None], ExecResult]
CREATED: list[ScriptedTransport] = []  # every transport made, for the hooks conftest's check


class UnscriptedExec(AssertionError):
    """A hook ran a command the test scripted no answer for."""


@dataclass
class ScriptedTransport:
    """Answers exec calls from ``replies`` (first argv-prefix match wins); records every call."""

    replies: list[tuple[tuple[str, ...], Reply]] = field(default_factory=list)
    calls: list[tuple[ContainerRef, list[str], str | None, bytes | None]] = field(default_factory=list)
    endpoints: Mapping[tuple[str, str, int], Endpoint] = field(default_factory=dict)
    unscripted: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        CREATED.append(self)

    def on(self, prefix: Sequence[str], reply: Reply) -> None:
        """Answer argv starting with *prefix* by *reply* (later calls to ``on`` take precedence)."""
        self.replies.insert(0, (tuple(prefix), reply))

    def exec(self, ref: ContainerRef, argv: Sequence[str], *, user: str | None = None, stdin: bytes | None = None,
             timeout: float = 120.0) -> ExecResult:
        args = list(argv)
        self.calls.append((ref, args, user, stdin))
        for prefix, reply in self.replies:
            if tuple(args[: len(prefix)]) == prefix:
                return reply(args, stdin) if callable(reply) else reply
        self.unscripted.append(args)
        raise UnscriptedExec(f"unscripted docker exec in {ref.service}/{ref.container}: {args[:6]}")

    def endpoint(self, ref: ContainerRef, port: int) -> Endpoint:
        return self.endpoints[(ref.service, ref.container, port)]

    def argvs(self) -> list[list[str]]:
        """Every argv executed, in order."""
        return [c[1] for c in self.calls]


def context(stack: Stack, service_name: str, transport: object, secrets: Mapping[str, Secret],
            root: Path, hook: str = "test-hook", previous: HookRecord | None = None) -> HookContext:
    """A HookContext for direct hook calls."""
    return HookContext(env=stack.env_name, hook=hook, service=service_name, stack=stack, secrets=secrets,
                       transport=transport,  # type: ignore[arg-type]
                       root=root, previous=previous)


def maker(stack: Stack, transport: object, secrets: Mapping[str, Secret], root: Path) -> Callable[
        [PlannedHook, HookRecord | None, float], HookContext]:
    """A runner context factory."""

    def make(ph: PlannedHook, previous: HookRecord | None, deadline: float) -> HookContext:
        ctx = context(stack, ph.service, transport, secrets, root, ph.name, previous)
        ctx.deadline = deadline
        return ctx

    return make
