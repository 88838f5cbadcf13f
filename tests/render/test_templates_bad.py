"""Catalog templates: what validate accepts, render renders; no template reads outside its directory.

Each case gives the crm web container of the mini repo ``files: [{template: app.conf, ...}]``
and a hostile ``services/crm/app.conf`` (or a symlink in its place). ``render`` must refuse with
the exact located message (exit 2, nothing written, repo unchanged), ``validate`` must report the
same, and none of it may take longer than the template deadline.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import zixly
from zixly_stack.catalog import templates

from .conftest import checksum

T = "services/crm/app.conf"
WHERE = "containers.web.files[0].template"
SEE = "(templates see env, domain, service, url(svc), host(svc) and setting(name))"
CASES: list[tuple[str, str, list[str]]] = [
    ("undefined-variable", "a\nb {{ domain }}\nc {{ nope }}\n",
     [f"{T}:3:1: {WHERE}: template: 'nope' is undefined {SEE}"]),
    ("syntax-error", "a\n{% if %}\n", [f"{T}:2:1: {WHERE}: template syntax: Expected an expression, got 'end of "
                                       f"statement block' {SEE}"]),
    ("unclosed-block", "a\nb\n{% if env %}\n",
     [f"{T}:3:1: {WHERE}: template syntax: Unexpected end of template. Jinja was looking for the following tags: "
      f"'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'. {SEE}"]),
    ("unknown-setting", "{{ setting('password') }}\n",
     [f"{T}:1:1: {WHERE}: template: setting('password') does not exist; settings: domain, env, timezone, "
      f"admin_email, smtp_host, smtp_port, smtp_from, smtp_starttls {SEE}"]),
    ("sandbox-escape", "{{ ''.__class__.__mro__ }}\n",
     [f"{T}:1:1: {WHERE}: template: access to attribute '__class__' of 'str' object is unsafe. {SEE}"]),
    ("huge-power", "{{ ((9 ** 60) ** 60) ** 60 }}\n",
     [f"{T}:1:1: {WHERE}: template: a power of more than 65536 bits {SEE}"]),
    ("huge-repeat", "{{ 'x' * 1000000000 }}\n",
     [f"{T}:1:1: {WHERE}: template: repeating a sequence past 100000 items {SEE}"]),
    ("division-by-zero", "{{ 1 / 0 }}\n", [f"{T}:1:1: {WHERE}: template: ZeroDivisionError: division by zero {SEE}"]),
    ("endless-recursion", "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}\n",
     [f"{T}:1:1: {WHERE}: template: RecursionError: maximum recursion depth exceeded "
      f"(a macro or include calls itself) {SEE}"]),
    ("output-too-large", "{% for i in range(99999) %}{{ 'x' * 99999 }}{% endfor %}\n",
     [f"{T}:1:1: {WHERE}: template: output larger than 262144 bytes {SEE}"]),
    ("not-utf8", "\udcff", [f"{T}:1:1: {WHERE}: template is not UTF-8 text"]),
]
LINKS: list[tuple[str, str, list[str]]] = [
    ("symlink-to-etc-passwd", "/etc/passwd",
     ["services/crm/service.yaml:19:24: containers.web.files[0].template: template 'app.conf' leads outside "
      "services/crm/ (to /etc/passwd) (looked in services/crm/ and templates/)"]),
    ("symlink-up-and-out", "../../../../../../../../etc/hostname",
     ["services/crm/service.yaml:19:24: containers.web.files[0].template: template 'app.conf' leads outside "
      "services/crm/ (to /etc/hostname) (looked in services/crm/ and templates/)"]),
]


def _use_template(repo: Path) -> None:
    svc = repo / "services" / "crm" / "service.yaml"
    text = svc.read_text()
    old = "    routes: [{subdomain: crm, port: 80}]\n"
    assert old in text
    svc.write_text(text.replace(old, old + "    files: [{template: app.conf, target: /etc/app.conf}]\n", 1))


def _check(repo: Path, tmp_path: Path, expected: list[str]) -> None:
    before = checksum(repo)
    out = tmp_path / "out"
    for argv in (["render", "base", "--out", str(out)], ["validate", "base"]):
        result = zixly(*argv, root=repo)
        assert result.code == 2, result.stderr
        assert result.stderr.rstrip("\n").split("\n") == [*expected, "1 error in configuration; nothing was written"]
    assert not out.exists()
    assert checksum(repo) == before


@pytest.mark.parametrize(("case_id", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_template(git_repo: Path, tmp_path: Path, case_id: str, text: str, expected: list[str]) -> None:
    _use_template(git_repo)
    (git_repo / T).write_bytes(text.encode("utf-8", "surrogateescape"))
    _check(git_repo, tmp_path, expected)


@pytest.mark.parametrize(("case_id", "target", "expected"), LINKS, ids=[c[0] for c in LINKS])
def test_template_symlink_out_of_its_directory(git_repo: Path, tmp_path: Path, case_id: str, target: str,
                                               expected: list[str]) -> None:
    _use_template(git_repo)
    (git_repo / T).symlink_to(target)
    _check(git_repo, tmp_path, expected)


def test_nested_loops_stop_at_the_deadline(git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A template that computes forever is refused after the deadline (shortened here)."""
    monkeypatch.setattr(templates, "DEADLINE_S", 0.5)
    _use_template(git_repo)
    (git_repo / T).write_text("{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}\n")
    _check(git_repo, tmp_path, [f"{T}:1:1: {WHERE}: template: still computing after 0.5s {SEE}"])


def test_a_good_template_renders_with_its_variables(git_repo: Path, tmp_path: Path) -> None:
    _use_template(git_repo)
    (git_repo / T).write_text("{{ env }} {{ domain }} {{ service }} {{ url('n8n') }} {{ host('crm') }} "
                              "{{ setting('timezone') }}\n")
    out = tmp_path / "out"
    assert zixly("validate", "base", root=git_repo).code == 0
    result = zixly("render", "base", "--out", str(out), root=git_repo)
    assert result.code == 0, result.stderr
    assert (out / "vps1" / "crm" / "files" / "web" / "app.conf").read_text() == (
        "base example.com crm https://n8n.example.com crm.example.com UTC\n")


def test_shared_templates_resolve_under_templates(git_repo: Path, tmp_path: Path) -> None:
    _use_template(git_repo)
    (git_repo / "templates").mkdir()
    (git_repo / "templates" / "app.conf").write_text("shared {{ service }}\n")
    assert zixly("render", "base", "--out", str(tmp_path / "o"), root=git_repo).code == 0
    os.remove(git_repo / "templates" / "app.conf")
    (git_repo / "templates" / "app.conf").symlink_to("/etc/passwd")
    result = zixly("validate", "base", root=git_repo)
    assert result.code == 2
    assert "template 'app.conf' leads outside templates/ (to /etc/passwd)" in result.stderr
