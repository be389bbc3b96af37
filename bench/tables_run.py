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

TEXT = ("code_commune", "code_postal", "siret", "nom", "categorie", "code_naf", "telephone", "commentaire")
SPACES = "[ \u00a0\u202f]"
NULLS = ["", "NA", "-"]


def ours(src: Path, dest: Path, encoding: str) -> None:
    """harvester, automatic detection (no option)."""
    from harvester.normalise.csv_table import convert_csv

    convert_csv(src, dest)


def duckdb_auto(src: Path, dest: Path, encoding: str) -> None:
    """DuckDB read_csv with its automatic detection, COPY to Parquet (zstd)."""
    import duckdb

    duckdb.sql(f"COPY (SELECT * FROM read_csv('{src}')) TO '{dest}' (FORMAT parquet, COMPRESSION zstd)")


def duckdb_hand(src: Path, dest: Path, encoding: str) -> None:
    """DuckDB read_csv with hand-given options and SQL for what read_csv can't do (spaced thousands, mixed
    date formats); latin-1 is the closest DuckDB has to Windows-1252."""
    import duckdb

    enc = "latin-1" if encoding == "cp1252" else "utf-8"
    types = {c: "VARCHAR" for c in (*TEXT, "montant", "population", "date", "date_maj", "actif")} | {
        "ouvert_dimanche": "VARCHAR"
    }
    duckdb.sql(
        f"""COPY (SELECT * REPLACE (
              CAST(replace(regexp_replace(montant, '{SPACES}', '', 'g'), ',', '.') AS DOUBLE) AS montant,
              CAST(regexp_replace(population, '{SPACES}', '', 'g') AS BIGINT) AS population,
              CAST(coalesce(try_strptime(date, '%d/%m/%y'), try_strptime(date, '%d/%m/%Y'),
                            try_strptime(date, '%Y-%m-%d')) AS DATE) AS date,
              coalesce(try_strptime(date_maj, '%Y-%m-%dT%H:%M:%S'),
                       try_strptime(date_maj, '%d/%m/%Y %H:%M')) AS date_maj,
              actif = 'oui' AS actif,
              CASE ouvert_dimanche WHEN 'Oui' THEN true WHEN 'Non' THEN false END AS ouvert_dimanche)
            FROM read_csv('{src}', delim=';', header=true, quote='"', escape='"', decimal_separator=',',
                          nullstr={NULLS!r}, encoding='{enc}', types={types!r}))
            TO '{dest}' (FORMAT parquet, COMPRESSION zstd)"""
    )


def pyarrow_hand(src: Path, dest: Path, encoding: str) -> None:
    """pyarrow.csv.read_csv with hand-given options (reads the whole file), pyarrow.compute for what it can't
    do (spaced thousands), then write_table (zstd)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    types = {c: pa.string() for c in (*TEXT, "montant", "population")} | {
        "id": pa.int64(),
        "annee": pa.int64(),
        "nb_places": pa.int64(),
        "actif": pa.bool_(),
        "ouvert_dimanche": pa.bool_(),
        "date": pa.timestamp("s"),
        "date_maj": pa.timestamp("us"),
    }
    table = pacsv.read_csv(
        src,
        read_options=pacsv.ReadOptions(encoding="cp1252" if encoding == "cp1252" else "utf8"),
        parse_options=pacsv.ParseOptions(delimiter=";", newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            decimal_point=",",
            null_values=NULLS,
            strings_can_be_null=True,
            timestamp_parsers=["%d/%m/%y", "%d/%m/%Y", "%d/%m/%Y %H:%M", pacsv.ISO8601],
            true_values=["oui", "Oui"],
            false_values=["non", "Non"],
        ),
    )

    for name, typ in (("montant", pa.float64()), ("population", pa.int64())):
        text = pc.replace_substring(pc.replace_substring_regex(table[name], SPACES, ""), ",", ".")
        table = table.set_column(table.schema.get_field_index(name), name, pc.cast(text, typ))
    table = table.set_column(
        table.schema.get_field_index("date"), "date", pc.cast(table["date"], pa.date32())
    )
    pq.write_table(table, dest, compression="zstd")


CONTENDERS: dict[str, Callable[[Path, Path, str], None]] = {
    "harvester (auto)": ours,
    "pyarrow.csv (hand-given options)": pyarrow_hand,
    "DuckDB read_csv (auto-detect)": duckdb_auto,
    "DuckDB read_csv (hand-given options)": duckdb_hand,
}
BY_KEY = {fn.__name__: fn for fn in CONTENDERS.values()}
# imported before the clock starts: MB/s measures converting, not importing
IMPORTS = {
    "ours": ("harvester.normalise.csv_table",),
    "duckdb_auto": ("duckdb",),
    "duckdb_hand": ("duckdb",),
    "pyarrow_hand": ("pyarrow.csv", "pyarrow.parquet", "pyarrow.compute"),
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
