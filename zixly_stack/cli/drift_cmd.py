"""``zixly drift ENV``: where the hosts differ from the release zixly deployed there.

Exit codes (like ``plan --detailed-exitcode``): 0 no drift, 2 drift, 1 error (an unknown
environment, a configuration or secrets problem, a host that could not be read).
"""

from __future__ import annotations

import json

import click

from ..errors import ZixlyError
from .common import root_of
from .deploy_report import err, out
from .params import ENV, HOST
from .prepared import prepare_teardown


@click.command("drift")
@click.argument("env", type=ENV)
@click.option("--host", "hosts", type=HOST, multiple=True, help="Only this host (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable findings (docs/drift.md).")
@click.pass_context
def drift_cmd(ctx: click.Context, env: str, hosts: tuple[str, ...], as_json: bool) -> None:
    """Show where ENV's hosts differ from the release deployed there, changing nothing.

    One read-only round trip per host. Findings: files of the release edited, removed or
    added by hand (secret files only "differ"), Traefik files zixly did not write,
    containers whose configuration is not the release's, images whose pinned tag now names
    another image, containers/volumes/networks in the environment's Compose projects that
    zixly did not make, backup and health schedules missing or changed.

    \b
    Exit: 0 no drift, 2 drift, 1 error.
    Examples:
      zixly drift production
      zixly drift staging --json
    """
    # lazy: keeps the CLI start-up fast
    from ..deploy.drift import drift_of
    from ..deploy.runner import env_target
    from ..plan.drift import lines

    try:
        prep = prepare_teardown(root_of(ctx), env)
        report = drift_of(env_target(prep.loaded, prep.files), hosts or None)
    except ZixlyError as exc:
        err.print(str(exc), markup=False)
        ctx.exit(1)
    if as_json:
        click.echo(prep.redact(json.dumps(report.to_json(), indent=2)))
    else:
        for h in report.hosts:
            if h.error:
                continue
            head = f"host {h.host}: release {h.release or '(none)'}: "
            head += f"{len(h.findings)} finding(s)" if h.findings else "no drift"
            out.print(prep.redact(head), markup=False)
            for line in lines(h.findings):
                out.print(prep.redact(line), markup=False)
        total = len(report.findings)
        out.print(f"drift {env}: " + (f"{total} finding(s)" if total else "none"), markup=False)
    for host, why in report.errors.items():
        err.print(f"{host}: {why}", markup=False)
    if report.errors:
        ctx.exit(1)
    ctx.exit(2 if report.findings else 0)
