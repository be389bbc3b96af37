"""The DCAT mapping reads what the peers (udata, ckanext-dcat) read: abstracts, HTML descriptions, contact point
spellings, licences of the distributions, dct:hasPart / foaf:page documents. Real payloads of their test suites."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from harvester.connectors.dcat.connector import DcatConnector, DcatParams
from harvester.connectors.listing import read_listing
from harvester.errors import SourceError
from harvester.http import HttpClient
from harvester.licenses import normalise_license
from harvester.records import DatasetRecord
from tests.fixture_server import FixtureServer, Reply


def harvest(
    server: FixtureServer, http: HttpClient, path: str, rel: str, **params: Any
) -> dict[str, DatasetRecord]:
    server.file(path, rel)
    conn = DcatConnector("dcat-test", server.url + path, DcatParams(**params), http)
    listing = read_listing(conn.list_datasets())
    records = {r.remote_id: r for r in listing.records}
    assert listing.errors == []
    return records


def test_udata_catalog_abstract_contact_licence_and_attachments(
    server: FixtureServer, http: HttpClient
) -> None:
    """udata's `test_xml_catalog` payload, with the values its suite asserts."""
    recs = harvest(server, http, "/catalog.xml", "dcat/udata-catalog/catalog.xml", identity="identifier")
    assert sorted(recs) == ["1", "2", "3", "4"]
    one = recs["1"]
    # dct:abstract (no dct:description), HTML turned to text with its paragraphs
    assert one.description == "h1 title\n\nh2 title\n\nand bold text"
    assert recs["3"].description == "Dataset 3 description"
    # the vCard contact point: `vcard:hasEmail "mailto: hello@its.me"` (a literal, with a space), vcard:fn
    assert one.contact_email == "hello@its.me" and one.extras["contact_name"] == "Organization contact"
    # no dataset licence: the distribution's one (udata: "dct:license nested in distribution" -> lov1)
    assert one.license_raw == "Licence Ouverte Version 1.0" and normalise_license(one.license_raw) == "lov1"
    # dct:rights as the licence (udata: lov2)
    assert normalise_license(recs["2"].license_raw) == "lov2"
    # four resources, the dct:hasPart foaf:Document among them (udata: type "other", url = the document URI)
    assert len(one.resources) == 4
    by_title = {r.title: r for r in one.resources}
    part = by_title["Resource 1-3"]
    assert part.url == "http://data.test.org/datasets/1/resources/3" and part.format == "JSON"
    assert part.description == "Attached document (dct:hasPart)"
    first = by_title["Resource 1-1"]
    assert first.url == "http://data.test.org/datasets/1/resources/1/file.json"
    assert first.size_bytes == 12323 and first.media_type == "application/json"
    assert first.description == "A JSON resource"
    assert by_title["Resource 1-4"].url == (
        "http://data.test.org/datasets/1/resources/4/services?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0"
    )


def test_adms_contact_point_and_distribution_licence(server: FixtureServer, http: HttpClient) -> None:
    """Swedish DCAT-AP (ckanext-dcat example): `adms:contactPoint`, licence on the distribution only."""
    (nobel,) = harvest(server, http, "/se.rdf", "dcat/ckanext-dcat-examples/dataset_sweden.rdf").values()
    assert nobel.title == "Linked Nobel prizes"
    assert nobel.contact_email == "info@nobelmedia.org" and nobel.extras["contact_name"] == "Nobel Media AB"
    assert nobel.license_raw == "http://creativecommons.org/licenses/by-nc/3.0/"
    assert normalise_license(nobel.license_raw) == "cc-by-nc-3.0"


def test_dcat_ap_de_licence_uris_of_the_distributions(server: FixtureServer, http: HttpClient) -> None:
    """DCAT-AP.de (Rostock, ckanext-dcat example): `http://dcat-ap.de/def/licenses/cc-zero` on every distribution."""
    (hro,) = harvest(server, http, "/de.rdf", "dcat/ckanext-dcat-examples/dataset_gov_de.rdf").values()
    assert hro.contact_email == "geodienste@rostock.de"
    assert hro.license_raw == "http://dcat-ap.de/def/licenses/cc-zero"
    assert normalise_license(hro.license_raw) == "cc0-1.0"
    assert len(hro.resources) == 9


def test_unknown_dataset_licence_link_is_kept_when_nothing_better(
    server: FixtureServer, http: HttpClient
) -> None:
    """datos.gob.es (ckanext-dcat example): the dataset licence is the portal's legal notice, no other licence."""
    (madrid,) = harvest(server, http, "/es.ttl", "dcat/ckanext-dcat-examples/dataset_gob_es.ttl").values()
    assert madrid.license_raw == "https://datos.madrid.es/egob/catalogo/aviso-legal"
    assert normalise_license(madrid.license_raw) is None
    assert madrid.publisher == "Ayuntamiento de Madrid"


def test_unknown_dataset_licence_link_gives_way_to_the_distributions() -> None:
    from rdflib import Graph

    from harvester.connectors.dcat.parse import records_from_graph

    ttl = b"""@prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .
    <http://x/d> a dcat:Dataset ; dct:title "D" ; dct:license <https://portal.example/legal-notice> ;
      dcat:distribution <http://x/d/1> .
    <http://x/d/1> dcat:accessURL <http://x/f.csv> ;
      dct:license <http://publications.europa.eu/resource/authority/licence/CC_BY_4_0> ."""
    graph = Graph().parse(data=ttl, format="turtle")
    (rec,) = records_from_graph(graph, "s", lambda *a: None)
    assert rec.license_raw == "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0"
    assert normalise_license(rec.license_raw) == "cc-by-4.0"


# --- JSON-LD with remote contexts, DCAT-US data.json -------------------------------------------------------------


def test_dcat_us_data_json_with_its_remote_context(server: FixtureServer, http: HttpClient) -> None:
    """udata's `test_harvest_literal_spatial` payload (Évian ArcGIS Hub `data.json`, `@context` = the DCAT-US 1.1
    URL): read through the shipped context, never fetched; udata asserts 8 datasets keyed on the identifier."""
    recs = harvest(server, http, "/data.json", "arcgis/hub/evian_arcgis_hub_data_json.json")
    assert len(recs) == 8 and all(r.startswith("https://www.arcgis.com/home/item.html?id=") for r in recs)
    assert all(not req.path.endswith(".jsonld") for req in server.requests)  # no context request, ever
    bins = recs["https://www.arcgis.com/home/item.html?id=cb6aa94ccb21492396e799d1ad282c02&sublayer=8"]
    assert bins.title == "poubelles" and bins.publisher == "Ville d'Evian-les-Bains"
    assert bins.description == "Emplacement et description des poubelles à Evian-les-Bains"
    assert bins.keywords == ("environnement",)
    assert bins.spatial == "6.5658,46.3835,6.6141,46.4047"
    assert normalise_license(bins.license_raw) == "lov2"  # the HTML blob citing Licence Etalab
    assert {r.format for r in bins.resources} >= {"CSV", "GeoJSON", "KML"}
    sublayer5 = recs["https://www.arcgis.com/home/item.html?id=f6565516d1354383b25793e630cf3f2b&sublayer=5"]
    assert sublayer5.spatial == "6.5735,46.3912,6.6069,46.4028"  # udata: the same box, as a MultiPolygon


def test_dcat_us_data_json_without_context(server: FixtureServer, http: HttpClient) -> None:
    """The DCAT-US 1.1 sample catalogue of project-open-data (no `@context`): it used to give "ok, 0 datasets"."""
    recs = harvest(server, http, "/data.json", "dcat/dcat-us-pod/catalog-sample.json")
    assert sorted(recs) == [
        "http://dx.doi.org/10.7927/H45X26V8",
        "http://dx.doi.org/10.7927/H49P2ZKM",
        "http://dx.doi.org/10.7927/H4K64G12",
    ]
    widgets = recs["http://dx.doi.org/10.7927/H45X26V8"]
    assert widgets.title == "U.S. Widget Manufacturing Statistics"
    assert widgets.publisher == "Widget Services"
    assert widgets.contact_email == "jane.doe@agency.gov" and widgets.extras["contact_name"] == "Jane Doe"
    assert widgets.keywords == ("factory", "manufacturing", "widget")
    assert sorted(r.url for r in widgets.resources) == [
        "http://www.agency.gov/feeds/widgets-all.json",
        "https://data.agency.gov/api/widgets-statistics/",
        "https://data.agency.gov/datasets/widgets-statistics/widgets-all.zip",
        "https://data.agency.gov/datasets/widgets-statistics/widgets.csv",
    ]
    assert {r.media_type for r in widgets.resources} == {
        "text/csv",
        "application/zip",
        "application/json",
        None,
    }


def test_dcat_ap3_example_with_remote_type_scoped_context(server: FixtureServer, http: HttpClient) -> None:
    """A SEMIC DCAT-AP 3 example: remote `@context` with JSON-LD 1.1 type-scoped terms (`inSeries`)."""
    recs = harvest(
        server,
        http,
        "/series.jsonld",
        "dcat/semiceu-dcat-ap3/example-bee-population-dataset-series-combined.jsonld",
    )
    series = "https://data.gov.gr/id/datasetseries/BeePopulation"
    assert recs[series].extras["dcat_type"] == "DatasetSeries" and recs[series].title == "Bee population"
    y2022 = recs["https://data.gov.gr/id/dataset/BeePopulation2022"]
    assert y2022.title == "Bee population 2022 in the region of Thessaloniki"
    assert y2022.extras["in_series"] == series  # only read when the type-scoped context is applied
    assert y2022.issued == datetime(2022, 3, 1, tzinfo=UTC)
    assert y2022.modified == datetime(2022, 3, 20, tzinfo=UTC)
    # the dataset served only by the data service is not a catalogue dataset (udata's rule)
    assert "https://data.gov.gr/id/dataset/BeePopulationLive" not in recs


def test_unknown_remote_context_is_refused_naming_it(server: FixtureServer, http: HttpClient) -> None:
    server.route("/ctx.jsonld", '{"@context": {"title": "http://purl.org/dc/terms/title"}}')
    doc = f'{{"@context": "{server.url}/ctx.jsonld", "@id": "http://x/d", "title": "T"}}'
    server.route("/cat.jsonld", Reply(200, doc, content_type="application/ld+json"))
    conn = DcatConnector("dcat-test", server.url + "/cat.jsonld", DcatParams(), http)
    with pytest.raises(SourceError) as err:
        read_listing(conn.list_datasets())
    msg = str(err.value)
    assert f"remote @context '{server.url}/ctx.jsonld'" in msg and "never fetched" in msg
    assert "https://project-open-data.cio.gov/v1.1/schema/catalog.jsonld" in msg  # what is read offline
    assert [r.path for r in server.requests] == ["/cat.jsonld"]


def test_schema_org_context_is_read_offline() -> None:
    from harvester.connectors.dcat.jsonld_contexts import parse_jsonld
    from harvester.connectors.dcat.rdf_index import Lit
    from harvester.connectors.dcat.rdf_terms import RDF

    doc = b'{"@context": "https://schema.org/", "@id": "http://x/d", "@type": "Dataset", "name": "D"}'
    graph = parse_jsonld(doc, "http://x/page")
    assert graph.has("http://x/d", RDF.type, "http://schema.org/Dataset")
    assert graph.value("http://x/d", "http://schema.org/name") == Lit("D")
