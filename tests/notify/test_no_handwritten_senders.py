"""No hand-written HTTP or SMTP sender remains for notifications: the package and the on-host agent
reach notification services only through Apprise (the library here, the CLI on hosts).

Walks every module of zixly_stack: no smtplib, email composition, urllib.request or http.client
anywhere; httpx only in the modules that talk to the stack's own apps (probes, seeding hooks),
never in a module that sends notifications; the agent opens sockets only in its two probes; the
rendered backup script calls no curl or wget.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO
from zixly_stack.project import load
from zixly_stack.render.backup.plan import plan_backup
from zixly_stack.render.backup.script import backup_script

PACKAGE = REPO / "zixly_stack"
FORBIDDEN = ("smtplib", "email.message", "email.mime", "urllib.request", "http.client", "requests")
# httpx: GET probes through the edge and the apps' own APIs (hooks) -- not notifications
HTTPX_OK = {"runner/green.py", "deploy/urls.py", "health/probes/__init__.py", "health/probes/http.py",
            "hooks/context.py", "hooks/metabase.py", "hooks/n8n.py", "hooks/portainer.py"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    return out


def test_no_module_imports_a_mail_or_http_client_of_its_own() -> None:
    bad = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(PACKAGE))
        found = {m for m in imports(path) if m.startswith(FORBIDDEN) or (m == "httpx" and rel not in HTTPX_OK)}
        if found:
            bad[rel] = sorted(found)
    assert bad == {}, bad


def test_the_agent_opens_sockets_only_to_probe() -> None:
    tree = ast.parse((PACKAGE / "health" / "agent.py").read_text())
    users = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)
             for n in ast.walk(f) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
             and n.value.id in ("socket", "ssl")}
    assert users == {"http_check", "tls_check"}, users
    senders = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)
               for n in ast.walk(f) if isinstance(n, ast.Attribute) and n.attr == "run"}
    assert "apprise" in senders, "notifications go through the apprise CLI"


def test_the_backup_script_sends_only_through_apprise() -> None:
    loaded = load(REPO, "production")
    text = backup_script(plan_backup(loaded.stack, "vps1"), loaded.stack.environment)
    assert "curl" not in text and "wget" not in text and "/dev/tcp" not in text
    assert '"$APPRISE" -c "$NOTIFY_CONF"' in text
