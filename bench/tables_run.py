"""One contender of the tables benchmark, run in its own process: `python -m bench.tables_run NAME SRC DEST ENC`.

Prints one JSON line: conversion seconds (imports excluded), the process's peak RSS, and the error if any.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

TEXT = ("code_commune", "code_postal", "siret", "nom", "commentaire")


def ours(src: Path, dest: Path, encoding: str) -> None:
    """harvester, automatic detection (no option)."""
    from harvester.normalise.csv_table import convert_csv

    convert_csv(src, dest)


def duckdb_auto(src: Path, dest: Path, encoding: str) -> None:
    """DuckDB read_csv with its automatic detection, COPY to Parquet (zstd)."""
    import duckdb

    duckdb.sql(f"COPY (SELECT * FROM read_csv('{src}')) TO '{dest}' (FORMAT parquet, COMPRESSION zstd)")


def duckdb_hand(src: Path, dest: Path, encoding: str) -> None:
    """DuckDB read_csv with hand-given options (latin-1 is the closest DuckDB has to Windows-1252)."""
    import duckdb

    enc = "latin-1" if encoding == "cp1252" else "utf-8"
    types = {c: "VARCHAR" for c in TEXT} | {
        "id": "BIGINT",
        "montant": "DOUBLE",
        "date": "DATE",
        "actif": "VARCHAR",
    }
    duckdb.sql(
        f"""COPY (SELECT * REPLACE (actif = 'oui' AS actif) FROM read_csv('{src}', delim=';', header=true,
            quote='"', escape='"', decimal_separator=',', dateformat='%d/%m/%Y', encoding='{enc}',
            types={types!r}))
            TO '{dest}' (FORMAT parquet, COMPRESSION zstd)"""
    )


def pyarrow_hand(src: Path, dest: Path, encoding: str) -> None:
    """pyarrow.csv.read_csv with hand-given options (reads the whole file), then write_table (zstd)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    types = {c: pa.string() for c in TEXT} | {"id": pa.int64(), "montant": pa.float64(), "actif": pa.bool_()}
    table = pacsv.read_csv(
        src,
        read_options=pacsv.ReadOptions(encoding="cp1252" if encoding == "cp1252" else "utf8"),
        parse_options=pacsv.ParseOptions(delimiter=";", newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=types | {"date": pa.timestamp("s")},
            decimal_point=",",
            timestamp_parsers=["%d/%m/%Y"],
            true_values=["oui"],
            false_values=["non"],
        ),
    )
    table = table.set_column(
        table.schema.get_field_index("date"), "date", pc.cast(table["date"], pa.date32())
    )
    pq.write_table(table, dest, compression="zstd")


def pandas_hand(src: Path, dest: Path, encoding: str) -> None:
    """pandas.read_csv with hand-given options (C engine, round-trip floats), then to_parquet (zstd)."""
    import pandas as pd

    df = pd.read_csv(
        src,
        sep=";",
        encoding="cp1252" if encoding == "cp1252" else "utf-8-sig",
        decimal=",",
        dtype=dict.fromkeys(TEXT, str),
        parse_dates=["date"],
        date_format="%d/%m/%Y",
        true_values=["oui"],
        false_values=["non"],
        float_precision="round_trip",
    )
    df.to_parquet(dest, compression="zstd", index=False)


CONTENDERS: dict[str, Callable[[Path, Path, str], None]] = {
    "harvester (auto)": ours,
    "pyarrow.csv (hand-given options)": pyarrow_hand,
    "DuckDB read_csv (auto-detect)": duckdb_auto,
    "DuckDB read_csv (hand-given options)": duckdb_hand,
    "pandas (hand-given options)": pandas_hand,
}
BY_KEY = {fn.__name__: fn for fn in CONTENDERS.values()}
# imported before the clock starts: MB/s measures converting, not importing
IMPORTS = {
    "ours": ("harvester.normalise.csv_table",),
    "duckdb_auto": ("duckdb",),
    "duckdb_hand": ("duckdb",),
    "pyarrow_hand": ("pyarrow.csv", "pyarrow.parquet", "pyarrow.compute"),
    "pandas_hand": ("pandas", "pyarrow.parquet"),
}


def _peak_rss_mb() -> float:
    """VmHWM: this process's peak resident set (ru_maxrss would include the parent's, kept across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    name, src, dest, encoding = argv
    fn = BY_KEY[name]
    for module in IMPORTS[name]:
        importlib.import_module(module)
    error = None
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    try:
        fn(Path(src), Path(dest), encoding)
    except Exception as exc:  # reported in the benchmark table
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    seconds = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
    rss_mb = _peak_rss_mb()
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "rss_mb": rss_mb, "error": error}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
