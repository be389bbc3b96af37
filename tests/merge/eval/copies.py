"""Copies of a record as aggregators publish them, built as portal payloads and mapped by the real connectors.

- data.gouv.fr (udata): the `harvest` block (`domain`, `remote_id`, `remote_url`) or the legacy `harvest:*` extras;
- a DataSud-style CKAN: `remote_url` / `guid` extras (ckanext-harvest, DataSud's scheming), or `url` = the origin page;
- a DCAT aggregator: `dct:source` or `adms:identifier`;
- an OpenDataSoft portal federating another: `metas.default.source_domain` / `source_dataset`;
- copies without provenance: the same files (URL variants), or only a similar title of the same publisher.
"""

from __future__ import annotations

import random
import re
import uuid
from typing import Any

from harvester.connectors.dcat_parse import parse_rdf, records_from_graph

from harvester.connectors import get_connector_class
from harvester.merge.keys import host_of
from harvester.records import DatasetRecord
from tests.merge.eval.corpus import Source

DGOUV = Source("dgouv", "udata", "https://www.data.gouv.fr")
DATASUD = Source("datasud", "ckan", "https://www.datasud.fr/fr/indexer/service/ckan")
EUROPA = Source("europa", "dcat", "https://data.europa.eu/api/hub/search/catalog.ttl")
ODSFED = Source("ods-fed", "opendatasoft", "https://public.opendatasoft.com")


def _slug(text: str, rng: random.Random) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "jeu"
    return f"{s}-{rng.randrange(16**4):04x}"


def hex_id(rng: random.Random, n: int = 24) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def map_payload(source: Source, payload: dict[str, Any]) -> DatasetRecord:
    cls = get_connector_class(source.type)
    rec: DatasetRecord = cls(source.id, source.url, cls.Params(), None).map_dataset(payload)  # type: ignore[arg-type]
    return rec


def claim(origin_source: Source, rec: DatasetRecord) -> tuple[str, str, str | None]:
    """(domain, remote id, remote url) an aggregator stores for a record it harvested."""
    ex = rec.extras
    if origin_source.type == "dcat":
        rid = ex.get("dct_identifier") or ex.get("uri") or rec.remote_id
    elif ex.get("ods_dataset_id"):
        rid = ex["ods_dataset_id"]
    else:
        rid = rec.remote_id
    pages = (rec.landing_page, rec.remote_url, ex.get("uri"))
    return host_of(origin_source.url), rid, next((p for p in pages if p and p.startswith("http")), None)


def udata_copy(
    rng: random.Random,
    title: str,
    publisher: str | None,
    urls: list[str],
    harvest: tuple[str, str, str | None] | None,
    legacy: bool = False,
    source: Source = DGOUV,
) -> DatasetRecord:
    slug = _slug(title, rng)
    item: dict[str, Any] = {
        "id": hex_id(rng),
        "slug": slug,
        "title": title,
        "description": "",
        "page": f"https://www.data.gouv.fr/datasets/{slug}/",
        "organization": {"id": hex_id(rng), "name": publisher, "slug": _slug(publisher, rng)}
        if publisher
        else None,
        "resources": [{"id": _uuid(rng), "url": u, "title": u.rsplit("/", 1)[-1]} for u in urls],
        "tags": [],
        "extras": {},
    }
    if harvest and legacy:
        item["extras"] = {"harvest:domain": harvest[0], "harvest:remote_id": harvest[1]}
    elif harvest:
        item["harvest"] = {"domain": harvest[0], "remote_id": harvest[1], "remote_url": harvest[2] or ""}
    return map_payload(source, item)


def ckan_copy(
    rng: random.Random,
    title: str,
    publisher: str | None,
    urls: list[str],
    extras: dict[str, str],
    page: str | None = None,
    source: Source = DATASUD,
) -> DatasetRecord:
    pkg: dict[str, Any] = {
        "id": _uuid(rng),
        "name": _slug(title, rng),
        "title": title,
        "notes": "",
        "url": page or "",
        "organization": {"name": _slug(publisher, rng), "title": publisher} if publisher else None,
        "extras": [{"key": k, "value": v} for k, v in extras.items()],
        "resources": [{"id": _uuid(rng), "url": u, "name": u.rsplit("/", 1)[-1]} for u in urls],
        "tags": [],
    }
    return map_payload(source, pkg)


def _lit(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def dcat_copy(
    rng: random.Random,
    title: str,
    publisher: str | None,
    urls: list[str],
    dct_source: str | None = None,
    identifier: str | None = None,
    source: Source = EUROPA,
) -> DatasetRecord:
    base = source.url.rsplit("/", 1)[0]
    node = f"<{base}/datasets/{_uuid(rng)}>"
    lines = [
        "@prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .",
        "@prefix foaf: <http://xmlns.com/foaf/0.1/> . @prefix adms: <http://www.w3.org/ns/adms#> .",
        "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .",
        f"{node} a dcat:Dataset ; dct:title {_lit(title)}@fr",
    ]
    if publisher:
        lines.append(f"  ; dct:publisher [ a foaf:Agent ; foaf:name {_lit(publisher)} ]")
    if dct_source:
        lines.append(f"  ; dct:source <{dct_source}>")
    if identifier:
        lines.append(f"  ; adms:identifier [ a adms:Identifier ; skos:notation {_lit(identifier)} ]")
    for u in urls:
        lines.append(f"  ; dcat:distribution [ a dcat:Distribution ; dcat:accessURL <{u}> ]")
    lines.append(" .")
    graph = parse_rdf("\n".join(lines).encode(), "text/turtle", source.url, source_id=source.id)
    recs = list(records_from_graph(graph, source.id, lambda *a: None, ods=False))
    assert len(recs) == 1, title
    return recs[0]


def ods_federated_copy(
    rng: random.Random, title: str, publisher: str | None, domain: str, dataset_id: str
) -> DatasetRecord:
    slug = _slug(title, rng)
    item = {
        "dataset_id": slug,
        "dataset_uid": f"da_{hex_id(rng, 6)}",
        "metas": {
            "default": {
                "title": title,
                "publisher": publisher,
                "source_domain": domain,
                "source_dataset": dataset_id,
                "federated": True,
            }
        },
        "features": [],
        "attachments": [],
        "fields": [],
    }
    return map_payload(ODSFED, item)
