"""First-admin hooks: exact vendor commands pinned, idempotent (run twice), secrets from the store.

The vendors' containers cannot run here, so each test stands in for the *container*
(:class:`tests.hooks.fakes.ScriptedTransport`), answering the documented commands the way
the vendor documents them -- ``occ config:system:get`` exits 1 for an unset key, Invoice
Ninja's init probe prints ``1`` until the first account exists, Mautic's ``local.php`` has
no ``site_url`` before ``mautic:install`` -- and keeping the state those commands change.
Plane's Django snippet is executed for real (python) against a stand-in of the three ORM
classes it uses; Portainer's API is a stand-in HTTP server of its documented contract.
Secrets come from a real encrypted store and must never appear in an argv.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.local_engine import unavailable
from tests.hooks.fakes import ScriptedTransport, context
from zixly_stack.hooks import chatwoot, invoiceninja, mautic, nextcloud, plane, portainer
from zixly_stack.hooks.base import Endpoint, ExecResult, HookError, HookResult
from zixly_stack.hooks.context import HookContext
from zixly_stack.project import Loaded, render
from zixly_stack.secrets.value import Secret

Env = tuple[Loaded, dict[str, Secret]]
OCC = ["php", "/var/www/html/occ"]


def _ctx(env: Env, service: str, transport: Any) -> HookContext:
    loaded, secrets = env
    return context(loaded.stack, service, transport, secrets, loaded.root, hook=f"{service}-test")


def _no_secret_in_argv(t: ScriptedTransport, secrets: dict[str, Secret]) -> None:
    for argv in t.argvs():
        joined = " ".join(argv)
        for value in secrets.values():
            if len(value.reveal()) >= 8:
                assert value.reveal() not in joined, f"a secret is in argv {argv[:4]}"


def _twice(fn: Any, ctx_factory: Any) -> tuple[HookResult, HookResult]:
    return fn(ctx_factory()), fn(ctx_factory())


# -- Nextcloud -------------------------------------------------------------------------
class NextcloudConfig:
    """occ as documented: get exits 1 when unset; set writes; files:scan registers files."""

    def __init__(self) -> None:
        self.system: dict[str, Any] = {"trusted_domains": ["localhost"]}
        self.app = {"backgroundjobs_mode": "ajax"}
        self.dirs: set[str] = set()

    def __call__(self, argv: list[str], stdin: bytes | None) -> ExecResult:
        if argv[:1] == ["test"]:
            return ExecResult(0 if argv[2] in self.dirs else 1, "", "")
        if argv[:2] == ["mkdir", "-p"]:
            self.dirs.update(argv[2:])
            return ExecResult(0, "", "")
        args = [a for a in argv[2:] if a != "--no-interaction"]
        if args[:2] == ["status", "--output=json"]:
            return ExecResult(0, json.dumps({"installed": True, "maintenance": False}), "")
        if args[0] == "config:system:get":
            if args[1] not in self.system:
                return ExecResult(1, "", "")
            value = self.system[args[1]]
            return ExecResult(0, json.dumps(value) if "--output=json" in args else str(value), "")
        if args[0] == "config:system:set":
            value = next(a.split("=", 1)[1] for a in args if a.startswith("--value="))
            if args[1] == "trusted_domains":
                self.system["trusted_domains"].insert(int(args[2]), value)
            else:
                self.system[args[1]] = value
            return ExecResult(0, "", "")
        if args[:3] == ["config:app:get", "core", "backgroundjobs_mode"]:
            return ExecResult(0, self.app["backgroundjobs_mode"], "")
        if args == ["background:cron"]:
            self.app["backgroundjobs_mode"] = "cron"
            return ExecResult(0, "Set mode for background jobs to 'cron'", "")
        if args[0] == "files:scan":
            return ExecResult(0, "", "")
        return ExecResult(2, "", f"unexpected occ call {args}")


def test_nextcloud_setup_pins_occ_calls_and_is_idempotent(local_env: Env) -> None:
    cfg = NextcloudConfig()
    t = ScriptedTransport()
    t.on([], cfg)
    first, second = _twice(nextcloud.setup, lambda: _ctx(local_env, "nextcloud", t))
    writes = [c[1] for c in t.calls if c[1][:2] == OCC and ("config:system:set" in c[1] or
                                                             "background:cron" in c[1] or "files:scan" in c[1])]
    assert writes == [
        [*OCC, "config:system:set", "trusted_domains", "1", "--value=cloud.localhost", "--no-interaction"],
        [*OCC, "config:system:set", "trusted_domains", "2", "--value=nextcloud-app", "--no-interaction"],
        [*OCC, "config:system:set", "overwrite.cli.url", "--type=string", "--value=https://cloud.localhost",
         "--no-interaction"],
        [*OCC, "background:cron", "--no-interaction"],
        [*OCC, "config:system:set", "maintenance_window_start", "--type=integer", "--value=1", "--no-interaction"],
        [*OCC, "files:scan", "--path=/admin/files/Clients", "--no-interaction"],
    ]
    assert all(c[2] == "www-data" for c in t.calls)  # occ runs as the owner of config.php
    assert ["mkdir", "-p", *[f"/var/www/data/admin/files/Clients/_Template/{d}" for d in nextcloud.TEMPLATE_DIRS]] \
        in t.argvs()
    assert first.changed and not second.changed
    assert cfg.system["trusted_domains"] == ["localhost", "cloud.localhost", "nextcloud-app"]


def test_nextcloud_refuses_an_uninstalled_instance(local_env: Env) -> None:
    t = ScriptedTransport()
    t.on([*OCC, "status"], ExecResult(0, '{"installed":false}', ""))
    with pytest.raises(HookError, match="not installed yet"):
        nextcloud.setup(_ctx(local_env, "nextcloud", t))


# -- Plane -----------------------------------------------------------------------------
def test_plane_snippet_creates_admin_once(local_env: Env, tmp_path: Path) -> None:
    _, secrets = local_env
    db = tmp_path / "plane.json"
    standin = Path(__file__).parent / "plane_orm_standin"

    def django_shell(argv: list[str], stdin: bytes | None) -> ExecResult:
        assert argv[:4] == ["python", "manage.py", "shell", "-c"]
        proc = subprocess.run([sys.executable, "-c", argv[4]], input=stdin, capture_output=True, check=False,
                              env={**os.environ, "PYTHONPATH": str(standin), "PLANE_STANDIN_DB": str(db)})
        return ExecResult(proc.returncode, proc.stdout.decode(), proc.stderr.decode())

    t = ScriptedTransport()
    t.on(["python", "manage.py", "shell"], django_shell)
    first, second = _twice(plane.create_instance_admin, lambda: _ctx(local_env, "plane", t))
    assert first.changed and "instance_admin" in first.summary and not second.changed
    state = json.loads(db.read_text())
    [user] = state["users"]
    assert user["email"] == "admin@example.com" and user["is_password_autoset"] is False
    assert user["password"].startswith("sha256$")  # set_password, never the clear value
    assert state["instance_admins"] == [{"id": 1, "user": user["id"], "instance": 1, "role": 20}]
    assert state["instances"][0]["is_setup_done"] is True
    assert json.loads(t.calls[0][3] or b"{}")["password"] == secrets["plane.admin_password"].reveal()
    assert t.calls[0][0].container == "api"
    _no_secret_in_argv(t, secrets)


def _process(argv: list[str], stdin: bytes | None, env: dict[str, str]) -> ExecResult:
    """Run *argv* as a real process with *env*: what a container stand-in answers."""
    proc = subprocess.run(argv, input=stdin, capture_output=True, check=False, timeout=60, env=env)
    return ExecResult(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


# -- Chatwoot --------------------------------------------------------------------------
CHATWOOT_MODELS = Path(__file__).parent / "chatwoot_standin"


def _chatwoot(local_env: Env, db: Path) -> tuple[ScriptedTransport, Any]:
    """The rails container: ``bundle exec rails runner SNIPPET`` runs the REAL snippet under a real
    Ruby with a stand-in of the Chatwoot models it uses (chatwoot_standin/chatwoot_models.rb)."""
    ruby = shutil.which("ruby")
    if ruby is None:
        unavailable("ruby missing (Debian package ruby; `make deps` installs it)")

    def rails_runner(argv: list[str], stdin: bytes | None) -> ExecResult:
        assert argv[:4] == ["bundle", "exec", "rails", "runner"] and len(argv) == 5, argv
        return _process([str(ruby), "-I", str(CHATWOOT_MODELS), "-r", "chatwoot_models", "-e", argv[4]], stdin,
                        {"PATH": os.environ["PATH"], "CHATWOOT_STANDIN_DB": str(db)})

    t = ScriptedTransport()
    t.on(["bundle", "exec", "rails", "runner"], rails_runner)
    return t, lambda: chatwoot.create_admin(_ctx(local_env, "chatwoot", t))


def test_chatwoot_real_snippet_creates_admin_account_and_inbox_once(local_env: Env, tmp_path: Path) -> None:
    _, secrets = local_env
    db = tmp_path / "chatwoot.json"
    t, run = _chatwoot(local_env, db)
    first, second = run(), run()
    assert first.changed and first.summary == "super_admin; account; account_user; inbox"
    assert not second.changed and second.summary == "super admin admin@example.com and inbox Website"
    tables = json.loads(db.read_text())
    [user] = tables["users"]
    assert (user["type"], user["email"], bool(user["confirmed_at"])) == ("SuperAdmin", "admin@example.com", True)
    assert user["encrypted_password"] == "standin-digest:" + hashlib.sha256(
        secrets["chatwoot.admin_password"].reveal().encode()).hexdigest()
    [account] = tables["accounts"]
    assert account["name"] == "localhost"
    assert tables["account_users"] == [{"account_id": account["id"], "user_id": user["id"], "role": "administrator",
                                        "id": 1}]
    [widget] = tables["channel_web_widgets"]
    assert widget["website_url"] == "https://support.localhost"
    assert [(i["name"], i["channel_type"], i["channel_id"]) for i in tables["inboxes"]] == [
        ("Website", "Channel::WebWidget", widget["id"])]
    assert t.argvs()[0] == ["bundle", "exec", "rails", "runner", chatwoot.SNIPPET]
    assert t.calls[0][0].container == "rails"
    _no_secret_in_argv(t, secrets)


def test_chatwoot_promotes_an_existing_user_and_restores_a_deleted_inbox(local_env: Env, tmp_path: Path) -> None:
    db = tmp_path / "chatwoot.json"
    db.write_text(json.dumps({"users": [{"id": 7, "email": "admin@example.com", "type": None,
                                         "encrypted_password": "set-in-the-ui"}],
                              "accounts": [], "account_users": [], "channel_web_widgets": [], "inboxes": []}))
    _, run = _chatwoot(local_env, db)
    assert run().summary == "promoted; account; account_user; inbox"
    tables = json.loads(db.read_text())
    assert [(u["id"], u["type"], u["encrypted_password"]) for u in tables["users"]] == [
        (7, "SuperAdmin", "set-in-the-ui")], "the user's own password is kept, no second user"
    tables["inboxes"] = []  # deleted in the UI
    db.write_text(json.dumps(tables))
    assert run().summary == "inbox"
    assert len(json.loads(db.read_text())["inboxes"]) == 1


# -- Invoice Ninja ---------------------------------------------------------------------
IN_STANDIN = Path(__file__).parent / "invoiceninja_standin"


def _container_env(local_env: Env, service: str, container: str) -> dict[str, str]:
    """The environment the RENDERED compose file gives *container*: its plain ``environment`` plus
    its env files (where the secrets are), as Compose would pass them."""
    loaded, secrets = local_env
    files = {f.path.split("/", 1)[1]: f.text for f in render(loaded, secrets)}
    svc = yaml.safe_load(files[f"{service}/compose.yaml"])["services"][container]
    env = {k: str(v).replace("$$", "$") for k, v in (svc.get("environment") or {}).items()}
    for item in svc.get("env_file", []):
        for line in files[f"{service}/{item['path']}"].splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                env[key] = value[1:-1] if value[:1] == value[-1:] == "'" else value
    return env


def _invoiceninja(local_env: Env, db: Path) -> tuple[ScriptedTransport, Any]:
    """The app container at the process boundary: each exec argv runs as a real process (``sh`` is
    the real shell) with the container's rendered environment; ``php`` is the stand-in artisan."""
    env = {**_container_env(local_env, "invoiceninja", "app"), "IN_STANDIN_DB": str(db),
           "PATH": f"{IN_STANDIN}:/usr/bin:/bin"}

    def container(argv: list[str], stdin: bytes | None) -> ExecResult:
        return _process(argv, stdin, env)

    t = ScriptedTransport()
    t.on(["php", "/var/www/html/artisan"], container)
    t.on(["sh", "-c"], container)
    return t, lambda: invoiceninja.setup(_ctx(local_env, "invoiceninja", t))


def test_invoiceninja_first_account_from_the_container_env_once(local_env: Env, tmp_path: Path) -> None:
    _, secrets = local_env
    db = tmp_path / "invoiceninja.json"
    t, run = _invoiceninja(local_env, db)
    first, second = run(), run()
    assert t.argvs() == [
        ["php", "/var/www/html/artisan", "tinker", f"--execute={invoiceninja.NEEDS_INIT}"],
        ["php", "/var/www/html/artisan", "db:seed", "--force"],
        ["sh", "-c", 'exec php /var/www/html/artisan ninja:create-account --email "$IN_USER_EMAIL" '
                     '--password "$IN_PASSWORD"'],
        ["php", "/var/www/html/artisan", "tinker", f"--execute={invoiceninja.NEEDS_INIT}"],
    ]
    assert all(c[2] == "www-data" for c in t.calls)
    assert first.changed and not second.changed
    password = hashlib.sha256(secrets["invoiceninja.admin_password"].reveal().encode()).hexdigest()
    assert json.loads(db.read_text())["accounts"] == [{"email": "admin@example.com", "password_sha256": password}]
    _no_secret_in_argv(t, secrets)


def test_invoiceninja_leaves_an_account_the_image_created_alone(local_env: Env, tmp_path: Path) -> None:
    db = tmp_path / "invoiceninja.json"
    db.write_text(json.dumps({"migrated": True, "seeded": True, "accounts": [{"email": "first@example.com"}]}))
    t, run = _invoiceninja(local_env, db)
    result = run()
    assert (result.changed, result.summary) == (False, "first account exists")
    assert [a[3] for a in t.argvs()] == [f"--execute={invoiceninja.NEEDS_INIT}"], "only the probe ran"
    assert json.loads(db.read_text())["accounts"] == [{"email": "first@example.com"}]


# -- Mautic ----------------------------------------------------------------------------
def test_mautic_install_once_then_migrations_only_when_pending(local_env: Env) -> None:
    _, secrets = local_env
    site: list[str] = []
    pending = [False]
    t = ScriptedTransport()
    t.on(list(mautic.SITE_URL_PROBE), lambda a, s: ExecResult(0, site[0] if site else "", ""))
    t.on(["sh", "-c", mautic.INSTALL], lambda a, s: (site.append(a[4]), ExecResult(0, "installed", ""))[1])
    t.on([*mautic.CONSOLE, "doctrine:migrations:up-to-date"],
         lambda a, s: ExecResult(1 if pending[0] else 0, "", ""))
    # bin/console doctrine:migrations:migrate runs what is pending (after it, up-to-date exits 0)
    t.on([*mautic.CONSOLE, "doctrine:migrations:migrate"],
         lambda a, s: (pending.__setitem__(0, False), ExecResult(0, "migrated", ""))[1])
    t.on([*mautic.CONSOLE, "cache:clear"], ExecResult(0, "cache cleared", ""))
    first, second = _twice(mautic.install, lambda: _ctx(local_env, "mautic", t))
    install = t.calls[1]
    assert install[1] == ["sh", "-c", mautic.INSTALL, "sh", "https://marketing.localhost", "admin@example.com"]
    assert install[3] == (secrets["mautic.admin_password"].reveal() + "\n").encode()
    assert install[2] == "www-data" and install[0].container == "web"
    assert first.changed and not second.changed
    assert not any("doctrine:migrations:migrate" in a for a in t.argvs())
    pending[0] = True
    third = mautic.install(_ctx(local_env, "mautic", t))
    assert third.changed and not pending[0] and t.argvs()[-2:] == [
        [*mautic.CONSOLE, "doctrine:migrations:migrate", "--no-interaction", "--allow-no-migration"],
        [*mautic.CONSOLE, "cache:clear", "--no-interaction"],
    ]
    _no_secret_in_argv(t, secrets)


# -- Portainer -------------------------------------------------------------------------
class _Portainer(BaseHTTPRequestHandler):
    """Portainer's documented admin endpoints: check (204/404), init (once), auth (jwt)."""

    admin: dict[str, str]
    log: list[tuple[str, str]]

    def log_message(self, *args: object) -> None:
        return None

    def _reply(self, status: int, body: Any = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.log.append(("GET", self.path))
        if self.path == "/api/system/status":
            self._reply(200, {"Version": "2.45.1"})
        elif self.path == "/api/users/admin/check":
            self._reply(204 if self.admin else 404, None if self.admin else {"message": "No administrator account"})
        else:
            self._reply(404, {})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        self.log.append(("POST", self.path))
        if self.path == "/api/users/admin/init":
            if self.admin:
                self._reply(409, {"message": "An administrator user already exists"})
            elif len(body.get("Password", "")) < 12:
                self._reply(400, {"message": "Password too short"})
            else:
                self.admin[body["Username"]] = body["Password"]
                self._reply(200, {"Id": 1, "Username": body["Username"]})
        elif self.path == "/api/auth":
            ok = self.admin.get(body.get("Username")) == body.get("Password")
            self._reply(200 if ok else 422, {"jwt": "x.y.z"} if ok else {"message": "Invalid credentials"})
        else:
            self._reply(404, {})


@pytest.fixture
def portainer_standin() -> Iterator[tuple[str, dict[str, str], list[tuple[str, str]]]]:
    admin: dict[str, str] = {}
    log: list[tuple[str, str]] = []
    handler = type("H", (_Portainer,), {"admin": admin, "log": log})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", admin, log
    server.shutdown()
    server.server_close()


def test_portainer_admin_created_once_and_checked(local_env: Env, portainer_standin: Any) -> None:
    _, secrets = local_env
    url, admin, log = portainer_standin
    t = ScriptedTransport(endpoints={("portainer", "portainer", 9000): Endpoint(url)})
    first, second = _twice(portainer.ensure_admin, lambda: _ctx(local_env, "portainer", t))
    assert first.changed and not second.changed
    assert admin == {"admin": secrets["portainer.admin_password"].reveal()}
    assert log.count(("POST", "/api/users/admin/init")) == 1
    admin["admin"] = "changed-in-the-ui"
    with pytest.raises(HookError, match=r"differs from portainer\.admin_password"):
        portainer.ensure_admin(_ctx(local_env, "portainer", t))
