"""A fresh clone next to the old local data, on the session's real stack (``local_stack``).

The everyday lost store: after `zixly down` a fresh clone has no secrets.age (the local
environment's store is per machine, not committed), while this machine still holds the
deployed release and the data volumes. `zixly up` must refuse with the reason and the
recovery command and change nothing (same containers, same start times, repo and base
dir byte-identical) -- with no store at all and with a NEW store from `secrets init`.
`zixly secrets recover ENV --from-release` then gives back every value, and `zixly up`
from the clone is healthy and changes nothing. Real parts: this machine's engine, the
offline kit's PostgreSQL/MariaDB/Redis/n8n/Traefik, pyinfra @local; the other apps are
the kit's labelled stand-ins (see test_local_e2e.py). The shared stack is never changed.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from tests.deploy.helpers import Zixly, containers, make_root
from tests.harness.stack import LocalStack
from tests.secrets.lost import checksum
from zixly_stack.secrets import agefile, document
from zixly_stack.secrets.identity import Identity

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]


def _containers(stack: LocalStack) -> dict[str, tuple[str, str]]:
    return containers(list(stack.engine.argv), stack.env, dict(stack.engine.env))


def _entries(path: Path, key: Path) -> dict[str, document.Entry]:
    return document.loads(agefile.decrypt(path.read_bytes(), Identity.from_text(key.read_text(), "key")))


def _refuses(stack: LocalStack, clone: Zixly, *args: str) -> str:
    """Run *args* in the clone; it must exit 3 and change nothing (files, containers)."""
    before, running = checksum(clone.root, stack.base_dir), _containers(stack)
    res = clone.run(*args, check=3, timeout=900)
    assert "Traceback" not in res.stderr
    assert checksum(clone.root, stack.base_dir) == before
    assert _containers(stack) == running
    return res.stderr


def test_fresh_clone_refuses_then_recovers_the_same_store(local_stack: LocalStack, tmp_path: Path) -> None:
    stack, env = local_stack, local_stack.env
    store = stack.zixly.root / "inventories" / env / "secrets.age"
    key = Path(stack.zixly.env["ZIXLY_AGE_KEY_FILE"])
    manifest = json.loads((stack.base_dir / env / "current" / "manifest.json").read_text())
    hosts = (stack.zixly.root / "inventories" / env / "hosts.yaml").read_text()
    clone = Zixly(make_root(tmp_path / "clone", env, stack.env_file.read_text(), hosts), dict(stack.zixly.env))
    if (stack.zixly.root / "healthchecks").is_dir():  # a clone has the repo's health settings too (the
        # health tests raise warn_ms there; without them the agent's checks.json differs)
        shutil.copytree(stack.zixly.root / "healthchecks", clone.root / "healthchecks", symlinks=True)
    ours = clone.root / "inventories" / env / "secrets.age"

    text = _refuses(stack, clone, "up", "--env", env)  # no store, no recipients.txt: a fresh clone
    assert "this machine holds data of it" in text
    assert f"a deployed release: {stack.base_dir / env / 'current'} (made with store {manifest['store']})" in text
    assert f"data volumes: zixly-{env}-" in text
    assert f"zixly secrets recover {env} --from-release" in text

    clone.run("secrets", "init", env)  # a NEW store: its values did not make this data
    text = _refuses(stack, clone, "up", "--env", env)
    assert f"was deployed with store {manifest['store']}" in text and "a new store that never deployed" in text
    assert _refuses(stack, clone, "secrets", "recover", env, "--from-release").count("never overwrites") == 1

    ours.unlink()  # the user moves the new store aside, as the message says
    (clone.root / "inventories" / env / "recipients.txt").unlink()
    res = clone.run("secrets", "recover", env, "--from-release", timeout=600)
    assert f"store {manifest['store']}" in res.stdout
    originals = {n: (e.value.reveal(), e.type) for n, e in _entries(store, key).items()}
    assert {n: (e.value.reveal(), e.type) for n, e in _entries(ours, key).items()} == originals
    assert "not recovered" not in res.stderr

    running = _containers(stack)
    up = clone.run("up", "--env", env, "--json", timeout=1800)
    report = json.loads(up.stdout)
    assert [h["status"] for h in report["hosts"]] == ["unchanged"], json.dumps(report, indent=2)
    assert _containers(stack) == running  # same ids, same start times
    assert clone.run("plan", env, "--detailed-exitcode", check=None).returncode == 0

    secret_files = [p for p in (stack.base_dir / env / "current").rglob("*")
                    if p.is_file() and p.parent.name in ("env", "secrets", ".zixly")]
    values = [e.value.reveal() for e in _entries(store, key).values() if len(e.value.reveal()) >= 8]
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in secret_files}
    digests |= {hashlib.sha256(v.encode()).hexdigest() for v in values}
    said = "\n".join(clone.outputs)
    assert not [v for v in values if v in said], "a secret value in the output"
    runs = set(re.findall(r"[0-9a-f]{12,}", said))
    assert not [r for r in runs for d in digests if d.startswith(r[:12]) or r in d], "a plain digest in the output"
