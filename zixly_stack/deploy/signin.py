"""Who signs in where: one row per app of an environment, from the catalog's ``sign_in``. Pure.

A row holds the sign-in page's URL, the user name, the full name of the secret that holds
the password and the command that reveals it -- never the password itself (the CLI reads
it from the store only for ``zixly credentials ENV APP --reveal``). Apps served by a
labelled stand-in image cannot sign anyone in; their row says so and carries the vendor's
first-admin flow instead (``first_admin`` + ``source``).
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..catalog.placeholders import Ref, Resolved, resolve
from ..catalog.routes import dashboard_host, https_origin
from ..models.service import Service
from ..render.context import RenderContext

if TYPE_CHECKING:
    from ..project import Loaded


@dataclass(frozen=True)
class SignInRow:
    """How a person signs in to one app."""

    app: str
    url: str
    user: str
    secret: str  # full store name, e.g. n8n.owner_password
    reveal: str  # the command that prints the password
    standin: bool
    first_admin: str
    source: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (no password: the CLI adds it only on --reveal)."""
        return asdict(self)

    @property
    def note(self) -> str:
        """What a person should know besides URL and user ("" for a real app)."""
        if not self.standin:
            return ""
        return f"STAND-IN: nothing to sign in to here; the real {self.app}: {self.first_admin} ({self.source})"


def reveal_command(env: str, app: str, root: Path | None = None) -> str:
    """The command a person runs to print *app*'s password (``--root`` for a root elsewhere: a demo's)."""
    where = f"--root {shlex.quote(str(root))} " if root is not None else ""
    return f"zixly {where}credentials {env} {app} --reveal"


def _user(loaded: Loaded, text: str) -> str:
    ctx = RenderContext(loaded.stack, {}, loaded.root)

    def lookup(ref: Ref) -> Resolved:  # the catalog check allows only ${setting:...} here
        return Resolved(ctx.setting(ref.arg), False)

    return resolve(text, lookup).value


def _base_url(loaded: Loaded, svc: Service) -> tuple[str, bool] | None:
    """``https://host[:port]`` of the app's main route (the dashboard's for the edge) and stand-in flag."""
    # lazy: keeps the CLI start-up fast
    from .urls import app_urls, main_urls

    env = loaded.config.environment
    if svc.kind == "edge":
        return (https_origin(dashboard_host(env), env.edge.https_port), False) if env.edge.dashboard else None
    for u in main_urls([u for u in app_urls(loaded) if u.service == svc.name]):
        return https_origin(u.host, env.edge.https_port), u.standin
    return None


def sign_in_rows(loaded: Loaded, only: str | None = None, reveal_root: Path | None = None) -> list[SignInRow]:
    """Every app of the environment with a ``sign_in`` (or just *only*), in deploy order; the reveal
    commands name *reveal_root* when the environment lives under another root (a demo's)."""
    rows: list[SignInRow] = []
    for name, svc in loaded.stack.services.items():
        if svc.sign_in is None or (only is not None and name != only):
            continue
        base = _base_url(loaded, svc)
        if base is None:
            continue
        url, standin = base
        s = svc.sign_in
        secret = s.password if "." in s.password else f"{name}.{s.password}"
        reveal = reveal_command(loaded.stack.env_name, name, reveal_root)
        rows.append(SignInRow(name, url + s.path, _user(loaded, s.user), secret, reveal, standin, s.first_admin,
                              s.source))
    return rows


def apps_with_sign_in(loaded: Loaded) -> list[str]:
    """Names :func:`sign_in_rows` can answer for (for errors that list the choices)."""
    return [row.app for row in sign_in_rows(loaded)]
