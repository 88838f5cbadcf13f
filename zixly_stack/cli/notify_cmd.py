"""``zixly notify events|test``: the event list, and a test message through each channel.

``zixly notify test ENV [--channel NAME]`` sends one message to every channel (or the named
ones), whatever their event filters, and prints per channel what happened; exit 0 when every
channel took it, 1 otherwise. Channels are shown by name and scheme, never by URL.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import ConfigError, Location, Problem
from ..secrets.value import redact
from .common import make_console
from .params import ENV

out = make_console()
err = make_console(stderr=True)


@click.group("notify")
def notify_group() -> None:
    """Notifications: the events (`zixly notify events`) and a test message (`zixly notify test ENV`)."""


@notify_group.command("events")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list on stdout.")
def events_cmd(as_json: bool) -> None:
    """List every event with its id, severity and what produces it.

    Channels filter on these ids (`events: [backup.*, deploy.failed]`) and on `min_severity`.

    \b
    Example:
      zixly notify events
    """
    # lazy: keeps the CLI start-up fast
    from ..notify.events import EVENTS

    if as_json:
        click.echo(json.dumps([{"id": e.id, "severity": e.severity, "title": e.title, "produced_by": e.produced_by,
                                "future": e.future or None} for e in EVENTS], indent=2))
        return
    for e in EVENTS:
        later = f"  [not produced yet: {e.future}]" if e.future else ""
        out.print(f"{e.id:<28} {e.severity:<9} {e.title}{later}", markup=False)
        out.print(f"{'':<38} {e.produced_by}", markup=False)


@notify_group.command("test")
@click.argument("env", type=ENV)
@click.option("--channel", "channels", multiple=True, metavar="NAME", help="Only this channel (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@click.pass_context
def test_cmd(ctx: click.Context, env: str, channels: tuple[str, ...], as_json: bool) -> None:
    """Send a test message through each of ENV's channels and say per channel what happened.

    \b
    Examples:
      zixly notify test production
      zixly notify test production --channel ops
    """
    # lazy: keeps the CLI start-up fast
    from ..notify.service import notifier_for
    from ..project import load

    root = Path(ctx.obj["root"]) if ctx.obj and ctx.obj.get("root") else Path.cwd()
    loaded = load(root, env)
    notifier = notifier_for(loaded)
    names = [t.name for t in notifier.targets]
    unknown = [c for c in channels if c not in names]
    if unknown or not names:
        what = f"no channel {', '.join(map(repr, unknown))}" if unknown else "no notification channels configured"
        raise ConfigError([Problem(Location(f"inventories/{env}/environment.yaml"), "notifications.channels", what,
                                   f"channels: {', '.join(names)}" if names else "docs/notifications.md")])
    secrets = [t.url for t in notifier.targets]
    notifier.hide = lambda text: redact(text, secrets)
    chosen = list(channels) or names
    outcomes = notifier.emit("notify.test", "test message", f"A test message from zixly for {env}. "
                             "If you read this, the channel works.", only=chosen)
    labels = {t.name: t.label() for t in notifier.targets}
    if as_json:
        click.echo(json.dumps([{"channel": o.channel, "ok": o.ok, "detail": o.detail, "seconds": round(o.seconds, 2)}
                               for o in outcomes], indent=2))
    else:
        for o in outcomes:
            verdict = "sent" if o.ok else f"FAILED: {o.detail}"
            out.print(f"{labels[o.channel]:<48} {verdict} ({o.seconds:.1f} s)", markup=False)
    if not outcomes or not all(o.ok for o in outcomes):
        ctx.exit(1)
