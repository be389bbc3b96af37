"""Arrow's streaming CSV reader over one file: every column as text, one record batch at a time.

The bytes go file → (Transcoder: the file's encoding to UTF-8, NULs dropped) → (RepairReader: rows completed
to the same number of fields) → Throttle (bounded read-ahead) → Arrow. What went wrong is noted in
``problems`` for the converter to decide on another pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from harvester.errors import RecordError
from harvester.normalise import bytecols, textcodec
from harvester.normalise.dialect import Dialect
from harvester.normalise.repair import RepairReader
from harvester.normalise.throttle import Throttle

READ_AHEAD = 12  # blocks Arrow may read ahead of the conversion (bounded memory: 24 MiB with 2 MiB blocks)


@dataclass
class ReadProblems:
    ragged: int = 0  # rows with a wrong number of fields (skipped by Arrow: read again with repair)
    utf8_error: bool = False  # invalid UTF-8 (read again decoding in Python)
    record_too_long: bool = False  # a record spans more than two blocks (read again with larger blocks)


class TextBatches:
    """Iterate the data rows of ``src`` (after the header) as record batches of text columns c0..c{width-1}."""

    def __init__(
        self,
        dia: Dialect,
        src: Any,
        *,
        width: int,
        encoding: str,
        lenient: bool,
        repair: bool,
        block_size: int,
    ) -> None:
        self.dia, self.src, self.width = dia, src, width
        self.encoding, self.lenient, self.repair, self.block_size = encoding, lenient, repair, block_size
        self.problems = ReadProblems()
        self.transcoder: textcodec.Transcoder | None = None
        self.repairer: RepairReader | None = None
        # single-byte code pages: Arrow parses the raw bytes, each column is decoded after (bytecols.py)
        self.by_column = lenient and encoding in textcodec.SINGLE_BYTE and not repair

    def _stream(self) -> tuple[Any, Any, Throttle]:
        raw = pa.OSFile(str(self.src))
        raw.seek(self.dia.data_offset)
        stream: Any = raw
        if self.lenient:
            self.transcoder = textcodec.Transcoder(self.encoding, self.dia.data_offset)
        if self.lenient and not self.by_column:
            stream = pa.TransformInputStream(raw, self.transcoder)
        if self.repair:
            first_line = textcodec.lines_at(self.src, [self.dia.data_offset])[0]
            self.repairer = RepairReader(
                stream, delimiter=self.dia.delimiter, width=self.width, first_line=first_line
            )
            stream = pa.PythonFile(self.repairer, mode="r")
        throttle = Throttle(stream, block_size=self.block_size, ahead=READ_AHEAD)
        return raw, pa.PythonFile(throttle, mode="r"), throttle

    def _on_invalid(self, row: Any) -> str:
        self.problems.ragged += 1
        return "skip"

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        names = [f"c{i}" for i in range(self.width)]
        raw, stream, throttle = self._stream()
        try:
            throttle.hungry(True)  # open_csv reads the first block(s) itself
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(column_names=names, block_size=self.block_size),
                parse_options=pacsv.ParseOptions(
                    delimiter=self.dia.delimiter,
                    quote_char=self.dia.quotechar,
                    newlines_in_values=True,
                    invalid_row_handler=self._on_invalid,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.binary() if self.by_column else pa.string() for n in names},
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
            batches = iter(reader)
            while True:
                throttle.hungry(True)
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                finally:
                    throttle.hungry(False)
                yield self._decoded(batch) if self.by_column else batch
                throttle.consumed()
        except pa.ArrowInvalid as exc:
            if "Empty CSV" not in str(exc):  # else: no data row after the header
                self._problem(exc)
        finally:
            throttle.release()
            raw.close()

    def _decoded(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        assert self.transcoder is not None
        columns = []
        for col in batch.columns:
            text, bad, nuls = bytecols.to_utf8(col, self.encoding)
            self.transcoder.bad_count += bad
            self.transcoder.nul_count += nuls
            columns.append(text)
        return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)

    def _problem(self, exc: pa.ArrowInvalid) -> None:
        """Invalid UTF-8 or a record longer than two blocks call for another pass; other errors are final."""
        if "UTF8" in str(exc) or "UTF-8" in str(exc):
            self.problems.utf8_error = True
        elif "straddl" in str(exc):
            self.problems.record_too_long = True
        else:
            raise RecordError(f"CSV parse error: {exc}") from exc
