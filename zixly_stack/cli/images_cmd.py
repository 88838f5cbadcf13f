"""``zixly images list|save|load``: every image an environment runs, moved without a registry.

Exit codes as the main CLI: 0 ok, 1 failure, 2 configuration error.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from ..errors import ApplyError
from .common import make_console
from .params import ENV, HOST
from .prepared import prepare, say_host

out = make_console()
err = make_console(stderr=True)


def _load(ctx: click.Context, env: str) -> Any:
    # lazy: keeps the CLI start-up fast
    from ..project import load

    return load(Path(ctx.obj["root"]), env)


@click.group("images")
def images_group() -> None:
    """Images an environment runs: list them, save them to a file, load them onto hosts.

    \b
    Examples:
      zixly images list production
      zixly images save production --out kit.tar.gz
      zixly images load staging --host staging1
    """


@images_group.command("list")
@click.argument("env", type=ENV)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
@click.option("--no-engine", is_flag=True, help="Do not ask this machine's engine which images it holds.")
@click.pass_context
def list_cmd(ctx: click.Context, env: str, as_json: bool, no_engine: bool) -> None:
    """Every image ENV runs: pinned upstream version, what actually runs, where it comes from."""
    # lazy: keeps the CLI start-up fast
    from ..deploy.imagelist import engine_state, image_rows

    loaded = _load(ctx, env)
    rows = image_rows(loaded)
    state: dict[str, str] = {}
    if not no_engine:
        # lazy: keeps the CLI start-up fast
        from ..engine import engine_available

        if engine_available():
            state = engine_state(rows)
    if as_json:
        doc = [
            {
                "host": r.host,
                "service": r.service,
                "container": r.container,
                "upstream": r.upstream,
                "image": r.ref,
                "source": r.source,
                "standin": r.standin,
                "recipe": r.recipe or None,
                "local_engine": state.get(r.ref),
            }
            for r in rows
        ]
        click.echo(json.dumps({"environment": env, "images": doc}, indent=2))
        return
    table = Table(title=f"images of {env}", title_justify="left")
    for col in ("service/container", "pinned upstream", "runs", "source", "here"):
        table.add_column(col, overflow="fold")
    for r in rows:
        source = r.source + (" [bold yellow](STAND-IN)[/]" if r.standin else "")
        table.add_row(f"{r.service}/{r.container}", r.upstream, r.ref, source, state.get(r.ref, ""))
    out.print(table)
    standins = sorted({r.service for r in rows if r.standin})
    if standins:
        out.print(f"[bold yellow]stand-ins:[/] {', '.join(standins)} (labelled; not the real applications)")


@images_group.command("save")
@click.argument("env", type=ENV)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Tar file.")
@click.option("--host", "host", type=HOST, help="Only the images this host runs.")
@click.pass_context
def save_cmd(ctx: click.Context, env: str, out_path: Path, host: str | None) -> None:
    """Save ENV's images from this machine's engine into one tar (gzip when FILE ends in .gz)."""
    # lazy: keeps the CLI start-up fast
    from ..deploy.imagelist import image_rows, refs, save
    from ..outdir import check_out_file

    check_out_file(out_path, Path(ctx.obj["root"]))
    loaded = _load(ctx, env)
    wanted = refs(image_rows(loaded), host)
    start = time.monotonic()
    size = save(wanted, out_path)
    err.print(
        f"saved {len(wanted)} image(s) to {out_path} ({size / 1e6:.0f} MB) in {time.monotonic() - start:.0f}s",
        markup=False,
    )


@images_group.command("load")
@click.argument("env", type=ENV)
@click.option("--host", "hosts", type=HOST, multiple=True, help="Only this host (repeatable).")
@click.option("--from", "from_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A saved tar.")
@click.pass_context
def load_cmd(ctx: click.Context, env: str, hosts: tuple[str, ...], from_file: Path | None) -> None:
    """Load ENV's images onto its hosts over the deploy connection: no registry.

    Only images a host lacks (or holds in an older build) travel, as one `docker save`
    stream from this machine's engine (or FILE from `zixly images save`) into `docker
    load` on the host, through the existing SSH connection. Swarm environments: every node
    gets the images of the services its labels and role allow it to run (a service pinned to
    a node's label there only, one without placement constraints on every node).
    """
    # lazy: keeps the CLI start-up fast
    from ..deploy.env_images import load_env
    from ..deploy.imagelist import image_rows, refs
    from ..deploy.runner import env_target

    prep = prepare(Path(ctx.obj["root"]), env)
    if prep.loaded.config.environment.mode == "swarm":
        # lazy: keeps the CLI start-up fast
        from .swarm_cmd import load_images

        results = load_images(prep, hosts, from_file, say_host)
    else:
        rows = image_rows(prep.loaded)
        et = env_target(prep.loaded, prep.files)
        host_refs = {h: refs(rows, h) for h in et.targets}
        results = load_env(et, host_refs, only=hosts or None, from_file=from_file, say=say_host)
    failed = [r for r in results if r.error]
    for r in results:
        if r.error:
            err.print(f"{r.host}: {r.error}", markup=False)
        elif r.needed:
            err.print(f"{r.host}: {r.result.message if r.result else 'loaded'}", markup=False)
        else:
            err.print(f"{r.host}: nothing to load", markup=False)
    if failed:
        raise ApplyError(f"images load {env} failed on " + ", ".join(r.host for r in failed))
