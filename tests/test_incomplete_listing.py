"""Incomplete listings through the harvest stage and the CLI: a listing shorter than the portal's announced total,
or a page bringing no new id, withdraws nothing, ends `partial` (exit 3) and says how many datasets were missing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from harvester.catalog import read_catalog
from harvester.config import parse_sources
from harvester.harvest import SourceResult, harvest_source, new_run_id
from harvester.http import HttpClient
from harvester.state import StateStore
from tests.fixture_server import FixtureServer
from tests.portals.ckan_portal import CkanPortal, build_packages, touch
from tests.test_cli import invoke, write_sources


def _run(
    url: str, tmp_path: Path, state: StateStore, http: HttpClient, *, full: bool = False, rows: int = 10
) -> SourceResult:
    cfg = parse_sources(
        {
            "sources": [
                {
                    "id": "demo",
                    "type": "ckan",
                    "url": url,
                    "params": {"rows": rows, "safety_margin_minutes": 0},
                    "http": {"backoff": 0.01, "timeout": 2},
                }
            ]
        }
    )
    return harvest_source(
        cfg.sources[0], data_dir=tmp_path / "data", state=state, http=http, run_id=new_run_id(), full=full
    )


def _active(tmp_path: Path) -> int:
    cat = read_catalog(tmp_path / "data", "demo")
    assert cat is not None
    return cat[0].column("withdrawn_at").null_count


def test_cli_full_harvest_of_a_short_listing_exits_3_and_withdraws_nothing(
    server: FixtureServer, tmp_path: Path
) -> None:
    portal = CkanPortal(server, build_packages(50))
    write_sources(tmp_path, [{"id": "demo", "type": "ckan", "url": portal.url, "params": {"rows": 10}}])
    first = invoke(tmp_path, "harvest", "demo", "--full", "--json")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["sources"][0]["outcomes"] == {"listed": 50, "kept": 50, "skipped": {}}

    portal.hidden = 5  # count: 50, 45 served
    res = invoke(tmp_path, "harvest", "demo", "--full", "--json")
    assert res.exit_code == 3, res.stderr
    report = json.loads(res.stdout)
    [src] = report["sources"]
    assert (src["status"], src["withdrawn"], src["missing"], src["listed"]) == ("partial", 0, 5, 45)
    assert "announced 50 datasets but served 45 distinct ones (5 missing)" in src["error"]
    assert any("nothing withdrawn" in n for n in src["notes"])
    [entry] = [e for e in src["errors"] if e["type"] == "IncompleteListing"]
    assert entry["missing"] == 5 and entry["url"].endswith("/api/3/action/package_search")
    on_disk = json.loads((tmp_path / "data/runs" / report["run_id"] / "report.json").read_text())
    assert on_disk["exit_code"] == 3 and on_disk["sources"][0]["missing"] == 5
    assert _active(tmp_path) == 50  # the 5 not served are still there, not withdrawn

    human = invoke(tmp_path, "harvest", "demo", "--full")
    assert human.exit_code == 3 and "5 missing" in human.stderr


def test_short_listing_under_the_share_limit_withdraws_nothing(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    """2,100 counted and 2,000 served: 5 % less, under max_withdraw_share, yet nothing may be withdrawn."""
    portal = CkanPortal(server, build_packages(2100))
    first = _run(portal.url, tmp_path, state, http, rows=1000)
    assert first.status == "ok" and first.created == 2100
    portal.hidden = 100
    again = _run(portal.url, tmp_path, state, http, rows=1000, full=True)
    assert (again.status, again.withdrawn, again.missing) == ("partial", 0, 100)
    assert _active(tmp_path) == 2100


def test_nothing_served_against_a_huge_count_is_partial(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    body = {"success": True, "result": {"count": 1_000_000_000, "results": []}}
    server.route("/api/3/action/package_search", json.dumps(body))
    res = _run(server.url, tmp_path, state, http)
    assert (res.status, res.missing, res.listed) == ("partial", 1_000_000_000, 0)


def test_pagination_loop_keeps_the_first_page_and_withdraws_nothing(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    pkgs = build_packages(30)
    portal = CkanPortal(server, pkgs)
    assert _run(portal.url, tmp_path, state, http, full=True).status == "ok"
    for p in pkgs:  # every dataset edited upstream: the first page must still be upserted
        touch(p, datetime(2025, 1, 1, tzinfo=UTC), notes="edited")
    portal.ignore_start = portal.stamp = True  # page 1 for every start, a new request id each time
    res = _run(portal.url, tmp_path, state, http, full=True)
    assert (res.status, res.withdrawn, res.updated, res.requests) == ("partial", 0, 10, 2)
    assert res.error is not None and "pagination loop" in res.error and "no new id" in res.error
    assert res.missing is None and _active(tmp_path) == 30


def test_incremental_and_id_listings_short_of_their_count(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    pkgs = build_packages(30)
    portal = CkanPortal(server, pkgs)
    assert _run(portal.url, tmp_path, state, http).status == "ok"
    for p in pkgs[:3]:
        touch(p, datetime(2025, 1, 1, tzinfo=UTC), notes="edited")
    portal.hidden = 1  # the fq listing: 3 counted, 2 served; the fl=id listing: 30 counted, 29 served
    res = _run(portal.url, tmp_path, state, http)
    assert (res.mode, res.status, res.withdrawn, res.missing) == ("incremental", "partial", 0, 2)
    assert sum("short listing" in n for n in res.notes) == 2
    assert _active(tmp_path) == 30


def test_all_datasets_skipped_is_explained(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    pkgs = build_packages(4)
    for i, p in enumerate(pkgs):
        p["private"], p["state"] = (True, "active") if i % 2 else (False, "draft")
    server.route(
        "/api/3/action/package_search", json.dumps({"success": True, "result": {"count": 4, "results": pkgs}})
    )
    res = _run(server.url, tmp_path, state, http)
    assert (res.status, res.listed) == ("ok", 0)
    assert res.outcomes == {"listed": 4, "kept": 0, "skipped": {"draft": 2, "private": 2}}
    assert "4 listed, 0 kept, skipped: draft 2, private 2" in res.notes
