"""Property-based fuzzing of the inputs (issue 20, build item 7): whatever a user writes, the contract holds.

One to three mutations (:mod:`.fuzz_mutations`) of one file (an environment, its hosts, or a
catalog service) of the mini repo, or of the real catalog with the production inventory, then
``validate`` and ``render`` run in-process. For every
example, exactly one of:

* both exit 0, the rendered tree lies entirely under ``--out`` (no symlink, no path outside),
  holds the marker and a manifest per host, and every compose file parses;
* both exit 2 with the same problems, each ``file:line:col: ...`` naming a file of the repo (or
  ``command line``), the last line the error count; no ``--out``, no change in the repository.

Never a hang (each example has a 60 s alarm; a template has its own 5 s deadline inside), never
an internal error or a traceback. Budget: the ``ci`` profile (the default) runs a fixed,
derandomized set of examples well under a minute; ``ZIXLY_FUZZ_PROFILE=long`` runs thousands
with fresh randomness and keeps failures in ``~/.cache/zixly-hypothesis`` for replay.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pyrage
import pytest
import yaml
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from tests.helpers import FIXTURES, REPO, copy_repo, zixly

from .conftest import checksum
from .fuzz_mutations import mutated

settings.register_profile("ci", max_examples=100, derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=int(os.environ.get("ZIXLY_FUZZ_EXAMPLES", "3000")),
                          deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          database=DirectoryBasedExampleDatabase(str(Path("~/.cache/zixly-hypothesis").expanduser())))
PROFILE = os.environ.get("ZIXLY_FUZZ_PROFILE", "ci")

MINI_FILES = [
    "inventories/base/environment.yaml",
    "inventories/base/hosts.yaml",
    "services/n8n/service.yaml",
    "services/crm/service.yaml",
    "services/traefik/service.yaml",
    "services/postgres/service.yaml",
]
REAL_FILES = [
    "inventories/production/environment.yaml",
    "inventories/production/hosts.yaml",
    *(f"services/{p.parent.name}/service.yaml" for p in sorted((REPO / "services").glob("*/service.yaml"))),
]
REAL_SHARE = 6  # the real catalog renders ~5x slower: 1 example of it for 6 of the mini repo
PROBLEM = re.compile(r"^(command line|(?P<file>[^:\n]+):(?P<line>[0-9]+):(?P<col>[0-9]+)): ")
HANG_S = 60


class Hang(Exception):
    """An example ran past the alarm."""


@pytest.fixture(scope="module")
def fuzz_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A key in an isolated HOME, in the environment for the whole module."""
    home = tmp_path_factory.mktemp("fuzz-home")
    key = home / "age.key"
    key.write_text(str(pyrage.x25519.Identity.generate()) + "\n")
    key.chmod(0o600)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        mp.delenv("ZIXLY_AGE_KEY", raising=False)
        mp.setenv("ZIXLY_AGE_KEY_FILE", str(key))
        yield home


@pytest.fixture(scope="module")
def mini_repo(tmp_path_factory: pytest.TempPathFactory, fuzz_home: Path) -> Path:
    """The mini repo with an initialised store, once for all examples."""
    root = tmp_path_factory.mktemp("fuzz") / "repo"
    shutil.copytree(FIXTURES / "minirepo", root)
    assert zixly("secrets", "init", "base", root=root).code == 0
    return root


@pytest.fixture(scope="module")
def real_repo(tmp_path_factory: pytest.TempPathFactory, fuzz_home: Path) -> Path:
    """The real catalog and the production inventory, with an initialised store."""
    root = copy_repo(tmp_path_factory.mktemp("fuzz-real") / "repo", REPO, envs=("production",))
    assert zixly("secrets", "init", "production", root=root).code == 0
    return root


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang(f"no answer after {HANG_S}s")


def _check_refusal(validate: list[str], render: list[str], repo: Path) -> None:
    assert render == validate, "validate and render disagree"
    *problems, last = render
    assert re.fullmatch(r"[0-9]+ errors? in configuration; nothing was written", last), last
    assert problems, "a refusal names at least one problem"
    for line in problems:
        m = PROBLEM.match(line)
        assert m, f"not a located problem: {line!r}"
        if m.group("file"):
            assert (repo / m.group("file")).exists(), f"problem in a file that does not exist: {line!r}"


def _check_render(out: Path) -> None:
    root = out.resolve()
    hosts = [p for p in root.iterdir() if p.is_dir()]  # none when no service is enabled: nothing to deploy
    assert (root / ".zixly-render.json").is_file()
    for host in hosts:
        assert (host / "manifest.json").is_file()
    for p in root.rglob("*"):
        assert not p.is_symlink(), p
        assert p.resolve().is_relative_to(root), p
        if p.name == "compose.yaml":
            assert isinstance(yaml.safe_load(p.read_text()), dict)


def _example(base_repo: Path, env: str, files: list[str], data: st.DataObject) -> None:
    """One mutated file, validate and render, the module contract checked."""
    file = data.draw(st.sampled_from(files), label="file")
    text = data.draw(mutated((base_repo / file).read_text()), label="text")
    sandbox = Path(tempfile.mkdtemp(prefix="zixly-fuzz-"))
    try:
        repo = sandbox / "repo"
        shutil.copytree(base_repo, repo)
        (repo / file).write_text(text, encoding="utf-8", errors="surrogatepass")
        out = sandbox / "out"
        before = checksum(repo)
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(HANG_S)
        try:
            checked = zixly("validate", env, root=repo)
            rendered = zixly("render", env, "--out", str(out), root=repo)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        event(f"exit {rendered.code}: {file}")
        note(f"validate {checked.code}: {checked.stderr[:2000]}")
        note(f"render {rendered.code}: {rendered.stderr[:2000]}")
        for run in (checked, rendered):
            assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
        assert (checked.code, rendered.code) in ((0, 0), (2, 2)), (checked.code, rendered.code)
        if rendered.code == 0:
            _check_render(out)
        else:
            _check_refusal(checked.stderr.rstrip("\n").split("\n"), rendered.stderr.rstrip("\n").split("\n"), repo)
            assert not out.exists(), "a refused render wrote its output"
            assert checksum(repo) == before, "a refused render changed the repository"
        assert sorted(os.listdir(sandbox)) == sorted(["repo", *(["out"] if rendered.code == 0 else [])]), \
            "something was written beside the repository and the output"
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


@given(data=st.data())
@settings(settings.get_profile(PROFILE))
def test_mutated_mini_repo_is_rendered_or_refused_cleanly(mini_repo: Path, data: st.DataObject) -> None:
    _example(mini_repo, "base", MINI_FILES, data)


@given(data=st.data())
@settings(settings.get_profile(PROFILE), max_examples=max(settings.get_profile(PROFILE).max_examples // REAL_SHARE, 1))
def test_mutated_real_catalog_is_rendered_or_refused_cleanly(real_repo: Path, data: st.DataObject) -> None:
    _example(real_repo, "production", REAL_FILES, data)
