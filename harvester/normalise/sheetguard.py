"""Cell budget of a workbook, checked before calamine loads it.

calamine loads a sheet as one dense grid spanning its first to its last non-empty cell, whatever the sheet's
`<dimension>` claims: a 5 KB XLSX with values in A1 and XFD1048576 asks for 17 billion cells (550 GB) and aborts
the whole process. So the span of the cells that hold a value is measured first, by streaming the sheet XML of
an XLSX (a regular expression over the decompressed bytes, nothing built) or the `content.xml` of an ODS (lxml
`iterparse`, each row freed once counted), and a sheet whose span exceeds the budget is refused.
XLS (BIFF) files are not measured; they are at most a few tens of MB and 65,536 rows by 256 columns.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import IO

from harvester.errors import RecordError

SPREADSHEET_MAX_CELLS = 10_000_000  # one sheet: rows x columns of the span of its non-empty cells
_CHUNK = 1 << 20
_XLSX_CELL = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?c\s([^>]*?)(/?)>"
)  # <c r="B7" t="s">, empty when self-closed
_XLSX_REF = re.compile(rb'(?:^|\s)r="([A-Z]{1,3})([0-9]{1,7})"')
_ODS_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_ODS_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"


def _col(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def _xlsx_span(stream: IO[bytes]) -> int:
    """rows x columns spanned by the cells of one worksheet that are not self-closed (those have no value)."""
    rmin = cmin = 1 << 30
    rmax = cmax = count = 0
    tail = b""
    while True:
        chunk = stream.read(_CHUNK)
        data = tail + chunk
        cut = data.rfind(b"<") if chunk else len(data)
        body, tail = data[:cut], data[cut:]
        for m in _XLSX_CELL.finditer(body):
            if m.group(2):
                continue
            count += 1
            ref = _XLSX_REF.search(m.group(1))
            if ref:
                c, r = _col(ref.group(1)), int(ref.group(2))
                rmin, rmax, cmin, cmax = min(rmin, r), max(rmax, r), min(cmin, c), max(cmax, c)
        if not chunk:
            break
    area = (rmax - rmin + 1) * (cmax - cmin + 1) if rmax else 0
    return max(area, count)


def _ods_spans(stream: IO[bytes]) -> list[tuple[str, int]]:
    """(table name, rows x columns spanned by its cells that hold a value), repeated rows and cells expanded."""
    from lxml import etree

    table_tag, row_tag = f"{{{_ODS_TABLE}}}table", f"{{{_ODS_TABLE}}}table-row"
    rep_rows, rep_cols = f"{{{_ODS_TABLE}}}number-rows-repeated", f"{{{_ODS_TABLE}}}number-columns-repeated"
    value_type = f"{{{_ODS_OFFICE}}}value-type"
    spans: list[tuple[str, int]] = []
    row_pos = last_row = width = 0
    events = etree.iterparse(
        stream,
        events=("start", "end"),
        tag=(table_tag, row_tag),
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
    )
    for event, el in events:
        if el.tag == table_tag:
            if event == "start":
                row_pos = last_row = width = 0
            else:
                spans.append((str(el.get(f"{{{_ODS_TABLE}}}name", "")), last_row * width))
                el.clear()
            continue
        if event == "start":
            continue
        repeat = int(el.get(rep_rows, "1") or 1)
        pos = last = 0
        for cell in el:
            pos += int(cell.get(rep_cols, "1") or 1)
            if cell.get(value_type) is not None or len(cell):
                last = pos
        if last:
            last_row, width = row_pos + repeat, max(width, last)
        row_pos += repeat
        el.clear()
        while el.getprevious() is not None:
            del el.getparent()[0]
    return spans


def check_cells(path: Path, *, url: str, max_cells: int = SPREADSHEET_MAX_CELLS) -> None:
    """Refuse a workbook one of whose sheets spans more than `max_cells` cells (XLSX and ODS; others pass)."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            spans: list[tuple[str, int]] = []
            if "content.xml" in names:
                with zf.open("content.xml") as fh:
                    spans = _ods_spans(fh)
            for name in names:
                if re.fullmatch(r"xl/worksheets/[^/]+\.xml", name):
                    with zf.open(name) as fh:
                        spans.append((name.rsplit("/", 1)[-1].removesuffix(".xml"), _xlsx_span(fh)))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, SyntaxError):
        return  # corrupt or truncated (lxml's XMLSyntaxError is a SyntaxError): calamine reports it clearly
    for sheet, cells in spans:
        if cells > max_cells:
            raise RecordError(
                f"spreadsheet sheet {sheet!r} spans {cells} cells, over the budget of {max_cells} (refused "
                "before loading: the reader builds the whole grid in memory)",
                url=url,
            )
