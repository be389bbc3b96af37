"""The embedded state backend (the default): one SQLite file, `state.sqlite` in the data directory.

It implements the Protocols of harvester/state/protocols.py; harvester/state/postgres.py is the other backend.
Locks are lease files beside the database (`locks/<name>.lock`, harvester/lease.py).

Commands that only read (`status`, `state show`) open it read-only (`mode=ro`): no schema write, no journal-mode
change, so they work on a full disk. A writable open marks the runs left open by a dead process `interrupted`.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from harvester import owner as owners
from harvester.diskspace import disk_guard, is_disk_full
from harvester.layout import locks_dir
from harvester.lease import hold_lease, read_lease
from harvester.state.common import (
    OWNER_COLUMNS,
    RUN_COLUMNS,
    interrupted_summary,
    lock_name,
    log,
    log_interrupted,
    run_dict,
    utcnow,
)
from harvester.state.sql import SqlRecords

__all__ = ["SqliteState", "StateStore", "lock_name", "utcnow"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT NOT NULL, subject TEXT NOT NULL, kind TEXT NOT NULL,
    started_at TEXT NOT NULL, finished_at TEXT, status TEXT, summary TEXT,
    PRIMARY KEY (run_id, subject, kind)
);
CREATE TABLE IF NOT EXISTS cursors (
    source_id TEXT PRIMARY KEY, cursor TEXT, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS http_validators (
    key TEXT PRIMARY KEY, validators TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS publish_records (
    pipeline TEXT NOT NULL, dataset_key TEXT NOT NULL, ckan_id TEXT NOT NULL, ckan_name TEXT NOT NULL,
    metadata_hash TEXT, published_at TEXT NOT NULL, withdrawn INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (pipeline, dataset_key)
);
CREATE TABLE IF NOT EXISTS resource_state (
    resource_key TEXT PRIMARY KEY, url TEXT, etag TEXT, last_modified TEXT, sha256 TEXT,
    columns TEXT, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS schedule (
    kind TEXT NOT NULL, name TEXT NOT NULL, scheduled_at TEXT NOT NULL, PRIMARY KEY (kind, name)
);
"""
# Columns added after the first release: (table, column, declaration)
MIGRATIONS = (
    ("runs", "owner_pid", "INTEGER"),
    ("runs", "owner_host", "TEXT"),
    ("runs", "owner_started", "REAL"),
)


class SqliteState(SqlRecords):
    """Thread-safe access to `state.sqlite`; each write commits at once (a crash loses at most one write)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._lock = threading.Lock()
        with disk_guard(path, "state"):
            if readonly:
                self._db = self._open_readonly(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(
                    str(path), check_same_thread=False, timeout=30, isolation_level=None
                )
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(SCHEMA)
                self._migrate()
        self._has_owner = "owner_pid" in self._columns("runs")
        self._has_schedule = bool(
            self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='schedule'").fetchall()
        )
        if not readonly:
            self.mark_interrupted()

    @staticmethod
    def _open_readonly(path: Path) -> sqlite3.Connection:
        if not path.exists():  # nothing recorded yet: an empty store
            db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            db.executescript(SCHEMA)
            return db
        uri = path.resolve().as_uri()
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False, timeout=30)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchall()
            return db
        except sqlite3.OperationalError as exc:
            wal = path.with_name(path.name + "-wal")
            if not is_disk_full(exc, path) or (wal.exists() and wal.stat().st_size):
                raise
            # a WAL database needs a -shm file even to be read, and there is no room to create one; with no
            # pending -wal, the database file alone is the whole state: read it as an immutable file
            db.close()
            log.info("no space to open %s in WAL mode: read as an immutable file", path)
            return sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)

    def _columns(self, table: str) -> set[str]:
        return {r[1] for r in self._db.execute(f"PRAGMA table_info({table})").fetchall()}

    def _migrate(self) -> None:
        for table, column, decl in MIGRATIONS:
            if column not in self._columns(table):
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        pk = [
            r[1]
            for r in sorted(self._db.execute("PRAGMA table_info(runs)").fetchall(), key=lambda r: r[5])
            if r[5]
        ]
        if pk == ["run_id", "subject"]:  # before the stages of one `run` (one run id) each had their own row
            cols = f"{RUN_COLUMNS}, {OWNER_COLUMNS}"
            self._db.executescript(
                "BEGIN; CREATE TABLE runs_by_kind (run_id TEXT NOT NULL, subject TEXT NOT NULL, kind TEXT NOT NULL, "
                "started_at TEXT NOT NULL, finished_at TEXT, status TEXT, summary TEXT, owner_pid INTEGER, "
                "owner_host TEXT, owner_started REAL, PRIMARY KEY (run_id, subject, kind)); "
                f"INSERT INTO runs_by_kind({cols}) SELECT {cols} FROM runs; DROP TABLE runs; "
                "ALTER TABLE runs_by_kind RENAME TO runs; COMMIT;"
            )

    @property
    def url(self) -> str:
        return str(self.path)

    def close(self) -> None:
        self._db.close()

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock, disk_guard(self.path, "state"):
            return self._db.execute(sql, args).fetchall()

    # --- runs ------------------------------------------------------------------------------------------------
    def start_run(self, run_id: str, subject: str, kind: str) -> None:
        me = owners.current()
        self._exec(
            f"INSERT OR REPLACE INTO runs(run_id, subject, kind, started_at, {OWNER_COLUMNS}) "
            "VALUES (?,?,?,?,?,?,?)",
            (run_id, subject, kind, utcnow().isoformat(), me.pid, me.host, me.started),
        )

    def _select_runs(self, where: str, args: tuple[Any, ...], tail: str = "") -> list[dict[str, Any]]:
        cols = RUN_COLUMNS + (", " + OWNER_COLUMNS if self._has_owner else "")
        rows = self._exec(f"SELECT {cols} FROM runs WHERE {where} {tail}", args)
        return [run_dict(r, self._owner_gone) for r in rows]

    def _owner_gone(self, subject: str, kind: str, owner: owners.Owner | None) -> bool:
        if owner is not None:
            return owners.alive(owner) is False
        # written before runs had an owner: dead when nobody holds the lock of its subject
        return not self._lock_held(lock_name(subject, kind))

    def mark_interrupted(self) -> list[dict[str, Any]]:
        """Close the runs left open by a process that is gone (killed, crashed): status `interrupted`."""
        closed = []
        for run in self._select_runs("finished_at IS NULL AND status IS NULL", ()):
            if run["status"] != "interrupted":
                continue
            who, summary = interrupted_summary(run)
            self._exec(
                "UPDATE runs SET finished_at=?, status='interrupted', summary=? "
                "WHERE run_id=? AND subject=? AND finished_at IS NULL",
                (utcnow().isoformat(), json.dumps(summary), run["run_id"], run["subject"]),
            )
            log_interrupted(run, who)
            closed.append(run)
        return closed

    # --- schedule (`run --due`) ----------------------------------------------------------------------------------
    def last_scheduled(self, kind: str, name: str) -> datetime | None:
        if not self._has_schedule:  # a read-only store written before the table existed
            return None
        return super().last_scheduled(kind, name)

    def _flag(self, value: bool) -> int:
        return int(value)

    # --- locks -------------------------------------------------------------------------------------------------
    def _lock_held(self, name: str) -> bool:
        """Does some process hold this lock now? (Probed with a shared, non-blocking attempt.)"""
        path = self._lock_path(name)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """An exclusive, non-blocking lease per source or pipeline (see harvester/lease.py)."""
        with hold_lease(self._lock_path(name), name):
            yield

    def read_lease(self, name: str) -> dict[str, Any] | None:
        return read_lease(self._lock_path(name))

    def recent_runs(self, subject: str, kinds: tuple[str, ...], limit: int = 50) -> list[dict[str, Any]]:
        """The last runs of `subject` of these kinds, newest first."""
        marks = ",".join("?" for _ in kinds)
        return self._select_runs(
            f"subject=? AND kind IN ({marks})",
            (subject, *kinds),
            f"ORDER BY started_at DESC LIMIT {int(limit)}",
        )

    def close_own_runs(self, status: str, error: str) -> list[tuple[str, str]]:
        """Close the runs this process left open (it is stopping on a signal) with `status`; returns (run_id,
        subject) of every run of this process that now has that status (closed here or by its stage)."""
        me = owners.current()
        mine = "owner_pid=? AND owner_host=? AND (owner_started IS ? OR abs(owner_started - ?) < 1)"
        args = (me.pid, me.host, me.started, me.started or 0)
        rows = self._exec(
            f"SELECT run_id, subject FROM runs WHERE finished_at IS NULL AND status IS NULL AND {mine}", args
        )
        for run_id, subject in rows:
            self.finish_run(run_id, subject, status, {"error": error})
        closed = self._exec(
            f"SELECT run_id, subject FROM runs WHERE status=? AND {mine} ORDER BY started_at", (status, *args)
        )
        return [(r[0], r[1]) for r in closed]

    def _lock_path(self, name: str) -> Path:
        return locks_dir(self.path.parent) / f"{name}.lock"


StateStore = SqliteState  # the name every stage and test imported before there were two backends
