"""Bounded field types: every configuration string that reaches a file, a path, a rule or a shell.

Each type is ``Annotated[str, AfterValidator(check)]``. A check returns the value or raises
:func:`refuse` (a :class:`pydantic_core.PydanticCustomError` of type ``zixly`` carrying
``message`` and ``hint``; :mod:`zixly_stack.config.problems` turns it into a located problem).
Each check carries what it accepts, in words (:func:`accepts`); the configuration reference
prints that, so the docs say exactly what the validator does.

Rules shared by all of them: no control characters (C0, DEL, C1, line/paragraph separators,
bidirectional overrides), a length limit, and for paths: absolute or relative as stated,
already normalized (no ``.``/``..`` component, no ``//``), portable characters only.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import zoneinfo
from collections.abc import Callable
from functools import cache
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from .names import name_problem

Check = Callable[[str], str]
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_TAB = re.compile(r"\t")


def refuse(message: str, hint: str = "") -> PydanticCustomError:
    """The error every bounded type raises: ``message`` says what is wrong, ``hint`` what is expected."""
    return PydanticCustomError("zixly", "{message}", {"message": message, "hint": hint})


def control_problem(value: str, *, tab_ok: bool = False) -> str | None:
    """``"contains a newline at offset 3"`` (or another control character), or ``None``."""
    found = CONTROL.search(value) or (None if tab_ok else _TAB.search(value))
    if found is None:
        return None
    char = found.group(0)
    names = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL byte"}
    return f"contains {names.get(char, f'the control character U+{ord(char):04X}')} at offset {found.start()}"


def accepting(words: str) -> Callable[[Check], Check]:
    """Record what a check accepts, in words (the configuration reference prints it)."""

    def mark(check: Check) -> Check:
        check.accepts = words  # type: ignore[attr-defined]
        return check

    return mark


def accepts(check: object) -> str:
    """What ``check`` accepts, in words, or ``""``."""
    return str(getattr(check, "accepts", ""))


def short(value: str) -> str:
    """``repr`` of a value for a message, cut at 80 characters."""
    return repr(value if len(value) <= 80 else value[:77] + "...")


def one_line(max_length: int) -> Check:
    """A check for one line of free text of at most ``max_length`` characters."""

    @accepting(f"one line, at most {max_length} characters")
    def check(value: str) -> str:
        bad = control_problem(value)
        if bad:
            raise refuse(f"text {bad}", "one line of text without control characters")
        if len(value) > max_length:
            raise refuse(f"{len(value)} characters is too long", f"at most {max_length} characters")
        return value

    return check


def matching(regex: str, hint: str, max_length: int = 255) -> Check:
    """A check for strings matching ``regex`` entirely (and at most ``max_length`` long)."""
    compiled = re.compile(regex)

    @accepting(hint)
    def check(value: str) -> str:
        if len(value) > max_length:
            raise refuse(f"{short(value)} is too long: {len(value)} characters", f"at most {max_length} characters")
        if compiled.fullmatch(value) is None:
            raise refuse(f"invalid value {short(value)}", f"expected {hint}")
        return value

    return check


Text = Annotated[str, AfterValidator(one_line(1000))]
ShortText = Annotated[str, AfterValidator(one_line(256))]


# -- names -------------------------------------------------------------------------------

@accepting("a DNS label: lowercase letters, digits and '-', 1-63 characters")
def _host_name(value: str) -> str:
    bad = name_problem(value, "host")
    if bad is not None:
        raise refuse(*bad)
    return value


HostName = Annotated[str, AfterValidator(_host_name)]
EnvVarName = Annotated[str, AfterValidator(matching(
    r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name: letters, digits and '_', not starting with a digit, "
    "no spaces or '='", 128))]
Identifier = Annotated[str, AfterValidator(matching(
    r"[a-z][a-z0-9_]{0,62}", "a lowercase identifier: letters, digits and '_', starting with a letter"))]
UnixUser = Annotated[str, AfterValidator(matching(
    r"[a-z_][a-z0-9_-]{0,31}", "a Unix user name such as deploy: lowercase letters, digits, '_' and '-'"))]
ContainerUser = Annotated[str, AfterValidator(matching(
    r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?",
    "a user[:group] name or number such as 1000:1000"))]
NodeLabelKey = Annotated[str, AfterValidator(matching(
    r"[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?", "a label key: lowercase letters, digits, '.', '_' and '-'", 63))]
NodeLabelValue = Annotated[str, AfterValidator(matching(
    r"[A-Za-z0-9._:/@+-]{0,128}", "a label value: letters, digits and . _ : / @ + -", 128))]
DnsProvider = Annotated[str, AfterValidator(matching(
    r"[a-z0-9][a-z0-9-]{0,31}", "a lego DNS provider code such as cloudflare or route53", 32))]
ContentType = Annotated[str, AfterValidator(matching(
    r"[a-z]+/[A-Za-z0-9.+-]+(; ?[a-z]+=[A-Za-z0-9._-]+)?", "a media type such as application/json"))]
Tmpfs = Annotated[str, AfterValidator(matching(
    r"(/[A-Za-z0-9._@+-]+)+(:[a-z0-9=,]+)?", "an absolute path, optionally ':' and options such as /tmp:size=64m"))]
Registry = Annotated[str, AfterValidator(matching(
    r"[a-z0-9]([a-z0-9.-]{0,252}[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?)*",
    "a registry host[:port][/path] such as registry.example.com:5000/mirror"))]
Duration = Annotated[str, AfterValidator(matching(
    r"[0-9]{1,6}(ms|s|m|h)", "a duration such as 30s or 5m, at most six digits", 8))]
Seconds = Annotated[str, AfterValidator(matching(
    r"[0-9]{1,6}s", "a number of seconds such as 3600s, at most six digits", 8))]
# restic's repository string reaches the backup script: URL characters only, no quotes, spaces or '$'
RepoUrl = Annotated[str, AfterValidator(matching(
    r"(sftp|s3|https?|rest):[A-Za-z0-9@:/._~%+=,-]+",
    "a restic repository such as sftp:backup@host:/srv/restic or s3:https://host/bucket, without spaces, quotes or '$'",
    1024))]
Arg = Annotated[str, AfterValidator(matching(
    r"[^\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]*",
    "a command argument: tabs and newlines allowed, no other control characters", 65536))]


# -- addresses ---------------------------------------------------------------------------

_DNS_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS = re.compile(rf"(?=.{{1,253}}$)({_DNS_LABEL}\.)*{_DNS_LABEL}")


def is_host_name(value: str) -> bool:
    """A DNS host name (letters, digits, '-' in labels of at most 63, at most 253 in all), not all digits."""
    return _DNS.fullmatch(value.removesuffix(".")) is not None and not re.fullmatch(r"[0-9.]+", value)


def is_ip(value: str) -> bool:
    """An IPv4 or IPv6 address (no brackets)."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


@accepting("an IPv4 address, or an IPv6 address in brackets such as [::1]")
def _ip(value: str) -> str:
    inner = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    if not is_ip(inner) or "%" in inner:
        raise refuse(f"invalid IP address {short(value)}",
                     "expected an IPv4 address such as 127.0.0.1, or an IPv6 address such as [::1]")
    if (inner != value) != (":" in inner):
        raise refuse(f"invalid IP address {short(value)}", "write an IPv6 address in brackets, an IPv4 one without")
    return value


@accepting("a host name or an IP address")
def _host_or_ip(value: str) -> str:
    if not (is_ip(value) or is_host_name(value)) or "%" in value:
        raise refuse(f"invalid host {short(value)}", "expected a host name such as smtp.example.com or an IP address")
    return value


IpAddress = Annotated[str, AfterValidator(_ip)]
HostOrIp = Annotated[str, AfterValidator(_host_or_ip)]
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9_%+-]+(\.[A-Za-z0-9_%+-]+)*")


@accepting("an e-mail address such as ops@example.com")
def _email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    ok = (at and len(local) <= 64 and _EMAIL_LOCAL.fullmatch(local) and is_host_name(domain)
          and "." in domain.strip(".") and len(value) <= 254)
    if not ok:
        raise refuse(f"invalid e-mail address {short(value)}", "expected an address such as ops@example.com")
    return value


Email = Annotated[str, AfterValidator(_email)]
_URL = re.compile(r"(?P<scheme>https?)://(?P<host>\[[0-9a-fA-F:.]+\]|[^/:?#\[\]@]+)(:(?P<port>[0-9]{1,5}))?"
                  r"(?P<rest>[/?#][A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]*)?")


@accepting("an http(s):// URL with a host name")
def _http_url(value: str) -> str:
    m = _URL.fullmatch(value)
    ok = m is not None and len(value) <= 2048 and (
        is_host_name(m.group("host")) or is_ip(m.group("host").strip("[]"))) and 1 <= int(m.group("port") or 1) <= 65535
    if not ok:
        raise refuse(f"invalid URL {short(value)}",
                     "expected an http(s):// URL with a host name, no spaces, quotes or control characters")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


@accepting("an IANA time zone name such as Australia/Brisbane or UTC")
def _timezone(value: str) -> str:
    shaped = re.fullmatch(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}", value) is not None
    if not shaped or value not in _zones():
        close = difflib.get_close_matches(value, sorted(_zones()), n=1, cutoff=0.8) if shaped else []
        hint = f"did you mean {close[0]!r}?" if close else "expected an IANA time zone name such as Europe/Paris or UTC"
        raise refuse(f"unknown time zone {short(value)}", hint)
    return value


TimeZone = Annotated[str, AfterValidator(_timezone)]


# -- paths -------------------------------------------------------------------------------

_COMPONENT = re.compile(r"[A-Za-z0-9._@+-]+")
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin",
                "/sys", "/usr")
SYSTEM_DIRS = ("/", "/home", "/media", "/mnt", "/opt", "/root", "/srv", "/tmp", "/var", "/var/lib", "/var/tmp",
               "/var/backups", "/var/log", "/usr/local")


def path_problem(value: str, *, absolute: bool) -> str | None:
    """Why ``value`` is not a normalized absolute (or relative) path of portable characters, or ``None``."""
    if not value:
        return "empty path"
    if absolute != value.startswith("/"):
        return "not an absolute path" if absolute else "an absolute path where a relative one is expected"
    if len(value) > 255:
        return f"path of {len(value)} characters is too long"
    if value == "/":
        return None
    if value.endswith("/") or "//" in value:
        return "path is not normalized: empty component or trailing '/'"
    for part in value.removeprefix("/").split("/"):
        if part in (".", ".."):
            return f"path contains {part!r}"
        if not _COMPONENT.fullmatch(part):
            return f"component {short(part)} has characters other than letters, digits and . _ @ + -"
    return None


@accepting("an absolute, normalized path without '..', spaces or quotes")
def _abs_path(value: str) -> str:
    bad = path_problem(value, absolute=True)
    if bad:
        raise refuse(f"invalid path {short(value)}: {bad}",
                     "expected an absolute, normalized path such as /var/lib/data, without '..', spaces or quotes")
    return value


@accepting("an absolute, normalized path other than '/'")
def _target(value: str) -> str:
    _abs_path(value)
    if value == "/":
        raise refuse("invalid path '/': a mount target cannot be the root", "expected a path such as /data")
    return value


@accepting("an absolute, normalized directory of its own, not '/', /etc, /usr, /var ...")
def _host_dir(value: str) -> str:
    _abs_path(value)
    tree = next((t for t in SYSTEM_TREES if value == t or value.startswith(t + "/")), None)
    if tree or value in SYSTEM_DIRS:
        where = f"under {tree}" if tree and tree != value else "a system directory"
        raise refuse(f"{value!r} is {where}", "use a directory of its own such as /opt/zixly or /srv/zixly")
    return value


@accepting("a relative, normalized path without '..'")
def _rel_path(value: str) -> str:
    bad = path_problem(value, absolute=False)
    if bad:
        raise refuse(f"invalid path {short(value)}: {bad}",
                     "expected a relative path such as files/nginx.conf, without '..'")
    return value


AbsPath = Annotated[str, AfterValidator(_abs_path)]
MountTarget = Annotated[str, AfterValidator(_target)]
HostDir = Annotated[str, AfterValidator(_host_dir)]
RelPath = Annotated[str, AfterValidator(_rel_path)]


# -- values ------------------------------------------------------------------------------

@accepting("one line, tabs allowed, at most 16384 characters")
def _env_value(value: str) -> str:
    bad = control_problem(value, tab_ok=True)
    if bad:
        raise refuse(f"value {bad}", "an environment value is one line; remove the control character")
    if len(value) > 16384:
        raise refuse(f"value of {len(value)} characters is too long", "at most 16384 characters")
    return value


EnvValue = Annotated[str, AfterValidator(_env_value)]
