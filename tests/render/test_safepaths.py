"""Every path we write stays under its root (issue 20, build item 1): the helper and its writers.

Paths that come from data we do not control (a host's release list, a snapshot's path, a demo
registry file) are where an escape would come from; each writer is given one and must refuse
before touching anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from zixly_stack.backup.drill_apps import relocate_argv
from zixly_stack.demo import registry
from zixly_stack.errors import ZixlyError
from zixly_stack.plan.paths import EnvPaths
from zixly_stack.plan.steps import PrepareRelease
from zixly_stack.safepath import PathEscapeError, inside, posix_inside

from .conftest import checksum

ESCAPES = ["../x", "a/../../x", "/etc/passwd", "", "a//b", "a/./b", "a\nb", "a\\..\\b", "./a"]


@pytest.mark.parametrize("rel", ESCAPES)
def test_inside_refuses(tmp_path: Path, rel: str) -> None:
    with pytest.raises(PathEscapeError, match="would not stay under"):
        inside(tmp_path, rel)
    with pytest.raises(PathEscapeError):
        posix_inside("/srv/zixly", rel)


def test_inside_refuses_a_symlink_on_the_way_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "out").symlink_to(tmp_path)
    with pytest.raises(PathEscapeError, match="leads to"):
        inside(root, "out/x/y.txt")
    (root / "in").symlink_to(root / "sub")
    assert inside(root, "in/x") == root.resolve() / "in" / "x"


def test_inside_accepts_plain_paths(tmp_path: Path) -> None:
    assert inside(tmp_path, "vps1/crm/compose.yaml") == tmp_path.resolve() / "vps1" / "crm" / "compose.yaml"
    assert posix_inside("/srv/zixly", "releases/1") == "/srv/zixly/releases/1"
    assert os.listdir(tmp_path) == [], "checking creates nothing"


def test_a_release_id_read_from_a_host_cannot_point_elsewhere() -> None:
    paths = EnvPaths("/srv/zixly", "prod")
    assert paths.release("20261207T010101Z") == "/srv/zixly/prod/releases/20261207T010101Z"
    for bad in ("..", "../../etc", "/etc"):
        with pytest.raises(PathEscapeError):
            paths.release(bad)


def test_removed_files_listed_by_a_host_manifest_stay_in_the_release() -> None:
    step = PrepareRelease(EnvPaths("/srv/zixly", "prod"), "r2", True, (), (), remove=("crm/old.env",))
    assert ["rm", "-f", "--", "/srv/zixly/prod/releases/r2/crm/old.env"] in step.argvs()
    bad = PrepareRelease(EnvPaths("/srv/zixly", "prod"), "r2", True, (), (), remove=("../../../../etc/passwd",))
    with pytest.raises(PathEscapeError):
        bad.argvs()


def test_a_snapshot_path_cannot_move_files_out_of_the_volume(tmp_path: Path) -> None:
    """The drill moves restic's ``<volume>/<source>`` tree to the volume's root with a host-side
    script; a snapshot path leading out of the volume is refused before any command exists."""
    from zixly_stack.runner import LocalRunner

    volume = tmp_path / "volume"
    (volume / "data").mkdir(parents=True)
    (volume / "data" / "f").write_text("x")
    before = checksum(tmp_path)
    with pytest.raises(PathEscapeError):
        relocate_argv(str(volume), "/../../outside")
    assert checksum(tmp_path) == before
    nested = volume / "var" / "lib" / "vol" / "_data"
    nested.mkdir(parents=True)
    (nested / "kept.txt").write_text("restored")
    nested.chmod(0o750)
    assert LocalRunner().run(relocate_argv(str(volume), "/var/lib/vol/_data")).ok
    assert sorted(p.name for p in volume.iterdir()) == ["data", "kept.txt"]
    assert (volume / "kept.txt").read_text() == "restored" and volume.stat().st_mode & 0o777 == 0o750


def test_demo_registry_names_stay_under_demos(tmp_path: Path) -> None:
    base = str(tmp_path)
    assert registry.record_path(base, "acme") == (tmp_path / "demos" / "acme" / "demo.json").resolve()
    with pytest.raises(PathEscapeError):
        registry.record_path(base, "../../etc")
    rec = tmp_path / "demos" / "acme" / "demo.json"
    rec.parent.mkdir(parents=True)
    doc = {"client": "../../victim", "env": "demo-../../victim", "host_env": "local", "host": "local",
           "services": [], "stack": [], "projects": [], "created": "2026-12-07T00:00:00Z",
           "expires": "2026-12-08T00:00:00Z"}
    rec.write_text(json.dumps(doc))
    with pytest.raises(ZixlyError, match="lives in acme/"):
        registry.load_record(rec)
