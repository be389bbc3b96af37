"""Property test: random typed tables, written as CSV with random French conventions, come back cell for cell.

Conventions drawn per file: encoding (UTF-8, UTF-8 with BOM, Windows-1252, UTF-16), delimiter, line ending,
quoting, decimal comma or point, thousands separator (space, no-break space, narrow no-break space, or a dot
with a decimal comma), date layout (dd/mm/yyyy, ISO, or both mixed), boolean words, null spelling, and codes
with leading zeros. The converter gets no option: every cell read back must equal the generated value.

A typed column holding no value at all (only null spellings) can't be typed: it stays text, verbatim.
Left out on purpose (ambiguous for any reader, documented in the README): a single column of text with
unquoted delimiters in it, integers grouped by a dot with no
other hint ("12.345" may be a decimal), and commas grouping integers ("1,234" is a decimal comma in French).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harvester.normalise.csv_table import convert_csv

KINDS = ("int", "float", "date", "bool", "code", "text")
TEXT_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèêàâçôûùïœŒÉÈ€’«» ;,\"'\n-./()"
BOOLS = (("oui", "non"), ("vrai", "faux"), ("Oui", "Non"), ("true", "false"), ("VRAI", "FAUX"))
NULLS = ("", "NA", "-", "nd", "N/A")
SPACES = (" ", "\u00a0", "\u202f")


@dataclass
class Style:
    encoding: str
    delimiter: str
    newline: str
    quote_all: bool
    decimal: str
    thousands: str
    date_layout: str
    bools: tuple[str, str]
    null: str


def group(digits: str, sep: str) -> str:
    if not sep:
        return digits
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return sep.join(parts)


def fmt(kind: str, value: Any, style: Style, row: int) -> str:
    if value is None:
        return style.null if kind not in ("text", "code") else ""
    if kind == "int":
        sign = "-" if value < 0 else ""
        sep = style.thousands if style.thousands != "." else ""
        return sign + group(str(abs(value)), sep)
    if kind == "float":
        cents = value
        sign = "-" if cents < 0 else ""
        whole, frac = divmod(abs(cents), 100)
        return f"{sign}{group(str(whole), style.thousands)}{style.decimal}{frac:02d}"
    if kind == "date":
        layout = style.date_layout if style.date_layout != "mixed" else ("fr", "iso")[row % 2]
        return value.strftime("%d/%m/%Y") if layout == "fr" else value.isoformat()
    if kind == "bool":
        return style.bools[0] if value else style.bools[1]
    return str(value)


def expected(kind: str, value: Any) -> Any:
    return value / 100 if kind == "float" and value is not None else value


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], list[list[Any]], Style]:
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    decimal = draw(st.sampled_from([",", "."]))
    spaces = SPACES if encoding != "cp1252" else SPACES[:2]  # no narrow no-break space in Windows-1252
    thousands = draw(st.sampled_from(["", *spaces] + (["."] if decimal == "," else [])))
    style = Style(
        encoding=encoding,
        delimiter=draw(st.sampled_from([";", ",", "\t", "|"])),
        newline=draw(st.sampled_from(["\n", "\r\n"])),
        quote_all=draw(st.booleans()),
        decimal=decimal,
        thousands=thousands,
        date_layout=draw(st.sampled_from(["fr", "iso", "mixed"])),
        bools=draw(st.sampled_from(BOOLS)),
        null=draw(st.sampled_from(NULLS)),
    )
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=6))
    n = draw(st.integers(min_value=1, max_value=40))
    code_width = draw(st.integers(min_value=2, max_value=14))
    columns: list[list[Any]] = []
    for kind in kinds:
        nullable = st.none() if kind != "code" else st.nothing()
        if kind == "int":
            values = st.integers(min_value=-(10**8), max_value=10**8)
        elif kind == "float":
            values = st.integers(min_value=-(10**11), max_value=10**11)  # cents
        elif kind == "date":
            values = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31))
        elif kind == "bool":
            values = st.booleans()
        elif kind == "code":
            values = st.integers(min_value=0, max_value=10**code_width - 1).map(
                lambda v, w=code_width: str(v).zfill(w)
            )
        else:
            values = st.text(alphabet=TEXT_ALPHABET, min_size=0, max_size=30).map(lambda s: "T" + s)
        col = draw(st.lists(st.one_of(values, nullable), min_size=n, max_size=n))
        if kind == "code":
            col[0] = "0" + col[0][1:]  # a leading zero somewhere: a code, not a number
        columns.append(col)
    names = [f"colonne_{i}_{kind}_é" for i, kind in enumerate(kinds)]
    rows = [[columns[c][r] for c in range(len(kinds))] for r in range(n)]
    return names, rows, style


def write(path: Path, names: list[str], rows: list[list[Any]], style: Style) -> None:
    kinds = [name.split("_")[2] for name in names]
    buf = io.StringIO(newline="")
    # one column of text holding unquoted ';' or ',' is ambiguous for any reader: quote it then
    quote_all = style.quote_all or len(names) == 1
    writer = csv.writer(
        buf,
        delimiter=style.delimiter,
        lineterminator=style.newline,
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    )
    writer.writerow(names)
    for r, row in enumerate(rows):
        writer.writerow([fmt(k, v, style, r) for k, v in zip(kinds, row, strict=True)])
    path.write_bytes(buf.getvalue().encode(style.encoding))


CP1252 = Style("cp1252", ";", "\n", False, ",", "", "fr", ("oui", "non"), "")


# derandomize: CI runs the same 200 examples every time (reproducible); when changing the CSV engine, explore
# further by setting derandomize=False and a larger max_examples locally.
@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
# cases found by hypothesis: few letters, where a wrong code page once read more "French" than Windows-1252
@example((["colonne_0_text_é"], [["T€"], ["T€"]], CP1252))
@example((["colonne_0_int_é", "colonne_1_int_é", "colonne_2_text_é"], [[None, None, "T€"]], CP1252))
def test_random_french_tables_round_trip(table: tuple[list[str], list[list[Any]], Style]) -> None:
    names, rows, style = table
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "t.csv"
        write(src, names, rows, style)
        res = convert_csv(src, Path(tmp) / "t.parquet")
        got = pq.read_table(res.path).to_pylist()
    assert res.rows == len(rows)
    assert [f.name for f in res.schema] == names
    kinds = [name.split("_")[2] for name in names]
    for c, kind in enumerate(kinds):
        if all(row[c] is None for row in rows):
            # no value at all: the type can't be known, the column stays text and keeps the null spelling
            spelled = (style.null if kind != "text" else "") or None
            assert all(got[r][names[c]] == spelled for r in range(len(rows))), style
            continue
        for r, row in enumerate(rows):
            assert got[r][names[c]] == expected(kind, row[c]), (r, names[c], style)
    typed = {"int": "int64", "float": "double", "date": "date32[day]", "bool": "bool", "code": "string"}
    for field, kind, c in zip(res.schema, kinds, range(len(kinds)), strict=True):
        if kind in typed and any(row[c] is not None for row in rows):
            assert str(field.type) == typed[kind], (field.name, style)
