"""The shared host limits of the workers of one machine, in `<state>-hosts.sqlite` (see harvester/http_shared.py).

The file sits beside the SQLite state, so that requests never wait on the state's own writers. A slot is a row
naming its process (pid, host, start time), taken with the host's turn in time in one `BEGIN IMMEDIATE`
transaction; when all of a host's slots are taken, rows of processes that are gone are deleted first, so a killed
worker's slot comes back at the next attempt of another. Times are the machine's clock (one machine).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harvester import owner as owners
from harvester.http_hosts import HostHealth
from harvester.http_shared import KEEP_SECONDS, HostsSpec, SharedHosts

log = logging.getLogger("harvester.http_shared")


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS host_slots (
    token TEXT PRIMARY KEY, run TEXT NOT NULL, host TEXT NOT NULL,
    pid INTEGER NOT NULL, node TEXT NOT NULL, started REAL, since REAL NOT NULL);
CREATE INDEX IF NOT EXISTS host_slots_host ON host_slots(run, host);
CREATE TABLE IF NOT EXISTS host_turns (
    run TEXT NOT NULL, host TEXT NOT NULL, next_at REAL NOT NULL, PRIMARY KEY (run, host));
CREATE TABLE IF NOT EXISTS host_breaker (
    run TEXT NOT NULL, host TEXT NOT NULL, failures INTEGER NOT NULL DEFAULT 0, since REAL,
    last_error TEXT NOT NULL DEFAULT '', opened_at REAL, refused INTEGER NOT NULL DEFAULT 0,
    touched REAL NOT NULL, PRIMARY KEY (run, host));
"""


def _when(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


class SqliteHosts(SharedHosts):
    """The shared limits of the workers of one machine, in `<state>-hosts.sqlite` (see the module docstring)."""

    def __init__(self, spec: HostsSpec, path: Path) -> None:
        super().__init__(spec)
        self.path = path
        self._db = threading.Lock()
        self._conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        for statement in filter(str.strip, _SQLITE_SCHEMA.split(";")):
            self._conn.execute(statement)
        old = time.time() - KEEP_SECONDS
        with self._tx() as c:
            c.execute("DELETE FROM host_turns WHERE next_at < ?", (old,))
            c.execute("DELETE FROM host_breaker WHERE touched < ?", (old,))
            c.execute("DELETE FROM host_slots WHERE since < ?", (old,))

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._db:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._db:
            return self._conn.execute(sql, args).fetchall()

    def try_slot(self, host: str, limit: int, interval: float) -> tuple[Any, float] | None:
        me = owners.current()
        with self._tx() as c:
            holders = c.execute(
                "SELECT token, pid, node, started FROM host_slots WHERE run=? AND host=?", (self.run, host)
            ).fetchall()
            if len(holders) >= limit:
                for token, pid, node, started in holders:
                    if owners.alive(owners.Owner(int(pid), str(node), started)) is False:
                        c.execute("DELETE FROM host_slots WHERE token=?", (token,))
                        log.warning(
                            "host %s: the slot of dead process %s on %s is taken back", host, pid, node
                        )
                        holders = [h for h in holders if h[0] != token]
            if len(holders) >= limit:
                return None
            token = uuid.uuid4().hex
            now = time.time()
            c.execute(
                "INSERT INTO host_slots(token, run, host, pid, node, started, since) VALUES (?,?,?,?,?,?,?)",
                (token, self.run, host, me.pid, me.host, me.started, now),
            )
            wait = self._book(c, host, interval, now) if interval > 0 else 0.0
        return token, wait

    def _book(self, c: sqlite3.Connection, host: str, interval: float, now: float) -> float:
        row = c.execute("SELECT next_at FROM host_turns WHERE run=? AND host=?", (self.run, host)).fetchone()
        start = max(now, row[0]) if row else now
        c.execute(
            "INSERT INTO host_turns(run, host, next_at) VALUES (?,?,?) "
            "ON CONFLICT (run, host) DO UPDATE SET next_at=excluded.next_at",
            (self.run, host, start + interval),
        )
        return start - now

    def release(self, host: str, token: Any) -> None:
        with self._db:
            self._conn.execute("DELETE FROM host_slots WHERE token=?", (token,))

    def next_turn(self, host: str, interval: float) -> float:
        with self._tx() as c:
            return self._book(c, host, interval, time.time())

    def _health(self, row: tuple[Any, ...] | None, host: str) -> HostHealth | None:
        if row is None:
            return None
        failures, since, last_error, opened_at, refused = row
        return HostHealth(host, int(failures), _when(since), str(last_error), _when(opened_at), int(refused))

    _COLUMNS = "failures, since, last_error, opened_at, refused"

    def health(self, host: str) -> HostHealth | None:
        rows = self._query(
            f"SELECT {self._COLUMNS} FROM host_breaker WHERE run=? AND host=?", (self.run, host)
        )
        return self._health(rows[0] if rows else None, host)

    def fail(self, host: str, error: str, threshold: int) -> bool:
        now = time.time()
        with self._tx() as c:
            c.execute(
                "INSERT INTO host_breaker(run, host, touched) VALUES (?,?,?) ON CONFLICT (run, host) DO NOTHING",
                (self.run, host, now),
            )
            c.execute(
                "UPDATE host_breaker SET failures=failures+1, since=coalesce(since, ?), last_error=?, touched=?, "
                "opened_at=coalesce(opened_at, CASE WHEN failures+1 >= ? THEN ? END) WHERE run=? AND host=?",
                (now, error, now, threshold, now, self.run, host),
            )
            (failures,) = c.execute(
                "SELECT failures FROM host_breaker WHERE run=? AND host=?", (self.run, host)
            ).fetchone()
        return int(failures) == threshold  # it only grows once open: equal once, when it opened

    def reset(self, host: str) -> None:
        with self._db:
            self._conn.execute(
                "UPDATE host_breaker SET failures=0, since=NULL, last_error='' "
                "WHERE run=? AND host=? AND opened_at IS NULL",
                (self.run, host),
            )

    def refuse(self, host: str) -> HostHealth | None:
        with self._tx() as c:
            c.execute("UPDATE host_breaker SET refused=refused+1 WHERE run=? AND host=?", (self.run, host))
            row = c.execute(
                f"SELECT {self._COLUMNS} FROM host_breaker WHERE run=? AND host=?", (self.run, host)
            ).fetchone()
        return self._health(row, host)

    def opened(self) -> list[HostHealth]:
        rows = self._query(
            f"SELECT host, {self._COLUMNS} FROM host_breaker WHERE run=? AND opened_at IS NOT NULL ORDER BY host",
            (self.run,),
        )
        return [h for r in rows if (h := self._health(r[1:], r[0])) is not None]

    def close(self) -> None:
        with self._db:
            self._conn.close()
