"""One generated file per quirk of French CSV files, and per kind of hostile input: cell values asserted."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from harvester.errors import RecordError
from harvester.normalise import csv_table
from harvester.normalise.csv_table import TableResult, convert_csv


def convert(tmp_path: Path, data: bytes, name: str = "in.csv") -> tuple[TableResult, list[dict[str, Any]]]:
    src = tmp_path / name
    src.write_bytes(data)
    res = convert_csv(src, tmp_path / "out" / "table.parquet")
    return res, pq.read_table(res.path).to_pylist()


def types(res: TableResult) -> dict[str, str]:
    return {f.name: str(f.type) for f in res.schema}


# -- encodings -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("encoding", "prefix", "expected"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", b"\xef\xbb\xbf", "utf-8"),
        ("cp1252", b"", "cp1252"),
        ("latin-1", b"", "cp1252"),  # identical bytes for French letters; cp1252 is the superset
        ("iso8859_15", b"", "iso8859_15"),
        ("utf-16", b"", "utf-16-le"),  # Python writes a BOM
        ("utf-16-be", b"\xfe\xff", "utf-16-be"),
    ],
)
def test_encodings(tmp_path: Path, encoding: str, prefix: bytes, expected: str) -> None:
    text = "commune;cœur;prix\nSaint-Étienne;œuvre;12,5\nÎle-d'Yeu;à l'été;3\n"
    if encoding in ("latin-1",):
        text = text.replace("œ", "oe")
    data = prefix + text.encode(encoding)
    res, rows = convert(tmp_path, data)
    assert res.detected["encoding"] == expected
    assert rows[0]["commune"] == "Saint-Étienne" and rows[1]["commune"] == "Île-d'Yeu"
    assert rows[1]["cœur" if encoding != "latin-1" else "coeur"] == "à l'été"
    assert [r["prix"] for r in rows] == [12.5, 3.0]


def test_windows_1252_punctuation(tmp_path: Path) -> None:
    """€, œ, ’ and « » live in 0x80-0x9F and 0xAB/0xBB in Windows-1252."""
    data = "libellé;montant\n« Cœur » d’artichaut;10 €\n".encode("cp1252")
    res, rows = convert(tmp_path, data)
    assert res.detected["encoding"] == "cp1252"
    assert rows == [{"libellé": "« Cœur » d’artichaut", "montant": "10 €"}]


def test_ascii_head_then_windows_1252_later(tmp_path: Path) -> None:
    """The sample is pure ASCII; a Windows-1252 'é' far below: re-read as Windows-1252, nothing lost."""
    data = b"nom;n\n" + b"Paris;1\n" * 150_000 + "Orléans;2\n".encode("cp1252")
    res, rows = convert(tmp_path, data)
    assert res.detected["encoding"] == "cp1252"
    assert rows[-1] == {"nom": "Orléans", "n": 2} and len(rows) == 150_001
    assert any("not UTF-8" in w for w in res.warnings)


def test_bad_byte_in_the_middle_is_reported_and_the_rest_kept(tmp_path: Path) -> None:
    data = "ville;n\nÉvry;1\nCaen;2\n".encode() + b"Ni\xffmes;3\n" + "Sète;4\n".encode()
    res, rows = convert(tmp_path, data)
    assert res.detected["encoding"] == "utf-8"
    assert [r["ville"] for r in rows] == ["Évry", "Caen", "Ni\ufffdmes", "Sète"]
    assert [r["n"] for r in rows] == [1, 2, 3, 4]
    assert any("not valid UTF-8" in w and "line 4" in w for w in res.warnings)


def test_undefined_windows_1252_byte_is_kept(tmp_path: Path) -> None:
    data = "a;b\né;x\x81y\n".encode("latin-1")
    res, rows = convert(tmp_path, data)
    assert rows == [{"a": "é", "b": "x\x81y"}]
    assert any("undefined in cp1252" in w for w in res.warnings)


# -- dialect --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"])
def test_delimiters_and_quoting(tmp_path: Path, delimiter: str) -> None:
    d = delimiter
    data = (
        f'nom{d}commentaire{d}valeur\n"Dupont{d} Jean"{d}"ligne 1\nligne 2 ""citée"""{d}1\nMartin{d}simple{d}2\n'
    ).encode()
    res, rows = convert(tmp_path, data)
    assert res.detected["delimiter"] == delimiter
    assert rows[0] == {"nom": f"Dupont{d} Jean", "commentaire": 'ligne 1\nligne 2 "citée"', "valeur": 1}
    assert rows[1] == {"nom": "Martin", "commentaire": "simple", "valeur": 2}


def test_title_lines_above_the_header(tmp_path: Path) -> None:
    data = (
        "Populations légales 2021;;;\nSource : Insee, recensement;;;\n\n"
        "code;commune;population;date\n01001;L'Abergement;832;01/01/2021\n2A004;Ajaccio;71 361;01/01/2021\n"
    ).encode("cp1252")
    res, rows = convert(tmp_path, data)
    assert res.detected["title_lines"] == ["Populations légales 2021", "Source : Insee, recensement"]
    assert list(rows[0]) == ["code", "commune", "population", "date"]
    assert rows[1] == {
        "code": "2A004",
        "commune": "Ajaccio",
        "population": 71361,
        "date": dt.date(2021, 1, 1),
    }


def test_excel_sep_hint_line(tmp_path: Path) -> None:
    _, rows = convert(tmp_path, b"sep=,\na,b\n1;2,3\n")
    assert rows == [{"a": "1;2", "b": 3}]


def test_no_header_row(tmp_path: Path) -> None:
    res, rows = convert(tmp_path, b"01/02/2020;12,5;x\n03/04/2021;7,25;y\n")
    assert res.detected["has_header"] is False
    assert rows[0] == {"column_1": dt.date(2020, 2, 1), "column_2": 12.5, "column_3": "x"}


def test_duplicate_and_empty_column_names(tmp_path: Path) -> None:
    res, rows = convert(tmp_path, b"nom;nom;;val\na;b;c;1\n")
    assert rows == [{"nom": "a", "nom_2": "b", "column_3": "c", "val": 1}]


def test_ragged_rows_are_completed_or_reported(tmp_path: Path) -> None:
    data = b"a;b;c\n1;2;3\n4;5\n6;7;8;;\n9;10;11;12\n13;14;15\n"
    res, rows = convert(tmp_path, data)
    assert [r["a"] for r in rows] == [1, 4, 6, 13]
    assert rows[1] == {"a": 4, "b": 5, "c": None}
    assert any("line 3: 2 fields instead of 3, completed" in w for w in res.warnings)
    assert any("line 5: 4 fields instead of 3, row skipped: 9;10;11;12" in w for w in res.warnings)


# -- French values --------------------------------------------------------------------------------------------
def test_numbers_french_style(tmp_path: Path) -> None:
    nbsp, nnbsp = "\u00a0", "\u202f"
    data = (
        "espace;insecable;point;virgule;entier;anglais\n"
        f"1 234,56;1{nbsp}234,5;1.234.567;-0,5;12 000;1,234.5\n"
        f"12,5;2{nnbsp}000{nnbsp}000;2.500;3,0E-2;7;12.25\n"
        "-3 000;NA;999;nd;-;-\n"
    ).encode()
    res, rows = convert(tmp_path, data)
    assert types(res) == {k: v for k, v in types(res).items()}  # schema readable
    assert [r["espace"] for r in rows] == [1234.56, 12.5, -3000.0]
    assert [r["insecable"] for r in rows] == [1234.5, 2000000.0, None]
    assert [r["point"] for r in rows] == [1234567, 2500, 999]
    assert [r["virgule"] for r in rows] == [-0.5, 0.03, None]
    assert [r["entier"] for r in rows] == [12000, 7, None]
    assert [r["anglais"] for r in rows] == [1234.5, 12.25, None]
    assert types(res)["entier"] == "int64" and types(res)["point"] == "int64"


def test_ambiguous_decimal_marks_stay_text(tmp_path: Path) -> None:
    _, rows = convert(tmp_path, b"x\n1,5\n2.5\n")
    assert [r["x"] for r in rows] == ["1,5", "2.5"]


def test_dates_and_timestamps(tmp_path: Path) -> None:
    data = (
        b"fr;iso;mixte;horodatage;decale\n"
        b"01/02/2020;2020-02-01;31/12/1999;15/03/2021 08:30;2021-03-15T08:30:00+01:00\n"
        b"5/6/2021;2021-06-05;2000-01-31;16/03/2021 23:59:59;2021-03-15T07:30:00Z\n"
    )
    res, rows = convert(tmp_path, data)
    assert [r["fr"] for r in rows] == [dt.date(2020, 2, 1), dt.date(2021, 6, 5)]
    assert [r["iso"] for r in rows] == [dt.date(2020, 2, 1), dt.date(2021, 6, 5)]
    assert [r["mixte"] for r in rows] == [dt.date(1999, 12, 31), dt.date(2000, 1, 31)]
    assert [r["horodatage"] for r in rows] == [
        dt.datetime(2021, 3, 15, 8, 30),
        dt.datetime(2021, 3, 16, 23, 59, 59),
    ]
    assert rows[0]["decale"] == rows[1]["decale"] == dt.datetime(2021, 3, 15, 7, 30, tzinfo=dt.UTC)


def test_impossible_dates_keep_the_column_as_text(tmp_path: Path) -> None:
    _, rows = convert(tmp_path, b"d\n31/04/2020\n01/02/2020\n")
    assert [r["d"] for r in rows] == ["31/04/2020", "01/02/2020"]


def test_booleans_and_nulls(tmp_path: Path) -> None:
    data = b"a;b;c;d;e\noui;O;Vrai;true;N\nnon;N;faux;FALSE;N\nOUI;;VRAI;;N\n"
    res, rows = convert(tmp_path, data)
    assert [r["a"] for r in rows] == [True, False, True]
    assert [r["b"] for r in rows] == [True, False, None]
    assert [r["c"] for r in rows] == [True, False, True]
    assert [r["d"] for r in rows] == [True, False, None]
    assert [r["e"] for r in rows] == ["N", "N", "N"]  # a lone letter is not a boolean


def test_null_tokens_are_only_nulls_in_typed_columns(tmp_path: Path) -> None:
    _, rows = convert(tmp_path, b"n;t\n12;NA\nN/A;-\n-;x\nnd;\n")
    assert [r["n"] for r in rows] == [12, None, None, None]
    assert [r["t"] for r in rows] == ["NA", "-", "x", None]


@pytest.mark.parametrize(
    ("header", "values"),
    [
        ("code_postal", ["01000", "75001", "97400"]),
        ("cog", ["2A004", "2B033", "01001"]),
        ("depcom", ["75056", "13055", "69123"]),  # no zero in the sample, but the name says "code"
        ("siret", ["55210055400013", "73282932000074", "35600000000048"]),
        ("identifiant", ["552100554", "732829320", "356000000"]),  # SIREN: Luhn-valid 9 digits
        ("telephone", ["01 23 45 67 89", "+33 1 23 45 67 89", "0612345678"]),
    ],
)
def test_codes_stay_text(tmp_path: Path, header: str, values: list[str]) -> None:
    data = (header + "\n" + "\n".join(values) + "\n").encode()
    res, rows = convert(tmp_path, data)
    assert types(res)[header] == "string"
    assert [r[header] for r in rows] == values


def test_column_names_kept_and_snake_case_in_metadata(tmp_path: Path) -> None:
    res, rows = convert(tmp_path, "Code.département;Montant (€);nbPlaces\n01;1;2\n".encode())
    assert list(rows[0]) == ["Code.département", "Montant (€)", "nbPlaces"]
    meta = json.loads(res.schema.metadata[b"harvester.columns"])
    assert [m["snake_name"] for m in meta] == ["code_departement", "montant", "nb_places"]
    assert json.loads(res.schema.metadata[b"harvester.detected"])["delimiter"] == ";"
    assert res.schema_hash and res.detected["encoding"] == "utf-8"


# -- values met after the sample --------------------------------------------------------------------------------
def test_later_values_that_do_not_fit_keep_every_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_table, "SAMPLE_ROWS", 100)
    monkeypatch.setattr(csv_table, "BLOCK_SIZE", 1 << 12)
    body = [f"{i};75{i % 1000:03d};{i},5;01/02/2020" for i in range(2000)]
    body += ["2000;01000;n/a;pas de date", "2001;13001;beaucoup;02/02/2020"]
    res, rows = convert(tmp_path, ("id;valeur;mesure;jour\n" + "\n".join(body) + "\n").encode())
    assert len(rows) == 2002
    assert types(res) == {"id": "int64", "valeur": "string", "mesure": "string", "jour": "string"}
    assert rows[-2] == {"id": 2000, "valeur": "01000", "mesure": "n/a", "jour": "pas de date"}
    assert rows[5] == {"id": 5, "valeur": "75005", "mesure": "5,5", "jour": "01/02/2020"}
    assert sum("do not fit" in w for w in res.warnings) == 3


def test_later_decimal_in_an_integer_column_becomes_float(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_table, "SAMPLE_ROWS", 10)
    monkeypatch.setattr(csv_table, "BLOCK_SIZE", 1 << 10)
    body = "\n".join(str(i) for i in range(1000)) + "\n12,5\n"
    res, rows = convert(tmp_path, ("v\n" + body).encode())
    assert types(res)["v"] == "double" and rows[-1]["v"] == 12.5 and rows[3]["v"] == 3.0


def test_streams_in_row_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bounded memory: the file is read and written batch by batch (several row groups), never whole."""
    monkeypatch.setattr(csv_table, "BLOCK_SIZE", 1 << 14)
    monkeypatch.setattr(csv_table, "ROW_GROUP_ROWS", 500)
    res, rows = convert(tmp_path, b"n;t\n" + b"".join(b"%d;texte %d\n" % (i, i) for i in range(20_000)))
    assert pq.ParquetFile(res.path).metadata.num_row_groups > 10
    assert rows[19_999] == {"n": 19_999, "t": "texte 19999"}
    assert pq.ParquetFile(res.path).metadata.row_group(0).column(0).compression == "ZSTD"


# -- hostile input ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"\xef\xbb\xbf\r\n  \n", "empty file"),
        (b"<!DOCTYPE html>\n<html><head><title>404</title></head><body>Not found</body></html>", "HTML page"),
        (b"  <html><body>Erreur 500</body></html>", "HTML page"),
        (b"PK\x03\x04\x14\x00\x00\x00", "ZIP archive"),
        (b"a;b\n" + b"\x00\x01\x02\x03" * 100, "NUL bytes"),
    ],
)
def test_hostile_files_fail_cleanly(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        convert(tmp_path, data)
    assert not (tmp_path / "out" / "table.parquet").exists()
    assert not list((tmp_path / "out").glob(".*")) if (tmp_path / "out").exists() else True


def test_too_large_file_fails_cleanly(tmp_path: Path) -> None:
    src = tmp_path / "big.csv"
    src.write_bytes(b"a\n" + b"1\n" * 1000)
    with pytest.raises(RecordError, match="over the limit"):
        convert_csv(src, tmp_path / "t.parquet", max_bytes=100)


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8"])
def test_stray_nul_bytes_are_removed(tmp_path: Path, encoding: str) -> None:
    res, rows = convert(tmp_path, "a;b\nété\x00;1\nhiver;2\n".encode(encoding))
    assert rows == [{"a": "été", "b": 1}, {"a": "hiver", "b": 2}]
    assert any("1 NUL characters removed" in w for w in res.warnings)


def test_truncated_inside_a_quoted_value(tmp_path: Path) -> None:
    res, rows = convert(tmp_path, b'a;b;c\n1;2;3\n4;"debut\nsuite')
    assert rows == [{"a": 1, "b": "2", "c": 3}, {"a": 4, "b": "debut\nsuite", "c": None}]
    assert any("truncated" in w for w in res.warnings)


def test_truncated_in_the_middle_of_a_row(tmp_path: Path) -> None:
    res, rows = convert(tmp_path, b"a;b;c\n1;2;3\n4;5")
    assert rows == [{"a": 1, "b": 2, "c": 3}, {"a": 4, "b": 5, "c": None}]
    assert any("truncated" in w for w in res.warnings)


def test_header_only_gives_an_empty_table(tmp_path: Path) -> None:
    res, rows = convert(tmp_path, b"a;b;c\n")
    assert rows == [] and res.rows == 0 and [f.name for f in res.schema] == ["a", "b", "c"]


def test_failure_leaves_the_previous_table(tmp_path: Path) -> None:
    dest = tmp_path / "t.parquet"
    good = tmp_path / "good.csv"
    good.write_bytes(b"a\n1\n")
    convert_csv(good, dest)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"<html><body>oops</body></html>")
    with pytest.raises(RecordError):
        convert_csv(bad, dest)
    assert pq.read_table(dest).to_pylist() == [{"a": 1}]


@pytest.mark.parametrize("encoding", ["cp850", "mac_roman"])
def test_dos_and_mac_code_pages(tmp_path: Path, encoding: str) -> None:
    """charset-normalizer tells DOS (cp850) and Mac text from Windows-1252 when there are enough letters."""
    text = (
        "nom;ville;remarque\n" + "Hélène;Orléans;élève très âgée à l'école\nFrançois;Besançon;déjà vu\n" * 20
    )
    res, rows = convert(tmp_path, text.encode(encoding))
    assert res.detected["encoding"] == encoding
    assert rows[0] == {"nom": "Hélène", "ville": "Orléans", "remarque": "élève très âgée à l'école"}


def test_a_record_longer_than_the_read_ahead_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A quoted value spanning many blocks is read whole (the read-ahead limit never blocks the reader)."""
    monkeypatch.setattr(csv_table, "BLOCK_SIZE", 1 << 12)
    long = "ligne\n" * 20_000  # 120 KB in one cell: 30 blocks of 4 KB
    res, rows = convert(tmp_path, f'id;texte\n1;"{long}"\n2;court\n'.encode())
    assert rows == [{"id": 1, "texte": long}, {"id": 2, "texte": "court"}]


def test_later_spaced_thousands_in_an_integer_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_table, "SAMPLE_ROWS", 10)
    monkeypatch.setattr(csv_table, "BLOCK_SIZE", 1 << 10)
    res, rows = convert(tmp_path, ("v\n" + "\n".join(str(i) for i in range(1000)) + "\n12 500\n").encode())
    assert types(res)["v"] == "int64" and rows[-1]["v"] == 12500


def test_old_mac_line_endings(tmp_path: Path) -> None:
    _, rows = convert(tmp_path, b"a;b\r1;x\r2;y\r")
    assert rows == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


def test_duckdb_and_pandas_read_the_types(tmp_path: Path) -> None:
    """What an analyst gets: DuckDB and pandas see dates, decimals, booleans and codes as such."""
    import duckdb

    data = "code;montant;jour;actif\n01001;1 234,5;01/02/2020;oui\n2A004;-2,25;31/12/2021;non\n".encode(
        "cp1252"
    )
    res, _ = convert(tmp_path, data)
    got = duckdb.sql(f"SELECT code, montant, jour, actif FROM '{res.path}' ORDER BY code").fetchall()
    assert got == [
        ("01001", 1234.5, dt.date(2020, 2, 1), True),
        ("2A004", -2.25, dt.date(2021, 12, 31), False),
    ]
    types_ = duckdb.sql(f"DESCRIBE SELECT * FROM '{res.path}'").fetchall()
    assert [t[1] for t in types_] == ["VARCHAR", "DOUBLE", "DATE", "BOOLEAN"]
    frame = pq.read_table(res.path).to_pandas()
    assert frame["code"].tolist() == ["01001", "2A004"] and frame["montant"].sum() == 1232.25


def test_long_values_in_a_file_with_ragged_rows(tmp_path: Path) -> None:
    """A 300 KB value (a WKT polygon, a long text) goes through the sniffer and the row repair."""
    big = "POLYGON((" + ", ".join(f"{i} {i}" for i in range(30_000)) + "))"
    res, rows = convert(tmp_path, f'a;geom;c\n1;"{big}";3\n4;5\n'.encode())
    assert rows == [{"a": 1, "geom": big, "c": 3}, {"a": 4, "geom": "5", "c": None}]


def test_a_first_row_of_secret_values_is_data(tmp_path: Path) -> None:
    """ "secret" or "nc" under the header is a data row with no values, not a row of units."""
    res, rows = convert(tmp_path, b"commune;n;m\nA;secret;nc\nB;12;3\nC;4;5\nD;6;7\nE;8;9\nF;1;2\n")
    assert res.detected["extra_header_rows"] == []
    assert rows[0] == {"commune": "A", "n": None, "m": None} and rows[1] == {"commune": "B", "n": 12, "m": 3}
