"""`--executor dask`: the runner's units run as tasks of a Dask cluster (`dask scheduler` + `dask worker`).

`DaskExecutor` is a `concurrent.futures.Executor` over a `distributed.Client`, so the runner treats it like
its thread and process pools. Each unit is one task, `run_unit(unit, spec)`, a pure function of picklable
values; `distributed` is imported only when this executor is used (the `dask` extra of the package).

Failure: a task whose worker dies is rescheduled on another worker by the scheduler (up to its
`distributed.scheduler.allowed-failures`), and a task that raises is retried `retries` times. When the
units of a stage are done, the executor asks the scheduler which of its tasks ran more than once, so that
the stage's report can list them (`retried`).

Politeness: the tasks' HTTP clients share the run's host limits and circuit breaker through the state database
(harvester/http_shared.py; the `RuntimeSpec` of every task names them), so the cluster as a whole keeps to
`http.concurrency` and `http.rate` per host.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from harvester.errors import UsageError

SCHEDULER_ENV = "HARVESTER_DASK_SCHEDULER"
_scheduler: list[str | None] = [None]


def set_scheduler(address: str | None) -> None:
    """The global `--scheduler` option (or `HARVESTER_DASK_SCHEDULER`): where `--executor dask` submits."""
    _scheduler[0] = address or None


def scheduler_address() -> str:
    address = _scheduler[0] or os.environ.get(SCHEDULER_ENV) or ""
    if not address:
        raise UsageError(
            f"--executor dask needs a scheduler: pass --scheduler tcp://HOST:8786 or set {SCHEDULER_ENV}"
        )
    return address


def unit_label(unit: object) -> str:
    """A readable name for a unit in task keys and reports: its resource, source, pipeline or batch."""
    for attr in ("resource_key", "source_id", "pipeline", "name", "batch"):
        value = getattr(unit, attr, None)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
        if value is not None and hasattr(value, "id"):
            return str(value.id)
    source = getattr(unit, "source", None)
    if source is not None and hasattr(source, "id"):
        return str(source.id)
    return type(unit).__name__


class _TaskFuture(Future[Any]):
    """A concurrent future fed by a Dask future; cancelling it cancels the task."""

    def __init__(self, task: Any) -> None:
        super().__init__()
        self._task = task

    def cancel(self) -> bool:
        if not super().cancel():
            return False
        self._task.cancel()
        return True

    def _copy(self, task: Any) -> None:  # called by distributed in its callback thread
        if not self.set_running_or_notify_cancel():
            return
        try:
            self.set_result(task.result())
        except BaseException as exc:  # the unit's own exception (or the cluster's), raised by result()
            self.set_exception(exc)


def _task_runs(keys: list[str], dask_scheduler: Any = None) -> dict[str, dict[str, int]]:
    """On the scheduler: for each key, how many workers died running it and how many retries it used."""
    out: dict[str, dict[str, int]] = {}
    for key in keys:
        ts = dask_scheduler.tasks.get(key) if dask_scheduler is not None else None
        if ts is not None:
            out[key] = {"worker_deaths": int(ts.suspicious), "retries_left": int(ts.retries)}
    return out


class DaskExecutor(Executor):
    def __init__(
        self, address: str, *, retries: int = 2, name: str = "harvester", timeout: float = 20
    ) -> None:
        try:
            from distributed import Client
        except ImportError as exc:
            raise UsageError(
                "--executor dask needs the dask extra: pip install 'harvester[dask]' (make install does it)"
            ) from exc
        try:
            self._client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise UsageError(f"cannot reach the Dask scheduler at {address}: {exc}", url=address) from exc
        self._retries = retries
        self._name = name
        self._tasks: dict[str, tuple[str, Any]] = {}  # key -> (unit label, dask future)
        self.retried: list[dict[str, Any]] = []

    @property
    def client(self) -> Any:
        return self._client

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        label = unit_label(args[0]) if args else fn.__name__
        key = f"{self._name}-{fn.__module__.rsplit('.', 1)[-1]}-{label[:80]}-{uuid.uuid4().hex[:12]}"
        task = self._client.submit(fn, *args, key=key, pure=False, retries=self._retries, **kwargs)
        self._tasks[key] = (label, task)
        out = _TaskFuture(task)
        task.add_done_callback(out._copy)
        return out

    def collect_retried(self) -> list[dict[str, Any]]:
        """The units whose task ran more than once (a worker died under it, or it raised and was retried)."""
        if not self._tasks:
            return []
        runs: dict[str, dict[str, int]] = self._client.run_on_scheduler(_task_runs, list(self._tasks))
        found = []
        for key, (label, _task) in self._tasks.items():
            r = runs.get(key)
            if r is None:
                continue
            retries_used = max(0, self._retries - r["retries_left"])
            if r["worker_deaths"] or retries_used:
                found.append({"unit": label, "key": key, **r, "retries_used": retries_used})
        return found

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for _label, task in self._tasks.values():
                task.cancel()
        try:
            self.retried = self.collect_retried()
        except Exception:  # the scheduler went away: nothing more to learn
            self.retried = []
        self._tasks.clear()
        self._client.close()
