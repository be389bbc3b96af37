"""Locks as leases: a lock file holds its owner (pid, host, process start), since when, and until when.

The file is also flock()ed, so the kernel frees it when its process dies however it dies. A holder renews the
expiry while it works and empties the file when it lets go. A file that is free but still names an owner was
left by a process that died holding it (kill -9, a crash, a power cut): the next holder takes the lease over and
says so in the log, with the dead owner — a recovery is never silent. A holder that is alive is never overtaken.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harvester import owner as owners
from harvester.diskspace import disk_guard
from harvester.errors import LockedError

log = logging.getLogger(__name__)

LEASE_SECONDS = 300.0  # how long a lease lasts without renewal
RENEW_EVERY = 60.0


def _now() -> datetime:
    return datetime.now(UTC)


def read_lease(path: Path) -> dict[str, Any] | None:
    """What the lock file says about its holder (None when empty or absent)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return {"holder": text}  # an older plain-text lock file
    return data if isinstance(data, dict) else {"holder": text}


def _describe(lease: dict[str, Any] | None) -> str:
    if not lease:
        return "another process"
    if "pid" in lease:
        return f"pid {lease['pid']} on {lease.get('host', '?')} since {lease.get('since', '?')}"
    return str(lease.get("holder", "another process"))


def _holder(path: Path, wait: float = 0.5) -> dict[str, Any] | None:
    """The holder of a lock just found taken: it may not have written its lease yet (it writes right after flock)."""
    deadline = time.monotonic() + wait
    while (lease := read_lease(path)) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return lease


def _write(fd: int, path: Path, payload: dict[str, Any]) -> None:
    with disk_guard(path, "lock"):
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(payload).encode(), 0)


@contextmanager
def hold_lease(
    path: Path, name: str, *, seconds: float = LEASE_SECONDS, renew_every: float = RENEW_EVERY
) -> Iterator[dict[str, Any]]:
    """Hold the lease `name` (file `path`) for the duration of the block; LockedError if someone alive holds it."""
    with disk_guard(path, "lock"):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    stop = threading.Event()
    renewer: threading.Thread | None = None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(
                f"{name} is already being processed by {_describe(_holder(path))}",
                hint="wait for the other run to finish; a lock left by a dead process is taken over by the next run",
            ) from None
        left = read_lease(path)
        if left is not None:
            log.warning(
                "lock %s recovered: its holder (%s) died without releasing it", name, _describe(left),
                extra={"event": "lock_recovered", "stage": "lock"},
            )  # fmt: skip
        me = owners.current()
        since = _now()
        lease: dict[str, Any] = {
            **me.to_dict(),
            "name": name,
            "since": since.isoformat(timespec="seconds"),
            "expires": (since + timedelta(seconds=seconds)).isoformat(timespec="seconds"),
        }
        if left is not None:
            lease["recovered_from"] = left
        _write(fd, path, lease)

        def renew() -> None:
            while not stop.wait(renew_every):
                lease["expires"] = (_now() + timedelta(seconds=seconds)).isoformat(timespec="seconds")
                try:
                    _write(fd, path, lease)
                except Exception:  # a renewal that fails leaves the last expiry; the flock still holds
                    log.debug("lease %s not renewed", name, exc_info=True)

        renewer = threading.Thread(target=renew, name=f"lease-{name}", daemon=True)
        renewer.start()
        yield lease
    finally:
        stop.set()
        if renewer is not None:
            renewer.join()
            with suppress(OSError):
                os.ftruncate(fd, 0)  # let go: an empty file is a free lock with nothing to recover
        os.close(fd)
