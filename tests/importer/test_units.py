"""``zixly import``: the pure parts -- the source URL, the inspect parsing, the settings mapping, the
fingerprints and the key/data decisions -- and the key's three sources read through a fake runner
that answers ``docker cp`` with a real tar stream (the e2e test reads a real install:
tests/importer/test_import_e2e.py)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from zixly_stack.importer import n8n as imp
from zixly_stack.importer.data import Fingerprint, parse_rows
from zixly_stack.importer.mapping import Target, map_n8n, pick, refusals
from zixly_stack.importer.source import (
    ImportRefused,
    SourceInstall,
    encryption_key,
    parse_container,
    parse_from,
    pick_project,
)
from zixly_stack.project import load
from zixly_stack.runner import Result
from zixly_stack.runner.base import RunnerBase
from zixly_stack.secrets.value import Secret

REPO = Path(__file__).resolve().parents[2]
KEY = "0123456789abcdef0123456789abcdef"
TARGET = Target("staging", "staging1", "zixly-staging-postgres-server-1", "n8n", "zixly-staging-n8n_data",
                "https://n8n.staging.zixly.example.com/", "2.41.1")


def inspect_doc(name: str, image: str, env: dict[str, str], service: str = "", mounts: Sequence[dict[str, str]] = (),
                args: Sequence[str] = (), ports: dict[str, object] | None = None) -> dict[str, object]:
    return {"Name": "/" + name, "Args": list(args), "State": {"Running": True},
            "Config": {"Image": image, "Env": [f"{k}={v}" for k, v in env.items()],
                       "Labels": {"com.docker.compose.service": service or name}},
            "Mounts": list(mounts), "HostConfig": {"PortBindings": ports or {}}}


N8N_ENV = {"DB_TYPE": "postgresdb", "DB_POSTGRESDB_HOST": "postgres", "DB_POSTGRESDB_DATABASE": "n8n",
           "DB_POSTGRESDB_USER": "n8n", "DB_POSTGRESDB_PASSWORD": "pg-password-1234", "N8N_ENCRYPTION_KEY": KEY,
           "GENERIC_TIMEZONE": "Europe/Berlin", "N8N_PORT": "5678", "N8N_RUNNERS_MODE": "external",
           "EXECUTIONS_DATA_PRUNE": "true", "NODE_ENV": "production", "SMTP_PASS": "mail-secret-999"}


def n8n_container(env: dict[str, str] | None = None, image: str = "n8nio/n8n:2.41.1") -> object:
    return parse_container(inspect_doc("old-n8n-1", image, env or N8N_ENV, "n8n",
                                       [{"Type": "volume", "Name": "old_n8n", "Destination": "/home/node/.n8n"},
                                        {"Type": "bind", "Source": "/srv/files", "Destination": "/files"}],
                                       ports={"5678/tcp": [{"HostPort": "5678"}]}))


def test_the_source_url_is_ssh_only_and_names_user_host_and_port() -> None:
    h = parse_from("ssh://admin@10.0.0.5:2222", "/k")
    assert (h.address, h.user, h.port, h.ssh_key) == ("10.0.0.5", "admin", 2222, "/k")
    assert parse_from("ssh://old.example.com").user == "root"
    for bad in ("http://h", "ssh://", "ssh://h/path", "ssh://h:notaport", "h1", "ssh://bad_host!"):
        with pytest.raises(ImportRefused, match="--from"):
            parse_from(bad)


def test_secret_looking_settings_are_secrets_from_the_start() -> None:
    c = n8n_container()
    assert isinstance(c.env["N8N_ENCRYPTION_KEY"], Secret) and isinstance(c.env["DB_POSTGRESDB_PASSWORD"], Secret)
    assert isinstance(c.env["SMTP_PASS"], Secret) and isinstance(c.env["GENERIC_TIMEZONE"], str)
    assert c.env["GENERIC_TIMEZONE"] == "Europe/Berlin" and c.tag == "2.41.1" and c.image_name == "n8n"
    assert KEY not in repr(c)


def test_the_project_is_found_by_name_by_compose_file_or_as_the_only_one() -> None:
    projects = [{"Name": "n8n", "ConfigFiles": "/srv/n8n/compose.yaml"},
                {"Name": "other", "ConfigFiles": "/srv/o/a.yml,/srv/o/b.yml"}]
    assert pick_project(projects, "n8n", None, "h")["files"] == ["/srv/n8n/compose.yaml"]
    assert pick_project(projects, None, "/srv/o/b.yml", "h")["Name"] == "other"
    assert pick_project(projects[:1], None, None, "h")["Name"] == "n8n"
    with pytest.raises(ImportRefused, match=r"2 Compose projects there .*--project"):
        pick_project(projects, None, None, "h")
    with pytest.raises(ImportRefused, match=r"no project 'x' among .*n8n, other"):
        pick_project(projects, "x", None, "h")


def test_the_compose_files_services_are_read_and_a_broken_file_is_no_crash() -> None:
    def install(text: str) -> SourceInstall:
        return SourceInstall("root@h", "p", ("/srv/p/compose.yaml",), text, ())

    assert install("services:\n  n8n: {}\n  postgres: {}\n").compose_services() == ["n8n", "postgres"]
    assert install("services: [\n").compose_services() == [] and install("").compose_services() == []


def test_the_mapping_says_what_moves_what_is_replaced_and_what_cannot_be_mapped() -> None:
    c = n8n_container()
    catalog = {"GENERIC_TIMEZONE": "Australia/Brisbane", "N8N_PORT": "5678", "N8N_RUNNERS_MODE": "external",
               "WEBHOOK_URL": TARGET.url}
    rows = {r.setting: r for r in map_n8n(c, {"NODE_ENV": "production"}, catalog, TARGET)}
    assert "NODE_ENV" not in rows  # the image's own default
    assert rows["N8N_ENCRYPTION_KEY"].status == "moved" and "never rotated" in rows["N8N_ENCRYPTION_KEY"].note
    assert rows["DB_POSTGRESDB_PASSWORD"].status == "replaced" and rows["DB_TYPE"].status == "replaced"
    assert rows["N8N_PORT"].status == "replaced"  # a URL part: the environment's URL
    assert rows["N8N_RUNNERS_MODE"].status == "same"
    tz = rows["GENERIC_TIMEZONE"]
    assert tz.status == "differs" and "Australia/Brisbane" in tz.note
    assert "services.n8n.env.n8n.GENERIC_TIMEZONE" in tz.note
    prune = rows["EXECUTIONS_DATA_PRUNE"]
    assert prune.status == "unmapped" and "services.n8n.env.n8n" in prune.note
    assert rows["SMTP_PASS"].status == "unmapped" and "mail-secret" not in rows["SMTP_PASS"].note
    assert rows["mount /home/node/.n8n"].status == "moved" and TARGET.volume in rows["mount /home/node/.n8n"].note
    assert rows["mount /files"].status == "unmapped"
    assert rows["port 5678/tcp"].status == "replaced" and rows["image"].status == "same"
    text = json.dumps([r.to_json() for r in rows.values()])
    assert KEY not in text and "pg-password" not in text
    assert refusals(c, list(rows.values())) == []


def test_what_cannot_be_imported_is_refused_together() -> None:
    env = {**N8N_ENV, "DB_TYPE": "sqlite", "DB_TABLE_PREFIX": "x_", "DB_POSTGRESDB_SCHEMA": "n8n"}
    c = n8n_container(env, image="docker.n8n.io/n8nio/n8n:2.50.0")
    why = refusals(c, map_n8n(c, {}, {}, TARGET))
    assert len(why) == 4, why
    assert "DB_TYPE=sqlite" in why[0] and "DB_TABLE_PREFIX" in why[1] and "schema" in why[2] and "NEWER" in why[3]
    older = n8n_container(image="n8nio/n8n:1.90.2")
    assert "migrates" in next(r.note for r in map_n8n(older, {}, {}, TARGET) if r.setting == "image")


def test_the_n8n_and_postgres_containers_are_picked_by_image_and_db_host() -> None:
    docs = [inspect_doc("a-n8n-1", "n8nio/n8n:2.41.1", N8N_ENV, "n8n"),
            inspect_doc("a-worker-1", "n8nio/n8n:2.41.1", N8N_ENV, "worker", args=["worker"]),
            inspect_doc("a-postgres-1", "postgres:16", {"POSTGRES_USER": "root"}, "postgres"),
            inspect_doc("a-redis-1", "redis:7", {}, "redis")]
    n8n, pg = pick(tuple(parse_container(d) for d in docs))
    assert (n8n.name, pg.name) == ("a-n8n-1", "a-postgres-1")
    with pytest.raises(ImportRefused, match="found 0"):
        pick(tuple(parse_container(d) for d in docs[2:]))


def test_fingerprints_tell_empty_already_imported_and_other_data_apart() -> None:
    src = parse_rows("w\tA\t1.5\nw\tB\t2\nc\tC\t3\ne\t7\t9\n")
    assert src.counts() == {"workflows": 2, "credentials": 1, "executions": 7} and src.max_execution == 9
    assert Fingerprint().empty and not src.empty
    same_plus_own = parse_rows("w\tA\t1.5\nw\tB\t2\nw\tSEED\t9\nc\tC\t3\ne\t12\t15\n")
    assert same_plus_own.covers(src, 7)
    assert not same_plus_own.covers(src, 6)  # an execution of the source is missing
    edited = parse_rows("w\tA\t1.6\nw\tB\t2\nc\tC\t3\ne\t7\t9\n")
    assert not edited.covers(src, 7)


def test_the_key_decision_refuses_another_key_only_where_it_protects_data() -> None:
    k, other = Secret(KEY), Secret("f" * 32)
    assert imp._key_decision(None, k, False, False)[0] == "stored"
    assert imp._key_decision(Secret(KEY), k, False, False)[0] == "unchanged"
    status, why = imp._key_decision(other, k, False, False)
    assert status == "refused" and "--replace" in why and other.fingerprint() in why and KEY not in why
    assert imp._key_decision(other, k, False, True)[0] == "replaced"
    assert imp._key_decision(other, k, True, False)[0] == "replaced"  # the generated key encrypted nothing


def test_the_data_decision() -> None:
    data = parse_rows("w\tA\t1\ne\t0\t0\n")
    assert imp._data_decision(Fingerprint(exists=False), False, False)[0] == "loaded"
    assert imp._data_decision(data, True, False)[0] == "unchanged"
    status, why = imp._data_decision(data, False, False)
    assert status == "refused" and "1 workflows" in why and "--replace" in why
    assert imp._data_decision(data, False, True)[0] == "replaced"
    status, why = imp._data_decision(data, False, False, partial=True)  # the source's rows, no completion marker
    assert status == "loaded" and "did not complete" in why


def test_the_completion_digest_follows_the_data_only() -> None:
    a, b = parse_rows("w\tA\t1\nc\tC\t2\ne\t3\t4\n"), parse_rows("c\tC\t2\nw\tA\t1\ne\t3\t4\n")
    assert a.digest() == b.digest() and len(a.digest()) == 64
    assert a.digest() != parse_rows("w\tA\t1.1\nc\tC\t2\ne\t3\t4\n").digest()
    assert a.digest() != parse_rows("w\tA\t1\nc\tC\t2\ne\t4\t5\n").digest()


class TarRunner(RunnerBase):
    """Answers ``docker cp CONTAINER:PATH -`` with a tar of *files* (path -> bytes); nothing else runs."""

    name = "fake"

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.argvs: list[list[str]] = []

    def stream(self, argv: Sequence[str], *, source: object = None, sink: object = None, timeout: float = 600.0,
               read: bool = False) -> Result:
        self.argvs.append(list(argv))
        assert read, "the source is only read"
        path = argv[2].split(":", 1)[1]
        if argv[1] != "cp" or path not in self.files:
            return Result(tuple(argv), 1, b"", b"no such file")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(path.rsplit("/", 1)[-1])
            info.size = len(self.files[path])
            tar.addfile(info, io.BytesIO(self.files[path]))
        assert callable(sink)
        sink(buf.getvalue())
        return Result(tuple(argv), 0)


def test_the_key_comes_from_the_env_its_file_or_the_config_n8n_wrote() -> None:
    config = json.dumps({"encryptionKey": "from-config-key-xyz"}).encode()
    env_only = {k: v for k, v in N8N_ENV.items() if k != "N8N_ENCRYPTION_KEY"}
    got = encryption_key(TarRunner({"/home/node/.n8n/config": config}), n8n_container(env_only))
    assert got.value.reveal() == "from-config-key-xyz" and "config" in got.origin and not got.warning
    got = encryption_key(TarRunner({"/run/secrets/k": b"file-key-abc\n"}),
                         n8n_container({**env_only, "N8N_ENCRYPTION_KEY_FILE": "/run/secrets/k"}))
    assert got.value.reveal() == "file-key-abc" and "_FILE" in got.origin
    got = encryption_key(TarRunner({"/home/node/.n8n/config": config}), n8n_container())
    assert got.value.reveal() == KEY and "Mismatching" in got.warning
    with pytest.raises(ImportRefused, match="no encryption key"):
        encryption_key(TarRunner({}), n8n_container(env_only))


def test_the_catalog_side_is_the_environments_rendered_n8n() -> None:
    loaded = load(REPO, "staging")
    env = imp.catalog_env(loaded, "staging1")
    assert env["N8N_HOST"] == "n8n.staging.zixly.example.com" and env["GENERIC_TIMEZONE"] == "Australia/Brisbane"
    host, plan, owner, tag = imp._n8n_plan(loaded)
    assert (host, owner, tag) == ("staging1", "n8n", "2.41.1")
    assert {i.engine for i in plan.items} == {"postgres", "volume"}
