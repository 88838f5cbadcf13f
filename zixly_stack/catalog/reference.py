"""Write ``docs/reference/``: the configuration reference, the validation rules and sample files.

``python -m zixly_stack.catalog.reference`` rewrites every page from the models
(:mod:`zixly_stack.models.reference`) and the rule registry (:mod:`zixly_stack.catalog.rules`);
``tests/render/test_reference_docs.py`` fails when a committed page differs from what this
generates, so a model or rule change without regenerated docs fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..config.healthchecks import Settings
from ..models.environment import Environment, Hosts
from ..models.reference import GENERATED, document, sample
from ..models.service import Service
from .rulebase import SCOPES
from .rules import RULES, applying_to

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reference"

SCOPE_WORDS = {
    "service": "each service definition (`services/<name>/service.yaml`)",
    "catalog": "the whole catalog",
    "environment": "the environment (`environment.yaml`, `hosts.yaml`) against the catalog",
    "stack": "the resolved stack (overrides applied, services placed on hosts)",
    "model": "one section, while it is loaded (a model validator)",
}


def rules_page() -> str:
    """Markdown of every registered rule, by scope: name, what it checks, the keys it judges."""
    lines = ["# Validation rules", "",
             "Cross-field rules `zixly validate` (and every command that loads an environment) runs after the "
             "schema; each problem is reported at the key that caused it. Their bad-input cases: "
             "`tests/render/validation_cases.py`. The rendered-output hardening rules: `docs/hardening.md`.", "",
             GENERATED.replace("models`", "models` and `zixly_stack/catalog/rules.py`"), ""]
    for scope in SCOPES:
        lines += [f"## On {SCOPE_WORDS[scope]}", ""]
        for rule in (r for r in RULES if r.scope == scope):
            keys = ", ".join(f"`{k}`" for k in rule.keys)
            lines += [f"### {rule.name}", "", f"{rule.summary} Judges: {keys}.", ""]
    return "\n".join(lines)


def render_all() -> dict[str, str]:
    """File name -> content of every page under ``docs/reference/``."""
    return {
        "environment.md": document(Environment, "environment.yaml reference",
                                   "`inventories/<env>/environment.yaml`: one deployment target. A complete "
                                   "example: [environment.sample.yaml](environment.sample.yaml).", applying_to),
        "hosts.md": document(Hosts, "hosts.yaml reference", "`inventories/<env>/hosts.yaml`: the machines. A complete "
                             "example: [hosts.sample.yaml](hosts.sample.yaml).", applying_to),
        "service.md": document(Service, "service.yaml reference",
                               "`services/<name>/service.yaml`: one catalog entry (see docs/catalog-format.md).",
                               applying_to),
        "healthchecks.md": document(Settings, "healthchecks/*.yaml reference",
                                    "`healthchecks/default.yaml`, overlaid by `healthchecks/<env>.yaml`: the health "
                                    "suite's thresholds and extra checks (docs/health.md)."),
        "rules.md": rules_page(),
        "environment.sample.yaml": sample(Environment, "environment.yaml: every key, with an example or its default"),
        "hosts.sample.yaml": sample(Hosts, "hosts.yaml: every key of one host, with an example or its default"),
    }


def main() -> None:
    """Write the reference pages."""
    DOCS.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (DOCS / name).write_text(text)
        sys.stdout.write(f"wrote docs/reference/{name}\n")


if __name__ == "__main__":
    main()
