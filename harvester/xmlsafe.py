"""Safe XML parsing: no external entities, no DTD loading, no entity expansion, no network.

Every XML document harvester reads (CSW responses, RDF/XML catalogues) comes from a server we do not control,
so it goes through this module. Two independent defences:

1. **Prolog check, before any parser runs** (`check_prolog`). The document type declaration can only appear
   in the prolog, before the root element, so the prolog is scanned (after decoding a UTF-16/32 byte order mark)
   and a `<!DOCTYPE` that declares entities (`<!ENTITY`, the billion-laughs and XXE vectors) or names an
   external DTD (`SYSTEM` / `PUBLIC`) is refused with the error class given (SourceError for a whole
   document, RecordError for one record), naming the URL. A bare `<!DOCTYPE root>` is accepted. Refusing entity
   declarations outright is what defusedxml does by default (`forbid_entities`); data catalogues never need them.
2. **A locked-down lxml parser** (`parse_xml`): `resolve_entities=False`, `load_dtd=False`, `no_network=True`,
   `huge_tree=False` (libxml2's limits stay on: nesting depth `XML_MAX_DEPTH` = 256, one text node 10 MB, one
   name 50,000 characters). Even if the prolog check were bypassed, entities would be left unexpanded and nothing
   would be fetched. A document nested deeper than 256 levels is refused as such ("XML nested deeper than 256
   levels"), before a tree is built.

rdflib parses RDF/XML through `xml.sax` (expat). Python's expat reader does not fetch external general entities
by default, and expat ≥ 2.4 limits entity amplification, but rdflib offers no switch for internal entity
expansion, so `harvester.connectors.dcat.parse` calls `check_prolog` on every RDF/XML body before handing it to
rdflib: a document with entity declarations or an external DTD never reaches expat. expat has no nesting limit,
so `check_prolog` also runs libxml2 over the body without building anything (`check_depth`, ~15 ms per MB) and
refuses a document nested deeper than `XML_MAX_DEPTH`.

HTML served where XML is expected (a portal's error page, a login wall) is recognised by `looks_like_html`
and reported as such, rather than as an obscure syntax error.
"""

from __future__ import annotations

import re

from lxml import etree

from harvester.errors import HarvesterError, SourceError

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
XML_MAX_DEPTH = 256  # libxml2's own limit without huge_tree (lxml's default), applied to every XML body
_PROLOG_SCAN = 1 << 20  # a prolog longer than 1 MiB is itself refused
_DOCTYPE = re.compile(r"<!DOCTYPE", re.IGNORECASE)
_EXTERNAL_ID = re.compile(r"<!DOCTYPE\s+[^\s\[>]+\s+(SYSTEM|PUBLIC)\b", re.IGNORECASE)


def _head_text(content: bytes, limit: int) -> str:
    """The first `limit` bytes as text, good enough to read markup (which is ASCII in every encoding used)."""
    head = content[:limit]
    for bom, enc in _BOMS:
        if head.startswith(bom):
            return head[len(bom) :].decode(enc, "replace")
    if head[:4] in (b"\x00<\x00?", b"<\x00?\x00"):  # UTF-16 without BOM
        return head.decode("utf-16-be" if head[0] == 0 else "utf-16-le", "replace")
    return head.decode("latin-1")


def _prolog(text: str) -> tuple[str | None, bool]:
    """Return (the DOCTYPE declaration if any, whether the root element was reached within the text)."""
    pos = 0
    n = len(text)
    while pos < n:
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        if text.startswith("<?", pos):
            end = text.find("?>", pos)
            if end < 0:
                return None, False
            pos = end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos)
            if end < 0:
                return None, False
            pos = end + 3
        elif _DOCTYPE.match(text, pos):
            # The declaration ends at the first '>' outside the internal subset [ ... ].
            depth = 0
            i = pos
            while i < n:
                c = text[i]
                if c == "[":
                    depth += 1
                elif c == "]":
                    depth = max(0, depth - 1)
                elif c == ">" and depth == 0:
                    return text[pos : i + 1], True
                i += 1
            return text[pos:], False
        else:
            return None, True
    return None, pos < n


def check_prolog(
    content: bytes,
    *,
    url: str | None = None,
    source_id: str | None = None,
    remote_id: str | None = None,
    error: type[HarvesterError] = SourceError,
) -> None:
    """Refuse a document whose DOCTYPE declares entities or references an external DTD, or nested too deeply."""
    _check_doctype(content, url=url, source_id=source_id, remote_id=remote_id, error=error)
    check_depth(content, url=url, source_id=source_id, remote_id=remote_id, error=error)


class _NoTree:
    """An lxml parser target that builds nothing: libxml2 still checks the syntax and the nesting depth."""

    def close(self) -> None:
        return None


def _depth_message() -> str:
    return f"XML nested deeper than {XML_MAX_DEPTH} levels (refused)"


def check_depth(
    content: bytes,
    *,
    url: str | None = None,
    source_id: str | None = None,
    remote_id: str | None = None,
    error: type[HarvesterError] = SourceError,
) -> None:
    """Refuse a document nested deeper than `XML_MAX_DEPTH`; other syntax errors are left to the real parser.

    Without a tree libxml2 lets one more level through (257): the limit is its own, not counted again here.
    """
    parser = etree.XMLParser(
        target=_NoTree(), resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False
    )
    try:
        etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        if "Excessive depth" in str(exc):
            raise error(_depth_message(), url=url, source_id=source_id, remote_id=remote_id) from exc


def _check_doctype(
    content: bytes,
    *,
    url: str | None,
    source_id: str | None,
    remote_id: str | None,
    error: type[HarvesterError],
) -> None:
    text = _head_text(content, _PROLOG_SCAN)
    if "<!" not in text[:_PROLOG_SCAN]:
        return
    doctype, reached_root = _prolog(text)
    if doctype is None:
        if not reached_root and len(content) > _PROLOG_SCAN:
            raise error(
                "XML prolog longer than 1 MiB: refused", url=url, source_id=source_id, remote_id=remote_id
            )
        return
    if "<!ENTITY" in doctype.upper():
        raise error(
            "XML document declares entities in its DOCTYPE (possible XXE or entity-expansion attack): refused",
            url=url,
            source_id=source_id,
            remote_id=remote_id,
        )
    if _EXTERNAL_ID.match(doctype):
        if re.match(r"<!DOCTYPE\s+html\b", doctype, re.IGNORECASE):
            raise error(_html_message(), url=url, source_id=source_id, remote_id=remote_id, hint=_HTML_HINT)
        raise error(
            "XML document references an external DTD (never loaded): refused",
            url=url,
            source_id=source_id,
            remote_id=remote_id,
        )


_HTML_HINT = "the URL may point at a web page rather than the API, or the portal answered with an error page"


def _html_message() -> str:
    return "expected XML but got an HTML page"


def looks_like_html(content: bytes, content_type: str | None = None) -> bool:
    """True for an HTML page (by Content-Type or by its first tag)."""
    if content_type and content_type.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
        return True
    head = _head_text(content, 4096).lstrip().lower()
    head = re.sub(r"^(<\?.*?\?>\s*|<!--.*?-->\s*)*", "", head, flags=re.DOTALL)
    return head.startswith("<!doctype html") or head.startswith("<html")


def safe_parser() -> etree.XMLParser:
    """An lxml parser that never expands entities, never loads a DTD and never touches the network."""
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        collect_ids=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(
    content: bytes,
    *,
    url: str | None = None,
    source_id: str | None = None,
    remote_id: str | None = None,
    content_type: str | None = None,
    error: type[HarvesterError] = SourceError,
) -> etree._Element:
    """Parse untrusted XML bytes into an lxml element; every failure is `error` naming the URL.

    Empty bodies, HTML pages, hostile DOCTYPEs, truncated and malformed documents are all reported clearly.
    """
    if not content.strip():
        raise error(
            "empty response where XML was expected", url=url, source_id=source_id, remote_id=remote_id
        )
    if looks_like_html(content, content_type):
        raise error(_html_message(), url=url, source_id=source_id, remote_id=remote_id, hint=_HTML_HINT)
    _check_doctype(content, url=url, source_id=source_id, remote_id=remote_id, error=error)
    try:
        root = etree.fromstring(content, safe_parser())
    except etree.XMLSyntaxError as exc:
        if "Excessive depth" in str(exc):
            raise error(_depth_message(), url=url, source_id=source_id, remote_id=remote_id) from exc
        raise error(
            f"malformed or truncated XML: {exc}", url=url, source_id=source_id, remote_id=remote_id
        ) from exc
    if root is None:
        raise error("no XML root element", url=url, source_id=source_id, remote_id=remote_id)
    docinfo = root.getroottree().docinfo
    dtd = docinfo.internalDTD
    if docinfo.system_url or (dtd is not None and any(True for _ in dtd.iterentities())):
        # Unreachable after check_prolog; kept as a second line of defence.
        raise error(
            "XML document has a DTD with entities or an external DTD: refused",
            url=url,
            source_id=source_id,
            remote_id=remote_id,
        )
    return root
