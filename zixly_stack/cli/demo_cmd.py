"""``zixly demo ...``: client demo environments — seeded, isolated, expiring.

Exported as :data:`demo_group` (registered by the main CLI). Demos hang off the edge of an
environment running on this machine (``--env``, default ``local``): ``demo up`` prints the
URLs and a sign-in table (the passwords stay in the demo's own encrypted store; each row says
how to reveal one; ``--json`` carries them); ``list``,
``extend`` and ``reap`` work from the host's registry (``<base_dir>/demos/<client>/demo.json``).
Exit codes: 0 ok, 1 failure, 2 bad input or a refused demo (nothing changed), 5 no engine.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from ..errors import ZixlyError
from ..safepath import inside
from .common import err_console, out_console
from .credentials_cmd import print_sign_in
from .params import ENV, HOST

ENV_OPTION = click.option("--env", "env", type=ENV, default="local", show_default=True,
                          help="The environment whose edge the demos use (this machine's, or its remote hosts').")


def _remote(root: Path, env: str) -> bool:
    """True when *env*'s hosts are remote: its demos run there, over the deploy connection."""
    # lazy: keeps the CLI start-up fast
    from ..demo.remote import is_remote
    from ..project import load

    return is_remote(load(root, env))


def _root(ctx: click.Context) -> Path:
    return Path(ctx.obj["root"]) if ctx.obj and ctx.obj.get("root") else Path.cwd()


def _say(text: str) -> None:
    err_console.print(text, markup=False)


@click.group("demo")
def demo_group() -> None:
    """Client demo environments: `demo up acme --ttl 7d`, list, extend, down, reap."""


@demo_group.command("up")
@click.argument("client")
@click.option("--ttl", default="7d", show_default=True, help="Lifetime: 30m, 36h, 7d, 2w (at most 90 days).")
@click.option("--services", "services", default="", metavar="A,B", help="Services (default: the demo template's).")
@click.option("--host", "host", type=HOST, default=None, help="Host of --env to run on (default: its edge host).")
@ENV_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the result (passwords included) as JSON.")
@click.pass_context
def up_cmd(ctx: click.Context, client: str, ttl: str, services: str, host: str | None, env: str,
           as_json: bool) -> None:
    """Start demo CLIENT on <app>.CLIENT.demo.<domain>, seeded; print its URLs and how to sign in.

    \b
    Examples:
      zixly demo up acme --ttl 7d
      zixly demo up globex --services warehouse,metabase --ttl 36h
    """
    # lazy: keeps the CLI start-up fast
    from ..demo import remote
    from ..demo.run import up
    from ..demo.spec import parse_ttl, validate_client

    validate_client(client)
    lifetime = parse_ttl(ttl)
    chosen = [s for s in services.split(",") if s.strip()] or None
    start = remote.up if _remote(_root(ctx), env) else up
    res = start(_root(ctx), env, client, lifetime, chosen, host, say=_say)
    rec = res.record
    creds = {k: v.reveal() for k, v in res.credentials.items()}
    if as_json:
        click.echo(json.dumps({**asdict(rec), "credentials": creds, "hooks": [list(h) for h in res.hooks],
                               "seconds": {k: round(v, 1) for k, v in res.seconds.items()}}, indent=2))
    else:
        out_console.print(f"demo {client}: {rec.status}, expires {rec.expires} "
                          f"(healthy in {res.seconds['healthy']:.0f}s, seeded in {res.seconds['seeded']:.0f}s)",
                          markup=False)
        for svc, url in rec.urls.items():
            out_console.print(f"  {svc:<10} {url}", markup=False)
        if res.loaded is not None:  # passwords stay in the demo's store: the table says how to reveal each

            print_sign_in(res.loaded, out_console, f"sign in to demo {client}", reveal_root=res.loaded.root)
        elif res.credentials:  # a remote demo: its store is on the host, encrypted to this machine's age key
            out_console.print(f"  sign-in: {', '.join(res.credentials)} -- `--json` prints them (once)", markup=False)
    if rec.status != "ready":
        ctx.exit(1)


HOST_OPTION = click.option("--host", "host", type=HOST, default=None,
                           help="Only this host of --env (default: every host running its edge).")


@demo_group.command("list")
@ENV_OPTION
@HOST_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
@click.pass_context
def list_cmd(ctx: click.Context, env: str, host: str | None, as_json: bool) -> None:
    """Every demo: client, services, created, expires, health."""
    # lazy: keeps the CLI start-up fast
    from ..demo import remote
    from ..demo.run import listing, now_utc

    now = now_utc()
    found = remote.listing(_root(ctx), env, host) if _remote(_root(ctx), env) else listing(_root(ctx), env)
    rows = [(r, h, r.expired(now)) for r, h in found]
    if as_json:
        click.echo(json.dumps([{"client": r.client, "host": r.host, "services": r.services, "created": r.created,
                                "expires": r.expires, "expired": exp, "status": r.status, "health": h,
                                "urls": r.urls} for r, h, exp in rows], indent=2))
        return
    if not rows:
        out_console.print(f"no demos on {env}", markup=False)
    for r, h, exp in rows:
        out_console.print(f"{r.client:<20} {','.join(r.services):<36} created {r.created}  expires {r.expires}"
                          f"{' (EXPIRED)' if exp else ''}  {h}", markup=False)


@demo_group.command("down")
@click.argument("client")
@ENV_OPTION
@HOST_OPTION
@click.pass_context
def down_cmd(ctx: click.Context, client: str, env: str, host: str | None) -> None:
    """Remove demo CLIENT: its containers, networks, volumes, secrets and routes — nothing else."""
    # lazy: keeps the CLI start-up fast
    from ..demo import remote
    from ..demo.run import down

    if _remote(_root(ctx), env):
        rec = remote.down(_root(ctx), env, client, host=host, say=_say)
    else:
        rec = down(_root(ctx), env, client, say=_say)
    out_console.print(f"demo {rec.client} removed ({len(rec.projects)} projects)", markup=False)


@demo_group.command("republish")
@ENV_OPTION
@click.pass_context
def republish_cmd(ctx: click.Context, env: str) -> None:
    """Write every demo's routes where the host's Traefik looks now (`zixly up` does it by itself)."""
    # lazy: keeps the CLI start-up fast
    from ..demo import remote
    from ..demo.run import republish

    done = (remote.republish if _remote(_root(ctx), env) else republish)(_root(ctx), env, say=_say)
    out_console.print(f"republished the routes of {len(done)} demo(s)" if done else "every demo's routes in place",
                      markup=False)


@demo_group.command("extend")
@click.argument("client")
@click.option("--ttl", required=True, help="How much longer: 30m, 36h, 7d, 2w.")
@ENV_OPTION
@HOST_OPTION
@click.pass_context
def extend_cmd(ctx: click.Context, client: str, ttl: str, env: str, host: str | None) -> None:
    """Push demo CLIENT's expiry back by --ttl (from now if it already expired)."""
    # lazy: keeps the CLI start-up fast
    from ..demo import remote
    from ..demo.run import extend
    from ..demo.spec import parse_ttl

    if _remote(_root(ctx), env):
        rec = remote.extend(_root(ctx), env, client, parse_ttl(ttl), host=host)
    else:
        rec = extend(_root(ctx), env, client, parse_ttl(ttl))
    out_console.print(f"demo {rec.client} now expires {rec.expires}", markup=False)


@demo_group.command("reap")
@ENV_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
@click.pass_context
def reap_cmd(ctx: click.Context, env: str, as_json: bool) -> None:
    """Remove the expired demos (only those). `zixly demo schedule` makes the host do it by itself."""
    # lazy: keeps the CLI start-up fast
    from ..demo import remote
    from ..demo.run import reap

    remote_env = _remote(_root(ctx), env)
    gone = remote.reap(_root(ctx), env, say=_say) if remote_env else [r.client for r in reap(_root(ctx), env, say=_say)]
    _warn_expiring(_root(ctx), env, remote_env)
    if as_json:
        click.echo(json.dumps({"removed": gone}))
        return
    out_console.print(f"reaped {len(gone)} expired demo(s){': ' if gone else ''}{', '.join(gone)}", markup=False)


def _warn_expiring(root: Path, env: str, remote_env: bool = False) -> None:
    """``demo.expiring`` for each demo that expires within 24 h, once per expiry time (never fails the reap)."""
    # lazy: keeps the CLI start-up fast
    from .. import clock
    from ..demo import remote
    from ..demo.run import records

    # lazy: keeps the CLI start-up fast
    from ..notify.produce import demo_events
    from ..notify.service import quiet_notifier_for
    from ..project import load

    try:
        occurrences = demo_events((remote.records if remote_env else records)(root, env), clock.now())
        notifier = quiet_notifier_for(load(root, env), None, None, _say) if occurrences else None
    except ZixlyError as exc:
        _say(f"notify: demo expiry not checked: {exc}")
        return
    if notifier is None:
        return
    for occ in occurrences:
        notifier.emit_once(occ)


@demo_group.command("schedule")
@ENV_OPTION
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write the systemd unit, timer and cron.d file here (default: print them).")
@click.option("--install", is_flag=True,
              help="Install them on this machine: systemd timer, or /etc/cron.d when PID 1 is not systemd.")
@click.pass_context
def schedule_cmd(ctx: click.Context, env: str, out: Path | None, install: bool) -> None:
    """Render the systemd timer (and a cron.d alternative) that runs `zixly demo reap` on the host.

    \b
    Example:
      zixly demo schedule --install     # every 15 minutes on this machine
    """
    # lazy: keeps the CLI start-up fast
    from ..demo.build import reap_job
    from ..render.schedule import named_files, schedule_files
    from ..timers import install_timer

    job = reap_job([sys.executable, "-m", "zixly_stack.cli"], str(_root(ctx).resolve()), env)
    if install:
        changes = install_timer(job.name, schedule_files(job))
        out_console.print("; ".join(changes) if changes else f"{job.name}: already installed, nothing changed",
                          markup=False)
        return
    files = named_files(job)
    for name, text in files.items():
        if out is None:
            out_console.print(f"# --- {name}\n{text}", markup=False)
        else:
            out.mkdir(parents=True, exist_ok=True)
            inside(out, name).write_text(text)
            out_console.print(f"wrote {out / name}", markup=False)
