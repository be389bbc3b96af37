"""Socrata connector against the real Discovery API results served by the local server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from harvester.connectors.listing import read_listing
from harvester.connectors.socrata import SocrataConnector, SocrataParams
from harvester.errors import SourceError
from harvester.http import HttpClient, HttpPolicy
from tests.fixture_server import FixtureServer, Reply
from tests.portals.socrata_portal import DISCOVERY, SocrataPortal, socrata_clone, socrata_results
from tests.portals.util import FIXTURES

HOWARD = "opendata.howardcountymd.gov"
CATALOG = "/api/catalog/v1"


def _conn(url: str, http: HttpClient, **params: object) -> SocrataConnector:
    return SocrataConnector("howard", url, SocrataParams.model_validate(params), http)


def test_maps_real_assets(server: FixtureServer, http: HttpClient) -> None:
    url = SocrataPortal(socrata_results()).install(server)
    records = read_listing(_conn(url, http, domains=[HOWARD]).list_datasets()).records
    assert [r.remote_id for r in records] == [
        f"{HOWARD}:qccx-65fg",
        f"{HOWARD}:kvz2-j5cj",
        f"{HOWARD}:xvpn-2pnt",
    ]
    assert server.requests[0].arg("domains") == HOWARD and server.requests[0].arg("only") == "dataset"
    permits = records[1]
    assert permits.title.startswith("Building, Electrical, Fire, Grading, Mec")
    assert permits.name == "kvz2-j5cj"
    assert permits.publisher == "Department of Inspections, Licenses & Permits"
    assert permits.license_raw == "Public Domain"
    assert permits.modified == datetime(2017, 12, 4, 15, 23, 39, tzinfo=UTC)
    assert permits.issued == datetime(2015, 4, 30, 17, 13, 40, tzinfo=UTC)
    assert permits.themes == ("infrastructure", "Licenses and Permits")
    assert permits.keywords[:3] == ("building permit", "issued permits", "permits")
    assert permits.remote_url == f"https://{HOWARD}/d/kvz2-j5cj"
    assert [(r.format, r.url) for r in permits.resources] == [
        ("csv", f"https://{HOWARD}/api/views/kvz2-j5cj/rows.csv?accessType=DOWNLOAD"),
        ("json", f"https://{HOWARD}/resource/kvz2-j5cj.json"),
    ]
    assert permits.extras["socrata:domain"] == HOWARD and permits.extras["socrata:type"] == "dataset"
    # no attribution and no licence: the domain is the publisher, the licence stays empty
    calls = records[0]
    assert calls.publisher == HOWARD and calls.license_raw is None


def test_all_domains_and_paging(server: FixtureServer, http: HttpClient) -> None:
    url = SocrataPortal(socrata_results()).install(server)
    domains = ["data.cityofboston.gov", "data.ny.gov", "data.cms.gov", HOWARD, "data.cityofnewyork.us"]
    records = read_listing(_conn(url, http, domains=domains, page_size=3).list_datasets()).records
    assert len(records) == 7
    boston = records[0]
    assert boston.remote_id == "data.cityofboston.gov:msk6-43c6"
    assert boston.license_raw == "Creative Commons Attribution 3.0 Unported"
    assert [(r.arg("offset"), r.arg("limit")) for r in server.requests] == [
        ("0", "3"),
        ("3", "3"),
        ("6", "3"),
    ]


def test_default_domain_is_the_url_host(server: FixtureServer, http: HttpClient) -> None:
    host = server.url.split("//")[1]
    url = SocrataPortal([socrata_clone(r, i, host) for i, r in enumerate(socrata_results())]).install(server)
    records = read_listing(_conn(url, http).list_datasets()).records
    assert len(records) == 7 and server.requests[0].arg("domains") == host


def test_since_on_the_client(server: FixtureServer, http: HttpClient) -> None:
    url = SocrataPortal(socrata_results()).install(server)
    records = read_listing(
        _conn(url, http, domains=[HOWARD]).list_datasets(since=datetime(2017, 12, 5, tzinfo=UTC))
    ).records
    assert [r.name for r in records] == ["qccx-65fg", "xvpn-2pnt"]


def test_catalog_url_override_and_app_token(server: FixtureServer, http: HttpClient) -> None:
    SocrataPortal(socrata_results()).install(server, prefix="/eu")
    conn = SocrataConnector(
        "s",
        "https://data.example.org",
        SocrataParams(domains=[HOWARD], catalog_url=f"{server.url}/eu/api/catalog/v1"),
        http,
        auth={"token": "app-token"},
    )
    assert len(read_listing(conn.list_datasets()).records) == 3
    assert server.requests[0].headers["X-App-Token"] == "app-token"


def test_large_catalogue_and_the_10000_window(server: FixtureServer, http: HttpClient) -> None:
    real = socrata_results()
    rows = [socrata_clone(real[i % 7], i, HOWARD) for i in range(10_250)]
    url = SocrataPortal(rows).install(server)
    conn = _conn(url, http, domains=[HOWARD], page_size=1000)
    listing = read_listing(conn.list_datasets())
    records = listing.records
    assert len(records) == 10_000 and len({r.remote_id for r in records}) == 10_000
    assert server.count() == 10
    assert listing.complete is False  # 250 beyond the API window: nothing may be withdrawn


def test_bad_assets(server: FixtureServer, http: HttpClient) -> None:
    real = socrata_results()
    broken = json.loads(json.dumps(real[3]))
    broken["resource"]["name"] = ""
    no_id = json.loads(json.dumps(real[4]))
    del no_id["resource"]["id"]
    url = SocrataPortal([broken, no_id, real[6]]).install(server)
    conn = _conn(url, http, domains=[HOWARD])
    listing = read_listing(conn.list_datasets())
    assert [r.remote_id for r in listing.records] == [f"{HOWARD}:xvpn-2pnt"]
    assert [(e["remote_id"], e["message"]) for e in listing.errors] == [
        (f"{HOWARD}:qccx-65fg", "cannot map dataset: ValueError: no name"),
        (no_id["resource"]["name"], "asset without an id or a domain"),
    ]


def test_not_the_discovery_api(server: FixtureServer, http: HttpClient) -> None:
    server.route(CATALOG, json.dumps({"error": True, "message": "not found"}))
    with pytest.raises(SourceError, match="not a Socrata Discovery API response") as exc:
        read_listing(_conn(server.url, http, domains=[HOWARD]).list_datasets())
    assert CATALOG in (exc.value.url or "")


def test_html_page(server: FixtureServer, http: HttpClient) -> None:
    server.route(CATALOG, Reply(200, "<html><body>Sign in</body></html>", content_type="text/html"))
    with pytest.raises(SourceError, match="HTML"):
        read_listing(_conn(server.url, http, domains=[HOWARD]).list_datasets())


def test_truncated(server: FixtureServer, http: HttpClient) -> None:
    server.route(CATALOG, (FIXTURES / DISCOVERY).read_bytes()[:3000])
    with pytest.raises(SourceError, match="malformed JSON"):
        read_listing(_conn(server.url, http, domains=[HOWARD]).list_datasets())


def test_offset_ignored_is_a_loop(server: FixtureServer, http: HttpClient) -> None:
    rows = [socrata_clone(r, i, HOWARD) for i, r in enumerate(socrata_results() * 2)]
    server.route(CATALOG, json.dumps({"results": rows[:2], "resultSetSize": 14}))
    conn = _conn(server.url, http, domains=[HOWARD], page_size=2)
    listing = read_listing(conn.list_datasets())
    assert len(listing.records) == 2 and len(server.requests) == 2
    assert "pagination loop" in str(listing.end.reason)


def test_oversized(server: FixtureServer) -> None:
    url = SocrataPortal(socrata_results()).install(server)
    http = HttpClient(HttpPolicy(max_bytes=5_000, max_retries=0))
    with pytest.raises(SourceError, match="too large"):
        read_listing(_conn(url, http, domains=[HOWARD]).list_datasets())
