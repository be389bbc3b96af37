"""Columns of one batch cast side by side: a few threads, for the life of one conversion.

pyarrow.compute kernels release the GIL, so the 21 casts of a batch (numbers with spaced thousands, mixed date
formats…) can run on every core while Arrow's reader parses the next block and the Parquet writer compresses
the row group before. Measured on the 200 MB French files of `make bench` (2 cores): 15–40 % less wall time
than casting the columns one after the other (README Benchmarks).

This is a pool inside one unit of work, not a second runner: it takes no units, no I/O, only pure functions of
Arrow arrays, and it is shut down (its threads joined) when the conversion ends, so the process's fast exit
(fastexit.py) still finds no thread alive. A function given to `map` must not use the pool itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

R = TypeVar("R")

MAX_THREADS = 4  # past this, the casts of one batch wait on memory bandwidth more than on cores


def default_threads() -> int:
    """HARVESTER_COLUMN_THREADS when set (1: one column after the other), else the cores, at most MAX_THREADS."""
    given = os.environ.get("HARVESTER_COLUMN_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    return max(1, min(MAX_THREADS, os.cpu_count() or 1))


class ColumnPool:
    """`pool.map(fn, xs, ys)`: the results in the order of the arguments; `close()` (or `contextlib.closing`)
    when the conversion ends."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads if threads is not None else default_threads()
        self._pool = (
            ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="columns")
            if self.threads > 1
            else None
        )

    def map(self, fn: Callable[..., R], *args: Iterable[object]) -> list[R]:
        """`[fn(*a) for a in zip(*args)]`, computed on the pool's threads; the first error is raised."""
        calls = list(zip(*args, strict=True))
        if self._pool is None or len(calls) < 2:
            return [fn(*a) for a in calls]
        futures = [self._pool.submit(fn, *a) for a in calls]
        try:
            return [f.result() for f in futures]
        finally:
            for f in futures:
                f.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
