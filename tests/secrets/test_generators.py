"""Each generator type yields the documented alphabet, length and format."""

from __future__ import annotations

import base64
import re
import string
import uuid

import bcrypt
import pytest

from zixly_stack.errors import ConfigError
from zixly_stack.models.secret_spec import SecretSpec
from zixly_stack.secrets import Secret, compose_escape, generate, generation_order

URL_SAFE = set(string.ascii_letters + string.digits + "-_")


def _gen(type_: str, length: int = 32, **kw: str) -> str:
    spec = SecretSpec.model_validate({"type": type_, "length": length, **kw})
    return generate("svc.name", spec, {}).reveal()


@pytest.mark.parametrize("length", [8, 24, 64])
def test_password_alphabet_length_and_classes(length: int) -> None:
    for _ in range(200):
        value = _gen("password", length)
        assert len(value) == length
        assert set(value) <= URL_SAFE
        assert not set(value) & set("'\"$ `\\#%@")
        assert value[0].isalnum() and value[-1].isalnum()
        assert any(c.islower() for c in value)
        assert any(c.isupper() for c in value)
        assert any(c.isdigit() for c in value)


def test_hex_is_length_bytes() -> None:
    value = _gen("hex", 32)
    assert re.fullmatch(r"[0-9a-f]{64}", value)
    assert len(bytes.fromhex(value)) == 32


def test_base64_is_standard_b64_of_length_bytes() -> None:
    for _ in range(50):
        value = _gen("base64", 33)
        assert len(base64.b64decode(value, validate=True)) == 33  # validate: standard alphabet only
    assert _gen("base64", 32).endswith("=")  # padded


def test_laravel_key_decodes_to_32_bytes() -> None:
    value = _gen("laravel_key")
    assert value.startswith("base64:")
    assert len(base64.b64decode(value.removeprefix("base64:"), validate=True)) == 32


def test_alnum_only_letters_and_digits() -> None:
    value = _gen("alnum", 128)  # Chatwoot SECRET_KEY_BASE
    assert re.fullmatch(r"[A-Za-z0-9]{128}", value)


def test_uuid_is_v4() -> None:
    value = _gen("uuid")
    parsed = uuid.UUID(value)
    assert parsed.version == 4
    assert str(parsed) == value


def test_values_are_random() -> None:
    for type_ in ("password", "hex", "base64", "laravel_key", "alnum", "uuid"):
        assert len({_gen(type_) for _ in range(20)}) == 20, type_


def test_bcrypt_hashes_its_source_in_same_service() -> None:
    source = Secret("correct-horse-battery")
    hashed = generate("n8n.owner_hash", SecretSpec(type="bcrypt", of="owner_pw"), {"n8n.owner_pw": source})
    assert hashed.reveal().startswith("$2b$12$")
    assert bcrypt.checkpw(b"correct-horse-battery", hashed.reveal().encode())
    assert not bcrypt.checkpw(b"wrong", hashed.reveal().encode())


def test_bcrypt_dotted_of_names_another_service() -> None:
    source = Secret("admin-pass-123")
    hashed = generate("traefik.auth", SecretSpec(type="bcrypt", of="portainer.admin"), {"portainer.admin": source})
    assert bcrypt.checkpw(b"admin-pass-123", hashed.reveal().encode())


def test_bcrypt_without_source_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"n8n\.pw"):
        generate("n8n.hash", SecretSpec(type="bcrypt", of="pw"), {})
    with pytest.raises(ConfigError, match="needs 'of:'"):
        generate("n8n.hash", SecretSpec(type="bcrypt"), {})


def test_compose_escape_doubles_dollars() -> None:
    assert compose_escape("$2b$12$abc") == "$$2b$$12$$abc"
    assert compose_escape("plain") == "plain"


def test_generation_order_puts_bcrypt_after_its_source() -> None:
    specs = {
        "svc.a_hash": SecretSpec(type="bcrypt", of="z_password"),
        "svc.z_password": SecretSpec(),
        "svc.b_hash_of_hash": SecretSpec(type="bcrypt", of="a_hash"),
    }
    order = generation_order(specs, frozenset())
    assert order.index("svc.z_password") < order.index("svc.a_hash") < order.index("svc.b_hash_of_hash")
    assert sorted(order) == sorted(specs)


def test_generation_order_accepts_a_stored_source() -> None:
    assert generation_order({"svc.h": SecretSpec(type="bcrypt", of="pw")}, frozenset({"svc.pw"})) == ["svc.h"]


def test_generation_order_reports_all_problems_at_once() -> None:
    specs = {
        "svc.missing_of": SecretSpec(type="bcrypt"),
        "svc.unknown": SecretSpec(type="bcrypt", of="nope"),
        "svc.x": SecretSpec(type="bcrypt", of="y"),
        "svc.y": SecretSpec(type="bcrypt", of="x"),
        "svc.long_hash": SecretSpec(type="bcrypt", of="long"),
        "svc.long": SecretSpec(length=100),
    }
    with pytest.raises(ConfigError) as info:
        generation_order(specs, frozenset())
    text = str(info.value)
    assert "needs 'of:'" in text
    assert "'svc.nope' is not a declared secret" in text
    assert "cycle: svc.x -> svc.y -> svc.x" in text
    assert "longer than bcrypt's 72 bytes" in text
    assert "services/svc/service.yaml" in text
    assert info.value.exit_code == 2
