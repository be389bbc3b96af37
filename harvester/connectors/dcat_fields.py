"""Field readers of the DCAT mapping: resources, licence, publisher, contact, dates, spatial, keywords, themes."""

from __future__ import annotations

from collections import Counter

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.term import Node

from harvester.connectors.rdf_terms import (
    DCAT,
    DCT,
    FOAF,
    LOCN,
    RDF,
    UUID,
    VCARD,
    best_literal,
    first,
    label,
    text_or_uri,
)
from harvester.dates import parse_datetime
from harvester.records import ResourceRef

_IANA = "https://www.iana.org/assignments/media-types/"
_DCT_UPDATED = URIRef(str(DCT) + "updated")  # not a DCMI term, but GeoNetwork's DCAT output uses it


def file_identifier(graph: Graph, node: Node) -> str | None:
    """The GeoNetwork / ISO fileIdentifier behind a dataset, if the graph reveals it (cross-source merge key)."""
    texts: list[str] = []
    for rec in [*graph.objects(node, FOAF.isPrimaryTopicOf), *graph.subjects(FOAF.primaryTopic, node)]:
        texts += [str(o) for o in graph.objects(rec, DCT.identifier)]
        if isinstance(rec, URIRef):
            texts.append(str(rec))
    if isinstance(node, URIRef):
        texts.append(str(node))
    texts += [str(o) for o in graph.objects(node, DCT.relation) if "geonetwork" in str(o).lower()]
    for t in texts:
        m = UUID.search(t)
        if m and ("geonetwork" in t.lower() or m.group(0) == t.strip() or "/records/" in t):
            return m.group(0).lower()
    return None


def media(graph: Graph, node: Node | None) -> str | None:
    text = text_or_uri(graph, node)
    if text and text.startswith(_IANA):
        return text[len(_IANA) :]
    return text


def format_of(graph: Graph, node: Node | None) -> str | None:
    if node is None:
        return None
    if isinstance(node, Literal):
        return str(node).strip() or None
    name = label(graph, node)
    if name:
        return name
    if isinstance(node, URIRef):
        text = str(node)
        if text.startswith(_IANA):
            return text[len(_IANA) :]
        return text.rstrip("/").rsplit("/", 1)[-1] or text
    return best_literal(graph, node, RDF.value)


def resource(graph: Graph, dist: Node) -> ResourceRef | None:
    url = text_or_uri(graph, first(graph, dist, DCAT.downloadURL)) or text_or_uri(
        graph, first(graph, dist, DCAT.accessURL)
    )
    if not url:
        return None
    size = None
    raw_size = first(graph, dist, DCAT.byteSize)
    if raw_size is not None:
        try:
            size = int(float(str(raw_size)))
        except ValueError:
            size = None
    ident = best_literal(graph, dist, DCT.identifier)
    return ResourceRef(
        url=url,
        remote_id=ident or (str(dist) if isinstance(dist, URIRef) else None),
        title=best_literal(graph, dist, DCT.title),
        description=best_literal(graph, dist, DCT.description),
        format=format_of(graph, first(graph, dist, DCT.format)),
        media_type=media(graph, first(graph, dist, DCAT.mediaType)),
        size_bytes=size,
        modified=parse_datetime(best_literal(graph, dist, DCT.modified)),
    )


def licence(graph: Graph, node: Node, dists: list[Node]) -> str | None:
    for pred in (DCT.license, DCT.rights):
        own = first(graph, node, pred)
        if own is not None and (text := licence_text(graph, own)):
            return text
        found = Counter(t for d in dists for o in graph.objects(d, pred) if (t := licence_text(graph, o)))
        if found:
            return sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    return None


def licence_text(graph: Graph, node: Node) -> str | None:
    if isinstance(node, BNode):
        return label(graph, node) or best_literal(graph, node, DCT.description, DCT.identifier)
    return text_or_uri(graph, node)


def email(graph: Graph, node: Node) -> str | None:
    for cp in sorted(graph.objects(node, DCAT.contactPoint), key=str):
        mail = text_or_uri(graph, first(graph, cp, VCARD.hasEmail))
        if mail:
            return mail.removeprefix("mailto:").strip() or None
    return None


def spatial(graph: Graph, node: Node) -> str | None:
    obj = first(graph, node, DCT.spatial)
    if obj is None or isinstance(obj, URIRef | Literal):
        return text_or_uri(graph, obj)
    return best_literal(graph, obj, LOCN.geometry, DCAT.bbox, DCAT.centroid) or label(graph, obj)


def keywords(graph: Graph, node: Node) -> tuple[str, ...]:
    lits = [o for o in graph.objects(node, DCAT.keyword) if isinstance(o, Literal) and str(o).strip()]
    if any((lit.language or "").lower().startswith("fr") for lit in lits):
        lits = [lit for lit in lits if not lit.language or lit.language.lower().startswith("fr")]
    return tuple(sorted({str(lit).strip() for lit in lits}))


def themes(graph: Graph, node: Node) -> tuple[str, ...]:
    return tuple(
        sorted(
            {t for o in graph.objects(node, DCAT.theme) if (t := label(graph, o) or text_or_uri(graph, o))}
        )
    )


def modified(graph: Graph, node: Node) -> str | None:
    own = best_literal(graph, node, DCT.modified, _DCT_UPDATED)
    if own:
        return own
    for rec in [*graph.objects(node, FOAF.isPrimaryTopicOf), *graph.subjects(FOAF.primaryTopic, node)]:
        if (when := best_literal(graph, rec, DCT.modified)) is not None:
            return when
    return None


def publisher(graph: Graph, node: Node) -> str | None:
    """dct:publisher (its name, else its URI), else the organisation of the first contact point (GeoDCAT-AP)."""
    pub = first(graph, node, DCT.publisher)
    if pub is not None:
        return label(graph, pub) or text_or_uri(graph, pub)
    for cp in sorted(graph.objects(node, DCAT.contactPoint), key=str):
        org = best_literal(graph, cp, VCARD["organization-name"], VCARD["organisation-name"])
        if org:
            return org
        for sub in sorted(graph.objects(cp, VCARD.org), key=str):
            if name := label(graph, sub):
                return name
    return None


_BAD_URI_CHARS = frozenset(' <>"{}|\\^`\t\r\n')


def valid_uri(node: Node) -> bool:
    """A URIRef that can serve as an identity (GeoNetwork sometimes concatenates two URIs with a space)."""
    return isinstance(node, URIRef) and bool(str(node)) and not (_BAD_URI_CHARS & set(str(node)))
