"""Generated French-style CSV files for the tables benchmark, and the truth to check every cell against.

Row ``i`` is a pure function of ``i``: the generator writes it, the checker recomputes it. 21 columns shaped
like real French exports: codes with leading zeros (INSEE with 2A/2B, postcode, SIRET, NAF, phone), names
with Windows-1252 letters (Œ, €, ’), amounts with a decimal comma and thousands separated by a space, a
no-break space (U+00A0) or, in the UTF-8 file only (Windows-1252 has no such character), a narrow no-break
space (U+202F); integers with spaced thousands; NA/-/empty nulls in number columns; one date column mixing
dd/mm/yyyy, yyyy-mm-dd and dd/mm/yy; a timestamp column mixing ISO and dd/mm/yyyy hh:mm; long quoted texts
with line breaks (LF and CRLF), ';' and doubled quotes; oui/non and Oui/Non/empty booleans.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

COLUMNS = (
    "id",
    "code_commune",
    "code_postal",
    "siret",
    "nom",
    "categorie",
    "code_naf",
    "telephone",
    "montant",
    "population",
    "taux",
    "surface",
    "latitude",
    "longitude",
    "annee",
    "nb_places",
    "date",
    "date_maj",
    "commentaire",
    "actif",
    "ouvert_dimanche",
)
TEXT = ("code_commune", "code_postal", "siret", "nom", "categorie", "code_naf", "telephone", "commentaire")
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
CATEGORIES = (
    "Équipement sportif",
    "Médiathèque",
    "Établissement scolaire",
    "Crèche",
    "Salle polyvalente",
    "Déchèterie",
    "Mairie annexe",
)
DEPS = tuple([f"{d:02d}" for d in range(1, 20)] + ["2A", "2B"] + [f"{d:02d}" for d in range(21, 96)])
_WORDS = "Le conseil municipal a délibéré ; l’opération « cœur de ville » coûte 12 000 € HT. ".split(" ")
LONG_TEXTS = tuple(
    f'Paragraphe {k} : "{" ".join(_WORDS * (k + 1))}"\n'
    + ("\r\n" if k % 2 else "\n").join(f"ligne {j} — « suite » ; fin" for j in range(k + 2))
    for k in range(8)
)
EPOCH = dt.date(1990, 1, 1)
CHUNK_ROWS = 200_000
SEPARATORS = {"cp1252": ("", " ", "\u00a0"), "utf-8-sig": ("", " ", "\u00a0", "\u202f")}


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
        "cents": (i * 2654435761) % 10**11 - 10**9,
        "pop": (i * 7919) % 2_000_000,
        "taux": (i * 97) % 10000,
        "surf": (i * 53) % 100000,
        "lat": 41_000_000 + (i * 7919 * 13) % 10_000_000,
        "lon": (i * 104729) % 14_000_000 - 5_000_000,
        "places": (i * 37) % 5000,
        "days": (i * 37) % 15000,
        "secs": (i * 7777777) % (30 * 365 * 86400),
    }


def _null_where(values: pa.Array, mask: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(mask), pa.scalar(None, values.type), values)


def truth(start: int, n: int) -> pa.Table:
    """The typed values of rows start..start+n, as a French reader means them."""
    i = np.arange(start, start + n, dtype=np.int64)
    p = _parts(i)
    deps = pa.array(DEPS).take(pa.array(p["dep"]))
    secs = p["secs"] - np.where(i % 2 == 1, p["secs"] % 60, 0)  # dd/mm/yyyy hh:mm rows have no seconds
    comment = np.where(i % 10 == 0, np.array(LONG_TEXTS, dtype=object)[(i // 10) % 8], None)
    comment = np.where(
        i % 10 != 0, np.char.add("texte simple ", (i % 13).astype(str)).astype(object), comment
    )
    return pa.table(
        {
            "id": pa.array(i + 1),
            "code_commune": pc.binary_join_element_wise(deps, _pad(p["com"], 3), ""),
            "code_postal": _pad(p["cp"], 5),
            "siret": _pad(p["siret"], 14),
            "nom": pa.array(NAMES).take(pa.array(i % len(NAMES))),
            "categorie": pa.array(CATEGORIES).take(pa.array((i * 5) % len(CATEGORIES))),
            "code_naf": pc.binary_join_element_wise(
                pc.binary_join_element_wise(_pad((i * 13) % 99 + 1, 2), _pad((i * 7) % 100, 2), "."),
                pa.array(np.array(list("ABCDEFGHJKLMNPZ"))[i % 15]),
                "",
            ),
            "telephone": pc.binary_join_element_wise(
                _pad(i % 5 + 1, 2), *[_pad((i * k) % 100, 2) for k in (3, 7, 11, 13)], " "
            ),
            "montant": pa.array(p["cents"] / 100),
            "population": pa.array(p["pop"]),
            "taux": _null_where(pa.array(p["taux"] / 100), i % 13 < 3),
            "surface": pa.array(p["surf"] / 1000),
            "latitude": pa.array(p["lat"] / 1e6),
            "longitude": pa.array(p["lon"] / 1e6),
            "annee": pa.array(1990 + i % 40),
            "nb_places": _null_where(pa.array(p["places"]), i % 11 < 3),
            "date": pa.array(np.datetime64(EPOCH.isoformat()) + p["days"]).cast(pa.date32()),
            "date_maj": pa.array(np.datetime64("1995-01-01T00:00:00") + secs).cast(pa.timestamp("us")),
            "commentaire": pa.array(np.where(i % 17 == 5, None, comment), pa.string()),
            "actif": pa.array(i % 3 == 0),
            "ouvert_dimanche": _null_where(pa.array(i % 4 == 0), i % 7 == 3),
        }
    )


def _grouped(whole: np.ndarray, seps: pa.Array) -> pa.Array:
    """Integers (< 10⁹) with their thousands separated by the per-row separator."""
    m, t, u = whole // 1_000_000, (whole // 1000) % 1000, whole % 1000
    big = pc.binary_join_element_wise(_s(m), seps, _pad(t, 3), seps, _pad(u, 3), "")
    mid = pc.binary_join_element_wise(_s(t), seps, _pad(u, 3), "")
    return pc.if_else(pa.array(whole >= 1_000_000), big, pc.if_else(pa.array(whole >= 1000), mid, _s(u)))


def _decimal(scaled: np.ndarray, digits: int, seps: pa.Array | None = None) -> pa.Array:
    """``scaled / 10**digits`` written with a decimal comma (and thousands separators if ``seps``)."""
    whole, frac = np.abs(scaled) // 10**digits, np.abs(scaled) % 10**digits
    sign = pa.array(np.where(scaled < 0, "-", ""))
    body = _grouped(whole, seps) if seps is not None else _s(whole)
    return pc.binary_join_element_wise(sign, body, pa.scalar(","), _pad(frac, digits), "")


def _nulls(text: pa.Array, i: np.ndarray, period: int) -> pa.Array:
    """Rows i % period == 0, 1, 2 spelled NA, - and empty."""
    tokens = pa.array(np.array(["NA", "-", ""], dtype=object)[np.minimum(i % period, 2)])
    return pc.if_else(pa.array(i % period < 3), tokens, text)


def _quoted(text: pa.Array) -> pa.Array:
    doubled = pc.replace_substring(text, '"', '""')
    return pc.binary_join_element_wise(pa.scalar('"'), doubled, pa.scalar('"'), "")


def _lines(start: int, n: int, encoding: str) -> pa.Array | pa.ChunkedArray:
    i = np.arange(start, start + n, dtype=np.int64)
    p = _parts(i)
    t = truth(start, n)
    choices = SEPARATORS[encoding]
    seps = pa.array(np.array(choices, dtype=object)[(i * 7) % len(choices)])
    spaced = pa.array(np.array(choices[1:], dtype=object)[(i * 3) % (len(choices) - 1)])
    day = pc.strftime(t["date"].cast(pa.timestamp("s")), format="%d/%m/%Y")
    iso = pc.strftime(t["date"].cast(pa.timestamp("s")), format="%Y-%m-%d")
    short = pc.strftime(t["date"].cast(pa.timestamp("s")), format="%d/%m/%y")
    date = pc.if_else(pa.array(i % 3 == 0), day, pc.if_else(pa.array(i % 3 == 1), iso, short))
    maj = pc.if_else(
        pa.array(i % 2 == 0),
        pc.strftime(t["date_maj"].cast(pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%S"),
        pc.strftime(t["date_maj"].cast(pa.timestamp("s")), format="%d/%m/%Y %H:%M"),
    )
    comment = pc.if_else(pa.array(i % 10 == 0), _quoted(t["commentaire"]), t["commentaire"])
    sunday = pc.if_else(t["ouvert_dimanche"], pa.scalar("Oui"), pa.scalar("Non"))
    cells = [
        _s(i + 1),
        t["code_commune"],
        t["code_postal"],
        t["siret"],
        t["nom"],
        t["categorie"],
        t["code_naf"],
        t["telephone"],
        _decimal(p["cents"], 2, seps),
        _grouped(p["pop"], spaced),
        _nulls(_decimal(p["taux"], 2), i, 13),
        _decimal(p["surf"], 3),
        _decimal(p["lat"], 6),
        _decimal(p["lon"], 6),
        _s(1990 + i % 40),
        _nulls(_s(p["places"]), i, 11),
        date,
        maj,
        pc.fill_null(comment, ""),
        pa.array(np.where(i % 3 == 0, "oui", "non")),
        pc.fill_null(sunday, ""),
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
            lines = _lines(rows, CHUNK_ROWS, encoding)
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
    if pa.types.is_timestamp(arr.type) and arr.type.tz is not None:
        arr = arr.cast(pa.timestamp(arr.type.unit))
    if pa.types.is_timestamp(arr.type) and want == pa.date32():
        as_date = arr.cast(pa.date32(), safe=False)
        midnight = pc.equal(as_date.cast(pa.timestamp(arr.type.unit)), arr)
        arr = pc.if_else(pc.fill_null(midnight, True), as_date, pa.scalar(None, pa.date32()))
    elif pa.types.is_timestamp(arr.type) and pa.types.is_timestamp(want) and arr.type != want:
        arr = arr.cast(want)
    return arr


def check(parquet: Path, rows: int) -> dict[str, int]:
    """Correct cells per column (and "rows_read") of a converted file, against the truth. A column missing,
    or of a type that can't hold the value (amounts as text, codes as integers), counts as all wrong; a null
    is right where the truth is null."""
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
            both_null = pc.and_(pc.is_null(got), pc.is_null(exp))
            same = pc.or_(pc.fill_null(same, False), both_null)
            correct[c] += int(pc.sum(same.cast(pa.int64())).as_py() or 0)
        start += n
    correct["rows_read"] = pf.metadata.num_rows
    return correct
