"""Both state backends for the contract tests: SQLite in a temporary dir, PostgreSQL in a fresh database.

Tests marked `postgres` need the PostgreSQL database of the testbed: `make ckan-up` creates the role and database
`harvester_state` and writes their DSN to `$CKAN_TESTBED_DIR/state_dsn.txt`. Each test session creates its own
database from it (dropped at the end), and each test starts with empty tables. When the DSN is missing or the
server can't be reached these tests FAIL; a developer may opt out locally with HARVESTER_NO_CKAN=1 (they are then
skipped), CI (CI=true) never does — as for the tests marked `ckan` (tests/publish/conftest.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from harvester.state import StateBackend, open_state

ROOT = Path(__file__).resolve().parents[2]
OpenState = Callable[..., StateBackend]


def dsn_file() -> Path:
    return Path(os.environ.get("CKAN_TESTBED_DIR") or ROOT / ".ckan-testbed") / "state_dsn.txt"


def opted_out() -> bool:
    return os.environ.get("HARVESTER_NO_CKAN") == "1" and os.environ.get("CI") != "true"


def with_dbname(dsn: str, dbname: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def pg_admin_dsn() -> str:
    """The testbed's DSN (a role that may create databases)."""
    import psycopg

    problem = None
    dsn = ""
    try:
        dsn = dsn_file().read_text(encoding="utf-8").strip()
        if not dsn:
            problem = f"empty DSN file {dsn_file()}"
        else:
            with psycopg.connect(dsn, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
    except (OSError, psycopg.Error) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        if opted_out():
            pytest.skip(f"HARVESTER_NO_CKAN=1: PostgreSQL state database not used ({problem})")
        pytest.fail(
            f"the PostgreSQL state database of the testbed is not usable: {problem}. Start the testbed with "
            "`make ckan-up` (it writes the DSN); a developer may set HARVESTER_NO_CKAN=1 to skip these tests "
            "locally; CI never does",
            pytrace=False,
        )
    return dsn


@contextmanager
def fresh_database(admin_dsn: str) -> Iterator[str]:
    """A new, empty database on the testbed's server (its URL), dropped on exit: a state namespace of its own."""
    import psycopg

    name = f"harvester_state_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[call-overload]
    try:
        yield with_dbname(admin_dsn, name)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[call-overload]


@pytest.fixture(scope="session")
def pg_url(pg_admin_dsn: str) -> Iterator[str]:
    """A fresh database for this test session, dropped at its end."""
    with fresh_database(pg_admin_dsn) as url:
        yield url


@pytest.fixture
def pg_empty(pg_url: str) -> str:
    """The session's database with every state table emptied (a test starts from nothing)."""
    import psycopg

    open_state(pg_url).close()  # creates the schema on first use
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE runs, cursors, http_validators, publish_records, resource_state, schedule, leases"
        )
    return pg_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the store under test lives: a SQLite file, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "state.sqlite")
    url: str = request.getfixturevalue("pg_empty")
    return url


@pytest.fixture
def open_store(state_url: str) -> Iterator[OpenState]:
    """Opens the store under test (as many handles as a test wants); closes them all at the end."""
    opened: list[StateBackend] = []

    def opener(readonly: bool = False) -> StateBackend:
        st = open_state(state_url, readonly=readonly)
        opened.append(st)
        return st

    yield opener
    for st in opened:
        st.close()
