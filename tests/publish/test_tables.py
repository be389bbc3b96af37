"""publish.tables without CKAN: the pipeline setting, the resource a table becomes, what a package_update keeps."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harvester.config import load_config
from harvester.errors import ConfigError
from harvester.pipelines import TablesConfig, load_pipelines
from harvester.publish.mapping import Target
from harvester.publish.tables import MARKER, SHA, beside, kept_tables, sha256_of, table_id, wanted_tables
from tests.publish.test_pipelines import good, project


def with_tables(name: str, tables: object) -> dict[str, object]:
    body = good(name)
    body["publish"]["tables"] = tables  # type: ignore[index]
    return body


def test_tables_setting_is_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUD_TOKEN", "t")
    ok = {"sud": good("sud"), "up": with_tables("up", {"mode": "upload"}),
          "ln": with_tables("ln", {"mode": "link", "base_url": "https://files.example.org/"})}  # fmt: skip
    (tmp_path / "ok").mkdir()
    pipes = load_pipelines(load_config(project(tmp_path / "ok", ok)))
    assert pipes["sud"].publish.tables.mode == "off"  # type: ignore[union-attr]
    assert pipes["up"].publish.tables.mode == "upload"  # type: ignore[union-attr]
    assert pipes["ln"].publish.tables.base_url == "https://files.example.org/"  # type: ignore[union-attr]
    bad = {"a": with_tables("a", {"mode": "link"}), "b": with_tables("b", {"mode": "ftp"}),
           "c": with_tables("c", {"mode": "link", "base_url": "files.example.org"})}  # fmt: skip
    (tmp_path / "bad").mkdir()
    with pytest.raises(ConfigError) as info:
        load_pipelines(load_config(project(tmp_path / "bad", bad)))
    errors = "\n".join(info.value.errors)
    assert "a.yaml: publish.tables: Value error, mode `link` needs `base_url`" in errors
    assert "b.yaml: publish.tables.mode: Input should be 'off', 'upload' or 'link'" in errors
    assert "c.yaml: publish.tables: Value error, base_url must start with http:// or https://" in errors


def test_a_table_becomes_a_described_parquet_resource(tmp_path: Path) -> None:
    path = "tables/src/ds-1/mesures-2.parquet"
    (tmp_path / path).parent.mkdir(parents=True)
    pq.write_table(pa.table({"station": ["Nice", "Toulon"], "no2": [12, 9]}), tmp_path / path)
    res = [
        {"resource_key": "k1", "title": "mesures", "url": "https://x.org/m.csv", "table_path": path,
         "table_rows": 2, "table_schema_hash": "h", "table_status": "unchanged"},
        {"resource_key": "k2", "title": "broken", "url": "https://x.org/b.csv", "table_path": "tables/src/x.parquet",
         "table_rows": None, "table_schema_hash": None, "table_status": "failed"},
    ]  # fmt: skip
    cfg = TablesConfig(mode="link", base_url="https://files.example.org/d/")
    [t] = wanted_tables(tmp_path, cfg, Target("p"), "src:ds", res)
    f = t.fields
    assert f["id"] == table_id("p", "src:ds", "k1") != table_id("p", "src:ds", "k2")
    assert f["name"] == "mesures (Parquet)" and f["format"] == "Parquet" and f["rows"] == "2"
    assert f["url"] == f"https://files.example.org/d/{path}"
    assert f["size"] == (tmp_path / path).stat().st_size and f[SHA] == sha256_of(tmp_path / path)
    assert "| station | string |" in f["description"] and "| no2 | int64 |" in f["description"]
    assert f[MARKER] == "k1" and f["harvester_schema_hash"] == "h"


def test_package_update_keeps_held_tables_beside_their_sources() -> None:
    held = [
        {"id": "t1", MARKER: "k1", "name": "a (Parquet)", "url_type": "upload",
         "url": "http://ckan/dataset/x/resource/t1/download/a.parquet", SHA: "s", "size": 10},
        {"id": "t9", MARKER: "k9", "name": "gone (Parquet)", "url": "http://files/gone.parquet"},
    ]  # fmt: skip
    kept = kept_tables(held, {"t1"})
    assert [k["id"] for k in kept] == ["t1"] and kept[0]["url"] == "a.parquet" and kept[0][SHA] == "s"
    sources = [{"id": "r1", "harvest_resource_key": "k1"}, {"id": "r2", "harvest_resource_key": "k2"}]
    assert [r["id"] for r in beside([*sources, *kept])] == ["r1", "t1", "r2"]


def test_a_geoparquet_table_is_published_as_geoparquet(tmp_path: Path) -> None:
    path = "tables/src/ds/points.parquet"
    (tmp_path / path).parent.mkdir(parents=True)
    geo = b'{"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": {"encoding": "WKB"}}}'
    table = pa.table({"nom": ["Nice"], "geometry": [b"\x01\x01\x00\x00\x00" + bytes(16)]})
    pq.write_table(table.replace_schema_metadata({b"geo": geo}), tmp_path / path)
    res = {"resource_key": "k", "title": "points", "table_path": path, "table_rows": 1, "table_status": "ok"}
    [t] = wanted_tables(tmp_path, TablesConfig(mode="upload"), Target("p"), "src:ds", [res])
    assert t.fields["format"] == "GeoParquet" and t.fields["name"] == "points (GeoParquet)"
    assert "url" not in t.fields  # upload mode: the file name is sent with the upload
