"""Temporary files: one directory per run and process, and the reclaiming of what dead runs left behind.

A stage that needs scratch space (downloads, extracted archives) gets `tmp/<run_id>-<pid>/` with an `owner.json`
naming its process. A run killed by a signal can't clean up; the next command that writes into the data directory
removes the temporary directories whose owner is gone, and the half-written `.<name>.<pid>.part|tmp` files that
atomic writes leave beside their destination under `tables/` and `catalog/`, and logs the bytes freed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harvester import owner as owners
from harvester.layout import staged_subtrees, tmp_root

log = logging.getLogger(__name__)

OWNER_FILE = "owner.json"
LEGACY_MAX_AGE = 24 * 3600  # scratch dirs from before owner.json: removed once a day old
_PARTIAL = re.compile(r"^\..+\.(\d+)\.(?:part|tmp)$")  # .<name>.<pid>.part | .<name>.<pid>.tmp


@dataclass
class Reclaimed:
    paths: list[str]
    bytes: int


@contextmanager
def run_tmp_dir(data_dir: Path, run_id: str) -> Iterator[Path]:
    """`tmp/<run_id>-<pid>/`, owned by this process; removed when the block ends (or by a later run)."""
    me = owners.current()
    path = tmp_root(data_dir) / f"{run_id}-{me.pid}"
    path.mkdir(parents=True, exist_ok=True)
    (path / OWNER_FILE).write_text(json.dumps({**me.to_dict(), "run_id": run_id}), encoding="utf-8")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _size(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).lstat().st_size
            except OSError:
                pass
    return total


def _dir_owner_gone(path: Path) -> bool:
    try:
        owner = owners.Owner.from_dict(json.loads((path / OWNER_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        owner = None
    if owner is not None:
        return owners.alive(owner) is False
    m = re.search(r"-(\d+)$", path.name)
    if m and not path.name.startswith("normalise-"):  # killed before owner.json was written
        return owners.process_start(int(m.group(1))) is None
    try:  # a scratch dir of an older version: nobody can tell its owner, so only an old one goes
        return time.time() - path.stat().st_mtime > LEGACY_MAX_AGE
    except OSError:
        return False


def _dead_partials(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            m = _PARTIAL.match(name)
            if m and owners.process_start(int(m.group(1))) is None:
                yield Path(dirpath) / name


def reclaim(data_dir: Path) -> Reclaimed:
    """Remove what runs whose process is gone left behind; returns the paths removed and the bytes freed."""
    out = Reclaimed([], 0)
    root = tmp_root(data_dir)
    candidates: list[Path] = []
    if root.is_dir():
        candidates += [p for p in sorted(root.iterdir()) if p.is_dir() and _dir_owner_gone(p)]
    for sub in staged_subtrees(data_dir):
        candidates += list(_dead_partials(sub))
    for path in candidates:
        size = _size(path)
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError as exc:
            log.warning("could not remove the leftover %s: %s", path, exc)
            continue
        out.paths.append(str(path))
        out.bytes += size
    if out.paths:
        log.warning(
            "removed %d leftover(s) of interrupted runs, %d bytes freed: %s",
            len(out.paths),
            out.bytes,
            ", ".join(out.paths),
            extra={"event": "leftovers_reclaimed"},
        )
    return out
