"""CSV → typed Parquet on generated French files (~200 MB and ~1 GB): harvester's automatic detection next to
DuckDB's auto-detection, pyarrow.csv with hand-given options (the ceiling) and pandas, in the same run.

Each contender runs in its own process (bench/tables_run.py): MB/s is the input size over the conversion time
(imports excluded), peak RSS is the process's maximum resident set, and every cell of every output is checked
against the generator's truth (bench/tables_data.py). `python -m bench tables`; BENCH_TABLES_SIZES="200,1000"
(MB) and BENCH_TABLES_PANDAS_MAX_MB (skip pandas above that size) tune the run.
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

GENERATOR_VERSION = 1


def _files(out_dir: Path) -> list[tuple[str, Path, int, str]]:
    sizes = [int(s) for s in os.environ.get("BENCH_TABLES_SIZES", "200,1000").split(",") if s.strip()]
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
    pandas_max = int(os.environ.get("BENCH_TABLES_PANDAS_MAX_MB", "100000"))
    load = os.getloadavg()[0]
    lines = [
        "## Tables: French CSV → typed Parquet\n",
        "Generated files (bench/tables_data.py): `;`, decimal comma, dd/mm/yyyy, INSEE codes with 2A/2B and "
        "leading zeros, postcodes and SIRET with leading zeros, Windows-1252 letters (Œ, €, ’), a quoted comment "
        "with `;`, a line break and doubled quotes every 50 rows, oui/non. MB/s = input size / conversion time; "
        "peak RSS of the converting process; correct = cells equal to the generator's truth (floats within "
        "1e-12 relative), over all rows × 9 columns. A type that can't hold the value (amount left as text, "
        f"code read as an integer) makes the whole column wrong. Load average at start: {load:.1f}.\n",
    ]
    for label, src, size, enc in _files(work):
        rows, how = _generate(src, size, enc)
        mb = src.stat().st_size / 1e6
        lines.append(f"### {label}: {mb:.0f} MB, {rows:,} rows ({how})\n")
        lines.append("| contender | MB/s | × pyarrow | peak RSS (MB) | correct cells | note |")
        lines.append("|---|---:|---:|---:|---:|---|")
        measured: list[tuple[str, dict[str, object], dict[str, int] | None]] = []
        for name, fn in CONTENDERS.items():
            if fn.__name__ == "pandas_hand" and mb > pandas_max:
                continue
            dest = work / f"out_{fn.__name__}.parquet"
            res = _run(fn.__name__, src, dest, enc)
            cells = tables_data.check(dest, rows) if res["error"] is None and dest.exists() else None
            dest.unlink(missing_ok=True)
            measured.append((name, res, cells))
        ceiling = next(
            (float(str(r["seconds"])) for n, r, _ in measured if n.startswith("pyarrow") and not r["error"]),
            0,
        )
        for name, res, cells in measured:
            lines.append(_row(name, res, cells, rows, mb, ceiling))
        lines.append("")
    lines.append(
        f"Load average at end: {os.getloadavg()[0]:.1f} (2 cores; other jobs may share the machine).\n"
    )
    return "\n".join(lines)


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
