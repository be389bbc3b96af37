"""The runtime spec a work unit receives: small and picklable; each process opens its own state and HTTP client.

A unit never carries a live object (an HTTP session, a database handle, a connector): it carries a `RuntimeSpec`,
and `live(spec)` gives the state store and HTTP client of this process for it, opened on first use. A parent
that already holds them (the CLI, a test) binds them, so units run in its threads share its host gates and
its database connection.

Units sent to other processes (`--executor processes|dask`) carry in `hosts` where the run's shared host limits
and breaker live (harvester/http_shared.py): `for_workers` sets it from the command's HTTP client, so the workers'
clients and the command's share them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from harvester.layout import http_cache_dir, state_file

if TYPE_CHECKING:
    from harvester.http import HttpClient
    from harvester.http_deadline import Deadline
    from harvester.http_shared import HostsSpec
    from harvester.state import StateBackend


@dataclass(frozen=True)
class RuntimeSpec:
    data_dir: str
    state_url: (
        str  # a plain path to state.sqlite, `sqlite:///path` or `postgresql://…` (harvester/state/urls.py)
    )
    http_cache: bool = True
    deadline: Deadline | None = None  # the run's `--deadline` (wall clock: the same in every process)
    hosts: HostsSpec | None = (
        None  # the run's shared host limits; None: this process's own (harvester/http_shared.py)
    )

    @classmethod
    def for_data_dir(cls, data_dir: Path, state: Path | str | None = None) -> RuntimeSpec:
        """`state`: the store's path or URL (`StateBackend.url`); the data dir's state.sqlite by default."""
        return cls(str(data_dir), str(state or state_file(data_dir)))

    @property
    def data(self) -> Path:
        from harvester.store import data_path

        return data_path(self.data_dir)

    @property
    def state_path(self) -> Path:
        """The SQLite file (for a SQLite store only)."""
        return Path(self.state_url.removeprefix("sqlite:///") if "://" in self.state_url else self.state_url)


@dataclass
class Live:
    state: StateBackend
    http: HttpClient
    pid: int
    progress: Callable[[str, int], None] | None = None  # threads of the parent only


_live: dict[RuntimeSpec, Live] = {}
_guard = threading.Lock()


@contextmanager
def bound(
    spec: RuntimeSpec,
    state: StateBackend,
    http: HttpClient,
    progress: Callable[[str, int], None] | None = None,
) -> Iterator[None]:
    """While open, units of `spec` run in this process use these objects (the parent's own)."""
    with _guard:
        previous = _live.get(spec)
        _live[spec] = Live(state, http, os.getpid(), progress)
    try:
        yield
    finally:
        with _guard:
            if previous is None:
                _live.pop(spec, None)
            else:
                _live[spec] = previous


def live(spec: RuntimeSpec) -> Live:
    """This process's state store and HTTP client for `spec`, opened on first use (a new process opens its own)."""
    with _guard:
        found = _live.get(spec)
        if found is not None and found.pid == os.getpid():
            return found
        from harvester.http import HttpClient
        from harvester.http_shared import open_shared
        from harvester.state import open_state

        state = open_state(spec.state_url)
        http = HttpClient(
            validators=state,
            cache_dir=http_cache_dir(spec.data) if spec.http_cache else None,
            deadline=spec.deadline,
            shared=open_shared(spec.hosts) if spec.hosts is not None else None,
        )
        found = _live[spec] = Live(state, http, os.getpid())
        return found


def for_workers(spec: RuntimeSpec, sent: RuntimeSpec | None = None) -> RuntimeSpec:
    """`sent` (the spec as given to other processes; `spec` itself by default) with the run's shared host limits:
    those of the HTTP client bound to `spec` in this process (which then uses them too), else new ones. Unchanged
    with HARVESTER_HOST_LIMITS=process (each worker applies the limits alone)."""
    from harvester.http_shared import LIMITS_ENV, HostsSpec

    sent = sent or spec
    if os.environ.get(LIMITS_ENV, "").strip().lower() == "process" or not sent.state_url:
        return replace(
            sent, hosts=None
        )  # (no state store, e.g. a writer built without one: nowhere to share)
    if sent.hosts is not None:
        return sent
    with _guard:
        parent = _live.get(spec)
    if parent is not None and parent.pid == os.getpid():
        hosts = parent.http.share_hosts(sent.state_url)
    else:
        hosts = HostsSpec.new(sent.state_url)
    return replace(sent, hosts=hosts)
