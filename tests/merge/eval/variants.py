"""How a copy of a record differs from its origin: titles, publishers and resource URLs as aggregators rewrite them.

Every function takes the generator's `random.Random`, so the set is reproducible.
"""

from __future__ import annotations

import random
import unicodedata
from urllib.parse import urlsplit, urlunsplit


def strip_accents(text: str) -> str:
    t = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFC", "".join(c for c in t if not unicodedata.combining(c)))


TITLE_KINDS = ("same", "upper", "lower", "noaccent", "punct", "spaces", "titlecase", "typo", "truncate")


def title_variant(rng: random.Random, title: str, kind: str | None = None) -> tuple[str, str]:
    """A re-cased / de-accented / re-punctuated title (words and numbers kept), and the kind applied."""
    kind = kind or rng.choice(TITLE_KINDS)
    if kind == "upper":
        return title.upper(), kind
    if kind == "lower":
        return title.lower(), kind
    if kind == "noaccent":
        return strip_accents(title), kind
    if kind == "punct":
        out = title.replace(" - ", " : ").replace("'", "’").replace(",", "")
        return (out if out != title else f"{title}."), kind
    if kind == "spaces":
        return f" {title.replace(' ', '  ', 2)} ", kind
    if kind == "titlecase":
        return title.title(), kind
    if kind == "typo":  # one letter dropped from the longest word (hand-typed copies)
        longest = max(title.split(), key=len, default="")
        if len(longest) >= 7:
            i = rng.randrange(1, len(longest) - 1)
            return title.replace(longest, longest[:i] + longest[i + 1 :], 1), kind
    if kind == "truncate" and len(title) > 50:  # a portal that cuts long titles
        return title[:45].rstrip() + "…", kind
    return title, "same"


def retitle(rng: random.Random, title: str, publisher: str | None) -> tuple[str, str]:
    """A retitled copy: the publisher's name appended or put in front (as aggregators and portals do)."""
    if not publisher:
        return title_variant(rng, title)
    kind = rng.choice(["suffix_publisher", "prefix_publisher"])
    if kind == "suffix_publisher":
        return f"{title} - {publisher}", kind
    return f"{publisher} : {title}", kind


def renamed_publisher(publisher: str | None) -> str | None:
    """The publisher under another name (its initials), which no normalisation can relate to the first."""
    if not publisher:
        return "Organisation inconnue"
    words = [w for w in publisher.replace("-", " ").split() if len(w) > 3]
    return "".join(w[0] for w in words).upper() or "ORG"


def publisher_variant(rng: random.Random, publisher: str | None) -> str | None:
    if not publisher:
        return publisher
    kind = rng.choice(("same", "upper", "noaccent", "mairie", "lower"))
    if kind == "upper":
        return publisher.upper()
    if kind == "lower":
        return publisher.lower()
    if kind == "noaccent":
        return strip_accents(publisher)
    if kind == "mairie":
        for a, b in (("Ville de ", "Mairie de "), ("Commune de ", "Mairie de "), ("Mairie de ", "Ville de ")):
            if publisher.startswith(a):
                return b + publisher[len(a) :]
    return publisher


URL_KINDS = ("scheme", "www", "slash", "utm", "download", "scheme+utm", "same")


def url_variant(rng: random.Random, url: str, kind: str | None = None) -> str:
    """The same file behind another spelling of its URL (what `norm_url` must see through)."""
    kind = kind or rng.choice(URL_KINDS)
    parts = urlsplit(url)
    scheme, host, path, query = parts.scheme, parts.netloc, parts.path, parts.query
    if "scheme" in kind:
        scheme = "http" if scheme == "https" else "https"
    if kind == "www" and not host.startswith("www."):
        host = f"www.{host}"
    if kind == "slash" and not path.endswith("/"):
        path = f"{path}/"
    if kind == "download":
        path = f"{path.rstrip('/')}/download"
    if "utm" in kind:
        extra = "utm_source=datagouv&utm_medium=harvest"
        query = f"{query}&{extra}" if query else extra
    return urlunsplit((scheme, host, path, query, ""))
