"""CSV → typed Parquet on generated French files (~200 MB, 21 columns): harvester's automatic detection next to
pyarrow.csv with hand-given options (the ceiling) and DuckDB (auto-detection and hand-given options), in the
same run; then the Parquet codecs (snappy, zstd levels) on the converted table.

Each contender runs in its own process (bench/tables_run.py): MB/s is the input size over the conversion time
(imports excluded), peak RSS is the process's maximum resident set, and every cell of every output is checked
against the generator's truth (bench/tables_data.py). `python -m bench tables`; BENCH_TABLES_SIZES="200,1000"
(MB) tunes the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench import tables_data
from bench.tables_run import CONTENDERS

GENERATOR_VERSION = 2


def _files(out_dir: Path) -> list[tuple[str, Path, int, str]]:
    sizes = [int(s) for s in os.environ.get("BENCH_TABLES_SIZES", "200").split(",") if s.strip()]
    plan = []
    for mb in sizes:
        for enc in ("cp1252", "utf-8-sig"):
            label = f"{mb} MB, {'Windows-1252' if enc == 'cp1252' else 'UTF-8 with BOM'}"
            plan.append((label, out_dir / f"fr_{enc}_{mb}MB_v{GENERATOR_VERSION}.csv", mb * 1_000_000, enc))
    return plan


def _generate(path: Path, size: int, encoding: str) -> tuple[int, str]:
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return int(json.loads(meta.read_text())["rows"]), "reused from an earlier run"
    t0 = time.perf_counter()
    rows = tables_data.generate(path, size, encoding)
    meta.write_text(json.dumps({"rows": rows}))
    return rows, f"generated in {time.perf_counter() - t0:.0f} s"


def _run(key: str, src: Path, dest: Path, encoding: str) -> dict[str, object]:
    dest.unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.tables_run", key, str(src), str(dest), encoding],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parent.parent,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        return {"seconds": 0.0, "rss_mb": 0.0, "error": f"crashed: {proc.stderr.strip()[-300:]}"}
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run(out_dir: Path) -> str:
    work = out_dir / "tables"
    work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    lines = [
        "## Tables: French CSV → typed Parquet\n",
        "Generated files (bench/tables_data.py), 21 columns: `;`; codes with leading zeros (INSEE with 2A/2B, "
        "postcode, SIRET, NAF, phone); Windows-1252 letters (Œ, €, ’); amounts with a decimal comma and thousands "
        "separated by a space, U+00A0 or (UTF-8 only) U+202F; spaced integers; NA/-/empty nulls; a date column "
        "mixing dd/mm/yyyy, yyyy-mm-dd and dd/mm/yy; a timestamp column mixing ISO and dd/mm/yyyy hh:mm; a long "
        "quoted text with line breaks (LF and CRLF), `;` and doubled quotes every 10 rows; oui/non and "
        "Oui/Non/empty. MB/s = input size / conversion time; peak RSS of the converting process; correct = cells "
        "equal to the generator's truth (floats within 1e-12 relative, nulls where the truth is null), over all "
        "rows × 21 columns. A type that can't hold the value (amount left as text, code read as an integer) "
        f"makes the whole column wrong. Load average at start: {load:.1f}.\n",
    ]
    for label, src, size, enc in _files(work):
        rows, how = _generate(src, size, enc)
        mb = src.stat().st_size / 1e6
        lines.append(f"### {label}: {mb:.0f} MB, {rows:,} rows ({how})\n")
        lines.append("| contender | MB/s | × pyarrow | peak RSS (MB) | correct cells | note |")
        lines.append("|---|---:|---:|---:|---:|---|")
        measured: list[tuple[str, dict[str, object], dict[str, int] | None]] = []
        codecs = ""
        for name, fn in CONTENDERS.items():
            dest = work / f"out_{fn.__name__}.parquet"
            res = _run(fn.__name__, src, dest, enc)
            cells = tables_data.check(dest, rows) if res["error"] is None and dest.exists() else None
            if fn.__name__ == "ours" and dest.exists() and enc == "cp1252":
                codecs = _codecs(dest, work / "codec.parquet")
            dest.unlink(missing_ok=True)
            measured.append((name, res, cells))
        ceiling = next(
            (float(str(r["seconds"])) for n, r, _ in measured if n.startswith("pyarrow") and not r["error"]),
            0,
        )
        for name, res, cells in measured:
            lines.append(_row(name, res, cells, rows, mb, ceiling))
        lines.append("")
        if codecs:
            lines.append(codecs)
    lines.append(
        f"Load average at end: {os.getloadavg()[0]:.1f} (2 cores; other jobs may share the machine).\n"
    )
    return "\n".join(lines)


CODECS = (("zstd", 1), ("zstd", 3), ("zstd", 6), ("snappy", None), ("lz4", None), ("none", None))


def _codecs(parquet: Path, dest: Path) -> str:
    """Write harvester's converted table again with each codec: seconds (best of 2) and size."""
    import pyarrow.parquet as pq

    from harvester.normalise.pqwriter import COMPRESSION, COMPRESSION_LEVEL

    pf = pq.ParquetFile(parquet)
    table = pf.read()
    dictionary = [
        pf.schema_arrow.names[i]
        for i in range(pf.metadata.num_columns)
        if "RLE_DICTIONARY" in pf.metadata.row_group(0).column(i).encodings
    ]
    out = [
        f"Parquet codecs on harvester's table ({table.num_rows:,} rows, {table.nbytes / 1e6:.0f} MB in "
        f"Arrow; same row groups and dictionary columns; best of 2; harvester uses {COMPRESSION} level "
        f"{COMPRESSION_LEVEL}):\n",
        "| codec | write (s) | size (MB) |",
        "|---|---:|---:|",
    ]
    for codec, level in CODECS:
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            pq.write_table(
                table,
                dest,
                compression=codec,
                compression_level=level,
                row_group_size=pf.metadata.row_group(0).num_rows,
                use_dictionary=dictionary,
            )
            best = min(best, time.perf_counter() - t0)
        name = codec if level is None else f"{codec} level {level}"
        out.append(f"| {name} | {best:.2f} | {dest.stat().st_size / 1e6:.1f} |")
    dest.unlink(missing_ok=True)
    return "\n".join(out) + "\n"


def _row(
    name: str, res: dict[str, object], cells: dict[str, int] | None, rows: int, mb: float, ceiling: float
) -> str:
    seconds = float(str(res["seconds"]))
    total = rows * len(tables_data.COLUMNS)
    if res["error"] or cells is None:
        return (
            f"| {name} | – | – | {float(str(res['rss_mb'])):.0f} | 0 / {total:,} | failed: {res['error']} |"
        )
    good = sum(v for k, v in cells.items() if k != "rows_read")
    wrong = [k for k in tables_data.COLUMNS if cells.get(k, 0) != rows]
    note = "all cells right" if not wrong and cells["rows_read"] == rows else f"wrong: {', '.join(wrong)}"
    if cells["rows_read"] != rows:
        note += f"; {cells['rows_read']:,} rows read"
    ratio = f"{ceiling / seconds:.2f}" if ceiling and seconds else "–"
    return (
        f"| {name} | {mb / seconds:.1f} | {ratio} | {float(str(res['rss_mb'])):.0f} | "
        f"{good:,} / {total:,} ({100 * good / total:.1f} %) | {note} |"
    )
