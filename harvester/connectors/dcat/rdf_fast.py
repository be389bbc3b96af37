"""Fast RDF parsing with pyoxigraph (Rust), straight into the light triple index of the DCAT mapping.

rdflib's own RDF/XML and Turtle parsers are pure Python: a large catalogue export (tens of thousands of triples
per page) takes seconds per page. pyoxigraph parses the same document about ten times faster, and its quads go
into `rdf_index.Index` without an rdflib Graph in between (loading an rdflib Graph cost more than the parse). It
is stricter, though: real GeoNetwork output with invalid IRIs or stray text in property elements is rejected, so
the caller falls back to rdflib (lenient) when this returns None.

Literals keep their lexical form and language only: the DCAT mapping reads lexical forms.
JSON-LD comes here as the N-Quads PyLD expands it to (`jsonld_contexts.parse_jsonld`).
"""

from __future__ import annotations

import logging

import pyoxigraph as ox

from harvester.connectors.dcat.rdf_index import Index

log = logging.getLogger(__name__)

FORMATS = {
    "xml": ox.RdfFormat.RDF_XML,
    "turtle": ox.RdfFormat.TURTLE,
    "nt": ox.RdfFormat.N_TRIPLES,
    "n3": ox.RdfFormat.N3,
    "trig": ox.RdfFormat.TRIG,
    "nquads": ox.RdfFormat.N_QUADS,  # JSON-LD, expanded by PyLD (graph names are merged into one graph)
}


def parse_fast(data: bytes, fmt: str, base_url: str) -> Index | None:
    """The document as a triple index, or None when pyoxigraph can't read it (the caller then uses rdflib)."""
    ox_format = FORMATS.get(fmt)
    if ox_format is None:
        return None
    try:
        quads = ox.parse(data, format=ox_format, base_iri=base_url, lenient=True)
        return Index.from_quads(quads, ox.NamedNode, ox.BlankNode, ox.Literal)
    except (SyntaxError, ValueError, OSError) as exc:
        log.debug("pyoxigraph could not parse %s (%s): falling back to rdflib", base_url, exc)
        return None
