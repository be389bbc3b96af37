"""The PostgreSQL state backend (psycopg 3): the same Protocols as SQLite, in a database several hosts share.

`harvester --state postgresql://user:password@host:5432/dbname …` uses it. The schema is created or migrated when
the store is opened writable (harvester/state/pg_schema.py). Each process opens its own connection
(`open_state(url)` in a worker); the threads of a process share it, one statement or transaction at a time.

Where two workers could race, one statement or one transaction decides: a run is started with an upsert and
finished with one UPDATE; an interrupted run is closed only if it is still open (so two processes opening the
store at once log it once); publish records are upserts; a lease is taken in a transaction that locks its row
(harvester/state/pg_lease.py). Values read back are those the SQLite backend returns.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from harvester import owner as owners
from harvester.errors import HarvesterError
from harvester.state import pg_lease
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
from harvester.state.pg_schema import migrate, schema_version
from harvester.state.sql import SqlRecords
from harvester.state.urls import redact

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT = 10  # seconds


def connect(url: str, *, readonly: bool = False) -> psycopg.Connection:
    """A connection in autocommit mode (each statement commits; `transaction()` groups several)."""
    import psycopg

    try:
        conn = psycopg.connect(
            url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, application_name="harvester"
        )
    except psycopg.Error as exc:
        raise HarvesterError(
            f"the state database {redact(url)} can't be used: {str(exc).strip()}",
            stage="state",
            hint="check --state (or HARVESTER_STATE): postgresql://user:password@host:port/dbname, "
            "and that the role may create tables in that database",
        ) from None
    # like SQLite's synchronous=NORMAL: a commit does not wait for its WAL flush; other sessions see it at once
    # (so leases stay exact), and only a crash of the server itself could lose the last fraction of a second
    conn.execute("SET synchronous_commit = off")
    if readonly:
        conn.execute("SET default_transaction_read_only = on")
    return conn


class PostgresState(SqlRecords):
    """The state store in PostgreSQL; `readonly` opens it for commands that only read (no schema write)."""

    PARAM = "%s"

    def __init__(self, url: str, *, readonly: bool = False) -> None:
        self._url = url
        self.readonly = readonly
        self._lock = threading.RLock()
        self._closed = False
        self._conn = connect(url, readonly=readonly)
        if readonly:
            self._empty = schema_version(self._conn) is None  # nothing recorded yet: an empty store
        else:
            migrate(self._conn)
            self._empty = False
            self.mark_interrupted()

    @property
    def url(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return f"PostgresState({redact(self._url)!r}, readonly={self.readonly})"

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._conn.close()

    def _ensure(self) -> None:
        """Reconnect when the connection was lost (server restarted, idle connection cut by a proxy)."""
        if self._conn.broken and not self._closed:
            log.warning("connection to the state database %s lost: reconnecting", redact(self._url))
            self._conn = connect(self._url, readonly=self.readonly)

    def _lost(self, exc: Exception) -> HarvesterError:
        return HarvesterError(
            f"the state database {redact(self._url)} failed: {str(exc).strip()}",
            stage="state",
            hint="is the PostgreSQL server up? (--state / HARVESTER_STATE)",
        )

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """One statement (each is idempotent: run again once on a new connection if the old one was lost)."""
        import psycopg

        with self._lock:
            if self._empty:
                return []
            for attempt in (1, 2):
                self._ensure()
                try:
                    cur = self._conn.execute(sql, args)  # type: ignore[call-overload]  # SQL built from constants
                    return cur.fetchall() if cur.description else []
                except psycopg.OperationalError as exc:
                    if attempt == 2 or not self._conn.broken:
                        raise self._lost(exc) from exc
            raise AssertionError("unreachable")

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Cursor[Any]]:
        """A transaction (not retried: a lost connection is an error; the next call reconnects)."""
        import psycopg

        with self._lock:
            self._ensure()
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    yield cur
            except psycopg.OperationalError as exc:
                raise self._lost(exc) from exc

    # --- runs ------------------------------------------------------------------------------------------------
    def start_run(self, run_id: str, subject: str, kind: str) -> None:
        me = owners.current()
        self._exec(
            f"INSERT INTO runs(run_id, subject, kind, started_at, {OWNER_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s) "
            "ON CONFLICT (run_id, subject, kind) DO UPDATE SET started_at=excluded.started_at, "
            "finished_at=NULL, status=NULL, summary=NULL, owner_pid=excluded.owner_pid, "
            "owner_host=excluded.owner_host, owner_started=excluded.owner_started",
            (run_id, subject, kind, utcnow().isoformat(), me.pid, me.host, me.started),
        )

    def _select_runs(self, where: str, args: tuple[Any, ...], tail: str = "") -> list[dict[str, Any]]:
        rows = self._exec(f"SELECT {RUN_COLUMNS}, {OWNER_COLUMNS} FROM runs WHERE {where} {tail}", args)
        return [run_dict(r, self._owner_gone) for r in rows]

    def _owner_gone(self, subject: str, kind: str, owner: owners.Owner | None) -> bool:
        if owner is not None:
            alive = owners.alive(owner)
            if alive is not None:
                return not alive
        # an owner on another host: gone unless it still holds the lease of its subject (it renews it while it
        # works); no owner recorded: gone when nobody holds that lease
        return not pg_lease.held(self._tx, lock_name(subject, kind), by=owner)

    def recent_runs(self, subject: str, kinds: tuple[str, ...], limit: int = 50) -> list[dict[str, Any]]:
        """The last runs of `subject` of these kinds, newest first."""
        return self._select_runs(
            "subject=%s AND kind = ANY(%s)",
            (subject, list(kinds)),
            f"ORDER BY started_at DESC LIMIT {int(limit)}",
        )

    def close_own_runs(self, status: str, error: str) -> list[tuple[str, str]]:
        """Close the runs this process left open with `status`; (run_id, subject) of every run of this process
        that now has that status (closed here or by its stage)."""
        me = owners.current()
        mine = "owner_pid=%s AND owner_host=%s AND (owner_started IS NULL OR abs(owner_started - %s) < 1)"
        args = (me.pid, me.host, me.started or 0)
        rows = self._exec(
            f"SELECT run_id, subject FROM runs WHERE finished_at IS NULL AND status IS NULL AND {mine}", args
        )
        for run_id, subject in rows:
            self.finish_run(run_id, subject, status, {"error": error})
        closed = self._exec(
            f"SELECT run_id, subject FROM runs WHERE status=%s AND {mine} ORDER BY started_at",
            (status, *args),
        )
        return [(r[0], r[1]) for r in closed]

    def mark_interrupted(self) -> list[dict[str, Any]]:
        """Close the runs left open by a process that is gone (killed, crashed): status `interrupted`."""
        closed = []
        for run in self._select_runs("finished_at IS NULL AND status IS NULL", ()):
            if run["status"] != "interrupted":
                continue
            who, summary = interrupted_summary(run)
            with self._tx() as cur:
                cur.execute(
                    "UPDATE runs SET finished_at=%s, status='interrupted', summary=%s "
                    "WHERE run_id=%s AND subject=%s AND finished_at IS NULL AND status IS NULL",
                    (utcnow().isoformat(), json.dumps(summary), run["run_id"], run["subject"]),
                )
                won = cur.rowcount == 1
            if won:  # another process opening the store at the same time may have closed it first
                log_interrupted(run, who)
                closed.append(run)
        return closed

    # --- locks -------------------------------------------------------------------------------------------------
    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """An exclusive, non-blocking lease per source or pipeline (see harvester/state/pg_lease.py)."""
        with pg_lease.hold(self._tx, name):
            yield

    def read_lease(self, name: str) -> dict[str, Any] | None:
        if self._empty:
            return None
        return pg_lease.read(self._tx, name)
