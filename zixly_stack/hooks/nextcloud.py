"""``nextcloud-setup``: Nextcloud's post-install settings through ``occ``, check-then-act.

Every call is ``php /var/www/html/occ ...`` as ``www-data`` (occ must run as the owner of
config.php) in the ``app`` container. Each setting is read first
(``config:system:get`` / ``config:app:get``) and written only when it differs:

* ``trusted_domains``: the public host (``${host:nextcloud}``) and ``nextcloud-app``, the
  name n8n's workflows use on the proxy network -- appended at the next free index;
* ``overwrite.cli.url`` = the public URL (links in mails sent from cron);
* background jobs: ``occ background:cron`` (the catalog's ``cron`` container runs them);
* ``maintenance_window_start`` = 1 (UTC hour for heavy background jobs);
* mail: ``mail_smtpmode/host/port/from_address/domain`` when the environment has SMTP;
* the client-folder template: ``Clients/_Template/{01 Contracts,...}`` in the admin's
  files, created with ``mkdir -p`` in the data directory and registered with
  ``occ files:scan``.
"""

from __future__ import annotations

import json
import posixpath

from .base import HookError, HookResult
from .context import HookContext

SERVICE = "nextcloud"
CONTAINER = "app"
OCC = ("php", "/var/www/html/occ")
USER = "www-data"
INTERNAL_HOST = "nextcloud-app"
TEMPLATE_DIRS = ("01 Contracts", "02 Deliverables", "03 Invoices", "04 Meeting notes")
ADMIN = "admin"


def occ(ctx: HookContext, *args: str, check: bool = True) -> str:
    """``occ ARGS`` as www-data; stdout (HookError on failure when *check*)."""
    res = ctx.exec(CONTAINER, [*OCC, *args, "--no-interaction"], service=SERVICE, user=USER, check=check,
                   timeout=180)
    return res.stdout.strip() if res.ok else ""


def _system(ctx: HookContext, key: str) -> str:
    return occ(ctx, "config:system:get", key, check=False)


def _set_system(ctx: HookContext, key: str, value: str, changes: list[str], *, kind: str = "string") -> None:
    if _system(ctx, key) != value:
        occ(ctx, "config:system:set", key, f"--type={kind}", f"--value={value}")
        changes.append(f"{key}={value}")


def _trusted_domains(ctx: HookContext, changes: list[str]) -> None:
    raw = occ(ctx, "config:system:get", "trusted_domains", "--output=json", check=False)
    try:
        current = json.loads(raw) if raw else []
    except json.JSONDecodeError:
        raise HookError(f"occ printed unexpected trusted_domains: {raw[:200]}") from None
    values = list(current.values()) if isinstance(current, dict) else list(current)
    index = len(values)
    for domain in (ctx.public_host(SERVICE), INTERNAL_HOST):
        if domain not in values:
            occ(ctx, "config:system:set", "trusted_domains", str(index), f"--value={domain}")
            values.append(domain)
            index += 1
            changes.append(f"trusted domain {domain}")


def _mail(ctx: HookContext, changes: list[str]) -> None:
    smtp = ctx.stack.environment.smtp
    if smtp is None:
        return
    local, _, domain = smtp.from_address.partition("@")
    for key, value, kind in (("mail_smtpmode", "smtp", "string"), ("mail_smtphost", smtp.host, "string"),
                             ("mail_smtpport", str(smtp.port), "integer"), ("mail_from_address", local, "string"),
                             ("mail_domain", domain, "string")):
        _set_system(ctx, key, value, changes, kind=kind)


def _template(ctx: HookContext, changes: list[str]) -> None:
    data_dir = ctx.definition.containers[CONTAINER].env.get("NEXTCLOUD_DATA_DIR", "/var/www/html/data")
    base = posixpath.join(data_dir, ADMIN, "files", "Clients", "_Template")
    wanted = [posixpath.join(base, d) for d in TEMPLATE_DIRS]
    missing = [p for p in wanted
               if not ctx.exec(CONTAINER, ["test", "-d", p], service=SERVICE, user=USER, check=False).ok]
    if missing:
        ctx.exec(CONTAINER, ["mkdir", "-p", *missing], service=SERVICE, user=USER)
        occ(ctx, "files:scan", f"--path=/{ADMIN}/files/Clients")
        changes.append(f"client folder template ({len(missing)} folders)")


def setup(ctx: HookContext) -> HookResult:
    """``nextcloud-setup`` (module docstring)."""
    status = occ(ctx, "status", "--output=json")
    try:
        installed = json.loads(status).get("installed") is True
    except json.JSONDecodeError:
        installed = False
    if not installed:
        raise HookError("Nextcloud is not installed yet (occ status); the image installs it on first start")
    changes: list[str] = []
    _trusted_domains(ctx, changes)
    _set_system(ctx, "overwrite.cli.url", ctx.public_url(SERVICE), changes)
    if occ(ctx, "config:app:get", "core", "backgroundjobs_mode", check=False) != "cron":
        occ(ctx, "background:cron")
        changes.append("background jobs: cron")
    _set_system(ctx, "maintenance_window_start", "1", changes, kind="integer")
    _mail(ctx, changes)
    _template(ctx, changes)
    applied = {"host": ctx.public_host(SERVICE), "template": ",".join(TEMPLATE_DIRS)}
    return HookResult.done(changes, applied, "settings and client folder template in place")
