"""Leases in PostgreSQL: the `leases` table plays the part of SQLite's lock files (harvester/lease.py).

A lease row names its holder (pid, host, process start), since and until when (the server's clock) and a token
for this hold. Taking it is one transaction: the row is created if missing, then locked with SELECT … FOR UPDATE,
so two workers racing for it are serialised and exactly one wins. A row still naming a holder is taken over only
when that holder is gone: dead on this host (its pid is gone or was reused), or, for a holder on another host
whose liveness can't be seen from here, when its lease has expired (it stopped renewing). A take-over is logged
with the dead owner (`event=lock_recovered`), as with SQLite. The holder renews the expiry while it works and
empties the row when it lets go.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from harvester import owner as owners
from harvester.errors import HarvesterError, LockedError
from harvester.lease import LEASE_SECONDS, RENEW_EVERY
from harvester.lease import _describe as describe

log = logging.getLogger("harvester.lease")

Tx = Callable[[], AbstractContextManager[Any]]  # a cursor inside a transaction of the store's connection

_LEASE_COLUMNS = "pid, host, started, since, expires, recovered_from"


def lease_dict(name: str, row: tuple[Any, ...] | None) -> dict[str, Any] | None:
    """The lease as SQLite's lock files hold it: {pid, host, started, name, since, expires[, recovered_from]}."""
    if row is None or row[0] is None:
        return None
    pid, host, started, since, expires, recovered = row
    out: dict[str, Any] = {
        "pid": pid,
        "host": host,
        "started": started,
        "name": name,
        "since": since.isoformat(timespec="seconds") if since else None,
        "expires": expires.isoformat(timespec="seconds") if expires else None,
    }
    if recovered:
        out["recovered_from"] = json.loads(recovered)
    return out


def read(tx: Tx, name: str) -> dict[str, Any] | None:
    with tx() as cur:
        row = cur.execute(f"SELECT {_LEASE_COLUMNS} FROM leases WHERE name=%s", (name,)).fetchone()
    return lease_dict(name, row)


def held(tx: Tx, name: str, by: owners.Owner | None = None) -> bool:
    """Does a holder that is alive (or, on another host, whose lease has not expired) hold `name`? With `by`:
    is that holder this owner?"""
    with tx() as cur:
        row = cur.execute(
            "SELECT pid, host, started, expires < now() FROM leases WHERE name=%s", (name,)
        ).fetchone()
    if row is None or row[0] is None or _gone(row):
        return False
    return by is None or (row[0], row[1]) == (by.pid, by.host)


def _gone(row: tuple[Any, ...]) -> bool:
    pid, host, started, expired = row[:4]
    alive = owners.alive(owners.Owner(int(pid), str(host), started))
    return alive is False or (alive is None and bool(expired))


def _take(tx: Tx, name: str, seconds: float, token: str) -> dict[str, Any]:
    me = owners.current()
    with tx() as cur:
        cur.execute("INSERT INTO leases(name) VALUES (%s) ON CONFLICT (name) DO NOTHING", (name,))
        row = cur.execute(
            f"SELECT pid, host, started, expires < now(), {_LEASE_COLUMNS} FROM leases WHERE name=%s FOR UPDATE",
            (name,),
        ).fetchone()
        left = lease_dict(name, row[4:])
        if left is not None and not _gone(row):
            raise LockedError(
                f"{name} is already being processed by {describe(left)}",
                hint="wait for the other run to finish; a lock left by a dead process is taken over by the next run",
            )
        row = cur.execute(
            "UPDATE leases SET pid=%s, host=%s, started=%s, token=%s, since=now(), "
            "expires=now() + make_interval(secs => %s), recovered_from=%s "
            f"WHERE name=%s RETURNING {_LEASE_COLUMNS}",
            (me.pid, me.host, me.started, token, seconds, json.dumps(left) if left else None, name),
        ).fetchone()
    if left is not None:
        log.warning(
            "lock %s recovered: its holder (%s) died without releasing it", name, describe(left),
            extra={"event": "lock_recovered", "stage": "lock"},
        )  # fmt: skip
    lease = lease_dict(name, row)
    assert lease is not None
    return lease


def _renew(tx: Tx, name: str, seconds: float, token: str) -> bool:
    with tx() as cur:
        cur.execute(
            "UPDATE leases SET expires=now() + make_interval(secs => %s) WHERE name=%s AND token=%s",
            (seconds, name, token),
        )
        return bool(cur.rowcount)


def _release(tx: Tx, name: str, token: str) -> None:
    with tx() as cur:
        cur.execute(
            "UPDATE leases SET pid=NULL, host=NULL, started=NULL, token=NULL, since=NULL, expires=NULL, "
            "recovered_from=NULL WHERE name=%s AND token=%s",
            (name, token),
        )


@contextmanager
def hold(
    tx: Tx, name: str, *, seconds: float = LEASE_SECONDS, renew_every: float = RENEW_EVERY
) -> Iterator[dict[str, Any]]:
    """Hold the lease `name` for the duration of the block; LockedError if a live holder has it."""
    token = uuid.uuid4().hex
    lease = _take(tx, name, seconds, token)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(renew_every):
            try:
                if not _renew(tx, name, seconds, token):
                    log.warning("lease %s was taken over while held (it had expired)", name)
                    return
            except Exception:  # a renewal that fails leaves the last expiry
                log.debug("lease %s not renewed", name, exc_info=True)

    renewer = threading.Thread(target=renew, name=f"lease-{name}", daemon=True)
    renewer.start()
    try:
        yield lease
    finally:
        stop.set()
        renewer.join()
        try:
            _release(tx, name, token)
        except HarvesterError:  # the connection was lost: once more, on a new one (else the lease stays ours)
            _release(tx, name, token)
