"""The configuration reference in docs/reference/ is generated from the models and current."""

from __future__ import annotations

from zixly_stack.models.reference import DOCS, render_all


def test_reference_docs_are_current() -> None:
    for name, text in render_all().items():
        path = DOCS / name
        assert path.is_file(), f"missing {path}: run python -m zixly_stack.models.reference"
        assert path.read_text() == text, f"{path} is stale: run python -m zixly_stack.models.reference"


def test_reference_covers_every_key() -> None:
    from zixly_stack.models.environment import Environment, Host

    text = render_all()["environment.md"] + render_all()["hosts.md"]
    for model in (Environment, Host):
        for name, field in model.model_fields.items():
            assert f"`{field.alias or name}`" in text
