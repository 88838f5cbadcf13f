"""``portainer-admin``: Portainer's ``admin`` user with ``portainer.admin_password``.

The catalog presets the admin with ``--admin-password-file`` at first start (and so
defuses Portainer's 5-minute first-run shutdown); this hook is the check that it worked
and the fallback when it did not, through Portainer's documented API on port 9000:
``GET /api/users/admin/check`` (204: an admin exists, 404: none) -> ``POST
/api/users/admin/init`` only when none exists; then ``POST /api/auth`` must accept the
stored password (a refusal means someone changed it in the UI: reported, not reset).
Declared in services/portainer/service.yaml.
"""

from __future__ import annotations

from .base import HookError, HookResult
from .context import HookContext

SERVICE = "portainer"
CONTAINER = "portainer"
PORT = 9000
USERNAME = "admin"


def ensure_admin(ctx: HookContext) -> HookResult:
    """``portainer-admin`` (module docstring)."""
    password = ctx.secret("portainer.admin_password")
    changed = False
    with ctx.http(CONTAINER, PORT, service=SERVICE) as client:
        ctx.wait_http(client, "/api/system/status", lambda r: r.status_code == 200, what="Portainer")
        check = client.get("/api/users/admin/check")
        if check.status_code == 404:
            made = client.post("/api/users/admin/init", json={"Username": USERNAME, "Password": password.reveal()})
            if made.status_code != 200:
                raise HookError(f"portainer: admin init refused (HTTP {made.status_code}): {made.text[:200]}")
            changed = True
        elif check.status_code != 204:
            raise HookError(f"portainer: /api/users/admin/check answered HTTP {check.status_code}")
        auth = client.post("/api/auth", json={"Username": USERNAME, "Password": password.reveal()})
        if auth.status_code != 200 or "jwt" not in auth.json():
            raise HookError("portainer: the admin password differs from portainer.admin_password "
                            f"(HTTP {auth.status_code}); change it back in Portainer or rotate the secret")
    summary = "created admin" if changed else "admin signs in"
    return HookResult(changed, summary, {"admin": f"{USERNAME}:{password.fingerprint()}"})
