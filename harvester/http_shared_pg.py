"""The shared host limits of a run in its PostgreSQL state database (see harvester/http_shared.py).

A slot is a session advisory lock `(key(run, host), slot number)` on this process's own connection: the server
releases it when the connection closes, so a killed worker's slots come back at once (a machine lost without
closing its connections: when the server's TCP gives up on them; `?keepalives_idle=30` in the URL bounds that). The advisory locks of one session
stack, so the process remembers which slots its threads hold and asks only for the others. The turn in time and
the breaker are rows of `http_host_turns` and `http_host_breaker` (created on first use), each changed by one
statement on the server's clock, so workers on machines whose clocks differ still space their requests right.
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING, Any

from harvester.http_hosts import HostHealth
from harvester.http_shared import KEEP_SECONDS, HostsSpec, SharedHosts

if TYPE_CHECKING:
    import psycopg

_SCHEMA = """
CREATE TABLE IF NOT EXISTS http_host_turns (
    run text NOT NULL, host text NOT NULL, next_at timestamptz NOT NULL, PRIMARY KEY (run, host));
CREATE TABLE IF NOT EXISTS http_host_breaker (
    run text NOT NULL, host text NOT NULL, failures integer NOT NULL DEFAULT 0, since timestamptz,
    last_error text NOT NULL DEFAULT '', opened_at timestamptz, refused integer NOT NULL DEFAULT 0,
    touched timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run, host));
"""
_SCHEMA_LOCK = (
    0x68617276  # the advisory lock held while the tables are created (two workers may start at once)
)
_COLUMNS = "failures, since, last_error, opened_at, refused"
_TURN = (
    "INSERT INTO http_host_turns AS t (run, host, next_at) VALUES (%s, %s, clock_timestamp() + %s * interval '1s') "
    "ON CONFLICT (run, host) DO UPDATE SET next_at = greatest(t.next_at, clock_timestamp()) + %s * interval '1s' "
    "RETURNING extract(epoch FROM t.next_at - clock_timestamp())::float8 - %s"
)


def lock_key(run: str, host: str) -> int:
    """A signed 32-bit key for the (run, host) pair; the slot number is the advisory lock's second key."""
    return int.from_bytes(
        hashlib.blake2b(f"{run}\0{host}".encode(), digest_size=4).digest(), "big", signed=True
    )


class PgHosts(SharedHosts):
    def __init__(self, spec: HostsSpec, url: str) -> None:
        super().__init__(spec)
        self._url = url
        self._db = threading.Lock()
        self._held: dict[str, set[int]] = {}  # host -> slots this session holds
        self._generation = 0  # +1 at each new connection: slots of a lost one are gone with it
        self._conn = self._connect()
        with self._db, self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._conn.execute(statement)  # type: ignore[call-overload]
            for table, column in (("http_host_turns", "next_at"), ("http_host_breaker", "touched")):
                self._conn.execute(
                    f"DELETE FROM {table} WHERE {column} < now() - %s * interval '1s'",  # type: ignore[call-overload]
                    (KEEP_SECONDS,),
                )

    def _connect(self) -> psycopg.Connection:
        from harvester.state.postgres import connect

        conn = connect(self._url)
        conn.execute("SET idle_in_transaction_session_timeout = '60s'")
        return conn

    def _exec(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._db:
            return self._run(sql, args)

    def _run(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """One statement (the caller holds `_db`); a lost connection is opened again once (its slots went with
        it: forgotten here)."""
        import psycopg

        for attempt in (1, 2):
            try:
                cur = self._conn.execute(sql, args)  # type: ignore[call-overload]
                return cur.fetchall() if cur.description else []
            except psycopg.OperationalError:
                if attempt == 2 or not self._conn.closed and not self._conn.broken:
                    raise
                self._conn = self._connect()
                self._held.clear()
                self._generation += 1
        raise AssertionError("unreachable")

    def try_slot(self, host: str, limit: int, interval: float) -> tuple[Any, float] | None:
        key = lock_key(self.run, host)
        with (
            self._db
        ):  # one thread at a time: the session's locks stack, so two threads could get the same slot
            held = self._held.setdefault(host, set())
            free = [s for s in range(limit) if s not in held]
            if not free:
                return None
            rows = self._run(
                "SELECT s FROM unnest(%s::int[]) AS s WHERE pg_try_advisory_lock(%s, s) LIMIT 1", (free, key)
            )
            if not rows:
                return None
            slot = int(rows[0][0])
            self._held.setdefault(host, set()).add(slot)
            generation = self._generation
        wait = self.next_turn(host, interval) if interval > 0 else 0.0
        return (slot, generation), wait

    def release(self, host: str, token: Any) -> None:
        slot, generation = token
        with self._db:
            if generation != self._generation:
                return  # taken on a connection since lost: the server let it go then
            self._run("SELECT pg_advisory_unlock(%s, %s)", (lock_key(self.run, host), slot))
            self._held.get(host, set()).discard(slot)

    def next_turn(self, host: str, interval: float) -> float:
        rows = self._exec(_TURN, (self.run, host, interval, interval, interval))
        return float(rows[0][0])

    def _health(self, row: tuple[Any, ...] | None, host: str) -> HostHealth | None:
        if row is None:
            return None
        failures, since, last_error, opened_at, refused = row
        return HostHealth(host, int(failures), since, str(last_error), opened_at, int(refused))

    def health(self, host: str) -> HostHealth | None:
        rows = self._exec(
            f"SELECT {_COLUMNS} FROM http_host_breaker WHERE run=%s AND host=%s", (self.run, host)
        )
        return self._health(rows[0] if rows else None, host)

    def fail(self, host: str, error: str, threshold: int) -> bool:
        rows = self._exec(
            "INSERT INTO http_host_breaker AS b (run, host, failures, since, last_error, opened_at) "
            "VALUES (%s, %s, 1, now(), %s, CASE WHEN 1 >= %s THEN now() END) "
            "ON CONFLICT (run, host) DO UPDATE SET failures = b.failures + 1, since = coalesce(b.since, now()), "
            "last_error = excluded.last_error, touched = now(), "
            "opened_at = coalesce(b.opened_at, CASE WHEN b.failures + 1 >= %s THEN now() END) "
            "RETURNING b.failures",
            (self.run, host, error, threshold, threshold),
        )
        return int(rows[0][0]) == threshold  # it only grows once open: equal once, when it opened

    def reset(self, host: str) -> None:
        self._exec(
            "UPDATE http_host_breaker SET failures = 0, since = NULL, last_error = '' "
            "WHERE run=%s AND host=%s AND opened_at IS NULL",
            (self.run, host),
        )

    def refuse(self, host: str) -> HostHealth | None:
        rows = self._exec(
            f"UPDATE http_host_breaker SET refused = refused + 1 WHERE run=%s AND host=%s RETURNING {_COLUMNS}",
            (self.run, host),
        )
        return self._health(rows[0] if rows else None, host)

    def opened(self) -> list[HostHealth]:
        rows = self._exec(
            f"SELECT host, {_COLUMNS} FROM http_host_breaker WHERE run=%s AND opened_at IS NOT NULL "
            "ORDER BY host",
            (self.run,),
        )
        return [h for r in rows if (h := self._health(r[1:], r[0])) is not None]

    def close(self) -> None:
        with self._db:
            self._conn.close()
