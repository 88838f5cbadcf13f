"""The judgement behind "a lost store is an error" (zixly_stack.secrets.guard), and its evidence from host facts."""

from __future__ import annotations

from zixly_stack.deploy.storecheck import facts_evidence, secrets_match
from zixly_stack.plan.facts import HostFacts, parse_facts
from zixly_stack.plan.paths import EnvPaths
from zixly_stack.render.tree import RECOVERY_PATH, RenderedFile
from zixly_stack.secrets.guard import Evidence, Release, StoreState, judge, missing_store

AT_RISK = {"n8n.encryption_key": 'n8n can no longer decrypt stored credentials ("Credentials could not be decrypted")'}
MINE = StoreState("prod", "inventories/prod/secrets.age", "aaaaaaaaaaaaaaaa", new=False)


def test_the_store_that_made_the_release_goes_ahead() -> None:
    ev = Evidence((Release("vps1:/opt/zixly/prod/current", "aaaaaaaaaaaaaaaa"),), volumes=("vps1:zixly-prod-n8n_data",))
    assert judge(MINE, ev, AT_RISK) is None
    assert judge(MINE, Evidence(), AT_RISK) is None  # a machine that never ran it


def test_another_store_is_refused_naming_both_and_the_way_back() -> None:
    ev = Evidence((Release("vps1:/opt/zixly/prod/current", "bbbbbbbbbbbbbbbb"),), volumes=("vps1:zixly-prod-n8n_data",))
    err = judge(MINE, ev, AT_RISK)
    assert err is not None and err.exit_code == 3
    text = str(err)
    assert "vps1:/opt/zixly/prod/current was deployed with store bbbbbbbbbbbbbbbb" in text
    assert "yours (inventories/prod/secrets.age) is store aaaaaaaaaaaaaaaa" in text
    assert "data volumes: vps1:zixly-prod-n8n_data" in text
    assert "Credentials could not be decrypted" in text
    assert "zixly secrets recover prod --from-release" in text and "secrets.age.new" in text
    new = judge(StoreState("prod", "p", "cccccccccccccccc", new=True), ev, AT_RISK)
    assert new is not None and "a new store that never deployed" in str(new)


def test_releases_before_store_ids_are_judged_by_their_secret_files() -> None:
    same = Evidence((Release("h:/r", None, secrets_match=True),))
    other = Evidence((Release("h:/r", None, secrets_match=False),))
    unknown = Evidence((Release("h:/r", None, secrets_match=None),))
    assert judge(MINE, same, {}) is None and judge(MINE, unknown, {}) is None
    err = judge(MINE, other, {})
    assert err is not None and "none of its secret files matches yours" in str(err)


def test_data_without_a_release_refuses_only_when_secrets_would_be_generated() -> None:
    ev = Evidence(volumes=("zixly-prod-postgres_data",))
    assert judge(MINE, ev, {}) is None
    err = judge(StoreState("prod", "p", "a" * 16, new=False, generated=("postgres.admin_password",)), ev, {})
    assert err is not None and "lacks postgres.admin_password" in str(err)


def test_missing_store_message_lists_evidence_and_ways_back() -> None:
    ev = Evidence((Release("/opt/zixly/local/current", "aaaaaaaaaaaaaaaa"),), backups=("restic repository /b",))
    text = str(missing_store("local", "inventories/local/secrets.age", "this machine holds data of it:", ev, AT_RISK))
    assert "a deployed release: /opt/zixly/local/current (made with store aaaaaaaaaaaaaaaa)" in text
    assert "a backup: restic repository /b" in text
    assert "n8n.encryption_key" in text and "git checkout <commit> -- inventories/local/secrets.age" in text
    assert "zixly secrets recover local --from-release" in text


def _secret(path: str, text: str) -> RenderedFile:
    return RenderedFile(f"h/{path}", text, 0o600, True)


def test_secrets_match_compares_plain_hashes_in_memory_only_for_secret_files() -> None:
    files = {"n8n/env/n8n.env": _secret("n8n/env/n8n.env", "A=1\n"), "a/compose.yaml": RenderedFile("h/a/c", "x"),
             RECOVERY_PATH: _secret(RECOVERY_PATH, "{}\n")}
    ours = files["n8n/env/n8n.env"].sha256
    assert secrets_match({"n8n/env/n8n.env": ours}, files) is True
    assert secrets_match({"n8n/env/n8n.env": "0" * 64, RECOVERY_PATH: files[RECOVERY_PATH].sha256},
                         files) is False  # the recovery sheet does not count: a new store writes a new one
    assert secrets_match({"a/compose.yaml": files["a/compose.yaml"].sha256}, files) is None


def test_facts_carry_the_release_store_and_the_env_volumes() -> None:
    facts = parse_facts("\n".join([
        "@@release", "/opt/zixly/prod/releases/r1", "@@files", "@@volumes",
        "zixly-prod-n8n_data zixly-prod-n8n", "zixly-prod-x-n8n_data zixly-prod-x-n8n", "other_v other",
        "@@store", '"store": "0123456789abcdef"', "@@end"]))
    assert facts.store == "0123456789abcdef"
    assert facts.env_volumes("prod", ["n8n", "postgres"]) == ["zixly-prod-n8n_data"]
    ev = facts_evidence("vps1", EnvPaths("/opt/zixly", "prod"), facts, {}, ["n8n"])
    assert ev.releases == (Release("vps1:/opt/zixly/prod/current", "0123456789abcdef", None),)
    assert ev.volumes == ("vps1:zixly-prod-n8n_data",)
    assert facts_evidence("vps1", EnvPaths("/opt/zixly", "prod"), HostFacts(), {}, []).empty
