"""Hostile files fail their own resource, in bounded memory, and the other resources of the source still convert.

The end-to-end test runs `harvester normalise` in a child process under a 4 GB address-space limit and reads the
child's peak RSS with `os.wait4`; before the guards, the 2 MB bracket file alone took 23 GB.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from harvester.cli import cli
from harvester.errors import RecordError
from harvester.normalise.jsonscan import JSON_MAX_DEPTH, JsonLimits, scan_json
from harvester.normalise.jsontable import iter_json_batches
from harvester.normalise.sheetguard import SPREADSHEET_MAX_CELLS
from harvester.normalise.spreadsheet import read_spreadsheet
from tests.fixture_server import FixtureServer
from tests.normalise.served import CSV_FR, Files, ckan_with_resources, ods_bytes, xlsx_bytes

URL = "http://example.test/r.json"
ADDRESS_SPACE = 4 * 1024**3
BRACKETS = b"[" * 1_000_000 + b"]" * 1_000_000  # 2 MB, a million levels
DEEP_OBJECT = b'{"a":' * 500_000 + b"1" + b"}" * 500_000
RECORDS = [{"code": "13055", "nom": "Marseille", "population": 873076}, {"code": "06088", "nom": "Nice"}]


def deep_coordinates(levels: int) -> bytes:
    coords: object = [5.37, 43.25]
    for _ in range(levels - 1):
        coords = [coords]
    feature = {
        "type": "Feature",
        "properties": {"nom": "x"},
        "geometry": {"type": "Polygon", "coordinates": coords},
    }
    return json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()


def far_cells_xlsx() -> bytes:
    """Two values, in A1 and XFD1048576: calamine would allocate 17 billion cells (550 GB) and abort."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws["A1"], ws["B2"], ws["XFD1048576"] = "nom", "Marseille", 1
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_limited(args: list[str], out: Path) -> tuple[int, int]:
    """(exit code, peak RSS in bytes) of `python -m harvester ARGS` under the address-space limit."""
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    with out.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harvester", *args],
            stdout=fh,
            stderr=subprocess.STDOUT,
            preexec_fn=_limit_memory,
            env=env,
        )
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss * 1024  # Linux reports kilobytes


def test_one_hostile_file_never_stops_its_source(server: FixtureServer, tmp_path: Path) -> None:
    files = Files(server)
    cd22 = (CSV_FR / "cd22_antennes_departementales.csv").read_bytes()
    hostile = {
        "crochets": ("JSON", files.put("/h/crochets.json", BRACKETS, "application/json")),
        "objets": ("JSON", files.put("/h/objets.json", DEEP_OBJECT, "application/json")),
        "geo-profond": ("GeoJSON", files.put("/h/geo.geojson", deep_coordinates(20), "application/geo+json")),
        "classeur-geant": ("XLSX", files.put("/h/geant.xlsx", far_cells_xlsx(), "application/octet-stream")),
    }
    good = {
        "antennes": ("CSV", files.put("/h/antennes.csv", cd22)),
        "communes": ("JSON", files.put("/h/communes.json", json.dumps(RECORDS).encode(), "application/json")),
    }
    resources = [{"name": n, "format": f, "url": u} for n, (f, u) in {**hostile, **good}.items()]
    portal = ckan_with_resources(server, resources)
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"id": "demo", "type": "ckan", "url": portal.url}]})
    )
    base = ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(tmp_path / "data")]
    assert CliRunner().invoke(cli, [*base, "harvest", "demo"]).exit_code == 0

    code, peak = run_limited([*base, "normalise", "demo", "--json"], tmp_path / "out.txt")
    output = (tmp_path / "out.txt").read_text()
    assert code == 3, output  # partial: some resources failed, the run went on
    assert peak < 1024**3, f"peak RSS {peak / 1024**2:.0f} MB"
    print(f"normalise child peak RSS: {peak / 1024**2:.0f} MB")
    report = json.loads(output[output.index("{") :])
    src = report["sources"][0]
    assert (src["converted"], src["failed"]) == (2, 4)

    errors = [
        json.loads(line) for line in (tmp_path / "data/runs" / report["run_id"] / "errors.jsonl").open()
    ]
    by_url = {e["url"]: e for e in errors}
    assert set(by_url) == {u for _, u in hostile.values()}
    for e in errors:
        assert e["dataset_key"].startswith("demo:") and e["source_id"] == "demo"
    depth = f"nested deeper than {JSON_MAX_DEPTH} levels"
    assert depth in by_url[hostile["crochets"][1]]["message"]
    assert depth in by_url[hostile["objets"][1]]["message"]
    assert "coordinates nested deeper than 6 levels" in by_url[hostile["geo-profond"][1]]["message"]
    assert f"over the budget of {SPREADSHEET_MAX_CELLS}" in by_url[hostile["classeur-geant"][1]]["message"]

    rows = {r["title"]: r for r in pq.read_table(tmp_path / "data/tables/demo/index.parquet").to_pylist()}
    assert pq.read_table(tmp_path / "data" / rows["antennes"]["table_path"]).num_rows == 4
    communes = pq.read_table(tmp_path / "data" / rows["communes"]["table_path"]).to_pylist()
    assert [r["nom"] for r in communes] == ["Marseille", "Nice"]


def _scan(tmp_path: Path, body: bytes, **limits: int) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(body)
    scan_json(path, url=URL, limits=JsonLimits(**limits))


@pytest.mark.parametrize(
    "body",
    [
        BRACKETS,
        DEEP_OBJECT,
        b'{"results": [{"a": ' + b"[" * 65 + b"]" * 65 + b"}]}",  # deep inside a record
        b'{"meta": '
        + b'{"x":' * 70
        + b"1"
        + b"}" * 70
        + b', "results": [{"a": 1}]}',  # deep before the records
    ],
    ids=["brackets", "objects", "inside-record", "before-records"],
)
def test_json_deeper_than_the_limit_is_refused(tmp_path: Path, body: bytes) -> None:
    with pytest.raises(RecordError, match=f"nested deeper than {JSON_MAX_DEPTH} levels") as err:
        _scan(tmp_path, body)
    assert err.value.url == URL


def test_json_at_the_depth_limit_is_accepted(tmp_path: Path) -> None:
    inner = b"[" * (JSON_MAX_DEPTH - 3) + b"1" + b"]" * (JSON_MAX_DEPTH - 3)  # array, record, value: 3 levels
    path = tmp_path / "r.json"
    path.write_bytes(b'[{"a": ' + inner + b"}]")
    layout = scan_json(path, url=URL)
    assert layout.kinds == {"a": {"json"}}
    (batch,) = iter_json_batches(path, layout, url=URL)
    assert batch.column(0).to_pylist()[0].count("[") == JSON_MAX_DEPTH - 3


def test_wide_and_long_records_exceed_the_memory_budget(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="JSON record 1 exceeds the memory budget of 100000 bytes"):
        _scan(tmp_path, json.dumps([{"a": 1}, {"a": "x" * 200_000}]).encode(), max_record_bytes=100_000)
    wide = json.dumps([{f"k{i}": i for i in range(3000)}]).encode()
    with pytest.raises(RecordError, match="exceeds the memory budget"):
        _scan(tmp_path, wide, max_record_bytes=100_000)
    with pytest.raises(RecordError, match="more than 1000 distinct keys"):
        _scan(tmp_path, wide, max_columns=1000)
    _scan(tmp_path, wide)  # the defaults accept it


def test_geojson_coordinate_depth(tmp_path: Path) -> None:
    path = tmp_path / "r.geojson"
    path.write_bytes(deep_coordinates(4))  # as deep as a MultiPolygon
    layout = scan_json(path, url=URL)
    assert layout.geojson and layout.rows == 1
    with pytest.raises(RecordError, match="GeoJSON feature 0: coordinates nested deeper than 6 levels"):
        _scan(tmp_path, deep_coordinates(7))
    with pytest.raises(RecordError, match="coordinates nested deeper than 4 levels"):
        _scan(tmp_path, deep_coordinates(5), max_coordinate_depth=4)
    with pytest.raises(RecordError, match="coordinates nested deeper than 6 levels"):
        _scan(tmp_path, deep_coordinates(JSON_MAX_DEPTH * 2))  # the coordinate limit is reached first


def test_geojson_layout_is_unchanged(tmp_path: Path) -> None:
    """bbox before features, scalar/array/null properties, a property called geometry: the same columns as before."""
    doc = {
        "type": "FeatureCollection",
        "bbox": [5.0, 43.0, 6.0, 44.0],
        "crs": {"type": "name", "properties": {"name": "EPSG:2154"}},
        "features": [
            {
                "type": "Feature",
                "properties": {"nom": "a", "n": 1, "geometry": "x", "t": {"k": [1]}},
                "geometry": None,
            },
            {
                "type": "Feature",
                "properties": None,
                "geometry": {"type": "Point", "coordinates": [5.4, 43.3]},
            },
            {
                "type": "Feature",
                "properties": {"n": 2.5},
                "geometry": {"type": "Point", "coordinates": [5.5, 43.3]},
            },
        ],
    }
    path = tmp_path / "r.geojson"
    path.write_text(json.dumps(doc))
    layout = scan_json(path, url=URL)
    assert (layout.prefix, layout.geojson, layout.crs_known, layout.rows) == ("features.item", True, False, 3)
    assert layout.kinds == {"nom": {"str"}, "n": {"int", "float"}, "geometry": {"str"}, "t": {"json"}}
    (batch,) = iter_json_batches(path, layout, url=URL)
    assert batch.schema.names == ["nom", "n", "properties_geometry", "t", "geometry"]
    assert batch.column(1).to_pylist() == [1.0, None, 2.5]


def test_spreadsheet_over_the_cell_budget_is_refused_before_loading(tmp_path: Path) -> None:
    rows = [["commune", "population"], ["Ajaccio", 71361], ["Bastia", 48503]]
    for name, body in (("t.xlsx", xlsx_bytes(rows)), ("t.ods", ods_bytes(rows))):
        path = tmp_path / name
        path.write_bytes(body)
        table, _ = read_spreadsheet(path, url=URL, max_cells=6)
        assert table.num_rows == 2
        with pytest.raises(RecordError, match="spans 6 cells, over the budget of 5") as err:
            read_spreadsheet(path, url=URL, max_cells=5)
        assert err.value.url == URL
    far = tmp_path / "far.xlsx"
    far.write_bytes(far_cells_xlsx())
    with pytest.raises(RecordError, match=f"spans {16384 * 1048576} cells"):
        read_spreadsheet(far, url=URL)


def test_ods_repeated_cells_count(tmp_path: Path) -> None:
    """A row repeated a million times with a value repeated 16,000 times is 16 billion cells for the reader."""
    src = zipfile.ZipFile(io.BytesIO(ods_bytes([["a"], [1]])))
    hostile = (
        b'<table:table-row table:number-rows-repeated="1000000"><table:table-cell '
        b'table:number-columns-repeated="16000" office:value-type="float" office:value="1"><text:p>1</text:p>'
        b"</table:table-cell></table:table-row></table:table>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(
                info, data.replace(b"</table:table>", hostile, 1) if info.filename == "content.xml" else data
            )
    path = tmp_path / "rep.ods"
    path.write_bytes(out.getvalue())
    with pytest.raises(RecordError, match=r"sheet 'Sheet1' spans 16000032000 cells"):
        read_spreadsheet(path, url=URL)


@pytest.mark.parametrize("second", [b"5", b'"x"', b"null", b"[1, 2]", b"[" * 100 + b"]" * 100])
def test_a_record_that_is_not_an_object_is_refused(tmp_path: Path, second: bytes) -> None:
    deep = second.startswith(b"[[")
    reason = f"nested deeper than {JSON_MAX_DEPTH} levels" if deep else "JSON record 1 is not an object"
    with pytest.raises(RecordError, match=reason):
        _scan(tmp_path, b'{"results": [{"a": 1}, ' + second + b', {"a": 2}]}')


def test_columns_and_kinds_of_plain_records(tmp_path: Path) -> None:
    body = [{"a": 1, "b": [1, {"c": 2}], "c": None}, {"a": 2.5, "d": True, "e": "x"}, {}]
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"count": 3, "results": body, "links": [{"next": None}]}))
    layout = scan_json(path, url=URL)
    assert (layout.prefix, layout.geojson, layout.rows) == ("results.item", False, 3)
    assert layout.kinds == {"a": {"int", "float"}, "b": {"json"}, "c": set(), "d": {"bool"}, "e": {"str"}}
