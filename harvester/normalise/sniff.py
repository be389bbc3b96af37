"""Which resources are tables, and what a downloaded file really is (HTML error pages, ZIP, OLE2, JSON...)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from harvester.errors import RecordError

# normalised resource formats → kind of reader
FORMAT_KINDS = {
    "CSV": "csv",
    "TSV": "csv",
    "TXT": "csv",
    "XLSX": "spreadsheet",
    "XLS": "spreadsheet",
    "ODS": "spreadsheet",
    "JSON": "json",
    "GEOJSON": "geojson",
    "ZIP": "zip",
    # live API feeds, read by harvester/normalise/feeds.py
    "SENSORTHINGS": "sensorthings",
    "NGSI-LD": "ngsi",
    "NGSIV2": "ngsi",
}
EXTENSION_KINDS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "spreadsheet",
    ".xls": "spreadsheet",
    ".ods": "spreadsheet",
    ".json": "json",
    ".geojson": "geojson",
    ".zip": "zip",
}
_URL_HINTS = (
    (re.compile(r"[?&](format|_format|outputformat)=(csv|tsv)\b", re.I), "csv"),
    (re.compile(r"[?&](format|_format|outputformat)=(geojson|application/(geo\+)?json)\b", re.I), "geojson"),
    (re.compile(r"[?&](format|_format|outputformat)=(xlsx|xls|ods)\b", re.I), "spreadsheet"),
    (re.compile(r"/exports?/csv\b", re.I), "csv"),  # OpenDataSoft exports
    (re.compile(r"/exports?/geojson\b", re.I), "geojson"),
    (re.compile(r"/exports?/xlsx\b", re.I), "spreadsheet"),
)
_HTML = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body|<\?xml[^>]*>\s*<!doctype\s+html)", re.I)
SNIFF_BYTES = 64 * 1024


def resource_kind(fmt: str | None, url: str | None) -> str | None:
    """The reader for a catalogue resource (from its normalised format, then its URL), or None if not a table."""
    if fmt and fmt.upper() in FORMAT_KINDS:
        return FORMAT_KINDS[fmt.upper()]
    if not url:
        return None
    path = unquote(urlsplit(url).path).lower()
    for ext, kind in EXTENSION_KINDS.items():
        if path.endswith(ext):
            return kind
    for rx, kind in _URL_HINTS:
        if rx.search(url):
            return kind
    return None


def sniff_kind(path: Path, declared: str, *, url: str) -> str:
    """What the downloaded bytes are; raises RecordError for HTML pages, empty files and NUL-filled text.

    The content wins over the declared format: a `.csv` link that serves an XLSX file is read as a spreadsheet.
    """
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head.strip():
        raise RecordError("the file is empty", url=url)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        if b"mimetype" in head[:100] and b"opendocument.spreadsheet" in head[:200]:
            return "spreadsheet"
        if b"[Content_Types].xml" in head or b"xl/" in head:
            return "spreadsheet"
        return "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # OLE2: legacy .xls
        return "spreadsheet"
    if head.startswith(b"\x1f\x8b"):
        raise RecordError("the file is gzip-compressed, which is not supported here", url=url)
    text = head.lstrip(b"\xef\xbb\xbf")
    if _HTML.match(text):
        raise RecordError(
            "the server sent an HTML page instead of a table (an error or login page?)",
            url=url,
            hint="open the URL in a browser; the portal may have moved or removed the file",
        )
    utf16 = text.startswith((b"\xff\xfe", b"\xfe\xff"))
    nuls = text.count(b"\x00")
    if not utf16 and nuls > len(text) // 10:
        raise RecordError(
            f"the file is binary ({nuls} NUL bytes in the first {len(text)}), not a text table",
            url=url,
        )
    first = text.lstrip()[:1]
    if declared in ("json", "geojson") or first in (b"[", b"{"):
        if first in (b"[", b"{"):
            sample = text[:4096]
            if re.search(rb'"type"\s*:\s*"(FeatureCollection|Feature)"', sample):
                return "geojson"
            return "json"
        if declared in ("json", "geojson"):
            raise RecordError(
                f"expected {declared.upper()} but the file does not start with [ or {{", url=url
            )
    return "csv" if declared in ("zip", "spreadsheet") else declared
