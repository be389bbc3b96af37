"""The slow, exact path for files whose rows do not all have the same number of fields.

Arrow's streaming reader can only skip such rows (without saying where they were), so when a file has any,
it is read again through Python's csv module: short rows are completed with empty cells, extra empty cells
are dropped, rows with extra non-empty cells are skipped and reported; the result is fed to Arrow as CSV.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

MAX_REPORTED = 20
MAX_FIELD = 1 << 30
_LINE = re.compile(r"[^\r\n]*(\r\n|\r|\n)")


class RepairReader(io.RawIOBase):
    """A binary file object over UTF-8 CSV that yields the same records, each with exactly ``width`` fields."""

    def __init__(self, stream: Any, *, delimiter: str, width: int, first_line: int) -> None:
        super().__init__()
        self._stream = stream
        self._width = width
        self._first_line = first_line
        self._out = bytearray()
        self._eof = False
        csv.field_size_limit(MAX_FIELD)  # long texts and WKT geometries are legitimate values
        self._reader = csv.reader(self._lines(), delimiter=delimiter, quotechar='"', strict=False)
        self._buf = io.StringIO()
        self._writer = csv.writer(self._buf, delimiter=delimiter, quotechar='"', lineterminator="\n")
        self.padded = 0
        self.trimmed = 0
        self.skipped = 0
        self.reports: list[str] = []
        self.last_line_complete = True

    def _lines(self) -> Any:
        decoder = io.IncrementalNewlineDecoder(None, translate=False)
        rest = ""
        while True:
            chunk = self._stream.read(1 << 20)
            text = rest + decoder.decode(bytes(chunk).decode("utf-8", "replace"), final=not chunk)
            end = 0
            for m in _LINE.finditer(text):
                yield m.group(0)
                end = m.end()
            rest = text[end:]
            if not chunk:
                break
        if rest:
            self.last_line_complete = False
            yield rest

    def readable(self) -> bool:
        return True

    def _report(self, text: str) -> None:
        if len(self.reports) < MAX_REPORTED:
            self.reports.append(text)

    def _fill(self, want: int) -> None:
        rows = 0
        for row in self._reader:
            if not any(c.strip().strip("\ufeff") for c in row):
                continue  # blank line (or a stray BOM on its own line)
            n = len(row)
            if n < self._width:
                self.padded += 1
                self._report(
                    f"line {self._line()}: {n} fields instead of {self._width}, completed with empty cells"
                )
                row += [""] * (self._width - n)
            elif n > self._width:
                if any(c.strip() for c in row[self._width :]):
                    self.skipped += 1
                    text = self._buf_row(row)
                    self._report(
                        f"line {self._line()}: {n} fields instead of {self._width}, row skipped: {text}"
                    )
                    continue
                self.trimmed += 1
                row = row[: self._width]
            self._writer.writerow(row)
            rows += 1
            if rows >= 2000 and self._buf.tell() >= want:
                break
        else:
            self._eof = True
        self._out += self._buf.getvalue().encode("utf-8")
        self._buf.seek(0)
        self._buf.truncate()

    def _buf_row(self, row: list[str]) -> str:
        text = ";".join(row)
        return text if len(text) <= 200 else text[:200] + "…"

    def _line(self) -> int:
        return self._first_line + self._reader.line_num - 1

    def read(self, size: int = -1) -> bytes:
        want = size if size and size > 0 else 1 << 20
        while len(self._out) < want and not self._eof:
            self._fill(want)
        out = bytes(self._out[:want])
        del self._out[:want]
        return out

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)
