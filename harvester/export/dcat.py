"""The merged catalogue as DCAT-AP 3: one small rdflib graph per dataset (never the whole catalogue at once).

`catalog_graph` describes the dcat:Catalog (and, when paged, its Hydra view); `dataset_graph` one merged dataset
with its distributions, publisher, contact point, licence, coverage and the records it was merged from
(`prov:wasDerivedFrom`, the remote URL of each contributing record: not `dct:source`, whose values DCAT-AP 3
requires to be typed dcat:Dataset, which would make every contributing record a dataset of the catalogue). IRIs are minted under a
base (`urn:harvester:<pipeline>:` unless given): `<base>dataset/<merged key>`, `<base>distribution/<resource
key>`, `<base>agent/<publisher>`, `<base>theme/<theme>`; licences are the licence's own IRI (the EU authority
one when harvester/data/licenses.json knows it).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, PROV, RDF, RDFS, SKOS, XSD

from harvester.licenses import license_info

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
LOCN = Namespace("http://www.w3.org/ns/locn#")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
IANA = "https://www.iana.org/assignments/media-types/"
EU_LICENCE = "http://publications.europa.eu/resource/authority/licence/"
PREFIXES = {
    "rdf": RDF,
    "dcat": DCAT,
    "dct": DCTERMS,
    "foaf": FOAF,
    "prov": PROV,
    "rdfs": RDFS,
    "skos": SKOS,
    "vcard": VCARD,
    "hydra": HYDRA,
    "locn": LOCN,
    "gsp": GSP,
    "xsd": XSD,
}
# Codes of the EU file-type authority table that harvester's normalised formats name as they are.
_FILE_TYPES = frozenset(
    "CSV TSV JSON GEOJSON XML XLS XLSX ODS PDF ZIP SHP KML KMZ GPKG GML TXT HTML RDF RDF_XML RDF_TURTLE JSON_LD "
    "GTFS PARQUET DOC DOCX ODT PNG JPEG TIFF GEOTIFF WMS_SRVC WFS_SRVC NETCDF GRIB".split()
)


def new_graph() -> Graph:
    g = Graph(bind_namespaces="none")
    for prefix, ns in PREFIXES.items():
        g.bind(prefix, ns, override=True, replace=True)
    return g


def default_base(pipeline: str) -> str:
    return f"urn:harvester:{quote(pipeline, safe='')}:"


def iri(base: str, kind: str, key: str) -> URIRef:
    return URIRef(f"{base}{kind}/{quote(key, safe=':@-._~')}")


def _url(value: str | None) -> URIRef | None:
    """A web address as an IRI, or None when it is not one (rdflib would write an invalid IRI)."""
    if not value:
        return None
    value = value.strip()
    if not value.startswith(("http://", "https://", "ftp://")) or any(
        c in value for c in ' <>"{}|\\^`\n\r\t'
    ):
        return None
    return URIRef(value)


def _when(value: datetime | None) -> Literal | None:
    return Literal(value.isoformat(), datatype=XSD.dateTime) if value is not None else None


def licence_iri(license_id: str | None, license_raw: str | None) -> URIRef | None:
    """The licence's IRI: the EU authority one when known, else its own URL; a raw licence that is a URL."""
    if license_id:
        info = license_info(license_id)
        urls = [u for u in (info.get("urls") or []) if isinstance(u, str)]  # type: ignore[union-attr]
        eu = next((u for u in urls if u.startswith(EU_LICENCE)), None)
        own = eu or info.get("url") or (urls[0] if urls else None)
        if isinstance(own, str) and (ref := _url(own)):
            return ref
    return _url(license_raw)


def licence_node(g: Graph, license_id: str | None, license_raw: str | None) -> URIRef | BNode | None:
    """A dct:LicenseDocument: the licence's IRI, else a node labelled with its title (or the raw text)."""
    node: URIRef | BNode | None = licence_iri(license_id, license_raw)
    if node is None:
        text = (license_info(license_id).get("title") if license_id else None) or license_id or license_raw
        if not text or not str(text).strip():
            return None
        node = BNode()
        g.add((node, RDFS.label, Literal(str(text).strip())))
    g.add((node, RDF.type, DCTERMS.LicenseDocument))
    return node


def _format(g: Graph, dist: URIRef, fmt: str | None) -> None:
    if not fmt:
        return
    code = fmt.strip().upper().replace("-", "_").replace(" ", "_")
    if code in _FILE_TYPES:
        node: URIRef | BNode = URIRef(FILE_TYPE + code)
    else:
        node = BNode()
        g.add((node, RDFS.label, Literal(fmt)))
    g.add((dist, DCTERMS.format, node))
    g.add((node, RDF.type, DCTERMS.MediaTypeOrExtent))


def _spatial(g: Graph, ds: URIRef, value: str | None) -> None:
    """dct:spatial: an IRI as it is, GeoJSON or WKT as the locn:Geometry (gsp:asGeoJSON / asWKT) of a dct:Location."""
    if not value or not value.strip():
        return
    text = value.strip()
    place = _url(text)
    if place is None:
        place_node = BNode()
        geometry = BNode()
        if text.startswith("{"):
            g.add((geometry, GSP.asGeoJSON, Literal(text, datatype=GSP.geoJSONLiteral)))
        elif text.split("(", 1)[0].strip().upper() in {"POINT", "POLYGON", "MULTIPOLYGON", "LINESTRING"}:
            g.add((geometry, GSP.asWKT, Literal(text, datatype=GSP.wktLiteral)))
        else:
            g.add((place_node, RDFS.label, Literal(text)))
        if (geometry, None, None) in g:
            g.add((place_node, LOCN.geometry, geometry))
            g.add((geometry, RDF.type, LOCN.Geometry))
        g.add((ds, DCTERMS.spatial, place_node))
        g.add((place_node, RDF.type, DCTERMS.Location))
        return
    g.add((ds, DCTERMS.spatial, place))
    g.add((place, RDF.type, DCTERMS.Location))


def _temporal(g: Graph, ds: URIRef, extras: dict[str, str]) -> None:
    """dct:temporal from the temporal coverage portals put in extras (udata `temporal_coverage`, CKAN
    `temporal_start`/`temporal_end`), when there is one."""
    start, end = extras.get("temporal_start"), extras.get("temporal_end")
    if not (start or end) and (tc := extras.get("temporal_coverage")):
        try:
            doc = json.loads(tc)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            start, end = doc.get("start"), doc.get("end")
    if not (start or end):
        return
    period = BNode()
    g.add((ds, DCTERMS.temporal, period))
    g.add((period, RDF.type, DCTERMS.PeriodOfTime))
    if start:
        g.add((period, DCAT.startDate, Literal(str(start))))
    if end:
        g.add((period, DCAT.endDate, Literal(str(end))))


def description_of(row: dict[str, Any]) -> str | None:
    """dct:description is mandatory in DCAT-AP: a dataset without one is described by its title."""
    text = (row.get("description") or "").strip()
    return text or row.get("title")


def catalog_graph(
    catalog: URIRef, base: str, title: str, publisher: str, total: int, page: dict[str, Any] | None = None
) -> Graph:
    """The catalogue node; with `page` ({"iri", "first", "last", "next", "previous"}), its Hydra view."""
    g = new_graph()
    g.add((catalog, RDF.type, DCAT.Catalog))
    g.add((catalog, DCTERMS.title, Literal(title)))
    g.add((catalog, DCTERMS.description, Literal(f"{title}: {total} datasets merged by harvester.")))
    agent = iri(base, "agent", publisher)
    g.add((catalog, DCTERMS.publisher, agent))
    g.add((agent, RDF.type, FOAF.Agent))
    g.add((agent, FOAF.name, Literal(publisher)))
    if page is not None:
        view = URIRef(page["iri"])
        g.add((catalog, RDF.type, HYDRA.Collection))
        g.add((catalog, HYDRA.totalItems, Literal(total)))
        g.add((catalog, HYDRA.view, view))
        g.add((view, RDF.type, HYDRA.PartialCollectionView))
        for name in ("first", "last", "next", "previous"):
            if page.get(name):
                g.add((view, HYDRA[name], URIRef(page[name])))
    return g


def dataset_graph(
    catalog: URIRef,
    base: str,
    row: dict[str, Any],
    resources: list[dict[str, Any]],
    provenance: list[dict[str, Any]],
) -> Graph:
    """One merged dataset (a row of merged/<pipeline>/datasets.parquet) and everything hanging from it."""
    g = new_graph()
    key = row["merged_key"]
    ds = iri(base, "dataset", key)
    g.add((catalog, DCAT.dataset, ds))
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCTERMS.identifier, Literal(key)))
    if row.get("title"):
        g.add((ds, DCTERMS.title, Literal(row["title"])))
    if desc := description_of(row):
        g.add((ds, DCTERMS.description, Literal(desc)))
    for kw in row.get("keywords") or []:
        if kw and kw.strip():
            g.add((ds, DCAT.keyword, Literal(kw)))
    for theme in row.get("themes") or []:
        if not theme:
            continue
        concept = _url(theme) or iri(base, "theme", theme)
        g.add((ds, DCAT.theme, concept))
        g.add((concept, RDF.type, SKOS.Concept))
        g.add((concept, SKOS.prefLabel, Literal(theme)))
    for pred, col in ((DCTERMS.issued, "issued"), (DCTERMS.modified, "modified")):
        if (when := _when(row.get(col))) is not None:
            g.add((ds, pred, when))
    if page := _url(row.get("landing_page")):
        g.add((ds, DCAT.landingPage, page))
        g.add((page, RDF.type, FOAF.Document))
    if row.get("publisher"):
        agent = iri(base, "agent", row["publisher"])
        g.add((ds, DCTERMS.publisher, agent))
        g.add((agent, RDF.type, FOAF.Agent))
        g.add((agent, FOAF.name, Literal(row["publisher"])))
    if row.get("contact_email"):
        kind = BNode()
        g.add((ds, DCAT.contactPoint, kind))
        g.add((kind, RDF.type, VCARD.Kind))
        g.add((kind, VCARD.hasEmail, URIRef("mailto:" + quote(row["contact_email"].strip(), safe="@.+-_"))))
        if row.get("publisher"):
            g.add((kind, VCARD.fn, Literal(row["publisher"])))
    extras = dict(row.get("extras") or [])
    _spatial(g, ds, row.get("spatial"))
    _temporal(g, ds, extras)
    lic = licence_node(g, row.get("license_id"), row.get("license_raw"))
    if lic is not None:
        if not resources:
            g.add((ds, DCTERMS.license, lic))
    for p in provenance:
        if src := _url(p.get("remote_url")):
            g.add((ds, PROV.wasDerivedFrom, src))
    for res in resources:
        _distribution(g, base, ds, res, lic)
    return g


def _distribution(g: Graph, base: str, ds: URIRef, res: dict[str, Any], lic: URIRef | BNode | None) -> None:
    url = _url(res.get("url"))
    if url is None:
        return
    dist = iri(base, "distribution", res["resource_key"])
    g.add((ds, DCAT.distribution, dist))
    g.add((dist, RDF.type, DCAT.Distribution))
    g.add((dist, DCAT.accessURL, url))
    if (res.get("format") or "").upper() not in {"API", "WMS", "WFS", "HTML"}:
        g.add((dist, DCAT.downloadURL, url))
    if res.get("title"):
        g.add((dist, DCTERMS.title, Literal(res["title"])))
    if res.get("description"):
        g.add((dist, DCTERMS.description, Literal(res["description"])))
    _format(g, dist, res.get("format"))
    if (mt := res.get("media_type")) and "/" in mt and " " not in mt.strip():
        media = URIRef(IANA + mt.strip())
        g.add((dist, DCAT.mediaType, media))
        g.add((media, RDF.type, DCTERMS.MediaType))
    if res.get("size_bytes") is not None and res["size_bytes"] >= 0:
        g.add((dist, DCAT.byteSize, Literal(int(res["size_bytes"]), datatype=XSD.nonNegativeInteger)))
    if (when := _when(res.get("modified"))) is not None:
        g.add((dist, DCTERMS.modified, when))
    if lic is not None:
        g.add((dist, DCTERMS.license, lic))
