"""The runner: the one module that creates a pool. Units go in, outcomes come out, in the order of the plan.

`--executor local` (the default) runs units in threads of this process; `--executor processes` runs them in
fresh processes (spawned, so no handle is inherited); `--executor dask` submits them as tasks of a Dask
cluster (`harvester/dask_executor.py`, `--scheduler tcp://HOST:8786`). A unit and the runtime spec are plain picklable values;
a unit's function is a module-level `run_unit(unit, spec)` that opens what it needs from the spec.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from harvester import interrupt
from harvester.runtime import RuntimeSpec, for_workers

U = TypeVar("U")
R = TypeVar("R")

ExecutorKind = Literal["local", "processes", "dask"]
EXECUTORS: tuple[str, ...] = ("local", "processes", "dask")
_default: list[ExecutorKind] = ["local"]
_retried: list[dict[str, Any]] = []  # units a Dask cluster ran more than once, since the last take_retried()


def take_retried() -> list[dict[str, Any]]:
    """The units retried (a worker died under them, or they raised) since the last call; for the run report."""
    out = list(_retried)
    _retried.clear()
    return out


def set_default_executor(kind: ExecutorKind) -> None:
    """The global `--executor` option: the kind of pool every stage of this process runs its units on."""
    if kind not in EXECUTORS:
        raise ValueError(f"unknown executor {kind!r}; valid: {', '.join(EXECUTORS)}")
    _default[0] = kind


def default_executor() -> ExecutorKind:
    return _default[0]


@contextmanager
def executor(workers: int, kind: ExecutorKind | None = None, name: str = "harvester") -> Iterator[Executor]:
    """A pool of `workers` (at least one) of the given kind (the global default if None)."""
    kind = kind or _default[0]
    n = max(1, workers)
    pool: Executor
    if kind == "dask":
        from harvester.dask_executor import DaskExecutor, scheduler_address

        dask = DaskExecutor(scheduler_address(), name=name)
        try:
            yield dask
        finally:
            dask.shutdown()
            _retried.extend(dask.retried)
        return
    if kind == "processes":
        import multiprocessing  # here, not at the top: commands that run no unit (`validate`) don't load it
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"))
    else:
        pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix=name)
    with pool:
        yield pool


def run_units(
    run_unit: Callable[[U, RuntimeSpec], R],
    units: Sequence[U],
    spec: RuntimeSpec,
    *,
    workers: int,
    kind: ExecutorKind | None = None,
    on_done: Callable[[U, R], None] | None = None,
) -> list[R]:
    """Run every unit; outcomes in the order of `units`. `on_done` is called in this process as each one ends."""
    if not units:
        return []
    spec = _for_cluster(spec, kind)
    with executor(min(workers, len(units)), kind) as pool:
        futures: list[Future[R]] = [pool.submit(run_unit, u, spec) for u in units]
        out: list[R] = []
        try:
            for unit, fut in zip(units, futures, strict=True):
                outcome = fut.result()
                if on_done is not None:
                    on_done(unit, outcome)
                out.append(outcome)
                interrupt.check()  # a stop signal: the units under way end, the queued ones never start
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        return out


def run_units_until(
    run_unit: Callable[[U, RuntimeSpec], R],
    units: Sequence[U],
    spec: RuntimeSpec,
    *,
    workers: int,
    stop: Callable[[R], bool],
    on_done: Callable[[U, R], None] | None = None,
    on_stop: Callable[[], None] | None = None,
    kind: ExecutorKind | None = None,
) -> list[R]:
    """Run units, outcomes in the order they end. Once `stop(outcome)` is true, units not started are cancelled,
    `on_stop` is called (to tell running units of this process to stop early), and the running ones are awaited."""
    if not units:
        return []
    spec = _for_cluster(spec, kind)
    with executor(min(workers, len(units)), kind) as pool:
        futures: dict[Future[R], U] = {pool.submit(run_unit, u, spec): u for u in units}
        out: list[R] = []
        stopping = False
        for fut in as_completed(futures):
            if fut.cancelled():
                continue
            outcome = fut.result()
            out.append(outcome)
            if on_done is not None:
                on_done(futures[fut], outcome)
            if not stopping and stop(outcome):
                stopping = True
                for other in futures:
                    other.cancel()
                if on_stop is not None:
                    on_stop()
        return out


def _for_cluster(spec: RuntimeSpec, kind: ExecutorKind | None) -> RuntimeSpec:
    """Units run in other processes share the run's host limits (runtime.for_workers); on Dask, workers run in
    their own directories: the data dir and the SQLite path become absolute."""
    kind = kind or _default[0]
    if kind == "local":
        return spec
    sent = spec
    if kind == "dask":
        state = spec.state_url
        if "://" not in state or state.startswith("sqlite:///"):
            state = str(spec.state_path.resolve())
        from harvester.store import normalise_location

        sent = dataclasses.replace(spec, data_dir=normalise_location(spec.data_dir), state_url=state)
    return for_workers(spec, sent)
