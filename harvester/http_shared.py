"""Host politeness and circuit breaker shared by every process of a run (`--executor processes|dask`).

With `--executor local` the units run in threads of the command, which share one HTTP client and so one set of
host gates and breakers (harvester/http_hosts.py). When units run in other processes, each opens its own client
(harvester/runtime.py); their clients then share the limits through the run's **state database**, which every
worker already reaches, so that a portal sees `http.concurrency` requests in flight and `http.rate` requests a
second from the whole cluster, not from each worker, and a host found unreachable by one worker is refused by
all. Why the state database and not Dask's own primitives (`distributed.Semaphore`, `Lock`, `Variable`): one
mechanism for both `processes` (no scheduler there) and `dask`; what a dead worker held comes back when its
process or connection is gone, not after a lease timeout (the Semaphore's is 30 s by default, renewed by
heartbeats); and a request costs one to three statements on a database the workers use anyway, where the
Semaphore alone is two scheduler round trips and a shared rate needs a Lock and a Variable besides.

- **SQLite state** (one machine, harvester/http_shared_sqlite.py): the rows live in `<state>-hosts.sqlite`
  next to the state file. A request takes a slot row naming its process, with its turn in time, in one
  `BEGIN IMMEDIATE` transaction; rows of dead processes are deleted when all slots are taken, so a killed
  worker's slot comes back at the next attempt of another one.
- **PostgreSQL state** (harvester/http_shared_pg.py): a slot is a session advisory lock
  `pg_try_advisory_lock(key(run, host), slot)`, released by the server when the holder's connection closes (a
  killed process, a lost machine once TCP keepalive gives up); the turn is one `INSERT … ON CONFLICT DO UPDATE
  SET next_at = greatest(next_at, clock_timestamp()) + interval … RETURNING` on the server's clock.

The breaker is a row per (run, host): consecutive connection failures, since when, the last error, when it
opened, how many requests were refused. A process remembers the hosts it saw open (they stay open for the run).
Everything is keyed by the run key of the command's HTTP client, so `harvester run`'s stages share it as they
share the in-process breaker, and the command's `unreachable_hosts` lists each host once. Setting
`HARVESTER_HOST_LIMITS=process` goes back to limits per process (each worker alone), e.g. to compare.
"""

from __future__ import annotations

import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harvester import interrupt
from harvester.http_hosts import HostHealth, health_dict, host_of, unreachable
from harvester.redact import redact

LIMITS_ENV = "HARVESTER_HOST_LIMITS"  # "process": each worker applies the limits alone (the old behaviour)
UNLIMITED = 1024  # a gate allowing this many in flight only spaces requests (the publisher's write gate)
POLL_FIRST, POLL_MAX = 0.005, 0.05  # seconds between two attempts at a slot when all are taken
KEEP_SECONDS = 7 * 86400  # rows of runs older than this are deleted when a command opens the set


@dataclass(frozen=True)
class HostsSpec:
    """Where a run's shared host limits live: picklable, carried by the RuntimeSpec to every worker."""

    state_url: str  # the run's state store: a SQLite path or a postgresql:// URL
    run_key: str

    @classmethod
    def new(cls, state_url: str) -> HostsSpec:
        return cls(state_url, uuid.uuid4().hex)


class SharedHosts(ABC):
    """One process's handle on a run's shared slots, turns and breaker rows (thread-safe)."""

    def __init__(self, spec: HostsSpec) -> None:
        self.spec = spec
        self.run = spec.run_key
        self.breaker = SharedBreaker(self)
        self._gates: dict[str, SharedGate] = {}
        self._lock = threading.Lock()

    def gate(
        self, key: str, rate: float | None, concurrency: int, sleep: Callable[[float], None] = time.sleep
    ) -> SharedGate:
        """The gate named `key` (a host), with these limits on its first use in this process."""
        with self._lock:
            gate = self._gates.get(key)
            if gate is None:
                gate = self._gates[key] = SharedGate(
                    self, key, 1.0 / rate if rate else 0.0, concurrency, sleep
                )
            return gate

    # slots and turns
    @abstractmethod
    def try_slot(self, host: str, limit: int, interval: float) -> tuple[Any, float] | None:
        """Take one of `limit` slots of `host` and book its turn: (token, seconds to wait), or None if all taken."""

    @abstractmethod
    def release(self, host: str, token: Any) -> None: ...

    @abstractmethod
    def next_turn(self, host: str, interval: float) -> float:
        """Book the host's next turn in time; the seconds to wait for it (<= 0: now)."""

    # breaker rows
    @abstractmethod
    def health(self, host: str) -> HostHealth | None: ...

    @abstractmethod
    def fail(self, host: str, error: str, threshold: int) -> bool:
        """Count a connection failure; True when it is the one that opened the host."""

    @abstractmethod
    def reset(self, host: str) -> None:
        """An answer came: the host's count of consecutive failures restarts (unless it is open)."""

    @abstractmethod
    def refuse(self, host: str) -> HostHealth | None:
        """Count a refused request; the host's row."""

    @abstractmethod
    def opened(self) -> list[HostHealth]: ...

    @abstractmethod
    def close(self) -> None: ...


@dataclass
class SharedGate:
    """`slot()` and `wait_turn()` like HostGate, over the run's shared rows."""

    hosts: SharedHosts
    key: str
    min_interval: float
    concurrency: int
    sleep: Callable[[float], None] = time.sleep

    def wait_turn(self) -> None:
        if self.min_interval > 0:
            wait = self.hosts.next_turn(self.key, self.min_interval)
            if wait > 0:
                self.sleep(wait)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.concurrency >= UNLIMITED:
            self.wait_turn()
            yield
            return
        pause = POLL_FIRST
        while (got := self.hosts.try_slot(self.key, max(1, self.concurrency), self.min_interval)) is None:
            interrupt.check()  # a stop signal ends the run here too: nothing was sent yet
            time.sleep(pause)  # real time, not the client's sleep: the other holders must get on
            pause = min(pause * 2, POLL_MAX)
        token, wait = got
        try:
            if wait > 0:
                self.sleep(wait)
            yield
        finally:
            self.hosts.release(self.key, token)


class SharedBreaker:
    """The interface of http_hosts.Breaker over the run's breaker rows."""

    def __init__(self, hosts: SharedHosts) -> None:
        self.hosts = hosts
        self._open: set[str] = set()  # hosts seen open: they stay open for the run
        self._seen_failures: dict[str, int] = {}  # failures in the row at this process's last look
        self._lock = threading.Lock()

    def check(self, url: str, source_id: str | None) -> None:
        host = host_of(url)
        with self._lock:
            known_open = host in self._open
        h = None if known_open else self.hosts.health(host)
        if not known_open and (h is None or h.opened_at is None):
            with self._lock:
                self._seen_failures[host] = h.failures if h is not None else 0
            return
        h = self.hosts.refuse(host) or h or HostHealth(host)
        with self._lock:
            self._open.add(host)
        raise unreachable(h, url, source_id)

    def failure(self, url: str, error: str, threshold: int) -> bool:
        host = host_of(url)
        opened = self.hosts.fail(host, redact(error)[:300], max(1, threshold))
        with self._lock:
            self._seen_failures[host] = 1
            if opened:
                self._open.add(host)
        return opened

    def success(self, url: str) -> None:
        host = host_of(url)
        with self._lock:
            if not self._seen_failures.get(host):
                return  # nothing to reset at the last look: no write for the usual answer
            self._seen_failures[host] = 0
        self.hosts.reset(host)

    def is_open(self, url: str) -> bool:
        host = host_of(url)
        with self._lock:
            if host in self._open:
                return True
        h = self.hosts.health(host)
        return h is not None and h.opened_at is not None

    def report(self) -> list[dict[str, Any]]:
        return [health_dict(h) for h in self.hosts.opened()]


def open_shared(spec: HostsSpec) -> SharedHosts:
    """This process's handle on the shared limits of `spec`, in the state store's own database."""
    from harvester.state.urls import parse_state_url

    backend, target = parse_state_url(spec.state_url)
    if backend == "postgresql":
        from harvester.http_shared_pg import PgHosts

        return PgHosts(spec, target)
    from harvester.http_shared_sqlite import SqliteHosts

    return SqliteHosts(spec, hosts_file(Path(target)))


def hosts_file(state_path: Path) -> Path:
    """`state.sqlite` → `state-hosts.sqlite`, beside it."""
    return state_path.with_name(f"{state_path.stem}-hosts.sqlite")
