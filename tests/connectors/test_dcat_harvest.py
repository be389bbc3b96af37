"""The `dcat` connector through the harvest stage, and the two RDF parse paths (pyoxigraph, rdflib)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rdflib import Graph

from harvester.catalog import read_catalog
from harvester.config import parse_sources
from harvester.connectors.dcat.parse import parse_rdf, records_from_graph
from harvester.connectors.dcat.rdf_fast import parse_fast
from harvester.harvest import SourceResult, harvest_source, new_run_id
from harvester.http import HttpClient
from harvester.state import StateStore
from tests.connectors.test_dcat import ODS_EXPORT, fixture
from tests.fixture_server import FixtureServer, Reply

# --- Through the harvest stage into the catalogue --------------------------------------------------------------


def _harvest(
    url: str, tmp_path: Path, state: StateStore, http: HttpClient, full: bool = False
) -> SourceResult:
    cfg = parse_sources({"sources": [{"id": "rennes", "type": "dcat", "url": url}]})
    return harvest_source(
        cfg.sources[0], data_dir=tmp_path / "data", state=state, http=http, run_id=new_run_id(), full=full
    )


def test_harvest_into_the_catalogue_incrementally_and_keep_it_on_hostile_input(
    server: FixtureServer, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    export = fixture("ods-export/rennes-catalog-exports-dcat.rdf")
    body = {"doc": export}
    server.route(ODS_EXPORT, lambda _r: Reply(200, body["doc"], content_type="application/rdf+xml"))
    url = server.url + ODS_EXPORT
    first = _harvest(url, tmp_path, state, http)
    assert (first.status, first.mode, first.listed, first.created) == ("ok", "full", 27, 27)
    cat = read_catalog(tmp_path / "data", "rennes")
    assert cat is not None
    rows = {r["remote_id"]: r for r in cat[0].to_pylist()}
    arbres = rows["arbre_theorique0"]
    assert arbres["dataset_key"] == "rennes:arbre_theorique0"
    assert (
        arbres["title"] == "Arbres théoriques sur Rennes Métropole"
        and arbres["publisher"] == "Rennes Métropole"
    )
    assert (arbres["license_raw"], arbres["license_id"]) == (
        "http://opendatacommons.org/licenses/odbl/",
        "odc-odbl",
    )
    assert arbres["modified"] == datetime(2021, 4, 23, 7, 43, 9, tzinfo=UTC)
    assert dict(arbres["extras"])["file_identifier"] == "754da96c-ea75-4a16-b0cf-ac1ecc62cc3e"
    res = [r for r in cat[1].to_pylist() if r["dataset_key"] == "rennes:arbre_theorique0"]
    assert len(res) == 10 and {"CSV", "PARQUET", "XLSX"} <= {r["format"] for r in res}

    # an unchanged catalogue: incremental run (cursor), ids from the same read, nothing withdrawn
    second = _harvest(url, tmp_path, state, http)
    assert (second.status, second.mode, second.withdrawn, second.created) == ("ok", "incremental", 0, 0)
    assert second.requests == 1

    # a dataset removed upstream is withdrawn on the next incremental run
    body["doc"] = re.sub(
        rb"<dcat:dataset><dcat:Dataset rdf:about=\"https://data.rennesmetropole.fr/explore/dataset/pvci/\">.*?</dcat:Dataset>\s*</dcat:dataset>",
        b"",
        export,
        flags=re.DOTALL,
    )
    assert body["doc"] != export
    third = _harvest(url, tmp_path, state, http)
    assert (third.mode, third.withdrawn) == ("incremental", 1)
    files = {p: p.read_bytes() for p in (tmp_path / "data/catalog/rennes").glob("*.parquet")}
    cursor = state.read_cursor("rennes")

    # a hostile document fails the source and leaves the snapshot and cursor as they were
    body["doc"] = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    failed = _harvest(url, tmp_path, state, http, full=True)
    assert (
        failed.status == "failed"
        and "declares entities" in (failed.error or "")
        and url in (failed.error or "")
    )
    assert {p: p.read_bytes() for p in files} == files
    assert state.read_cursor("rennes") == cursor


@pytest.mark.parametrize(
    ("rel", "fmt"),
    [
        ("ods-export/rennes-catalog-exports-dcat.rdf", "xml"),
        ("ckanext-dcat-turtle/catalog.ttl", "turtle"),
        ("dataset-series/series.rdf", "xml"),
    ],
)
def test_fast_parser_and_rdflib_give_the_same_records(rel: str, fmt: str) -> None:
    data, base = fixture(rel), "https://example.fr/catalog"
    fast = parse_fast(data, fmt, base)
    assert fast is not None
    slow = Graph().parse(data=data, format=fmt, publicID=base)
    assert len(fast) == len(slow)
    assert list(records_from_graph(fast, "s", print)) == list(records_from_graph(slow, "s", print))


def test_documents_pyoxigraph_rejects_fall_back_to_rdflib() -> None:
    data = fixture("geonetwork-oreme/record.rdf")  # an IRI with a space, text inside a property element
    assert parse_fast(data, "xml", "https://example.fr/r") is None
    assert len(parse_rdf(data, "application/rdf+xml", "https://example.fr/r")) > 0
