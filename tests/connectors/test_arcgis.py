"""ArcGIS Hub connector against the real Évian-les-Bains and SCE DCAT-US feeds served by the local server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from harvester.connectors.arcgis import ArcgisHubConnector, ArcgisParams, html_to_text
from harvester.connectors.listing import read_listing
from harvester.errors import SourceError
from harvester.http import HttpClient, HttpPolicy
from tests.fixture_server import FixtureServer, Reply
from tests.portals.arcgis_portal import EVIAN, SCE, hub_feed, serve_feed
from tests.portals.util import FIXTURES, load

HUB = "https://ville-d-evian-opendata-ville-evian.hub.arcgis.com"


def _conn(url: str, http: HttpClient, **params: object) -> ArcgisHubConnector:
    return ArcgisHubConnector("evian", url, ArcgisParams.model_validate(params), http)


def test_evian_feed(server: FixtureServer, http: HttpClient) -> None:
    url = serve_feed(server, (FIXTURES / EVIAN).read_bytes())
    records = read_listing(_conn(url, http).list_datasets()).records
    assert [r.remote_id for r in records] == [
        "f6565516d1354383b25793e630cf3f2b_5",
        "cb6aa94ccb21492396e799d1ad282c02_8",
        "b7c181ff568344daae2a77bafbcc7225_0",
        "dcc09451ea4f4c1398584374120137a0_6",
        "94a712dd0d1747c1b899a58f927a2566_4",
        "92a676a42a864c4baf58856e445b6d41",
        "856b7eb926a14f4cb34d95597bafb610",
        "8acd3deee8d042538e21925d0640f199",
    ]
    velos = records[0]
    assert velos.title == "stationnement velos"
    assert velos.publisher == "Ville d'Evian-les-Bains"
    assert (
        velos.license_raw
        == "Soumis à la licence Etalab : https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
    )
    assert velos.issued == datetime(2022, 7, 29, 10, 7, 13, tzinfo=UTC)
    assert velos.modified == datetime(2022, 7, 29, 11, 29, 7, 556000, tzinfo=UTC)
    assert velos.keywords == ("mobilite",) and velos.themes == ("geospatial",)
    assert velos.spatial == "6.5735,46.3912,6.6069,46.4028"
    assert velos.landing_page == f"{HUB}/maps/f6565516d1354383b25793e630cf3f2b_5" == velos.remote_url
    assert velos.contact_email is None  # contactPoint has only fn "sigevian"
    assert velos.extras == {
        "dcat:identifier": "https://www.arcgis.com/home/item.html?id=f6565516d1354383b25793e630cf3f2b&sublayer=5",
        "arcgis:item_id": "f6565516d1354383b25793e630cf3f2b",
        "arcgis:sublayer": "5",
        "dcat_us:accessLevel": "public",
    }
    downloads = f"{HUB}/api/download/v1/items/f6565516d1354383b25793e630cf3f2b"
    assert [(r.format, r.url, r.media_type) for r in velos.resources] == [
        (
            "ArcGIS GeoServices REST API",
            "https://services.arcgis.com/Hbks8qlTugfLqQka/arcgis/rest/services/stationnement_velo/FeatureServer/5",
            "application/json",
        ),
        ("CSV", f"{downloads}/csv?layers=5", "text/csv"),
        ("GeoJSON", f"{downloads}/geojson?layers=5", "application/vnd.geo+json"),
        ("ZIP", f"{downloads}/shapefile?layers=5", "application/zip"),
        ("KML", f"{downloads}/kml?layers=5", "application/vnd.google-earth.kml+xml"),
    ]
    assert velos.resources[3].title == "Shapefile"
    assert velos.raw is not None and velos.raw["license"].startswith("<DIV")
    # the three items without a layer: one dataset each, keyed on the item id
    assert records[5].title == "Publication actes dématérialisés"
    assert records[5].extras["arcgis:item_id"] == "92a676a42a864c4baf58856e445b6d41"
    assert "arcgis:sublayer" not in records[5].extras


def test_options_for_web_pages_and_geoservices(server: FixtureServer, http: HttpClient) -> None:
    url = serve_feed(server, (FIXTURES / EVIAN).read_bytes())
    rec = read_listing(_conn(url, http, web_pages=True, geoservices=False).list_datasets()).records[0]
    assert [r.format for r in rec.resources] == ["Web Page", "CSV", "GeoJSON", "ZIP", "KML"]


def test_us_feed_quirks(server: FixtureServer, http: HttpClient) -> None:
    url = serve_feed(server, (FIXTURES / SCE).read_bytes(), "/api/feed/dcat-us/1.1.json")
    conn = _conn(url, http)
    listing = read_listing(conn.list_datasets())
    records = listing.records
    assert len(records) == 47 and listing.errors == []
    ica = records[0]
    assert ica.remote_id == "23f48820904b46c38f0d4f2d75c69d23"
    assert ica.themes == () and ica.spatial is None  # "" in the feed
    assert ica.contact_email is None  # "mailto:managed services gis esri support"
    assert ica.license_raw is not None and ica.license_raw.startswith(
        "While Southern California Edison makes every effort to ensure the accuracy of DRPEP, the data provided"
    )
    assert "<span" not in ica.license_raw
    # the HTML description as text, its paragraphs kept (the HTML stays in `raw`)
    assert ica.description == (
        "While Southern California Edison makes every effort to ensure the accuracy of DRPEP, the data provided is "
        "for information purposes only. Southern California Edison makes no guarantee, expressly or implied, for the "
        "outcome of an interconnection request.\n\nNote: ICA monthly refresh for June 2026 is completed."
    )
    assert ica.raw and "<p>" in ica.raw["description"]
    assert records[1].remote_id == "23f48820904b46c38f0d4f2d75c69d23_0" and records[1].title == "Substations"


def test_since_is_applied_on_the_client(server: FixtureServer, http: HttpClient) -> None:
    url = serve_feed(server, (FIXTURES / EVIAN).read_bytes())
    records = read_listing(_conn(url, http).list_datasets(since=datetime(2023, 1, 1, tzinfo=UTC))).records
    assert [r.title for r in records] == [
        "defibrillateurs",
        "places de marche",
        "Publication actes dématérialisés",
    ]


def test_unchanged_feed_is_a_304(server: FixtureServer, http: HttpClient) -> None:
    body = (FIXTURES / EVIAN).read_bytes()

    def handler(req):  # type: ignore[no-untyped-def]
        if req.headers.get("If-None-Match") == '"v1"':
            return Reply(304, b"", headers={"ETag": '"v1"'})
        return Reply(200, body, headers={"ETag": '"v1"'})

    server.route("/data.json", handler)
    first = read_listing(_conn(f"{server.url}/data.json", http).list_datasets()).records
    second = read_listing(_conn(f"{server.url}/data.json", http).list_datasets()).records
    assert [r.remote_id for r in first] == [r.remote_id for r in second] and len(second) == 8
    assert server.requests[1].headers.get("If-None-Match") == '"v1"'


def test_bad_records(server: FixtureServer, http: HttpClient) -> None:
    doc = load(EVIAN)
    real = doc["dataset"]
    doc["dataset"] = [
        {k: v for k, v in real[0].items() if k != "identifier"},
        real[1],
        {**real[2], "title": ""},
        "junk",
        real[1],
    ]
    url = serve_feed(server, json.dumps(doc).encode())
    conn = _conn(url, http)
    listing = read_listing(conn.list_datasets())
    assert [r.remote_id for r in listing.records] == ["cb6aa94ccb21492396e799d1ad282c02_8"]
    assert [(e["remote_id"], e["message"]) for e in listing.errors] == [
        ("stationnement velos", "dataset without an `identifier`"),
        ("b7c181ff568344daae2a77bafbcc7225_0", "cannot map dataset: ValueError: no title"),
        (None, "dataset entry is not a JSON object"),
        ("cb6aa94ccb21492396e799d1ad282c02_8", "duplicate identifier in the feed: later entry skipped"),
    ]
    assert all(e["url"] == url for e in listing.errors)


def test_not_a_feed(server: FixtureServer, http: HttpClient) -> None:
    server.route("/data.json", json.dumps([{"title": "x"}]))
    with pytest.raises(SourceError, match="not a DCAT-US catalogue") as exc:
        read_listing(_conn(f"{server.url}/data.json", http).list_datasets())
    assert exc.value.url == f"{server.url}/data.json"


def test_hub_home_page_instead_of_the_feed(server: FixtureServer, http: HttpClient) -> None:
    server.route(
        "/", Reply(200, "<!DOCTYPE html><html><title>ArcGIS Hub</title></html>", content_type="text/html")
    )
    with pytest.raises(SourceError, match="HTML"):
        read_listing(_conn(f"{server.url}/", http).list_datasets())


def test_truncated_feed(server: FixtureServer, http: HttpClient) -> None:
    body = (FIXTURES / EVIAN).read_bytes()
    server.route("/data.json", body[:5000])
    with pytest.raises(SourceError, match="malformed JSON"):
        read_listing(_conn(f"{server.url}/data.json", http).list_datasets())


def test_oversized_feed(server: FixtureServer) -> None:
    url = serve_feed(server, hub_feed(200))
    http = HttpClient(HttpPolicy(max_bytes=50_000, max_retries=0))
    with pytest.raises(SourceError, match="too large"):
        read_listing(_conn(url, http).list_datasets())


def test_large_feed(server: FixtureServer, http: HttpClient) -> None:
    url = serve_feed(server, hub_feed(3_000))
    records = read_listing(_conn(url, http).list_datasets()).records
    assert len(records) == 3_000 and len({r.remote_id for r in records}) == 3_000


def test_html_to_text() -> None:
    assert html_to_text("<p>Licence&nbsp;Ouverte&amp;co</p>") == "Licence Ouverte&co"  # nbsp collapsed too
    assert html_to_text("  plain   text ") == "plain text"


def test_hostile_nesting(server: FixtureServer, http: HttpClient) -> None:
    server.route("/data.json", '{"dataset": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(SourceError, match="nested too deeply"):
        read_listing(_conn(f"{server.url}/data.json", http).list_datasets())
