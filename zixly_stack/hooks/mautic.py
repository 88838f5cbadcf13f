"""``mautic-install``: Mautic's installer on the first deploy, migrations on later ones.

As ``www-data`` in the ``web`` container (README "Running a Mautic CLI command"):

* installed? -- ``php -r`` prints ``site_url`` from ``config/local.php`` (empty before);
* not installed -- ``bin/console mautic:install <site_url> --force`` with the database
  settings the container already has (``$MAUTIC_DB_*``, expanded by ``sh`` inside the
  container) and the admin ``admin_email`` / ``mautic.admin_password``; the password is
  read from stdin by that ``sh`` (Mautic takes it only as an option, so it is visible
  inside the container's process list for the installer's lifetime -- never on this side);
* installed -- ``doctrine:migrations:up-to-date`` (exit 0 = nothing to do); only when it
  reports pending migrations: ``doctrine:migrations:migrate`` then ``cache:clear``.
"""

from __future__ import annotations

from .base import HookResult
from .context import HookContext

SERVICE = "mautic"
CONTAINER = "web"
USER = "www-data"
CONSOLE = ("php", "/var/www/html/bin/console")
SITE_URL_PROBE = ("php", "-r", "$parameters = []; @include '/var/www/html/config/local.php'; "
                               "echo $parameters['site_url'] ?? '';")
INSTALL = (
    'IFS= read -r pw; exec php /var/www/html/bin/console mautic:install "$1" --force --no-interaction '
    '--db_driver=pdo_mysql --db_host="$MAUTIC_DB_HOST" --db_port="$MAUTIC_DB_PORT" '
    '--db_name="$MAUTIC_DB_DATABASE" --db_user="$MAUTIC_DB_USER" --db_password="$MAUTIC_DB_PASSWORD" '
    '--admin_username=admin --admin_firstname=Zixly --admin_lastname=Admin '
    '--admin_email="$2" --admin_password="$pw"'
)


def install(ctx: HookContext) -> HookResult:
    """``mautic-install`` (module docstring)."""
    url = ctx.public_url(SERVICE)
    email = ctx.setting("admin_email")
    site = ctx.exec(CONTAINER, list(SITE_URL_PROBE), service=SERVICE, user=USER).stdout.strip()
    if not site:
        ctx.exec(CONTAINER, ["sh", "-c", INSTALL, "sh", url, email], service=SERVICE, user=USER,
                 stdin=ctx.secret("mautic.admin_password").reveal() + "\n", timeout=540)
        return HookResult(True, f"installed Mautic at {url} (admin {email})", {"site_url": url})
    current = ctx.exec(CONTAINER, [*CONSOLE, "doctrine:migrations:up-to-date", "--no-interaction"],
                       service=SERVICE, user=USER, check=False)
    if current.ok:
        return HookResult(False, f"installed at {site}, schema up to date", {"site_url": site})
    ctx.exec(CONTAINER, [*CONSOLE, "doctrine:migrations:migrate", "--no-interaction", "--allow-no-migration"],
             service=SERVICE, user=USER, timeout=540)
    ctx.exec(CONTAINER, [*CONSOLE, "cache:clear", "--no-interaction"], service=SERVICE, user=USER, timeout=300)
    return HookResult(True, "applied pending Mautic migrations", {"site_url": site})
