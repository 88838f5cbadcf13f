"""docs/reference/ is generated from the models and the rule registry, explains every key, and
its sample files are a configuration our loader accepts ("the schema is the documentation").

* every page, samples included, is what ``python -m zixly_stack.catalog.reference`` writes now,
  so a model or rule change without regenerated docs fails;
* every field a user writes (environment, hosts, service, health-check settings) has a
  description, and an example where its default does not say what to write (required, or
  ``None`` by default); each example is valid for its field;
* ``environment.sample.yaml`` + ``hosts.sample.yaml`` load, pass every rule and render cleanly
  against the real catalog.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from tests.helpers import copy_repo
from zixly_stack.catalog.reference import DOCS, render_all
from zixly_stack.catalog.rules import RULES
from zixly_stack.config.healthchecks import Settings
from zixly_stack.models.base import Model
from zixly_stack.models.reference import reachable, user_models
from zixly_stack.project import check_rendered, load


def written() -> list[type[BaseModel]]:
    """Every model of a file users write: environment, hosts, service and health-check settings."""
    return user_models() + reachable(Settings)


def test_reference_docs_are_current() -> None:
    for name, text in render_all().items():
        path = DOCS / name
        assert path.is_file(), f"missing {path}: run python -m zixly_stack.catalog.reference"
        assert path.read_text() == text, f"{path} is stale: run python -m zixly_stack.catalog.reference"


def test_reference_covers_every_key_and_rule() -> None:
    pages = render_all()
    text = pages["environment.md"] + pages["hosts.md"] + pages["service.md"] + pages["healthchecks.md"]
    for model in written():
        assert f"## `{model.__name__}`" in text
        for name, field in model.model_fields.items():
            assert f"| `{field.alias or name}` |" in text
    for rule in RULES:
        assert f"### {rule.name}\n" in pages["rules.md"]
        assert f"[`{rule.name}`](rules.md#{rule.name})" in text, f"no key lists rule {rule.name}"


def undescribed(models: list[type[BaseModel]]) -> list[str]:
    """``Model.field`` of every field without a description."""
    return [f"{m.__name__}.{n}" for m in models for n, f in m.model_fields.items() if not (f.description or "").strip()]


def _needs_example(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields[name]
    return (field.default is PydanticUndefined and field.default_factory is None) or field.default is None


def without_example(models: list[type[BaseModel]]) -> list[str]:
    """``Model.field`` of every required or ``None``-by-default field without ``examples=``."""
    return [f"{m.__name__}.{n}" for m in models for n, f in m.model_fields.items()
            if _needs_example(m, n) and not f.examples]


def test_every_user_field_is_described_and_exemplified() -> None:
    assert undescribed(written()) == []
    assert without_example(written()) == []


def test_a_field_without_a_description_or_example_is_found() -> None:
    class Planted(Model):
        """A model someone adds."""

        described: int = 1
        """Has one."""
        bare: int = 2
        required: str

    assert undescribed([Planted]) == ["Planted.bare", "Planted.required"]
    assert without_example([Planted]) == ["Planted.required"]


# sections whose model validator needs more than the required keys
BASES: dict[str, dict[str, Any]] = {"BackupTarget": {"path": "/var/backups/zixly"}}


def _minimal(model: type[BaseModel]) -> dict[str, Any]:
    required = {f.alias or n: f.examples[0] for n, f in model.model_fields.items() if f.is_required() and f.examples}
    return {**required, **BASES.get(model.__name__, {})}


def test_every_example_is_valid() -> None:
    """Each example, set on a minimal section (the required keys' examples), passes the model."""
    for model in written():
        base = _minimal(model)
        model.model_validate(base)
        for name, field in model.model_fields.items():
            for example in field.examples or []:
                model.model_validate({**base, field.alias or name: example})


def test_sample_environment_loads_validates_and_renders(tmp_path: Path) -> None:
    root = copy_repo(tmp_path / "repo", envs=())
    env = root / "inventories" / "sample"
    env.mkdir(parents=True)
    (env / "environment.yaml").write_text((DOCS / "environment.sample.yaml").read_text())
    (env / "hosts.yaml").write_text((DOCS / "hosts.sample.yaml").read_text())
    loaded = load(root, "sample")
    assert "n8n" in loaded.stack.services and loaded.stack.host_names() == ["vps1"]
    assert loaded.config.environment.notifications.channels, "the sample shows a channel"
    assert check_rendered(loaded)
