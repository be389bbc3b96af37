"""Total deadlines for HTTP requests: connect, headers and the whole body, whatever pace the server keeps.

A read timeout restarts with every byte, so a server that drips its answer can hold a request for hours. Each
request here runs under the earliest of its deadlines (`http.deadline` per request, retries included;
`http.listing_deadline` for a source's listing; `--deadline` for the run). A watchdog thread shuts down the
socket of a request whose deadline passed, so a blocked read returns at once; the client then raises
DeadlineError, which names the deadline, the source and the URL. Timeouts are also capped at the time left.
"""

from __future__ import annotations

import heapq
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from harvester.errors import SourceError


@dataclass(frozen=True)
class Deadline:
    """A point in (wall-clock) time, with the name of the setting that set it."""

    name: str  # "http.deadline", "http.listing_deadline", "run --deadline"
    seconds: float
    expires: float  # time.time() at which it passes (wall clock: the same in a worker process)

    @classmethod
    def start(cls, name: str, seconds: float) -> Deadline:
        return cls(name, seconds, time.time() + seconds)

    def remaining(self) -> float:
        return self.expires - time.time()

    @property
    def passed(self) -> bool:
        return time.time() >= self.expires


def earliest(*deadlines: Deadline | None) -> Deadline | None:
    found = [d for d in deadlines if d is not None]
    return min(found, key=lambda d: d.expires) if found else None


class DeadlineError(SourceError):
    """A deadline passed: the request (or the listing, or the run) was cut short. Never retried."""

    deadline: Deadline | None = None


def deadline_error(deadline: Deadline, url: str, source_id: str | None) -> DeadlineError:
    what = {"http.deadline": "request", "http.listing_deadline": "listing", "run --deadline": "run"}.get(
        deadline.name, "request"
    )
    err = DeadlineError(
        f"deadline passed: {deadline.name} of {deadline.seconds:g} s for the {what}",
        url=url,
        source_id=source_id,
        hint=f"raise {deadline.name} if the server is just slow",
    )
    err.deadline = deadline
    return err


@dataclass(eq=False)
class Watch:
    """One request in flight under a deadline; `conn` is the urllib3 connection it uses."""

    deadline: Deadline
    conn: Any = None
    expired: bool = False
    done: bool = False


_local = threading.local()


class Watchdog:
    """One daemon thread for the whole process: shuts down the sockets of requests whose deadline passed."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watch]] = []
        self._cond = threading.Condition()
        self._seq = 0
        self._thread: threading.Thread | None = None

    @contextmanager
    def watch(self, deadline: Deadline) -> Iterator[Watch]:
        w = Watch(deadline)
        with self._cond:
            self._seq += 1
            heapq.heappush(self._heap, (deadline.expires, self._seq, w))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()
        previous = getattr(_local, "watch", None)
        _local.watch = w
        try:
            yield w
        finally:
            _local.watch = previous
            w.done = True
            if deadline.passed:
                w.expired = True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                at, _, w = self._heap[0]
                wait = at - time.time()
                if wait > 0:
                    self._cond.wait(min(wait, 1.0))
                    continue
                heapq.heappop(self._heap)
                if w.done:
                    continue
                w.expired = True
                sock = getattr(w.conn, "sock", None)
                if sock is None:  # still connecting (bounded by the capped connect timeout): look again soon
                    self._seq += 1
                    heapq.heappush(self._heap, (time.time() + 0.05, self._seq, w))
                    continue
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


WATCHDOG = Watchdog()


def _note_connection(conn: Any) -> None:
    w = getattr(_local, "watch", None)
    if w is not None:
        w.conn = conn


_POOLS: dict[str, type] = {}


def _pool_classes() -> dict[str, type]:
    """urllib3 pools that tell the watchdog which connection a request uses (urllib3 imported on first use)."""
    if not _POOLS:
        from urllib3 import connectionpool

        class HTTPConnectionPool(connectionpool.HTTPConnectionPool):  # same name: same messages
            def _make_request(self, conn: Any, *args: Any, **kw: Any) -> Any:
                _note_connection(conn)
                return super()._make_request(conn, *args, **kw)

        class HTTPSConnectionPool(connectionpool.HTTPSConnectionPool):
            def _make_request(self, conn: Any, *args: Any, **kw: Any) -> Any:
                _note_connection(conn)
                return super()._make_request(conn, *args, **kw)

        _POOLS.update(http=HTTPConnectionPool, https=HTTPSConnectionPool)
    return _POOLS


def watch_session(session: Any) -> None:
    """Make the session's connections visible to the watchdog (its http:// and https:// adapters)."""
    seen: set[int] = set()
    for adapter in session.adapters.values():
        if id(adapter) in seen:
            continue
        seen.add(id(adapter))
        pm = getattr(adapter, "poolmanager", None)
        if pm is not None:
            pm.pool_classes_by_scheme = dict(_pool_classes())


@dataclass
class Timeouts:
    """(connect, read) timeouts capped at the time left before the deadline."""

    connect: float
    read: float
    left: float = field(default=0.0)

    @classmethod
    def capped(cls, connect: float, read: float, deadline: Deadline | None) -> Timeouts:
        if deadline is None:
            return cls(connect, read, float("inf"))
        left = max(deadline.remaining(), 0.01)
        return cls(min(connect, left), min(read, left), left)
