"""The `csw` connector on real recorded GetRecords responses (Géo-IDE, INSPIRE Geoportal, GéoPicardie)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from harvester.catalog import read_catalog
from harvester.config import parse_sources
from harvester.connectors.csw.connector import CswConnector, CswParams
from harvester.connectors.listing import read_listing
from harvester.errors import SourceError
from harvester.harvest import SourceResult, harvest_source, new_run_id
from harvester.http import HttpClient, HttpPolicy
from harvester.state import StateStore
from tests.fixture_server import FixtureServer, Reply, Request
from tests.portals.csw_portal import CswPortal, real_records

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ENDPOINT = "/catalogue/srv/fre/csw"
GEOIDE = {1: "page-1.xml", 3: "page-2.xml", 5: "page-3-last.xml"}


def connector(url: str, http: HttpClient, **params: Any) -> CswConnector:
    return CswConnector("geoide", url, CswParams(**params), http)


def page(name: str) -> bytes:
    return (FIXTURES / "csw" / name).read_bytes()


def start_of(req: Request) -> int:
    if req.method == "POST":
        return int(etree.fromstring(req.body).get("startPosition", "1"))
    return int(req.arg("startPosition", "1") or "1")


def serve_pages(server: FixtureServer, pages: dict[int, bytes]) -> None:
    """Answer each startPosition with a recorded page, unchanged."""

    def handler(req: Request) -> Reply:
        body = pages.get(start_of(req))
        if body is None:
            return Reply(400, "unexpected startPosition", content_type="text/plain")
        return Reply(200, body, content_type="application/xml")

    server.route(ENDPOINT, handler)


def geoide_pages() -> dict[int, bytes]:
    return {start: page(f"geoide-iso19139/{name}") for start, name in GEOIDE.items()}


def test_geoide_pages_until_next_record_zero(server: FixtureServer, http: HttpClient) -> None:
    serve_pages(server, geoide_pages())
    conn = connector(server.url + ENDPOINT, http, page_size=2)
    listing = read_listing(conn.list_datasets())
    records = {r.remote_id: r for r in listing.records}
    assert len(records) == 6 and listing.errors == [] and listing.complete
    assert [start_of(r) for r in server.requests] == [1, 3, 5]  # nextRecord=0 on page 3: no 4th request
    body = etree.fromstring(server.requests[0].body)
    assert body.get("outputSchema") == "http://www.isotc211.org/2005/gmd" and body.get("maxRecords") == "2"
    assert body.findtext("{*}Query/{*}ElementSetName") == "full"

    plu = records["fr-120066022-ldd-3f4cc8c8-5c3e-4a0e-8b56-0a569a7e12f6"]
    assert plu.title == "Plan local d'urbanisme de la commune de Combles"
    assert plu.publisher == "DDTM 80 (Direction Départementale des Territoires et de la Mer de la Somme)"
    assert plu.contact_email == "ddtm-sap-bsig@somme.gouv.fr"
    assert plu.license_raw == "Licence Ouverte 1.0 http://www.data.gouv.fr/Licence-Ouverte-Open-Licence."
    assert plu.issued == datetime(2017, 10, 7, tzinfo=UTC)
    assert plu.modified == datetime(2019, 3, 25, 21, 56, 15, 973000, tzinfo=UTC)  # dateStamp, +01:00 → UTC
    assert plu.themes == ("Usage des sols", "planningCadastre")
    assert "Aménagement Urbanisme/Zonages Planification" in plu.keywords
    assert plu.remote_url == (
        f"{server.url}/catalogue/srv/fre/catalog.search#/metadata/fr-120066022-ldd-3f4cc8c8-5c3e-4a0e-8b56-0a569a7e12f6"
    )
    assert plu.extras["file_identifier"] == plu.remote_id
    assert plu.extras["hierarchy_level"] == "dataset" and plu.extras["language"] == "fre"
    assert plu.spatial == (
        '{"type":"Polygon","coordinates":[[[3.28133559,49.38547516],[1.31279111,49.38547516],'
        "[1.31279111,50.48188019],[3.28133559,50.48188019],[3.28133559,49.38547516]]]}"
    )
    assert len(plu.resources) == 11
    atom = [
        r
        for r in plu.resources
        if r.url.startswith("http://atom.geo-ide.developpement-durable.gouv.fr/atomArchive")
    ]
    assert atom and all(r.format == "WWW:LINK-1.0-http--link" for r in atom)
    assert plu.raw and plu.raw["xml"].startswith("<gmd:MD_Metadata")

    servitude = records["fr-120066022-jdd-585c9cd3-d542-407a-b6a5-885f062b0024"]
    assert (
        servitude.publisher
        == "DDTM 62 (Direction départementale des territoires et de la mer du Pas-de-Calais)"
    )
    assert servitude.license_raw and servitude.license_raw.startswith(
        "Licence Ouverte / Open Licence Version 2.0"
    )
    assert servitude.modified == datetime(2022, 6, 10, 4, 8, 11, 253000, tzinfo=UTC)
    assert servitude.extras["revision_date"] == "2021-11-19T00:00:00+00:00"
    wxs = [r for r in servitude.resources if r.title == "URL de base des services wms/wfs sur internet"]
    assert (
        len(wxs) == 1
        and wxs[0].format is None
        and wxs[0].url.startswith("https://ogc.geo-ide.developpement-durable.gouv.fr/wxs")
    )


def test_next_record_is_trusted_over_start_plus_returned(server: FixtureServer, http: HttpClient) -> None:
    """INSPIRE Geoportal: 2 records returned, nextRecord=85. The next request starts at 85."""
    serve_pages(server, {1: page("inspire-geoportal/page.xml"), 85: page("geoide-iso19139/page-3-last.xml")})
    records = read_listing(connector(server.url + ENDPOINT, http, types=[]).list_datasets()).records
    assert [start_of(r) for r in server.requests] == [1, 85]
    assert len(records) == 4
    ngi = next(r for r in records if r.remote_id == "8dad9c98-0512-4845-a2bf-3ace1c93df6f")
    assert ngi.title == "SUVIM station network WMS" and ngi.publisher == "National Geographic Institute"
    assert ngi.extras["hierarchy_level"] == "service"
    assert {"Atmospheric conditions", "Environmental monitoring facilities"} <= set(ngi.themes)
    assert (
        "OGC:WMS",
        "https://wms.ngi.be/inspire/aeronomie/service?request=GetCapabilities&service=WMS&version=1.3.0",
    ) in {(r.format, r.url) for r in ngi.resources}
    assert "constraints" in ngi.extras and ngi.license_raw is None  # access statements, no licence named


def test_get_kvp_requests(server: FixtureServer, http: HttpClient) -> None:
    portal = CswPortal(server, real_records(), path=ENDPOINT)
    since = datetime(2020, 1, 1, tzinfo=UTC)
    records = read_listing(
        connector(portal.url, http, method="get", page_size=4).list_datasets(since=since)
    ).records
    assert [r.remote_id for r in records] == ["fr-120066022-jdd-585c9cd3-d542-407a-b6a5-885f062b0024"]
    q = server.requests[0].query
    assert q["request"] == ["GetRecords"] and q["outputSchema"] == ["http://www.isotc211.org/2005/gmd"]
    assert q["constraint"] == [
        "(Type = 'dataset' OR Type = 'series' OR Type = 'nonGeographicDataset') AND Modified >= '2020-01-01T00:00:00Z'"
    ]
    assert q["constraintLanguage"] == ["CQL_TEXT"] and q["sortBy"] == ["Identifier:A"]


def test_incremental_filter_and_fallback_when_the_server_rejects_it(
    server: FixtureServer, http: HttpClient
) -> None:
    portal = CswPortal(server, real_records(), path=ENDPOINT)
    since = datetime(2020, 1, 1, tzinfo=UTC)
    assert len(read_listing(connector(portal.url, http, page_size=2).list_datasets(since=since)).records) == 1
    assert len(server.requests) == 1 and portal.queries[0]["since"] == since
    portal.reject_filter = True
    conn = connector(portal.url, http, page_size=2)
    recs = read_listing(conn.list_datasets(since=since)).records
    assert [r.remote_id for r in recs] == ["fr-120066022-jdd-585c9cd3-d542-407a-b6a5-885f062b0024"]
    assert [q["since"] for q in portal.queries[1:]] == [
        since,
        None,
        None,
        None,
    ]  # rejected, then a full listing
    assert conn.list_ids().ids == {r.file_identifier for r in portal.records}
    assert portal.queries[-1]["element_set"] == "brief"


def test_next_record_that_does_not_advance_is_a_loop(server: FixtureServer, http: HttpClient) -> None:
    stuck = page("geoide-iso19139/page-2.xml").replace(b'nextRecord="5"', b'nextRecord="3"')
    serve_pages(server, {1: page("geoide-iso19139/page-1.xml"), 3: stuck})
    conn = connector(server.url + ENDPOINT, http, page_size=2)
    listing = read_listing(conn.list_datasets())
    got = [r.remote_id for r in listing.records]
    assert len(got) == 4 and len(server.requests) == 2  # the records read before the loop are kept
    entry = listing.end.as_error()
    assert "pagination loop: nextRecord 3 does not advance past startPosition 3" in entry["message"]
    assert entry["url"] == server.url + ENDPOINT and not listing.complete


def test_one_malformed_record_among_good_ones(server: FixtureServer, http: HttpClient) -> None:
    pages = geoide_pages()
    # page 2: the first record loses its fileIdentifier, the second its title
    p2 = pages[3].decode()
    p2 = re.sub(r"<gmd:fileIdentifier>.*?</gmd:fileIdentifier>", "", p2, count=1, flags=re.DOTALL)
    p2 = p2.replace(
        "Plan local d'urbanisme de la commune de Longueau</gco:CharacterString>", "</gco:CharacterString>", 1
    )
    pages[3] = p2.encode()
    serve_pages(server, pages)
    conn = connector(server.url + ENDPOINT, http, page_size=2)
    listing = read_listing(conn.list_datasets())
    records = listing.records
    assert len(records) == 4 and len(server.requests) == 3
    errors = sorted(listing.errors, key=lambda e: e["message"])
    assert [(e["remote_id"], e["message"]) for e in errors] == [
        ("fr-120066022-ldd-05ba3a8c-ee8a-4dd5-a86a-15b6d6cd1bc8", "ISO record without a citation title"),
        (None, "ISO record without gmd:fileIdentifier"),
    ]
    assert errors[0]["url"].endswith("#/metadata/fr-120066022-ldd-05ba3a8c-ee8a-4dd5-a86a-15b6d6cd1bc8")
    assert errors[1]["url"] == server.url + ENDPOINT


EXCEPTION_REPORT = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows" '
    b'version="1.2.0"><ows:Exception exceptionCode="NoApplicableCode"><ows:ExceptionText>'
    b"Raised exception while searching metadata : java.lang.NullPointerException</ows:ExceptionText>"
    b"</ows:Exception></ows:ExceptionReport>"
)
BROKEN: dict[str, tuple[bytes, str]] = {
    "ExceptionReport: NoApplicableCode Raised exception while searching metadata": (
        EXCEPTION_REPORT,
        "text/xml",
    ),
    "malformed or truncated XML": (page("geopicardie/getcapabilities-truncated.xml"), "application/xml"),
    "expected a CSW GetRecordsResponse, got <Capabilities>": (
        page("geopicardie/getcapabilities.xml"),
        "application/xml",
    ),
    "HTML page": (b"<!DOCTYPE html><html><body><h1>GeoNetwork</h1></body></html>", "text/html"),
    "no ISO 19139 record \\(got <Record>\\)": (
        page("dc-records/geopicardie-dc-full-page-1.xml"),
        "application/xml",
    ),
    "declares entities": (
        b'<?xml version="1.0"?><!DOCTYPE csw:GetRecordsResponse [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<csw:GetRecordsResponse xmlns:csw="http://www.opengis.net/cat/csw/2.0.2">&x;</csw:GetRecordsResponse>',
        "application/xml",
    ),
    "too large": (page("geoide-iso19139/page-1.xml"), "application/xml"),
    "entity-expansion": (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
        b'<csw:GetRecordsResponse xmlns:csw="http://www.opengis.net/cat/csw/2.0.2">&d;&d;&d;</csw:GetRecordsResponse>',
        "application/xml",
    ),
}


@pytest.mark.parametrize("expected", sorted(BROKEN))
def test_broken_and_hostile_responses_are_source_errors(server: FixtureServer, expected: str) -> None:
    body, ctype = BROKEN[expected]
    server.route(ENDPOINT, Reply(200, body, content_type=ctype))
    http = HttpClient(HttpPolicy(max_bytes=50_000, max_retries=0))
    with pytest.raises(SourceError, match=expected) as err:
        read_listing(connector(server.url + ENDPOINT, http).list_datasets())
    assert err.value.url == server.url + ENDPOINT and err.value.source_id == "geoide"


def test_empty_page_before_the_announced_end_marks_the_listing_incomplete(
    server: FixtureServer, http: HttpClient
) -> None:
    empty = re.sub(
        rb"<gmd:MD_Metadata.*</gmd:MD_Metadata>\s*",
        b"",
        page("geoide-iso19139/page-2.xml"),
        flags=re.DOTALL,
    ).replace(b'numberOfRecordsReturned="2"', b'numberOfRecordsReturned="0"')
    serve_pages(server, {1: page("geoide-iso19139/page-1.xml"), 3: empty})
    conn = connector(server.url + ENDPOINT, http, page_size=2)
    listing = read_listing(conn.list_datasets())
    assert len(listing.records) == 2
    assert listing.complete is False and len(server.requests) == 2  # so nothing is withdrawn


def test_record_url_template(http: HttpClient) -> None:
    assert connector("https://x.fr/csw", http, record_url="https://x.fr/fiche/{id}").record_url("a b") == (
        "https://x.fr/fiche/a%20b"
    )
    assert (
        connector("https://x.fr/csw", http)
        .record_url("id1")
        .startswith("https://x.fr/csw?service=CSW&version=2.0.2&request=GetRecordById&id=id1")
    )


# --- Through the harvest stage ---------------------------------------------------------------------------------


def _harvest(
    url: str, tmp_path: Path, state: StateStore, http: HttpClient, full: bool = False
) -> SourceResult:
    cfg = parse_sources(
        {"sources": [{"id": "geoide", "type": "csw", "url": url, "params": {"page_size": 2}}]}
    )
    return harvest_source(
        cfg.sources[0], data_dir=tmp_path / "data", state=state, http=http, run_id=new_run_id(), full=full
    )


def test_harvest_into_the_catalogue_incrementally_and_keep_it_on_exception_report(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    portal = CswPortal(server, real_records(), path=ENDPOINT)
    first = _harvest(portal.url, tmp_path, state, http)
    assert (first.status, first.listed, first.created, first.requests) == ("ok", 6, 6, 3)
    cat = read_catalog(tmp_path / "data", "geoide")
    assert cat is not None
    rows = {r["remote_id"]: r for r in cat[0].to_pylist()}
    row = rows["fr-120066022-jdd-585c9cd3-d542-407a-b6a5-885f062b0024"]
    assert row["license_id"] == "lov2" and row["publisher"].startswith("DDTM 62")
    assert rows["fr-120066022-ldd-3f4cc8c8-5c3e-4a0e-8b56-0a569a7e12f6"]["license_id"] == "lov1"
    res = [
        r
        for r in cat[1].to_pylist()
        if r["dataset_key"] == "geoide:fr-120066022-jdd-585c9cd3-d542-407a-b6a5-885f062b0024"
    ]
    assert len(res) == 6

    # incremental: the server filters on apiso:Modified >= cursor, the brief listing sees a removed record
    portal.records = [
        r
        for r in portal.records
        if r.file_identifier != "fr-120066022-ldd-3f4cc8c8-5c3e-4a0e-8b56-0a569a7e12f6"
    ]
    second = _harvest(portal.url, tmp_path, state, http)
    assert (second.status, second.mode, second.listed, second.withdrawn) == ("ok", "incremental", 1, 1)
    assert [q["element_set"] for q in portal.queries[3:]] == ["full", "brief"]
    files = {p: p.read_bytes() for p in (tmp_path / "data/catalog/geoide").glob("*.parquet")}

    server.route(ENDPOINT, Reply(200, EXCEPTION_REPORT, content_type="text/xml"))
    failed = _harvest(portal.url, tmp_path, state, http, full=True)
    assert (
        failed.status == "failed"
        and "ExceptionReport" in (failed.error or "")
        and portal.url in (failed.error or "")
    )
    assert {p: p.read_bytes() for p in files} == files


@pytest.mark.parametrize("name", ["dcat-page-1.xml", "geodcatap-page-1.xml"])
def test_dcat_output_schema_is_mapped_by_the_dcat_mapping(
    server: FixtureServer, http: HttpClient, name: str
) -> None:
    """GeoNetwork 4 converting to DCAT / GeoDCAT-AP server-side (what data.gouv.fr's csw-dcat backend reads)."""
    body = page(f"geo2france-dcat/{name}").replace(b'nextRecord="3"', b'nextRecord="0"')
    server.route(ENDPOINT, Reply(200, body, content_type="application/xml"))
    conn = connector(server.url + ENDPOINT, http, output_schema="dcat")
    listing = read_listing(conn.list_datasets())
    recs = {r.remote_id: r for r in listing.records}
    assert etree.fromstring(server.requests[0].body).get("outputSchema") == "http://www.w3.org/ns/dcat#"
    assert sorted(recs) == ["04bcec79-5b25-4b16-b635-73115f7456e4", "06367a09-096c-4db6-a122-52469176d619"]
    insee = recs["04bcec79-5b25-4b16-b635-73115f7456e4"]
    assert (
        insee.title
        == "INSEE - Part des ménages présents depuis 5 ans ou plus dans leur logement actuel (2010)"
    )
    assert insee.publisher == "Géo2France" and insee.extras["file_identifier"] == insee.remote_id
    assert insee.resources and listing.errors == []
    # GeoNetwork writes dct:abstract, not dct:description (udata's test_geonetwork asserts the same text)
    assert insee.description and insee.description.startswith(
        "Part des ménages présents depuis 5 ans ou plus dans leur logement actuel"
    )
    assert insee.contact_email == "contact@geo2france.fr"


def _edited(rec: Any, stamp: str, title: str) -> Any:
    """The same fileIdentifier, another record: a later dateStamp and a new title (a GeoNetwork copy)."""
    from tests.portals.csw_portal import _record

    xml = re.sub(r"(<gmd:dateStamp>\s*<gco:DateTime>)[^<]+", rf"\g<1>{stamp}", rec.xml, count=1)
    xml = re.sub(r"(<gmd:title>\s*<gco:CharacterString>)[^<]+", rf"\g<1>{title}", xml, count=1)
    return _record(xml)


@pytest.mark.parametrize("newer_first", [False, True])
def test_two_records_with_one_file_identifier_keep_the_newer_and_report(
    server: FixtureServer, http: HttpClient, newer_first: bool
) -> None:
    records = real_records()
    dup = _edited(records[0], "2024-05-02T10:00:00", "Copie modifiée")
    served = [dup, *records] if newer_first else [*records, dup]
    CswPortal(server, served, path=ENDPOINT)
    conn = connector(server.url + ENDPOINT, http, page_size=2)
    listing = read_listing(conn.list_datasets())
    got = {r.remote_id: r for r in listing.records}
    assert len(got) == 6 and got[dup.file_identifier].title == "Copie modifiée"
    [err] = listing.errors
    assert err["remote_id"] == dup.file_identifier
    assert (
        "two different records share the fileIdentifier" in err["message"] and "more recent" in err["message"]
    )
    assert listing.end.outcomes.as_dict() == {"listed": 7, "kept": 6, "skipped": {"duplicate": 1}}
    assert listing.complete  # 7 matched, 7 different records served


def test_record_repeated_on_two_pages_is_skipped_silently(server: FixtureServer, http: HttpClient) -> None:
    """The same record twice (a paging shift): no error, but 7 matched and 6 distinct served is a short listing."""
    r = real_records()
    CswPortal(server, [r[0], r[1], r[2], r[2], r[3], r[4], r[5]], path=ENDPOINT)
    conn = connector(server.url + ENDPOINT, http, page_size=2, sort=False)
    listing = read_listing(conn.list_datasets())
    assert len(listing.records) == 6 and listing.errors == []
    assert listing.end.outcomes.skipped == {"duplicate": 1}
    assert listing.end.missing == 1


def test_last_page_of_repeats_only_is_a_loop(server: FixtureServer, http: HttpClient) -> None:
    r = real_records()
    CswPortal(server, [*r, r[5]], path=ENDPOINT)
    conn = connector(server.url + ENDPOINT, http, page_size=2, sort=False)
    listing = read_listing(conn.list_datasets())
    assert len(listing.records) == 6 and len(server.requests) == 4
    assert "pagination loop" in str(listing.end.reason)


def test_unsorted_duplicate_keeps_the_first_and_reports(server: FixtureServer, http: HttpClient) -> None:
    records = real_records()
    dup = _edited(records[0], "2024-05-02T10:00:00", "Copie modifiée")
    CswPortal(server, [*records, dup], path=ENDPOINT)
    conn = connector(server.url + ENDPOINT, http, page_size=2, sort=False)
    listing = read_listing(conn.list_datasets())
    got = {r.remote_id: r for r in listing.records}
    assert got[dup.file_identifier].title != "Copie modifiée"
    [err] = listing.errors
    assert "read first was kept" in err["message"]
