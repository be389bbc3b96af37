"""A small real filesystem for full-disk tests: a tmpfs, or where tmpfs mounts are refused, a loop-mounted ext4
image of the same size. Both need root (development machines and CI run the tests as root); when neither can be
mounted the test FAILS with both reasons: a full-disk test that silently does not run would prove nothing.

HARVESTER_SMALL_DISK=ext4 skips the tmpfs attempt (to exercise the fallback).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _run(*cmd: str) -> str | None:
    """None when the command worked, else its error."""
    done = subprocess.run(list(cmd), capture_output=True, text=True)
    return None if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")


@contextmanager
def small_disk(base: Path, mib: int) -> Iterator[tuple[Path, str]]:
    """(mount point, "tmpfs" | "ext4 loop image") of a `mib` MiB filesystem, unmounted afterwards."""
    mount = base / "small-disk"
    mount.mkdir()
    problems: list[str] = []
    kind = None
    if os.environ.get("HARVESTER_SMALL_DISK") != "ext4":
        err = _run("mount", "-t", "tmpfs", "-o", f"size={mib}m", "tmpfs", str(mount))
        kind = "tmpfs" if err is None else None
        if err:
            problems.append(f"tmpfs: {err}")
    image = base / "small-disk.img"
    if kind is None:
        err = _run("truncate", "-s", f"{mib}M", str(image))
        err = err or _run("mkfs.ext4", "-q", "-F", "-m", "0", str(image))
        err = err or _run("mount", "-o", "loop", str(image), str(mount))
        kind = "ext4 loop image" if err is None else None
        if err:
            problems.append(f"ext4 loop image: {err}")
    if kind is None:
        pytest.fail(
            f"cannot mount a {mib} MiB filesystem for the full-disk test: {'; '.join(problems)}",
            pytrace=False,
        )
    try:
        yield mount, kind
    finally:
        _run("umount", "-l", str(mount))
        image.unlink(missing_ok=True)


def fill(mount: Path, leave: int = 0) -> Path:
    """A ballast file that leaves about `leave` bytes free (0: until ENOSPC)."""
    ballast = mount / "ballast"
    with ballast.open("ab") as fh:
        while (free := shutil.disk_usage(mount).free) > leave:
            try:
                fh.write(b"\0" * min(1 << 20, max(4096, free - leave)))
                fh.flush()
            except OSError:
                break
    return ballast
