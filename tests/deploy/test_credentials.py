"""``zixly credentials`` and the sign-in table: URL, user, reveal command; never a password unasked.

Runs the real CLI group (click's CliRunner) on a throwaway root whose catalog is this repo's
and whose ``local`` environment got its secrets from ``zixly secrets init`` + ``zixly render``; the n8n owner's and
Metabase admin's passwords are then set to canary values, so a leak is visible.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from tests.deploy.helpers import REPO, make_root
from zixly_stack.cli.common import PIPED_WIDTH
from zixly_stack.cli.credentials_cmd import print_sign_in
from zixly_stack.cli.main import cli
from zixly_stack.deploy.signin import sign_in_rows
from zixly_stack.project import load
from zixly_stack.secrets import MASK, SecretStore

CANARIES = {"n8n.owner_password": "CANARY-owner-5d1c0b9a8e7f", "metabase.admin_password": "CANARY-mb-1a2b3c4d5e6f"}
ENV = "local"


@pytest.fixture
def root(tmp_path: Path, age_key: Path) -> Path:
    """A root with the repo's catalog and local environment, secrets generated, canaries set."""
    env_dir = REPO / "inventories" / ENV
    root = make_root(tmp_path / "repo", ENV, (env_dir / "environment.yaml").read_text(),
                     (env_dir / "hosts.yaml").read_text())
    assert _run(root, "secrets", "init", ENV).exit_code == 0
    assert _run(root, "render", ENV, "--out", str(tmp_path / "out")).exit_code == 0
    store = SecretStore.open(root / "inventories" / ENV)
    for name, value in CANARIES.items():
        store.set(name, value, force=True)
    store.save()
    return root


def _run(root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--root", str(root), *args])


def _no_canary(text: str) -> None:
    assert not any(value in text for value in CANARIES.values()), "a password was printed"


def test_table_names_every_app_user_and_reveal_command_never_a_password(root: Path) -> None:
    result = _run(root, "credentials", ENV)
    assert result.exit_code == 0, result.output
    _no_canary(result.output)
    out = result.output
    for app, url in (("n8n", "https://n8n.localhost/signin"), ("metabase", "https://metabase.localhost/auth/login"),
                     ("traefik", "https://traefik.localhost/dashboard/"), ("portainer", "https://portainer.localhost/")):
        assert app in out and url in out
    for app in ("n8n", "traefik"):  # real images here: masked, with the command that reveals
        assert f"zixly credentials {ENV} {app} --reveal" in out
    assert "zixly credentials local metabase --reveal" not in out  # a stand-in signs no one in
    assert "admin@example.com" in out and MASK in out
    # stand-ins are named, with the real app's first-admin flow and its source
    assert "STAND-IN: nothing to sign in to here; the real metabase:" in out
    assert "https://www.metabase.com/docs/latest/api/setup" in out
    assert "STAND-IN: nothing to sign in to here; the real n8n" not in out  # n8n is the real image


def test_json_rows_carry_no_password(root: Path) -> None:
    result = _run(root, "credentials", ENV, "--json")
    assert result.exit_code == 0, result.output
    _no_canary(result.output)
    rows = {r["app"]: r for r in json.loads(result.stdout)}
    assert rows["n8n"] == {
        "app": "n8n", "url": "https://n8n.localhost/signin", "user": "admin@example.com",
        "secret": "n8n.owner_password", "reveal": f"zixly credentials {ENV} n8n --reveal", "standin": False,
        "first_admin": rows["n8n"]["first_admin"], "source": rows["n8n"]["source"],
    }
    assert rows["traefik"]["secret"] == "edge.admin_password" and rows["traefik"]["user"] == "admin"
    assert rows["nextcloud"]["user"] == "admin" and rows["nextcloud"]["standin"] is True
    assert all("password" not in r for r in rows.values())


def test_reveal_prints_only_that_password(root: Path) -> None:
    result = _run(root, "credentials", ENV, "n8n", "--reveal")
    assert result.exit_code == 0, result.output
    assert result.stdout == CANARIES["n8n.owner_password"] + "\n"


def test_reveal_json_is_the_row_plus_its_password_only(root: Path) -> None:
    result = _run(root, "credentials", ENV, "metabase", "--reveal", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["password"] == CANARIES["metabase.admin_password"]
    assert doc["user"] == "admin@example.com" and doc["url"] == "https://metabase.localhost/auth/login"
    assert CANARIES["n8n.owner_password"] not in result.output


def test_one_app_without_reveal_is_masked(root: Path) -> None:
    result = _run(root, "credentials", ENV, "n8n")
    assert result.exit_code == 0, result.output
    _no_canary(result.output)
    assert "n8n" in result.output and "metabase" not in result.output


def test_reveal_needs_an_app_and_an_unknown_app_is_named(root: Path) -> None:
    result = _run(root, "credentials", ENV, "--reveal")
    assert result.exit_code == 2
    assert "name the APP" in result.output
    _no_canary(result.output)
    result = _run(root, "credentials", ENV, "n8m", "--reveal")
    assert result.exit_code == 2
    assert "no app 'n8m' with a sign-in in local" in result.output and "did you mean 'n8n'?" in result.output
    _no_canary(result.output)


def test_print_sign_in_is_the_summary_table(root: Path) -> None:
    loaded = load(root, ENV)
    console = Console(record=True, width=240, soft_wrap=True)
    print_sign_in(loaded, console)
    text = console.export_text()
    _no_canary(text)
    rows = sign_in_rows(loaded)
    assert {r.app for r in rows} == {"traefik", "portainer", "chatwoot", "invoiceninja", "mautic", "metabase", "n8n",
                                     "nextcloud", "plane"}
    assert text.splitlines()[0].startswith("sign in")
    for r in rows:
        assert r.url in text
        assert (r.reveal in text) is not r.standin
        assert not r.standin or r.note in text


def test_piped_sign_in_table_keeps_one_row_per_line(root: Path, age_key: Path) -> None:
    """Regression: piped (a CI log, ``| tee``), rich fell back to 80 columns and the sign-in table's
    last column was one character wide, the reveal command spelled down 40 lines. The real CLI in a
    subprocess, stdout a pipe: each app's URL and its whole reveal command stand on one line."""
    env = {**os.environ, "ZIXLY_AGE_KEY_FILE": str(age_key), "COLUMNS": "", "TERM": "dumb"}
    env.pop("COLUMNS")
    proc = subprocess.run([sys.executable, "-m", "zixly_stack.cli", "--root", str(root), "credentials", ENV],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    _no_canary(proc.stdout + proc.stderr)
    lines = proc.stdout.splitlines()
    for r in sign_in_rows(load(root, ENV)):
        row = [line for line in lines if r.url in line]
        assert len(row) == 1, f"{r.app}: its URL is not on exactly one line:\n{proc.stdout}"
        assert r.standin or r.reveal in row[0], f"{r.app}: the reveal command is broken over lines:\n{proc.stdout}"
    table = [line for line in lines if "│" in line or "┃" in line]
    assert table and max(len(line) for line in table) <= PIPED_WIDTH  # the notes below it are free text
