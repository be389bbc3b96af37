"""The contract of the state Protocols (harvester/state/protocols.py), run against both backends.

Every test takes `open_store` (tests/state/conftest.py): a SQLite file in a temporary dir, or a fresh PostgreSQL
database (marked `postgres`). Values read back must be the same whichever backend stored them.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime, timedelta, timezone

import pytest

from harvester.errors import LockedError
from harvester.state import StateBackend
from tests.state.conftest import OpenState
from tests.state.util import run_child


def test_cursors(open_store: OpenState) -> None:
    st = open_store()
    assert st.read_cursor("src") is None
    at = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    st.write_cursor("src", at)
    assert st.read_cursor("src") == at
    later = datetime(2024, 6, 1, 8, 0, tzinfo=timezone(timedelta(hours=2)))
    st.write_cursor("src", later)
    got = st.read_cursor("src")
    assert got == later and got is not None and got.utcoffset() == timedelta(hours=2)
    st.write_cursor("other", None)
    assert st.read_cursor("other") is None and st.read_cursor("src") == later
    st.reset_cursor("src")
    assert st.read_cursor("src") is None
    assert open_store().read_cursor("src") is None  # another handle sees the same


def test_http_validators(open_store: OpenState) -> None:
    st = open_store()
    assert st.read_validators("GET https://x.example/a") is None
    st.write_validators("GET https://x.example/a", {"etag": '"abc"', "last_modified": "Wed, 01 May 2024"})
    st.write_validators("GET https://x.example/a", {"etag": '"def"'})
    assert open_store().read_validators("GET https://x.example/a") == {"etag": '"def"'}


def test_a_run_from_start_to_finish(open_store: OpenState) -> None:
    st = open_store()
    assert st.last_run("src") is None
    st.start_run("r1", "src", "harvest")
    run = st.last_run("src", "harvest")
    assert run is not None
    assert run["status"] == "running" and run["finished_at"] is None and run["summary"] is None
    assert run["owner"] == {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": run["owner"]["started"],
    }
    assert datetime.fromisoformat(run["started_at"]) <= datetime.now(UTC)
    st.finish_run("r1", "src", "ok", {"listed": 3, "when": datetime(2024, 1, 1, tzinfo=UTC)})
    done = open_store(readonly=True).last_run("src")
    assert done is not None and done["status"] == "ok" and done["run_id"] == "r1"
    assert done["summary"] == {"listed": 3, "when": "2024-01-01 00:00:00+00:00"}
    assert datetime.fromisoformat(done["finished_at"]) >= datetime.fromisoformat(done["started_at"])


def test_last_run_is_the_latest_of_its_kind(open_store: OpenState) -> None:
    st = open_store()
    st.start_run("r1", "src", "harvest")
    st.finish_run("r1", "src", "ok", {})
    st.start_run("r2", "src", "normalise")
    st.finish_run("r2", "src", "partial", {"failed": 1})
    st.start_run("r3", "pipeline:p", "publish")
    assert st.last_run("src")["run_id"] == "r2"  # type: ignore[index]
    assert st.last_run("src", "harvest")["run_id"] == "r1"  # type: ignore[index]
    assert st.last_run("src", "publish") is None
    assert st.last_run("pipeline:p", "publish")["status"] == "running"  # type: ignore[index]
    # the same run started again is open again
    st.start_run("r1", "src", "harvest")
    again = st.last_run("src", "harvest")
    assert again is not None and again["status"] == "running" and again["summary"] is None


OPEN_RUN = """
import sys
from harvester.state import open_state
st = open_state(sys.argv[1])
st.start_run("r-dead", "src", "harvest")
print(st.last_run("src")["status"], flush=True)
"""


def test_a_run_left_open_by_a_dead_process_is_interrupted(
    open_store: OpenState, state_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # a real process starts a run and ends without finishing it
    assert run_child(OPEN_RUN, state_url).strip() == "running"
    shown = open_store(readonly=True).last_run("src")
    assert shown is not None and shown["status"] == "interrupted" and shown["finished_at"] is None
    dead_pid = shown["owner"]["pid"]
    with caplog.at_level(logging.WARNING, logger="harvester.state"):
        st = open_store()  # a writable open closes it and says so
    logged = [r for r in caplog.records if getattr(r, "event", None) == "run_interrupted"]
    assert len(logged) == 1 and f"owner pid {dead_pid} on" in logged[0].getMessage()
    closed = st.last_run("src")
    assert closed is not None and closed["status"] == "interrupted" and closed["finished_at"] is not None
    assert "ended without finishing it" in closed["summary"]["error"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="harvester.state"):
        assert open_store().mark_interrupted() == []  # closed once, logged once
    assert not [r for r in caplog.records if getattr(r, "event", None) == "run_interrupted"]


def test_a_live_run_is_not_interrupted_by_another_handle(open_store: OpenState) -> None:
    open_store().start_run("r1", "src", "harvest")
    assert open_store().mark_interrupted() == []
    assert open_store(readonly=True).last_run("src")["status"] == "running"  # type: ignore[index]


def test_publish_records(open_store: OpenState) -> None:
    st = open_store()
    assert st.read_publish_records("p") == {}
    st.write_publish_record("p", "k1", "id-1", "name-1", "h1")
    st.write_publish_record("p", "k2", "id-2", "name-2", None, withdrawn=True)
    st.write_publish_record("q", "k1", "id-9", "name-9", "h9")
    st.write_publish_record("p", "k1", "id-1", "name-1b", "h2")
    recs = open_store().read_publish_records("p")
    assert set(recs) == {"k1", "k2"}
    assert {k: v for k, v in recs["k1"].items() if k != "published_at"} == {
        "ckan_id": "id-1",
        "ckan_name": "name-1b",
        "metadata_hash": "h2",
        "withdrawn": False,
    }
    assert recs["k2"]["withdrawn"] is True and recs["k2"]["metadata_hash"] is None
    assert datetime.fromisoformat(recs["k2"]["published_at"]).tzinfo is not None


def test_resource_state(open_store: OpenState) -> None:
    st = open_store()
    assert st.read_resource_state("src/ds/r1") is None
    st.write_resource_state(
        "src/ds/r1", url="http://x/a.csv", etag='"e"', last_modified=None, sha256="ab" * 32,
        columns=[("code", "string"), ("n", "int64")],
    )  # fmt: skip
    st.write_resource_state(
        "src/ds/r2", url=None, etag=None, last_modified="Wed, 01 May 2024", sha256=None, columns=None
    )
    assert open_store().read_resource_state("src/ds/r1") == {
        "url": "http://x/a.csv",
        "etag": '"e"',
        "last_modified": None,
        "sha256": "ab" * 32,
        "columns": [["code", "string"], ["n", "int64"]],
    }
    assert st.read_resource_state("src/ds/r2")["columns"] is None  # type: ignore[index]


def test_schedule(open_store: OpenState) -> None:
    st = open_store()
    assert st.last_scheduled("source", "a") is None
    at = datetime(2024, 3, 1, 3, 0, tzinfo=UTC)
    st.record_scheduled("source", "a", at)
    st.record_scheduled("pipeline", "a", at + timedelta(hours=1))
    assert open_store().last_scheduled("source", "a") == at
    assert st.last_scheduled("pipeline", "a") == at + timedelta(hours=1)
    st.record_scheduled("source", "a", datetime(2024, 3, 2, 3, 0))  # naive: taken as UTC
    got = st.last_scheduled("source", "a")
    assert got == datetime(2024, 3, 2, 3, 0, tzinfo=UTC) and got is not None and got.tzinfo is not None
    assert open_store(readonly=True).last_scheduled("source", "b") is None


def test_a_lease_names_its_holder_and_is_exclusive(open_store: OpenState) -> None:
    st = open_store()
    assert st.read_lease("source-a") is None
    with st.lock("source-a"):
        lease = open_store().read_lease("source-a")
        assert lease is not None
        assert (lease["pid"], lease["host"], lease["name"]) == (os.getpid(), socket.gethostname(), "source-a")
        assert datetime.fromisoformat(lease["expires"]) > datetime.fromisoformat(lease["since"])
        assert "recovered_from" not in lease
        with pytest.raises(LockedError, match=f"source-a is already being processed by pid {os.getpid()}"):
            with open_store().lock("source-a"):
                pass  # a live holder is never overtaken, not even by its own process
        with st.lock("source-b"):  # another name is another lease
            assert st.read_lease("source-b") is not None
    assert st.read_lease("source-a") is None and st.read_lease("source-b") is None
    with pytest.raises(RuntimeError), st.lock("source-a"):
        raise RuntimeError("boom")
    assert st.read_lease("source-a") is None  # an error inside still lets go
    with st.lock("source-a"):
        pass


def _store_type(st: StateBackend) -> str:
    return type(st).__name__


def test_the_store_is_reopened_from_its_url(open_store: OpenState, state_url: str) -> None:
    st = open_store()
    assert st.url == state_url and not st.readonly
    ro = open_store(readonly=True)
    assert ro.readonly and ro.url == state_url and _store_type(ro) == _store_type(st)
