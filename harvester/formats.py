"""Resource format normalisation: the ``format`` column of resources.parquet (CSV, JSON, GEOJSON, SHP, WMS...).

Evidence is read in order: the declared format, then the media type, then the URL (path extension, format
hints in the query string, OpenDataSoft ``/exports/<fmt>`` and ArcGIS Hub ``/download/.../<fmt>`` paths, OGC and
ArcGIS REST service URLs). A generic declared format (JSON, ZIP, XML) is refined when the media type or the
URL names a more specific one (GEOJSON, SHP, KML...). The table is ``harvester/data/formats.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from urllib.parse import parse_qsl, unquote, urlsplit

# media types that say nothing about the format
_GENERIC_MEDIA = {
    "application/octet-stream",
    "binary/octet-stream",
    "application/binary",
    "application/x-download",
    "application/force-download",
    "application/download",
    "application/unknown",
    "application/data",
}
_WEAK_MEDIA = {"text/plain": "TXT"}  # used only when the URL says nothing better
# declared values that are not formats: look further, and use the default only if nothing else is found
_WEAK_DECLARED = {
    "www:link": "HTML",
    "www:download": None,
    "www:ftp": None,
    "download": None,
    "telechargement": None,
    "link": None,
    "lien": None,
    "file": None,
    "fichier": None,
    "data": None,
    "donnees": None,
    "image": None,
    "document": None,
    "other": None,
    "autre": None,
    "binary": None,
    "unknown": None,
}
_COMPRESSION = {"gz", "bz2", "xz", "zst"}
_QUERY_KEYS = {"format", "outputformat", "f", "_format", "output_format", "fmt", "export"}
_OGC_SERVICES = {"wms", "wfs", "wmts", "wcs", "csw"}
_EXPORT_PARENTS = {"exports", "export", "download", "downloads", "telechargement"}
_TOKEN_RE = re.compile(r"^[a-z0-9][a-z0-9 ._+-]{0,23}$", re.IGNORECASE)
_MEDIA_RE = re.compile(r"^[a-z]+/[a-z0-9][a-z0-9.+_-]*$")


@dataclass(frozen=True)
class FormatTable:
    media_type: dict[str, str]  # format -> canonical media type
    by_alias: dict[str, str]
    by_extension: dict[str, str]
    by_media: dict[str, str]
    refined_by: dict[str, frozenset[str]]


@lru_cache(maxsize=1)
def load_formats() -> FormatTable:
    """Read and index ``harvester/data/formats.json`` (cached). Raises ValueError on a conflicting spelling."""
    raw = json.loads(resources.files("harvester").joinpath("data/formats.json").read_text(encoding="utf-8"))
    media_type: dict[str, str] = {}
    by_alias: dict[str, str] = {}
    by_extension: dict[str, str] = {}
    by_media: dict[str, str] = {}
    refined: dict[str, frozenset[str]] = {}
    for fmt, entry in raw["formats"].items():
        media_type[fmt] = entry["media_type"]
        for alias in [fmt, *entry["aliases"]]:
            _put(by_alias, _declared_key(alias), fmt)
        for ext in entry["extensions"]:
            _put(by_extension, ext.lower(), fmt)
        for media in entry["media_types"]:
            _put(by_media, media.lower(), fmt)
        refined[fmt] = frozenset(entry.get("refined_by", []))
    return FormatTable(media_type, by_alias, by_extension, by_media, refined)


def _put(index: dict[str, str], key: str, fmt: str) -> None:
    if index.get(key, fmt) != fmt:
        raise ValueError(f"formats.json: {key!r} names both {index[key]!r} and {fmt!r}")
    index[key] = fmt


def _declared_key(value: str) -> str:
    text = value.strip().strip("\"'").lower().lstrip(".")
    text = re.sub(r"\b(file|fichier|format|data|donnees|données)\b", " ", text) if " " in text else text
    return " ".join(text.replace("_", " ").split())


def media_type_for(fmt: str | None) -> str | None:
    """Canonical media type of a normalised format (``CSV`` -> ``text/csv``), None if unknown."""
    if not fmt:
        return None
    return load_formats().media_type.get(fmt.strip().upper())


def _media_key(media_type: str) -> str:
    media = media_type.strip().lower().split(";", 1)[0].strip()
    if "/media-types/" in media:  # https://www.iana.org/assignments/media-types/text/csv
        media = media.split("/media-types/", 1)[1]
    return media


@lru_cache(maxsize=4096)  # formats repeat across records: memoised on the input
def format_from_media_type(media_type: str | None) -> str | None:
    """Format named by a media type (parameters and IANA URL prefixes ignored); None for generic ones."""
    if not media_type:
        return None
    media = _media_key(media_type)
    if media in _GENERIC_MEDIA:
        return None
    return load_formats().by_media.get(media)


def format_from_url(url: str | None) -> str | None:
    """Format named by a URL: query hints, OGC / ArcGIS service, export path segment, or path extension."""
    if not url:
        return None
    table = load_formats()
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    query = {k.lower(): v for k, v in parse_qsl(parts.query, keep_blank_values=False)}
    for key in _QUERY_KEYS:
        if key in query:
            found = _from_hint(query[key])
            if found:
                return found
    service = query.get("service", "").lower()
    if service in _OGC_SERVICES:
        return service.upper()
    if query.get("request", "").lower() == "getmap":
        return "WMS"
    segments = [unquote(s) for s in parts.path.split("/") if s]
    lowered = [s.lower() for s in segments]
    if "wmsserver" in lowered:
        return "WMS"
    if "rest" in lowered and {"featureserver", "mapserver", "imageserver"} & set(lowered):
        return "ESRI REST"
    if not segments:
        return None
    last = lowered[-1]
    if "." in last:
        stem, _, ext = last.rpartition(".")
        if ext in _COMPRESSION and "." in stem:  # data.csv.gz -> CSV
            ext = stem.rpartition(".")[2]
        if ext in table.by_extension:
            return table.by_extension[ext]
    parent = lowered[-2] if len(lowered) > 1 else ""
    if parent in _EXPORT_PARENTS or "items" in lowered[:-1] or last in _OGC_SERVICES:
        return table.by_alias.get(_declared_key(last))
    return None


def _from_hint(value: str) -> str | None:
    hint = value.strip().lower()
    return format_from_media_type(hint) if "/" in hint else load_formats().by_alias.get(_declared_key(hint))


def _from_protocol(declared: str) -> tuple[bool, str | None]:
    """(recognised, format) for CSW / GeoNetwork protocol names such as ``OGC:WMS-1.1.1-http-get-map``."""
    match = re.match(r"^(ogc|esri|www|ogc api|file|db)\s*:\s*([a-z0-9 -]*)", declared.strip().lower())
    if not match:
        return False, None
    family, rest = match.group(1), match.group(2)
    head = rest.split("-", 1)[0].strip()
    if family == "www":
        return True, None  # weak: handled by _WEAK_DECLARED
    if family == "esri":
        return True, "ESRI REST"
    if family == "ogc":
        return True, load_formats().by_alias.get(head)
    return True, load_formats().by_alias.get(head) if head else None


@lru_cache(maxsize=4096)  # formats repeat across records: memoised on the input
def _from_declared(declared: str) -> str | None:
    table = load_formats()
    text = declared.strip()
    lowered = text.lower()
    if lowered.startswith(("http://", "https://")):
        if "/media-types/" in lowered:
            return format_from_media_type(lowered)
        tail = lowered.rstrip("/").rsplit("/", 1)[-1]
        return table.by_alias.get(_declared_key(tail)) or format_from_media_type("application/" + tail)
    if _MEDIA_RE.match(lowered.split(";", 1)[0].strip()) and format_from_media_type(lowered):
        return format_from_media_type(lowered)
    recognised, fmt = _from_protocol(text)
    if recognised:
        return fmt
    key = _declared_key(text)
    if key in table.by_alias:
        return table.by_alias[key]
    for suffix in _COMPRESSION:  # csv.gz
        if key.endswith("." + suffix) and key[: -len(suffix) - 1] in table.by_alias:
            return table.by_alias[key[: -len(suffix) - 1]]
    inner = re.search(r"\(([^)]*)\)", key)  # "esri shapefile (shp)"
    if inner and _declared_key(inner.group(1)) in table.by_alias:
        return table.by_alias[_declared_key(inner.group(1))]
    outer = _declared_key(re.sub(r"\([^)]*\)", " ", key))
    if outer in table.by_alias:
        return table.by_alias[outer]
    words = re.split(r"[\s/,;|]+", key)
    if len(words) > 4:  # free text, not a format name
        return None
    named = {table.by_alias[w] for w in words if w in table.by_alias}
    return named.pop() if len(named) == 1 else None


@lru_cache(maxsize=4096)  # formats repeat across records: memoised on the input
def _weak_default(declared: str) -> tuple[bool, str | None]:
    lowered = declared.strip().lower()
    for prefix, default in _WEAK_DECLARED.items():
        if lowered == prefix or (":" in prefix and lowered.startswith(prefix)):
            return True, default
    return False, None


def normalise_format(
    declared: str | None, media_type: str | None = None, url: str | None = None
) -> str | None:
    """Upper-case format name from the declared format, else the media type, else the URL.

    Unknown everywhere: the declared string upper-cased if it is a short token (``"R package"`` -> ``"R PACKAGE"``),
    else None.
    """
    declared = (declared or "").strip()
    known, answer, refined = _without_url(declared, media_type)
    if known:
        return answer
    from_url = format_from_url(url)
    if refined:  # the declared format, unless the URL names one that refines it
        return from_url if from_url in refined else answer
    if from_url:
        return from_url
    return _after_url(declared, media_type)


@lru_cache(maxsize=4096)  # declared formats and media types repeat across records; URLs never do
def _without_url(declared: str, media_type: str | None) -> tuple[bool, str | None, frozenset[str]]:
    """(answer known without the URL, that answer or the declared format, the formats the URL may refine it to)."""
    table = load_formats()
    weak = _weak_default(declared)[0] if declared else False
    from_declared = None if weak or not declared else _from_declared(declared)
    from_media = format_from_media_type(media_type)
    if from_declared:  # the URL is only read when it could refine the declared format
        refined = table.refined_by.get(from_declared, frozenset())
        if from_media in refined:
            return True, from_media, frozenset()
        return (False, from_declared, refined) if refined else (True, from_declared, frozenset())
    if from_media:
        return True, from_media, frozenset()
    return False, None, frozenset()


def _after_url(declared: str, media_type: str | None) -> str | None:
    weak, weak_default = _weak_default(declared) if declared else (False, None)
    if weak:
        return weak_default
    for media in (_media_key(media_type or ""), _media_key(declared)):
        if media in _WEAK_MEDIA:
            return _WEAK_MEDIA[media]
    if declared and _TOKEN_RE.match(declared) and len(declared.split()) <= 3:
        return " ".join(declared.upper().split())
    return None
