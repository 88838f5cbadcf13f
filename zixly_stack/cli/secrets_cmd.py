"""``zixly secrets ...``: manage an environment's encrypted secrets.

Exported as :data:`secrets_group` (the main CLI registers it). Commands read the repo
root from ``ctx.obj["root"]`` (default: cwd); an environment is ``<root>/inventories/<env>/``.
``set`` and ``rotate`` take each secret's type (and ``never_rotate``) from the catalog:
every secret the environment needs (:func:`~zixly_stack.render.context.required_secrets`).
``ctx.obj["secret_specs"]`` may supply ``(root, env) -> {name: SecretSpec}`` instead, and
``ctx.obj["spec_lookup"]`` ``(root, env, name) -> SecretSpec | None`` for one name. A name
neither declared nor stored is refused with a "did you mean"; a stored name the catalog no
longer declares keeps its recorded type.

No command prints a secret value except ``show --reveal``; values are never taken from
argv (``set`` reads stdin or a hidden prompt). Errors print one message on stderr, no
traceback (unless ``ctx.obj["debug"]``), and exit with the error's ``exit_code``.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import functools
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import SecretsError, ZixlyError
from ..models.names import require_name
from ..models.secret_spec import SecretSpec, SecretType
from ..render.context import required_secrets
from ..secrets import MASK, SecretStore, ensure_identity, load_identity
from ..secrets.document import TYPES, Entry
from ..secrets.store import STORE_FILE
from .common import make_console
from .params import ENV

SpecLookup = Callable[[Path, str, str], SecretSpec | None]
SpecsOf = Callable[[Path, str], Mapping[str, SecretSpec]]
P = ParamSpec("P")
R = TypeVar("R")
# a notification channel's URL or token (environment.yaml notifications.channels): set by hand
NOTIFY_SPEC = SecretSpec(type="password", length=8, description="notification channel credential")


def _handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`ZixlyError` into one line on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ZixlyError as exc:
            ctx = click.get_current_context(silent=True)
            obj = ctx.find_root().obj if ctx else None
            if isinstance(obj, dict) and obj.get("debug"):
                raise
            click.echo(str(exc), err=True)  # same form as the main CLI: the message, no prefix
            raise click.exceptions.Exit(exc.exit_code) from None

    return wrapper


def _obj(ctx: click.Context) -> dict[str, Any]:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, dict) else {}


def _root(ctx: click.Context) -> Path:
    root = _obj(ctx).get("root")
    return Path(root) if root is not None else Path.cwd()


def _env_dir(ctx: click.Context, env: str) -> Path:
    return _root(ctx) / "inventories" / require_name(env)


def _open_existing(ctx: click.Context, env: str) -> SecretStore:
    store = SecretStore.open(_env_dir(ctx, env))
    if not store.exists:
        raise SecretsError(f"{store.path}: no secrets store; create it with `zixly secrets init {env}`")
    return store


def _catalog_specs(ctx: click.Context, env: str) -> Mapping[str, SecretSpec]:
    """Every secret ENV needs, by name, as the catalog declares it (a broken config is its own error, exit 2)."""
    custom: SpecsOf | None = _obj(ctx).get("secret_specs")
    if custom is not None:
        return custom(_root(ctx), env)
    # lazy: keeps the CLI start-up fast
    from ..notify.channels import secret_names
    from ..project import load

    loaded = load(_root(ctx), env)
    specs = dict(required_secrets(loaded.stack))
    for name in secret_names(loaded.config.environment):  # the channels' tokens: set by hand, never generated
        specs.setdefault(name, NOTIFY_SPEC)
    return specs


def _lookup(ctx: click.Context, env: str, name: str) -> SecretSpec | None:
    lookup: SpecLookup | None = _obj(ctx).get("spec_lookup")
    if lookup is not None:
        return lookup(_root(ctx), env, name)
    return _catalog_specs(ctx, env).get(name)


def _known(ctx: click.Context, env: str, name: str, store: SecretStore) -> SecretSpec | None:
    """The catalog's spec of *name*, None for a stored name it no longer declares; unknown names are refused."""
    spec = _lookup(ctx, env, name)
    if spec is not None or store.entry(name) is not None:
        return spec
    names = sorted({*_catalog_specs(ctx, env), *store.names()})
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise SecretsError(
        f"{name}: not a secret of {env!r}{hint}; its secrets are those its services declare "
        f"(`zixly secrets list {env}` shows the stored ones). Nothing was written."
    )


def _console() -> Console:
    """Rich console on the current stdout; wide when not a terminal, so tables never truncate."""
    return make_console(file=sys.stdout)


@click.group("secrets")
def secrets_group() -> None:
    """Encrypted per-environment secrets (inventories/ENV/secrets.age)."""


@secrets_group.command("init")
@click.argument("env")
@click.pass_context
@_handle_errors
def init_cmd(ctx: click.Context, env: str) -> None:
    """Create ENV's empty store (and your age key, and recipients.txt, if missing)."""
    env_dir = _env_dir(ctx, env)
    if (env_dir / STORE_FILE).exists():  # checked first: a refused init creates no key either
        raise SecretsError(f"{env_dir / STORE_FILE}: a store already exists; nothing was written")
    had_key = load_identity() is not None
    identity = ensure_identity()
    store = SecretStore.create(env_dir, identity)
    out = _console()
    if not had_key:
        out.print(f"created your age key {escape(identity.source)} — back it up; without it the secrets are lost")
    out.print(f"created {escape(str(store.path))}, encrypted to: {', '.join(store.recipients)}")


@secrets_group.command("key")
@_handle_errors
def key_cmd() -> None:
    """Print your age public key (creating your per-user key if you have none) to give to a teammate."""
    had_key = load_identity() is not None
    identity = ensure_identity()
    if not had_key:
        click.echo(f"created your age key {identity.source} — back it up", err=True)
    for public in identity.public_keys:
        click.echo(public)


@secrets_group.command("list")
@click.argument("env")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
@_handle_errors
def list_cmd(ctx: click.Context, env: str, as_json: bool) -> None:
    """Names, types, dates and fingerprints of ENV's secrets (never values)."""
    store = _open_existing(ctx, env)
    rows = [_row(name, entry) for name in store.names() if (entry := store.entry(name))]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("name", "type", "created", "rotated", "fingerprint", "never rotate", box=box.SIMPLE_HEAD)
    for row in rows:
        table.add_row(
            *(escape(str(row[k] or "")) for k in ("name", "type", "created", "rotated", "fingerprint")),
            "yes" if row["never_rotate"] else "",
        )
    _console().print(table)


def _row(name: str, entry: Entry) -> dict[str, Any]:
    return {
        "name": name,
        "type": entry.type,
        "created": entry.created,
        "rotated": entry.rotated,
        "fingerprint": entry.value.fingerprint(),
        "never_rotate": entry.never_rotate,
    }


@secrets_group.command("show")
@click.argument("env")
@click.argument("name")
@click.option("--reveal", is_flag=True, help="Print the clear value (to stdout, nothing else).")
@click.pass_context
@_handle_errors
def show_cmd(ctx: click.Context, env: str, name: str, reveal: bool) -> None:
    """Show one secret: masked with its fingerprint, or the value with --reveal."""
    entry = stored_entry(ctx, env, name)
    if reveal:
        click.echo(entry.value.reveal())
        return
    click.echo(f"{name}  {MASK}  type={entry.type}  fingerprint={entry.value.fingerprint()}")


def stored_entry(ctx: click.Context, env: str, name: str) -> Entry:
    """Secret *name* of ENV's store (decrypted with your key); a clear error when it is not there."""
    store = _open_existing(ctx, env)
    entry = store.entry(name)
    if entry is None:
        raise SecretsError(f"{name}: no such secret in {store.path} (see `zixly secrets list {env}`)")
    return entry


@secrets_group.command("set")
@click.argument("env")
@click.argument("name")
@click.option("--type", "type_", type=click.Choice(TYPES), default=None,
              help="Type of a stored secret the catalog no longer declares (else the catalog's).")
@click.option("--force", is_flag=True, help="Overwrite a key marked never_rotate.")
@click.pass_context
@_handle_errors
def set_cmd(ctx: click.Context, env: str, name: str, type_: SecretType | None, force: bool) -> None:
    """Store a value you choose (read from stdin, or a hidden prompt on a terminal).

    NAME must be a secret of ENV (as its services declare it); its type and never-rotate
    reason come from the catalog, so an imported key keeps never-rotate semantics.
    """
    store = _open_existing(ctx, env)
    spec = _known(ctx, env, name, store)
    if type_ is not None:
        if spec is not None and spec.type != type_:
            raise SecretsError(f"{name}: the catalog declares it as {spec.type}, not {type_}; nothing was written")
        if spec is None:
            entry = store.entry(name)
            assert entry is not None
            spec = inferred_spec(name, entry).model_copy(update={"type": type_})
    value = _read_value(name)
    rehashed = store.set(name, value, spec, force=force)
    if not store.save():
        click.echo(f"{name}: unchanged")
        return
    extra = f"; re-hashed {', '.join(rehashed)}" if rehashed else ""
    entry = store.entry(name)
    assert entry is not None
    click.echo(f"set {name} (fingerprint {entry.value.fingerprint()}){extra}")


def _read_value(name: str) -> str:
    if sys.stdin is not None and not sys.stdin.isatty():
        value = sys.stdin.read()
        value = value[:-2] if value.endswith("\r\n") else value[:-1] if value.endswith("\n") else value
    else:
        value = click.prompt(f"value for {name}", hide_input=True, confirmation_prompt=True)
    if not value:
        raise SecretsError(f"{name}: empty value; nothing was written")
    return value


@secrets_group.command("rotate")
@click.argument("env")
@click.argument("name")
@click.option("--force", is_flag=True, help="Rotate even a key marked never_rotate (says what breaks).")
@click.pass_context
@_handle_errors
def rotate_cmd(ctx: click.Context, env: str, name: str, force: bool) -> None:
    """Replace a secret with a new generated value (refuses never-rotate keys without --force)."""
    store = _open_existing(ctx, env)
    spec = _known(ctx, env, name, store)
    entry = store.entry(name)
    if entry is None:
        raise SecretsError(f"{name}: not in {store.path} yet; nothing to rotate (it is generated on first deploy)")
    spec = spec or inferred_spec(name, entry)
    report = store.rotate(name, spec, force=force)
    store.save()
    click.echo(report, err=report.startswith("WARNING"))


def inferred_spec(name: str, entry: Entry) -> SecretSpec:
    """A spec that regenerates ``entry`` in the same format, when the catalog offers none."""
    value = entry.value.reveal()
    length = len(value)
    if entry.type == "hex":
        length //= 2
    elif entry.type == "base64":
        try:
            length = len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            length = 32
    if entry.type == "bcrypt" and not entry.of:
        raise SecretsError(f"{name}: the store does not record what this bcrypt hash is made from; rotate its source")
    return SecretSpec.model_validate(
        {"type": entry.type, "length": min(max(length, 8), 256), "of": entry.of, "never_rotate": entry.never_rotate}
    )


@secrets_group.command("recover")
@click.argument("env", type=ENV)
@click.option("--from-release", "from_release", is_flag=True, required=True,
              help="Rebuild the store from the release deployed on ENV's hosts (the only source so far).")
@click.option("--release", "release", default=None, help="A release id instead of the current one.")
@click.option("--partial", is_flag=True, help="Write what was recovered even if a never-rotate key is missing.")
@click.pass_context
@_handle_errors
def recover_cmd(ctx: click.Context, env: str, from_release: bool, release: str | None, partial: bool) -> None:
    """Rebuild ENV's lost secrets.age from the deployed release, encrypted to recipients.txt.

    Reads the release over the deploy connection (this machine for @local hosts): each
    host's recovery sheet (.zixly/recovery.json), else, for releases made before sheets,
    the values in its env and secret files. Never overwrites a store and never generates a
    value: what it cannot recover is listed with the reason.
    """
    # lazy: keeps the CLI start-up fast
    from ..deploy.recover import recover_env

    _env_dir(ctx, env)
    done = recover_env(_root(ctx), env, release=release, partial=partial)
    rec = done.recovery
    sources: dict[str, int] = {}
    for where in rec.source.values():
        sources[where] = sources.get(where, 0) + 1
    how = "; ".join(f"{n} from {where}" for where, n in sorted(sources.items()))
    click.echo(f"recovered {len(rec.entries)} secret(s) of {env} ({how}); store {done.store_id or '(no id)'}")
    click.echo(f"wrote {done.path}, encrypted to: {', '.join(done.recipients)}")
    for note in rec.notes:
        click.echo(f"note: {note}", err=True)
    for name, why in sorted(rec.missing.items()):
        click.echo(f"not recovered: {name}: {why}; the next deploy generates a new one "
                   f"(or set the old value: `zixly secrets set {env} {name}`)", err=True)


@secrets_group.group("recipients")
@click.argument("env")
def recipients_group(env: str) -> None:
    """The age public keys ENV's store is encrypted to: list, add KEY, remove KEY."""


def _env_param(ctx: click.Context) -> str:
    assert ctx.parent is not None
    env = ctx.parent.params["env"]
    assert isinstance(env, str)
    return env


@recipients_group.command("list")
@click.pass_context
@_handle_errors
def recipients_list(ctx: click.Context) -> None:
    """Print the keys in recipients.txt, and warn if secrets.age was encrypted to a different count."""
    env = _env_param(ctx)
    store = SecretStore.open(_env_dir(ctx, env), load_identity())
    for key in store.recipients:
        click.echo(key)
    count = store.encrypted_key_count
    if count is not None and count != len(store.recipients):
        click.echo(
            f"warning: secrets.age is encrypted to {count} key(s) but recipients.txt lists {len(store.recipients)}; "
            f"re-encrypt with `zixly secrets recipients {env} add <key>`",
            err=True,
        )


@recipients_group.command("add")
@click.argument("key")
@click.option("--comment", default="", help="Who the key belongs to (kept as a # comment).")
@click.pass_context
@_handle_errors
def recipients_add(ctx: click.Context, key: str, comment: str) -> None:
    """Add KEY (age1...) and re-encrypt the store to every recipient."""
    store = SecretStore.open(_env_dir(ctx, _env_param(ctx)))
    added = store.add_recipient(key.strip(), comment)
    store.save(reencrypt=True)
    verb = "added" if added else "already listed;"
    click.echo(f"{verb} {key.strip()}; {_encrypted_to(store)}")


@recipients_group.command("remove")
@click.argument("key")
@click.option("--force", is_flag=True, help="Allow removing your own key.")
@click.pass_context
@_handle_errors
def recipients_remove(ctx: click.Context, key: str, force: bool) -> None:
    """Remove KEY and re-encrypt the store without it."""
    env = _env_param(ctx)
    store = SecretStore.open(_env_dir(ctx, env))
    if not store.remove_recipient(key.strip(), force=force):
        raise SecretsError(f"{key.strip()}: not in recipients.txt")
    store.save()
    click.echo(f"removed {key.strip()}; {_encrypted_to(store)}")
    if store.exists:
        click.echo(
            "note: that key can still decrypt old copies of secrets.age (git history, backups); "
            f"rotate what can be rotated: `zixly secrets rotate {env} NAME`",
            err=True,
        )


def _encrypted_to(store: SecretStore) -> str:
    if not store.exists:
        return "recipients.txt updated (no store yet)"
    return f"secrets.age re-encrypted to {len(store.recipients)} key(s)"
