"""The `csw` connector on the other ISO encodings the peers read: ISO 19115-3 (`mdb:MD_Metadata`, GeoNetwork 4;
OWSLib's metawal record), the Swiss profile (`che:CHE_MD_Metadata`; ckanext-geocat's records), and a Dutch
licence constraint (OWSLib's DOV record).

The records are real and unchanged; only the GetRecordsResponse envelope around them is written here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from harvester.connectors.csw.connector import CswConnector, CswParams
from harvester.connectors.listing import read_listing
from harvester.http import HttpClient
from harvester.records import DatasetRecord
from tests.fixture_server import FixtureServer, Reply, Request

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "csw"
ENDPOINT = "/geonetwork/srv/eng/csw"
METAWAL = "iso19115-3-metawal/metawal.wallonie.be-catchments.xml"
CHE = ("geocat-che/result_1.xml", "geocat-che/result_2.xml")


def record_xml(rel: str) -> str:
    """The metadata record of a recorded file (the root, or the first child of a GetRecordById response)."""
    root = etree.fromstring((FIXTURES / rel).read_bytes(), etree.XMLParser(resolve_entities=False))
    md = root if etree.QName(root).localname.endswith("Metadata") else root[0]
    return etree.tostring(md, encoding="unicode", with_tail=False)


def envelope(records: list[str]) -> bytes:
    n = len(records)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<csw:GetRecordsResponse xmlns:csw="http://www.opengis.net/cat/csw/2.0.2">'
        '<csw:SearchStatus timestamp="2024-01-01T00:00:00Z"/>'
        f'<csw:SearchResults numberOfRecordsMatched="{n}" numberOfRecordsReturned="{n}" elementSet="full" '
        f'nextRecord="0">{"".join(records)}</csw:SearchResults></csw:GetRecordsResponse>'
    ).encode()


def harvest(server: FixtureServer, http: HttpClient, rels: tuple[str, ...]) -> dict[str, DatasetRecord]:
    body = envelope([record_xml(rel) for rel in rels])
    server.route(ENDPOINT, Reply(200, body, content_type="application/xml"))
    conn = CswConnector("csw-test", server.url + ENDPOINT, CswParams(), http)
    listing = read_listing(conn.list_datasets())
    recs = {r.remote_id: r for r in listing.records}
    assert listing.errors == []
    return recs


def test_iso19115_3_record_is_read(server: FixtureServer, http: HttpClient) -> None:
    """Values OWSLib's test_iso3_parsing asserts on the same record (identifier, title, abstract, dates, bbox…)."""
    (rec,) = harvest(server, http, (METAWAL,)).values()
    assert rec.remote_id == "74f81503-8d39-4ec8-a49a-c76e0cd74946"
    assert rec.extras["file_identifier"] == rec.remote_id
    assert rec.extras["metadata_standard"] == "ISO 19115-3"
    assert rec.title == "Protection des captages - Série"
    assert rec.description and rec.description.startswith(
        "Cette collection de données comprend les zones de surveillance"
    )
    assert rec.extras["hierarchy_level"] == "series" and rec.extras["language"] == "fre"
    assert rec.extras["resource_identifier"] == "PROTECT_CAPT"
    # citation dates: creation 2000-01-01, revision 2023-07-31, publication 2022-11-08; metadata date 2023-08-08
    assert rec.issued == datetime(2022, 11, 8, tzinfo=UTC)
    assert rec.extras["revision_date"] == "2023-07-31T00:00:00+00:00"
    assert rec.modified == datetime(2023, 8, 8, 7, 34, 11, 366000, tzinfo=UTC)
    # contacts: the owner (SPW) publishes; the first e-mail by role order is the custodian's
    assert rec.publisher == "Service public de Wallonie (SPW)"
    assert rec.contact_email == "veronique.willame@spw.wallonie.be"
    assert rec.themes == ("geoscientificInformation", "inlandWaters")
    assert "Sol et sous-sol" in rec.keywords
    assert rec.spatial == (
        '{"type":"Polygon","coordinates":[[[2.75,49.45],[6.5,49.45],[6.5,50.85],[2.75,50.85],[2.75,49.45]]]}'
    )
    assert rec.extras["constraints"].startswith("Les conditions générales d'accès s’appliquent.")
    # the five mrd:onLine resources (OWSLib: len(distribution.online) == 5)
    assert len(rec.resources) == 5
    walonmap = next(r for r in rec.resources if r.url.startswith("https://geoportail.wallonie.be/walonmap/"))
    assert walonmap.format == "WWW:LINK"
    assert walonmap.title == "Application WalOnMap - Toute la Wallonie à la carte"
    assert walonmap.description and walonmap.description.startswith(
        "Application cartographique du Geoportail (WalOnMap) qui permet de"
    )
    assert {r.format for r in rec.resources} == {"ESRI:REST", "OGC:WMS", "WWW:LINK"}


def test_swiss_che_profile_is_read_as_iso19139(server: FixtureServer, http: HttpClient) -> None:
    """ckanext-geocat harvests these two records (its test_harvest_create_simple expects 2 datasets)."""
    recs = harvest(server, http, CHE)
    assert sorted(recs) == ["2466-4690-b54d-c1d958f1c3b8-93814e81", "93814e81-2466-4690-b54d-c1d958f1c3b8"]
    night = recs["2466-4690-b54d-c1d958f1c3b8-93814e81"]
    assert night.title == "Lärmbelastung durch Eisenbahnverkehr Nacht"
    assert recs["93814e81-2466-4690-b54d-c1d958f1c3b8"].title == "Lärmbelastung durch Eisenbahnverkehr Tag"
    assert night.description and night.description.startswith("Die Karte zeigt, welcher Lärmbelastung")
    # che:CHE_CI_ResponsibleParty and che:CHE_CI_Address in place of the gmd elements
    assert night.publisher == "Bundesamt für Umwelt" and night.contact_email == "noise@bafu.admin.ch"
    assert night.extras["language"] == "ger"
    assert night.modified == datetime(2016, 9, 2, 13, 0, 20, tzinfo=UTC)
    # che:PT_FreeURL linkages (one URL per language): the first localised URL
    urls = {r.url for r in night.resources}
    assert "http://data.geo.admin.ch/ch.bafu.laerm-bahnlaerm_nacht/data.zip" in urls
    assert "http://map.bafu.admin.ch/" in urls and len(night.resources) == 6
    assert night.spatial and '"Polygon"' in night.spatial


def test_licence_named_in_dutch(server: FixtureServer, http: HttpClient) -> None:
    """OWSLib's DOV record (test_iso_parsing): the licence is the Dutch constraint naming the "Modellicentie"."""
    (rec,) = harvest(server, http, ("owslib-dov/csw_dov_getrecordbyid.xml",)).values()
    assert rec.title == "Grondwatermeetnetten"
    assert rec.license_raw == (
        "Data beschikbaar voor hergebruik volgens de Modellicentie Gratis Hergebruik. Toelichting beschikbaar op "
        "https://www.dov.vlaanderen.be/page/gebruiksvoorwaarden-dov-services"
    )
    assert rec.extras["resource_identifier"] == "A64F073B-9FBE-91DD-36FDE7462BBAFA61"
    assert rec.issued == datetime(2002, 5, 22, tzinfo=UTC)  # publication date


@pytest.mark.parametrize("schema", ["dcat", "geodcatap"])
def test_paged_csw_dcat_abstracts_and_contacts(server: FixtureServer, http: HttpClient, schema: str) -> None:
    """udata's `test_geonetwork` payloads (Geo2France, GeoNetwork 4 CSW with DCAT output, pages 1, 3, 5): six
    datasets, descriptions from `dct:abstract`, contact e-mails from the vCard contact points."""
    pages = {s: (FIXTURES / f"geo2france-dcat/{schema}-page-{s}.xml").read_bytes() for s in (1, 3, 5)}

    def handler(req: Request) -> Reply:
        start = int(etree.fromstring(req.body).get("startPosition", "1"))
        return Reply(200, pages[start], content_type="application/xml")

    server.route(ENDPOINT, handler)
    conn = CswConnector("csw-test", server.url + ENDPOINT, CswParams(output_schema="dcat"), http)
    listing = read_listing(conn.list_datasets())
    recs = listing.records
    assert listing.errors == [] and len(server.requests) == 3
    assert len(recs) == 6  # udata: len(job.items) == 6
    assert all(r.description for r in recs)  # GeoNetwork writes dct:abstract only
    by_identifier = {r.extras["dct_identifier"]: r for r in recs}
    insee = by_identifier["https://www.geo2france.fr/insee/partmenage5ans"]
    assert insee.description and insee.description.startswith(
        "Part des ménages présents depuis 5 ans ou plus dans leur logement actuel"
    )
    assert insee.contact_email == "contact@geo2france.fr"
    assert insee.issued == datetime(2020, 9, 22, tzinfo=UTC)
    several = by_identifier["0ae299e7-10d6-4290-944e-c6c62e2aeabf"]
    # two contact points (udata lists both, Géo2France and Odema): one is kept, in a stable order
    assert (several.extras["contact_name"], several.contact_email) == ("Géo2France", "contact@geo2france.fr")
