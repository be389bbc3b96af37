"""OpenDataSoft Explore v2.1 connector against the vendor's recorded examples served by the local server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from harvester.connectors import build_connector
from harvester.connectors.dcat.connector import DcatConnector, DcatParams
from harvester.connectors.listing import read_listing
from harvester.connectors.opendatasoft import OdsParams, OpenDataSoftConnector
from harvester.errors import ConfigError, SourceError, TransientError
from harvester.http import HttpClient, HttpPolicy
from tests.fixture_server import FixtureServer, Reply, Request
from tests.portals.ods_portal import OdsPortal, ods_clone, ods_records
from tests.portals.util import FIXTURES, load

LISTING = "/api/explore/v2.1/catalog/datasets"


def _conn(url: str, http: HttpClient, **params: object) -> OpenDataSoftConnector:
    return OpenDataSoftConnector("rennes", url, OdsParams.model_validate(params), http)


def test_maps_real_records(server: FixtureServer, http: HttpClient) -> None:
    url = OdsPortal(ods_records()).install(server)
    records = read_listing(_conn(url, http).list_datasets()).records
    assert [r.remote_id for r in records] == ["da_6kvv9v", "da_5m8ykr", "da_s2n5ed"]
    world, cities, single = records
    assert world.title == "World Administrative Boundaries - Countries and Territories"
    assert world.name == "world-administrative-boundaries-countries-and-territories"
    assert world.extras["ods_dataset_id"] == world.name
    assert world.extras["ods_domain"] == server.url.split("//")[1]
    assert world.publisher == "World Food Programme (UN agency)"
    assert world.license_raw == "Open Government Licence v3.0"
    assert (
        world.extras["ods_license_url"]
        == "http://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"
    )
    assert world.modified == datetime(2021, 6, 23, 14, 59, 57, tzinfo=UTC)
    assert world.keywords == (
        "United Nation",
        "ISO-3 code",
        "Countries",
        "Territories",
        "Shape",
        "Boundaries",
    )
    assert world.themes == ("Administration, Government, Public finances, Citizenship",)
    assert world.spatial == "World"
    assert world.description is not None and world.description.startswith("<p>This dataset displays level 0")
    page = f"{url}/explore/dataset/world-administrative-boundaries-countries-and-territories/"
    assert world.remote_url == page and world.landing_page == page
    base = (
        f"{url}/api/explore/v2.1/catalog/datasets/world-administrative-boundaries-countries-and-territories"
    )
    # geo dataset with records: csv, parquet, json and geojson exports; no attachment
    assert [(r.url, r.format) for r in world.resources] == [
        (f"{base}/exports/csv", "csv"),
        (f"{base}/exports/parquet", "parquet"),
        (f"{base}/exports/json", "json"),
        (f"{base}/exports/geojson", "geojson"),
    ]
    assert world.resources[0].remote_id == "da_6kvv9v/exports/csv"
    assert world.resources[0].modified == datetime(2019, 5, 15, 7, 49, 1, tzinfo=UTC)
    assert world.raw is not None and world.raw["dataset_uid"] == "da_6kvv9v"
    # no licence and no publisher declared: left empty, not invented
    assert cities.license_raw is None and cities.publisher is None and cities.keywords == ()
    att = cities.resources[-1]
    assert (
        att.url
        == f"{url}/api/explore/v2.1/catalog/datasets/geonames-all-cities-with-a-population-1000/attachments/cities1000_zip"
    )
    assert (att.title, att.format, att.media_type, att.remote_id) == (
        "cities1000.zip",
        "zip",
        "application/zip",
        "da_5m8ykr/attachments/cities1000_zip",
    )
    assert single.license_raw == "CC BY 4.0" and single.publisher == "GeoNames"
    assert single.extras["ods_federated"] == "true"


def test_pages_with_offset_and_limit(server: FixtureServer, http: HttpClient) -> None:
    rows = [ods_clone(r, i) for i, r in enumerate(ods_records() * 84)]  # 252 datasets
    url = OdsPortal(rows).install(server)
    records = read_listing(_conn(url, http).list_datasets()).records
    assert len(records) == 252 and len({r.remote_id for r in records}) == 252
    offsets = [(r.arg("offset"), r.arg("limit")) for r in server.requests]
    assert offsets == [("0", "100"), ("100", "100"), ("200", "100")]
    assert all(r.arg("order_by") == "dataset_id" for r in server.requests)


def test_catalogue_past_10000_uses_the_export(server: FixtureServer, http: HttpClient) -> None:
    real = ods_records()
    rows = [ods_clone(real[i % 3], i) for i in range(10_050)]
    url = OdsPortal(rows).install(server)
    records = read_listing(_conn(url, http).list_datasets()).records
    assert len(records) == 10_050
    assert records[10_049].remote_id == "da_c0010049"
    assert [r.path for r in server.requests] == [LISTING, "/api/explore/v2.1/catalog/exports/json"]


def test_last_page_before_the_window_is_shrunk(server: FixtureServer, http: HttpClient) -> None:
    real = ods_records()
    rows = [ods_clone(real[i % 3], i) for i in range(9_999)]
    url = OdsPortal(rows).install(server)
    records = read_listing(_conn(url, http).list_datasets()).records
    assert len(records) == 9_999
    last = server.requests[-1]
    assert (last.arg("offset"), last.arg("limit")) == ("9900", "99")  # 9900 + 99 < 10000
    assert server.count("/api/explore/v2.1/catalog/exports/json") == 0


def test_since_filters_on_the_server(server: FixtureServer, http: HttpClient) -> None:
    url = OdsPortal(ods_records()).install(server)
    since = datetime(2021, 6, 23, 14, 0, tzinfo=UTC)
    records = read_listing(
        _conn(url, http, where='publisher = "GeoNames"').list_datasets(since=since)
    ).records
    assert (
        server.requests[0].arg("where")
        == "(publisher = \"GeoNames\") and modified >= date'2021-06-23T14:00:00Z'"
    )
    # the emulated server applies only the `modified` part
    assert [r.remote_id for r in records] == ["da_6kvv9v", "da_5m8ykr"]


def test_refine_params_are_sent_quoted(server: FixtureServer, http: HttpClient) -> None:
    url = OdsPortal(ods_records()).install(server)
    records = read_listing(_conn(url, http, refine=["publisher:GeoNames"]).list_datasets()).records
    assert server.requests[0].query["refine"] == ['publisher:"GeoNames"']
    assert [r.remote_id for r in records] == ["da_s2n5ed"]


def test_params_validation() -> None:
    with pytest.raises(ValidationError):
        OdsParams.model_validate({"page_size": 500})
    with pytest.raises(ValidationError):
        OdsParams.model_validate({"refine": ["no-colon"]})
    with pytest.raises(ValidationError):
        OdsParams.model_validate({"exports": ["docx"]})


def test_quota_429_waits_until_reset_time(server: FixtureServer) -> None:
    body = load("opendatasoft/errors/quota_429.json")
    body["reset_time"] = (datetime.now(UTC) + timedelta(seconds=120)).isoformat()
    portal = OdsPortal(ods_records())
    calls = {"n": 0}

    def handler(req: Request) -> Reply:
        calls["n"] += 1
        return Reply(429, json.dumps(body)) if calls["n"] == 1 else portal.datasets(req)

    server.route(LISTING, handler)
    sleeps: list[float] = []
    http = HttpClient(HttpPolicy(max_backoff=600), sleep=sleeps.append)
    records = read_listing(_conn(server.url, http).list_datasets()).records
    assert len(records) == 3
    assert len(sleeps) == 1 and 115 < sleeps[0] <= 122  # until reset_time (+1 s), not the blind backoff


def test_quota_429_far_reset_fails_the_source_at_once(server: FixtureServer, http: HttpClient) -> None:
    body = (FIXTURES / "opendatasoft/errors/quota_429.json").read_text()
    body = body.replace(
        "2021-01-26T00:00:00Z", (datetime.now(UTC) + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    server.route(LISTING, Reply(429, body))
    with pytest.raises(SourceError) as exc:
        read_listing(_conn(server.url, http).list_datasets())
    assert "quota exhausted (10000 calls per day)" in str(exc.value)
    assert "resets at" in str(exc.value) and LISTING in str(exc.value)
    assert server.count(LISTING) == 1  # no blind retries against an exhausted quota


def test_429_without_quota_body_honours_retry_after(server: FixtureServer) -> None:
    portal = OdsPortal(ods_records())
    calls = {"n": 0}

    def handler(req: Request) -> Reply:
        calls["n"] += 1
        if calls["n"] == 1:
            return Reply(429, "Too Many Requests", headers={"Retry-After": "7"}, content_type="text/plain")
        return portal.datasets(req)

    server.route(LISTING, handler)
    sleeps: list[float] = []
    http = HttpClient(HttpPolicy(max_backoff=600), sleep=sleeps.append)
    assert len(read_listing(_conn(server.url, http).list_datasets()).records) == 3
    assert sleeps == [7.0]


def test_quota_hint_ignores_other_errors() -> None:
    conn = OpenDataSoftConnector("s", "http://x", OdsParams(), HttpClient())
    err = TransientError("HTTP 503", url="http://x")
    err.status = 503  # type: ignore[attr-defined]
    err.body = b'{"reset_time": "2000-01-01T00:00:00Z"}'  # type: ignore[attr-defined]
    assert conn._quota_hint(err) is None
    err.status = 429  # type: ignore[attr-defined]
    err.body = b"<html>busy</html>"  # type: ignore[attr-defined]
    assert conn._quota_hint(err) is None


def test_html_page_instead_of_the_api(server: FixtureServer, http: HttpClient) -> None:
    server.route(
        LISTING, Reply(200, "<!doctype html><html><body>Portail</body></html>", content_type="text/html")
    )
    with pytest.raises(SourceError) as exc:
        read_listing(_conn(server.url, http).list_datasets())
    assert "HTML" in exc.value.message and LISTING in (exc.value.url or "")


def test_malformed_json(server: FixtureServer, http: HttpClient) -> None:
    text = (FIXTURES / "opendatasoft/catalog/ods_v2.1_catalog_datasets_example.json").read_text()
    server.route(LISTING, text[: len(text) // 2])  # truncated response
    with pytest.raises(SourceError) as exc:
        read_listing(_conn(server.url, http).list_datasets())
    assert "malformed JSON" in exc.value.message and exc.value.url and LISTING in exc.value.url


def test_wrong_shape(server: FixtureServer, http: HttpClient) -> None:
    server.route(LISTING, json.dumps({"nhits": 3, "datasets": []}))  # a v1 answer at the v2.1 path
    with pytest.raises(SourceError, match="no `results` list"):
        read_listing(_conn(server.url, http).list_datasets())


def test_odsql_error_names_the_url(server: FixtureServer, http: HttpClient) -> None:
    server.route(LISTING, Reply(400, (FIXTURES / "opendatasoft/errors/odsql_400.json").read_bytes()))
    with pytest.raises(SourceError) as exc:
        read_listing(_conn(server.url, http, where="invalid_function()").list_datasets())
    assert "ODSQL query is malformed" in exc.value.message and LISTING in (exc.value.url or "")


def test_pagination_loop_is_detected(server: FixtureServer, http: HttpClient) -> None:
    rows = [ods_clone(r, i) for i, r in enumerate(ods_records() * 2)]
    url = OdsPortal(rows, ignore_offset=True).install(server)
    conn = _conn(url, http, page_size=2)
    listing = read_listing(conn.list_datasets())
    assert len(listing.records) == 2 and len(server.requests) == 2
    assert "pagination loop" in str(listing.end.reason)


def test_oversized_response(server: FixtureServer, tmp_path: object) -> None:
    url = OdsPortal(ods_records()).install(server)
    http = HttpClient(HttpPolicy(max_bytes=2_000, max_retries=0))
    with pytest.raises(SourceError, match="too large") as exc:
        read_listing(_conn(url, http).list_datasets())
    assert exc.value.url and LISTING in exc.value.url


def test_one_bad_record_among_good_ones(server: FixtureServer, http: HttpClient) -> None:
    good = ods_records()
    no_uid = {k: v for k, v in good[0].items() if k != "dataset_uid"}
    no_slug = {**good[1], "dataset_uid": "da_broken", "dataset_id": None}
    url = OdsPortal([no_uid, no_slug, "not an object", good[2]]).install(server)  # type: ignore[list-item]
    conn = _conn(url, http)
    listing = read_listing(conn.list_datasets())
    records = listing.records
    assert [r.remote_id for r in records] == ["da_s2n5ed"]
    assert [(e["remote_id"], e["message"]) for e in listing.errors] == [
        ("world-administrative-boundaries-countries-and-territories", "dataset without a `dataset_uid`"),
        ("da_broken", "cannot map dataset: ValueError: no `dataset_id` (slug): export URLs cannot be built"),
        (None, "catalogue entry is not a JSON object"),
    ]
    assert all(e["url"] for e in listing.errors)


def test_federated_datasets_can_be_skipped(server: FixtureServer, http: HttpClient) -> None:
    url = OdsPortal(ods_records()).install(server)
    records = read_listing(_conn(url, http, skip_federated=True).list_datasets()).records
    assert [r.remote_id for r in records] == ["da_5m8ykr"]


def test_api_key_header(server: FixtureServer, http: HttpClient) -> None:
    url = OdsPortal(ods_records()).install(server)
    conn = OpenDataSoftConnector("s", url, OdsParams(), http, auth={"token": "secret"})
    read_listing(conn.list_datasets())
    assert server.requests[0].headers["Authorization"] == "Apikey secret"


def test_dcat_mode_reads_the_catalogue_export(server: FixtureServer, http: HttpClient) -> None:
    export = "/api/explore/v2.1/catalog/exports/dcat"
    server.file(export, "dcat/ods-export/rennes-catalog-exports-dcat.rdf")  # Rennes Métropole's real export
    conn = build_connector("opendatasoft", "rennes", server.url, {"mode": "dcat"}, http)
    listing = read_listing(conn.list_datasets())
    records = listing.records
    assert [r.path for r in server.requests] == [export]
    assert len(records) == 27 and listing.errors == [] and listing.complete
    arbres = next(r for r in records if r.remote_id == "arbre_theorique0")  # no dataset_uid in DCAT: the slug
    assert arbres.title == "Arbres théoriques sur Rennes Métropole" and arbres.publisher == "Rennes Métropole"
    assert arbres.extras["ods_dataset_id"] == "arbre_theorique0" and arbres.source_id == "rennes"


def test_dcat_mode_needs_the_dcat_connector_passed_in(server: FixtureServer, http: HttpClient) -> None:
    """The connector never looks the DCAT connector up itself: built without one, `mode: dcat` says so."""
    with pytest.raises(ConfigError, match="needs a DCAT connector"):
        read_listing(_conn(server.url, http, mode="dcat").list_datasets())
    assert server.requests == []
    built: list[str] = []

    def dcat(url: str) -> DcatConnector:
        built.append(url)
        return DcatConnector("rennes", url, DcatParams(), http)

    server.file("/api/explore/v2.1/catalog/exports/dcat", "dcat/ods-export/rennes-catalog-exports-dcat.rdf")
    conn = OpenDataSoftConnector("rennes", server.url, OdsParams(mode="dcat"), http, delegates={"dcat": dcat})
    assert len(read_listing(conn.list_datasets()).records) == 27
    assert built == [f"{server.url}/api/explore/v2.1/catalog/exports/dcat"]


def test_list_ids_asks_only_for_dataset_uid(server: FixtureServer, http: HttpClient) -> None:
    rows = [ods_clone(r, i) for i, r in enumerate(ods_records() * 70)]  # 210 datasets
    url = OdsPortal(rows).install(server)
    ids = _conn(url, http).list_ids().ids
    assert ids == {r["dataset_uid"] for r in rows}
    assert [(r.path, r.arg("select")) for r in server.requests] == [
        ("/api/explore/v2.1/catalog/exports/json", "dataset_uid")
    ]
    assert "where" not in server.requests[0].query  # the whole catalogue, not since the cursor


def test_list_ids_without_federated(server: FixtureServer, http: HttpClient) -> None:
    url = OdsPortal(ods_records()).install(server)
    assert _conn(url, http, skip_federated=True).list_ids().ids == {"da_5m8ykr"}


def test_deeply_nested_json_is_a_source_error(server: FixtureServer, http: HttpClient) -> None:
    server.route(LISTING, '{"total_count": 1, "results": ' + "[" * 200_000 + "]" * 200_000 + "}")
    with pytest.raises(SourceError, match="nested too deeply") as exc:
        read_listing(_conn(server.url, http).list_datasets())
    assert LISTING in (exc.value.url or "")
