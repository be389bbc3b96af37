"""RDF vocabularies and small graph readers used by the DCAT mapping (language choice, labels, compact dumps)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, OWL, RDF, RDFS, SKOS
from rdflib.term import Node

DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = DCTERMS
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
LOCN = Namespace("http://www.w3.org/ns/locn#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
SCHEMA = Namespace("http://schema.org/")
__all__ = ["DCAT", "DCT", "FOAF", "OWL", "RDF", "RDFS", "SKOS", "VCARD", "ADMS", "LOCN", "HYDRA"]

PREFIXES: tuple[tuple[str, str], ...] = (
    ("dcat", str(DCAT)),
    ("dct", str(DCT)),
    ("foaf", str(FOAF)),
    ("vcard", str(VCARD)),
    ("adms", str(ADMS)),
    ("locn", str(LOCN)),
    ("skos", str(SKOS)),
    ("rdfs", str(RDFS)),
    ("rdf", str(RDF)),
    ("owl", str(OWL)),
    ("hydra", str(HYDRA)),
    ("schema", str(SCHEMA)),
    ("dc", "http://purl.org/dc/elements/1.1/"),
    ("geodcatap", "http://data.europa.eu/930/"),
    ("dcatap", "http://data.europa.eu/r5r/"),
    ("prov", "http://www.w3.org/ns/prov#"),
)
LANG_ORDER = ("fr", "", "en")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@lru_cache(maxsize=4096)
def qname(uri: str) -> str:
    """A short, stable name for a predicate (`dct:title`), independent of the document's own prefixes."""
    for prefix, ns in PREFIXES:
        if uri.startswith(ns):
            return f"{prefix}:{uri[len(ns) :]}"
    return uri


def _lang_rank(lit: Literal) -> int:
    lang = (lit.language or "").lower().split("-")[0]
    return LANG_ORDER.index(lang) if lang in LANG_ORDER else len(LANG_ORDER)


def best_literal(graph: Graph, node: Node, *preds: URIRef) -> str | None:
    """The best non-empty literal of the first predicate that has one: French, then untagged, then English."""
    for pred in preds:
        lits = [o for o in graph.objects(node, pred) if isinstance(o, Literal) and str(o).strip()]
        if lits:
            lits.sort(key=lambda lit: (_lang_rank(lit), str(lit)))
            return str(lits[0]).strip()
    return None


def label(graph: Graph, node: Node) -> str | None:
    """A human label of an agent, concept or licence node; a literal is its own label."""
    if isinstance(node, Literal):
        return str(node).strip() or None
    return best_literal(
        graph,
        node,
        FOAF.name,
        VCARD.fn,
        VCARD["organization-name"],
        VCARD["organisation-name"],
        SKOS.prefLabel,
        RDFS.label,
        DCT.title,
    )


def first(graph: Graph, node: Node, pred: URIRef) -> Node | None:
    """The smallest object (in a stable order) of `pred`, or None."""
    objs = sorted(graph.objects(node, pred), key=lambda o: (not isinstance(o, URIRef), str(o)))
    return objs[0] if objs else None


def text_or_uri(graph: Graph, node: Node | None) -> str | None:
    """A URI as a string, a literal as text, a blank node by its label."""
    if node is None:
        return None
    if isinstance(node, URIRef | Literal):
        return str(node).strip() or None
    return label(graph, node)


def compact(graph: Graph, node: Node, depth: int = 2, _seen: frozenset[Node] = frozenset()) -> dict[str, Any]:
    """The node's triples as a JSON-able dict {qname: [values]}; nested nodes are expanded to `depth`."""
    out: dict[str, list[Any]] = {}
    seen = _seen | {node}
    for pred, obj in graph.predicate_objects(node):
        value: Any
        if isinstance(obj, Literal):
            value = str(obj) if not obj.language else {"@value": str(obj), "@language": obj.language}
        elif depth > 0 and obj not in seen and (isinstance(obj, BNode) or pred == DCAT.distribution):
            value = compact(graph, obj, depth - 1, seen)
            if isinstance(obj, URIRef):
                value = {"@id": str(obj), **value}
        else:
            value = str(obj) if isinstance(obj, URIRef) else {"@bnode": True}
        out.setdefault(qname(str(pred)), []).append(value)
    return {k: sorted(v, key=repr) if len(v) > 1 else v for k, v in sorted(out.items())}
