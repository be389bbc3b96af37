"""CKAN connector on real recorded package dicts served by a local CKAN-like API."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from harvester.connectors.ckan import CkanConnector, CkanParams
from harvester.connectors.listing import read_listing
from harvester.errors import SourceError
from harvester.http import HttpClient
from tests.fixture_server import FixtureServer, Reply
from tests.portals.ckan_portal import CkanPortal, build_packages, real_packages


def connector(server: FixtureServer, http: HttpClient, **params: object) -> CkanConnector:
    return CkanConnector("demo", server.url, CkanParams.model_validate(params), http)


def test_maps_real_package_fields(server: FixtureServer, http: HttpClient) -> None:
    CkanPortal(server, real_packages())
    records = {r.remote_id: r for r in read_listing(connector(server, http).list_datasets()).records}
    assert len(records) == 4
    r = records["17be64bb-da74-4195-9bb8-565c39846af2"]
    assert r.name == "2016-regione-asia-est-oceania-classi-di-eta"
    assert r.publisher == "SDB"
    assert r.license_raw == "cc-by"
    assert r.modified == datetime(2017, 7, 5, 19, 29, 7, 136124, tzinfo=UTC)
    assert r.remote_url == f"{server.url}/dataset/2016-regione-asia-est-oceania-classi-di-eta"
    assert len(r.resources) == 1 and r.resources[0].url.startswith("http")
    old = records["7e4d4ef3-f452-4c35-963d-9c6e582374b3"]  # CKAN 2.x from 2015
    assert old.license_raw == "notspecified"
    assert "country-uk" in old.keywords
    assert old.spatial is not None and "Polygon" in old.spatial
    assert old.extras["spatial-text"].startswith("Adur")
    assert {res.format for res in old.resources} <= {"CSV", "HTML", "XLS", "PDF", "", None} or old.resources


def test_pages_with_stable_sort_and_count(server: FixtureServer, http: HttpClient) -> None:
    portal = CkanPortal(server, build_packages(23))
    records = read_listing(connector(server, http, rows=10).list_datasets()).records
    assert len(records) == 23
    reqs = portal.search_requests()
    assert [r.arg("start") for r in reqs] == ["0", "10", "20"]
    assert all(r.arg("sort") == "id asc" for r in reqs)


def test_portal_capping_rows_still_reads_everything(server: FixtureServer, http: HttpClient) -> None:
    portal = CkanPortal(server, build_packages(12), rows_max=5)
    assert len(read_listing(connector(server, http, rows=10).list_datasets()).records) == 12
    assert [r.arg("start") for r in portal.search_requests()] == ["0", "5", "10"]


def test_private_draft_and_repeated_ids_are_dropped(server: FixtureServer, http: HttpClient) -> None:
    pkgs = build_packages(6)
    pkgs[1]["private"] = True
    pkgs[2]["state"] = "draft"

    def search(req):  # type: ignore[no-untyped-def]
        start = int(req.arg("start"))
        page = pkgs[start : start + 3] if start < 6 else []
        if start == 3:
            page = [pkgs[0], *page]  # an id repeated across pages, as when the catalogue moves while paging
        body = {"success": True, "result": {"count": 6, "results": page}}
        return Reply(200, json.dumps(body))

    server.route("/api/3/action/package_search", search)
    ids = [r.remote_id for r in read_listing(connector(server, http, rows=3).list_datasets()).records]
    assert ids == [pkgs[0]["id"], pkgs[3]["id"], pkgs[4]["id"], pkgs[5]["id"]]


def test_dkan_list_envelope(server: FixtureServer, http: HttpClient) -> None:
    pkgs = real_packages()[:3]
    body = {"success": True, "result": [{"count": 3, "results": pkgs}]}
    server.route("/api/3/action/package_search", json.dumps(body))
    assert len(read_listing(connector(server, http).list_datasets()).records) == 3


def test_organisation_filters(server: FixtureServer, http: HttpClient) -> None:
    portal = CkanPortal(server, build_packages(9))
    kept = read_listing(connector(server, http, organizations=["ville-de-nice"]).list_datasets()).records
    assert len(kept) == 3 and {r.publisher for r in kept} == {"Ville de Nice"}
    assert "organization:(ville-de-nice)" in (portal.search_requests()[-1].arg("fq") or "")
    rest = read_listing(
        connector(server, http, exclude_organizations=["ville-de-nice"]).list_datasets()
    ).records
    assert len(rest) == 6 and "Ville de Nice" not in {r.publisher for r in rest}


def test_incremental_filter_uses_cursor_minus_margin(server: FixtureServer, http: HttpClient) -> None:
    portal = CkanPortal(server, build_packages(10))
    since = datetime(2024, 1, 1, 1, 0, tzinfo=UTC)
    read_listing(connector(server, http, safety_margin_minutes=60).list_datasets(since=since))
    assert portal.search_requests()[0].arg("fq") == "metadata_modified:[2024-01-01T00:00:00Z TO *]"


def test_record_without_id_is_a_record_error(server: FixtureServer, http: HttpClient) -> None:
    pkgs = real_packages()[:3]
    broken = dict(pkgs[1])
    del broken["id"]
    server.route(
        "/api/3/action/package_search",
        json.dumps({"success": True, "result": {"count": 3, "results": [pkgs[0], broken, pkgs[2]]}}),
    )
    conn = connector(server, http)
    listing = read_listing(conn.list_datasets())
    assert len(listing.records) == 2
    assert len(listing.errors) == 1 and "without an `id`" in listing.errors[0]["message"]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            Reply(200, "<html><body>Maintenance</body></html>", content_type="text/html"),
            "expected JSON but got an HTML",
        ),
        (Reply(200, '{"success": true, "result": {"count": 3, "res'), "malformed JSON"),
        (Reply(200, '"just a string"'), "not a CKAN API response"),
        (
            Reply(
                200,
                json.dumps(
                    {"success": False, "error": {"__type": "Authorization Error", "message": "Access denied"}}
                ),
            ),
            "Authorization Error",
        ),
        (Reply(403, json.dumps({"success": False})), "HTTP 403"),
        (Reply(200, json.dumps({"hits": []})), "no `result`"),
    ],
)
def test_listing_failures_name_the_url(
    server: FixtureServer, http: HttpClient, reply: Reply, message: str
) -> None:
    server.route("/api/3/action/package_search", reply)
    with pytest.raises(SourceError) as err:
        read_listing(connector(server, http).list_datasets())
    assert message in str(err.value)
    assert "/api/3/action/package_search" in str(err.value) and err.value.source_id == "demo"


def test_server_ignoring_start_is_a_loop(server: FixtureServer, http: HttpClient) -> None:
    portal = CkanPortal(server, build_packages(30))
    portal.ignore_start = True
    conn = connector(server, http, rows=10)
    listing = read_listing(conn.list_datasets())
    records = listing.records
    assert len(records) == 10  # the first page is kept
    assert not listing.complete and "pagination loop" in str(listing.end.reason)
    assert len(portal.search_requests()) == 2


def test_list_ids_asks_only_for_ids(server: FixtureServer, http: HttpClient) -> None:
    pkgs = build_packages(15)
    portal = CkanPortal(server, pkgs)
    ids = connector(server, http, rows=10).list_ids().ids
    assert ids == {p["id"] for p in pkgs}
    assert all((r.arg("fl") or "").startswith("id") for r in portal.search_requests())


@pytest.mark.parametrize(
    ("total", "hidden", "rows"),
    [(50, 5, 10), (2100, 100, 1000), (30, 30, 10)],
    ids=["50-45", "2100-2000", "none"],
)
def test_listing_shorter_than_count_is_incomplete(
    server: FixtureServer, http: HttpClient, total: int, hidden: int, rows: int
) -> None:
    portal = CkanPortal(server, build_packages(total))
    portal.hidden = hidden
    conn = connector(server, http, rows=rows)
    listing = read_listing(conn.list_datasets())
    assert len(listing.records) == total - hidden
    entry = listing.end.as_error()
    assert entry["missing"] == hidden
    assert f"announced {total} datasets but served {total - hidden}" in entry["message"]


def test_empty_listing_against_a_huge_count(server: FixtureServer, http: HttpClient) -> None:
    body = {"success": True, "result": {"count": 1_000_000_000, "results": []}}
    server.route("/api/3/action/package_search", json.dumps(body))
    conn = connector(server, http)
    listing = read_listing(conn.list_datasets())
    assert listing.records == []
    assert listing.end.missing == 1_000_000_000 and len(server.requests) == 1


def test_private_and_draft_datasets_count_in_count_and_are_counted_as_skipped(
    server: FixtureServer, http: HttpClient
) -> None:
    """A portal serving private and draft datasets (an API token, DKAN): they are served, so not missing, and
    the outcome counts say why none was kept."""
    pkgs = build_packages(6)
    for i, p in enumerate(pkgs):
        p["private"], p["state"] = (True, "active") if i % 2 else (False, "draft")
    body = {"success": True, "result": {"count": 6, "results": pkgs}}
    server.route("/api/3/action/package_search", json.dumps(body))
    conn = connector(server, http)
    listing = read_listing(conn.list_datasets())
    assert listing.records == [] and listing.complete
    assert listing.end.outcomes.as_dict() == {"listed": 6, "kept": 0, "skipped": {"draft": 3, "private": 3}}


def test_id_listing_shorter_than_count_is_incomplete(server: FixtureServer, http: HttpClient) -> None:
    portal = CkanPortal(server, build_packages(15))
    portal.hidden = 2
    conn = connector(server, http, rows=10)
    listed = conn.list_ids()
    assert len(listed.ids) == 13 and not listed.end.complete
    assert listed.end.missing == 2 and "dataset ids" in str(listed.end.reason)
