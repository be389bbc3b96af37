"""A light, read-only triple index for the DCAT mapping: subject → predicate → objects, with plain Python terms.

Loading a parsed page into an rdflib Graph cost more than parsing it (a Python store with three indexes and
context bookkeeping per triple), and every lookup of the mapping went through rdflib's generic `triples()`. The
mapping only asks a few questions: the objects of (subject, predicate), the subjects of (predicate, object), the
predicates and objects of a subject, and whether a triple is there. This index answers them with dict lookups.

Terms are plain values: an IRI is a `str`, a blank node a `BNode` (a `str` subclass holding its label), a literal
a `Lit` (lexical form, language; the mapping reads lexical forms only, never datatypes). Objects of one subject
and predicate are kept in document order without duplicates (an RDF graph is a set).

Both parse paths end here: pyoxigraph's quads (`from_quads`) and, for documents only rdflib's lenient parser
reads, an rdflib Graph (`from_rdflib`), so there is one mapping code path.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, TypeGuard

if TYPE_CHECKING:
    from rdflib import Graph


class BNode(str):
    """A blank node, by its label (labels are only meaningful within one index)."""

    __slots__ = ()


class Lit(NamedTuple):
    """A literal: its lexical form and its language tag (None when untagged)."""

    value: str
    lang: str | None = None


Term = str | Lit  # an IRI (str), a BNode (str subclass) or a Lit
_EMPTY: dict[Any, Any] = {}


def is_iri(term: object) -> TypeGuard[str]:
    return type(term) is str


def text(term: Term) -> str:
    """The IRI, the blank node label or the literal's lexical form (what `str()` gave on rdflib terms)."""
    return term.value if type(term) is Lit else term  # type: ignore[union-attr,return-value]


class Index:
    """Triples of one document. Build with `add`, `from_quads` or `from_rdflib`; read like a small rdflib Graph."""

    __slots__ = ("spo", "_pos", "_len")

    def __init__(self) -> None:
        self.spo: dict[Term, dict[str, dict[Term, None]]] = {}  # subjects are IRIs and BNodes
        self._pos: dict[str, dict[Term, list[Term]]] = {}  # predicate → object → subjects, built on first use
        self._len: int | None = None

    def add(self, s: Term, p: str, o: Term) -> None:
        preds = self.spo.get(s)
        if preds is None:
            preds = self.spo[s] = {}
        objs = preds.get(p)
        if objs is None:
            preds[p] = {o: None}
        else:
            objs[o] = None
        self._len = None

    def __len__(self) -> int:
        if self._len is None:
            self._len = sum(len(objs) for preds in self.spo.values() for objs in preds.values())
        return self._len

    def __contains__(self, subject: object) -> bool:
        """Whether `subject` has any triple (rdflib's `(s, None, None) in graph`)."""
        return subject in self.spo

    def has(self, s: Term, p: str, o: Term) -> bool:
        return o in self.spo.get(s, _EMPTY).get(p, _EMPTY)

    def objects(self, s: Term, p: str) -> Collection[Term]:
        """The objects of (s, p) in document order (a read-only view: do not modify)."""
        return self.spo.get(s, _EMPTY).get(p, _EMPTY)

    def value(self, s: Term, p: str) -> Term | None:
        return next(iter(self.objects(s, p)), None)

    def predicate_objects(self, s: Term) -> Iterator[tuple[str, Term]]:
        for p, objs in self.spo.get(s, _EMPTY).items():
            for o in objs:
                yield p, o

    def subject_objects(self, p: str) -> Iterator[tuple[Term, Term]]:
        for s, preds in self.spo.items():
            objs = preds.get(p)
            if objs:
                for o in objs:
                    yield s, o

    def all_objects(self, p: str) -> Iterator[Term]:
        """Every object of predicate `p` (rdflib's `graph.objects(None, p)`)."""
        for _s, o in self.subject_objects(p):
            yield o

    def subjects(self, p: str, o: Term) -> list[Term]:
        """The subjects of (p, o), in document order."""
        by_obj = self._pos.get(p)
        if by_obj is None:
            by_obj = self._pos[p] = {}
            for s, obj in self.subject_objects(p):
                by_obj.setdefault(obj, []).append(s)
        return by_obj.get(o, [])

    @classmethod
    def from_quads(cls, quads: Iterable[Any], named: Any, blank: Any, literal: Any) -> Index:
        """An index of pyoxigraph quads (`named`, `blank`, `literal`: pyoxigraph's term classes).

        Each distinct pyoxigraph term is converted once per document; graph names are ignored (merged graph).
        Raises ValueError on RDF-star triple terms."""
        index = cls()
        spo = index.spo
        terms: dict[Any, Any] = {}
        # the subject of the quad before: RDF/XML and Turtle give a subject's triples together
        last: Any = None
        preds: dict[str, dict[Term, None]] = {}
        for quad in quads:
            s = quad.subject
            if s != last:
                last = s
                sk = terms.get(s)
                if sk is None:
                    sk = terms[s] = s.value if type(s) is named else _blank(s, blank)
                preds = spo.get(sk)  # type: ignore[assignment]
                if preds is None:
                    preds = spo[sk] = {}
            p = quad.predicate
            pk = terms.get(p)
            if pk is None:
                pk = terms[p] = p.value
            o = quad.object
            ok = terms.get(o)
            if ok is None:
                to = type(o)
                if to is named:
                    ok = o.value
                elif to is literal:
                    ok = Lit(o.value, o.language)
                else:
                    ok = _blank(o, blank)
                terms[o] = ok
            objs = preds.get(pk)
            if objs is None:
                preds[pk] = {ok: None}
            else:
                objs[ok] = None
        return index

    @classmethod
    def from_rdflib(cls, graph: Graph) -> Index:
        """An index of an rdflib Graph (the lenient fallback parser, CSW's DCAT records)."""
        from rdflib import BNode as RBNode
        from rdflib import Literal, URIRef

        def term(t: Any) -> Term:
            if isinstance(t, Literal):
                return Lit(str(t), t.language or None)
            if isinstance(t, URIRef):
                return str(t)
            if isinstance(t, RBNode):
                return BNode(str(t))
            raise ValueError(f"unsupported RDF term {t!r}")

        index = cls()
        for s, p, o in graph:
            index.add(term(s), str(p), term(o))
        return index


def _blank(term: Any, blank: Any) -> BNode:
    if type(term) is not blank:
        raise ValueError(f"unsupported RDF term {term!r}")  # RDF-star triple terms
    return BNode(term.value)
