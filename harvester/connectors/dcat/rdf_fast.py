"""Fast RDF parsing with pyoxigraph (Rust), loaded into an rdflib Graph for the mapping.

rdflib's own RDF/XML and Turtle parsers are pure Python: a large catalogue export (tens of thousands of triples
per page) takes seconds per page. pyoxigraph parses the same document about ten times faster. It is stricter,
though: real GeoNetwork output with invalid IRIs or stray text in property elements is rejected, so the caller
falls back to rdflib (lenient) when this returns None.

Literals are loaded with their lexical form and language only: the DCAT mapping reads lexical forms, and
building typed rdflib literals (which converts every date) would cost as much as the parse itself.
JSON-LD comes here as the N-Quads PyLD expands it to (`jsonld_contexts.parse_jsonld`).
"""

from __future__ import annotations

import logging

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.term import Node

log = logging.getLogger(__name__)

FORMATS = {
    "xml": ox.RdfFormat.RDF_XML,
    "turtle": ox.RdfFormat.TURTLE,
    "nt": ox.RdfFormat.N_TRIPLES,
    "n3": ox.RdfFormat.N3,
    "trig": ox.RdfFormat.TRIG,
    "nquads": ox.RdfFormat.N_QUADS,  # JSON-LD, expanded by PyLD (graph names are merged into one graph)
}


def parse_fast(data: bytes, fmt: str, base_url: str) -> Graph | None:
    """The document as an rdflib Graph, or None when pyoxigraph can't read it (the caller then uses rdflib)."""
    ox_format = FORMATS.get(fmt)
    if ox_format is None:
        return None
    uris: dict[str, URIRef] = {}
    bnodes: dict[str, BNode] = {}

    def term(t: object) -> Node:
        if isinstance(t, ox.NamedNode):
            ref = uris.get(t.value)
            if ref is None:
                ref = uris[t.value] = URIRef(t.value)
            return ref
        if isinstance(t, ox.BlankNode):
            node = bnodes.get(t.value)
            if node is None:
                node = bnodes[t.value] = BNode()
            return node
        if isinstance(t, ox.Literal):
            return Literal(t.value, lang=t.language) if t.language else Literal(t.value)
        raise ValueError(f"unsupported RDF term {t!r}")  # RDF-star triple terms

    graph = Graph()
    try:
        quads = list(ox.parse(data, format=ox_format, base_iri=base_url, lenient=True))
        graph.addN((term(q.subject), term(q.predicate), term(q.object), graph) for q in quads)
    except (SyntaxError, ValueError, OSError) as exc:
        log.debug("pyoxigraph could not parse %s (%s): falling back to rdflib", base_url, exc)
        return None
    return graph
