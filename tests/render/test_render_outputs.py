"""The real catalog renders to valid, hardened, deterministic output (golden-pinned)."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.goldens import MODES_FILE, check_golden
from tests.helpers import REPO, SCHEMAS, fake_secrets
from zixly_stack.project import load, render

from .conftest import ALL_ENVS, GOLDEN_ENVS, render_env

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
MASK_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=.*$")


def _masked(text: str, path: str) -> str:
    """Golden form of a secret file: names kept, values masked."""
    if path.endswith(".env"):
        return "".join(MASK_LINE.sub(r"\1=********", line) + "\n" for line in text.splitlines())
    return "********\n"


def _compose_files(root: Path) -> list[Path]:
    return sorted(root.rglob("compose.yaml"))


@pytest.mark.parametrize("env", ALL_ENVS)
def test_render_is_deterministic(env: str) -> None:
    loaded = load(REPO, env)
    first = render(loaded, fake_secrets(loaded))
    second = render(load(REPO, env), fake_secrets(loaded))
    assert [(f.path, f.text, f.mode) for f in first] == [(f.path, f.text, f.mode) for f in second]


@pytest.mark.parametrize("env", GOLDEN_ENVS)
def test_golden_tree(env: str, update_golden: bool) -> None:
    files = render_env(env)
    check_golden(GOLDEN / env, {f.path: (_masked(f.text, f.path) if f.secret else f.text, f.mode) for f in files},
                 update_golden)


def test_golden_has_no_secret_values() -> None:
    for env in GOLDEN_ENVS:
        loaded = load(REPO, env)
        values = [s.reveal() for s in fake_secrets(loaded).values()]
        for p in (GOLDEN / env).rglob("*"):
            if p.is_file() and p.name != MODES_FILE:
                text = p.read_text()
                leaked = [v for v in values if v in text]
                assert not leaked, f"{p} contains secret values"


@pytest.mark.parametrize("env", ALL_ENVS)
def test_compose_files_pass_real_compose_cli(env: str, rendered_trees: dict[str, Path]) -> None:
    files = _compose_files(rendered_trees[env])
    assert files
    for f in files:
        proc = subprocess.run(["docker", "compose", "-f", str(f), "config", "-q"], capture_output=True, text=True,
                              check=False)
        assert proc.returncode == 0, f"{f}: {proc.stderr}"


@pytest.mark.parametrize("env", ALL_ENVS)
def test_compose_files_match_compose_spec_schema(env: str, rendered_trees: dict[str, Path]) -> None:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    for f in _compose_files(rendered_trees[env]):
        doc = yaml.safe_load(f.read_text())
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, f"{f}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


@pytest.mark.parametrize("env", ALL_ENVS)
def test_traefik_files_match_traefik_schemas(env: str, rendered_trees: dict[str, Path]) -> None:
    static = jsonschema.Draft7Validator(json.loads((SCHEMAS / "traefik-v3.json").read_text()))
    dynamic = jsonschema.Draft7Validator(json.loads((SCHEMAS / "traefik-v3-file-provider.json").read_text()))
    statics = sorted(rendered_trees[env].rglob("traefik/config/traefik.yml"))
    assert statics
    for f in statics:
        errs = list(static.iter_errors(yaml.safe_load(f.read_text())))
        assert not errs, f"{f}: {[e.message for e in errs[:5]]}"
        for d in sorted((f.parent / "dynamic").glob("*.yml")):
            errs = list(dynamic.iter_errors(yaml.safe_load(d.read_text())))
            assert not errs, f"{d}: {[e.message for e in errs[:5]]}"


def test_written_tree_modes(rendered_trees: dict[str, Path]) -> None:
    root = rendered_trees["production"]
    envs = list(root.rglob("env/*.env"))
    assert envs
    for f in envs:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        assert stat.S_IMODE(f.parent.stat().st_mode) == 0o700, f.parent
    manifest = json.loads(next(root.glob("*/manifest.json")).read_text())
    listed = {e["path"] for e in manifest["files"]}
    host_dir = next(root.glob("*/manifest.json")).parent
    on_disk = {str(p.relative_to(host_dir)) for p in host_dir.rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert listed == on_disk
