"""Sniff how a CSV file is written: encoding, delimiter, quoting, title lines, header row(s), where data starts."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import charset_normalizer

from harvester.errors import RecordError
from harvester.normalise import rules, textcodec

HEAD_BYTES = 1 << 20  # sniff on the first MiB...
MAX_HEAD_BYTES = 8 << 20  # ...or more when records are huge (long multi-line quoted texts)
MIN_RECORDS = 30
DELIMITERS = (";", ",", "\t", "|")
_BINARY_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (or XLSX/ODS)",
    b"\x1f\x8b": "a gzip-compressed file",
    b"%PDF": "a PDF document",
    b"\xd0\xcf\x11\xe0": "an OLE2 file (XLS/DOC)",
    b"PAR1": "a Parquet file",
}
_HTML = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body|<\?xml[^>]*>\s*<!doctype\s+html)", re.I)
_TYPED_CELL = re.compile(
    r"^\s*([+-]?\d+,\d+|[+-]?\d+\.\d+|\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}.*)?)\s*$"
)
_NUMBER_CELL = re.compile(r"^\s*[+-]?(\d+|\d{1,3}([ \u00a0\u202f.]\d{3})+)([.,]\d+)?\s*$")


@dataclass
class Dialect:
    """What the sniffer found; ``data_offset`` is the byte where the first data record starts."""

    encoding: str
    encoding_method: str
    bom_length: int
    delimiter: str
    data_offset: int
    names: list[str]
    width: int
    ascii_only: bool = False
    nul_bytes: int = 0  # stray NUL bytes seen in the head (removed while reading)
    quotechar: str = '"'
    has_header: bool = True
    title_lines: list[str] = field(default_factory=list)
    extra_header_rows: list[list[str]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding,
            "encoding_method": self.encoding_method,
            "bom": self.bom_length > 0,
            "delimiter": self.delimiter,
            "quotechar": self.quotechar,
            "has_header": self.has_header,
            "title_lines": self.title_lines,
            "extra_header_rows": self.extra_header_rows,
        }


def sniff(path: Path, *, url: str | None = None) -> Dialect:
    """Read the head of a file and tell how it is written; RecordError for what is not a CSV at all."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
        at_eof = len(head) >= size
        check_payload(head, url=url)
        encoding, bom, method = detect_encoding(head)
        text, records = _decode_records(head, encoding, bom, at_eof)
        while len(records) < MIN_RECORDS and not at_eof and len(head) < MAX_HEAD_BYTES:
            head += fh.read(len(head))
            at_eof = len(head) >= size
            text, records = _decode_records(head, encoding, bom, at_eof)
    if not text.strip():
        raise RecordError("empty file (no text)", url=url)
    delimiter, rows = _choose_delimiter(text, at_eof)
    dialect = _layout(rows, text, delimiter, encoding, bom, method)
    dialect.ascii_only = encoding == "utf-8" and head.isascii()
    dialect.nul_bytes = 0 if encoding.startswith("utf-16") else head.count(0)
    return dialect


def check_payload(head: bytes, *, url: str | None = None) -> None:
    """Refuse what is clearly not a CSV: nothing, an HTML error page, a binary file."""
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise RecordError("empty file", url=url)
    if _HTML.match(head[:1024]):
        raise RecordError(
            "an HTML page was served instead of a CSV file (an error or login page?)",
            url=url,
            hint="open the URL in a browser",
        )
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            raise RecordError(f"not a CSV file: this is {what}", url=url)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    nuls = head.count(0)
    if nuls > max(8, len(head) // 100) and not _utf16_without_bom(head):
        raise RecordError(f"binary content: {nuls} NUL bytes in the first {len(head)} bytes", url=url)


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 text without BOM: one byte of each pair is NUL, the other mostly printable ASCII."""
    sample = head[: 4096 - 4096 % 2]
    half = len(sample) / 2
    for name, zeros, chars in (
        ("utf-16-le", sample[1::2], sample[0::2]),
        ("utf-16-be", sample[0::2], sample[1::2]),
    ):
        printable = sum(1 for b in chars if 32 <= b < 127 or b in (9, 10, 13))
        if (
            zeros.count(0) > 0.4 * half
            and chars.count(0) < 0.05 * half
            and printable > 0.8 * chars.count(0) + 0.3 * half
        ):
            return name
    return None


def detect_encoding(head: bytes) -> tuple[str, int, str]:
    """(Python codec, BOM length, how it was decided) for the head of a file.

    A BOM decides. Text that decodes as UTF-8 is UTF-8. Otherwise charset-normalizer chooses among the
    encodings French files are written in, and a French rule separates Windows-1252 from ISO-8859-15.
    """
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", 3, "bom"
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", 2, "bom"
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", 2, "bom"
    utf16 = _utf16_without_bom(head)
    if utf16:
        return utf16, 0, "nul-pattern"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8", 0, "valid-utf-8"
    except UnicodeDecodeError:
        pass
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(head, final=False)
    invalid = text.count("\ufffd")
    if len(text) - len(text.encode("ascii", "ignore")) - invalid >= max(1, invalid):
        return (
            "utf-8",
            0,
            "utf-8-with-invalid-bytes",
        )  # mostly good UTF-8: a damaged file, not another code page
    sample = head[: 256 * 1024]
    scores = {enc: _french_score(sample.decode(enc, textcodec.error_mode(enc))) for enc in _WESTERN}
    best_page = max(scores, key=lambda enc: (scores[enc], enc == "cp1252"))
    if scores[best_page] >= 0:
        page = _western(head) if best_page == "cp1252" else best_page
        return page, 0, "french-letters"
    guess = charset_normalizer.from_bytes(sample).best()  # not French text: the general detector decides
    if guess is None:
        return "cp1252", 0, "default"
    return codecs.lookup(guess.encoding).name.replace("-", "_"), 0, "charset-normalizer"


_WESTERN = ("cp1252", "cp850", "mac_roman")
_FRENCH_LOWER = re.compile("[àâäçéèêëîïôöùûüÿœæ]")
_FRENCH_UPPER = re.compile("[ÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ]")
_TYPOGRAPHY = re.compile("[\u00a0«»’‘“”…€°–—•·²³µ§]")
_NON_ASCII = re.compile("[^\x00-\x9f]")  # C1 controls (bytes a page leaves undefined) are neutral


def _french_score(text: str) -> int:
    """Accented lower-case letters count 1, other non-ASCII characters (box drawing, ‡, Ž... as a wrong
    code page shows them) -1; upper-case accented letters are neutral (a wrong page turns é into È or Ú):
    the page that reads the most French wins."""
    lower, upper = len(_FRENCH_LOWER.findall(text)), len(_FRENCH_UPPER.findall(text))
    other = len(_NON_ASCII.findall(text)) - lower - upper - len(_TYPOGRAPHY.findall(text))
    return lower - other


def _western(head: bytes) -> str:
    """Windows-1252 unless the bytes only make sense as ISO-8859-15 (€ at A4, œ at BD, no C1 byte)."""
    if re.search(rb"[\x80-\x9f]", head):
        return "cp1252"
    if re.search(rb"[\xa4\xa6\xa8\xb4\xb8\xbc\xbd\xbe]", head):
        return "iso8859_15"
    return "cp1252"


def _decode_records(head: bytes, encoding: str, bom: int, at_eof: bool) -> tuple[str, list[str]]:
    decoder = codecs.getincrementaldecoder(encoding)(errors=textcodec.error_mode(encoding))
    text = decoder.decode(head[bom:], final=at_eof)
    lines = io.StringIO(text, newline="").readlines()
    if lines and not at_eof and not lines[-1].endswith(("\n", "\r")):
        lines.pop()  # cut in the middle of a line
    return "".join(lines), lines


def _parse(lines: list[str], delimiter: str, limit: int = 400) -> list[tuple[list[str], int]]:
    """Records with the number of physical lines consumed after each (csv.reader.line_num)."""
    csv.field_size_limit(1 << 30)  # long texts and WKT geometries are legitimate values
    reader = csv.reader(iter(lines[: limit * 4]), delimiter=delimiter, quotechar='"', strict=False)
    out: list[tuple[list[str], int]] = []
    try:
        for row in reader:
            out.append((row, reader.line_num))
            if len(out) >= limit:
                break
    except csv.Error:
        pass  # the head was cut inside a quoted value
    return out


def _choose_delimiter(text: str, at_eof: bool) -> tuple[str, list[tuple[list[str], int]]]:
    lines = io.StringIO(text, newline="").readlines()
    first = lines[0].strip().lower() if lines else ""
    if first.startswith("sep=") and len(first) == 5:  # Excel's hint line
        delim = first[4]
        return delim, [([first], 1)] + [(r, n + 1) for r, n in _parse(lines[1:], delim)]
    best: tuple[float, int, str] | None = None
    parsed: dict[str, list[tuple[list[str], int]]] = {}
    for delim in DELIMITERS:
        rows = _parse(lines, delim, 200)
        if not at_eof and len(rows) > 2:
            rows = rows[:-1]  # the last record may be incomplete
        parsed[delim] = rows
        counts = [len(r) for r, _ in rows if any(c.strip() for c in r)]
        if not counts:
            continue
        modal, freq = Counter(counts[len(counts) // 10 :]).most_common(1)[0]
        if modal < 2 or _splits_only_numbers(rows, modal):
            continue
        score = (freq / len(counts[len(counts) // 10 :]), modal, delim)
        if best is None or score[:2] > best[:2]:
            best = score
    # no delimiter splits the rows: one column, with a delimiter that does not occur
    delim = best[2] if best else next((d for d in (";", "\t", "|") if d not in text), ",")
    rows = _parse(lines, delim)
    if not at_eof and len(rows) > 1:
        rows = rows[:-1]
    return delim, rows


def _splits_only_numbers(rows: list[tuple[list[str], int]], modal: int) -> bool:
    """A one-field first row above rows that only split inside numbers ("12,5"): a decimal comma, not a
    delimiter. A first row of title text is fine when a header-like row (text cells) follows."""
    filled = [r for r, _ in rows if any(c.strip() for c in r)]
    if not filled or len(filled[0]) != 1:
        return False
    for row in filled[1:11]:
        if len(row) == modal and all(c.strip() and not _NUMBER_CELL.match(c) for c in row):
            return False
    return True


def _layout(
    rows: list[tuple[list[str], int]], text: str, delimiter: str, encoding: str, bom: int, method: str
) -> Dialect:
    lines = io.StringIO(text, newline="").readlines()
    records = [(r, n) for r, n in rows if any(c.strip() for c in r)]
    if not records:
        raise RecordError("no record found in the file")
    filled = [sum(1 for c in r if c.strip()) for r, _ in records]
    body_counts = [len(r) for r, _ in records[min(len(records) - 1, max(1, len(records) // 5)) :]]
    width = Counter(body_counts).most_common(1)[0][0]
    typical = sorted(filled[len(filled) // 5 :])[len(filled[len(filled) // 5 :]) // 2]
    start = 0
    titles: list[str] = []
    if typical >= 2:
        while (
            start < min(10, len(records) - 1)
            and filled[start] <= max(1, typical // 2)
            and records[start][0][0].strip()
        ):
            titles.append(delimiter.join(c for c in records[start][0] if c.strip()))
            start += 1
    header, consumed = records[start]
    body = [r for r, _ in records[start + 1 :]]
    has_header = not _looks_like_data(header, body)
    extra: list[list[str]] = []
    if has_header:
        for row, n in records[start + 1 : start + 5]:
            if not _is_extra_header(row, body[4:] or body[len(extra) + 1 :]):
                break
            extra.append(row)
            consumed = n
        body = body[len(extra) :]
        if body:
            width = Counter(len(r) for r in body).most_common(1)[0][0]
        names = [c.replace("\ufeff", "") for c in header]
    else:
        consumed = records[start - 1][1] if start else 0
        names = []
    if len(names) > width and not any(c.strip() for c in names[width:]):
        names = names[:width]
    names += [""] * (width - len(names))
    prefix = "".join(lines[:consumed])
    return Dialect(
        encoding=encoding,
        encoding_method=method,
        bom_length=bom,
        delimiter=delimiter,
        data_offset=bom + textcodec.encoded_length(prefix, encoding),
        names=names,
        width=width,
        has_header=has_header,
        title_lines=titles,
        extra_header_rows=extra,
    )


def _looks_like_data(first: list[str], body: list[list[str]]) -> bool:
    """A first row holding a decimal number or a date that the rows below also hold has no column names."""
    if not body:
        return False
    for i, cell in enumerate(first):
        if (
            _TYPED_CELL.match(cell)
            and sum(1 for r in body[:20] if i < len(r) and _TYPED_CELL.match(r[i])) > 0
        ):
            return True
    return False


def _is_extra_header(row: list[str], body: list[list[str]]) -> bool:
    """Rows of types/units/codes below the header (DiDo "CSV augmenté"): text where the data is numeric."""
    numeric_cols = [
        i
        for i in range(len(row))
        if (vals := [r[i] for r in body[:50] if i < len(r) and r[i].strip()])
        and all(_NUMBER_CELL.match(v) for v in vals)
    ]
    if not numeric_cols:
        return False
    cells = [row[i].strip() for i in numeric_cols]
    if any(_NUMBER_CELL.match(c) for c in cells):
        return False
    return any(c and c.lower() not in rules.NULL_TOKENS for c in cells)
