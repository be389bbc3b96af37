"""The state store: runs, cursors, HTTP validators, publish records and locks. All state goes through here.

SQLite today (one file, `state.sqlite` in the data directory); the interface is small so that a PostgreSQL
implementation can replace it when stages run on a cluster.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harvester.errors import LockedError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT NOT NULL, subject TEXT NOT NULL, kind TEXT NOT NULL,
    started_at TEXT NOT NULL, finished_at TEXT, status TEXT, summary TEXT,
    PRIMARY KEY (run_id, subject)
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
"""


def utcnow() -> datetime:
    return datetime.now(UTC)


class StateStore:
    """Thread-safe access to `state.sqlite`; each write commits at once (a crash loses at most one write)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # --- cursors -------------------------------------------------------------------------------------------
    def read_cursor(self, source_id: str) -> datetime | None:
        rows = self._exec("SELECT cursor FROM cursors WHERE source_id=?", (source_id,))
        if not rows or rows[0][0] is None:
            return None
        return datetime.fromisoformat(rows[0][0])

    def write_cursor(self, source_id: str, cursor: datetime | None) -> None:
        self._exec(
            "INSERT INTO cursors(source_id, cursor, updated_at) VALUES (?,?,?) "
            "ON CONFLICT(source_id) DO UPDATE SET cursor=excluded.cursor, updated_at=excluded.updated_at",
            (source_id, cursor.isoformat() if cursor else None, utcnow().isoformat()),
        )

    def reset_cursor(self, source_id: str) -> None:
        self._exec("DELETE FROM cursors WHERE source_id=?", (source_id,))

    # --- HTTP validators (harvester.http.ValidatorStore) -----------------------------------------------------
    def read_validators(self, key: str) -> dict[str, str] | None:
        rows = self._exec("SELECT validators FROM http_validators WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def write_validators(self, key: str, validators: dict[str, str]) -> None:
        self._exec(
            "INSERT INTO http_validators(key, validators, updated_at) VALUES (?,?,?) "
            "ON CONFLICT(key) DO UPDATE SET validators=excluded.validators, updated_at=excluded.updated_at",
            (key, json.dumps(validators), utcnow().isoformat()),
        )

    # --- runs ------------------------------------------------------------------------------------------------
    def start_run(self, run_id: str, subject: str, kind: str) -> None:
        self._exec(
            "INSERT OR REPLACE INTO runs(run_id, subject, kind, started_at) VALUES (?,?,?,?)",
            (run_id, subject, kind, utcnow().isoformat()),
        )

    def finish_run(self, run_id: str, subject: str, status: str, summary: dict[str, Any]) -> None:
        self._exec(
            "UPDATE runs SET finished_at=?, status=?, summary=? WHERE run_id=? AND subject=?",
            (utcnow().isoformat(), status, json.dumps(summary, default=str), run_id, subject),
        )

    def last_run(self, subject: str, kind: str | None = None) -> dict[str, Any] | None:
        sql = "SELECT run_id, kind, started_at, finished_at, status, summary FROM runs WHERE subject=?"
        args: tuple[Any, ...] = (subject,)
        if kind:
            sql += " AND kind=?"
            args += (kind,)
        rows = self._exec(sql + " ORDER BY started_at DESC LIMIT 1", args)
        if not rows:
            return None
        run_id, kind_, started, finished, status, summary = rows[0]
        return {
            "run_id": run_id,
            "kind": kind_,
            "started_at": started,
            "finished_at": finished,
            "status": status,
            "summary": json.loads(summary) if summary else None,
        }

    # --- publish records -------------------------------------------------------------------------------------
    def read_publish_records(self, pipeline: str) -> dict[str, dict[str, Any]]:
        rows = self._exec(
            "SELECT dataset_key, ckan_id, ckan_name, metadata_hash, published_at, withdrawn "
            "FROM publish_records WHERE pipeline=?",
            (pipeline,),
        )
        return {
            r[0]: {
                "ckan_id": r[1],
                "ckan_name": r[2],
                "metadata_hash": r[3],
                "published_at": r[4],
                "withdrawn": bool(r[5]),
            }
            for r in rows
        }

    def write_publish_record(
        self,
        pipeline: str,
        dataset_key: str,
        ckan_id: str,
        ckan_name: str,
        metadata_hash: str | None,
        withdrawn: bool = False,
    ) -> None:
        self._exec(
            "INSERT INTO publish_records(pipeline, dataset_key, ckan_id, ckan_name, metadata_hash, published_at, withdrawn) "
            "VALUES (?,?,?,?,?,?,?) ON CONFLICT(pipeline, dataset_key) DO UPDATE SET ckan_id=excluded.ckan_id, "
            "ckan_name=excluded.ckan_name, metadata_hash=excluded.metadata_hash, published_at=excluded.published_at, "
            "withdrawn=excluded.withdrawn",
            (pipeline, dataset_key, ckan_id, ckan_name, metadata_hash, utcnow().isoformat(), int(withdrawn)),
        )

    # --- normalised resources (validators, content hash and column types, for skips and schema drift) -----------
    def read_resource_state(self, resource_key: str) -> dict[str, Any] | None:
        """{url, etag, last_modified, sha256, columns: [[name, type], ...]} of the last normalised download."""
        rows = self._exec(
            "SELECT url, etag, last_modified, sha256, columns FROM resource_state WHERE resource_key=?",
            (resource_key,),
        )
        if not rows:
            return None
        url, etag, last_modified, sha256, columns = rows[0]
        return {
            "url": url,
            "etag": etag,
            "last_modified": last_modified,
            "sha256": sha256,
            "columns": json.loads(columns) if columns else None,
        }

    def write_resource_state(
        self,
        resource_key: str,
        *,
        url: str | None,
        etag: str | None,
        last_modified: str | None,
        sha256: str | None,
        columns: list[tuple[str, str]] | None,
    ) -> None:
        self._exec(
            "INSERT INTO resource_state(resource_key, url, etag, last_modified, sha256, columns, updated_at) "
            "VALUES (?,?,?,?,?,?,?) ON CONFLICT(resource_key) DO UPDATE SET url=excluded.url, etag=excluded.etag, "
            "last_modified=excluded.last_modified, sha256=excluded.sha256, columns=excluded.columns, "
            "updated_at=excluded.updated_at",
            (
                resource_key,
                url,
                etag,
                last_modified,
                sha256,
                json.dumps([list(c) for c in columns]) if columns is not None else None,
                utcnow().isoformat(),
            ),
        )

    # --- locks -------------------------------------------------------------------------------------------------
    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """An exclusive, non-blocking lock per source or pipeline; released when the process dies."""
        lock_dir = self.path.parent / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        path = lock_dir / f"{name}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = path.read_text().strip() or "another process"
                raise LockedError(
                    f"{name} is already being processed by {holder}",
                    hint="wait for the other run to finish; the lock is released automatically when it exits",
                ) from None
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} since {utcnow().isoformat(timespec='seconds')}".encode())
            yield
        finally:
            os.close(fd)
