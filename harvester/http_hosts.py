"""Per-host state of the HTTP client: politeness gates (rate, concurrency) and the circuit breaker.

The breaker counts consecutive connection-level failures to a host (no DNS answer, connection refused, TLS
failure, timeouts). After `threshold` of them the host is open: every later request to it in this client (this
run) fails at once with "host unreachable since …". Any answer from the host, even an HTTP error, closes it.
A new run starts with a new client, so the next run tries again.

These are the gates and the breaker of one process. When a run's units run in other processes (`--executor
processes|dask`), the HTTP clients of all of them share one set instead (harvester/http_shared.py).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from harvester.errors import SourceError
from harvester.redact import redact


def host_of(url: str | None) -> str:
    """`host[:port]` of a URL, without userinfo ("" when there is none)."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return ""


class HostUnreachableError(SourceError):
    """The host's circuit breaker is open: the request was not sent."""

    host: str = ""


@dataclass
class HostGate:
    """At most `concurrency` requests in flight to one host, spaced by `min_interval` seconds."""

    semaphore: threading.BoundedSemaphore
    min_interval: float
    sleep: Callable[[float], None] = time.sleep
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_at: float = 0.0

    @classmethod
    def make(
        cls, rate: float | None, concurrency: int, sleep: Callable[[float], None] = time.sleep
    ) -> HostGate:
        return cls(threading.BoundedSemaphore(max(1, concurrency)), 1.0 / rate if rate else 0.0, sleep)

    def wait_turn(self) -> None:
        """Wait for this host's next slot in time (the rate limit only)."""
        if self.min_interval > 0:
            with self.lock:
                now = time.monotonic()
                wait = self.next_at - now
                self.next_at = max(now, self.next_at) + self.min_interval
            if wait > 0:
                self.sleep(wait)

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self.semaphore:
            self.wait_turn()
            yield


@dataclass
class HostHealth:
    host: str
    failures: int = 0  # consecutive connection-level failures
    since: datetime | None = None  # first failure of the current streak
    last_error: str = ""
    opened_at: datetime | None = None
    refused: int = 0  # requests failed at once while the breaker was open


class Breaker:
    """Thread-safe per-host circuit breaker (see the module docstring)."""

    def __init__(self) -> None:
        self._hosts: dict[str, HostHealth] = {}
        self._lock = threading.Lock()

    def check(self, url: str, source_id: str | None) -> None:
        """Raise HostUnreachableError when the URL's host is open."""
        host = host_of(url)
        with self._lock:
            h = self._hosts.get(host)
            if h is None or h.opened_at is None:
                return
            h.refused += 1
            seen = replace(h)
        raise unreachable(seen, url, source_id)

    def failure(self, url: str, error: str, threshold: int) -> bool:
        """Count a connection-level failure; True when this one opened the breaker."""
        host = host_of(url)
        with self._lock:
            h = self._hosts.setdefault(host, HostHealth(host))
            h.failures += 1
            h.since = h.since or datetime.now(UTC)
            h.last_error = redact(error)[:300]
            if h.opened_at is None and h.failures >= max(1, threshold):
                h.opened_at = datetime.now(UTC)
                return True
            return False

    def success(self, url: str) -> None:
        host = host_of(url)
        with self._lock:
            h = self._hosts.get(host)
            if h is not None and h.opened_at is None:
                h.failures, h.since, h.last_error = 0, None, ""

    def is_open(self, url: str) -> bool:
        with self._lock:
            h = self._hosts.get(host_of(url))
            return h is not None and h.opened_at is not None

    def report(self) -> list[dict[str, Any]]:
        """The hosts found unreachable in this run, for the run report."""
        with self._lock:
            return [
                health_dict(h)
                for h in sorted(self._hosts.values(), key=lambda x: x.host)
                if h.opened_at is not None
            ]


def unreachable(h: HostHealth, url: str, source_id: str | None) -> HostUnreachableError:
    """The error of a request refused because `h`'s breaker is open."""
    since = h.since.strftime("%Y-%m-%dT%H:%M:%SZ") if h.since else "?"
    err = HostUnreachableError(
        f"host unreachable since {since} ({h.failures} connection failures in a row, last: {h.last_error}); "
        "not tried again in this run",
        url=url,
        source_id=source_id,
        hint="the next run tries the host again",
    )
    err.host = h.host
    return err


def health_dict(h: HostHealth) -> dict[str, Any]:
    """One entry of the run report's `unreachable_hosts`."""
    return {
        "host": h.host,
        "unreachable_since": h.since.isoformat() if h.since else None,
        "opened_at": h.opened_at.isoformat() if h.opened_at else None,
        "failures": h.failures,
        "refused_requests": h.refused,
        "last_error": h.last_error,
    }


def errors_by_host(errors: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Errors (dicts with `url` and `message`) grouped by host: count, causes with their counts, a few URLs."""
    out: dict[str, dict[str, Any]] = {}
    causes: dict[str, Counter[str]] = {}
    for e in errors:
        host = host_of(e.get("url")) or "(no url)"
        g = out.setdefault(host, {"count": 0, "causes": {}, "urls": []})
        g["count"] += 1
        cause = _cause(str(e.get("message") or ""))
        causes.setdefault(host, Counter())[cause] += 1
        if len(g["urls"]) < 5 and e.get("url"):
            g["urls"].append(redact(str(e["url"])))
    for host, c in causes.items():
        out[host]["causes"] = dict(c.most_common())
    return dict(sorted(out.items(), key=lambda kv: (-kv[1]["count"], kv[0])))


def _cause(message: str) -> str:
    """A message without what differs between requests (times, counts), so that alike errors group."""
    if message.startswith("host unreachable since"):
        return "host unreachable (circuit breaker open)"
    return redact(message.split(" [")[0])[:160]
