"""Helpers of the host-limit tests: a dead host that counts connection attempts, and a spacing check."""

from __future__ import annotations

import socket
import threading
import time


class ClosingListener:
    """A TCP port that accepts every connection and closes it unanswered (after `hold` seconds): a host that
    never answers HTTP. `accepted` counts the attempts."""

    def __init__(self, hold: float = 0.0) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.hold = hold
        self.accepted = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            time.sleep(self.hold)
            conn.close()

    def stop(self) -> None:
        self._stop = True
        self._thread.join(5)
        self.sock.close()


def assert_spaced(arrivals: list[float], interval: float) -> None:
    """Any k+1 consecutive arrivals span at least k intervals, less a tolerance for the delivery of a request
    whose sender was late on a loaded machine (a limiter spaces departures; a late one shortens one gap only)."""
    tolerance = 0.4 * interval
    for k in range(1, len(arrivals)):
        spans = [b - a for a, b in zip(arrivals, arrivals[k:], strict=False)]
        assert min(spans) >= k * interval - tolerance, (k, sorted(spans)[:3])
