"""Field readers of the DCAT mapping: resources, licence, publisher, contact, dates, spatial, keywords, themes."""

from __future__ import annotations

import json
from collections import Counter

from harvester.connectors.dcat.rdf_index import BNode, Index, Lit, Term, is_iri, text
from harvester.connectors.dcat.rdf_terms import (
    ADMS,
    DCAT,
    DCT,
    FOAF,
    LOCN,
    RDF,
    SCHEMA,
    UUID,
    VCARD,
    best_literal,
    first,
    label,
    text_or_uri,
)
from harvester.connectors.html_text import html_to_text
from harvester.dates import parse_datetime
from harvester.licenses import normalise_license
from harvester.records import ResourceRef

_IANA = "https://www.iana.org/assignments/media-types/"
_DCT_UPDATED = DCT.updated  # not a DCMI term, but GeoNetwork's DCAT output uses it


def file_identifier(graph: Index, node: Term) -> str | None:
    """The GeoNetwork / ISO fileIdentifier behind a dataset, if the graph reveals it (cross-source merge key)."""
    texts: list[str] = []
    for rec in [*graph.objects(node, FOAF.isPrimaryTopicOf), *graph.subjects(FOAF.primaryTopic, node)]:
        texts += [text(o) for o in graph.objects(rec, DCT.identifier)]
        if is_iri(rec):
            texts.append(rec)
    if is_iri(node):
        texts.append(node)  # type: ignore[arg-type]
    texts += [t for o in graph.objects(node, DCT.relation) if "geonetwork" in (t := text(o)).lower()]
    for t in texts:
        m = UUID.search(t)
        if m and ("geonetwork" in t.lower() or m.group(0) == t.strip() or "/records/" in t):
            return m.group(0).lower()
    return None


def media(graph: Index, node: Term | None) -> str | None:
    found = text_or_uri(graph, node)
    if found and found.startswith(_IANA):
        return found[len(_IANA) :]
    return found


def format_of(graph: Index, node: Term | None) -> str | None:
    if node is None:
        return None
    if type(node) is Lit:
        return node.value.strip() or None
    name = label(graph, node)
    if name:
        return name
    if is_iri(node):
        iri: str = node  # type: ignore[assignment]
        if iri.startswith(_IANA):
            return iri[len(_IANA) :]
        return iri.rstrip("/").rsplit("/", 1)[-1] or iri
    return best_literal(graph, node, RDF.value)


def resource(graph: Index, dist: Term) -> ResourceRef | None:
    url = text_or_uri(graph, first(graph, dist, DCAT.downloadURL)) or text_or_uri(
        graph, first(graph, dist, DCAT.accessURL)
    )
    if not url:
        return None
    size = None
    raw_size = first(graph, dist, DCAT.byteSize)
    if raw_size is not None:
        try:
            size = int(float(text(raw_size)))
        except ValueError:
            size = None
    ident = best_literal(graph, dist, DCT.identifier)
    return ResourceRef(
        url=url,
        remote_id=ident or (dist if is_iri(dist) else None),  # type: ignore[arg-type]
        title=best_literal(graph, dist, DCT.title),
        description=best_literal(graph, dist, DCT.description),
        format=format_of(graph, first(graph, dist, DCT.format)),
        media_type=media(graph, first(graph, dist, DCAT.mediaType)),
        size_bytes=size,
        modified=parse_datetime(best_literal(graph, dist, DCT.modified)),
    )


def conforms_to(graph: Index, node: Term, dists: list[tuple[Term, ResourceRef | None]]) -> dict[str, str]:
    """Table Schemas declared by dct:conformsTo (harvester/tableschema.py): a distribution's always (its schema,
    in DCAT-AP 3), the dataset's only when the offline registry knows it (elsewhere it names INSPIRE specs).
    `dists`: each distribution with its resource (`resource()`), None when it has no URL."""
    from harvester.tableschema import SchemaRef, offline_schema

    out: dict[str, str] = {}
    per_dist: dict[str, dict[str, str]] = {}
    for dist, res in dists:
        target = first(graph, dist, DCT.conformsTo)
        if target is not None and res is not None and (url := text_or_uri(graph, target)):
            per_dist[res.url] = {"url": url}
    if per_dist:
        out["resource_schemas"] = json.dumps(per_dist, sort_keys=True)
    own = text_or_uri(graph, first(graph, node, DCT.conformsTo))
    if own and offline_schema(SchemaRef(None, own, None, "dct:conformsTo")) is not None:
        out["schema"] = json.dumps({"url": own})
    return out


def licence(graph: Index, node: Term, dists: list[Term]) -> str | None:
    """The dataset licence: dct:license of the dataset, then of its distributions (DCAT-AP puts it there), then
    dct:rights likewise. The first candidate that names a known licence wins, so an unknown link at the dataset
    level gives way to a known licence of the distributions; when none is known, the first candidate is kept."""
    candidates: list[str] = []
    for pred in (DCT.license, DCT.rights):
        own = first(graph, node, pred)
        if own is not None and (own_text := licence_text(graph, own)):
            candidates.append(own_text)
        found = Counter(t for d in dists for o in graph.objects(d, pred) if (t := licence_text(graph, o)))
        candidates += [t for t, _n in sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))]
    known = next((c for c in candidates if normalise_license(c)), None)
    return known or (candidates[0] if candidates else None)


def licence_text(graph: Index, node: Term) -> str | None:
    if type(node) is BNode:
        return label(graph, node) or best_literal(graph, node, DCT.description, DCT.identifier)
    return text_or_uri(graph, node)


_CONTACT_PREDS = (DCAT.contactPoint, ADMS.contactPoint, SCHEMA.contactPoint)
_EMAIL_PREDS = (VCARD.hasEmail, VCARD.email, SCHEMA.email, FOAF.mbox)


def contact_points(graph: Index, node: Term) -> list[Term]:
    """dcat:contactPoint, else the other spellings found in the field (adms:contactPoint, schema:contactPoint), in a
    stable order: URIs first, then blank nodes by their address and name (blank node ids change between parses)."""
    for pred in _CONTACT_PREDS:
        cps = list(graph.objects(node, pred))
        if cps:
            return sorted(
                cps,
                key=lambda cp: (
                    not is_iri(cp),
                    cp if is_iri(cp) else "",
                    _cp_email(graph, cp) or "",
                    _cp_name(graph, cp) or "",
                ),
            )
    return []


def _mail(graph: Index, value: Term) -> str | None:
    """An address from a mailto: IRI, a literal (`mailto: a@b`) or a vCard node holding one (vcard:value)."""
    found = text_or_uri(graph, value) if type(value) is not BNode else None
    if found is None and type(value) is BNode:
        found = text_or_uri(graph, first(graph, value, VCARD.value) or first(graph, value, RDF.value))
    if not found:
        return None
    found = found.strip()
    found = found[len("mailto:") :] if found.lower().startswith("mailto:") else found
    found = found.split("?", 1)[0].strip()
    return found if "@" in found else None


def _cp_email(graph: Index, cp: Term) -> str | None:
    for pred in _EMAIL_PREDS:
        for value in sorted(graph.objects(cp, pred), key=text):
            if mail := _mail(graph, value):
                return mail
    return None


def _cp_name(graph: Index, cp: Term) -> str | None:
    """vcard:fn (or another label), else the name of its vcard:org (GeoDCAT-AP)."""
    if name := label(graph, cp) or best_literal(graph, cp, SCHEMA.name):
        return name
    return next(
        (n for org in sorted(graph.objects(cp, VCARD.org), key=text) if (n := label(graph, org))), None
    )


def contact(graph: Index, node: Term) -> tuple[str | None, str | None]:
    """(name, e-mail) of one contact point: the first, in a stable order, that has an address (vcard:hasEmail IRI
    or literal, vcard:email, schema:email, foaf:mbox), else the first that has a name."""
    cps = contact_points(graph, node)
    for cp in cps:
        if mail := _cp_email(graph, cp):
            return _cp_name(graph, cp), mail
    return next(((n, None) for cp in cps if (n := _cp_name(graph, cp))), (None, None))


def email(graph: Index, node: Term) -> str | None:
    return contact(graph, node)[1]


def description(graph: Index, node: Term) -> str | None:
    """dct:description, else dct:abstract (GeoNetwork's DCAT output), HTML turned to text."""
    found = best_literal(graph, node, DCT.description, DCT.abstract)
    return html_to_text(found) or None if found else None


_DOCUMENTS = ((DCT.hasPart, "Attached document (dct:hasPart)"), (FOAF.page, "Documentation page (foaf:page)"))
_NOT_DOCUMENTS = (DCAT.Dataset, DCAT.DatasetSeries, DCAT.Distribution, DCAT.Catalog)


def documents(graph: Index, node: Term) -> list[ResourceRef]:
    """dct:hasPart attachments and foaf:page documentation pages, as resources whose description names the kind
    (`Attached document (dct:hasPart)`, `Documentation page (foaf:page)`) before their own description."""
    out: list[ResourceRef] = []
    for pred, kind in _DOCUMENTS:
        for doc in sorted(graph.objects(node, pred), key=text):
            if any(graph.has(doc, RDF.type, t) for t in _NOT_DOCUMENTS):
                continue
            url: str | None = doc if is_iri(doc) else None  # type: ignore[assignment]
            if url is None and type(doc) is BNode:
                url = text_or_uri(
                    graph, first(graph, doc, DCAT.downloadURL) or first(graph, doc, DCAT.accessURL)
                )
            if not url or not url.startswith(("http://", "https://", "ftp://")):
                continue
            own = best_literal(graph, doc, DCT.description)
            out.append(
                ResourceRef(
                    url=url,
                    remote_id=url,
                    title=best_literal(graph, doc, DCT.title) or label(graph, doc),
                    description=f"{kind}: {own}" if own else kind,
                    format=format_of(graph, first(graph, doc, DCT.format)),
                    media_type=media(graph, first(graph, doc, DCAT.mediaType)),
                    modified=parse_datetime(best_literal(graph, doc, DCT.modified)),
                )
            )
    return out


def spatial(graph: Index, node: Term) -> str | None:
    """The first dct:spatial (URIs first) that says something: a URI or text, else a location's geometry or
    name. DCAT-AP.de gives two blank-node locations (a geometry, a regional key): blank node labels change
    between parses, so the choice does not depend on them."""
    for obj in sorted(
        graph.objects(node, DCT.spatial), key=lambda o: (not is_iri(o), type(o) is BNode, text(o))
    ):
        if type(obj) is not BNode:
            found = text_or_uri(graph, obj)
        else:
            found = best_literal(graph, obj, LOCN.geometry, DCAT.bbox, DCAT.centroid) or label(graph, obj)
        if found:
            return found
    return None


def keywords(graph: Index, node: Term) -> tuple[str, ...]:
    lits = [o for o in graph.objects(node, DCAT.keyword) if type(o) is Lit and o.value.strip()]
    if any((lit.lang or "").lower().startswith("fr") for lit in lits):
        lits = [lit for lit in lits if not lit.lang or lit.lang.lower().startswith("fr")]
    return tuple(sorted({lit.value.strip() for lit in lits}))


def themes(graph: Index, node: Term) -> tuple[str, ...]:
    return tuple(
        sorted(
            {t for o in graph.objects(node, DCAT.theme) if (t := label(graph, o) or text_or_uri(graph, o))}
        )
    )


def modified(graph: Index, node: Term) -> str | None:
    own = best_literal(graph, node, DCT.modified, _DCT_UPDATED)
    if own:
        return own
    for rec in [*graph.objects(node, FOAF.isPrimaryTopicOf), *graph.subjects(FOAF.primaryTopic, node)]:
        if (when := best_literal(graph, rec, DCT.modified)) is not None:
            return when
    return None


def publisher(graph: Index, node: Term) -> str | None:
    """dct:publisher (its name, else its URI), else the organisation of the first contact point (GeoDCAT-AP)."""
    pub = first(graph, node, DCT.publisher)
    if pub is not None:
        return label(graph, pub) or text_or_uri(graph, pub)
    for cp in contact_points(graph, node):
        org = best_literal(graph, cp, VCARD["organization-name"], VCARD["organisation-name"])
        if org:
            return org
        for sub in sorted(graph.objects(cp, VCARD.org), key=text):
            if name := label(graph, sub):
                return name
    return None


_BAD_URI_CHARS = frozenset(' <>"{}|\\^`\t\r\n')


def valid_uri(node: Term) -> bool:
    """An IRI that can serve as an identity (GeoNetwork sometimes concatenates two URIs with a space)."""
    return is_iri(node) and bool(node) and _BAD_URI_CHARS.isdisjoint(node)  # type: ignore[arg-type]
