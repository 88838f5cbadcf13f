"""The cross-field validation rules: each registered, each run, each with bad inputs that it catches.

:mod:`zixly_stack.catalog.rules` is the one list of rules; :mod:`validation_cases` holds each
rule's bad inputs (mini repo edits and the exact located problems they give). Runs in-process
through :func:`zixly_stack.project.load` (what ``zixly validate`` runs first), no secrets needed.
"""

from __future__ import annotations

import ast
import inspect
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import FIXTURES, REPO
from zixly_stack.catalog import rules as registry
from zixly_stack.catalog.rulebase import SCOPES, Rule
from zixly_stack.errors import ConfigError
from zixly_stack.project import load

from .conftest import edit
from .validation_cases import CASES, Edit

CATALOG = REPO / "zixly_stack" / "catalog"
# the parameters of a rule function, per scope (a rule module's public function with these is a rule)
SIGNATURES = {("cat", "svc"): "service", ("cat",): "catalog", ("cat", "cfg"): "environment",
              ("cat", "cfg", "stack"): "stack"}
RUNNERS = ("checks.py", "rules.py")  # the runner and the registry take the same arguments; they are no rules

FLAT = [(rule, case_id, edits, expected) for rule, cases in CASES.items() for case_id, edits, expected in cases]


def problems(root: Path) -> list[str]:
    """Every problem ``load`` reports for env 'base' of ``root``, one printed line each."""
    with pytest.raises(ConfigError) as exc:
        load(root, "base")
    return str(exc.value).split("\n")[:-1]


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "minirepo", root)
    return root


def _apply(root: Path, edits: list[Edit]) -> None:
    for file, old, new in edits:
        edit(root, file, old, new)


@pytest.mark.parametrize(("rule", "case_id", "edits", "expected"), FLAT, ids=[f"{r}-{c}" for r, c, _, _ in FLAT])
def test_rule_reports_bad_input(mini: Path, monkeypatch: pytest.MonkeyPatch, rule: str, case_id: str,
                                edits: list[Edit], expected: list[str]) -> None:
    """Exact located problems; and without the rule (not possible for model validators) one goes missing."""
    _apply(mini, edits)
    assert problems(mini) == expected
    entry = next(r for r in registry.RULES if r.name == rule)
    if entry.scope == "model":
        return  # pydantic runs it while loading: it cannot be taken out of the registry
    monkeypatch.setattr(registry, "RULES", tuple(r for r in registry.RULES if r.name != rule))
    try:
        load(mini, "base")
        without: list[str] = []
    except ConfigError as exc:
        without = str(exc).split("\n")[:-1]
    assert not set(expected) <= set(without), f"{rule} is not what reports this case"


def test_fixture_is_valid(mini: Path) -> None:
    assert load(mini, "base").stack.services


def test_every_rule_has_bad_inputs_and_every_case_a_rule() -> None:
    names = [r.name for r in registry.RULES]
    assert len(names) == len(set(names)), "two rules with one name"
    assert set(CASES) == set(names), f"rules without cases: {set(names) - set(CASES)}; cases of no rule: " \
                                     f"{set(CASES) - set(names)}"
    assert all(CASES[n] for n in names)


def test_rules_are_described_and_name_real_keys() -> None:
    from zixly_stack.models.reference import user_models

    fields = {f"{m.__name__}.{f}" for m in user_models() for f in m.model_fields}
    for rule in registry.RULES:
        assert rule.summary and rule.keys and rule.scope in SCOPES, rule.name
        assert set(rule.keys) <= fields, f"{rule.name} names keys no model has: {set(rule.keys) - fields}"


def _rule_functions(paths: list[Path]) -> Iterator[tuple[str, str, str]]:
    """``(module file, function, scope)`` of every public top-level function shaped like a rule."""
    for path in paths:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                scope = SIGNATURES.get(tuple(a.arg for a in node.args.args))
                if scope:
                    yield path.name, node.name, scope


def _rule_modules() -> list[Path]:
    return [p for p in sorted(CATALOG.glob("*.py")) if p.name not in RUNNERS]


def test_every_rule_function_is_registered() -> None:
    registered = {(r.check.__module__, r.check.__name__): r.scope for r in registry.RULES}
    for file, name, scope in _rule_functions(_rule_modules()):
        module = f"zixly_stack.catalog.{file.removesuffix('.py')}"
        assert registered.get((module, name)) == scope, f"{file}:{name} looks like a {scope} rule but is not " \
                                                        "registered in zixly_stack/catalog/rules.py"


def test_an_unregistered_rule_is_found(tmp_path: Path) -> None:
    planted = tmp_path / "planted_rules.py"
    planted.write_text("def shiny_new_rule(cat, cfg):\n    return []\n\ndef _helper(cat, svc):\n    return []\n")
    assert list(_rule_functions([planted])) == [("planted_rules.py", "shiny_new_rule", "environment")]


def test_every_model_validator_is_registered() -> None:
    """Cross-field rules inside the models (``model_validator(mode="after")``) are registered as ``model`` rules."""
    from zixly_stack.models.reference import user_models

    found = {v.func for m in user_models() for v in m.__pydantic_decorators__.model_validators.values()
             if v.info.mode == "after"}
    assert found == {r.check for r in registry.RULES if r.scope == "model"}


def _spy(calls: list[str], rule: Rule) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        calls.append(rule.name)
        return rule.check(*args)
    return run


def _unrun(mini: Path, monkeypatch: pytest.MonkeyPatch, rules: tuple[Rule, ...]) -> set[str]:
    """Rules of ``rules`` (model validators aside) that loading a valid environment never calls."""
    calls: list[str] = []
    monkeypatch.setattr(registry, "RULES", tuple(Rule(r.name, r.summary, r.scope, _spy(calls, r), r.keys)
                                                 for r in rules))
    load(mini, "base")
    return {r.name for r in rules if r.scope != "model"} - set(calls)


def test_every_registered_rule_is_run(mini: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid environment passes through every registered rule of the four runner scopes."""
    assert _unrun(mini, monkeypatch, registry.RULES) == set()


def test_a_registered_rule_no_runner_runs_is_found(mini: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stray = Rule("stray", "never run", "nowhere", registry.RULES[0].check, ())  # type: ignore[arg-type]
    assert _unrun(mini, monkeypatch, (*registry.RULES, stray)) == {"stray"}


def test_rule_functions_are_small() -> None:
    for rule in registry.RULES:
        lines = len(inspect.getsource(rule.check).splitlines())
        assert lines <= 40, f"{rule.name} is {lines} lines: split it"
