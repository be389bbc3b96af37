"""Convert a CSV file to typed Parquet (zstd) in bounded memory, detecting everything a French file needs.

One streaming pass, normally: the dialect is sniffed on the head, Arrow's streaming CSV reader parses record
batches (every column as text), types are inferred on the first batches (a generous sample: at least
SAMPLE_ROWS rows), and each batch is cast with pyarrow.compute and written as a Parquet row group.

A value met later that does not fit the type inferred on the sample ("n/a" in an integer column, "01234"
after "75001", a date that does not parse) never loses data: the pass stops writing, keeps reading only to
collect every column that needs it, and a second pass runs with those columns re-inferred on the sample plus
the offending values (usually: kept as text). Rows with a wrong number of fields, or bytes that are not
valid in the detected encoding, also cause another pass (see repair.py and textcodec.py). The Parquet file
is written to a temporary name and renamed at the end, so a failure never leaves half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harvester.errors import RecordError
from harvester.normalise import dialect as dialect_mod
from harvester.normalise import textcodec
from harvester.normalise.casting import cast_column
from harvester.normalise.columnpool import ColumnPool
from harvester.normalise.infer import ColumnPlan, columns_metadata, infer_column
from harvester.normalise.pqwriter import BackgroundWriter
from harvester.normalise.textbatches import TextBatches

BLOCK_SIZE = 2 << 20  # bytes of CSV per Arrow batch (measured on 1 GB: as fast as 4 or 8 MiB, less memory)
MAX_BLOCK_SIZE = 512 << 20  # a single record (a huge WKT polygon...) may need larger blocks, up to this
SAMPLE_ROWS = 50_000
ROW_GROUP_ROWS = 125_000  # a Parquet row group is written at this many rows...
ROW_GROUP_BYTES = 24 << 20  # ...or this much Arrow data (wide tables), whichever comes first
CAST_ROWS = 64_000  # text batches are merged up to this many rows (or CAST_BYTES) before casting:
CAST_BYTES = 16 << 20  # measured: casting 2 MiB batches one by one spends ~30 % in per-call overhead
MAX_PASSES = 10  # larger blocks (3), lenient decoding (1), repaired rows (1), re-typed columns (2), last one
MAX_RETYPES = 2  # after two rounds of re-typing, columns that still do not fit are written as text


@dataclass
class TableResult:
    """The Parquet file written, its row count, schema (with metadata), schema hash, warnings, detection."""

    path: Path
    rows: int
    schema: pa.Schema
    schema_hash: str
    warnings: list[str]
    detected: dict[str, Any]


@dataclass
class _Options:
    encoding: str
    lenient: bool = False  # decode in Python (always for non-UTF-8; for UTF-8 after invalid bytes)
    repair: bool = False  # rows with a wrong number of fields
    plans: list[ColumnPlan] | None = None
    dropped: set[int] = field(default_factory=set)  # unnamed columns empty in the sample
    block_size: int = 0


@dataclass
class _Outcome:
    rows: int = 0
    violations: dict[int, list[str]] = field(default_factory=dict)
    ragged: int = 0
    utf8_error: bool = False
    record_too_long: bool = False  # a record spans more than two blocks: read again with larger blocks
    last_row: dict[str, Any] | None = None


def schema_hash(schema: pa.Schema) -> str:
    """sha256 of the column names and types (not of the metadata)."""
    text = json.dumps([[f.name, str(f.type)] for f in schema])
    return hashlib.sha256(text.encode()).hexdigest()


def convert_csv(src: Path, dest: Path, *, max_bytes: int | None = None) -> TableResult:
    """Convert one CSV/TSV/TXT file to ``dest`` (Parquet, zstd). Raises RecordError if it can't be read."""
    size = src.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise RecordError(f"file of {size} bytes is over the limit of {max_bytes} bytes")
    return _Conversion(src, dest, dialect_mod.sniff(src)).run()


class _Conversion:
    def __init__(self, src: Path, dest: Path, dia: dialect_mod.Dialect) -> None:
        self.src, self.dest, self.dia = src, dest, dia
        self.width = dia.width
        self.names = _unique_names(dia.names)
        self.warnings: list[str] = []
        self.sample: list[pa.Array] | None = None
        self.tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        self.out_schema: pa.Schema | None = None
        self.late_values: dict[int, list[str]] = {}
        self.downgrades = 0
        self.writer: BackgroundWriter | None = None
        self.group: list[pa.Table] = []
        self.uncast: list[pa.RecordBatch] = []
        self.dictionary: list[str] = []
        self.pool = ColumnPool()  # its threads start with the first cast; run() closes it

    def run(self) -> TableResult:
        opts = _Options(self.dia.encoding, lenient=self.dia.encoding != "utf-8" or self.dia.nul_bytes > 0)
        opts.block_size = BLOCK_SIZE
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            for _ in range(MAX_PASSES):
                out = self._pass(opts)
                if out.record_too_long:
                    if opts.block_size >= MAX_BLOCK_SIZE:
                        raise RecordError(f"a record is longer than {MAX_BLOCK_SIZE >> 20} MiB")
                    opts.block_size = min(opts.block_size * 8, MAX_BLOCK_SIZE)
                elif out.utf8_error:
                    self._after_utf8_error(opts)
                elif out.ragged and not opts.repair:
                    opts.repair = True
                    self.width = max(self.width, len(self.names))
                    if opts.plans is not None:
                        opts.plans += [ColumnPlan(reason="no value")] * (self.width - len(opts.plans))
                elif out.violations:
                    self._downgrade(opts, out.violations)
                else:
                    os.replace(self.tmp, self.dest)
                    return self._result(opts, out)
            raise RecordError(f"could not settle the column types after {MAX_PASSES} passes")
        finally:
            self.pool.close()
            self.tmp.unlink(missing_ok=True)

    # -- one pass over the file -------------------------------------------------------------------------
    def _pass(self, opts: _Options) -> _Outcome:
        out = _Outcome()
        self.writer = None
        self.group = []
        self.uncast = []
        self.out_schema = None
        pending: list[pa.RecordBatch] = []
        try:
            self.reader = TextBatches(
                self.dia,
                self.src,
                width=self.width,
                encoding=opts.encoding,
                lenient=opts.lenient,
                repair=opts.repair,
                block_size=opts.block_size,
            )
            for batch in self.reader:
                if opts.plans is None:
                    pending.append(batch)
                    if sum(b.num_rows for b in pending) < SAMPLE_ROWS:
                        continue
                    self._infer(opts, pending)
                for b in pending or [batch]:
                    self._take(b, opts, out)
                pending = []
            problems = self.reader.problems
            out.utf8_error, out.record_too_long, out.ragged = (
                problems.utf8_error,
                problems.record_too_long,
                problems.ragged,
            )
            if out.utf8_error or out.record_too_long or out.ragged and not opts.repair:
                return out  # another pass will read the file differently: infer nothing from this one
            if opts.plans is None:
                self._infer(opts, pending)
                for b in pending:
                    self._take(b, opts, out)
            self._take(None, opts, out)
            if not out.violations:
                self._flush(opts, final=True)
        finally:
            if self.writer is not None:
                self.writer.close()
        return out

    def _infer(self, opts: _Options, batches: list[pa.RecordBatch]) -> None:
        if self.sample is None:
            table = pa.Table.from_batches(batches, schema=_text_schema(self.width))
            table = table.slice(0, SAMPLE_ROWS)
            self.sample = [table.column(i).combine_chunks() for i in range(self.width)]
        names = self._padded_names()
        n = min(len(self.sample), len(names))
        plans = self.pool.map(infer_column, self.sample[:n], names[:n])
        opts.plans = plans + [ColumnPlan(reason="no value")] * (len(names) - n)
        self.dictionary = [
            names[i]
            for i, (col, plan) in enumerate(zip(self.sample, plans, strict=False))
            if plan.kind == "string" and _low_cardinality(col)
        ]
        opts.dropped = {
            i
            for i, col in enumerate(self.sample)
            if col.null_count == len(col) and (i >= len(self.dia.names) or not self.dia.names[i].strip())
        }

    def _padded_names(self) -> list[str]:
        return self.names + [f"column_{i + 1}" for i in range(len(self.names), self.width)]

    def _schema(self, opts: _Options) -> pa.Schema:
        assert opts.plans is not None
        names = self._padded_names()
        kept = [i for i in range(len(opts.plans)) if i not in opts.dropped]
        fields = [pa.field(names[i], opts.plans[i].arrow_type()) for i in kept]
        meta = {
            "harvester.columns": json.dumps(
                columns_metadata([names[i] for i in kept], [opts.plans[i] for i in kept])
            ),
            "harvester.detected": json.dumps(self._detected(opts)),
        }
        return pa.schema(fields, metadata=meta)

    def _take(self, batch: pa.RecordBatch | None, opts: _Options, out: _Outcome) -> None:
        """Queue a text batch; cast the queue as one batch once it is large enough (or at the end: None)."""
        if batch is not None:
            self.uncast.append(batch)
            rows = sum(b.num_rows for b in self.uncast)
            if rows < min(CAST_ROWS, ROW_GROUP_ROWS) and sum(b.nbytes for b in self.uncast) < CAST_BYTES:
                return
        if not self.uncast:
            return
        if len(self.uncast) == 1:
            merged = self.uncast[0]
        else:
            merged = pa.Table.from_batches(self.uncast).combine_chunks().to_batches()[0]
        self.uncast = []
        self._cast(merged, opts, out)

    def _cast(self, batch: pa.RecordBatch, opts: _Options, out: _Outcome) -> None:
        """Cast one batch (its columns side by side, columnpool.py); queue it for the next row group unless some
        column did not fit."""
        assert opts.plans is not None
        plans = opts.plans
        cols = [
            batch.column(i) if i < batch.num_columns else pa.nulls(batch.num_rows, pa.string())
            for i in range(len(plans))
        ]
        kept = [i for i in range(len(plans)) if i not in opts.dropped]
        casts = self.pool.map(cast_column, [cols[i] for i in kept], [plans[i] for i in kept])
        results = dict(zip(kept, casts, strict=True))
        arrays: list[pa.Array] = []
        for i, col in enumerate(cols):
            res = results.get(i)
            if res is None:  # a dropped column
                if col.null_count != len(col):
                    out.violations.setdefault(i, []).append("a value in an unnamed column")
            elif res.array is None:
                out.violations.setdefault(i, []).extend(res.bad)
            else:
                arrays.append(res.array)
        out.rows += batch.num_rows
        if out.violations:
            self.group = []
            return  # keep reading to find every column that needs another look, write nothing more
        if batch.num_rows:
            out.last_row = {k: v[-1] for k, v in batch.slice(batch.num_rows - 1).to_pydict().items()}
        if self.out_schema is None:
            self.out_schema = self._schema(opts)
        self.group.append(pa.Table.from_arrays(arrays, schema=self.out_schema))
        self._flush(opts, final=False)

    def _flush(self, opts: _Options, *, final: bool) -> None:
        """Write the queued batches as one row group once they hold ROW_GROUP_ROWS rows (or at the end)."""
        rows = sum(t.num_rows for t in self.group)
        if not final and rows < ROW_GROUP_ROWS and sum(t.nbytes for t in self.group) < ROW_GROUP_BYTES:
            return
        if self.writer is None:
            if self.out_schema is None:
                self.out_schema = self._schema(opts)
            self.writer = BackgroundWriter(self.tmp, self.out_schema, dictionary=self.dictionary)
        if self.group:
            self.writer.write(pa.concat_tables(self.group))
        self.group = []

    # -- between passes -----------------------------------------------------------------------------------
    def _after_utf8_error(self, opts: _Options) -> None:
        scan = textcodec.scan_utf8(self.src, self.dia.data_offset)
        if not scan.valid_non_ascii and scan.bad_offsets:
            head = textcodec.window(self.src, scan.bad_offsets[0])
            encoding, _, _ = dialect_mod.detect_encoding(head)
            if encoding != "utf-8":
                self.warnings.append(
                    f"the head of the file is ASCII but byte {scan.bad_offsets[0]} is not UTF-8: "
                    f"read as {encoding}"
                )
                self.dia.encoding, self.dia.encoding_method = encoding, "re-detected after invalid UTF-8"
                opts.encoding = encoding
        opts.lenient = True

    def _downgrade(self, opts: _Options, violations: dict[int, list[str]]) -> None:
        assert opts.plans is not None and self.sample is not None
        names = self._padded_names()
        self.downgrades += 1
        for i, bad in violations.items():
            if i in opts.dropped:
                opts.dropped.discard(i)
                continue
            old = opts.plans[i]
            seen = self.late_values.setdefault(i, [])
            seen.extend(bad)
            new = ColumnPlan(reason=f"values met after the sample: {seen[:3]}")
            if i < len(self.sample) and self.downgrades < MAX_RETYPES:
                # re-infer on the sample plus every value that did not fit so far: the type only widens
                retyped = infer_column(
                    pa.concat_arrays([self.sample[i], pa.array(seen, pa.string())]), names[i]
                )
                new = new if retyped == old else retyped
            opts.plans[i] = new
            self.warnings.append(
                f"column {names[i]!r}: typed {old.kind} on the first rows, but later values such as "
                f"{bad[:3]} do not fit: written as {new.kind}"
            )

    def _result(self, opts: _Options, out: _Outcome) -> TableResult:
        schema = pq.read_schema(self.dest)
        self._collect_warnings(opts, out)
        return TableResult(
            self.dest, out.rows, schema, schema_hash(schema), self.warnings, self._detected(opts)
        )

    def _collect_warnings(self, opts: _Options, out: _Outcome) -> None:
        tr, rep = self.reader.transcoder, self.reader.repairer
        if tr is not None and tr.bad_count and opts.encoding == "utf-8":
            lines = textcodec.lines_at(self.src, tr.bad_offsets)
            where = ", ".join(
                f"line {ln} (byte {off})" for ln, off in zip(lines, tr.bad_offsets, strict=True)
            )
            self.warnings.append(f"{tr.bad_count} bytes are not valid UTF-8, replaced by U+FFFD: {where}")
        elif tr is not None and tr.bad_count:
            self.warnings.append(
                f"{tr.bad_count} bytes undefined in {opts.encoding} kept as control characters"
            )
        if tr is not None and tr.nul_count:
            self.warnings.append(f"{tr.nul_count} NUL characters removed")
        if rep is not None:
            self.warnings.extend(rep.reports)
            if rep.padded + rep.skipped > len(rep.reports):
                self.warnings.append(f"{rep.padded} rows completed, {rep.skipped} rows skipped in all")
        if out.last_row and _opens_unclosed_quote(self.src, out.last_row):
            self.warnings.append(
                "the file looks truncated: its last record opens a quoted value never closed"
            )
        elif rep is not None and not rep.last_line_complete and rep.padded:
            self.warnings.append("the file looks truncated: its last line is incomplete")
        if opts.dropped:
            self.warnings.append(f"{len(opts.dropped)} unnamed empty columns dropped")
        if out.rows == 0:
            self.warnings.append("no data row")

    def _detected(self, opts: _Options) -> dict[str, Any]:
        info = self.dia.describe()
        info["encoding"] = opts.encoding
        info["columns"] = len(self._padded_names()) - len(opts.dropped)
        info["passes"] = {"lenient_decoding": opts.lenient, "repaired_rows": opts.repair}
        return info


def _low_cardinality(col: pa.Array) -> bool:
    """Dictionary-encode a text column in Parquet only when it repeats a lot (else it costs time for nothing)."""
    filled = len(col) - col.null_count
    return filled == 0 or int(pc.count_distinct(col).as_py()) <= max(1000, filled // 10)


def _text_schema(width: int) -> pa.Schema:
    return pa.schema([pa.field(f"c{i}", pa.string()) for i in range(width)])


def _unique_names(names: list[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(names):
        base = name if name.strip() else f"column_{i + 1}"
        candidate, k = base, 1
        while candidate in seen:
            k += 1
            candidate = f"{base}_{k}"
        seen.add(candidate)
        out.append(candidate)
    return out


def _opens_unclosed_quote(src: Path, last_row: dict[str, Any]) -> bool:
    """A quoted value never closed swallows the end of the file: line breaks in it and no closing quote."""
    filled = [v for v in last_row.values() if v is not None]
    if not filled or not isinstance(filled[-1], str) or not ("\n" in filled[-1] or "\r" in filled[-1]):
        return False
    with src.open("rb") as fh:
        fh.seek(max(0, src.stat().st_size - 16))
        tail = fh.read().rstrip(b"\r\n\x00 ")
    return not tail.endswith(b'"')
