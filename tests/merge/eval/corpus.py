"""Origin records of the evaluation set: the real records of the project's fixtures, mapped by the real connectors.

Each fixture file is one portal (one source). A record's *entity* (which real dataset it is) is its dataset UUID
when it has one (in its id or URI: demo.ckan.org's CKAN API and its DCAT export describe the same datasets),
else its dataset URI, else its portal and id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harvester.connectors.csw_iso import map_iso
from harvester.connectors.dcat_parse import parse_rdf, records_from_graph
from lxml import etree

from harvester.connectors import get_connector_class
from harvester.merge.keys import norm_url
from harvester.records import DatasetRecord
from tests.portals.udata_portal import udata_records

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


@dataclass(frozen=True)
class Source:
    id: str
    type: str
    url: str


@dataclass(frozen=True)
class Origin:
    source: Source
    record: DatasetRecord
    file: str  # fixture path, relative to tests/fixtures

    @property
    def entity(self) -> str:
        uri = self.record.extras.get("uri") or ""
        for text in (self.record.remote_id, uri):
            if m := _UUID.search(text):
                return f"uuid:{m.group(0).lower()}"
        if uri:
            return f"uri:{norm_url(uri)}"
        return f"rec:{self.source.id}:{self.record.remote_id}"


# (source id, catalogue URL, fixture files). Left out: the hydra-* and udata-catalog files (the same generic
# "Dataset 1..3" test catalogue three times) and semiceu-jsonld (a copy of the Swedish Nobel example).
DCAT_FILES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("rennes", "https://data.rennesmetropole.fr/api/explore/v2.1/catalog/exports/dcat", ("ods-export/rennes-catalog-exports-dcat.rdf",)),
    ("ckan-demo-dcat", "http://demo.ckan.org/catalog.ttl", ("ckanext-dcat-turtle/catalog.ttl",)),
    ("datos-gob-es", "https://datos.gob.es/catalog.ttl", ("ckanext-dcat-examples/dataset_gob_es.ttl",)),
    ("govdata-de", "https://www.govdata.de/catalog.rdf", ("ckanext-dcat-examples/dataset_gov_de.rdf",)),
    ("oppnadata-se", "https://oppnadata.se/catalog.rdf", ("ckanext-dcat-examples/dataset_sweden.rdf",)),
    ("sextant", "https://sextant.ifremer.fr/catalog.rdf", ("dataset-series/series.rdf",)),
    ("dcat-us", "https://data.example.gov/data.json", ("dcat-us-pod/catalog-sample.json",)),
    ("datara", "https://www.datara.gouv.fr/catalog.rdf", ("geodcatap-datara/record-1.rdf", "geodcatap-datara/record-2.rdf")),
    ("oreme", "https://sig.oreme.org/catalog.rdf", ("geonetwork-oreme/catalog.rdf", "geonetwork-oreme/record.rdf")),
    ("semiceu", "https://semiceu.example.eu/catalog.jsonld", ("semiceu-dcat-ap3/example-bee-population-dataset-series-combined.jsonld",)),
    ("vanves", "https://www.data.gouv.fr/catalog/vanves.rdf", ("udata-vanves/catalog.rdf",)),
)  # fmt: skip
CSW_FILES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("geoide", "https://ogc.geo-ide.developpement-durable.gouv.fr/csw/all-harvestable", ("csw/geoide-iso19139/page-1.xml", "csw/geoide-iso19139/page-2.xml", "csw/geoide-iso19139/page-3-last.xml")),
    ("inspire-geoportal", "https://inspire-geoportal.ec.europa.eu/csw", ("csw/inspire-geoportal/page.xml",)),
)  # fmt: skip


def _ignore(*_args: Any) -> None:
    return None


def dcat_origins() -> Iterator[Origin]:
    for sid, url, files in DCAT_FILES:
        seen: set[str] = set()
        for f in files:
            path = FIXTURES / "dcat" / f
            graph = parse_rdf(path.read_bytes(), None, url.rsplit(".", 1)[0] + path.suffix, source_id=sid)
            for rec in records_from_graph(graph, sid, _ignore):
                if rec.remote_id not in seen:
                    seen.add(rec.remote_id)
                    yield Origin(Source(sid, "dcat", url), rec, f"dcat/{f}")


def csw_origins() -> Iterator[Origin]:
    ns = {"gmd": "http://www.isotc211.org/2005/gmd"}
    for sid, url, files in CSW_FILES:
        seen: set[str] = set()
        for f in files:
            root = etree.fromstring((FIXTURES / f).read_bytes(), etree.XMLParser(resolve_entities=False))
            for md in root.iterfind(".//gmd:MD_Metadata", ns):
                rec = map_iso(md, sid, None)
                if rec.remote_id not in seen:
                    seen.add(rec.remote_id)
                    yield Origin(Source(sid, "csw", url), rec, f)


def _connector(source: Source) -> Any:
    cls = get_connector_class(source.type)
    return cls(source.id, source.url, cls.Params(), None)  # type: ignore[arg-type]  # mapping only: no HTTP


def api_origins() -> Iterator[Origin]:
    udata = Source("datagouv", "udata", "https://www.data.gouv.fr")
    conn = _connector(udata)
    for item in udata_records():
        yield Origin(udata, conn.map_dataset(item), "udata/datagouv/*.json")
    ckan = Source("ckan-demo", "ckan", "http://demo.ckan.org")
    conn = _connector(ckan)
    search = json.loads((FIXTURES / "ckan/basic/demockan_package_search_rows3.json").read_text())
    pkgs = search["result"]["results"]
    pkgs.append(json.loads((FIXTURES / "ckan/basic/demockan_package_show_2015_dataset1.json").read_text()))
    for pkg in pkgs:
        pkg = pkg.get("result", pkg)
        yield Origin(ckan, conn.map_dataset(pkg), "ckan/basic/demockan_*.json")
    ods = Source("ods-docs", "opendatasoft", "https://documentation-resources.opendatasoft.com")
    conn = _connector(ods)
    listing = json.loads(
        (FIXTURES / "opendatasoft/catalog/ods_v2.1_catalog_datasets_example.json").read_text()
    )
    for item in listing["results"]:
        yield Origin(
            ods, conn.map_dataset(item), "opendatasoft/catalog/ods_v2.1_catalog_datasets_example.json"
        )


def origins() -> list[Origin]:
    """Every real record, each once per portal (in a stable order: rdflib's graph order is not)."""
    out = [*dcat_origins(), *csw_origins(), *api_origins()]
    return sorted(out, key=lambda o: (o.source.id, o.record.remote_id))
