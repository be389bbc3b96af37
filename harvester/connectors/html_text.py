"""HTML descriptions and abstracts as plain text, paragraphs and line breaks kept (parsed with lxml.html).

Portals put HTML in `dct:description` / `dct:abstract` (CKAN, GeoNetwork, ArcGIS Hub). The catalogue keeps text:
block elements (paragraphs, headings, list items, table rows) become paragraphs separated by a blank line,
`<br>` a line break; inline markup is dropped, entities decoded. Plain text (no tag) is returned unchanged, so a
description that merely contains `a < b` is not touched.
"""

from __future__ import annotations

import re

from lxml import etree, html

_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>|&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
_BLOCKS = frozenset(
    "p div h1 h2 h3 h4 h5 h6 li ul ol dl dt dd tr table blockquote pre section article header footer".split()
)
_DROP = ("script", "style", "head", "title")


def looks_like_html(value: str) -> bool:
    """A tag or an entity: something an HTML parser should read."""
    return bool(_TAG.search(value))


def html_to_text(value: str) -> str:
    """The text of an HTML fragment; paragraphs separated by blank lines, `<br>` kept as a line break."""
    if not looks_like_html(value):
        return value.strip()
    try:
        root = html.fragment_fromstring(value, create_parent="div")
    except (etree.ParserError, ValueError):
        return value.strip()
    etree.strip_elements(root, *_DROP, with_tail=False)
    for el in root.iter():
        if not isinstance(el.tag, str):  # comments, processing instructions
            continue
        tag = el.tag.lower()
        if tag == "br":
            el.tail = "\n" + (el.tail or "")
        elif tag in _BLOCKS and el is not root:
            el.text = "\n\n" + (el.text or "")
            el.tail = "\n\n" + (el.tail or "")
    text = root.text_content().replace("\xa0", " ")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
