"""The environments, S3 stand-in and data helpers of tests/backup/test_remote_e2e.py.

* :class:`S3` -- moto's standalone server (``moto_server`` from PyPI ``moto[server]``), the
  stand-in for an S3 provider: it listens ONLY on the test hosts' LAN gateway address (this
  machine's side of their private network, reachable from their namespaces), one bucket.
* :class:`HostData` -- marker data, fingerprints and wipes of every backup item of an
  environment on a test host, through that host's engine (the harness's docker client on the
  host's socket: an observer, not the code under test).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.harness.vps import VpsHost
from zixly_stack.backup.restore import checksums
from zixly_stack.render.backup.plan import Item

PG_TABLES = ("SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
             "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1;")
REDIS_DUMP = ('export REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")"; for n in $(seq 0 15); do '
              'redis-cli -n "$n" --scan | LC_ALL=C sort | while IFS= read -r k; do '
              'printf "%s %s %s\\n" "$n" "$k" "$(redis-cli -n "$n" --no-raw DUMP "$k" | sha256sum | cut -c1-16)"; '
              'done; done')
MARIA = 'MYSQL_PWD=$(cat "$MARIADB_ROOT_PASSWORD_FILE") exec mariadb -uroot -N -B "$1"'


@dataclass
class S3:
    """A running moto server and its bucket (module doc)."""

    endpoint: str
    bucket: str
    proc: subprocess.Popen[bytes]
    key: str = "zixly-test-access"
    secret: str = "zixly-test-secret-0123456789"

    def client(self) -> object:
        import boto3  # type: ignore[import-untyped]

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.key,
                            aws_secret_access_key=self.secret, region_name="us-east-1")

    def url(self, prefix: str) -> str:
        """restic's repository string for *prefix* in the bucket."""
        return f"s3:{self.endpoint}/{self.bucket}/{prefix}"

    def env_file(self) -> str:
        """The host's ``/etc/zixly/backup-<env>.env`` contents."""
        return f"AWS_ACCESS_KEY_ID={self.key}\nAWS_SECRET_ACCESS_KEY={self.secret}\n"

    def objects(self, prefix: str) -> dict[str, bytes]:
        """key -> bytes of every object under *prefix*."""
        c = self.client()
        out = {}
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):  # type: ignore[attr-defined]
            for o in page.get("Contents", []):
                out[o["Key"]] = c.get_object(Bucket=self.bucket, Key=o["Key"])["Body"].read()  # type: ignore[attr-defined]
        return out

    def put(self, key: str, data: bytes) -> None:
        self.client().put_object(Bucket=self.bucket, Key=key, Body=data)  # type: ignore[attr-defined]


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def s3_server(address: str, log: Path, bucket: str = "zixly-remote") -> Iterator[S3]:
    """moto_server on *address* (module doc); stopped on exit."""
    binary = shutil.which("moto_server")
    assert binary, "moto_server missing: pip install 'moto[server]' (the test extras have it)"
    port = _free_port(address)
    with open(log, "wb") as out:
        proc = subprocess.Popen([binary, "-H", address, "-p", str(port)], stdout=out, stderr=subprocess.STDOUT)
    s3 = S3(f"http://{address}:{port}", bucket, proc)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection((address, port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        s3.client().create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        yield s3
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@dataclass
class HostData:
    """Every backup item of an environment on one test host: mark, fingerprint, wipe (module doc)."""

    host: VpsHost

    def sh(self, *argv: str, input: str | None = None, check: bool = True) -> str:
        res = self.host.docker(*argv, input=input, timeout=300)
        if check:
            assert res.returncode == 0, f"{self.host.name}: docker {argv}: {res.stderr}"
        return res.stdout

    def psql(self, container: str, db: str, sql: str) -> str:
        return self.sh("exec", "-i", container, "psql", "-U", "postgres", "-d", db, "-At", "-v", "ON_ERROR_STOP=1",
                       input=sql).strip()

    def maria(self, container: str, db: str, sql: str) -> str:
        return self.sh("exec", "-i", container, "sh", "-c", MARIA, "sh", db, input=sql).strip()

    def volume_dir(self, name: str) -> Path:
        """The volume's directory as this machine sees it (the host's data root is a directory here)."""
        inside = self.sh("volume", "inspect", "--format", "{{.Mountpoint}}", name).strip()
        return self.host.data_root / Path(inside).relative_to("/var/lib/docker")

    def fingerprint(self, item: Item) -> dict[str, str]:
        if item.engine == "postgres":
            tables = self.psql(item.container, item.database, PG_TABLES).splitlines()
            sql = "\n".join(f"SELECT '{t}', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
                            f"FROM {t} x;" for t in tables)
            return dict(r.split("|", 1) for r in self.psql(item.container, item.database, sql).splitlines()) \
                if tables else {}
        if item.engine == "mariadb":
            tables = self.maria(item.container, item.database, "SHOW TABLES;").split()
            if not tables:
                return {}
            counts = self.maria(item.container, item.database,
                                " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM `{t}`" for t in tables) + ";")
            sums = self.maria(item.container, item.database,
                              "CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in tables) + " EXTENDED;")
            return {f"rows {x}": "" for x in counts.splitlines()} | {f"sum {x}": "" for x in sums.splitlines()}
        if item.engine == "redis":
            return {line: "" for line in self.sh("exec", item.container, "sh", "-c", REDIS_DUMP).splitlines()}
        if item.engine == "volume":
            return checksums(self.volume_dir(item.volume))
        raise AssertionError(f"{item.name}: no fingerprint for engine {item.engine!r} -- extend this test")

    def mark(self, item: Item, tag: str = "") -> None:
        """Marker data in *item* (so none is empty); *tag* makes it differ from an earlier mark."""
        if item.engine == "postgres":
            self.psql(item.container, item.database,
                      "DROP TABLE IF EXISTS zixly_remote; CREATE TABLE zixly_remote (id int PRIMARY KEY, note text);"
                      f"INSERT INTO zixly_remote SELECT g, '{item.name}{tag}-' || g FROM generate_series(1, 300) g;")
        elif item.engine == "mariadb":
            self.maria(item.container, item.database,
                       "DROP TABLE IF EXISTS zixly_remote; CREATE TABLE zixly_remote (id int PRIMARY KEY, note "
                       f"varchar(80)); INSERT INTO zixly_remote VALUES (1, '{item.name}{tag}-1'), (2, 'b{tag}');")
        elif item.engine == "redis":
            self.sh("exec", item.container, "sh", "-c", 'export REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")"; '
                    f"redis-cli -n 5 SET zixly:remote 'marker{tag}' >/dev/null && "
                    "redis-cli -n 5 ZADD zixly:schedule 1700000000 job-1 1800000000 job-2 >/dev/null")
        elif item.engine == "volume":
            d = self.volume_dir(item.volume) / "zixly-remote"
            d.mkdir(exist_ok=True)
            (d / "marker.txt").write_text(f"{item.name}{tag}\n")
            (d / "random.bin").write_bytes(os.urandom(4096))

    def wipe(self, item: Item) -> None:
        """Databases dropped and created again empty, volumes emptied, Redis flushed."""
        if item.engine == "postgres":
            owner = self.psql(item.container, "postgres",
                              f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{item.database}';")
            self.psql(item.container, "postgres", f'DROP DATABASE "{item.database}" WITH (FORCE);')
            self.psql(item.container, "postgres", f'CREATE DATABASE "{item.database}" OWNER "{owner}";')
        elif item.engine == "mariadb":
            self.maria(item.container, "mysql", f"DROP DATABASE `{item.database}`; CREATE DATABASE `{item.database}`;")
        elif item.engine == "redis":
            self.sh("exec", item.container, "sh", "-c", 'REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")" '
                    "redis-cli FLUSHALL >/dev/null")
        elif item.engine == "volume":
            for entry in self.volume_dir(item.volume).iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()

    def names(self, env: str, label: str = "org.zixly.env") -> list[str]:
        return self.sh("ps", "-a", "--filter", f"label={label}={env}", "--format", "{{.Names}}").split()

    def remove_env(self, env: str) -> None:
        """Everything of environment *env* on the host: containers, volumes, networks, files, cron lines."""
        ids = self.sh("ps", "-aq", "--filter", f"label=org.zixly.env={env}").split()
        if ids:
            self.sh("rm", "-f", "-v", *ids)
        for kind in ("volume", "network"):
            names = self.sh(kind, "ls", "--format", "{{.Name}}").split()
            mine = [n for n in names if n.startswith((f"zixly-{env}-", f"zixly-{env}_"))]
            if mine:
                self.sh(kind, "rm", *mine, check=False)
        self.host.ssh(["sh", "-c", f"rm -rf /opt/zixly/{env} /etc/cron.d/zixly-backup-{env} "
                       f"/etc/cron.d/zixly-health-{env} /etc/zixly/backup-{env}.env /var/lib/zixly/{env}"])

