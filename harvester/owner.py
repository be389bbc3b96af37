"""Which process owns a run or a temporary directory, and whether it is still alive.

An owner is (pid, host, process start time): a pid that was reused by another process after a crash does not
count as the owner, because its start time differs.
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import psutil


@dataclass(frozen=True)
class Owner:
    pid: int
    host: str
    started: float | None  # the process's start time (seconds since the epoch)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Owner:
        return cls(int(d["pid"]), str(d["host"]), float(d["started"]) if d.get("started") else None)

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"


def process_start(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


@cache
def _owner(pid: int) -> Owner:
    return Owner(pid, socket.gethostname(), process_start(pid))


def current() -> Owner:
    """This process (looked up by its live pid, so that a forked child is its own owner)."""
    return _owner(os.getpid())


def alive(owner: Owner) -> bool | None:
    """True if the owner process still runs, False if it is gone, None when it can't be told (another host)."""
    if owner.host != socket.gethostname():
        return None
    if owner.pid == os.getpid():
        return True
    started = process_start(owner.pid)
    if started is None:
        return False
    if owner.started is None:
        return True
    return abs(started - owner.started) < 1.0
