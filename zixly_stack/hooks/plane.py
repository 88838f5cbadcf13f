"""``plane-admin``: Plane's instance admin (god-mode), created without the browser sign-up.

Plane's own management command ``create_instance_admin EMAIL`` only promotes an existing
user, so the hook runs one small, fixed Django snippet (``python manage.py shell -c``,
WORKDIR /code of the backend image) in the ``api`` container that checks, then acts:
creates the user ``admin_email`` with ``plane.admin_password`` when missing, makes it an
``InstanceAdmin`` (role 20, as the god-mode sign-up does) and marks the instance set up.
Email and password arrive as JSON on stdin (never argv); an existing user's password is
left alone. The snippet prints ``{"changed": [...]}`` as its last line.
"""

from __future__ import annotations

import json

from .base import HookError, HookResult
from .context import HookContext

SERVICE = "plane"
CONTAINER = "api"
SNIPPET = """\
import json, sys, uuid
from plane.db.models import User
from plane.license.models import Instance, InstanceAdmin
d = json.loads(sys.stdin.read())
inst = Instance.objects.last()
if inst is None:
    print(json.dumps({"error": "the instance is not registered yet"}))
    sys.exit(3)
changed = []
user = User.objects.filter(email=d["email"]).first()
if user is None:
    user = User(email=d["email"], username=uuid.uuid4().hex, first_name="Zixly", last_name="Admin",
                is_active=True, is_password_autoset=False, is_email_verified=True)
    user.set_password(d["password"])
    user.save()
    changed.append("user")
if not InstanceAdmin.objects.filter(user=user, instance=inst).exists():
    InstanceAdmin.objects.create(user=user, instance=inst, role=20)
    changed.append("instance_admin")
if not inst.is_setup_done:
    inst.is_setup_done = True
    inst.save()
    changed.append("setup_done")
print(json.dumps({"changed": changed}))
"""
ARGV = ("python", "manage.py", "shell", "-c", SNIPPET)


def last_json(text: str) -> dict[str, object]:
    """The last line of *text* that parses as a JSON object."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    raise HookError(f"no JSON result in the command's output: {text.strip()[-300:]!r}")


def create_instance_admin(ctx: HookContext) -> HookResult:
    """``plane-admin`` (module docstring)."""
    email = ctx.setting("admin_email")
    payload = json.dumps({"email": email, "password": ctx.secret("plane.admin_password").reveal()})
    res = ctx.exec(CONTAINER, list(ARGV), service=SERVICE, stdin=payload, timeout=180, check=False)
    result = last_json(res.stdout)
    if not res.ok or "error" in result:
        raise HookError(f"plane: {result.get('error') or ctx.redact(res.stderr.strip()[-400:])}")
    changed = [str(c) for c in result.get("changed", [])]  # type: ignore[attr-defined]
    return HookResult.done([f"{c} ({email})" for c in changed], {"admin": email}, f"instance admin {email}")
