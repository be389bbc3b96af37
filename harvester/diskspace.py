"""A full disk is one clear error naming the file and the free space, whichever layer (OS, SQLite, Arrow) hit it."""

from __future__ import annotations

import errno
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harvester.errors import DiskFullError

_MESSAGES = ("no space left on device", "database or disk is full", "disk quota exceeded")


NEARLY_FULL = (
    64 * 1024
)  # below this, SQLite's "disk I/O error" (it could not grow its -shm file) is a full disk


def is_disk_full(exc: BaseException, path: Path | None = None) -> bool:
    """ENOSPC/EDQUOT from the OS, SQLITE_FULL from SQLite, or Arrow's wording of them (it drops the errno).

    With `path`, SQLite's vaguer "disk I/O error" counts too when that filesystem has (nearly) no space left.
    """
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(exc, (OSError, sqlite3.OperationalError)):
        text = str(exc).lower()
        if any(m in text for m in _MESSAGES):
            return True
        if path is not None and isinstance(exc, sqlite3.OperationalError) and "disk i/o error" in text:
            free = free_bytes(path)
            return free is not None and free < NEARLY_FULL
    return False


def free_bytes(path: Path) -> int | None:
    """Free space of the filesystem holding `path` (or its nearest existing parent); None on a remote store."""
    if not isinstance(path, Path):
        return None
    for p in (path, *path.parents):
        if p.exists():
            try:
                return shutil.disk_usage(p).free
            except OSError:
                return None
    return None


def _human(n: int | None) -> str:
    if n is None:
        return "unknown"
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"  # pragma: no cover


def disk_full_error(exc: BaseException, path: Path, stage: str | None = None) -> DiskFullError:
    filename = getattr(exc, "filename", None)
    target = Path(filename) if isinstance(filename, str) and filename else path
    return DiskFullError(
        f"disk full while writing {target} ({_human(free_bytes(target))} free): {exc}",
        stage=stage,
        hint="free some space on that filesystem (or point --data-dir elsewhere) and run the command again; "
        "the files written by earlier runs were left as they were",
    )


@contextmanager
def disk_guard(path: Path, stage: str | None = None) -> Iterator[None]:
    """Turn a full-disk error raised inside the block into DiskFullError naming `path`; other errors pass."""
    try:
        yield
    except (OSError, sqlite3.OperationalError) as exc:
        if is_disk_full(exc, path):
            raise disk_full_error(exc, path, stage) from exc
        raise
