"""RDF vocabularies and small graph readers used by the DCAT mapping (language choice, labels, compact dumps).

The readers work on the light index of `rdf_index.py`; vocabulary terms are plain strings (IRIs).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from harvester.connectors.dcat.rdf_index import BNode, Index, Lit, Term, is_iri, text


class Namespace:
    """`NS.term` and `NS["term-with-dash"]` give the term's IRI as a plain string; `str(NS)` is the namespace."""

    def __init__(self, base: str) -> None:
        self._base = base

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        iri = self._base + name
        setattr(self, name, iri)  # looked up once
        return iri

    def __getitem__(self, name: str) -> str:
        return self._base + name

    def __str__(self) -> str:
        return self._base


DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
OWL = Namespace("http://www.w3.org/2002/07/owl#")
RDF = Namespace("http://www.w3.org/1999/02/22-rdf-syntax-ns#")
RDFS = Namespace("http://www.w3.org/2000/01/rdf-schema#")
SKOS = Namespace("http://www.w3.org/2004/02/skos/core#")
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
_NO_PREDS: dict[str, Any] = {}
LANG_ORDER = ("fr", "", "en")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@lru_cache(maxsize=4096)
def qname(uri: str) -> str:
    """A short, stable name for a predicate (`dct:title`), independent of the document's own prefixes."""
    for prefix, ns in PREFIXES:
        if uri.startswith(ns):
            return f"{prefix}:{uri[len(ns) :]}"
    return uri


def _lang_rank(lit: Lit) -> int:
    lang = (lit.lang or "").lower().split("-")[0]
    return LANG_ORDER.index(lang) if lang in LANG_ORDER else len(LANG_ORDER)


def best_literal(graph: Index, node: Term, *preds: str) -> str | None:
    """The best non-empty literal of the first predicate that has one: French, then untagged, then English."""
    of_node = graph.spo.get(node)
    if of_node is None:
        return None
    for pred in preds:
        objs = of_node.get(pred)
        if not objs:
            continue
        lits = [o for o in objs if type(o) is Lit and o.value.strip()]
        if len(lits) == 1:
            return lits[0].value.strip()
        if lits:
            lits.sort(key=lambda lit: (_lang_rank(lit), lit.value))
            return lits[0].value.strip()
    return None


def label(graph: Index, node: Term) -> str | None:
    """A human label of an agent, concept or licence node; a literal is its own label."""
    if type(node) is Lit:
        return node.value.strip() or None
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


def _order(term: Term) -> tuple[bool, str]:
    return (not is_iri(term), text(term))


def first(graph: Index, node: Term, pred: str) -> Term | None:
    """The smallest object (in a stable order) of `pred`, or None."""
    objs = graph.spo.get(node, _NO_PREDS).get(pred)
    if not objs:
        return None
    if len(objs) == 1:
        return next(iter(objs))
    return min(objs, key=_order)


def text_or_uri(graph: Index, node: Term | None) -> str | None:
    """A URI as a string, a literal as text, a blank node by its label."""
    if node is None:
        return None
    if type(node) is not BNode:
        return text(node).strip() or None
    return label(graph, node)


_QNAMES: dict[str, str] = {}


def compact(graph: Index, node: Term, depth: int = 2, _seen: tuple[Term, ...] = ()) -> dict[str, Any]:
    """The node's triples as a JSON-able dict {qname: [values]}, keys sorted, several values sorted by repr;
    blank nodes (and an IRI's dcat:distribution) are expanded to `depth`, each node once per path."""
    out: dict[str, list[Any]] = {}
    seen = (*_seen, node)
    distribution = DCAT.distribution
    for pred, objs in graph.spo.get(node, _NO_PREDS).items():
        key = _QNAMES.get(pred)
        if key is None:
            key = _QNAMES[pred] = qname(pred)
        values: list[Any] = []
        for obj in objs:
            kind = type(obj)
            if kind is Lit:
                lang = obj.lang  # type: ignore[union-attr]
                values.append(obj.value if not lang else {"@value": obj.value, "@language": lang})  # type: ignore[union-attr]
            elif kind is str:
                if depth and pred == distribution and obj not in seen:
                    values.append({"@id": obj, **compact(graph, obj, depth - 1, seen)})
                else:
                    values.append(obj)
            elif depth and obj not in seen:
                values.append(compact(graph, obj, depth - 1, seen))
            else:
                values.append({"@bnode": True})
        same = out.get(key)
        if same is None:
            out[key] = values
        else:
            same += values
    for values in out.values():
        if len(values) > 1:
            _sort_by_repr(values)
    return dict(sorted(out.items())) if len(out) > 1 else out


def _sort_by_repr(values: list[Any]) -> None:
    """`values.sort(key=repr)`, without the repr of whole expanded nodes when every value is one with its own
    distinct `@id` first (a dataset's distributions): their reprs differ first within `repr(@id)`, which a
    Python str repr never has as a prefix of another, so ordering by it is ordering by the whole repr."""
    ids = []
    for value in values:
        if type(value) is not dict or next(iter(value)) != "@id":
            values.sort(key=repr)
            return
        ids.append(repr(value["@id"]))
    if len(set(ids)) < len(ids):
        values.sort(key=repr)
        return
    order = sorted(range(len(values)), key=ids.__getitem__)
    values[:] = [values[i] for i in order]
