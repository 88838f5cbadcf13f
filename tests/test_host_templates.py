"""Every text file zixly puts on a host is a template in ``templates/`` (issue 19, step 2).

1. No systemd unit body, cron line, nftables ruleset or shell script body is left inside
   ``zixly_stack/**/*.py`` (an AST walk over every string literal and f-string; the detector is
   proven able to fail on planted examples of each kind, and to pass on the look-alikes the
   package legitimately holds: prose in docstrings, argv tuples, a cron *time* field alone).
2. The templates are found through the package resource -- also when the package is installed
   non-editable (``pip install <checkout>`` into a fresh venv), not only from a checkout.
3. Every rendered shell script passes Debian's ``shellcheck`` (``make deps`` installs it), rendered
   with representative inputs: the backup script of both example environments and of a plan per
   store kind (postgres, mariadb, redis, volumes), both provision scripts, the prepare facts probe.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.local_engine import unavailable
from tests.helpers import REPO
from zixly_stack.backup.local import standin_containers
from zixly_stack.plan.prepare import FACTS_SCRIPT
from zixly_stack.project import load
from zixly_stack.render.backup.plan import plan_backup
from zixly_stack.render.backup.script import backup_script
from zixly_stack.render.hostfiles import render_host_file, template_names, templates_root
from zixly_stack.render.stores import provision_script

PACKAGE = REPO / "zixly_stack"

# A line that is a systemd section header.
UNIT_SECTION = re.compile(r"^\s*\[(Unit|Service|Timer|Install|Socket|Path|Mount)\]\s*$", re.M)
# A cron.d line: five time fields (digits, *, /, -, ',') or an @keyword, a user, a command.
CRON_LINE = re.compile(r"^\s*(?:@(?:reboot|hourly|daily|weekly|monthly|yearly)|(?:[0-9*/,\-]+[ \t]+){4}[0-9*/,\-]+)"
                       r"[ \t]+[a-z_][a-z0-9_-]*[ \t]+\S", re.M)
# nftables: a table or chain block, a base-chain hook, or a ruleset flush.
NFT = re.compile(r"\b(?:table|chain)\s+(?:(?:inet|ip6?|arp|bridge|netdev)\s+)?[\w-]+\s*\{|\bhook\s+"
                 r"(?:input|forward|output|prerouting|postrouting|ingress)\s+priority\b|\bflush\s+ruleset\b")
# A script: a shebang, or several lines of shell control flow in one string.
SHEBANG = re.compile(r"^#!\s*/\S+", re.M)
SHELL_CONTROL = re.compile(r";\s*then\b|;\s*do\b|^\s*(?:fi|done|esac)\b|\bcase\b.*\bin\s*$", re.M)


def _strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every string literal (implicit concatenation is one literal) and f-string (each
    interpolation read as ``0``, so ``f"{mm} {hh} * * * root x"`` still reads as a cron line)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "0" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def host_text(source: str) -> list[tuple[int, str]]:
    """``(line, kind)`` of every host-file body inside Python *source*."""
    found = []
    for line, text in _strings(ast.parse(source)):
        if UNIT_SECTION.search(text):
            found.append((line, "systemd unit"))
        if CRON_LINE.search(text):
            found.append((line, "cron line"))
        if NFT.search(text):
            found.append((line, "nft ruleset"))
        if SHEBANG.search(text) or len(SHELL_CONTROL.findall(text)) >= 3:
            found.append((line, "script body"))
    return found


def test_no_host_file_body_is_left_in_the_package() -> None:
    found = [f"{path.relative_to(REPO)}:{line}: {kind}"
             for path in sorted(PACKAGE.rglob("*.py")) if "templates" not in path.parts
             for line, kind in host_text(path.read_text(encoding="utf-8"))]
    assert not found, "move these into templates/ and render them:\n" + "\n".join(found)


PLANTED = {
    "systemd unit": 'X = """[Unit]\nDescription=x\n\n[Service]\nExecStart=/bin/true\n"""',
    "systemd timer": 'X = "[Timer]\\nOnCalendar=daily\\n"',
    "cron line": 'X = f"{mm} {hh} * * * root /bin/bash {script}\\n"',
    "cron @daily": 'X = "@daily root /usr/bin/zixly backup\\n"',
    "nft table": 'X = "\\n".join(["table inet zixly {", "  chain input {", "  }", "}"])',
    "nft hook": 'X = "type filter hook input priority filter; policy drop;"',
    "nft flush": 'X = "flush ruleset"',
    "bash shebang": 'X = r"""#!/bin/bash\nset -eu\necho hi\n"""',
    "sh shebang in an f-string": 'X = f"#!/bin/sh\\nexec {cmd}\\n"',
    "shell without a shebang": 'X = """for f in a b; do\n  if [ -f "$f" ]; then\n    cat "$f"\n  fi\ndone\n"""',
}


@pytest.mark.parametrize("source", PLANTED.values(), ids=PLANTED.keys())
def test_the_detector_finds_a_planted_body(source: str) -> None:
    assert host_text(source), source


LOOKALIKES = {
    "docstring prose": '"""Loads ``[Unit]``-less files; the table ``inet zixly`` is replaced, see nft."""',
    "argv": 'X = ("systemctl", "enable", "--now", "zixly-backup.timer")',
    "a cron time alone": 'X = "30 2 * * *"',
    "a summary": 'X = f"nftables table inet zixly: inbound tcp {ports} only"',
    "one shell line": 'X = f"if [ -f {q} ]; then cat {q}; fi"',
}


@pytest.mark.parametrize("source", LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_the_detector_passes_look_alikes(source: str) -> None:
    assert not host_text(source), source


# -- the templates are package resources ---------------------------------------------------------


def _repo_templates() -> list[str]:
    base = REPO / "templates"
    return sorted(p.relative_to(base).as_posix() for p in base.rglob("*.j2"))


def test_the_resource_lookup_finds_every_template_and_each_compiles() -> None:
    assert template_names() == _repo_templates()
    assert len(template_names()) >= 12
    for name in template_names():
        assert (templates_root() / name).is_file(), name


def test_a_non_editable_install_renders_from_its_own_copy(tmp_path: Path) -> None:
    """``pip install <checkout>`` into a fresh venv (dependencies from this interpreter's
    site-packages, ``--no-deps``): the installed package lists and renders every template from
    its own copy, not from the checkout."""
    src = tmp_path / "checkout"  # a clean copy: no build/ left over from an earlier build of the worktree
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for name in ("zixly_stack", "templates"):
        shutil.copytree(REPO / name, src / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    res = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
                          str(src)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    probe = ("import json, zixly_stack.render.hostfiles as h;"
             "print(json.dumps([h.__file__, str(h.templates_root()), h.template_names(),"
             " h.render_host_file('prepare/20auto-upgrades.j2')]))")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COVERAGE_PROCESS_START")}
    out = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    module, root, names, text = json.loads(out.stdout)
    assert module.startswith(str(venv)) and root.startswith(str(venv)), (module, root)
    assert not Path(root).is_symlink(), "the wheel carries a copy, not the checkout's symlink"
    assert names == _repo_templates()
    assert text == render_host_file("prepare/20auto-upgrades.j2")


# -- shellcheck --------------------------------------------------------------------------------


def _backup_scripts() -> dict[str, str]:
    out = {}
    for env in ("local", "production"):
        loaded = load(REPO, env)
        host = loaded.stack.host_names()[0]
        plan = plan_backup(loaded.stack, host, standin_containers(loaded))
        out[f"backup-{env}.sh"] = backup_script(plan, loaded.stack.environment)
        for engine in ("postgres", "mariadb", "redis", "volume"):
            services = tuple(dataclasses.replace(sp, items=tuple(i for i in sp.items if i.engine == engine))
                             for sp in plan.services if any(i.engine == engine for i in sp.items))
            assert services, f"{env} has a {engine} item"
            out[f"backup-{env}-{engine}.sh"] = backup_script(dataclasses.replace(plan, services=services),
                                                             loaded.stack.environment)
    return out


def _scripts() -> dict[str, tuple[str, str]]:
    """file name -> (shell dialect, text) of every shell script we render."""
    scripts = {name: ("bash", text) for name, text in _backup_scripts().items()}
    scripts["provision-postgres.sh"] = ("sh", provision_script("postgres"))
    scripts["provision-mariadb.sh"] = ("sh", provision_script("mariadb"))
    scripts["prepare-facts.sh"] = ("sh", FACTS_SCRIPT)
    return scripts


def shellcheck(tmp_path: Path, scripts: dict[str, tuple[str, str]]) -> str:
    """shellcheck's findings (gcc format) over *scripts*; empty when clean."""
    exe = shutil.which("shellcheck")
    if exe is None:
        unavailable("shellcheck missing (Debian package shellcheck; `make deps` installs it)")
        return ""
    findings = []
    for name, (dialect, text) in scripts.items():
        (tmp_path / name).write_text(text)
        res = subprocess.run([exe, "--shell", dialect, "--format", "gcc", str(tmp_path / name)],
                             capture_output=True, text=True, check=False)
        findings += [line.replace(str(tmp_path) + "/", "") for line in res.stdout.splitlines()]
        assert res.returncode in (0, 1), res.stderr
    return "\n".join(findings)


def test_every_rendered_shell_script_is_shellcheck_clean(tmp_path: Path) -> None:
    scripts = _scripts()
    assert len(scripts) >= 13
    findings = shellcheck(tmp_path, scripts)
    assert not findings, findings


def test_shellcheck_finds_a_planted_fault(tmp_path: Path) -> None:
    """The check can fail: an unquoted expansion planted into the backup script is reported."""
    text = _backup_scripts()["backup-local.sh"]
    broken = text.replace('log "backup of $ENV (run $RUN) to $RESTIC_REPOSITORY"',
                          'log "backup of $ENV (run $RUN) to $RESTIC_REPOSITORY"; rm -rf $STATE/tmp', 1)
    assert broken != text
    assert "SC2086" in shellcheck(tmp_path, {"broken.sh": ("bash", broken)})
