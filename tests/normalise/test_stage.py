"""The normalise stage end to end: a harvested CKAN catalogue whose resources a local server serves (real files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import shapely

from harvester.config import Config, parse_sources
from harvester.harvest import harvest_source, new_run_id
from harvester.http import HttpClient
from harvester.normalise.sink import read_geo_metadata
from harvester.normalise.stage import NormaliseReport, normalise_sources
from harvester.state import StateStore
from tests.fixture_server import FixtureServer, Reply
from tests.normalise.served import (
    CSV_FR,
    SPREADSHEET_ROWS,
    Files,
    ckan_with_resources,
    ods_bytes,
    xlsx_bytes,
    zip_bomb_bytes,
    zip_bytes,
)

GEOJSON = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"nom": "Parc Borély", "surface_ha": 17.0, "ouvert": True},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[5.37, 43.25], [5.39, 43.25], [5.39, 43.26], [5.37, 43.25]]],
            },
        },
        {
            "type": "Feature",
            "properties": {"nom": "Fontaine", "surface_ha": None, "ouvert": False},
            "geometry": {"type": "Point", "coordinates": [5.38, 43.29]},
        },
    ],
}
RECORDS = [
    {
        "code_commune": "13055",
        "nom": "Marseille",
        "population": 873076,
        "densite": "3 616,2",
        "maj": "15/01/2024",
    },
    {"code_commune": "06088", "nom": "Nice", "population": 348085, "densite": "4 816,5", "maj": "16/01/2024"},
]


def config(url: str) -> Config:
    return parse_sources({"sources": [{"id": "demo", "type": "ckan", "url": url, "params": {"rows": 1000}}]})


def harvest(cfg: Config, data: Path, state: StateStore, http: HttpClient) -> None:
    res = harvest_source(cfg.sources[0], data_dir=data, state=state, http=http, run_id=new_run_id())
    assert res.status == "ok", res.error


def normalise(cfg: Config, data: Path, state: StateStore, http: HttpClient, **kw: Any) -> NormaliseReport:
    return normalise_sources(cfg, ["demo"], data_dir=data, state=state, http=http, workers=3, **kw)


def by_name(data: Path) -> dict[str, dict[str, Any]]:
    rows = pq.read_table(data / "tables/demo/index.parquet").to_pylist()
    return {r["title"]: r for r in rows}


@pytest.fixture
def files(server: FixtureServer) -> Files:
    return Files(server)


def test_every_format_and_every_failure_per_resource(
    server: FixtureServer, files: Files, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    cd22 = (CSV_FR / "cd22_antennes_departementales.csv").read_bytes()
    insee = (CSV_FR / "insee_populations_legales_communes_head.csv").read_bytes()
    truncated_xlsx = xlsx_bytes(SPREADSHEET_ROWS)
    resources = [
        {"name": "antennes", "format": "CSV", "url": files.put("/f/antennes.csv", cd22)},
        {"name": "populations", "format": "csv", "url": files.put("/f/pop.csv", insee)},
        {
            "name": "classeur",
            "format": "XLSX",
            "url": files.put("/f/c.xlsx", xlsx_bytes(SPREADSHEET_ROWS, True), "application/octet-stream"),
        },
        {
            "name": "tableur",
            "format": "ODS",
            "url": files.put(
                "/f/t.ods", ods_bytes(SPREADSHEET_ROWS), "application/vnd.oasis.opendocument.spreadsheet"
            ),
        },
        {
            "name": "communes-json",
            "format": "JSON",
            "url": files.put("/f/c.json", json.dumps({"results": RECORDS}).encode(), "application/json"),
        },
        {
            "name": "parcs",
            "format": "GeoJSON",
            "url": files.put("/f/parcs.geojson", json.dumps(GEOJSON).encode(), "application/geo+json"),
        },
        {
            "name": "archive",
            "format": "ZIP",
            "url": files.put(
                "/f/a.zip",
                zip_bytes({"lisezmoi.txt.pdf": b"%PDF", "donnees/antennes.csv": cd22}),
                "application/zip",
            ),
        },
        {"name": "rapport", "format": "PDF", "url": files.put("/f/r.pdf", b"%PDF-1.4", "application/pdf")},
        # hostile or broken
        {
            "name": "page-html",
            "format": "CSV",
            "url": files.put(
                "/f/err.csv", b"<!DOCTYPE html><html><body>Erreur 500</body></html>", "text/csv"
            ),
        },
        {"name": "absent", "format": "CSV", "url": files.url("/f/missing.csv")},
        {
            "name": "bombe",
            "format": "ZIP",
            "url": files.put("/f/bomb.zip", zip_bomb_bytes(), "application/zip"),
        },
        {
            "name": "xlsx-tronque",
            "format": "XLSX",
            "url": files.put("/f/cut.xlsx", truncated_xlsx[: len(truncated_xlsx) // 2]),
        },
        {
            "name": "json-tronque",
            "format": "JSON",
            "url": files.put("/f/cut.json", json.dumps(RECORDS).encode()[:-40]),
        },
        {"name": "binaire", "format": "CSV", "url": files.put("/f/nul.csv", b"\x00\x01\x02\x03" * 2000)},
    ]
    portal = ckan_with_resources(server, resources)
    cfg = config(portal.url)
    data = tmp_path / "data"
    harvest(cfg, data, state, http)

    report = normalise(cfg, data, state, http)
    src = report.sources[0]
    assert (src.status, src.converted, src.unchanged, src.failed, src.skipped) == ("partial", 7, 0, 6, 1)
    assert report.exit_code == 3
    rows = by_name(data)
    failed = {k: v["table_error"] for k, v in rows.items() if v["table_status"] == "failed"}
    assert set(failed) == {"page-html", "absent", "bombe", "xlsx-tronque", "json-tronque", "binaire"}
    assert "HTML page instead of a table" in failed["page-html"]
    assert "HTTP 404" in failed["absent"]
    assert "ZIP bomb guard" in failed["bombe"]
    assert "spreadsheet can't be read" in failed["xlsx-tronque"]
    assert "malformed or truncated JSON" in failed["json-tronque"]
    assert "NUL bytes" in failed["binaire"]
    assert rows["rapport"]["table_status"] == "skipped" and rows["rapport"]["table_path"] is None
    for name in ("antennes", "populations", "classeur", "tableur", "communes-json", "parcs", "archive"):
        r = rows[name]
        assert r["table_status"] == "ok" and r["table_error"] is None, name
        assert r["table_path"].startswith("tables/demo/") and (data / r["table_path"]).exists()
        assert r["table_rows"] == pq.ParquetFile(data / r["table_path"]).metadata.num_rows
        assert len(r["table_schema_hash"]) == 16

    # real French CSV with lat/lon → GeoParquet
    antennes = pq.read_table(data / rows["antennes"]["table_path"])
    assert antennes.num_rows == 4
    first = antennes.to_pylist()[0]
    assert "Dinan" in json.dumps(first, ensure_ascii=False, default=str)
    assert shapely.from_wkb(first["geometry"]).equals(shapely.Point(-2.057803, 48.454903))
    meta = read_geo_metadata(data / rows["antennes"]["table_path"])
    assert meta is not None and meta["columns"]["geometry"]["geometry_types"] == ["Point"]
    # the ZIP member gives the same table
    assert pq.read_table(data / rows["archive"]["table_path"]).equals(antennes)

    pop = pq.read_table(data / rows["populations"]["table_path"])
    assert pop.num_rows == 4999
    assert str(pop.schema.field(pop.column_names[2]).type) == "int64"  # PMUN
    assert pop.column(0).to_pylist()[0] == "01001"  # codes keep their leading zero

    for name in ("classeur", "tableur"):
        t = pq.read_table(data / rows[name]["table_path"]).to_pylist()
        assert [r[_col(r, "commune")] for r in t] == ["Ajaccio", "Bastia", "Ambérieu-en-Bugey"], name
        assert [r[_col(r, "insee")] for r in t] == ["2A004", "2B033", "01004"], name
        assert [r[_col(r, "population")] for r in t] == [71361, 48503, 14514], name
        assert [r[_col(r, "budget")] for r in t] == [1234.5, 987.0, 12.25], name

    com = pq.read_table(data / rows["communes-json"]["table_path"]).to_pylist()
    assert [r["nom"] for r in com] == ["Marseille", "Nice"]
    assert [r["population"] for r in com] == [873076, 348085]
    assert [r[_col(r, "densite")] for r in com] == [3616.2, 4816.5]

    parcs_path = data / rows["parcs"]["table_path"]
    parcs = pq.read_table(parcs_path).to_pylist()
    assert [p["nom"] for p in parcs] == ["Parc Borély", "Fontaine"]
    assert shapely.from_wkb(parcs[1]["geometry"]).equals(shapely.Point(5.38, 43.29))
    geo = read_geo_metadata(parcs_path)
    assert geo is not None
    assert geo["columns"]["geometry"]["geometry_types"] == ["Point", "Polygon"]
    assert geo["columns"]["geometry"]["bbox"] == [5.37, 43.25, 5.39, 43.29]

    # the run report lists each resource with its outcome
    saved = json.loads(Path(report.report_path or "").read_text())
    assert saved["kind"] == "normalise"
    outcomes = {o["url"].rsplit("/", 1)[-1]: o for o in saved["sources"][0]["resources"]}
    assert outcomes["a.zip"]["detected"]["archive_member"] == "donnees/antennes.csv"
    assert outcomes["antennes.csv"]["detected"]["geometry"] == "latlon(lat, lon)"
    assert (Path(report.report_path or "").parent / "errors.jsonl").read_text().count("\n") == 6
    assert not list((data / "tmp").iterdir())


def _col(row: dict[str, Any], word: str) -> str:
    """The column whose (possibly snake_cased) name contains `word`."""
    matches = [k for k in row if word in k.lower()]
    assert len(matches) == 1, (word, list(row))
    return matches[0]


def test_second_run_sends_conditional_requests_and_skips_on_304(
    server: FixtureServer, files: Files, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    cd22 = (CSV_FR / "cd22_antennes_departementales.csv").read_bytes()
    resources = [
        {"name": "etag", "format": "CSV", "url": files.put("/f/etag.csv", cd22)},
        {"name": "date", "format": "CSV", "url": files.put("/f/date.csv", cd22, etag=False)},
        {
            "name": "rien",
            "format": "CSV",
            "url": files.put("/f/rien.csv", cd22, etag=False, last_modified=None),
        },
    ]
    cfg = config(ckan_with_resources(server, resources).url)
    data = tmp_path / "data"
    harvest(cfg, data, state, http)
    first = normalise(cfg, data, state, http).sources[0]
    assert (first.converted, first.unchanged, first.failed) == (3, 0, 0)
    table = data / by_name(data)["etag"]["table_path"]
    mtime = table.stat().st_mtime_ns

    second = normalise(cfg, data, state, http).sources[0]
    assert (second.converted, second.unchanged, second.failed) == (0, 3, 0)
    again = files.requests_for("/f/etag.csv")[-1]
    assert again.headers.get("If-None-Match") == files.files["/f/etag.csv"].tag
    assert (
        files.requests_for("/f/date.csv")[-1].headers.get("If-Modified-Since")
        == "Wed, 21 Oct 2015 07:28:00 GMT"
    )
    statuses = {o.url.rsplit("/", 1)[-1]: o.http_status for o in second.resources}
    assert statuses == {
        "etag.csv": 304,
        "date.csv": 304,
        "rien.csv": 200,
    }  # no validators: same sha256 → unchanged
    rows = by_name(data)
    assert {r["table_status"] for r in rows.values()} == {"unchanged"}
    assert rows["etag"]["table_rows"] == 4 and rows["etag"]["table_path"]
    assert table.stat().st_mtime_ns == mtime

    forced = normalise(cfg, data, state, http, force=True).sources[0]
    assert forced.converted == 3
    assert "If-None-Match" not in files.requests_for("/f/etag.csv")[-1].headers


def test_schema_drift_is_recorded_and_a_failure_keeps_the_previous_table(
    server: FixtureServer, files: Files, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    v1 = b"code_commune;nom;population;surface\n13055;Marseille;873076;240,6\n06088;Nice;348085;71,9\n"
    url = files.put("/f/communes.csv", v1)
    cfg = config(ckan_with_resources(server, [{"name": "communes", "format": "CSV", "url": url}]).url)
    data = tmp_path / "data"
    harvest(cfg, data, state, http)
    assert normalise(cfg, data, state, http).sources[0].converted == 1

    # the publisher renames a column, drops one, adds one and turns a number column into text
    v2 = b"code_commune;libelle;population;maire\n13055;Marseille;n/c (secret);B. Payan\n06088;Nice;348085;C. Estrosi\n"
    files.files["/f/communes.csv"].body = v2
    report = normalise(cfg, data, state, http)
    src = report.sources[0]
    assert src.converted == 1 and src.schema_changes >= 3
    changes = pq.read_table(data / "tables/demo/schema_changes.parquet").to_pylist()
    kinds = {(c["change"], c["column"]) for c in changes}
    assert ("renamed", _name(changes, "libelle")) in kinds
    assert ("removed", _name(changes, "surface")) in kinds
    assert ("added", _name(changes, "maire")) in kinds
    assert ("type_changed", _name(changes, "population")) in kinds
    assert {c["run_id"] for c in changes} == {report.run_id}
    assert all(c["resource_key"] == src.resources[0].resource_key for c in changes)
    saved = json.loads(Path(report.report_path or "").read_text())
    assert len(saved["sources"][0]["resources"][0]["schema_changes"]) == len(changes)

    # then the file is replaced by an HTML error page: the resource fails, the previous table stays listed
    before = by_name(data)["communes"]
    files.files["/f/communes.csv"].body = b"<html><body>Maintenance</body></html>"
    src = normalise(cfg, data, state, http).sources[0]
    assert (src.status, src.failed) == ("partial", 1)
    after = by_name(data)["communes"]
    assert after["table_status"] == "failed" and "HTML" in after["table_error"]
    assert after["table_path"] == before["table_path"] and (data / after["table_path"]).exists()
    assert after["table_rows"] == 2


def _name(changes: list[dict[str, Any]], word: str) -> str:
    names = {c["column"] for c in changes if word in (c["column"] or "")}
    assert len(names) == 1, (word, changes)
    return names.pop()


def test_download_size_limit(
    server: FixtureServer, files: Files, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    big = (CSV_FR / "insee_populations_legales_communes_head.csv").read_bytes()
    url = files.put("/f/big.csv", big)
    cfg = config(ckan_with_resources(server, [{"name": "gros", "format": "CSV", "url": url}]).url)
    data = tmp_path / "data"
    harvest(cfg, data, state, http)
    src = normalise(cfg, data, state, http, max_bytes=10_000).sources[0]
    assert src.failed == 1
    assert "too large" in (src.resources[0].error or "")
    assert by_name(data)["gros"]["table_status"] == "failed"


def test_source_without_catalogue(tmp_path: Path, state: StateStore, http: HttpClient) -> None:
    report = normalise(config("http://127.0.0.1:9"), tmp_path / "data", state, http)
    assert report.sources[0].status == "not_harvested" and report.exit_code == 1


def test_truncated_download_fails_the_resource_only(
    server: FixtureServer, files: Files, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    cd22 = (CSV_FR / "cd22_antennes_departementales.csv").read_bytes()
    # the server announces more bytes than it sends, then closes the connection
    server.route(
        "/f/cut.csv",
        Reply(
            200,
            cd22[:300],
            headers={"Content-Length": str(len(cd22)), "Connection": "close"},
            content_type="text/csv",
        ),
    )
    resources = [
        {"name": "coupe", "format": "CSV", "url": files.url("/f/cut.csv")},
        {"name": "entier", "format": "CSV", "url": files.put("/f/ok.csv", cd22)},
    ]
    cfg = config(ckan_with_resources(server, resources).url)
    data = tmp_path / "data"
    harvest(cfg, data, state, http)
    src = normalise(cfg, data, state, http).sources[0]
    assert (src.status, src.converted, src.failed) == ("partial", 1, 1)
    rows = by_name(data)
    assert rows["coupe"]["table_status"] == "failed"
    assert "truncated" in rows["coupe"]["table_error"]
    assert rows["entier"]["table_status"] == "ok"


def test_bad_bytes_in_the_middle_keep_the_rest_and_name_the_line(
    server: FixtureServer, files: Files, tmp_path: Path, state: StateStore, http: HttpClient
) -> None:
    data_bytes = (CSV_FR / "insee_populations_legales_communes_head.csv").read_bytes()
    cut = data_bytes.index(b"\n", len(data_bytes) // 2) + 1
    line = data_bytes[:cut].count(b"\n") + 1
    bad = data_bytes[:cut] + b"01999;Commune \xff\xfe inconnue;1;2;3\n" + data_bytes[cut:]
    url = files.put("/f/bad.csv", bad)
    cfg = config(ckan_with_resources(server, [{"name": "populations", "format": "CSV", "url": url}]).url)
    data = tmp_path / "data"
    harvest(cfg, data, state, http)
    report = normalise(cfg, data, state, http)
    outcome = report.sources[0].resources[0]
    assert outcome.status == "ok" and outcome.rows == 5000
    assert any(f"line {line}" in w for w in outcome.warnings), outcome.warnings
    saved = json.loads(Path(report.report_path or "").read_text())
    assert saved["sources"][0]["resources"][0]["warnings"] == outcome.warnings
    table = pq.read_table(data / by_name(data)["populations"]["table_path"])
    assert "Commune \ufffd\ufffd inconnue" in table.column(1).to_pylist()
