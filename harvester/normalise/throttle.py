"""Keep Arrow's streaming CSV reader from reading the whole file ahead: memory stays bounded.

Arrow reads blocks in a background thread as fast as it can; when converting is slower than reading, the
blocks read ahead pile up (a 1 GB file ends up in memory). The reader reads through ``Throttle``, whose
``read`` waits while more than ``ahead`` blocks are read and not yet consumed, unless the converter is itself
waiting for the next batch (a record longer than the window); the converter calls ``consumed()`` after each
record batch.
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any

MAX_WAIT = 5.0  # seconds a read waits for the consumer before going on anyway


class Throttle(io.RawIOBase):
    """A binary file object over ``stream`` that stays at most ``ahead`` blocks ahead of the consumer."""

    def __init__(self, stream: Any, *, block_size: int, ahead: int = 3) -> None:
        super().__init__()
        self._stream = stream
        self._block = block_size
        self._allowed = ahead * block_size
        self._read = 0
        self._cond = threading.Condition()
        self._released = False
        self._hungry = False  # the consumer waits for a batch: reading must go on (a record may be huge)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        deadline = time.monotonic() + MAX_WAIT
        with self._cond:
            # a record longer than the read-ahead window must still be read: never wait for ever
            while (
                not self._released
                and not self._hungry
                and self._read >= self._allowed
                and time.monotonic() < deadline
            ):
                self._cond.wait(timeout=0.5)
        data = bytes(self._stream.read(size if size and size > 0 else self._block))
        self._read += len(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def consumed(self) -> None:
        """One batch was taken: let the reader read one more block."""
        with self._cond:
            self._allowed += self._block
            self._cond.notify_all()

    def hungry(self, waiting: bool) -> None:
        """The consumer starts (True) or stops (False) waiting for the next batch."""
        with self._cond:
            self._hungry = waiting
            self._cond.notify_all()

    def release(self) -> None:
        """No more limit (the pass is over or failed): never leave the reader waiting."""
        with self._cond:
            self._released = True
            self._cond.notify_all()
