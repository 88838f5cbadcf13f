"""End-to-end: a MariaDB restore never leaves an app's database half-restored (real MariaDB, restic).

MariaDB has no transactional DDL, so ``zixly restore`` checks the snapshot's dump is complete
before touching anything and keeps the database's current contents to put back when loading
fails. Two broken snapshots are written into the repository the way a bad backup would be
(same tags, a newer run): a dump cut in half, and a complete dump with a bad statement in the
middle. Each restore must fail loudly and leave the rows that were there before.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.backup.test_backup_e2e import maria, restic_env, sh
from tests.harness.stack import LocalStack

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]
ITEM = "invoiceninja.db.invoiceninja"


@pytest.fixture(scope="module")
def stack(local_stack: LocalStack) -> Iterator[LocalStack]:
    s = local_stack
    maria(s, "invoiceninja", "DROP TABLE IF EXISTS zixly_safe; CREATE TABLE zixly_safe (id int PRIMARY KEY, "
          "note varchar(40)); INSERT INTO zixly_safe VALUES (1, 'a'), (2, 'b'), (3, 'c');")
    s.zixly.run("backup", s.env, "--service", "invoiceninja", "--no-maintenance")
    maria(s, "invoiceninja", "INSERT INTO zixly_safe VALUES (4, 'after the backup');")
    yield s
    maria(s, "invoiceninja", "DROP TABLE IF EXISTS zixly_safe;")
    s.zixly.run("backup", s.env, "--service", "invoiceninja", "--no-maintenance")  # "latest" = the real state


def _rows(s: LocalStack) -> list[str]:
    return maria(s, "invoiceninja", "SELECT id, note FROM zixly_safe ORDER BY id;").splitlines()


def _write_broken(s: LocalStack, damage: str) -> str:
    """A newer snapshot of the item whose dump is damaged as asked; returns its id."""
    env = restic_env(s)
    snaps = json.loads(subprocess.run(["restic", "snapshots", "--json", "--tag", f"env:{s.env},item:{ITEM}"],
                                      env=env, capture_output=True, text=True, check=True).stdout)
    real = snaps[-1]
    dump = subprocess.run(["restic", "dump", real["id"], real["paths"][0]], env=env, capture_output=True,
                          check=True).stdout
    assert b"INSERT INTO `zixly_safe`" in dump and dump.rstrip().splitlines()[-1].startswith(b"-- Dump completed")
    if damage == "truncated":
        broken = dump[: len(dump) // 2]
    else:
        lines = dump.splitlines(keepends=True)
        at = next(n for n, line in enumerate(lines) if line.startswith(b"INSERT INTO `zixly_safe`"))
        broken = b"".join([*lines[: at + 1], b"THIS IS NOT SQL AT ALL;\n", *lines[at + 1:]])
    tags = ",".join(t if not t.startswith("run:") else "run:29991231T000000Z" for t in real["tags"])
    res = subprocess.run(["restic", "backup", "--json", "--host", real["hostname"], "--tag", tags, "--stdin",
                          "--stdin-filename", real["paths"][0].lstrip("/")], input=broken, env=env,
                         capture_output=True, check=True)
    return str(next(json.loads(line)["snapshot_id"] for line in res.stdout.decode().splitlines()
                    if '"summary"' in line))


def _forget(s: LocalStack, snap: str) -> None:
    subprocess.run(["restic", "forget", snap], env=restic_env(s), capture_output=True, check=True)


def _failing_restore(s: LocalStack) -> str:
    """Restore the latest (broken) invoiceninja snapshot; it must fail; its whole output."""
    res = s.zixly.run("restore", s.env, "--snapshot", "latest", "--service", "invoiceninja", "--yes", check=None)
    assert res.returncode != 0, res.stdout + res.stderr
    return res.stdout + res.stderr


def test_an_incomplete_dump_changes_nothing(stack: LocalStack) -> None:
    before = _rows(stack)
    assert len(before) == 4
    bad = _write_broken(stack, "truncated")
    try:
        out = _failing_restore(stack)
        assert "incomplete" in out and "nothing was changed" in out and "invoiceninja" in out, out
        assert _rows(stack) == before
    finally:
        _forget(stack, bad)


def test_a_failing_load_puts_the_previous_contents_back(stack: LocalStack) -> None:
    before = _rows(stack)
    bad = _write_broken(stack, "bad statement")
    try:
        out = _failing_restore(stack)
        assert "previous contents were put back" in out, out
        assert _rows(stack) == before
        app = stack.container("invoiceninja", "app")
        assert sh("docker", "inspect", "--format", "{{.State.Status}}", app).strip() == "running"
    finally:
        _forget(stack, bad)


def test_the_good_snapshot_still_restores(stack: LocalStack) -> None:
    res = stack.zixly.run("restore", stack.env, "--snapshot", "latest", "--service", "invoiceninja", "--yes")
    assert "restored, healthy" in res.stdout
    assert _rows(stack) == ["1\ta", "2\tb", "3\tc"]
