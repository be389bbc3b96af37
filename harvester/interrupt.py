"""Stopping on SIGTERM (or Ctrl-C): finish the write under way, then stop, and say so.

The CLI installs `install()` once. A signal only sets a flag; the work stops at the next safe point, where
`check()` is called: before each HTTP request, before each work unit, before each CKAN write and between the
stages of `run`. What was under way (a page, a file, a snapshot, a CKAN write) ends first, so every snapshot and
the state store stay consistent: files are replaced atomically and each state write commits on its own. `check()`
then raises `Terminated`, which no stage catches as a source or record failure: the runs left open are closed as
`interrupted` and the process exits 143 (SIGTERM) or 130 (SIGINT). A second signal stops at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

log = logging.getLogger(__name__)

EXIT_SIGTERM = 128 + signal.SIGTERM  # 143
EXIT_SIGINT = 128 + signal.SIGINT  # 130

_stop = threading.Event()
_signal: list[int] = []


class Terminated(BaseException):  # noqa: N818 (like KeyboardInterrupt: not an Exception a stage may swallow)
    """A stop signal arrived: raised at the next safe point."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


def _handler(signum: int, _frame: FrameType | None) -> None:
    if _stop.is_set():  # the second signal: no more waiting
        log.warning("second %s: stopping now", signal.Signals(signum).name)
        os._exit(128 + signum)
    _signal.append(signum)
    _stop.set()
    log.warning(
        "%s received: finishing the current write, then stopping",
        signal.Signals(signum).name,
        extra={"event": "stop_requested"},
    )


def install() -> None:
    """Catch SIGTERM and SIGINT in this process (main thread only; a no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)


def stopping() -> bool:
    return _stop.is_set()


def check() -> None:
    """Raise Terminated if a stop signal arrived (call it between writes, never in the middle of one)."""
    if _stop.is_set():
        raise Terminated(_signal[0] if _signal else signal.SIGTERM)


def reset() -> None:
    """Forget a stop request (tests that run the CLI in-process)."""
    _stop.clear()
    _signal.clear()
