"""Normalisation of what records are compared on: URLs, titles, publishers, territory tokens."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit

TRACKING = re.compile(r"^(utm_.*|fbclid|gclid|mc_[a-z]+|xtor|at_medium|at_campaign|_ga|ref|source)$")
_DOWNLOAD_TAIL = re.compile(r"/(download|telecharger|raw|content)/?$")
_WORD = re.compile(r"[a-z0-9]+")
_SLASHES = re.compile(r"/+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]+")
STOP = frozenset(
    "a au aux d de des du en et l la le les par pour sur un une the of and in for to on at by".split()
)
# Words that name the kind of publisher, not which one: "Mairie de X", "Commune de X", "Ville de X" are X.
PUBLISHER_NOISE = STOP | frozenset("mairie commune ville municipalite service services".split())
# Territory names a title may differ by (regions, large cities, usual qualifiers); capitalised words too.
TERRITORIES = frozenset(
    """
    auvergne rhone alpes bourgogne franche comte bretagne centre val loire corse grand est hauts france
    ile normandie nouvelle aquitaine occitanie pays provence cote azur guadeloupe martinique guyane reunion
    mayotte paris marseille lyon toulouse nice nantes montpellier strasbourg bordeaux lille rennes reims toulon
    grenoble dijon angers nimes aix brest limoges tours amiens metz besancon perpignan orleans rouen caen nancy
    avignon cannes antibes nord sud ouest alpes maritimes var vaucluse bouches herault gironde isere
    """.split()
)


def fold(text: str) -> str:
    """Lower case, accents removed, punctuation as spaces."""
    t = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in t if not unicodedata.combining(c))


@lru_cache(maxsize=200_000)
def words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(fold(text)))


def norm_title(title: str | None) -> str:
    return " ".join(words(title or ""))


def norm_publisher(publisher: str | None) -> str:
    return " ".join(w for w in words(publisher or "") if w not in PUBLISHER_NOISE)


def proper_tokens(title: str | None) -> frozenset[str]:
    """Folded words written with a capital after the first word, and known territory names."""
    raw = re.findall(r"[^\W\d_][\w'’-]*", title or "")
    out = {w for i, t in enumerate(raw) if i > 0 and t[:1].isupper() and not t.isupper() for w in words(t)}
    out |= {w for w in words(title or "") if w in TERRITORIES}
    return frozenset(w for w in out if w not in STOP)


# scheme (or none: `//host`), authority, path, query; the fragment is dropped
_URL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//([^/?#]*)([^?#]*)(?:\?([^#]*))?")


@lru_cache(maxsize=500_000)
def norm_url(url: str | None) -> str | None:
    """Scheme, `www.`, case of the host, trailing slashes, tracking parameters and `/download` tails removed."""
    if not url or not isinstance(url, str):
        return None
    m = _URL.match(url.strip())
    if m is None:
        return None
    host = m.group(1).rpartition("@")[2].lower()
    if not host:
        return None
    if not host.startswith("[") and ":" in host:  # a port (IPv6 literals are bracketed)
        host, _, port = host.rpartition(":")
        if port and port.isdigit() and int(port) not in (80, 443):
            host = f"{host}:{int(port)}"
    host = host.removeprefix("www.")
    path = _DOWNLOAD_TAIL.sub("", _SLASHES.sub("/", m.group(2))).rstrip("/")
    query = ""
    if m.group(3):
        query = urlencode(sorted((k, v) for k, v in parse_qsl(m.group(3)) if not TRACKING.match(k.lower())))
    return f"{host}{path}" + (f"?{query}" if query else "")


def host_of(url: str | None) -> str:
    if not url:
        return ""
    try:
        return (urlsplit(url if "://" in url else f"//{url}").hostname or "").lower().removeprefix("www.")
    except ValueError:
        return ""


def is_global_id(value: str) -> bool:
    """An id unique without its portal: a UUID, a URI, or a long opaque token (not `1`, not a slug)."""
    v = value.strip()
    if "://" in v:
        return True
    if _UUID.fullmatch(v):
        return True
    return len(v) >= 24 and bool(_HEX.fullmatch(v))


def norm_id(value: str) -> str:
    v = value.strip()
    if "://" in v:
        return norm_url(v) or v
    return v.lower().replace("-", "") if is_global_id(v) else v
