"""Values that validate must see the way render will: environment overrides and env-file lines.

* ``services.<svc>.env.<container>.<VAR>`` in ``environment.yaml`` is merged into the catalog's
  env at render time, so its placeholders are parsed and their references checked here, located
  in ``environment.yaml`` (they used to pass ``validate`` and crash ``render``).
* A value that carries a secret goes to a Compose env file as ``VAR='value'``, which cannot hold a
  single quote or a line break: such characters in the literal text around a secret are refused
  (in the catalog and in overrides) instead of failing at render.

Pure functions of the loaded catalog/environment returning :class:`Problem` lists.
"""

from __future__ import annotations

from collections.abc import Callable

from ..config.loader import Catalog, EnvConfig
from ..config.yamlsrc import dotted
from ..errors import Problem
from ..models.service import Service
from .placeholders import PlaceholderSyntaxError, Ref, parse
from .reference_rules import check_ref

Located = Callable[[str, str], Problem]


def _secret_bearing(ref: Ref) -> bool:
    return ref.kind == "secret" or (ref.kind == "store" and ref.arg.endswith((".password", ".url")))


ENV_FILE = ("a value that carries a secret goes to an env file, which cannot hold a single quote or a line break",
            "remove the quote from the text around the placeholder")


def env_file_unsafe(parts: list[str | Ref]) -> bool:
    """True when a parsed value carries a secret and its literal text holds ``'`` or a line break."""
    literal = "".join(p for p in parts if isinstance(p, str))
    return any(isinstance(p, Ref) and _secret_bearing(p) for p in parts) and any(c in literal for c in "'\n\r")


def check_value(text: str, problem: Located) -> list[Problem]:
    """Syntax of one env value and, when it carries a secret, env-file-safe literal text."""
    try:
        parts = parse(text)
    except PlaceholderSyntaxError as exc:
        return [problem(str(exc), "")]
    return [problem(*ENV_FILE)] if env_file_unsafe(parts) else []


def check_catalog_values(cat: Catalog) -> list[Problem]:
    """Env-file safety of every catalog env value that carries a secret."""
    out: list[Problem] = []
    for svc in cat.services.values():
        pos = cat.sources[svc.name].positions
        for cname, c in svc.containers.items():
            for key, text in c.env.items():
                where = ("containers", cname, "env", key)
                try:  # syntax errors are reported by the placeholder_syntax rule
                    unsafe = env_file_unsafe(parse(text))
                except PlaceholderSyntaxError:
                    continue
                if unsafe:
                    out.append(Problem(pos.loc(where), dotted(where), *ENV_FILE))
    return out


def check_overrides(cat: Catalog, cfg: EnvConfig) -> list[Problem]:
    """Placeholders of ``services.<svc>.env`` overrides: syntax, references, env-file safety."""
    out: list[Problem] = []
    pos = cfg.env_source.positions
    for name, override in cfg.environment.services.items():
        svc = cat.services.get(name)
        if override is None or svc is None:
            continue
        for cname, values in override.env.items():
            for key, text in values.items():
                where: tuple[str | int, ...] = ("services", name, "env", cname, key)

                def located(message: str, hint: str, w: tuple[str | int, ...] = where) -> Problem:
                    return Problem(pos.loc(w), dotted(w), message, hint)

                found = check_value(text, located)
                out.extend(found)
                if not found:
                    out.extend(_references(cat, svc, text, located))
    return out


def _references(cat: Catalog, svc: Service, text: str, located: Located) -> list[Problem]:
    """The catalog's reference checks, relocated from service.yaml to the override."""
    probe = [p for part in parse(text) if isinstance(part, Ref) for p in check_ref(cat, svc, part, ())]
    return [located(p.message, p.hint) for p in probe]
