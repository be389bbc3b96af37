"""Generated French-style CSV files for the tables benchmark, and the truth to check every cell against.

Row ``i`` is a pure function of ``i``: the generator writes it, the checker recomputes it. Columns: an integer
id, an INSEE commune code (2A/2B, leading zeros), a postcode (leading zeros), a SIRET (14 digits, leading
zeros), a name with Windows-1252 letters (Œ, €, ’), an amount with a decimal comma, a dd/mm/yyyy date, a
comment that every 50th row is quoted and holds ';', a line break and doubled quotes, and oui/non.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

COLUMNS = ("id", "code_commune", "code_postal", "siret", "nom", "montant", "date", "commentaire", "actif")
NAMES = (
    "Saint-Étienne",
    "L'Haÿ-les-Roses",
    "Besançon",
    "Œuvre sociale",
    "Évry-Courcouronnes",
    "Prix en € TTC",
    "Île-d’Yeu",
    "Châlons « centre »",
)
DEPS = tuple([f"{d:02d}" for d in range(1, 20)] + ["2A", "2B"] + [f"{d:02d}" for d in range(21, 96)])
QUOTED = '"Ligne 1; suite\nligne 2 ""citée"""'
QUOTED_TRUTH = 'Ligne 1; suite\nligne 2 "citée"'
EPOCH = dt.date(1990, 1, 1)
CHUNK_ROWS = 250_000


def _s(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _pad(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(_s(values), width=width, padding="0")


def _parts(i: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "dep": (i * 31) % len(DEPS),
        "com": (i * 7919) % 1000,
        "cp": (i * 104729) % 95000 + 1000,
        "siret": (i * 1000003) % 10**14,
        "cents": (i * 2654435761) % 10**9 - 10**7,
        "days": (i * 37) % 15000,
    }


def truth(start: int, n: int) -> pa.Table:
    """The typed values of rows start..start+n, as a French reader means them."""
    i = np.arange(start, start + n, dtype=np.int64)
    p = _parts(i)
    deps = pa.array(DEPS).take(pa.array(p["dep"]))
    return pa.table(
        {
            "id": pa.array(i + 1),
            "code_commune": pc.binary_join_element_wise(deps, _pad(p["com"], 3), ""),
            "code_postal": _pad(p["cp"], 5),
            "siret": _pad(p["siret"], 14),
            "nom": pa.array(NAMES).take(pa.array(i % len(NAMES))),
            "montant": pa.array(p["cents"] / 100),
            "date": pa.array(np.datetime64(EPOCH.isoformat()) + p["days"]).cast(pa.date32()),
            "commentaire": pa.array(
                np.where(i % 50 == 0, QUOTED_TRUTH, np.char.add("texte simple ", (i % 13).astype(str)))
            ),
            "actif": pa.array(i % 3 == 0),
        }
    )


def _lines(start: int, n: int) -> pa.Array | pa.ChunkedArray:
    i = np.arange(start, start + n, dtype=np.int64)
    p = _parts(i)
    t = truth(start, n)
    cents = p["cents"]
    whole, frac = np.abs(cents) // 100, np.abs(cents) % 100
    sign = pa.array(np.where(cents < 0, "-", ""))
    montant = pc.binary_join_element_wise(sign, _s(whole), pa.scalar(","), _pad(frac, 2), "")
    day = pc.day(t["date"])
    date = pc.binary_join_element_wise(
        _pad(day.to_numpy(), 2),
        _pad(pc.month(t["date"]).to_numpy(), 2),
        _s(pc.year(t["date"]).to_numpy()),
        "/",
    )
    comment = pa.array(np.where(i % 50 == 0, QUOTED, np.char.add("texte simple ", (i % 13).astype(str))))
    cells = [
        _s(i + 1),
        t["code_commune"],
        t["code_postal"],
        t["siret"],
        t["nom"],
        montant,
        date,
        comment,
        pa.array(np.where(i % 3 == 0, "oui", "non")),
    ]
    line = pc.binary_join_element_wise(*cells, ";")
    return pc.binary_join_element_wise(line, pa.scalar(""), "\n")  # "cells\n"


def generate(path: Path, target_bytes: int, encoding: str) -> int:
    """Write about target_bytes of CSV (';', LF) in ``encoding`` ("cp1252" or "utf-8-sig"); rows written."""
    tmp = path.with_suffix(".part")
    rows = 0
    with tmp.open("wb") as fh:
        header = ";".join(COLUMNS) + "\n"
        fh.write(header.encode(encoding))
        written = fh.tell()
        while written < target_bytes:
            lines = _lines(rows, CHUNK_ROWS)
            if isinstance(lines, pa.ChunkedArray):
                lines = lines.combine_chunks()
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[
                lines.offset : lines.offset + len(lines) + 1
            ]
            raw = lines.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]
            data = raw if encoding != "cp1252" else raw.decode("utf-8").encode("cp1252")
            fh.write(data)
            written += len(data)
            rows += CHUNK_ROWS
    tmp.replace(path)
    return rows


def _normalise(col: pa.ChunkedArray | pa.Array, want: pa.DataType) -> pa.Array:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_large_string(arr.type) or pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.string())
    if pa.types.is_timestamp(arr.type) and want == pa.date32():
        if arr.type.tz is not None:
            arr = arr.cast(pa.timestamp(arr.type.unit))
        as_date = arr.cast(pa.date32(), safe=False)
        midnight = pc.equal(as_date.cast(pa.timestamp(arr.type.unit)), arr)
        arr = pc.if_else(pc.fill_null(midnight, True), as_date, pa.scalar(None, pa.date32()))
    return arr


def check(parquet: Path, rows: int) -> dict[str, int]:
    """Correct cells per column (and "rows_read") of a converted file, against the truth. A column missing,
    or of a type that can't hold the value (amounts as text, codes as integers), counts as all wrong."""
    pf = pq.ParquetFile(parquet)
    names = pf.schema_arrow.names
    correct = {c: 0 for c in COLUMNS}
    start = 0
    for batch in pf.iter_batches(batch_size=CHUNK_ROWS):
        n = min(batch.num_rows, rows - start)
        if n <= 0:
            break
        want = truth(start, n)
        for c in COLUMNS:
            if c not in names:
                continue
            got = _normalise(batch.column(names.index(c)).slice(0, n), want[c].type)
            exp = want[c].combine_chunks()
            if got.type != exp.type:
                continue
            if pa.types.is_floating(exp.type):
                same = pc.less_equal(pc.abs(pc.subtract(got, exp)), pc.multiply(pc.abs(exp), 1e-12))
            else:
                same = pc.equal(got, exp)
            correct[c] += int(pc.sum(pc.fill_null(same, False).cast(pa.int64())).as_py() or 0)
        start += n
    correct["rows_read"] = pf.metadata.num_rows
    return correct
