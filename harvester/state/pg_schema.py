"""The PostgreSQL state schema, created and migrated when a store is opened writable.

`harvester_schema` holds the version reached; each entry of MIGRATIONS takes the schema one version further.
Two processes opening the store at once are serialised by a transaction-level advisory lock, so a migration runs
once. Text columns hold the same ISO timestamps and JSON strings as the SQLite backend, so both return the same
values; leases use the server's clock (`now()`), the one clock every host shares.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("harvester.state")

MIGRATE_LOCK = 0x6861727665  # pg_advisory_xact_lock key of the migration ("harve")

MIGRATIONS: tuple[str, ...] = (
    # 1: the tables of the SQLite backend, plus leases (the lock files of SQLite)
    """
    CREATE TABLE runs (
        run_id TEXT NOT NULL, subject TEXT NOT NULL, kind TEXT NOT NULL,
        started_at TEXT NOT NULL, finished_at TEXT, status TEXT, summary TEXT,
        owner_pid INTEGER, owner_host TEXT, owner_started DOUBLE PRECISION,
        PRIMARY KEY (run_id, subject)
    );
    CREATE INDEX runs_subject_started ON runs (subject, kind, started_at);
    CREATE INDEX runs_open ON runs (subject) WHERE finished_at IS NULL AND status IS NULL;
    CREATE TABLE cursors (source_id TEXT PRIMARY KEY, cursor TEXT, updated_at TEXT NOT NULL);
    CREATE TABLE http_validators (key TEXT PRIMARY KEY, validators TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE TABLE publish_records (
        pipeline TEXT NOT NULL, dataset_key TEXT NOT NULL, ckan_id TEXT NOT NULL, ckan_name TEXT NOT NULL,
        metadata_hash TEXT, published_at TEXT NOT NULL, withdrawn BOOLEAN NOT NULL DEFAULT FALSE,
        PRIMARY KEY (pipeline, dataset_key)
    );
    CREATE TABLE resource_state (
        resource_key TEXT PRIMARY KEY, url TEXT, etag TEXT, last_modified TEXT, sha256 TEXT,
        columns TEXT, updated_at TEXT NOT NULL
    );
    CREATE TABLE schedule (
        kind TEXT NOT NULL, name TEXT NOT NULL, scheduled_at TEXT NOT NULL, PRIMARY KEY (kind, name)
    );
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        pid INTEGER, host TEXT, started DOUBLE PRECISION,
        token TEXT, since TIMESTAMPTZ, expires TIMESTAMPTZ, recovered_from TEXT
    );
    """,
    # 2: one row per stage of a run (`harvester run` gives its stages one run id)
    """
    ALTER TABLE runs DROP CONSTRAINT runs_pkey;
    ALTER TABLE runs ADD PRIMARY KEY (run_id, subject, kind);
    """,
)


def schema_version(conn: psycopg.Connection) -> int | None:
    """The version reached, None when the schema was never created."""
    row = conn.execute("SELECT to_regclass('harvester_schema') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return None
    found = conn.execute("SELECT max(version) FROM harvester_schema").fetchone()
    return int(found[0]) if found and found[0] is not None else 0


def migrate(conn: psycopg.Connection) -> int:
    """Create or upgrade the schema; returns the version now in force."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS harvester_schema (version INTEGER NOT NULL)")
        current = schema_version(conn) or 0
        for version, ddl in enumerate(MIGRATIONS[current:], start=current + 1):
            conn.execute(ddl)  # type: ignore[call-overload]  # trusted constant DDL
            conn.execute("INSERT INTO harvester_schema(version) VALUES (%s)", (version,))
            log.info("state schema migrated to version %d", version)
    return len(MIGRATIONS)
