"""Cron schedules and the leases that keep two runs of one source or pipeline apart.

A schedule is a five-field cron expression (minute hour day month weekday, in UTC). Its *slot* at a moment is the
latest cron time at or before it; a source or pipeline is due when its last scheduled run was for an older slot
(or it never ran). A run that overruns its slot is never started twice: the next `run --due` either finds its lease
held (skipped, or waits with `--wait`), or finds the slot already recorded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from harvester import interrupt
from harvester.errors import LockedError

if TYPE_CHECKING:
    from harvester.state import StateBackend

EXIT_BUSY = 75  # EX_TEMPFAIL: the pipeline is being run by another process (and --wait ran out)
POLL_SECONDS = 0.5

_held: set[str] = set()  # leases this process holds through `lease()` (a nested `lease()` of one is a no-op)


class BusyError(LockedError):
    """Another process holds the lease of this pipeline or source, and `--wait` ran out."""

    exit_code = EXIT_BUSY


def validate_cron(expr: str | None) -> str | None:
    """A pydantic validator: five cron fields, as croniter reads them."""
    if expr is None:
        return None
    from croniter import croniter

    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise ValueError(f"not a valid cron expression (minute hour day month weekday): {expr!r}")
    return expr


def slot(expr: str, now: datetime) -> datetime:
    """The latest cron time at or before `now` (a minute boundary, in `now`'s time zone)."""
    from croniter import croniter

    start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    prev: datetime = croniter(expr, start).get_prev(datetime)
    return prev


def next_time(expr: str, now: datetime) -> datetime:
    """The first cron time after `now`."""
    from croniter import croniter

    nxt: datetime = croniter(expr, now).get_next(datetime)
    return nxt


def is_due(expr: str, last: datetime | None, now: datetime) -> bool:
    return last is None or last < slot(expr, now)


def pipeline_lock(name: str) -> str:
    """The lease a whole `run PIPELINE` holds (its stages take their own source and publish locks inside)."""
    return f"pipeline-{name}"


def due_source_lock(source_id: str) -> str:
    """The lease `run --due` holds while it decides on and harvests a source outside any pipeline."""
    return f"due-source-{source_id}"


@contextmanager
def lease(state: StateBackend, name: str, what: str, wait: float = 0.0) -> Iterator[None]:
    """Hold lease `name`, waiting up to `wait` seconds for another holder to let go; BusyError after that."""
    if name in _held:
        yield
        return
    deadline = time.monotonic() + max(0.0, wait)
    with ExitStack() as stack:
        while True:
            try:
                stack.enter_context(state.lock(name))
                break
            except LockedError as exc:
                if time.monotonic() >= deadline:
                    waited = f" (waited {wait:g}s)" if wait else ""
                    raise BusyError(
                        f"{what} skipped: {exc.message}{waited}",
                        hint="another process is running it; pass --wait SECONDS to wait for it",
                    ) from None
                time.sleep(POLL_SECONDS)
                interrupt.check()  # a stop signal ends the wait
        _held.add(name)
        try:
            yield
        finally:
            _held.discard(name)
