"""The Secret type masks itself on every path a value can take to text."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import pickle
import traceback

import pytest
from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.pretty import pretty_repr
from rich.table import Table
from rich.traceback import Traceback

from zixly_stack.errors import SecretsError
from zixly_stack.secrets import MASK, Secret, json_default, redact

from .helpers import CANARY


@pytest.fixture
def secret() -> Secret:
    return Secret(CANARY)


def _assert_masked(text: str) -> None:
    assert CANARY not in text
    assert MASK in text


def test_reveal_returns_the_value(secret: Secret) -> None:
    assert secret.reveal() == CANARY


def test_fingerprint_is_sha256_prefix_and_not_the_value(secret: Secret) -> None:
    assert secret.fingerprint() == hashlib.sha256(CANARY.encode()).hexdigest()[:12]
    assert CANARY not in secret.fingerprint()


@pytest.mark.parametrize(
    "render",
    [
        str,
        repr,
        format,
        lambda s: f"{s}",
        lambda s: f"{s!r}",
        lambda s: f"{s!s}",
        lambda s: f"{s:>30}",
        lambda s: "{}".format(s),  # noqa: UP032  # the str.format path itself is under test
        lambda s: "%s" % s,  # noqa: UP031
        lambda s: "%r" % (s,),  # noqa: UP031
        lambda s: str([s, {"k": s}]),
        lambda s: str((s,)),
    ],
    ids=["str", "repr", "format", "f", "f!r", "f!s", "f-spec", "str.format", "%s", "%r", "container", "tuple"],
)
def test_masked_in_text_conversions(secret: Secret, render: object) -> None:
    assert callable(render)
    _assert_masked(render(secret))


def test_format_spec_applies_to_the_mask(secret: Secret) -> None:
    assert f"{secret:>10}" == "  " + MASK


def test_not_a_str_so_joins_cannot_read_it(secret: Secret) -> None:
    assert not isinstance(secret, str)
    with pytest.raises(TypeError):
        "".join([secret])  # type: ignore[list-item]


def test_logging_masks(secret: Secret, caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("zixly.test")
    with caplog.at_level(logging.DEBUG, logger="zixly.test"):
        log.info("password=%s", secret)
        log.info(f"password={secret}")
        log.warning("env %r", {"N8N_ENCRYPTION_KEY": secret})
        try:
            raise RuntimeError(secret)
        except RuntimeError:
            log.exception("failed with %s", secret)
    assert len(caplog.records) == 4
    _assert_masked(caplog.text)
    for record in caplog.records:
        assert CANARY not in record.getMessage()


def test_exception_text_and_traceback_mask(secret: Secret) -> None:
    def boom(password: Secret) -> None:
        raise SecretsError(f"cannot use {password}")

    with pytest.raises(SecretsError) as info:
        boom(secret)
    exc = info.value
    _assert_masked(str(exc))
    _assert_masked(repr(exc))
    text = "".join(traceback.format_exception(exc))
    assert CANARY not in text
    with_locals = "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
    assert "password = Secret('********')" in with_locals
    assert CANARY not in with_locals
    _assert_masked(str(ValueError("x", secret)))


def test_json_default_masks_and_plain_dumps_refuses(secret: Secret) -> None:
    text = json.dumps({"a": secret, "b": [secret]}, default=json_default)
    assert json.loads(text) == {"a": MASK, "b": [MASK]}
    with pytest.raises(TypeError) as info:
        json.dumps({"a": secret})
    assert CANARY not in str(info.value)
    with pytest.raises(TypeError):
        json.dumps({"a": object()}, default=json_default)


def test_rich_console_masks(secret: Secret) -> None:
    out = io.StringIO()
    console = Console(file=out, record=True, width=120)
    console.print(secret)
    console.print({"password": secret, "list": [secret]})
    console.log("logged", secret)
    table = Table("name", "value")
    table.add_row("pw", secret)  # rich renders it via __rich__
    console.print(table)
    text = out.getvalue() + console.export_text()
    _assert_masked(text)
    _assert_masked(pretty_repr({"k": secret}))


def test_rich_traceback_with_locals_masks(secret: Secret) -> None:
    def boom(password: Secret) -> None:
        raise RuntimeError("failed")

    out = io.StringIO()
    try:
        boom(secret)
    except RuntimeError as exc:
        tb = Traceback.from_exception(type(exc), exc, exc.__traceback__, show_locals=True)
        Console(file=out, width=200).print(tb)
    _assert_masked(out.getvalue())


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    password: Secret


def test_pydantic_serialises_masked_and_keeps_secret_in_python_mode(secret: Secret) -> None:
    model = _Model(name="n8n", password=secret)
    _assert_masked(model.model_dump_json())
    assert json.loads(model.model_dump_json()) == {"name": "n8n", "password": MASK}
    assert model.model_dump(mode="json")["password"] == MASK
    _assert_masked(repr(model))
    _assert_masked(str(model))
    dumped = model.model_dump()["password"]
    assert isinstance(dumped, Secret) and dumped.reveal() == CANARY
    from_str = _Model.model_validate({"name": "x", "password": CANARY})  # a str is wrapped
    assert from_str.password == secret
    assert _Model.model_json_schema()["properties"]["password"]["writeOnly"] is True


def test_pickle_refused_copy_returns_same(secret: Secret) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        pickle.dumps({"nested": [secret]})
    assert copy.copy(secret) is secret
    assert copy.deepcopy({"k": secret})["k"] is secret


def test_value_semantics_and_immutability(secret: Secret) -> None:
    assert secret == Secret(CANARY)
    assert secret != Secret(CANARY + "x")
    assert secret != CANARY  # never equal to a plain str
    assert hash(secret) == hash(Secret(CANARY))
    assert len({secret, Secret(CANARY)}) == 1
    with pytest.raises(AttributeError):
        secret._value = "other"
    with pytest.raises(AttributeError):
        del secret._value
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]


def test_redact_replaces_values_and_compose_escaped_form() -> None:
    hashed = Secret("$2b$12$abcdefghijklmnopqrstuv")
    text = f"A={CANARY}\nB={hashed.reveal().replace('$', '$$')}\nC=ok\n"
    out = redact(text, [Secret(CANARY), hashed, Secret("ok")])
    assert CANARY not in out and "abcdefghij" not in out
    assert out == f"A={MASK}\nB={MASK}\nC=ok\n"  # too-short values are left alone
