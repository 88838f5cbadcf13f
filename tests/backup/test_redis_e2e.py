"""End-to-end: the shared Redis instance backed up, wiped, restored and drilled with REAL Redis
(the offline kit's Debian Redis 7.0 image, appendonly on, as deployed) and REAL restic on the
session's shared stack.

Keys like Chatwoot's Sidekiq state (a ``schedule`` sorted set of JSON jobs, a queue list), a
hash, a set and a key with a TTL, in several logical databases, are backed up with
``zixly backup ENV --service redis``; then everything is flushed and a new key added; the
restore must bring back every key, value and score exactly, drop the new key, and leave the
server healthy and still appending (AOF) -- a restart afterwards keeps the data. The drill
passes; a damaged RDB snapshot fails it naming ``redis``. The Redis password never appears
in any output. The test's keys are deleted at the end (the stack is shared).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.deploy.helpers import wait_for
from tests.harness.stack import LocalStack
from zixly_stack.secrets.identity import load_identity
from zixly_stack.secrets.store import SecretStore

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]

DBS = ("13", "14", "15")  # logical databases no app of the stack binds
JOB = '{"class":"ZixlyJob","args":[%d],"jid":"zixly%04d","queue":"default"}'


def sh(*argv: str, input: str | None = None) -> str:
    res = subprocess.run(list(argv), capture_output=True, text=True, input=input, timeout=300)
    assert res.returncode == 0, f"{argv}: {res.stderr}"
    return res.stdout


def cli(stack: LocalStack, db: str, *args: str) -> str:
    """redis-cli in the server container, the password via REDISCLI_AUTH from the secret file."""
    return sh("docker", "exec", stack.container("redis", "server"), "sh", "-c",
              'REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")" exec redis-cli -h 127.0.0.1 -n "$@"', "sh", db, *args)


def contents(stack: LocalStack) -> dict[str, object]:
    """Every key of the test databases: (type, exact value) plus whether it has a TTL."""
    out: dict[str, object] = {}
    for db in DBS:
        for key in sorted(cli(stack, db, "--scan").split()):
            kind = cli(stack, db, "type", key).strip()
            read = {"string": ("get",), "hash": ("hgetall",), "zset": ("zrange", "0", "-1", "withscores"),
                    "list": ("lrange", "0", "-1"), "set": ("smembers",)}[kind]
            value = cli(stack, db, read[0], key, *read[1:]).splitlines()
            if kind in ("hash", "set"):
                value = sorted(value)
            ttl = int(cli(stack, db, "ttl", key))
            out[f"{db}/{key}"] = (kind, value, ttl > 0)
    return out


def redis_password(stack: LocalStack) -> str:
    identity = load_identity({"ZIXLY_AGE_KEY_FILE": stack.zixly.env["ZIXLY_AGE_KEY_FILE"]})
    pw = SecretStore.open(stack.env_file.parent, identity).get("redis.password")
    assert pw is not None
    return pw.reveal()


def restic_env(stack: LocalStack) -> dict[str, str]:
    identity = load_identity({"ZIXLY_AGE_KEY_FILE": stack.zixly.env["ZIXLY_AGE_KEY_FILE"]})
    pw = SecretStore.open(stack.env_file.parent, identity).get("backup.restic_password")
    assert pw is not None
    return {**os.environ, "RESTIC_REPOSITORY": str(stack.base_dir / "backups"), "RESTIC_PASSWORD": pw.reveal()}


def healthy(stack: LocalStack) -> bool:
    fmt = "{{.State.Status}} {{.State.Health.Status}}"
    status = sh("docker", "inspect", "--format", fmt, stack.container("redis", "server")).split()
    return status == ["running", "healthy"]


@pytest.fixture(scope="module")
def stack(local_stack: LocalStack) -> Iterator[LocalStack]:
    """The shared stack with the test's keys written (deleted again afterwards)."""
    s = local_stack
    for db in DBS:
        cli(s, db, "flushdb")
    for n in range(1, 41):
        cli(s, "13", "zadd", "schedule", f"{1790000000 + n}.{n:06d}", JOB % (n, n))
    cli(s, "13", "zadd", "retry", "1790000099.5", JOB % (99, 99))
    cli(s, "13", "rpush", "queue:default", JOB % (1, 1), JOB % (2, 2))
    cli(s, "13", "sadd", "queues", "default", "mailers")
    cli(s, "14", "hset", "zixly:hash", "a", "1", "b", "two words", "c", "\u00e9t\u00e9")
    cli(s, "14", "set", "zixly:ttl", "expires later", "EX", "86400")
    cli(s, "15", "set", "zixly:plain", "x" * 5000)
    yield s
    for db in DBS:
        cli(s, db, "flushdb")


def test_redis_restore_brings_back_every_key_value_and_score(stack: LocalStack) -> None:
    s = stack
    before = contents(s)
    assert len(before) == 7 and before["13/schedule"][0] == "zset"  # type: ignore[index]
    out = s.zixly.json("backup", s.env, "--service", "redis")
    assert [i["name"] for i in out["items"]] == ["redis.db.redis"], out

    cli(s, "0", "flushall")
    cli(s, "13", "set", "zixly:extra", "must disappear")
    assert contents(s) == {"13/zixly:extra": ("string", ["must disappear"], False)}

    res = s.zixly.run("restore", s.env, "--service", "redis", "--yes", timeout=1800)
    assert "restored, healthy" in res.stdout, res.stdout + res.stderr
    assert healthy(s)
    assert contents(s) == before
    # still a working AOF server: a write after the restore survives a restart
    cli(s, "15", "set", "zixly:after", "1")
    sh("docker", "restart", s.container("redis", "server"))
    assert wait_for(lambda: healthy(s), 120)
    assert cli(s, "15", "get", "zixly:after").strip() == "1"
    cli(s, "15", "del", "zixly:after")
    assert contents(s) == before
    owners = sh("docker", "exec", s.container("redis", "server"), "sh", "-c",
                "find /data ! -user redis | head -n 5").strip()
    assert not owners, f"files not owned by redis after the restore: {owners}"


def test_redis_drill_passes(stack: LocalStack) -> None:
    report = stack.zixly.json("backup", "verify", stack.env, "--service", "redis", "--read-data-subset", "1/5")
    assert report["status"] == "ok" and report["torn_down"], report
    (item,) = report["items"]
    assert item["item"] == "redis.db.redis" and item["status"] == "ok" and "key(s) loaded" in item["detail"], item


def test_a_damaged_rdb_fails_the_drill_naming_redis(stack: LocalStack) -> None:
    """A snapshot whose RDB is cut short (as restic would store a broken dump) fails the drill."""
    env = restic_env(stack)
    tag = f"env:{stack.env},item:redis.db.redis"
    snaps = json.loads(subprocess.run(["restic", "snapshots", "--json", "--tag", tag], env=env, capture_output=True,
                                      text=True, check=True).stdout)
    real = snaps[-1]
    rdb = subprocess.run(["restic", "dump", real["id"], real["paths"][0]], env=env, capture_output=True,
                         check=True).stdout
    assert rdb[:5] == b"REDIS"
    damaged = rdb[: len(rdb) // 2]
    tags = ",".join(real["tags"])
    res = subprocess.run(["restic", "backup", "--json", "--host", real["hostname"], "--tag", tags, "--stdin",
                          "--stdin-filename", real["paths"][0].lstrip("/")], input=damaged, env=env,
                         capture_output=True, check=True)
    bad = next(json.loads(line)["snapshot_id"] for line in res.stdout.decode().splitlines()
               if '"summary"' in line)
    try:
        res2 = stack.zixly.run("backup", "verify", stack.env, "--service", "redis", "--read-data-subset", "1/5",
                               check=None)
        assert res2.returncode != 0, res2.stdout + res2.stderr
        assert "redis" in res2.stderr and "FAILED" in res2.stderr and "damaged" in res2.stderr, res2.stderr
    finally:
        subprocess.run(["restic", "forget", bad], env=env, capture_output=True, check=True)


def test_the_redis_password_never_appears_in_output(stack: LocalStack) -> None:
    pw = redis_password(stack)
    assert len(pw) >= 20
    assert not [t for t in stack.zixly.outputs if pw in t], "the Redis password reached zixly's output"
    logs = [p.read_text(errors="replace") for p in (stack.base_dir / stack.env / "backup").glob("*") if p.is_file()]
    assert not [t for t in logs if pw in t], "the Redis password reached a backup log"
