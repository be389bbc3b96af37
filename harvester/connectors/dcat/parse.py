"""DCAT in RDF → DatasetRecords: safe parsing of any serialisation, and the DCAT-AP / GeoDCAT-AP mapping.

Used by the `dcat` connector and by the `opendatasoft` connector for the catalogue DCAT export
(`/api/explore/v2.1/catalog/exports/dcat`).

Identity rules:
- generic DCAT: the dataset URI, else `dct:identifier` (blank-node datasets are kept when they have one);
- OpenDataSoft exports (`ods=True`, or auto-detected when `ods` is None because the dataset URI is an ODS
  `…/explore/dataset/<dataset_id>/` page): the `dataset_id`. The export carries no `dataset_uid`, so the slug
  found in the dataset URI (or `dct:identifier` / landing page) is the only stable key available there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from harvester.connectors.dcat import fields as F
from harvester.connectors.dcat.rdf_fast import parse_fast
from harvester.connectors.dcat.rdf_index import BNode, Index, Term, is_iri, text
from harvester.connectors.dcat.rdf_terms import (
    ADMS,
    DCAT,
    DCT,
    OWL,
    RDF,
    SKOS,
    best_literal,
    compact,
    first,
    text_or_uri,
)
from harvester.dates import parse_datetime
from harvester.errors import SourceError
from harvester.records import DatasetRecord, ResourceRef
from harvester.xmlsafe import check_prolog, looks_like_html

if TYPE_CHECKING:
    from rdflib import Graph

# rdflib logs a full traceback (WARNING) for every literal that does not match its datatype, e.g. a dateTime
# typed as xsd:date in GeoNetwork output; dates are parsed leniently here, so keep only its errors.
logging.getLogger("rdflib.term").setLevel(logging.ERROR)

OnError = Callable[[str | None, str, str | None], None]

_CT_FORMATS = {
    "application/rdf+xml": "xml",
    "application/xml": "xml",
    "text/xml": "xml",
    "text/turtle": "turtle",
    "application/x-turtle": "turtle",
    "text/n3": "n3",
    "application/n-triples": "nt",
    "application/trig": "trig",
    "application/ld+json": "json-ld",
    "application/json": "json-ld",
}
_EXT_FORMATS = {
    ".rdf": "xml",
    ".xml": "xml",
    ".owl": "xml",
    ".ttl": "turtle",
    ".n3": "n3",
    ".nt": "nt",
    ".trig": "trig",
    ".jsonld": "json-ld",
    ".json": "json-ld",
}
_XML_START = re.compile(rb"^(<\?xml|<!--|<!DOCTYPE|<[A-Za-z_][\w.-]*(:[A-Za-z_][\w.-]*)?[\s/>])")
_ODS_DATASET = re.compile(r"^https?://([^/]+)/explore/dataset/([^/?#]+)/?$")
_ODS_EXPORT = re.compile(r"/api/explore/v2\.\d+/catalog/datasets/[^/]+/exports/([A-Za-z0-9_]+)")


def detect_format(content: bytes, content_type: str | None, url: str) -> str:
    """rdflib format name from the body itself, then the Content-Type, then the URL extension."""
    head = content[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        return "json-ld"
    if _XML_START.match(head):
        return "xml"
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct in _CT_FORMATS and _CT_FORMATS[ct] not in ("xml", "json-ld"):
        return _CT_FORMATS[ct]
    path = urlsplit(url).path.lower()
    for ext, fmt in _EXT_FORMATS.items():
        if path.endswith(ext) and fmt not in ("xml", "json-ld"):
            return fmt
    return "turtle"


def parse_rdf(
    content: bytes,
    content_type: str | None,
    base_url: str,
    *,
    source_id: str | None = None,
    prolog_checked: bool = False,
) -> Index:
    """Parse an RDF document (RDF/XML, Turtle, N3, N-Triples, TriG, JSON-LD) safely into a triple index.

    pyoxigraph reads it straight into the index; a document it rejects is read by rdflib's lenient parser.
    RDF/XML goes through `check_prolog` first, unless the caller ran it on this body (`prolog_checked`).

    Raises SourceError naming `base_url` for HTML pages, hostile XML, remote JSON-LD contexts, syntax errors.
    """
    if not content.strip():
        raise SourceError(
            "empty response where an RDF catalogue was expected", url=base_url, source_id=source_id
        )
    if looks_like_html(content, content_type):
        raise SourceError(
            "expected an RDF catalogue but got an HTML page",
            url=base_url,
            source_id=source_id,
            hint="the URL may point at a web page rather than the catalogue document",
        )
    fmt = detect_format(content, content_type, base_url)
    if fmt == "json-ld":
        from harvester.connectors.dcat.jsonld_contexts import parse_jsonld  # PyLD: only for JSON-LD

        return parse_jsonld(content, base_url, source_id=source_id)
    if fmt == "xml" and not prolog_checked:
        check_prolog(content, url=base_url, source_id=source_id)
    fast = parse_fast(content, fmt, base_url)
    if fast is not None:
        return fast
    from rdflib import Graph

    graph = Graph()
    try:
        graph.parse(data=content, format=fmt, publicID=base_url)
    except SourceError:
        raise
    except Exception as exc:  # rdflib raises many unrelated types (SAX, BadSyntax, ValueError…)
        raise SourceError(f"cannot parse {fmt} RDF: {exc}", url=base_url, source_id=source_id) from exc
    return Index.from_rdflib(graph)


def as_index(graph: Index | Graph) -> Index:
    """The index itself, or an rdflib Graph's triples as an index (one mapping code path for both)."""
    return graph if isinstance(graph, Index) else Index.from_rdflib(graph)


def dataset_nodes(graph: Index) -> list[Term]:
    """dcat:Dataset and dcat:DatasetSeries nodes, plus untyped catalogue members; not those only served by a
    dcat:DataService (udata's rule)."""
    nodes: set[Term] = set(graph.subjects(RDF.type, DCAT.Dataset)) | set(
        graph.subjects(RDF.type, DCAT.DatasetSeries)
    )
    in_catalog = {o for o in graph.all_objects(DCAT.dataset) if o in graph}
    nodes |= in_catalog
    served_only = {n for n in nodes if graph.subjects(DCAT.servesDataset, n) and n not in in_catalog}
    return sorted(nodes - served_only, key=lambda n: (type(n) is BNode, text(n)))


class _Skip(Exception):
    """A dataset that can't be mapped; reported through on_error."""


def _ods_id(graph: Index, node: Term) -> tuple[str, str] | None:
    candidates: list[str] = [node] if is_iri(node) else []  # type: ignore[list-item]
    candidates += [text(o) for o in graph.objects(node, DCT.identifier)]
    candidates += [text(o) for o in graph.objects(node, DCAT.landingPage)]
    for c in candidates:
        m = _ODS_DATASET.match(c.strip())
        if m:
            return m.group(1), m.group(2)
    return None


def map_dataset(
    graph: Index, node: Term, source_id: str, *, ods: bool | None = None, prefer_identifier: bool = False
) -> DatasetRecord:
    """Map one dataset node; raises _Skip (or any error) when it can't be mapped."""
    ident = best_literal(graph, node, DCT.identifier)
    fid = F.file_identifier(graph, node)
    uri_ok = F.valid_uri(node)
    extras: dict[str, str] = {}
    ods_key = _ods_id(graph, node) if ods is not False else None
    name = None
    if ods_key is not None:
        extras["ods_domain"], remote_id = ods_key
        extras["ods_dataset_id"] = name = remote_id
    elif ods:
        raise _Skip("no OpenDataSoft dataset_id found in the dataset URI, dct:identifier or landing page")
    elif uri_ok and not (prefer_identifier and ident):
        remote_id = text(node)
    elif fid and (not ident or any(c.isspace() for c in ident)):
        remote_id = fid  # GeoNetwork's "<uuid> <url>" identifiers: the record UUID is the stable part
    elif ident:
        remote_id = ident
    elif is_iri(node):
        raise _Skip(f"invalid dataset URI {text(node)!r} and no usable dct:identifier")
    else:
        raise _Skip("blank-node dataset without dct:identifier: no stable identity")
    if uri_ok:
        extras["uri"] = text(node)
    title = best_literal(graph, node, DCT.title)
    if not title:
        raise _Skip("dataset has no dct:title")
    if ident:
        extras["dct_identifier"] = ident
    for adms_id in graph.objects(node, ADMS.identifier):
        if notation := best_literal(graph, adms_id, SKOS.notation):
            extras["adms_identifier"] = notation
            break
    if fid:
        extras["file_identifier"] = fid
    if (source := first(graph, node, DCT.source)) is not None:
        extras["dct_source"] = text(source)  # the record this one was harvested from (the merge follows it)
    if (series := first(graph, node, DCAT.inSeries)) is not None:
        extras["in_series"] = text(series)
    if graph.has(node, RDF.type, DCAT.DatasetSeries):
        extras["dcat_type"] = "DatasetSeries"
    if version := best_literal(graph, node, OWL.versionInfo, DCAT.version):
        extras["version"] = version
    dists = sorted(graph.objects(node, DCAT.distribution), key=text)
    resources: dict[tuple[str, str | None], ResourceRef] = {}
    mapped = [(dist, F.resource(graph, dist)) for dist in dists]
    for _dist, res in mapped:
        if res is not None and ods_key is not None and (m := _ODS_EXPORT.search(res.url)):
            res = replace(res, format=m.group(1))  # the export name is more precise than the media type
        if res is not None:
            resources.setdefault((res.url, res.remote_id), res)
    extras.update(F.conforms_to(graph, node, mapped))
    urls = {url for url, _rid in resources}
    for doc in F.documents(graph, node):
        if doc.url not in urls:  # a page already listed as a distribution stays a distribution
            urls.add(doc.url)
            resources[(doc.url, doc.remote_id)] = doc
    contact_name, contact_email = F.contact(graph, node)
    if contact_name:
        extras["contact_name"] = contact_name
    landing = text_or_uri(graph, first(graph, node, DCAT.landingPage))
    uri = text(node) if uri_ok and text(node).startswith(("http://", "https://")) else None
    return DatasetRecord(
        source_id=source_id,
        remote_id=remote_id,
        title=title,
        name=name,
        description=F.description(graph, node),
        landing_page=landing,
        remote_url=landing or uri,
        publisher=F.publisher(graph, node),
        contact_email=contact_email,
        keywords=F.keywords(graph, node),
        themes=F.themes(graph, node),
        license_raw=F.licence(graph, node, dists),
        issued=parse_datetime(best_literal(graph, node, DCT.issued)),
        modified=parse_datetime(F.modified(graph, node)),
        frequency=text_or_uri(graph, first(graph, node, DCT.accrualPeriodicity)),
        spatial=F.spatial(graph, node),
        resources=tuple(sorted(resources.values(), key=lambda r: (r.url, r.remote_id or ""))),
        extras=extras,
        raw={"@id": text(node), **compact(graph, node)},
    )


def records_from_graph(
    graph: Index | Graph,
    source_id: str,
    on_error: OnError,
    *,
    ods: bool | None = None,
    prefer_identifier: bool = False,
    nodes: list[Term] | None = None,
) -> Iterator[DatasetRecord]:
    """Yield one DatasetRecord per dataset of the graph; a dataset that can't be mapped goes to `on_error`
    (remote id or None, message, URL or None) and the others go on. Remote ids are unique within the graph.

    `ods`: None detects OpenDataSoft dataset pages per dataset (ODS identity rules), False forces generic DCAT
    identity, True requires ODS identities. `prefer_identifier` keys generic datasets on dct:identifier first.
    `nodes`: the graph's `dataset_nodes`, when the caller already has them. An rdflib Graph is read as an index.
    """
    graph = as_index(graph)
    seen: set[str] = set()
    for node in dataset_nodes(graph) if nodes is None else nodes:
        hint = text(node) if is_iri(node) else best_literal(graph, node, DCT.identifier)
        url = hint if hint and hint.startswith(("http://", "https://")) else None
        try:
            record = map_dataset(graph, node, source_id, ods=ods, prefer_identifier=prefer_identifier)
        except _Skip as exc:
            on_error(hint, str(exc), url)
            continue
        except Exception as exc:  # one malformed dataset never stops the catalogue
            on_error(hint, f"cannot map DCAT dataset: {type(exc).__name__}: {exc}", url)
            continue
        if record.remote_id in seen:
            on_error(record.remote_id, "duplicate dataset identity in the catalogue: later copy skipped", url)
            continue
        seen.add(record.remote_id)
        yield record
