"""Secrets out of every message: the one place a URL (or a text holding URLs) passes through on its way out.

Userinfo (`user:password@`) and the usual secret query parameters (`apikey`, `token`, `signature`…) become
`***`. Exceptions (errors.py), logs (a filter on the handler), reports, errors.jsonl, the state store's run
summaries and every `--json` output go through it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"

# Query parameter (or `key=value` in free text) names whose value is a secret; compared lower-case, `-` as `_`.
SECRET_PARAMS = frozenset(
    {
        "apikey",
        "api_key",
        "key",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth",
        "authorization",
        "signature",
        "sig",
        "password",
        "passwd",
        "pwd",
        "secret",
        "client_secret",
        "app_token",
        "x_api_key",
        "x_app_token",
        "session",
        "sessionid",
        "jwt",
        "x_amz_signature",
        "x_amz_credential",
        "x_amz_security_token",
        "x_goog_signature",
        "private_token",
    }
)

# scheme://user:password@host  or  scheme://token@host
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^\s/?#@'\"<>]+)@")
# name=value in a query string or in free text (`?apikey=…&token=…`, `token=… `)
_PARAM = re.compile(
    r"(?P<lead>[?&;\s,({\"']|^)(?P<name>[A-Za-z][\w.-]{0,40})=(?P<value>[^&#\s\"'<>,;)}\]\\]+)"
)
# `Authorization: Bearer xyz` or `"Authorization": "xyz"` in a message
_HEADER = re.compile(
    r"(?P<name>\b(?:authorization|x-api-key|x-app-token|x-ckan-api-key)\b[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>(?:bearer\s+|token\s+|basic\s+)?[^\s\"',}]+)",
    re.IGNORECASE,
)


def _is_secret(name: str) -> bool:
    return name.lower().replace("-", "_") in SECRET_PARAMS


def _param(m: re.Match[str]) -> str:
    if not _is_secret(m.group("name")) or m.group("value") == MASK:
        return m.group(0)
    return f"{m.group('lead')}{m.group('name')}={MASK}"


def redact(text: str) -> str:
    """`text` with userinfo, secret query parameters and auth headers replaced by ***."""
    if not text or ("=" not in text and "@" not in text and ":" not in text):
        return text
    out = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    out = _PARAM.sub(_param, out)
    return _HEADER.sub(lambda m: f"{m.group('name')}{MASK}", out)


def without_userinfo(url: str | None) -> str | None:
    """The URL without its `user:password@` part: what the catalogue keeps and republishes (credentials belong
    in the source's config, which the listing requests use; a link shown to CKAN's users never carries them)."""
    if not url or "@" not in url:
        return url
    return _USERINFO.sub(lambda m: m.group("scheme"), url, count=1)


def redact_url(url: str | None) -> str | None:
    """The URL as it may be shown (None stays None)."""
    return None if url is None else redact(url)


def redact_obj(obj: Any) -> Any:
    """A JSON-like value (dicts, lists, strings) with every string redacted; other values unchanged."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_obj(v) for v in obj]
    return obj


class RedactFilter(logging.Filter):
    """Safety net on the log handlers: the formatted message and the structured fields, redacted."""

    FIELDS = ("url", "error", "source_url")

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call: leave it to the formatter to complain
            return True
        record.msg, record.args = redact(message), None
        for name in self.FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, redact(value))
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def stored_form(text: str) -> str:
    """What a state store may keep of a URL or request key: unchanged without secret, else redacted with a
    digest of the original (still unique, and comparable with the stored form of the next run's)."""
    shown = redact(text)
    if shown == text:
        return text
    import hashlib

    return f"{shown} #{hashlib.sha256(text.encode()).hexdigest()[:16]}"
