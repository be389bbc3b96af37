"""What only the PostgreSQL backend has: its schema, holders on other hosts, and the CLI end to end with `--state`."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from harvester.errors import HarvesterError, LockedError
from harvester.state import open_state
from harvester.state.pg_schema import MIGRATIONS
from tests.fixture_server import FixtureServer
from tests.portals.ckan_portal import CkanPortal, build_packages
from tests.state.conftest import with_dbname
from tests.subprocess_cli import harvester_cmd

pytestmark = pytest.mark.postgres

OPEN = """
import sys
import time
from harvester.state import open_state
open_state(sys.argv[1]).close()
print("opened")
"""


@pytest.fixture
def fresh_db(pg_admin_dsn: str) -> Iterator[str]:
    """A database of its own (no schema yet), dropped after the test."""
    name = f"harvester_state_fresh_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[call-overload]
    try:
        yield with_dbname(pg_admin_dsn, name)
    finally:
        with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[call-overload]


def _sql(url: str, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, args)  # type: ignore[call-overload]
        return cur.fetchall() if cur.description else []


def test_processes_opening_a_new_database_at_once_create_the_schema_once(fresh_db: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN, fresh_db], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert _sql(fresh_db, "SELECT version FROM harvester_schema ORDER BY version") == [
        (v,) for v in range(1, len(MIGRATIONS) + 1)
    ]
    open_state(fresh_db).close()  # reopening migrates nothing more
    assert len(_sql(fresh_db, "SELECT version FROM harvester_schema")) == len(MIGRATIONS)


def test_a_read_only_open_writes_nothing(fresh_db: str) -> None:
    ro = open_state(fresh_db, readonly=True)
    assert ro.last_run("src") is None and ro.read_cursor("src") is None and ro.read_lease("x") is None
    assert ro.read_publish_records("p") == {} and ro.last_scheduled("source", "a") is None
    assert _sql(fresh_db, "SELECT to_regclass('harvester_schema')") == [(None,)]  # no schema was created
    ro.close()
    open_state(fresh_db).write_cursor("src", None)
    ro = open_state(fresh_db, readonly=True)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        ro.reset_cursor("src")
    ro.close()


def test_a_holder_on_another_host_is_overtaken_only_once_its_lease_expired(
    pg_empty: str, caplog: pytest.LogCaptureFixture
) -> None:
    st = open_state(pg_empty)
    with st.lock("source-far"):
        pass
    far = (
        "UPDATE leases SET pid=4242, host='worker-2.invalid', started=1.0, token='t', since=now(), "
        "expires=now() + %s::interval WHERE name='source-far'"
    )
    _sql(pg_empty, far, ("5 minutes",))
    st.start_run("r-far", "far", "harvest")
    _sql(pg_empty, "UPDATE runs SET owner_pid=4242, owner_host='worker-2.invalid' WHERE run_id='r-far'")
    # its liveness can't be seen from here: while its lease runs, it is alive
    with pytest.raises(LockedError, match="pid 4242 on worker-2.invalid"), st.lock("source-far"):
        pass
    assert st.last_run("far")["status"] == "running"  # type: ignore[index]
    assert open_state(pg_empty).mark_interrupted() == []
    # it stopped renewing: the lease expired, the run reads interrupted, the next holder takes over and says so
    _sql(pg_empty, "UPDATE leases SET expires=now() - interval '1 second' WHERE name='source-far'")
    assert open_state(pg_empty, readonly=True).last_run("far")["status"] == "interrupted"  # type: ignore[index]
    with caplog.at_level(logging.WARNING, logger="harvester.lease"), st.lock("source-far"):
        lease = st.read_lease("source-far")
        assert lease is not None and lease["recovered_from"]["host"] == "worker-2.invalid"
        assert st.last_run("far")["status"] == "interrupted"  # type: ignore[index]  # we hold it, not its owner
    assert [r.getMessage() for r in caplog.records if getattr(r, "event", None) == "lock_recovered"] == [
        "lock source-far recovered: its holder (pid 4242 on worker-2.invalid since "
        f"{lease['recovered_from']['since']}) died without releasing it"
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="harvester.state"):
        open_state(pg_empty)  # a writable open closes it, and says so
    assert [r.getMessage() for r in caplog.records if getattr(r, "event", None) == "run_interrupted"] == [
        "harvest run r-far of far was interrupted (owner pid 4242 on worker-2.invalid): marked interrupted"
    ]
    closed = st.last_run("far")
    assert closed is not None and closed["status"] == "interrupted" and closed["finished_at"] is not None


# --- the CLI end to end ------------------------------------------------------------------------------------------


def _cli(root: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(harvester_cmd(root, *args, data=data), capture_output=True, text=True, timeout=180)
    return proc


def _comparable(status: dict[str, Any]) -> list[dict[str, Any]]:
    """What two runs on the same portal must share (not run ids, times, pids)."""
    out = []
    for s in status["sources"]:
        runs = {}
        for kind, run in s["runs"].items():
            if run is not None:
                summary = {k: v for k, v in run["summary"].items() if k != "seconds"}
                run = {"kind": run["kind"], "status": run["status"], "summary": summary}
            runs[kind] = run
        out.append({"id": s["id"], "cursor": s["cursor"], "datasets": s["datasets"], "runs": runs})
    return out


def _harvest_twice(root: Path, data: Path, server: FixtureServer, *state: str) -> dict[str, Any]:
    before = len(server.requests)
    for mode in ("full", "incremental"):
        res = _cli(root, data, *state, "--executor", "processes", "harvest", "demo")
        assert res.returncode == 0, res.stderr
        assert mode in res.stderr
    shown = _cli(root, data, *state, "status", "--json")
    assert shown.returncode == 0, shown.stderr
    status: dict[str, Any] = json.loads(shown.stdout)
    status["requests"] = len(server.requests) - before
    return status


def test_harvest_and_status_with_postgres_match_sqlite(
    tmp_path: Path, server: FixtureServer, pg_empty: str
) -> None:
    CkanPortal(server, build_packages(30))
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"id": "demo", "type": "ckan", "url": server.url}]})
    )
    lite = _harvest_twice(tmp_path, tmp_path / "data-sqlite", server)
    pg = _harvest_twice(tmp_path, tmp_path / "data-pg", server, "--state", pg_empty)
    assert (tmp_path / "data-sqlite" / "state.sqlite").exists()
    assert not (tmp_path / "data-pg" / "state.sqlite").exists()  # every process used PostgreSQL
    assert _comparable(pg) == _comparable(lite) and pg["requests"] == lite["requests"]
    run = pg["sources"][0]["runs"]["harvest"]
    assert run["status"] == "ok" and run["summary"]["mode"] == "incremental"
    assert pg["sources"][0]["cursor"] and pg["sources"][0]["datasets"] == 30
    assert _sql(pg_empty, "SELECT count(*) FROM runs WHERE subject='demo' AND status='ok'") == [(2,)]
    assert _sql(pg_empty, "SELECT count(*) FROM leases WHERE pid IS NOT NULL") == [(0,)]  # every lease let go
    # `state show` reads the same cursor back
    shown = _cli(tmp_path, tmp_path / "data-pg", "--state", pg_empty, "state", "show", "demo")
    assert shown.returncode == 0, shown.stderr
    assert pg["sources"][0]["cursor"] in shown.stdout + shown.stderr


def test_a_lease_is_renewed_while_held_and_emptied_on_release(pg_empty: str) -> None:
    from harvester.state import pg_lease
    from harvester.state.postgres import PostgresState

    st = open_state(pg_empty)
    assert isinstance(st, PostgresState)
    with pg_lease.hold(st._tx, "source-renew", seconds=30, renew_every=0.05) as lease:
        first = _sql(pg_empty, "SELECT expires FROM leases WHERE name='source-renew'")[0][0]
        time.sleep(1.2)
        assert _sql(pg_empty, "SELECT expires FROM leases WHERE name='source-renew'")[0][0] > first
        assert lease["name"] == "source-renew" and lease["pid"] == os.getpid()
    assert _sql(pg_empty, "SELECT pid, token, expires FROM leases WHERE name='source-renew'") == [
        (None, None, None)
    ]
    st.close()


def _cut(url: str, st: Any) -> None:
    """The server ends this store's connection (as a restart or a proxy would)."""
    assert _sql(url, "SELECT pg_terminate_backend(%s)", (st._conn.info.backend_pid,)) == [(True,)]


def pg_password(dsn: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(dsn).password or "<none>"


def test_a_lost_connection_is_reopened_and_said(pg_empty: str, caplog: pytest.LogCaptureFixture) -> None:
    st = open_state(pg_empty)
    _cut(pg_empty, st)
    with caplog.at_level(logging.WARNING, logger="harvester.state"):
        st.write_cursor("src", None)  # run again on a new connection
        st.reset_cursor("src")
    assert sum("connection to the state database" in r.getMessage() for r in caplog.records) == 1
    said = caplog.records[0].getMessage()  # the password hidden (by the store, or by redact.py's log filter)
    assert "***@127.0.0.1" in said and f":{pg_password(pg_empty)}@" not in said
    with st.lock("source-cut"):
        _cut(pg_empty, st)  # lost while held: the lease is still let go at the end
    assert st.read_lease("source-cut") is None
    _cut(pg_empty, st)
    with pytest.raises(HarvesterError, match="the state database .* failed"), st._tx() as cur:  # type: ignore[attr-defined]
        cur.execute("SELECT 1")  # a transaction on a lost connection is an error, not retried
    assert st.read_lease("source-cut") is None  # and the next call reconnects
    st.close()


def test_normalise_with_postgres_keeps_validators_and_resource_state_there(
    tmp_path: Path, server: FixtureServer, pg_empty: str
) -> None:
    from tests.normalise.served import CSV_FR, Files, ckan_with_resources

    files = Files(server)
    resources = [
        {"name": n, "format": "CSV", "url": files.put(f"/d/{n}.csv", (CSV_FR / f).read_bytes())}
        for n, f in (
            ("bnlc", "bnlc_calvados_covoiturage_utf8_bom.csv"),
            ("irve", "irve_schema_v2_sample.csv"),
        )
    ]
    portal = ckan_with_resources(server, resources)
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"id": "demo", "type": "ckan", "url": portal.url}]})
    )
    data = tmp_path / "data"
    assert _cli(tmp_path, data, "--state", pg_empty, "harvest", "demo").returncode == 0
    first = _cli(
        tmp_path, data, "--state", pg_empty, "--executor", "processes", "normalise", "demo", "--json"
    )
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["sources"][0]["converted"] == 2
    assert _sql(
        pg_empty, "SELECT count(*) FROM resource_state WHERE sha256 IS NOT NULL AND etag IS NOT NULL"
    ) == [(2,)]
    n0 = len(server.requests)
    second = _cli(tmp_path, data, "--state", pg_empty, "normalise", "demo", "--json")
    assert second.returncode == 0, second.stderr
    assert (
        json.loads(second.stdout)["sources"][0]["unchanged"] == 2
    )  # the validators came back from PostgreSQL
    got = [r for r in server.requests[n0:] if r.path.startswith("/d/")]
    assert len(got) == 2 and all("If-None-Match" in r.headers for r in got)
    assert not (data / "state.sqlite").exists()
    runs = _sql(pg_empty, "SELECT kind, status FROM runs ORDER BY started_at")
    assert runs == [("harvest", "ok"), ("normalise", "ok"), ("normalise", "ok")]
