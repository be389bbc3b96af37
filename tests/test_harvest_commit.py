"""The harvest stage's contract with connectors and its commit: the stage reads listing items (records, issues,
one EndOfListing) and writes state only in `commit`, so a crash before it leaves the previous state intact."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from harvester.catalog import read_catalog
from harvester.config import parse_sources
from harvester.connectors import REGISTRY
from harvester.connectors.ckan import CkanConnector
from harvester.connectors.listing import EndOfListing, ListingItem
from harvester.harvest import harvest_source, harvest_sources, new_run_id
from harvester.http import HttpClient
from harvester.state import StateStore
from tests.fixture_server import FixtureServer, Reply
from tests.portals.arcgis_portal import EVIAN_PATH, hub_feed
from tests.portals.ckan_portal import CkanPortal, build_packages, touch


class EndlessCkan(CkanConnector):
    """A buggy connector: the real CKAN listing, with its EndOfListing lost."""

    type = "ckan-without-end"

    def list_datasets(self, since: datetime | None = None) -> Iterator[ListingItem]:
        for item in super().list_datasets(since):
            if not isinstance(item, EndOfListing):
                yield item


def test_a_listing_that_ends_without_end_of_listing_is_incomplete(
    server: FixtureServer,
    tmp_path: Path,
    state: StateStore,
    http: HttpClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(REGISTRY._entries, EndlessCkan.type, EndlessCkan)
    pkgs = build_packages(12)
    portal = CkanPortal(server, pkgs)
    good = parse_sources(
        {"sources": [{"id": "demo", "type": "ckan", "url": portal.url, "max_withdraw_share": 1.0}]}
    ).sources[0]
    first = harvest_source(good, data_dir=tmp_path / "data", state=state, http=http, run_id=new_run_id())
    assert (first.status, first.total) == ("ok", 12)
    cursor = state.read_cursor("demo")
    assert cursor is not None

    portal.packages = pkgs[:4]  # 8 datasets gone: a complete listing would withdraw them
    touch(pkgs[0], datetime.fromisoformat("2030-01-01T00:00:00+00:00"), notes="edited")
    buggy = parse_sources(
        {"sources": [{"id": "demo", "type": EndlessCkan.type, "url": portal.url, "max_withdraw_share": 1.0}]}
    ).sources[0]
    res = harvest_source(
        buggy, data_dir=tmp_path / "data", state=state, http=http, run_id=new_run_id(), full=True
    )
    assert res.status == "partial" and res.withdrawn == 0 and res.total == 12 and res.listed == 4
    assert res.error is not None and "without an EndOfListing" in res.error
    [entry] = [e for e in res.errors if e["type"] == "IncompleteListing"]
    assert entry["source_id"] == "demo" and "without an EndOfListing" in entry["message"]
    assert res.outcomes == {"listed": 4, "kept": 4, "skipped": {}}
    assert state.read_cursor("demo") == cursor  # an incomplete listing never moves the cursor
    snap = read_catalog(tmp_path / "data", "demo")
    assert snap is not None and snap[0].column("withdrawn_at").null_count == 12

    # the same listing with its end: the 8 are withdrawn, the cursor moves
    again = harvest_source(
        good, data_dir=tmp_path / "data", state=state, http=http, run_id=new_run_id(), full=True
    )
    assert (again.status, again.withdrawn) == ("ok", 8)
    assert state.read_cursor("demo") != cursor


def _state_rows(db: Path) -> dict[str, Any]:
    con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return {
            "cursors": sorted(con.execute("SELECT source_id, cursor FROM cursors")),
            "validators": sorted(con.execute("SELECT key, validators FROM http_validators")),
            "finished": sorted(
                con.execute("SELECT run_id, subject, status FROM runs WHERE finished_at IS NOT NULL")
            ),
        }
    finally:
        con.close()


CRASH_IN_COMMIT = """
import os, sys
import harvester.harvest.stage as stage
def crash(*args, **kwargs):
    os._exit(9)  # killed between the units and their commit: no cleanup, no finally
stage.commit_source = crash
from harvester.cli import cli
cli(sys.argv[1:])
"""


def test_a_crash_between_the_units_and_commit_leaves_the_previous_state(
    server: FixtureServer, tmp_path: Path
) -> None:
    pkgs = build_packages(20)
    portal = CkanPortal(server, pkgs)
    feed = hub_feed(5)
    server.route(EVIAN_PATH, Reply(200, json.dumps(feed), headers={"ETag": '"feed-v1"'}))
    sources = [
        {"id": "ckan", "type": "ckan", "url": portal.url},  # incremental: a cursor
        {"id": "hub", "type": "arcgis", "url": server.url + EVIAN_PATH},  # conditional GET: HTTP validators
    ]
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": sources}))
    data = tmp_path / "data"
    base = ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(data), "harvest", "--all"]
    first = subprocess.run(
        [sys.executable, "-m", "harvester", *base], capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    before = _state_rows(data / "state.sqlite")
    assert "ckan" in [s for s, _ in before["cursors"]] and len(before["validators"]) == 1
    assert json.loads(before["validators"][0][1]) == {"etag": '"feed-v1"'} and len(before["finished"]) == 2

    # the portals change: the next units find a newer cursor and new validators…
    touch(pkgs[0], datetime.fromisoformat("2030-01-01T00:00:00+00:00"), notes="edited")
    feed["dataset"][0]["title"] = "Renamed"
    server.route(EVIAN_PATH, Reply(200, json.dumps(feed), headers={"ETag": '"feed-v2"'}))
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_IN_COMMIT, *base], capture_output=True, text=True, timeout=120
    )
    assert crashed.returncode == 9, crashed.stderr
    assert server.count(EVIAN_PATH) == 2  # the units did run
    # …but the process died before commit: cursors, validators and finished runs are those of the first run
    assert _state_rows(data / "state.sqlite") == before

    # the next run recovers (the open runs are closed as interrupted) and stores what it finds
    after = subprocess.run(
        [sys.executable, "-m", "harvester", *base], capture_output=True, text=True, timeout=120
    )
    assert after.returncode == 0, after.stderr
    now = _state_rows(data / "state.sqlite")
    assert now["cursors"] != before["cursors"] and json.loads(now["validators"][0][1]) == {
        "etag": '"feed-v2"'
    }
    statuses = sorted(status for _, _, status in now["finished"])
    assert statuses == ["interrupted", "interrupted", "ok", "ok", "ok", "ok"]


def test_units_write_no_state_and_commit_writes_it(
    server: FixtureServer,
    tmp_path: Path,
    state: StateStore,
    http: HttpClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In-process: every write of the stage's state store happens in `commit`, none in the units."""
    portal = CkanPortal(server, build_packages(8))
    server.route(EVIAN_PATH, Reply(200, json.dumps(hub_feed(3)), headers={"ETag": '"feed-v1"'}))
    config = parse_sources(
        {
            "sources": [
                {"id": "ckan", "type": "ckan", "url": portal.url},
                {"id": "hub", "type": "arcgis", "url": server.url + EVIAN_PATH},
            ]
        }
    )
    import harvester.harvest.stage as stage

    writes: list[tuple[str, bool]] = []
    in_commit = [False]
    for name in ("write_cursor", "write_validators", "finish_run", "start_run"):
        original = getattr(state, name)

        def spy(*args: Any, _name: str = name, _original: Any = original) -> Any:
            writes.append((_name, in_commit[0]))
            return _original(*args)

        monkeypatch.setattr(state, name, spy)
    commit_source = stage.commit_source

    def committing(*args: Any) -> Any:
        in_commit[0] = True
        try:
            return commit_source(*args)
        finally:
            in_commit[0] = False

    monkeypatch.setattr(stage, "commit_source", committing)
    report = harvest_sources(config, ["ckan", "hub"], data_dir=tmp_path / "data", state=state, http=http)
    assert [s.status for s in report.sources] == ["ok", "ok"]
    assert sorted(writes) == [
        ("finish_run", True),
        ("finish_run", True),
        ("start_run", False),  # the parent opens each run row before the units start (see `opened`)
        ("start_run", False),
        ("write_cursor", True),
        ("write_cursor", True),  # both listings were complete (arcgis keeps the newest `modified` too)
        ("write_validators", True),  # the hub feed's ETag, read by the unit
    ]
