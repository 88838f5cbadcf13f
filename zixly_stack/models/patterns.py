"""Words for the regex patterns of model fields: what ``expected ...`` says in an error message
and what the reference docs say a key takes."""

from __future__ import annotations

PATTERN_HINTS = {
    "^[0-9]+(k|m|g)$": "a size such as 512m or 2g",
    "^[0-9]+(ms|s|m|h)$": "a duration such as 30s or 5m",
    "localhost": "a lowercase DNS name such as example.com",
    "^[a-z][a-z0-9-]{0,30}[a-z0-9]$": "lowercase letters, digits and '-', starting with a letter",
    "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$": "a DNS label: lowercase letters, digits and '-'",
    "^/([A-Za-z0-9_~-][A-Za-z0-9._~-]*/?)*$": (
        "a path prefix such as /api/: segments of letters, digits, '.', '_', '~', '-', no '..' or '//'"
    ),
    "^/": "an absolute path starting with '/'",
    "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$": "an image tag such as 1.2.3",
    "^https?://": "an http(s):// URL",
    "@": "an e-mail address",
    "^sha256:": "a digest sha256:<64 hex digits>",
    "^([01][0-9]|2[0-3]):[0-5][0-9]$": "a time of day HH:MM",
    "^zixly_stack": "a hook function such as zixly_stack.hooks.n8n:ensure_owner",
    "^[a-z0-9][a-z0-9._/:-]*[a-z0-9]$": "an image repository such as n8nio/n8n or registry.example.com/team/app",
}


def pattern_hint(pattern: str) -> str:
    """``expected <words>`` for a regex pattern (known patterns in words, others as the regex)."""
    for key, text in PATTERN_HINTS.items():
        if pattern == key or key in pattern:
            return f"expected {text}"
    return f"expected to match {pattern}"
