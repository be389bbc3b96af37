"""A one-request look-ahead for paged listings: the next page is fetched in one background thread while the
caller works on the current one. Connectors use it instead of a pool of their own (pools belong to the runner,
runner.py); a listing never has more than one request ahead. The fetch runs in a copy of the caller's context
(the staged HTTP validators of the harvest live in a context variable)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")


class Prefetcher:
    """`with Prefetcher(name) as ahead: future = ahead.submit(fetch, *args)`; shut down without waiting."""

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        return self._pool.submit(contextvars.copy_context().run, fn, *args)

    def close(self) -> None:
        """Stop: a fetch under way finishes in the background, one not started is cancelled."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
