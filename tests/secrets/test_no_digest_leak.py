"""No secret value, and no plain digest of one, in any non-secret file or output (issue 20, build item 6).

Secrets are set to known canaries. A plain SHA-256 (or any 12+ hex digit prefix of one) of a
canary or of a secret file must not appear in manifest.json, compose files, other rendered
non-secret files, or `zixly plan` output (text with diffs, --json, --steps); the manifest
carries a keyed hash (``hmac``) for secret files instead. (Deploy output over a real stack:
``test_lost_store_e2e.py``.)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pyrage
import pytest

from tests.helpers import REPO, copy_repo, zixly
from tests.secrets.lost import ENV, Deployed, clone, deployed_local
from zixly_stack.project import load
from zixly_stack.render.context import required_secrets
from zixly_stack.secrets.fingerprint import KEY_SECRET
from zixly_stack.secrets.store import SecretStore

PREFIX = 12  # `zixly secrets list` fingerprints are 12 hex digits: any longer plain digest is a leak here


def _canary(name: str, salt: str = "") -> str:
    return "CANARY" + hashlib.sha256((salt + name).encode()).hexdigest()[:16]


def _seed(root: Path, env: str, salt: str = "", keep: tuple[str, ...] = ()) -> dict[str, str]:
    store = SecretStore.open(root / "inventories" / env)
    names = [n for n in required_secrets(load(root, env).stack) if n not in keep]
    for name in names:
        store.set(name, _canary(name, salt), force=True)
    store.save()
    return {n: _canary(n, salt) for n in names}


def _digests(texts: list[str]) -> set[str]:
    return {hashlib.sha256(t.encode()).hexdigest() for t in texts}


def _leaks(text: str, values: list[str], digests: set[str]) -> list[str]:
    """Values in *text*, and plain digests (12+ hex digit runs that start a digest) of the secrets."""
    found = [v for v in values if v in text]
    for run in re.findall(r"[0-9a-f]{12,}", text):
        found += [f"digest {d[:16]}" for d in digests if d.startswith(run[:PREFIX]) or run in d]
    return found


def test_render_has_no_plain_digest_of_a_secret(tmp_path: Path, age_key: Path) -> None:
    root = copy_repo(tmp_path / "repo", REPO, envs=("production",))
    assert zixly("secrets", "init", "production", root=root).code == 0
    canaries = list(_seed(root, "production").values())
    out = tmp_path / "out"
    res = zixly("render", "production", "--out", str(out), root=root)
    assert res.code == 0, res.stderr
    files = {p.relative_to(out / "vps1").as_posix(): p for p in (out / "vps1").rglob("*") if p.is_file()}
    manifest = json.loads((out / "vps1" / "manifest.json").read_text())
    secret = {e["path"] for e in manifest["files"] if e["secret"]}
    assert {"n8n/secrets/n8n_encryption_key", ".zixly/recovery.json"} <= secret
    digests = _digests(canaries) | _digests([files[p].read_text() for p in secret])
    for entry in manifest["files"]:
        if entry["secret"]:  # a keyed hash, not the plain one
            assert "sha256" not in entry and len(entry["hmac"]) == 64
            assert entry["hmac"] != hashlib.sha256(files[entry["path"]].read_bytes()).hexdigest()
    for rel, path in sorted(files.items()):
        if rel not in secret:
            assert _leaks(path.read_text(), canaries, digests) == [], rel


@pytest.fixture(scope="module")
def canary_release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployed, Path, dict[str, str]]]:
    work = tmp_path_factory.mktemp("canary")
    key = work / "age.key"
    key.write_text(str(pyrage.x25519.Identity.generate()) + "\n")
    key.chmod(0o600)
    seeded: dict[str, str] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZIXLY_AGE_KEY_FILE", str(key))
        mp.setenv("HOME", str(work))
        mp.delenv("ZIXLY_AGE_KEY", raising=False)
        yield deployed_local(work, lambda d: seeded.update(_seed(d.root, ENV))), key, seeded


def test_plan_output_has_no_secret_nor_plain_digest(canary_release: tuple[Deployed, Path, dict[str, str]],
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A password changed since the deployed release: plan shows changed secret files and the manifest diff."""
    template, key, old = canary_release
    d = clone(template, key, tmp_path)
    monkeypatch.setenv("ZIXLY_AGE_KEY_FILE", str(tmp_path / "age.key"))
    new = _seed(d.root, ENV, salt="new", keep=(KEY_SECRET,))  # same store (a new key: refused, see test_lost_store)
    release = d.base / ENV / "current"
    deployed_texts = [p.read_text() for p in release.rglob("*") if p.is_file() and p.parent.name in
                      ("env", "secrets", ".zixly")]
    values = list(old.values()) + list(new.values())
    digests = _digests(values) | _digests(deployed_texts)
    outputs = {args: d.run(*args) for args in (("plan", ENV), ("plan", ENV, "--json"), ("plan", ENV, "--steps"))}
    for args, res in outputs.items():
        assert res.code == 0, (args, res.stderr)
        assert _leaks(res.stdout + res.stderr, values, digests) == [], args
    text = outputs[("plan", ENV)].stdout
    assert "changed n8n/secrets/n8n_encryption_key (secret," in text  # the test sees secret changes
    assert '"hmac": "' in text  # ...and the manifest diff, keyed


def test_every_hash_over_secret_content_is_keyed() -> None:
    """Same secret values, another fingerprint key: every hash that covers secret content changes (keyed), and
    nothing else does; the same key again gives the same bytes (a second deploy plans nothing)."""
    from tests.helpers import fake_secrets
    from zixly_stack.project import render
    from zixly_stack.secrets.value import Secret

    for env in ("production", "swarm"):
        loaded = load(REPO, env)
        values = fake_secrets(loaded)
        other = {**values, KEY_SECRET: Secret("f" * 64)}
        a, b, again = render(loaded, values), render(loaded, other), render(loaded, values)
        assert a == again
        texts = {f.path: f.text for f in a}
        changed = {f.path for f in b if f.text != texts[f.path]}
        for f in b:
            if f.path in changed and not f.secret:  # only hashes moved, and every one of them is keyed
                old_lines = set(texts[f.path].splitlines())
                assert all(re.search(r"files-hash|spec-hash|\"hmac\"|\"sha256\"|\"store\"|name: zixly-", line)
                           for line in f.text.splitlines() if line not in old_lines), f.path
        assert any(p.endswith("/manifest.json") for p in changed)
        assert [p for p in changed if p.endswith(("compose.yaml", "stack.yaml"))], env  # labels/secret names
