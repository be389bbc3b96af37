"""The `dcat` connector on real recorded catalogues (RDF/XML, Turtle, JSON-LD, GeoDCAT-AP, DCAT 3 series, Hydra)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harvester.connectors.dcat.connector import DcatConnector, DcatParams
from harvester.connectors.listing import read_listing
from harvester.errors import SourceError
from harvester.http import HttpClient, HttpPolicy
from harvester.records import DatasetRecord
from tests.fixture_server import FixtureServer, Reply, Request
from tests.portals.dcat_portal import DcatPortal, real_datasets

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ODS_EXPORT = "/api/explore/v2.1/catalog/exports/dcat"


def connector(url: str, http: HttpClient, **params: Any) -> DcatConnector:
    return DcatConnector("dcat-test", url, DcatParams(**params), http)


def by_id(records: list[DatasetRecord]) -> dict[str, DatasetRecord]:
    return {r.remote_id: r for r in records}


def fixture(rel: str, host: str | None = None, server: FixtureServer | None = None) -> bytes:
    data = (FIXTURES / "dcat" / rel).read_bytes()
    if host and server:
        data = data.replace(host.encode(), server.url.encode())
    return data


# --- OpenDataSoft export (RDF/XML) -----------------------------------------------------------------------------


def test_ods_export_keyed_on_dataset_id_with_all_fields(server: FixtureServer, http: HttpClient) -> None:
    server.file(ODS_EXPORT, "dcat/ods-export/rennes-catalog-exports-dcat.rdf")
    conn = connector(server.url + ODS_EXPORT, http)
    listing = read_listing(conn.list_datasets())
    records = listing.records
    assert len(records) == 27 and listing.errors == []
    recs = by_id(records)
    arbres = recs["arbre_theorique0"]
    assert arbres.title == "Arbres théoriques sur Rennes Métropole"
    assert arbres.name == "arbre_theorique0"
    assert arbres.publisher == "Rennes Métropole"
    assert arbres.license_raw == "http://opendatacommons.org/licenses/odbl/"
    assert arbres.issued == arbres.modified == datetime(2021, 4, 23, 7, 43, 9, tzinfo=UTC)
    assert arbres.keywords == ("arbre",) and arbres.themes == ("Environnement",)
    assert arbres.remote_url == "https://data.rennesmetropole.fr/explore/dataset/arbre_theorique0/"
    assert arbres.extras["ods_domain"] == "data.rennesmetropole.fr"
    # the GeoNetwork record linked by dct:relation: the key that joins this dataset with the CSW harvest
    assert arbres.extras["file_identifier"] == "754da96c-ea75-4a16-b0cf-ac1ecc62cc3e"
    assert sorted(r.format or "" for r in arbres.resources) == [
        "csv", "fgb", "json", "jsonl", "jsonld", "n3", "parquet", "rdfxml", "turtle", "xlsx",
    ]  # fmt: skip
    csv = next(r for r in arbres.resources if r.format == "csv")
    assert csv.url == (
        "https://data.rennesmetropole.fr/api/explore/v2.1/catalog/datasets/arbre_theorique0/exports/csv?use_labels=true"
    )
    assert csv.media_type == "text/csv" and csv.title == "arbre_theorique0.csv"
    insee = recs["logement-anciennete"]
    assert insee.publisher == "INSEE" and insee.license_raw == "https://www.insee.fr/fr/information/2381861"
    assert len(insee.resources) == 15 and {"geojson", "shp", "kml"} <= {r.format for r in insee.resources}
    # a dataset with no publisher nor licence is still harvested, with empty fields
    pop = recs["population-legale-ville-vezinlecoquet"]
    assert pop.publisher is None and pop.license_raw is None and pop.themes == ("Citoyenneté",)
    assert all(r.raw and r.raw["@id"] == r.extras["uri"] for r in records)


def test_same_export_elsewhere_is_keyed_on_the_dataset_uri(server: FixtureServer, http: HttpClient) -> None:
    server.file("/catalog.rdf", "dcat/ods-export/rennes-catalog-exports-dcat.rdf")
    records = read_listing(connector(server.url + "/catalog.rdf", http).list_datasets()).records
    assert "https://data.rennesmetropole.fr/explore/dataset/arbre_theorique0/" in by_id(records)
    forced = read_listing(
        connector(server.url + "/catalog.rdf", http, identity="ods").list_datasets()
    ).records
    assert "arbre_theorique0" in by_id(forced)


# --- Hydra paging ----------------------------------------------------------------------------------------------


def _pages(server: FixtureServer, path: str, pages: dict[str, bytes], content_type: str) -> None:
    def handler(req: Request) -> Reply:
        body = pages.get(req.arg("page") or "1")
        return (
            Reply(200, body, content_type=content_type)
            if body
            else Reply(404, "no page", content_type="text/plain")
        )

    server.route(path, handler)


def test_hydra_partial_collection_view_jsonld(server: FixtureServer, http: HttpClient) -> None:
    host = "http://data.test.org"
    _pages(
        server,
        "/catalog.jsonld",
        {
            "1": fixture("hydra-partial-collection/page-1.jsonld", host, server),
            "2": fixture("hydra-partial-collection/page-2.jsonld", host, server),
        },
        "application/ld+json",
    )
    conn = connector(server.url + "/catalog.jsonld", http)
    records = read_listing(conn.list_datasets()).records
    assert [r.remote_id for r in records] == [f"{server.url}/datasets/{i}" for i in (1, 2, 3, 4)]
    assert [r.query.get("page") for r in server.requests] == [None, ["2"]]
    first = records[0]
    assert first.title == "Dataset 1" and first.publisher == "An Organization"
    assert first.contact_email == "hello@its.me"
    assert first.keywords == ("Tag 1", "Tag 2", "Tag 3", "Tag 4") and first.themes == ("Theme 1", "Theme 2")
    assert first.extras["dct_identifier"] == "1" and first.extras["version"] == "1.0"
    assert first.modified == datetime(2016, 12, 14, 19, 1, 24, 184120, tzinfo=UTC)
    (res,) = first.resources
    assert res.url == f"{server.url}/datasets/1/resources/1/file.json" and res.format == "JSON"
    assert res.title == "Resource 1-1"


def test_legacy_hydra_paged_collection(server: FixtureServer, http: HttpClient) -> None:
    host = "http://data.test.org"
    _pages(
        server,
        "/catalog.jsonld",
        {
            "1": fixture("hydra-paged-collection/page-1.jsonld", host, server),
            "2": fixture("hydra-partial-collection/page-2.jsonld", host, server),
        },
        "application/ld+json",
    )
    records = read_listing(connector(server.url + "/catalog.jsonld", http).list_datasets()).records
    assert len(records) == 4 and len(server.requests) == 2
    assert server.requests[1].query == {"page": ["2"]}


@pytest.mark.parametrize("vocab", ["partial", "paged"])
def test_rdfxml_catalogue_over_many_pages(server: FixtureServer, http: HttpClient, vocab: str) -> None:
    portal = DcatPortal(server, real_datasets(), per_page=4, vocab=vocab)
    conn = connector(portal.url, http)
    records = read_listing(conn.list_datasets()).records
    assert len(records) == 27 and len(server.requests) == 7 == portal.pages
    assert server.requests[-1].query == {"page": ["7"]}
    # list_ids after a full listing costs no request
    assert conn.list_ids().ids == {r.remote_id for r in records}
    assert len(server.requests) == 7


def test_pagination_loop_keeps_what_was_read(server: FixtureServer, http: HttpClient) -> None:
    portal = DcatPortal(server, real_datasets(), per_page=10)
    page2 = portal.page(2).replace(portal.page_url(3).encode(), portal.page_url(1).encode())
    portal._cache[2] = page2  # page 2 points back at page 1
    conn = connector(portal.url, http)
    listing = read_listing(conn.list_datasets())
    records = listing.records
    assert len(records) == 20  # pages 1 and 2 are kept, the listing is marked incomplete
    entry = listing.end.as_error()
    assert entry["message"].startswith("pagination loop") and entry["url"] == portal.page_url(1)
    # first page, page 2, page 1 again (a new URL) which brings no new dataset: stop
    assert [r.query.get("page") for r in server.requests] == [None, ["2"], ["1"]]


def test_server_ignoring_the_page_parameter_is_a_loop(server: FixtureServer, http: HttpClient) -> None:
    """ckanext-dcat's Turtle page 1 served for every ?page=N: the identical second page stops the listing."""
    ttl = fixture("ckanext-dcat-turtle/catalog.ttl").replace(
        b"http://demo.ckan.org/catalog.ttl", f"{server.url}/catalog.ttl".encode()
    )
    server.route("/catalog.ttl", ttl, content_type="text/turtle")
    conn = connector(server.url + "/catalog.ttl", http)
    listing = read_listing(conn.list_datasets())
    records = listing.records
    assert records and len(server.requests) == 2  # page 1 kept
    assert "two consecutive pages are identical" in str(listing.end.reason)


# --- Serialisations and profiles -------------------------------------------------------------------------------


def test_ckanext_dcat_turtle(server: FixtureServer, http: HttpClient) -> None:
    hydra = (
        rb"<http://demo\.ckan\.org/catalog\.ttl\?page=1> a hydra:PagedCollection ;.*?hydra:totalItems \d+ \."
    )
    ttl, n = re.subn(hydra, b"", fixture("ckanext-dcat-turtle/catalog.ttl"), flags=re.DOTALL)
    assert n == 1  # the recorded page 1 without its next link: a one-page catalogue
    server.route("/catalog.ttl", ttl, content_type="text/turtle")
    recs = by_id(read_listing(connector(server.url + "/catalog.ttl", http).list_datasets()).records)
    assert len(recs) == 100
    d = recs["http://demo.ckan.org/dataset/0111a5d3-6a11-43e8-8b78-83f503ae123e"]
    assert d.title == "DyxDataSet01" and d.publisher == "dongyuxinOrganization"
    assert d.contact_email == "dgg@example.com" and d.keywords == ("test",)
    assert d.modified == datetime(2016, 12, 8, 14, 57, 52, 955169, tzinfo=UTC)
    assert d.extras["dct_identifier"] == "0111a5d3-6a11-43e8-8b78-83f503ae123e"
    assert d.resources[0].format == ".xlsx" and d.resources[0].url.endswith("/download/.xlsx")


def test_udata_catalogue_skips_the_data_service(server: FixtureServer, http: HttpClient) -> None:
    server.file("/catalog.rdf", "dcat/udata-vanves/catalog.rdf")
    recs = by_id(read_listing(connector(server.url + "/catalog.rdf", http).list_datasets()).records)
    assert sorted(recs) == [
        "https://vanves-seineouest.opendatasoft.com/explore/dataset/bureau-de-vote-vanves/",
        "https://vanves-seineouest.opendatasoft.com/explore/dataset/vfe_public_219200755_20240506/",
    ]
    bv = recs["https://vanves-seineouest.opendatasoft.com/explore/dataset/bureau-de-vote-vanves/"]
    assert bv.title == "Bureaux de vote - Vanves" and bv.publisher == "Vanves"
    assert bv.license_raw == "License Not Specified"
    assert bv.extras["adms_identifier"] == "https://www.data.gouv.fr/datasets/61892c9d076a4d62434a1318/"
    assert sorted((r.format, r.remote_id) for r in bv.resources) == [
        ("csv", "5dd4e0b2-4d96-4f36-b73e-b78ec993703c"),
        ("json", "0f80d285-72f8-49f8-a691-1dad6bd2f6db"),
        ("json", "d78d1245-6e8e-44d8-88cd-87b1dd66034f"),
        ("zip", "b18fb2bd-6c8b-47a8-84fb-cdc8e29f4f1a"),
    ]
    # downloadURL (the ODS export) wins over accessURL (data.gouv.fr's redirect)
    assert all("vanves-seineouest.opendatasoft.com" in r.url for r in bv.resources)


def test_geodcatap_records(server: FixtureServer, http: HttpClient) -> None:
    server.file("/r1.rdf", "dcat/geodcatap-datara/record-1.rdf")
    server.file("/r2.rdf", "dcat/geodcatap-datara/record-2.rdf")
    (r1,) = read_listing(connector(server.url + "/r1.rdf", http).list_datasets()).records
    (r2,) = read_listing(connector(server.url + "/r2.rdf", http).list_datasets()).records
    assert (
        r1.remote_id == "https://catalogue.open-datara.fr/geonetwork/srv/5a26b0f6-0ccf-46ad-ac58-734054b91977"
    )
    assert r1.title == "Campings issus de la BDTopo de Auvergne Rhône-Alpes"
    assert r1.extras["file_identifier"] == "5a26b0f6-0ccf-46ad-ac58-734054b91977"
    assert r1.license_raw == "Ayant droit IGN Bénéficiaires du RGE"  # label of the distribution's licence
    assert r1.modified == datetime(2022, 3, 22, 8, 51, 36, tzinfo=UTC)  # from the catalogue record
    assert r1.spatial and r1.spatial.startswith("<gml:Envelope")
    assert [r.url for r in r1.resources] == [
        "https://telechargement.open-datara.fr/download/5a26b0f6-0ccf-46ad-ac58-734054b91977"
    ]
    assert r2.publisher and r2.publisher.startswith(
        "Direction Régionale de l’Environnement"
    )  # contact point org
    assert r2.contact_email == "sig.dreal-ara@developpement-durable.gouv.fr"
    assert r2.themes == ("AUVERGNE-RHONE-ALPES", "Habitats et biotopes")


def test_dcat3_dataset_series(server: FixtureServer, http: HttpClient) -> None:
    server.file("/series.rdf", "dcat/dataset-series/series.rdf")
    (s,) = read_listing(connector(server.url + "/series.rdf", http).list_datasets()).records
    assert s.extras["dcat_type"] == "DatasetSeries"
    assert s.remote_id.endswith("/records/fc663284-e599-427e-9da6-9fe9519170f3#resource")
    assert s.extras["file_identifier"] == "fc663284-e599-427e-9da6-9fe9519170f3"
    assert s.publisher == "Ifremer" and s.contact_email == "remy.cordier@ifremer.fr"
    assert s.frequency == "http://publications.europa.eu/resource/authority/frequency/AS_NEEDED"
    assert s.modified == datetime(2025, 5, 16, 9, 41, 56, 279358, tzinfo=UTC)
    assert s.issued == datetime(2014, 1, 30, tzinfo=UTC)
    assert s.spatial and '"Polygon"' in s.spatial
    assert sorted(r.url for r in s.resources) == [
        "http://envlit.ifremer.fr/var/envlit/storage/documents/atlas_DCE/scripts/site/carte.php?map=AP",
        "https://sextant.ifremer.fr/geonetwork/srv/api/records/fc663284-e599-427e-9da6-9fe9519170f3/attachments/Capture1.JPG",
        "https://sextant.ifremer.fr/services/wfs/dce_ap",
        "https://sextant.ifremer.fr/services/wms/dce_ap",
    ]
    # foaf:page documentation pages are resources too, their kind first in the description
    atlas = next(r for r in s.resources if r.url.startswith("http://envlit"))
    assert atlas.title == "atlas DCE Artois-Picardie"
    assert atlas.description == (
        "Documentation page (foaf:page): atlas interactif pour visualiser la qualité des eaux littorales du "
        "bassin Artois-Picardie"
    )


def test_semic_jsonld_with_inline_context(server: FixtureServer, http: HttpClient) -> None:
    server.file("/example.jsonld", "dcat/semiceu-jsonld/example.jsonld")
    recs = by_id(read_listing(connector(server.url + "/example.jsonld", http).list_datasets()).records)
    ds1 = recs["http://nobelprize.org/datasets/dcat#ds1"]
    assert ds1.title == "Linked Nobel prizes" and ds1.publisher == "Nobel Media AB"
    assert ds1.license_raw == "http://creativecommons.org/licenses/by-nc/3.0/"
    assert (
        ds1.frequency == "http://purl.org/cld/freq/daily" and ds1.spatial == "http://sws.geonames.org/2673730"
    )
    assert ds1.issued == datetime(2014, 1, 15, tzinfo=UTC) and ds1.modified == datetime(
        2014, 8, 27, tzinfo=UTC
    )
    assert [(r.url, r.format) for r in ds1.resources] == [("http://data.nobelprize.org/", "rdf+xml")]


def test_geonetwork_malformed_uri_falls_back_to_the_record_uuid(
    server: FixtureServer, http: HttpClient
) -> None:
    server.file("/record.rdf", "dcat/geonetwork-oreme/record.rdf")
    (rec,) = read_listing(connector(server.url + "/record.rdf", http).list_datasets()).records
    assert rec.remote_id == "0c456d2d-9548-4a2a-94ef-231d9d890ce2"
    assert "uri" not in rec.extras and rec.remote_url is None
    assert rec.modified == datetime(2021, 5, 5, tzinfo=UTC)


# --- One bad dataset, since, hostile inputs --------------------------------------------------------------------


def test_malformed_datasets_are_record_errors_and_the_rest_is_harvested(
    server: FixtureServer, http: HttpClient
) -> None:
    datasets = real_datasets()
    datasets[3] = re.sub(r"<dcterms:title[^>]*>[^<]*</dcterms:title>", "", datasets[3], count=1)
    blank = (
        '<dcat:Dataset xmlns:dcat="http://www.w3.org/ns/dcat#" xmlns:dcterms="http://purl.org/dc/terms/">'
        "<dcterms:title>Sans identifiant</dcterms:title></dcat:Dataset>"
    )
    portal = DcatPortal(server, [*datasets, blank], per_page=10)
    conn = connector(portal.url, http)
    listing = read_listing(conn.list_datasets())
    records = listing.records
    assert len(records) == 26
    errors = sorted(listing.errors, key=lambda e: e["message"])
    assert [e["message"] for e in errors] == [
        "blank-node dataset without dct:identifier: no stable identity",
        "dataset has no dct:title",
    ]
    assert errors[1]["remote_id"] == errors[1]["url"] and errors[1]["url"].startswith(
        "https://data.rennesmetropole.fr/"
    )
    assert listing.complete


def test_since_filters_client_side_or_asks_the_server(server: FixtureServer, http: HttpClient) -> None:
    portal = DcatPortal(server, real_datasets(), per_page=100)
    since = datetime(2022, 1, 1, tzinfo=UTC)
    recent = read_listing(connector(portal.url, http).list_datasets(since=since)).records
    assert recent and all(r.modified and r.modified >= since for r in recent) and len(recent) < 27
    conn = connector(portal.url, http, modified_since_param="modified_since")
    read_listing(conn.list_datasets(since=since))
    assert server.requests[-1].query["modified_since"] == ["2022-01-01T00:00:00Z"]
    # the server filtered the listing: the id list needs one unfiltered read
    assert len(conn.list_ids().ids) == 27 and "modified_since" not in server.requests[-1].query


HOSTILE: dict[str, Callable[[FixtureServer], Reply]] = {
    "declares entities": lambda s: Reply(
        200,
        '<?xml version="1.0"?><!DOCTYPE rdf:RDF [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="http://x">'
        "&x;</rdf:Description></rdf:RDF>",
        content_type="application/rdf+xml",
    ),
    "HTML page": lambda s: Reply(
        200, "<!DOCTYPE html><html><body>Connexion</body></html>", content_type="text/html"
    ),
    "cannot parse xml RDF": lambda s: Reply(
        200, fixture("ods-export/rennes-catalog-exports-dcat.rdf")[:20000], content_type="application/rdf+xml"
    ),
    "cannot parse turtle RDF": lambda s: Reply(
        200, "@prefix dcat: <http://www.w3.org/ns/dcat#> .\n<a> dcat:x", content_type="text/turtle"
    ),
    "too large": lambda s: Reply(
        200, fixture("ods-export/rennes-catalog-exports-dcat.rdf"), content_type="application/rdf+xml"
    ),
}


@pytest.mark.parametrize("expected", sorted(HOSTILE))
def test_hostile_or_broken_documents_are_source_errors_naming_the_url(
    server: FixtureServer, tmp_path: Path, expected: str
) -> None:
    server.route("/catalog", HOSTILE[expected](server))
    http = HttpClient(HttpPolicy(max_bytes=200_000, max_retries=0))
    with pytest.raises(SourceError, match=expected) as err:
        read_listing(connector(server.url + "/catalog", http).list_datasets())
    assert err.value.url == server.url + "/catalog" and err.value.source_id == "dcat-test"
