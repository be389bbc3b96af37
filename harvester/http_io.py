"""What the HTTP client does around a request: retry delays, Retry-After, reading bodies within limits and
deadlines, telling a DNS failure from other connection errors."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from harvester.errors import SourceError, TransientError
from harvester.http_deadline import WATCHDOG, Deadline, deadline_error

if TYPE_CHECKING:
    import requests


def retry_delay(attempt: int, exc: TransientError, backoff: float, max_backoff: float) -> float:
    """Seconds before retry `attempt`: the server's Retry-After if it gave one, else exponential backoff with
    jitter (0.5 to 1.5 × backoff × 2^(attempt-1)), capped at `max_backoff`."""
    if exc.retry_after:
        seconds = parse_retry_after(exc.retry_after)
        if seconds is not None:
            return min(max(seconds, 0.0), max_backoff)
    return min(backoff * (2 ** (attempt - 1)) * (0.5 + random.random()), max_backoff)


def parse_retry_after(value: str) -> float | None:
    """Retry-After is either seconds or an HTTP date."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime  # only for the rare HTTP-date form (10 ms of imports)

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


@contextmanager
def watched(deadline: Deadline | None) -> Iterator[Any]:
    if deadline is None:
        yield _NO_WATCH
        return
    with WATCHDOG.watch(deadline) as w:
        yield w


class _NoWatch:
    expired = False


_NO_WATCH = _NoWatch()


def is_dns_failure(exc: BaseException) -> bool:
    """True when the host name did not resolve (urllib3's NameResolutionError, or socket.gaierror)."""
    import socket

    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, socket.gaierror) or type(e).__name__ == "NameResolutionError":
            return True
        todo.extend([e.__cause__, e.__context__, getattr(e, "reason", None)])
        todo.extend(a for a in e.args if isinstance(a, BaseException))
    return False


_ERRNO = re.compile(r"\[Errno -?\d+\][^\"')]*")


def short_reason(exc: BaseException) -> str:
    """`ConnectionError: [Errno 111] Connection refused` rather than urllib3's whole sentence."""
    text = str(exc)
    m = _ERRNO.search(text)
    if m:
        return f"{type(exc).__name__}: {m.group(0).strip()}"
    if "timed out" in text:
        return f"{type(exc).__name__}: timed out"
    return f"{type(exc).__name__}: {text[:200]}"


def read_limited(
    r: requests.Response, max_bytes: int, source_id: str | None, deadline: Deadline | None = None
) -> bytes:
    declared = r.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise SourceError(
            f"response too large: {int(declared)} bytes declared, limit {max_bytes}",
            url=r.url,
            source_id=source_id,
            hint="raise http.max_bytes for this source if the document is legitimate",
        )
    chunks = []
    total = 0
    for chunk in r.iter_content(chunk_size=1 << 16):
        if deadline is not None and deadline.passed:
            raise deadline_error(deadline, r.url, source_id)
        total += len(chunk)
        if total > max_bytes:
            raise SourceError(
                f"response too large: more than {max_bytes} bytes",
                url=r.url,
                source_id=source_id,
                hint="raise http.max_bytes for this source if the document is legitimate",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def read_head(r: requests.Response, n: int) -> bytes:
    """The first `n` bytes of an error body (for retry hints); never fails."""
    import requests

    try:
        return next(r.iter_content(chunk_size=n), b"")[:n]
    except requests.RequestException:
        return b""


def short_body(content: bytes, n: int = 200) -> str:
    text = content[:n].decode("utf-8", "replace").strip().replace("\n", " ")
    return text + ("…" if len(content) > n else "")
