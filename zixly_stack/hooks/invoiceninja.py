"""``invoiceninja-setup``: Invoice Ninja's first account, from the container's environment.

The image's own init.sh creates the first account on the first start when
``IN_USER_EMAIL``/``IN_PASSWORD`` are set (the catalog sets them from ``admin_email`` and
``invoiceninja.admin_password``). The hook makes that reliable and idempotent with the
vendor's own check and commands, as ``www-data`` in the ``app`` container:

* ``php artisan tinker --execute='echo Schema::hasTable("accounts") && !App\\Models\\Account::all()->first();'``
  prints ``1`` while no account exists;
* then ``php artisan db:seed --force`` and ``ninja:create-account`` with the email and
  password expanded by ``sh`` from the container's own environment -- the password never
  appears in an argv this side builds.
"""

from __future__ import annotations

from .base import HookError, HookResult
from .context import HookContext

SERVICE = "invoiceninja"
CONTAINER = "app"
USER = "www-data"
ARTISAN = ("php", "/var/www/html/artisan")
NEEDS_INIT = 'echo Schema::hasTable("accounts") && !App\\Models\\Account::all()->first();'
CREATE = 'exec php /var/www/html/artisan ninja:create-account --email "$IN_USER_EMAIL" --password "$IN_PASSWORD"'


def setup(ctx: HookContext) -> HookResult:
    """``invoiceninja-setup`` (module docstring)."""
    probe = ctx.exec(CONTAINER, [*ARTISAN, "tinker", f"--execute={NEEDS_INIT}"], service=SERVICE, user=USER,
                     timeout=180)
    answer = probe.stdout.strip().splitlines()[-1:] or [""]
    email = ctx.setting("admin_email")
    if answer[0] != "1":
        return HookResult(False, "first account exists", {"account": email})
    ctx.exec(CONTAINER, [*ARTISAN, "db:seed", "--force"], service=SERVICE, user=USER, timeout=300)
    res = ctx.exec(CONTAINER, ["sh", "-c", CREATE], service=SERVICE, user=USER, timeout=300, check=False)
    if not res.ok:
        raise HookError(f"invoiceninja: ninja:create-account failed: {ctx.redact(res.stderr.strip()[-400:])}")
    return HookResult(True, f"created the first account {email}", {"account": email})
