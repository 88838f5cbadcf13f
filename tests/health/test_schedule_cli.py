"""``zixly health-schedule ENV [--out DIR]`` as a user runs it: the files it writes are the
golden schedule (texts and modes), by default under ``build/<env>/health-schedule`` of the
root, and a bad environment is an error that writes nothing."""

from __future__ import annotations

from pathlib import Path

from tests.goldens import MODES_FILE, modes_text, read_golden
from tests.helpers import REPO, tree_snapshot, zixly

GOLDEN = Path(__file__).parent / "golden" / "schedule" / "production"


def _written(dest: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(dest)): (p.read_text(), p.stat().st_mode & 0o777)
            for p in sorted(dest.rglob("*")) if p.is_file()}


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "inventories").mkdir(parents=True)
    for part in ("services", "templates", "images", "healthchecks"):
        (root / part).symlink_to(REPO / part)
    (root / "inventories" / "production").symlink_to(REPO / "inventories" / "production")
    return root


def test_out_dir_gets_the_golden_schedule_with_its_modes(tmp_path: Path) -> None:
    res = zixly("health-schedule", "production", "--out", str(tmp_path / "out"), root=REPO)
    assert res.code == 0, res.stderr
    written = _written(tmp_path / "out")
    golden = read_golden(GOLDEN)
    assert {p: t for p, (t, _) in written.items()} == {p: t for p, t in golden.items() if p != MODES_FILE}
    assert modes_text(written) == golden[MODES_FILE]
    assert f"production: {len(written)} file(s) written under {tmp_path / 'out'}" in res.stderr


def test_default_destination_is_build_env_health_schedule(tmp_path: Path) -> None:
    root = _root(tmp_path)
    res = zixly("health-schedule", "production", root=root)
    assert res.code == 0, res.stderr
    dest = root / "build" / "production" / "health-schedule"
    first = _written(dest)
    assert sorted(first) == sorted(p for p in read_golden(GOLDEN) if p != MODES_FILE)
    again = zixly("health-schedule", "production", root=root)
    assert again.code == 0 and _written(dest) == first, "a second run rewrites the same files"


def test_an_unknown_environment_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    root = _root(tmp_path)
    before = tree_snapshot(root / "build")
    res = zixly("health-schedule", "nope", "--out", str(tmp_path / "out"), root=root)
    assert res.code == 2, (res.code, res.stderr)
    assert "nope" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists() and tree_snapshot(root / "build") == before
