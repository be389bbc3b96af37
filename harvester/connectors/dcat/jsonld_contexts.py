"""JSON-LD documents read offline: remote `@context` URLs resolved from copies shipped in `harvester/data/jsonld/`.

A JSON-LD catalogue may name its context by URL (DCAT-US 1.1 `data.json`, DCAT-AP 3, schema.org). Fetching it at
run time would make parsing depend on a third-party site (and let a document make the harvester request any URL),
so the contexts the field uses are shipped with their provenance (`harvester/data/jsonld/PROVENANCE.md`) and
looked up here; any other remote context is refused by the caller.

A DCAT-US 1.1 catalogue without `@context` (many `data.json` files omit it) is given the DCAT-US one, so that it
reads as DCAT rather than as a JSON document without a single triple.

Expansion is PyLD's (full JSON-LD 1.1: type-scoped contexts of the DCAT-AP 3 examples, `@graph`, `@base`), with
a document loader that only serves the shipped contexts; the N-Quads it produces are loaded by pyoxigraph.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from pyld import jsonld

from harvester.connectors.dcat.rdf_fast import parse_fast
from harvester.connectors.dcat.rdf_index import Index
from harvester.errors import SourceError

DCAT_US_CONTEXT = "https://project-open-data.cio.gov/v1.1/schema/catalog.jsonld"
_SCHEMA_ORG = "schemaorg-30.0.jsonld"
# published URL (without scheme, `www.` or trailing `/`) -> shipped file
_FILES = {
    "project-open-data.cio.gov/v1.1/schema/catalog.jsonld": "dcat-us-1.1-catalog.jsonld",
    "semiceu.github.io/DCAT-AP/releases/3.0.0/context/dcat-ap.jsonld": "dcat-ap-3.0.0.jsonld",
    "semiceu.github.io/DCAT-AP/releases/3.0.1/context/dcat-ap.jsonld": "dcat-ap-3.0.1.jsonld",
    "semiceu.github.io/uri.semic.eu-generated/DCAT-AP/releases/3.0.0/html/examples/context.jsonld": (
        "dcat-ap-3.0.0-examples.jsonld"
    ),
    "schema.org": _SCHEMA_ORG,
    "schema.org/docs/jsonldcontext.jsonld": _SCHEMA_ORG,
    "schema.org/docs/jsonldcontext.json": _SCHEMA_ORG,
}
_DCAT_US_SCHEMA = "project-open-data.cio.gov/v1.1/schema"


def _key(url: str) -> str:
    text = url.strip().split("#", 1)[0]
    for scheme in ("https://", "http://"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
            break
    host, _, path = text.partition("/")
    host = host.lower().removeprefix("www.")
    return f"{host}/{path}".rstrip("/")


@cache
def _load(filename: str) -> Any:
    text = resources.files("harvester").joinpath(f"data/jsonld/{filename}").read_text(encoding="utf-8")
    return json.loads(text)["@context"]


def local_context(url: str) -> Any | None:
    """The shipped context published at `url` (its `@context` value), or None for an unknown URL."""
    filename = _FILES.get(_key(url))
    return _load(filename) if filename else None


def known_contexts() -> list[str]:
    """The context URLs resolved offline (for messages and documentation)."""
    return sorted(f"https://{k}" for k in _FILES)


def is_dcat_us(doc: Any) -> bool:
    """A DCAT-US 1.1 catalogue (`data.json`): conformsTo the POD 1.1 schema, or the DCAT-US context."""
    if not isinstance(doc, dict) or not isinstance(doc.get("dataset"), list):
        return False
    marks = [doc.get("conformsTo"), doc.get("@context"), doc.get("describedBy")]
    return any(isinstance(m, str) and _DCAT_US_SCHEMA in m for m in marks)


def with_dcat_us_context(doc: Any) -> Any:
    """A DCAT-US catalogue that names no context gets the DCAT-US 1.1 one; any other document is unchanged."""
    if is_dcat_us(doc) and "@context" not in doc:
        return {"@context": DCAT_US_CONTEXT, **doc}
    return doc


def _resolve(obj: Any, url: str, source_id: str | None) -> Any:
    """Every `@context` of the document with its remote references replaced by the shipped copies."""
    if isinstance(obj, list):
        return [_resolve(x, url, source_id) for x in obj]
    if not isinstance(obj, dict):
        return obj
    return {
        k: _context(v, url, source_id) if k == "@context" else _resolve(v, url, source_id)
        for k, v in obj.items()
    }


def _context(value: Any, url: str, source_id: str | None) -> Any:
    if isinstance(value, list):
        return [_context(v, url, source_id) for v in value]
    if isinstance(value, str):
        local = local_context(value)
        if local is not None:
            return local
        raise SourceError(
            f"JSON-LD document refers to the remote @context {value!r}, which is never fetched "
            f"(contexts read offline: {', '.join(known_contexts())})",
            url=url,
            source_id=source_id,
            hint="ask the portal for RDF/XML or Turtle, or add a copy of that context to harvester/data/jsonld/",
        )
    if isinstance(value, dict):
        if "@import" in value:
            raise SourceError("JSON-LD @import contexts are not supported", url=url, source_id=source_id)
        return _resolve(value, url, source_id)  # scoped contexts inside term definitions
    return value


def _refuse(url: str, options: Any = None) -> Any:
    """PyLD's document loader: every remote document was replaced beforehand, anything else is refused."""
    raise jsonld.JsonLdError(
        f"remote document {url!r} is never fetched", "loading document failed", code="loading document failed"
    )


def parse_jsonld(content: bytes, base_url: str, *, source_id: str | None = None) -> Index:
    """A JSON-LD document as a triple index, with no network access. Raises SourceError naming `base_url`."""
    try:
        doc = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"malformed JSON-LD: {exc}", url=base_url, source_id=source_id) from exc
    doc = _resolve(with_dcat_us_context(doc), base_url, source_id)
    try:
        nquads = jsonld.to_rdf(
            doc, {"format": "application/n-quads", "base": base_url, "documentLoader": _refuse}
        )
    except Exception as exc:  # PyLD raises JsonLdError, and TypeError/KeyError on malformed documents
        raise SourceError(
            f"cannot read JSON-LD: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
            url=base_url,
            source_id=source_id,
        ) from exc
    graph = parse_fast(nquads.encode(), "nquads", base_url)
    if graph is None:
        raise SourceError("cannot load the JSON-LD triples", url=base_url, source_id=source_id)
    return graph
