"""Incremental CKAN runs see deletions from counts: the id listing only when the portal's total says so.

Through the real HTTP code against the local CKAN-like API (tests/portals/ckan_portal.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harvester.catalog import read_catalog
from harvester.http import HttpClient
from harvester.state import StateStore
from tests.fixture_server import FixtureServer, Reply, Request
from tests.portals.ckan_portal import CkanPortal, build_packages, touch
from tests.test_harvest import config, run

N = 1200  # two pages of ids at rows=1000


def _live(tmp_path: Path) -> set[str]:
    cat = read_catalog(tmp_path / "data", "demo")
    assert cat is not None
    return {r["remote_id"] for r in cat[0].to_pylist() if r["withdrawn_at"] is None}


def _kinds(requests: list[Request]) -> list[str]:
    """Each package_search request as `listing` (fq since the cursor), `count` (rows=0) or `ids` (fl=id)."""
    out = []
    for r in requests:
        if r.arg("fl"):
            out.append("ids")
        elif r.arg("rows") == "0":
            out.append("count")
        else:
            out.append("listing" if "metadata_modified:[" in (r.arg("fq") or "") else "full")
    return out


def _first(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient, **extra: Any
) -> list[dict[str, Any]]:
    pkgs = build_packages(N)
    portal = CkanPortal(server, pkgs)
    first = run(config(portal.url, **extra), tmp_path, state, http)
    assert (first.mode, first.created) == ("full", N)
    return pkgs


def test_unchanged_rerun_sends_two_requests_and_no_id_listing(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    _first(server, tmp_path, state, http)
    n0 = len(server.requests)
    res = run(config(server.url), tmp_path, state, http)
    assert _kinds(server.requests[n0:]) == ["listing", "count"]
    assert res.requests == 2
    assert (res.mode, res.status, res.created, res.updated, res.withdrawn) == ("incremental", "ok", 0, 0, 0)
    count_request = server.requests[-1]
    assert count_request.arg("fq") is None  # the same visibility filter as the id listing: none here
    assert len(_live(tmp_path)) == N


def test_one_deletion_lists_ids_and_withdraws_it(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    pkgs = _first(server, tmp_path, state, http)
    gone = pkgs.pop(500)
    n0 = len(server.requests)
    res = run(config(server.url), tmp_path, state, http)
    assert _kinds(server.requests[n0:]) == ["listing", "count", "ids", "ids"]
    assert (res.mode, res.status, res.withdrawn) == ("incremental", "ok", 1)
    assert gone["id"] not in _live(tmp_path) and len(_live(tmp_path)) == N - 1


def test_deletion_and_addition_with_an_unchanged_total_still_withdraw(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    pkgs = _first(server, tmp_path, state, http)
    gone = pkgs.pop(17)
    added = build_packages(N + 1, seed=99)[-1]
    touch(added, datetime.now(UTC))
    pkgs.append(added)
    assert len(pkgs) == N  # the portal's total is what it was
    n0 = len(server.requests)
    res = run(config(server.url), tmp_path, state, http)
    # known (N) + new (1) is one more than the total (N): a deletion, so the ids are listed
    assert _kinds(server.requests[n0:]) == ["listing", "count", "ids", "ids"]
    assert (res.mode, res.created, res.withdrawn) == ("incremental", 1, 1)
    live = _live(tmp_path)
    assert gone["id"] not in live and added["id"] in live and len(live) == N


def test_changed_and_new_datasets_without_deletion_skip_the_id_listing(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    pkgs = _first(server, tmp_path, state, http)
    now = datetime.now(UTC)
    touch(pkgs[3], now, title="changed")
    added = build_packages(N + 1, seed=7)[-1]
    touch(added, now)
    pkgs.append(added)
    n0 = len(server.requests)
    res = run(config(server.url), tmp_path, state, http)
    assert _kinds(server.requests[n0:]) == ["listing", "count"]
    assert (res.created, res.updated, res.withdrawn) == (1, 1, 0)
    assert len(_live(tmp_path)) == N + 1


def test_count_taken_with_the_listing_filter(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    """Excluded organisations are filtered out of the count as of the id listing; private and draft datasets
    are not counted by the portal (nor listed)."""
    extra = {"params": {"rows": 1000, "exclude_organizations": ["ville-de-nice"]}}
    pkgs = _first_filtered(server, tmp_path, state, http, extra)
    pkgs[0]["private"] = True  # made private upstream: gone from the portal's public view
    n0 = len(server.requests)
    res = run(config(server.url, **extra), tmp_path, state, http)
    kinds = _kinds(server.requests[n0:])
    assert kinds == ["listing", "count", "ids", "ids"] or kinds == ["listing", "count", "ids"]
    assert server.requests[n0 + 1].arg("fq") == "-organization:ville-de-nice"
    assert res.withdrawn == 1 and pkgs[0]["id"] not in _live(tmp_path)
    # unchanged again: the filtered count matches, nothing listed
    n1 = len(server.requests)
    run(config(server.url, **extra), tmp_path, state, http)
    assert _kinds(server.requests[n1:]) == ["listing", "count"]


def _first_filtered(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient, extra: dict[str, Any]
) -> list[dict[str, Any]]:
    pkgs = build_packages(N)
    portal = CkanPortal(server, pkgs)
    first = run(config(portal.url, **extra), tmp_path, state, http)
    assert first.created == N - N // 3  # a third of the clones belong to ville-de-nice
    if pkgs[0]["organization"]["name"] == "ville-de-nice":
        raise AssertionError("the test needs pkgs[0] outside the excluded organisation")
    return pkgs


def test_a_count_answer_without_count_or_failing_withdraws_nothing_by_itself(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    pkgs = _first(server, tmp_path, state, http)
    portal_search = server.routes["/api/3/action/package_search"]

    def broken_count(req: Request) -> Reply:
        if req.arg("rows") == "0":
            return Reply(200, json.dumps({"success": True, "result": {"results": []}}))  # no count
        return portal_search(req)

    server.route("/api/3/action/package_search", broken_count)
    n0 = len(server.requests)
    res = run(config(server.url), tmp_path, state, http)
    assert _kinds(server.requests[n0:]) == ["listing", "count", "ids", "ids"]  # no total: the ids are listed
    assert (res.status, res.withdrawn) == ("ok", 0)

    # the count fails and the id listing fails too: nothing is withdrawn although a dataset was deleted
    pkgs.pop(0)

    def all_broken(req: Request) -> Reply:
        if req.arg("rows") == "0" or req.arg("fl"):
            return Reply(500, "down")
        return portal_search(req)

    server.route("/api/3/action/package_search", all_broken)
    res = run(config(server.url), tmp_path, state, http)
    assert res.withdrawn == 0 and len(_live(tmp_path)) == N


def test_a_count_lower_than_the_truth_never_withdraws_without_the_id_listing(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    """A broken index answering a smaller total: the id listing decides, and it lists everything."""
    _first(server, tmp_path, state, http)
    portal_search = server.routes["/api/3/action/package_search"]

    def low_count(req: Request) -> Reply:
        reply = portal_search(req)
        if req.arg("rows") == "0":
            body = json.loads(reply.body)
            body["result"]["count"] = 3
            return Reply(200, json.dumps(body))
        return reply

    server.route("/api/3/action/package_search", low_count)
    n0 = len(server.requests)
    res = run(config(server.url), tmp_path, state, http)
    assert _kinds(server.requests[n0:]) == ["listing", "count", "ids", "ids"]
    assert (res.status, res.withdrawn) == ("ok", 0) and len(_live(tmp_path)) == N


def test_deletions_from_count_off_lists_ids_every_time(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    extra = {"params": {"rows": 1000, "deletions_from_count": False}}
    portal = CkanPortal(server, build_packages(N))
    run(config(portal.url, **extra), tmp_path, state, http)
    n0 = len(server.requests)
    res = run(config(portal.url, **extra), tmp_path, state, http)
    assert _kinds(server.requests[n0:]) == ["listing", "ids", "ids"]
    assert (res.mode, res.withdrawn) == ("incremental", 0)
