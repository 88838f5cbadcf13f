"""``build.fetch``: registry files are kept by their pinned sha256 and a download with another digest is
refused (the download itself is replaced here by a file written locally: no registry is asked)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from zixly_stack.images import fetch
from zixly_stack.images.fetch import Fetch, fetch_into, fetched
from zixly_stack.images.rootfs import BuildError

PAYLOAD = b"a registry file\n"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(fetch, "CACHE_DIR", tmp_path / "cache")
    return tmp_path / "cache"


def _serving(monkeypatch: pytest.MonkeyPatch, payload: bytes) -> list[str]:
    calls: list[str] = []

    def download(item: Fetch, into: Path, log: Path) -> Path:
        calls.append(item.spec)
        out = into / "pkg-1.0.0.tgz"
        out.write_bytes(payload)
        return out

    monkeypatch.setattr(fetch, "_download", download)
    return calls


def test_a_file_is_downloaded_once_and_put_into_each_context(cache: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _serving(monkeypatch, PAYLOAD)
    item = Fetch("npm", "pkg@1.0.0", hashlib.sha256(PAYLOAD).hexdigest(), "pkg.tgz")
    for ctx in (tmp_path / "a", tmp_path / "b"):
        ctx.mkdir()
        fetch_into((item,), ctx, tmp_path / "log")
        assert (ctx / "pkg.tgz").read_bytes() == PAYLOAD
    assert calls == ["pkg@1.0.0"]
    assert fetched(item, tmp_path / "log") == cache / "files" / item.sha256


def test_a_download_with_another_digest_is_refused_and_not_kept(cache: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _serving(monkeypatch, b"something else\n")
    pinned = hashlib.sha256(PAYLOAD).hexdigest()
    with pytest.raises(BuildError, match=rf"pkg-1.0.0.tgz has sha256 [0-9a-f]{{64}}, the recipe pins {pinned}"):
        fetched(Fetch("npm", "pkg@1.0.0", pinned, "pkg.tgz"), tmp_path / "log")
    assert list((cache / "files").iterdir()) == []
