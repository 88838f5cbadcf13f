"""Unit tests of the deploy package's pure parts: image listing, lock rules, app URLs, argv builders."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO, copy_repo, fake_secrets
from zixly_stack.commands import docker as dk
from zixly_stack.deploy.imagelist import image_rows, refs
from zixly_stack.deploy.local import kit_names
from zixly_stack.deploy.lock import acquire_script, is_stale, owner_doc, release_script
from zixly_stack.deploy.urls import app_urls, main_urls
from zixly_stack.errors import ConfigError
from zixly_stack.plan.facts import LockInfo
from zixly_stack.plan.paths import EnvPaths
from zixly_stack.project import load, render


def test_image_list_of_the_local_environment_names_standins() -> None:
    rows = image_rows(load(REPO, "local"))
    by = {(r.service, r.container): r for r in rows}
    assert by[("n8n", "n8n")].ref.startswith("zixly-offline/n8n:") and not by[("n8n", "n8n")].standin
    assert by[("n8n", "n8n")].upstream.startswith("n8nio/n8n:")
    assert by[("plane", "api")].standin and by[("plane", "api")].source == "offline kit"
    assert all(r.ref.startswith("zixly-offline/") for r in rows), [r.ref for r in rows if "zixly-offline" not in r.ref]
    assert len(refs(rows)) < len(rows), "stand-in apps share one image"


def _local_with_n8n(tmp_path: Path, version: str) -> Path:
    root = copy_repo(tmp_path / "repo", envs=("local",))
    env = root / "inventories" / "local" / "environment.yaml"
    env.write_text(env.read_text().replace("  n8n:\n", f"  n8n:\n    version: {version}\n", 1))
    return root


def test_offline_images_follow_the_pinned_versions(tmp_path: Path) -> None:
    """The catalog's PostgreSQL 16 pins get the kit's 16; an n8n pinned to the older kit version gets
    that image for n8n and its runners, and `zixly up` builds exactly those recipes."""
    root = _local_with_n8n(tmp_path, "2.38.7")
    loaded = load(root, "local")
    by = {(r.service, r.container): r for r in image_rows(loaded)}
    assert (by[("n8n", "n8n")].ref, by[("n8n", "n8n")].recipe) == ("zixly-offline/n8n:2.38.7", "n8n-2.38")
    assert by[("n8n", "runner")].ref == "zixly-offline/n8n-runners:2.38.7"
    for key in (("postgres", "server"), ("warehouse", "db")):
        assert (by[key].ref, by[key].recipe) == ("zixly-offline/postgres:16", "postgres-16"), by[key]
    names = kit_names(render(loaded, fake_secrets(loaded)), root / "images")
    assert {"n8n-2.38", "n8n-runners-2.38", "postgres-16"} <= set(names)
    assert not {"n8n", "n8n-runners", "postgres"} & set(names)


def test_an_offline_pin_the_kit_lacks_is_a_located_error(tmp_path: Path) -> None:
    loaded = load(_local_with_n8n(tmp_path, "2.40.0"), "local")
    with pytest.raises(ConfigError) as err:
        render(loaded, fake_secrets(loaded))
    text = str(err.value)
    assert "inventories/local/environment.yaml:12:" in text and "images.source" in text, text
    assert "no image for n8nio/n8n:2.40.0" in text and "zixly-offline/n8n:2.38.7" in text, text


def test_image_list_of_production_is_upstream_only() -> None:
    rows = image_rows(load(REPO, "production"))
    assert rows and not any(r.standin for r in rows)
    assert {r.source for r in rows} == {"upstream"}
    assert all(r.ref == r.upstream for r in rows)


def test_a_lock_is_stale_only_when_its_process_here_is_gone() -> None:
    me = socket.gethostname()
    dead = _dead_pid()
    assert is_stale(LockInfo("x", me, dead, "t"))
    assert not is_stale(LockInfo("x", me, os.getppid(), "t")), "a live process holds it"
    assert not is_stale(LockInfo("x", "another-machine", dead, "t")), "cannot know about other machines"
    assert not is_stale(LockInfo("x", me, os.getpid(), "t"))


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_lock_scripts_are_atomic_and_token_guarded() -> None:
    paths = EnvPaths("/srv/zx", "prod")
    doc = owner_doc("deploy", "tok123")
    script = acquire_script(paths, doc, then="echo facts")
    assert "if mkdir -m 0700 /srv/zx/prod/.lock 2>/dev/null; then" in script
    assert script.endswith('if [ "${zixly_locked:-}" = 1 ]; then\necho facts\nfi')
    assert doc["machine"] == socket.gethostname() and doc["pid"] == os.getpid()
    assert "grep -qF tok123 /srv/zx/prod/.lock/owner" in release_script(paths, "tok123")


def test_lock_script_runs_in_sh(tmp_path: object) -> None:
    paths = EnvPaths(str(tmp_path), "e")
    first = subprocess.run(
        ["sh", "-c", acquire_script(paths, owner_doc("deploy", "a"), "echo then-ran")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    second = subprocess.run(
        ["sh", "-c", acquire_script(paths, owner_doc("deploy", "b"), "echo then-ran")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "zixly-lock-acquired" in first and "then-ran" in first
    assert "zixly-lock-held" in second and "then-ran" not in second and '"token": "a"' in second
    subprocess.run(["sh", "-c", release_script(paths, "b")], check=True)
    assert os.path.isdir(paths.lock_dir), "another token does not release it"
    subprocess.run(["sh", "-c", release_script(paths, "a")], check=True)
    assert not os.path.exists(paths.lock_dir)


def test_app_urls_use_documented_health_paths_and_root_routes() -> None:
    urls = app_urls(load(REPO, "local"))
    by = {(u.service, u.container): u for u in urls}
    assert by[("n8n", "n8n")].health_path == "/healthz" and by[("n8n", "n8n")].expect == 200
    assert by[("metabase", "metabase")].health_path == "/api/health"
    assert by[("plane", "api")].expect == 0, "no documented answer under /api/: any app answer proves the route"
    main = {u.service: u.url for u in main_urls(urls)}
    assert main["plane"] == "https://plane.localhost/"


def test_compose_argv() -> None:
    up = dk.compose_up_wait("/b/e/current/app/compose.yaml", ["web", "migrate"], 300)
    assert up == [
        "docker",
        "compose",
        "--ansi",
        "never",
        "--progress",
        "plain",
        "-f",
        "/b/e/current/app/compose.yaml",
        "up",
        "--detach",
        "--wait",
        "--wait-timeout",
        "300",
        "--remove-orphans",
        "--quiet-pull",
        "web",
        "migrate",
    ]
    job = dk.compose_run_job("/f.yaml", "provision")
    assert job[-5:] == ["--no-deps", "--no-log-prefix", "--exit-code-from", "provision", "provision"]
    assert dk.compose_down("zixly-e-app")[-2:] == ["down", "--remove-orphans"]
    assert dk.compose_down("p", volumes=True)[-1] == "--volumes"
