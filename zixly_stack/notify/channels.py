"""An environment's notification channels: checked, resolved with their secrets, shown masked.

Contract:

* :func:`check` (pure, at load time) finds every problem of ``notifications`` with its key
  path: duplicate names, unknown events (with a did-you-mean), URL placeholders other than
  ``${secret:notify.<name>}``, a password written into a URL, a URL that is no URL.
* :func:`declared` lists the channels, the older ``webhook``/``email_to`` settings mapped
  onto channels named ``webhook``/``email`` that take every event (:func:`legacy_webhook_url`,
  :func:`legacy_email_url`).
* :func:`resolve` turns them into :class:`Target` s with the full URL as a :class:`Secret`
  (every placeholder filled from the store; a missing one is a :class:`SecretsError` naming
  it) plus Apprise's socket timeouts (``cto``/``rto``) from the channel's ``timeout_s``.
* A channel is only ever shown by :meth:`Target.label` (its name and scheme, plus the host of
  URL schemes whose host is not a token); the URL never reaches output, logs or errors.
* :func:`apprise_config` is the 0600 file the hosts' ``apprise`` CLI reads (one
  ``name=url`` line per channel: Apprise's TEXT configuration with the name as tag).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..catalog.placeholders import PlaceholderSyntaxError, Ref, parse, refs
from ..config.problems import did_you_mean
from ..errors import SecretsError
from ..models.environment import Environment, Smtp
from ..models.notify import Channel
from ..secrets.value import Secret
from .events import EVENTS, known_pattern, matches, rank


class SecretSource(Protocol):
    """Where :func:`notification_secrets` reads values: the secrets store (``get`` -> None when unset)."""

    def get(self, name: str) -> Secret | None: ...


SECRET_PREFIX = "notify."
_SCHEME = re.compile(r"^[a-z][a-z0-9+]{1,31}://\S+$")
# schemes whose host part is a server name, not a token (safe to show)
HOST_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls", "ntfy", "ntfys", "mmost", "mmosts",
                          "mailto", "mailtos", "gotify", "gotifys", "rocket", "rockets", "matrix", "matrixs"})


@dataclass(frozen=True)
class Problem:
    """A problem of one channel setting: key path below ``notifications`` and the message."""

    path: tuple[str | int, ...]
    message: str
    hint: str = ""


def _url_problems(url: str) -> list[tuple[str, str]]:
    try:
        parts = parse(url)
    except PlaceholderSyntaxError as exc:
        return [(str(exc), "write ${secret:notify.NAME} for a value from the secrets store")]
    out = []
    for r in [p for p in parts if isinstance(p, Ref)]:
        if r.kind != "secret" or not r.arg.startswith(SECRET_PREFIX) or r.arg == SECRET_PREFIX:
            out.append((f"placeholder {r} is not allowed here",
                        "only ${secret:notify.NAME}: a secret you set with `zixly secrets set ENV notify.NAME`"))
    if out:
        return out
    if len(parts) == 1 and isinstance(parts[0], Ref):
        return []  # the whole URL is a secret
    marked = "".join(p if isinstance(p, str) else "\0" for p in parts)  # \0: a secret's place
    if not _SCHEME.match(marked.replace("\0", "x")):
        return [("not an Apprise URL",
                 "scheme://..., e.g. mailto://, slack://, ntfy://, json:// (docs/notifications.md)")]
    netloc = re.split(r"[/?#]", marked.split("://", 1)[1], maxsplit=1)[0]
    userinfo = netloc.rpartition("@")[0]
    if ":" in userinfo and "\0" not in userinfo.partition(":")[2]:
        return [("a password written into the URL",
                 "put it in the secrets store: user:${secret:notify.NAME}@host, "
                 "then `zixly secrets set ENV notify.NAME`")]
    return []


def check(env: Environment) -> list[Problem]:
    """Every problem of the environment's ``notifications`` (see the module contract)."""
    out: list[Problem] = []
    names = {c.name for c in legacy(env)}
    ids = [e.id for e in EVENTS]
    for i, ch in enumerate(env.notifications.channels):
        base: tuple[str | int, ...] = ("channels", i)
        if ch.name in names:
            why = " (the older webhook/email_to settings use it)" if ch.name in ("webhook", "email") else ""
            out.append(Problem((*base, "name"), f"channel name {ch.name!r} is used twice{why}",
                               "give every channel its own name"))
        names.add(ch.name)
        for j, pattern in enumerate(ch.events):
            if not known_pattern(pattern):
                hint = did_you_mean(pattern, ids) or "`zixly notify events` lists them"
                out.append(Problem((*base, "events", j), f"no event matches {pattern!r}", hint))
        for message, hint in _url_problems(ch.url):
            out.append(Problem((*base, "url"), message, hint))
    if env.notifications.email_to and env.smtp is None:
        out.append(Problem(("email_to",), "email_to needs the environment's smtp settings",
                           "add smtp: {host: ..., from: ...}, or use a mailto:// channel"))
    return out


def secret_names(env: Environment) -> list[str]:
    """Names of the store's secrets the channels' URLs use."""
    found = {r.arg for ch in env.notifications.channels for r in _safe_refs(ch.url) if r.kind == "secret"}
    return sorted(found)


def notification_secrets(env: Environment, env_name: str, store: SecretSource) -> dict[str, Secret]:
    """The secrets the notification channels' URLs name, from *store*. They are never generated: a
    missing one is a :class:`SecretsError` that says how to set it (nothing is changed)."""
    names = secret_names(env)
    found = {n: store.get(n) for n in names}
    missing = [n for n, v in found.items() if v is None]
    if missing:
        raise SecretsError(
            f"{env_name}: notification channels use {', '.join(missing)}, not in the secrets store; set "
            + ("each" if len(missing) > 1 else "it") + f" with `zixly secrets set {env_name} NAME` (the value is "
            "read from stdin or a hidden prompt). Nothing was written."
        )
    return {n: v for n, v in found.items() if v is not None}


def stand_in_secrets(env: Environment) -> dict[str, Secret]:
    """Stand-in values for :func:`secret_names` (``zixly validate`` renders without the store):
    a whole URL where a secret is the whole URL, a word where it is a part of one."""
    whole = {ch.url[len("${secret:"):-1] for ch in env.notifications.channels
             if ch.url.startswith("${secret:") and ch.url.endswith("}") and ch.url.count("${") == 1}
    return {n: Secret("json://localhost/validate" if n in whole else "validate") for n in secret_names(env)}


def _safe_refs(url: str) -> list[Ref]:
    try:
        return refs(url)
    except PlaceholderSyntaxError:
        return []


def legacy_webhook_url(url: str) -> str:
    """The Apprise URL for the older ``webhook`` setting (a Slack-compatible incoming webhook).

    Slack and Discord webhooks map onto their Apprise services; ``.../hooks/<token>``
    (Mattermost, and what speaks its API) onto ``mmost(s)://``, which posts the same
    ``{"text": ...}`` body; any other URL onto ``json(s)://``, which posts Apprise's JSON
    (``title``, ``message``, ``type``): write a channel for such an endpoint.
    """
    u = urlsplit(url)
    secure = u.scheme == "https"
    host = (u.hostname or "") + (f":{u.port}" if u.port else "")
    parts = [p for p in u.path.split("/") if p]
    if u.hostname == "hooks.slack.com" and len(parts) == 4 and parts[0] == "services":
        return "slack://" + "/".join(parts[1:])
    if u.hostname in ("discord.com", "discordapp.com") and len(parts) >= 4 and parts[:2] == ["api", "webhooks"]:
        return f"discord://{parts[2]}/{parts[3]}"
    if len(parts) >= 2 and parts[-2] == "hooks":
        prefix = "/".join(parts[:-2])
        return f"mmost{'s' if secure else ''}://{host}/{prefix + '/' if prefix else ''}{parts[-1]}"
    query = f"?{u.query}" if u.query else ""
    return f"json{'s' if secure else ''}://{host}{u.path or '/'}{query}"


def legacy_email_url(smtp: Smtp, to: list[str]) -> str:
    """The Apprise ``mailto(s)://`` URL for ``email_to`` through the environment's SMTP relay."""
    tls = {"mode": "starttls"} if smtp.starttls else {}
    query = urlencode({"from": smtp.from_address, "to": ",".join(to), "format": "text", **tls})
    return f"mailto{'s' if smtp.starttls else ''}://{smtp.host}:{smtp.port}?{query}"


def legacy(env: Environment) -> list[Channel]:
    """The older ``webhook`` / ``email_to`` settings as channels taking every event."""
    out: list[Channel] = []
    n = env.notifications
    if n.webhook:
        out.append(Channel(name="webhook", url=legacy_webhook_url(n.webhook)))
    if n.email_to and env.smtp is not None:
        out.append(Channel(name="email", url=legacy_email_url(env.smtp, list(n.email_to))))
    return out


def declared(env: Environment) -> list[Channel]:
    """The environment's channels, the older settings mapped onto channels first."""
    return legacy(env) + list(env.notifications.channels)


def accepts(patterns: Sequence[str], min_severity: str, event_id: str, severity: str) -> bool:
    """A channel takes an event when a pattern matches it and its severity reaches the channel's
    minimum -- or when the channel names the event itself (``events: [digest.daily]``)."""
    if not any(matches(p, event_id) for p in patterns):
        return False
    return rank(severity) >= rank(min_severity) or event_id in patterns


@dataclass(frozen=True)
class Target:
    """A channel ready to send: its full URL (a Secret) and its filters."""

    name: str
    url: Secret
    scheme: str
    host: str
    events: tuple[str, ...]
    min_severity: str
    timeout_s: float

    def accepts(self, event_id: str, severity: str) -> bool:
        """See :func:`accepts`."""
        return accepts(self.events, self.min_severity, event_id, severity)

    def label(self) -> str:
        """``name (scheme://host)`` -- never the URL itself."""
        where = f"{self.scheme}://{self.host}" if self.host else f"{self.scheme}://…"
        return f"{self.name} ({where})"


def with_timeouts(url: str, timeout_s: float) -> str:
    """*url* with Apprise's connect/read timeouts (``cto``/``rto``) unless it sets them itself."""
    u = urlsplit(url)
    query = parse_qsl(u.query, keep_blank_values=True)
    have = {k for k, _ in query}
    extra = [(k, f"{timeout_s:g}") for k in ("cto", "rto") if k not in have]
    return urlunsplit((u.scheme, u.netloc, u.path, urlencode([*query, *extra]), u.fragment))


def _fill(ch: Channel, secrets: Mapping[str, Secret], env_name: str) -> str:
    out = []
    for part in parse(ch.url):
        if isinstance(part, str):
            out.append(part)
            continue
        value = secrets.get(part.arg)
        if value is None:
            raise SecretsError(f"notification channel {ch.name!r} uses the secret {part.arg}, which is not in "
                               f"{env_name}'s store: set it with `zixly secrets set {env_name} {part.arg}` "
                               "(nothing was changed)")
        out.append(value.reveal())
    return "".join(out)


def resolve(env: Environment, secrets: Mapping[str, Secret], env_name: str) -> list[Target]:
    """Every channel as a :class:`Target` (see the module contract)."""
    targets = []
    for ch in declared(env):
        url = _fill(ch, secrets, env_name)
        if not _SCHEME.match(url):
            raise SecretsError(f"notification channel {ch.name!r}: its URL (from the secrets store) is not an Apprise "
                               "URL on one line (scheme://...); fix it with `zixly secrets set`")
        scheme = url.split("://", 1)[0]
        host = (urlsplit(url).hostname or "") if scheme in HOST_SCHEMES else ""
        targets.append(Target(ch.name, Secret(with_timeouts(url, ch.timeout_s)), scheme, host, tuple(ch.events),
                              ch.min_severity, ch.timeout_s))
    return targets


def apprise_config(targets: list[Target]) -> str:
    """Apprise's TEXT configuration: ``name=url`` per channel (the name is the tag ``apprise -g`` selects)."""
    lines = ["# Rendered by zixly: the environment's notification channels (Apprise URLs). Secret: mode 0600."]
    lines += [f"{t.name}={t.url.reveal()}" for t in targets]
    return "\n".join(lines) + "\n"
