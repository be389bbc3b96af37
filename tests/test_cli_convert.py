"""`harvester convert FILE_OR_URL`: real fixture files, one URL served locally, errors and exit codes."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from harvester.cli import cli
from tests.fixture_server import FixtureServer, Reply
from tests.normalise.served import ods_bytes, xlsx_bytes, zip_bytes

CSV_FR = Path(__file__).parent / "fixtures" / "csv_fr"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["convert", *args])


def test_csv_json_report_dialect_and_schema(tmp_path: Path) -> None:
    out = tmp_path / "pop.parquet"
    res = run(str(CSV_FR / "insee_populations_legales_communes_head.csv"), "-o", str(out), "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["rows"] == pq.ParquetFile(out).metadata.num_rows == 4999
    det = report["detected"]
    assert (det["kind"], det["encoding"], det["delimiter"], det["has_header"]) == ("csv", "utf-8", ";", True)
    cols = {c["name"]: c for c in report["columns"]}
    assert cols["DEPCOM"]["type"] == "string" and "code" in cols["DEPCOM"]["reason"]
    assert cols["PTOT"]["type"] == "int64"
    assert pq.read_table(out).column("DEPCOM")[0].as_py() == "01001"


def test_windows_1252_decimal_comma_human_output(tmp_path: Path) -> None:
    out = tmp_path / "dido.parquet"
    res = run(str(CSV_FR / "handwritten_dido_iso8859_15_decimal_comma.csv"), "-o", str(out))
    assert res.exit_code == 0, res.output
    assert "3 rows" in res.stderr and "encoding: cp1252" in res.stderr and "decimal: ," in res.stderr
    assert "NUMBER        double  (decimal=,)" in res.stderr
    assert res.stdout == ""  # human output on stderr, stdout kept for --json
    assert pq.read_table(out).column("NUMBER").type == "double"


def test_default_output_name_in_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = run(str(CSV_FR / "cd22_antennes_departementales.csv"))
    assert res.exit_code == 0, res.output
    assert (tmp_path / "cd22_antennes_departementales.parquet").exists()


@pytest.mark.parametrize("suffix", ["xlsx", "ods", "zip", "geojson"])
def test_other_formats(tmp_path: Path, suffix: str) -> None:
    rows = [
        ["code_insee", "montant", "date"],
        ["01001", "1 234,5", "02/03/2021"],
        ["2A004", "7,25", "04/05/2022"],
    ]
    src = tmp_path / f"in.{suffix}"
    if suffix == "xlsx":
        src.write_bytes(xlsx_bytes(rows))
    elif suffix == "ods":
        src.write_bytes(ods_bytes(rows))
    elif suffix == "zip":
        src.write_bytes(zip_bytes({"data/table.csv": "\n".join(";".join(r) for r in rows).encode()}))
    else:
        feats = [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
                "properties": {"n": 1},
            }
        ]
        src.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    res = run(str(src), "-o", str(tmp_path / "out.parquet"), "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    types = {c["name"]: c["type"] for c in report["columns"]}
    if suffix == "geojson":
        assert report["rows"] == 1 and report["detected"]["kind"] == "geojson" and "geometry" in types
        return
    assert report["rows"] == 2 and types["code_insee"] == "string"
    assert types["montant"] == "double" and types["date"] in ("date32[day]", "timestamp[us]")
    if suffix == "zip":
        assert report["detected"]["archive_member"] == "data/table.csv"


def test_url_through_the_http_layer(tmp_path: Path, server: FixtureServer) -> None:
    server.file("/exports/communes.csv", "csv_fr/ign_rgc2011_communes_head.csv", "text/csv")
    res = run(server.url + "/exports/communes.csv", "-o", str(tmp_path / "c.parquet"), "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["download"]["http_status"] == 200 and report["rows"] == 14999
    assert {c["name"]: c["type"] for c in report["columns"]}["DEP"] == "string"
    assert [r.path for r in server.requests] == ["/exports/communes.csv"]
    assert server.requests[0].headers["User-Agent"].startswith("harvester/")


def _scratch() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("harvester-convert-")}


def test_errors_and_exit_codes(tmp_path: Path, server: FixtureServer) -> None:
    before = _scratch()
    missing = run(str(tmp_path / "nope.csv"))
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    bad_out = run(str(CSV_FR / "cd22_antennes_departementales.csv"), "-o", str(tmp_path / "x.csv"))
    assert bad_out.exit_code == 2 and "must be a .parquet file" in bad_out.stderr
    html = tmp_path / "page.csv"
    html.write_text("<!DOCTYPE html><html><body>Not found</body></html>")
    not_table = run(str(html), "-o", str(tmp_path / "p.parquet"))
    assert not_table.exit_code == 1 and "error:" in not_table.stderr
    assert not (tmp_path / "p.parquet").exists()
    server.route("/gone.csv", Reply(404, b"not here"))
    gone = run(server.url + "/gone.csv", "-o", str(tmp_path / "g.parquet"))
    assert gone.exit_code == 1 and "404" in gone.stderr and server.url in gone.stderr
    big = run(
        str(CSV_FR / "ign_rgc2011_communes_head.csv"),
        "--max-bytes",
        "1000",
        "-o",
        str(tmp_path / "b.parquet"),
    )
    assert big.exit_code == 1 and "over the limit" in big.stderr
    assert _scratch() <= before  # scratch folders are removed after a failure too
