"""``--out``: written only when absent, empty or a tree zixly wrote; anything else refused, nothing deleted.

Issue 20's first example: ``zixly render production --out .`` deleted the repository, ``.git``
included, and ``--out`` on a directory with other files deleted them. Each refusal here is
checked with a checksum of the repository (``.git`` included) and of the output directory.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import zixly
from zixly_stack import outdir
from zixly_stack.errors import ConfigError
from zixly_stack.outdir import MARKER, check_out, ours, write_tree
from zixly_stack.render.tree import RenderedFile

from .conftest import checksum

HINT_NEW = "(render into a new or empty directory, such as build/ENV, the default)"


def _render(git_repo: Path, out: Path | str) -> tuple[int, list[str]]:
    result = zixly("render", "base", "--out", str(out), root=git_repo)
    return result.code, result.stderr.rstrip("\n").split("\n") if result.stderr else []


def _refused(git_repo: Path, out: Path | str, message: str, watch: Path | None = None) -> None:
    """Rendering into ``out`` is refused with ``message``; the git_repo and ``watch`` are unchanged."""
    before = checksum(git_repo), checksum(watch) if watch else ""
    code, lines = _render(git_repo, out)
    assert code == 2, lines
    assert lines == [message, "1 error in configuration; nothing was written"]
    assert (checksum(git_repo), checksum(watch) if watch else "") == before


def test_out_dot_is_refused_and_the_repository_kept(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(git_repo)
    _refused(git_repo, ".", f".: --out: {git_repo} is the repository {git_repo} {HINT_NEW}")
    assert (git_repo / ".git" / "HEAD").is_file() and (git_repo / "inventories" / "base" / "secrets.age").is_file()


def test_out_above_the_repository_is_refused(git_repo: Path) -> None:
    above = git_repo.parent
    _refused(git_repo, above, f"{above}: --out: {above} contains the repository {git_repo} {HINT_NEW}", watch=above)


@pytest.mark.parametrize("inside", ["inventories/base", "inventories/new", "services/crm/out", ".git/x", "templates"])
def test_out_inside_the_sources_is_refused(git_repo: Path, inside: str) -> None:
    part = inside.split("/")[0]
    target = git_repo / inside
    _refused(git_repo, target, f"{target}: --out: {target} is inside the repository's {part}/, which holds sources, "
                           f"not output {HINT_NEW}")


def test_out_with_other_files_is_refused_and_they_are_kept(git_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    (out / "notes").mkdir(parents=True)
    (out / "notes" / "todo.txt").write_text("keep me\n")
    (out / "photo.jpg").write_bytes(b"\xff\xd8")
    _refused(git_repo, out, f"{out}: --out: {out} holds 3 entries zixly did not write: notes, notes/todo.txt, "
                            "photo.jpg; nothing was deleted (choose a new or empty directory; zixly replaces only "
                            "trees it wrote)", watch=out)


@pytest.mark.parametrize(("where", "what"), [
    ("/", "is a system directory"), ("/etc/zixly", "is under the system directory /etc"),
    ("/usr/local", "is under the system directory /usr"), ("/var", "is a system directory"),
    ("HOME", "is your home directory"), ("HOME/..", "contains your home directory")])
def test_system_and_home_directories_are_refused(where: str, what: str, age_key: Path) -> None:
    home = Path(os.environ["HOME"]).resolve()
    given = Path(where.replace("HOME", str(home)))
    with pytest.raises(ConfigError) as refused:
        check_out(given, None)
    assert refused.value.problems[0].message == f"{given.resolve()} {what}"


def test_a_control_character_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="the path contains a newline at offset"):
        check_out(tmp_path / "a\nb", None)
    assert os.listdir(tmp_path) == []


def test_a_file_is_refused(git_repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a directory"):
        check_out(target, git_repo)
    # from the command line too, in the same words (it was Click's usage error, without them)
    _refused(git_repo, target, f"{target}: --out: {target} exists and is not a directory (choose a directory path)",
             watch=tmp_path)
    assert target.read_text() == "x"


def test_absent_then_rerendered_then_foreign_file_refused(git_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "build" / "base"
    assert _render(git_repo, out)[0] == 0
    marker = json.loads((out / MARKER).read_text())
    assert marker["format"] == 1 and "vps1/crm/compose.yaml" in marker["files"]
    stale = out / "vps1" / "old-service" / "compose.yaml"  # as if written by an earlier render: listed
    stale.parent.mkdir()
    stale.write_text("old\n")
    marker["files"].append("vps1/old-service/compose.yaml")
    (out / MARKER).write_text(json.dumps(marker))
    assert _render(git_repo, out)[0] == 0, "a tree zixly wrote is replaced"
    assert not stale.parent.exists(), "files of the previous render that are gone from the new one are removed"
    assert os.listdir(tmp_path / "build") == ["base"], "no scratch directory is left beside"
    (out / "vps1" / "crm" / "my-notes.txt").write_text("mine\n")
    (out / "vps1" / "link").symlink_to("/etc")
    _refused(git_repo, out, f"{out}: --out: {out} was rendered by zixly but now also holds 2 entries it did not write: "
                        "vps1/crm/my-notes.txt, vps1/link; nothing was deleted (move them out first: a new render "
                        "replaces the whole tree)", watch=out)


def test_an_empty_directory_is_used(git_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert _render(git_repo, out)[0] == 0
    assert (out / "vps1" / "manifest.json").is_file()


def test_a_tree_rendered_before_the_marker_is_recognised(git_repo: Path, tmp_path: Path) -> None:
    """Trees written by earlier versions have no marker: their manifests list every file."""
    out = tmp_path / "legacy"
    assert _render(git_repo, out)[0] == 0
    (out / MARKER).unlink()
    listed, foreign = ours(out)
    assert listed and not foreign
    assert _render(git_repo, out)[0] == 0
    (out / MARKER).unlink()
    (out / "vps1" / "extra.txt").write_text("x")
    assert ours(out)[1] == ["vps1/extra.txt"]
    assert _render(git_repo, out)[0] == 2


def _files(text: str) -> tuple[RenderedFile, ...]:
    return (RenderedFile("h/a.txt", text), RenderedFile("h/env/x.env", "S=1\n", 0o600, secret=True))


def test_a_failed_write_leaves_the_old_tree_and_no_scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    write_tree(_files("one\n"), out)
    before = checksum(out)

    def broken(tmp: Path, files: tuple[RenderedFile, ...]) -> None:
        (tmp / "partial").write_text("x")
        raise OSError("disk full")

    monkeypatch.setattr(outdir, "_fill", broken)
    with pytest.raises(ConfigError, match=r"cannot write .*: disk full"):
        write_tree(_files("two\n"), out)
    assert checksum(out) == before
    assert sorted(os.listdir(tmp_path)) == ["out"], "no scratch directory is left beside"


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_files_appearing_during_the_swap_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  exchange: bool) -> None:
    """The old tree is checked again after the swap: foreign files that appeared meanwhile put it back."""
    out = tmp_path / "out"
    write_tree(_files("one\n"), out)
    if not exchange:
        monkeypatch.setattr(outdir, "_exchange", lambda a, b: False)
    real_fill = outdir._fill

    def fill_then_someone_writes(tmp: Path, files: tuple[RenderedFile, ...]) -> None:
        real_fill(tmp, files)
        (out / "h" / "theirs.txt").write_text("theirs\n")

    monkeypatch.setattr(outdir, "_fill", fill_then_someone_writes)
    with pytest.raises(ConfigError, match=r"now also holds 1 entry it did not write: h/theirs\.txt"):
        write_tree(_files("two\n"), out)
    assert (out / "h" / "theirs.txt").read_text() == "theirs\n"
    assert (out / "h" / "a.txt").read_text() == "one\n"
    assert sorted(os.listdir(tmp_path)) == ["out"]


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_replacing_swaps_and_keeps_modes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool) -> None:
    out = tmp_path / "out"
    write_tree(_files("one\n"), out)
    if not exchange:
        monkeypatch.setattr(outdir, "_exchange", lambda a, b: False)
    write_tree(_files("two\n"), out)
    assert (out / "h" / "a.txt").read_text() == "two\n"
    assert (out / "h" / "env" / "x.env").stat().st_mode & 0o777 == 0o600
    assert (out / "h" / "env").stat().st_mode & 0o777 == 0o700
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_an_unwritable_place_is_a_clean_error_and_leaves_nothing(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def no_room(*args: object, **kwargs: object) -> str:
        raise OSError(28, "No space left on device", str(tmp_path / "a"))

    monkeypatch.setattr(outdir.tempfile, "mkdtemp", no_room)
    with pytest.raises(ConfigError, match="No space left on device"):
        write_tree(_files("x\n"), tmp_path / "a" / "b" / "out")
    assert os.listdir(tmp_path) == [], "the parents it created are removed again"


def test_a_marker_cannot_make_zixly_delete_outside(tmp_path: Path) -> None:
    """The marker is data in a directory others can write: paths with '..' or through symlinks are not ours."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("keep\n")
    out = tmp_path / "out"
    write_tree(_files("one\n"), out)
    (out / "link").symlink_to(tmp_path / "etc")
    marker = json.loads((out / MARKER).read_text())
    marker["files"] += ["../victim.txt", "link", "link/passwd"]
    (out / MARKER).write_text(json.dumps(marker))
    with pytest.raises(ConfigError, match="now also holds 1 entry it did not write: link;"):
        write_tree(_files("two\n"), out)  # a symlink is never ours, listed or not
    (out / "link").unlink()
    write_tree(_files("two\n"), out)
    assert victim.read_text() == "keep\n" and (tmp_path / "etc" / "passwd").read_text() == "keep\n"
    assert (out / "h" / "a.txt").read_text() == "two\n"
    assert sorted(os.listdir(tmp_path)) == ["etc", "out", "victim.txt"]


def test_a_rendered_path_cannot_leave_the_tree(tmp_path: Path) -> None:
    from zixly_stack.safepath import PathEscapeError

    with pytest.raises(PathEscapeError, match="would not stay under"):
        write_tree((RenderedFile("../escape.txt", "x"),), tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists() and sorted(os.listdir(tmp_path)) == []


def test_the_repository_default_build_dir_still_works(git_repo: Path) -> None:
    result = zixly("render", "base", root=git_repo)
    assert result.code == 0, result.stderr
    assert (git_repo / "build" / "base" / MARKER).is_file()
    shutil.rmtree(git_repo / "build")


@pytest.mark.parametrize("argv", [["health", "base", "--offline", "--out"], ["images", "save", "base", "--out"]],
                         ids=["health", "images-save"])
@pytest.mark.parametrize(("where", "what"), [("/etc/passwd", "is under the system directory /etc"),
                                             ("/usr/local/x.tar", "is under the system directory /usr"),
                                             ("/x.tar", "is in the root directory"),
                                             ("inventories/base/r.html", "is inside the repository's inventories/")])
def test_file_outputs_never_land_in_system_dirs_or_sources(git_repo: Path, argv: list[str], where: str,
                                                           what: str) -> None:
    before = checksum(git_repo)
    target = where if where.startswith("/") else str(git_repo / where)
    result = zixly(*argv, target, root=git_repo)
    assert result.code == 2, result.stderr
    assert what in result.stderr.splitlines()[0]
    assert checksum(git_repo) == before
