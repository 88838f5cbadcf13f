"""``zixly upgrade ENV SERVICE --to VERSION``: move a service's pinned version, by its rules; ``--rollback``.

Checks the environment (as every command does), plans the move from the version ENV pins now
(its ``services.<name>.version``, else the catalog's tag) to VERSION with the catalog's upgrade
rules, and only then writes ``services.<name>.version: VERSION`` into
``inventories/<ENV>/environment.yaml`` (:mod:`zixly_stack.config.pin`: every other byte of the
file unchanged). A move the rules forbid is a located error naming the hops they would allow,
and nothing is written. It connects to no host: ``zixly plan ENV`` then shows the move against
what each host runs (docs/upgrades.md).

``zixly upgrade ENV --rollback SERVICE`` returns the service's last finished upgrade to its
checkpoint (:func:`zixly_stack.upgrade.host.rollback_upgrade`).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import click

from ..errors import ConfigError, Location, Problem
from .common import root_of
from .deploy_report import out
from .params import ENV


def _write(path: Path, text: str) -> None:
    """Replace *path* by *text* atomically, keeping its mode."""
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@click.command("upgrade")
@click.argument("env", type=ENV)
@click.argument("service", required=False)
@click.option("--to", "version", help="The version (image tag) to pin, e.g. 35.0.2-apache.")
@click.option("--rollback", "rollback", metavar="SERVICE",
              help="Return SERVICE's last upgrade to its checkpoint: its data restored, the previous images started.")
@click.option("--break-lock", is_flag=True, help="With --rollback: take the deploy lock even if another holds it.")
@click.option("--prune", is_flag=True, help="Remove the volumes data-store major moves retired (on every host).")
@click.pass_context
def upgrade_cmd(ctx: click.Context, env: str, service: str | None, version: str | None, rollback: str | None,
                break_lock: bool, prune: bool) -> None:
    """Pin SERVICE of ENV to VERSION, if its upgrade rules allow the move; or roll an upgrade back.

    Prints the move (from -> to, hops, migrations, what undoes each hop) and writes the pin
    into ENV's environment.yaml, keeping comments and layout. A forbidden move (a skipped
    Nextcloud major, a tag the rules cannot read) is a file:line:col error and changes nothing.
    `zixly deploy ENV` then carries the move out: a checkpoint of the service's data first.
    A new PostgreSQL major also records its new data volume (services.SERVICE.data_major):
    the deploy moves the data there and keeps the old volume, unused, until --prune.

    --rollback SERVICE returns the service's last upgrade (recorded in its host's release log)
    to the checkpoint it took: the service stopped, its data restored from the checkpoint, the
    release it ran before switched back and its images started, health-gated. Nothing else is
    restarted. Refused, changing nothing, when no upgrade of SERVICE is recorded since its
    host's last release.

    --prune removes, on every host, the volumes finished data-store major moves retired.

    \b
    Examples:
      zixly upgrade production nextcloud --to 35.0.2-apache
      zixly plan production        # the move against what the hosts run
      zixly upgrade production --rollback nextcloud
      zixly upgrade production --prune   # remove the volumes earlier majors left
    """
    if prune:
        if service or version or rollback:
            raise click.UsageError("--prune takes no SERVICE, --to nor --rollback")
        _prune(ctx, env)
        return
    if rollback is not None:
        if service is not None or version is not None:
            raise click.UsageError("--rollback SERVICE takes no other SERVICE nor --to")
        _rollback(ctx, env, rollback, break_lock)
        return
    if service is None or version is None:
        raise click.UsageError("give SERVICE --to VERSION (or --rollback SERVICE)")
    _pin(ctx, env, service, version)


def _rollback(ctx: click.Context, env: str, service: str, break_lock: bool) -> None:
    """``--rollback SERVICE`` (:func:`zixly_stack.upgrade.host.rollback_upgrade`); exit 1 when it failed."""
    # lazy: keeps the CLI start-up fast
    from ..deploy.runner import env_target
    from ..upgrade.host import rollback_upgrade
    from .deploy_report import plain, print_summary
    from .prepared import prepare, say_host

    prep = prepare(root_of(ctx), env)
    et = env_target(prep.loaded, prep.files)
    rec, report = rollback_upgrade(et, prep.loaded, prep.secrets.values, service, break_lock=break_lock,
                                   redact=prep.redact, say=lambda host, text: say_host(host, plain(prep.redact(text))))
    print_summary(report, prep.redact, "rollback")
    if not report.ok:
        ctx.exit(1)
    out.print(f"{service} is back at {rec.src} with its data from checkpoint {rec.tag}; {env} still pins {rec.dst}: "
              f"pin it back (`zixly upgrade {env} {service} --to {rec.src}`) or the next deploy upgrades again",
              markup=False)


def _pin(ctx: click.Context, env: str, service: str, version: str) -> None:
    """``SERVICE --to VERSION``: the pin written when the rules allow the move."""
    # lazy: keeps the CLI start-up fast
    from ..catalog.datastores import moves_data
    from ..catalog.upgrades import MoveRefused, plan_move, service_version
    from ..config.pin import PinError, set_value, set_version
    from ..models.service import tag_is_floating
    from ..plan.datamove import move_blocker
    from ..plan.upgrade import upgrade_inputs, upgrade_lines
    from ..project import load

    root = root_of(ctx)
    loaded = load(root, env)
    cfg = loaded.config
    env_path = cfg.env_source.path
    shown = cfg.env_source.positions.file
    svc = loaded.stack.services.get(service)
    if svc is None:
        known = ", ".join(sorted(loaded.stack.services))
        raise ConfigError([Problem(cfg.env_source.positions.loc(("services",), key=True), "services",
                                   f"{service!r} is not enabled in {env}", f"enabled: {known}")])
    if tag_is_floating(version) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", version):
        raise ConfigError([Problem(Location(shown), f"services.{service}.version",
                                   f"{version!r} is not a pinned image tag", "use an exact version such as 1.2.3")])
    current = service_version(svc)
    rules = loaded.catalog.services[service].upgrade
    move = None
    if rules is not None:
        try:
            move = plan_move(service, rules, current, version)
        except MoveRefused as exc:
            loc, path = upgrade_inputs(loaded.catalog, cfg).pins[service]
            raise ConfigError([Problem(loc, path, f"{env} pins {current}: {exc.message}", exc.hint)]) from None
    if current == version:
        out.print(f"{service} in {env} is already pinned to {version}; nothing written", markup=False)
        return
    text = env_path.read_text(encoding="utf-8")
    major = ""
    if move is not None and rules is not None and len(move.hops) == 1 and move.hops[0].data_format \
            and moves_data(loaded.catalog.services[service]):
        major = upgrade_inputs(loaded.catalog, cfg).major(service, version)
    try:
        new = set_value(text, service, "data_major", major) if major else text  # first: it lands below the version
        new = set_version(new, service, version)
    except PinError as exc:
        raise ConfigError([Problem(Location(shown), f"services.{service}.version", str(exc))]) from None
    _write(env_path, new)
    try:
        load(root, env)
    except ConfigError:
        _write(env_path, text)  # the pin made the environment invalid: put the file back as it was
        raise
    out.print(f"{shown}: services.{service}.version: {current} -> {version}", markup=False)
    if major:
        out.print(f"{shown}: services.{service}.data_major: {major} (its data moves to a new volume on deploy)",
                  markup=False)
    lines = upgrade_lines((move,) if move is not None else ())
    if major and move is not None:  # recorded just now: the deploy's plan carries the move, so "record it" is stale
        stale = "      ! zixly deploy refuses this move: " + move_blocker(
            move, None, upgrade_inputs(loaded.catalog, cfg).engines.get(service))
        lines = [line for line in lines if line != stale]
    for line in lines:
        out.print(line[2:], markup=False)
    out.print(f"next: zixly plan {env}", markup=False)


def _prune(ctx: click.Context, env: str) -> None:
    """Remove, on every host of ENV, the volumes that finished data-store major moves retired."""
    # lazy: keeps the CLI start-up fast (pyinfra, gevent)
    from ..deploy.retired import prune_host
    from ..project import load
    from ..runner.connect import open_session, parallel, runner_for

    loaded = load(root_of(ctx), env)
    hosts = {n: loaded.config.hosts.hosts[n] for n in loaded.stack.host_names()}
    session = open_session(hosts)
    try:
        names = list(session.hosts)
        found = parallel(lambda n: prune_host(n, runner_for(session.hosts[n], n), env), names)
    finally:
        session.close()
    failed = False
    for name, err in sorted(session.errors.items()):
        out.print(f"{name}: unreachable: {err}", markup=False)
        failed = True
    rows = [p for ps in found for p in ps]
    for p in rows:
        if p.removed:
            out.print(f"{p.host}: removed {p.volume} ({p.bytes / (1 << 20):.1f} MiB), retired by {p.successor}",
                      markup=False)
        else:
            out.print(f"{p.host}: kept {p.volume}: {p.why}", markup=False)
    if not rows:
        out.print(f"{env}: no retired volume", markup=False)
    if failed:
        ctx.exit(1)
