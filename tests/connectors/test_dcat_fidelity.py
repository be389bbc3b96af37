"""The DCAT mapping reads what the peers (udata, ckanext-dcat) read: abstracts, HTML descriptions, contact point
spellings, licences of the distributions, dct:hasPart / foaf:page documents. Real payloads of their test suites."""

from __future__ import annotations

from typing import Any

from harvester.connectors.dcat import DcatConnector, DcatParams
from harvester.http import HttpClient
from harvester.licenses import normalise_license
from harvester.records import DatasetRecord
from tests.fixture_server import FixtureServer


def harvest(
    server: FixtureServer, http: HttpClient, path: str, rel: str, **params: Any
) -> dict[str, DatasetRecord]:
    server.file(path, rel)
    conn = DcatConnector("dcat-test", server.url + path, DcatParams(**params), http)
    records = {r.remote_id: r for r in conn.list_datasets()}
    assert conn.record_errors == []
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

    from harvester.connectors.dcat_parse import records_from_graph

    ttl = b"""@prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .
    <http://x/d> a dcat:Dataset ; dct:title "D" ; dct:license <https://portal.example/legal-notice> ;
      dcat:distribution <http://x/d/1> .
    <http://x/d/1> dcat:accessURL <http://x/f.csv> ;
      dct:license <http://publications.europa.eu/resource/authority/licence/CC_BY_4_0> ."""
    graph = Graph().parse(data=ttl, format="turtle")
    (rec,) = records_from_graph(graph, "s", lambda *a: None)
    assert rec.license_raw == "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0"
    assert normalise_license(rec.license_raw) == "cc-by-4.0"
