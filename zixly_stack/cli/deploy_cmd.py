"""``zixly plan|deploy|rollback|status|up|down``: the CLI face of :mod:`zixly_stack.deploy`.

Exit codes: 0 ok, 1 failure (a host failed, was rolled back or unreachable), 2
configuration error, 3 secrets, 4 lock held, 5 engine missing; ``plan
--detailed-exitcode``: 0 no changes, 2 changes, 1 error. Progress goes to stderr,
results to stdout. Every line that comes from a host is redacted of secret values.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from ..commands import docker as dk
from ..errors import ApplyError, EngineError, LockError, PlanError, ZixlyError
from .credentials_cmd import print_sign_in
from .deploy_report import err, out, plain, print_status, print_summary, print_urls, report_json
from .params import ENV, HOST
from .prepared import Prepared, notify_deploy, prepare, prepare_teardown, say_host


def _root(ctx: click.Context) -> Path:
    return Path(ctx.obj["root"])


FORCE_HELP = ("Overwrite files of the release edited by hand on a host (their edited copies are kept beside "
              "the new release).")


@click.command("plan")
@click.argument("env", type=ENV)
@click.option("--host", "hosts", type=HOST, multiple=True, help="Only this host (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable plan.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when nothing changes, 2 when something does.")
@click.option("--steps", is_flag=True, help="Also print every step and command a deploy would run (dry run).")
@click.option("--no-diff", is_flag=True, help="List changed files without their diffs.")
@click.pass_context
def plan_cmd(
    ctx: click.Context,
    env: str,
    hosts: tuple[str, ...],
    as_json: bool,
    detailed_exitcode: bool,
    steps: bool,
    no_diff: bool,
) -> None:
    """Show what `zixly deploy ENV` would change on each host, changing nothing.

    Connects read-only: files added/changed/removed with diffs (secret files only as
    "changed (secret, N bytes)"), Compose services to create/recreate/remove, networks,
    images to load or pull, hooks that would run.

    \b
    Examples:
      zixly plan staging
      zixly plan production --json --detailed-exitcode
    """
    # lazy: keeps the CLI start-up fast
    from ..deploy.runner import env_target, plan_env
    from ..plan.steps import host_steps, print_steps
    from ..plan.text import plan_lines
    from ..plan.upgrade_steps import upgrade_step_lines

    try:
        prep = prepare(_root(ctx), env)
        if prep.loaded.config.environment.mode == "swarm":
            # lazy: keeps the CLI start-up fast
            from .swarm_cmd import run_plan

            run_plan(ctx, prep, as_json, detailed_exitcode)
            return
        et = env_target(prep.loaded, prep.files)
        plan, errors = plan_env(et, hosts or None, preflight=prep.preflight(commit=False))
    except ZixlyError as exc:
        if detailed_exitcode:
            err.print(str(exc), markup=False)
            ctx.exit(1)
        raise
    if as_json:
        doc = plan.to_json()
        doc["unreachable"] = errors
        click.echo(prep.redact(json.dumps(doc, indent=2)))
    else:
        for line in plan_lines(plan, diffs=not no_diff):
            out.print(prep.redact(line), markup=False)
        if steps:
            for hp in plan.hosts:
                for line in print_steps(host_steps(hp, et.files_of(hp.host))):
                    out.print(prep.redact(line), markup=False)
                for line in upgrade_step_lines(hp.upgrades, prep.loaded.stack.services, hp.data_moves):
                    out.print(prep.redact(line), markup=False)
    for host, why in errors.items():
        err.print(f"{host}: unreachable: {why}", markup=False)
    if errors:
        ctx.exit(1)
    if detailed_exitcode:
        ctx.exit(2 if plan.changed else 0)


def run_deploy(
    prep: Prepared, hosts: tuple[str, ...], break_lock: bool, command: str, as_json: bool, hooks: bool = True,
    force: bool = False,
) -> Any:
    """Deploy a prepared environment, print progress, summary and failures; return the report."""
    # lazy: keeps the CLI start-up fast
    from ..deploy.runner import deploy_env, env_target
    from ..upgrade.host import upgrader

    et = env_target(prep.loaded, prep.files)
    say = lambda host, text: say_host(host, plain(prep.redact(text)))  # noqa: E731
    report = deploy_env(
        et,
        only=hosts or None,
        break_lock=break_lock,
        command=command,
        redact=prep.redact,
        say=say,
        hook_runner=_hook_runner(prep) if hooks else None,
        preflight=prep.preflight(),
        force=force,
        upgrader=upgrader(prep.loaded, prep.secrets.values, prep.redact, say) if prep.secrets is not None else None,
    )
    if as_json:
        click.echo(prep.redact(json.dumps(report_json(report), indent=2)))
    else:
        print_summary(report, prep.redact, command)
    notify_deploy(prep, report, command)
    return report


def _hook_runner(prep: Prepared) -> Any:
    """The hooks framework's runner when it exists (issue 6), else None (hooks are listed, not run)."""
    try:
        # lazy: optional dependency
        from ..hooks import deploy_hook_runner
    except ImportError:
        return None
    return deploy_hook_runner(prep.loaded)


def _exit_for(report: Any) -> None:
    """Raise the deploy's error: hosts that failed first; else hooks declared ``on_failure: fail``
    that failed (the new release stays: hooks never roll back data); degraded hooks only warn."""
    if report.ok:
        blocking = [f"{r.name}: {name}" for r in report.runs for name, ok, message in r.hooks
                    if not ok and message.startswith("failed")]
        if blocking:
            raise ApplyError(
                f"deploy {report.env}: hook(s) declared `on_failure: fail` failed: {', '.join(blocking)}. The new "
                f"release is running (hooks never roll back data); fix the cause, then `zixly hooks run {report.env}`"
            )
        return
    if any(r.status == "locked" for r in report.runs):
        raise LockError("; ".join(f"{r.name}: {r.error}" for r in report.runs if r.status == "locked"))
    raise ApplyError(
        f"deploy {report.env} failed on "
        + ", ".join(r.name for r in report.runs if r.status not in ("unchanged", "changed"))
    )


@click.command("deploy")
@click.argument("env", type=ENV)
@click.option("--host", "hosts", type=HOST, multiple=True, help="Only this host (repeatable).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--break-lock", is_flag=True, help="Take the deploy lock even if another deploy holds it.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@click.option("--no-hooks", is_flag=True, help="Do not run post-deploy hooks (they are listed instead).")
@click.option("--force", is_flag=True, help=FORCE_HELP)
@click.pass_context
def deploy_cmd(
    ctx: click.Context, env: str, hosts: tuple[str, ...], yes: bool, break_lock: bool, as_json: bool, no_hooks: bool,
    force: bool,
) -> None:
    """Deploy ENV to its hosts, health-gated, rolling back a release that does not come up.

    Hosts are deployed in parallel. Nothing is touched on a host whose plan is empty. A
    file of the release edited by hand on a host is not overwritten without --force
    (`zixly drift ENV` shows such files); with it, the edited copy is kept under
    <base_dir>/<env>/edited/<release>/ and the summary names the path.

    \b
    Examples:
      zixly deploy staging --yes
      zixly deploy production --host vps1
    """
    prep = prepare(_root(ctx), env)
    if not yes and not as_json and sys.stdin.isatty():
        click.confirm(f"deploy {env} to {', '.join(hosts) or 'all hosts'}?", abort=True)
    if prep.loaded.config.environment.mode == "swarm":
        # lazy: keeps the CLI start-up fast
        from .swarm_cmd import run_deploy as swarm_deploy

        prep.secrets.commit()  # swarm deploys judge no host facts yet: the missing-store checks only

        swarm_deploy(prep, break_lock, as_json, lambda host, text: say_host(host, plain(prep.redact(text))),
                     hooks=not no_hooks)
        _sign_in(prep, as_json)
        return
    report = run_deploy(prep, hosts, break_lock, "deploy", as_json, hooks=not no_hooks, force=force)
    _exit_for(report)
    remote = not prep.loaded.config.hosts.all_local
    if not remote or _edge_brought_up(report):  # remote: only a Traefik (re)started can have lost the demos' routes
        _republish_demos(_root(ctx), env, remote=remote)
    _sign_in(prep, as_json)


def _edge_brought_up(report: Any) -> bool:
    """True when the deploy brought up a host's Traefik project (it may now watch the new release)."""
    return any(run.plan is not None and any(p.action == "up" and p.directory == "traefik" for p in run.plan.projects)
               for run in report.runs)


def _sign_in(prep: Prepared, as_json: bool) -> None:
    """The sign-in table that ends a deploy's summary (stderr under --json, stdout being JSON)."""
    print_sign_in(prep.loaded, err if as_json else out)


@click.command("up")
@click.option("--env", "env", type=ENV, default="local", show_default=True,
              help="An environment whose hosts are all @local.")
@click.option("--break-lock", is_flag=True, help="Take the deploy lock even if another deploy holds it.")
@click.option("--no-probe", is_flag=True, help="Do not probe the apps through Traefik at the end.")
@click.option("--no-hooks", is_flag=True, help="Do not run post-deploy hooks (they are listed instead).")
@click.option("--json", "as_json", is_flag=True, help="Print the deploy report as JSON on stdout.")
@click.option("--force", is_flag=True, help=FORCE_HELP)
@click.pass_context
def up_cmd(ctx: click.Context, env: str, break_lock: bool, no_probe: bool, no_hooks: bool, as_json: bool,
           force: bool) -> None:
    """Run the whole stack on this machine: packages, engine, images, secrets, deploy, URLs.

    Installs the Debian packages it needs when missing (root on Debian; otherwise it says
    what to run), prepares a Docker engine and the Compose plugin if none answers, builds the
    offline image kit images the environment needs (only those; cached by recipe, progress
    shown while they build), creates this machine's secrets
    store on first use, deploys through pyinfra's @local connector and prints each
    app's URL. Running it again changes nothing.

    It creates a store only on a machine with no data of the environment: with a release
    in base_dir, volumes or containers of it, or a backup, a missing or different store is
    refused before anything changes (`zixly secrets recover ENV --from-release` brings it back).

    \b
    Example:
      zixly up            # then open https://n8n.localhost
    """
    # lazy: keeps the CLI start-up fast
    from ..deploy.local import images_outside_kit, kit_names
    from ..engine import EngineError as EngineSetupError
    from ..engine import ensure_engine

    # lazy: keeps the CLI start-up fast
    from ..project import load

    started = time.monotonic()
    loaded = load(_root(ctx), env)
    if not loaded.config.hosts.all_local:
        raise PlanError(
            f"`zixly up` runs environments on this machine; {env} has remote hosts (use `zixly deploy {env}`)"
        )
    prep = prepare(_root(ctx), env, create=True, loaded=loaded)  # refuses a lost store before anything changes
    try:
        with contextlib.redirect_stdout(sys.stderr):  # progress on stderr; stdout is for results
            ensure_engine(verbose=True)
    except EngineSetupError as exc:
        raise EngineError(str(exc)) from None
    names = kit_names(prep.files, _root(ctx) / "images")
    if names:
        with contextlib.redirect_stdout(sys.stderr):
            _build_kit(names, _root(ctx) / "images")
    missing = images_outside_kit(prep.files, _image_present)
    if missing:
        raise PlanError(
            "these images are neither in the offline kit nor in the engine, and no registry is reachable: "
            + ", ".join(missing)
        )
    report = run_deploy(prep, (), break_lock, "up", as_json, hooks=not no_hooks, force=force)
    _exit_for(report)
    _republish_demos(_root(ctx), env)
    routed = print_urls(prep.loaded, probe=not no_probe, console=err if as_json else out)
    _sign_in(prep, as_json)
    err.print(f"zixly up: done in {time.monotonic() - started:.0f}s", markup=False)
    if not routed:
        raise ApplyError("some apps do not answer through Traefik (see the table above)")


def _republish_demos(root: Path, env: str, *, remote: bool = False) -> None:
    """Client demos hang off this environment's Traefik: a recreated Traefik watches a new release
    directory, so their route files are written there again (a no-op when nothing moved); on remote
    hosts through the host tool, over a connection of its own."""
    # lazy: keeps the CLI start-up fast
    from ..demo import remote as remote_demos
    from ..demo.run import republish

    try:
        (remote_demos.republish if remote else republish)(root, env, say=lambda text: err.print(text, markup=False))
    except ZixlyError as exc:
        err.print(f"warning: client demos' routes not republished: {exc}; run `zixly demo republish --env {env}`",
                  markup=False)


def _image_present(ref: str) -> bool:
    # lazy: keeps the CLI start-up fast
    from ..runner import LocalRunner

    return LocalRunner().run(dk.image_ids([ref]), timeout=60, read=True).ok


def _build_kit(names: list[str], recipes: Path) -> None:
    # lazy: keeps the CLI start-up fast
    from ..images import build
    from ..images.recipes import RecipeError
    from ..images.rootfs import BuildError

    try:
        build(names, verbose=True, root=recipes if recipes.is_dir() else None)
    except (BuildError, RecipeError) as exc:
        raise EngineError(f"building the offline image kit failed: {exc}") from None


@click.command("down")
@click.option("--env", "env", type=ENV, default="local", show_default=True,
              help="An environment whose hosts are all @local.")
@click.option("--volumes", is_flag=True, help="Also delete the data volumes (irreversible).")
@click.pass_context
def down_cmd(ctx: click.Context, env: str, volumes: bool) -> None:
    """Stop and remove the local stack's containers; data volumes are kept unless --volumes.

    \b
    Example:
      zixly down          # `zixly up` brings the same stack back with its data
    """
    # lazy: keeps the CLI start-up fast
    from ..deploy.local import down

    prep = prepare_teardown(_root(ctx), env)
    if not prep.loaded.config.hosts.all_local:
        raise PlanError(f"`zixly down` is for environments on this machine; {env} has remote hosts")
    problems = down(prep.files, volumes=volumes, say=lambda text: say_host("local", text))
    if problems:
        raise ApplyError("\n".join(problems))
    # lazy: keeps the CLI start-up fast
    from ..timers import remove_timer

    for job in ("backup", "health"):  # a stopped stack must not fail every night nor alert every 5 min
        for change in remove_timer(f"zixly-{job}-{env}"):
            say_host("local", f"{job} schedule: {change} (`zixly up` puts it back)")


@click.command("rollback")
@click.argument("env", type=ENV)
@click.option("--host", "hosts", type=HOST, multiple=True, help="Only this host (repeatable).")
@click.option("--to", "to", help="Release id to go back to (default: the previous good release).")
@click.option("--break-lock", is_flag=True, help="Take the deploy lock even if another deploy holds it.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@click.pass_context
def rollback_cmd(
    ctx: click.Context, env: str, hosts: tuple[str, ...], to: str | None, break_lock: bool, as_json: bool
) -> None:
    """Switch ENV back to its previous release and bring the changed projects up from it.

    Uses the release files kept on each host (no render, no registry): the same health
    gate as a deploy decides success. Swarm environments: the stacks of the previous release
    (kept on the first manager) are deployed again wherever a service's spec hash differs.

    \b
    Examples:
      zixly rollback production
      zixly rollback staging --to 20261126T120000Z-1a2b
    """
    # lazy: keeps the CLI start-up fast
    from ..deploy.manage import rollback_env
    from ..deploy.runner import env_target

    prep = prepare(_root(ctx), env)
    if prep.loaded.config.environment.mode == "swarm":
        # lazy: keeps the CLI start-up fast
        from .swarm_cmd import run_rollback

        run_rollback(prep, to, break_lock, as_json, lambda host, text: say_host(host, plain(prep.redact(text))))
        return
    et = env_target(prep.loaded, prep.files)
    report = rollback_env(
        et,
        only=hosts or None,
        to=to,
        break_lock=break_lock,
        redact=prep.redact,
        say=lambda host, text: say_host(host, plain(prep.redact(text))),
    )
    if as_json:
        click.echo(prep.redact(json.dumps(report_json(report), indent=2)))
    else:
        print_summary(report, prep.redact, "rollback")
    _exit_for(report)


@click.command("status")
@click.argument("env", type=ENV)
@click.option("--host", "hosts", type=HOST, multiple=True, help="Only this host (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable status.")
@click.pass_context
def status_cmd(ctx: click.Context, env: str, hosts: tuple[str, ...], as_json: bool) -> None:
    """Show ENV's current release, containers and their health on each host.

    Swarm environments: the release, the nodes, each service's replicas and spec hash, and
    every task with the node it runs on (asked of the first manager).

    \b
    Example:
      zixly status production --json
    """
    # lazy: keeps the CLI start-up fast
    from ..deploy.manage import status_env
    from ..deploy.runner import env_target

    prep = prepare_teardown(_root(ctx), env)
    if prep.loaded.config.environment.mode == "swarm":
        # lazy: keeps the CLI start-up fast
        from .swarm_cmd import run_status

        run_status(ctx, prep, as_json)
        return
    statuses = status_env(env_target(prep.loaded, prep.files), hosts or None)
    if as_json:
        click.echo(prep.redact(json.dumps({"environment": env, "hosts": [s.to_json() for s in statuses]}, indent=2)))
    else:
        for s in statuses:
            print_status(s)
    if any(s.error or not s.facts or not all(c.ok for c in s.facts.containers) for s in statuses):
        ctx.exit(1)


COMMANDS = (plan_cmd, deploy_cmd, rollback_cmd, status_cmd, up_cmd, down_cmd)
