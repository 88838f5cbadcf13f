"""Hypothesis strategies that damage a valid configuration file the way careless or hostile users do.

A mutation works either on the parsed document (replace a value at a random path with a hostile
value or a wrong type, delete a key, misspell a key, add an unknown key) or on the text (duplicate
a line, add an alias bomb or a recursive alias, cut the file, drop control characters in it).
A third of the examples get a benign change instead (restyled, commented, reordered, a
neighbouring value), so accepted renders are exercised too. :func:`mutated` draws them.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import strategies as st

PathT = tuple[Any, ...]

HOSTILE_STRINGS = [
    "../../../escape", "../inventories/base", "/etc/passwd", "..", ".", "", " ", "a b", "x\ny", "x\rZ=1", "\x00",
    "\x1b[31mred", "\u202egnp.exe", "${secret:encryption_key}", "${secret:nope}", "$", "$$", "${url:nope}",
    "${store:postgres.password}", "${setting:smtp_host}", "'", '"', "`id`", "$(reboot)", ";reboot", "&&reboot",
    "x`) || HostRegexp(`.*", "a" * 300, "é", "😀", "*", "~", "null", "true", "0", "-1", "65536", "1e999", "NaN",
    "@local", "::1", "[::1]", "999.1.1.1", "0.0.0.0", "UTC", "Europe/Paris", "../../etc/passwd", "/opt/../../etc",
    "/", "/opt/zixly", "/var/run/docker.sock", "C:\\Windows", "%2e%2e%2f", "latest", "2.41.1", "n8n", "vps1",
    "ops@example.com", "a@b", "https://example.com/x", "javascript:alert(1)", "sftp:u@h:/x", "s3:https://h/b",
    "512m", "0m", "99999999999h", "30s", "03:15", "25:99", "files/app.conf", "zixly_stack.hooks.n8n:ensure_owner",
    "os:system", "VersionTLS12", "swarm", "dedicated", "dns",
]
KEYS = ["domain", "port", "host", "env", "services", "containers", "image", "target", "template", "volumes",
        "base_dir", "timezone", "hosts", "address", "user", "routes", "subdomain", "secrets", "x-extra", "<<",
        "../x", "", "DOMAIN", "n8n", "vps1"]


def scalars() -> st.SearchStrategy[Any]:
    """Hostile scalar values of every YAML type."""
    return st.one_of(
        st.sampled_from(HOSTILE_STRINGS),
        st.text(max_size=30),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from([0, 1, -1, 22, 80, 443, 65535, 65536, 10**12]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.none(),
    )


def values() -> st.SearchStrategy[Any]:
    """A scalar, or a small list/mapping of them (wrong types for most keys)."""
    return st.one_of(
        scalars(),
        st.lists(scalars(), max_size=3),
        st.dictionaries(st.sampled_from(KEYS), scalars(), max_size=3),
    )


def paths(doc: Any, at: PathT = ()) -> list[PathT]:
    """Every path of a parsed document (mapping keys and list indexes), the root excluded."""
    out: list[PathT] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append((*at, k))
            out.extend(paths(v, (*at, k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.append((*at, i))
            out.extend(paths(v, (*at, i)))
    return out


def _parent(doc: Any, path: PathT) -> Any:
    node = doc
    for part in path[:-1]:
        node = node[part]
    return node


def _misspell(key: Any, how: int) -> Any:
    text = str(key)
    if not text:
        return "x"
    i = how % len(text)
    return [text[:i] + text[i + 1:], text[:i] + text[i] + text[i:], text.upper(), text + "s"][how % 4] or "x"


@st.composite
def _tree_mutation(draw: st.DrawFn, doc: Any) -> Any:
    candidates = paths(doc)
    if not candidates:
        return draw(values())
    path = draw(st.sampled_from(candidates))
    parent = _parent(doc, path)
    key = path[-1]
    kind = draw(st.sampled_from(["replace", "replace", "replace", "delete", "misspell", "add", "wrap"]))
    if kind == "replace":
        parent[key] = draw(values())
    elif kind == "delete":
        del parent[key]
    elif kind == "misspell" and isinstance(parent, dict):
        parent[_misspell(key, draw(st.integers(0, 40)))] = parent.pop(key)
    elif kind == "add" and isinstance(parent, dict):
        parent[draw(st.sampled_from(KEYS))] = draw(values())
    else:
        parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}]))
    return doc


@st.composite
def _benign_mutation(draw: st.DrawFn, text: str) -> str:
    """A change that keeps the meaning or a plausible one: restyle, comment, reorder, a neighbouring value."""
    doc = yaml.safe_load(text)
    kind = draw(st.sampled_from(["flow", "quoted", "comment", "reorder", "neighbour", "neighbour"]))
    if kind == "flow":
        return str(yaml.safe_dump(doc, sort_keys=False, default_flow_style=True, allow_unicode=True))
    if kind == "quoted":  # every scalar quoted: "443", "true"
        return str(yaml.safe_dump(doc, sort_keys=False, default_style='"', allow_unicode=True))
    if kind == "comment":
        lines = text.splitlines(keepends=True)
        i = draw(st.integers(0, len(lines)))
        return "".join([*lines[:i], "# a comment: with ${placeholder} and 'quotes'\n", *lines[i:]])
    candidates = paths(doc)
    path = draw(st.sampled_from(candidates))
    parent = _parent(doc, path)
    key = path[-1]
    if kind == "reorder" and isinstance(parent[key], dict):
        parent[key] = dict(reversed(list(parent[key].items())))
    elif isinstance(parent[key], bool):
        parent[key] = not parent[key]
    elif isinstance(parent[key], int):
        parent[key] = draw(st.integers(1, 1000))
    elif isinstance(parent[key], str):
        parent[key] = parent[key] + draw(st.sampled_from(["2", "-x", "0", ".1", "a"]))
    return _dump(doc)


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)


@st.composite
def _text_mutation(draw: st.DrawFn, text: str) -> str:
    lines = text.splitlines(keepends=True) or [""]
    kind = draw(st.sampled_from(["duplicate", "bomb", "recursive", "cut", "control", "alias"]))
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "duplicate":
        return "".join([*lines[: i + 1], lines[i], *lines[i + 1:]])
    if kind == "bomb":
        bomb = "x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
            f"x{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]\n" for n in range(1, 9))
        return text + bomb
    if kind == "recursive":
        return text + "loop: &loop [*loop]\n"
    if kind == "cut":
        return text[: draw(st.integers(0, len(text)))]
    if kind == "alias":  # an anchor on the first top-level value, reused under a new key
        first = next((n for n, line in enumerate(lines) if line and not line[0].isspace() and ":" in line), None)
        if first is None:
            return text
        key, _, rest = lines[first].partition(":")
        lines[first] = f"{key}: &first{rest}" if rest.strip() else f"{key}: &first\n"
        return "".join(lines) + "again: *first\n"
    char = draw(st.sampled_from(["\x00", "\t", "\r", "\x1b", "\u2028", "\ufeff", "\x7f", "'", '"', "&", "*", "!"]))
    pos = draw(st.integers(0, len(text)))
    return text[:pos] + char + text[pos:]


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """``text`` (a valid YAML document without aliases) after zero to two changes of its parsed document and,
    last (so no alias is ever walked here), zero or one change of its text; at least one change in all."""
    if draw(st.integers(0, 2)) == 0:
        return draw(_benign_mutation(text))
    changes = draw(st.integers(0, 2))
    for _ in range(changes):
        doc = yaml.safe_load(text)
        if doc is None:
            break
        text = _dump(draw(_tree_mutation(doc)))
    if changes == 0 or draw(st.booleans()):
        text = draw(_text_mutation(text))
    return text
