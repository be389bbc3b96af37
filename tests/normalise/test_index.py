"""Normalise's own index (tables/<source>/index.parquet), readable table paths, and data dirs of the older layout."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from click.testing import CliRunner, Result

from harvester.cli import cli
from harvester.layout import legacy_table_path
from harvester.schema import RESOURCES, TABLE_FIELDS
from tests.fixture_server import FixtureServer
from tests.normalise.served import CSV_FR, Files, ckan_with_resources

CD22 = (CSV_FR / "cd22_antennes_departementales.csv").read_bytes()
BNLC = (CSV_FR / "bnlc_calvados_covoiturage_utf8_bom.csv").read_bytes()


def invoke(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(tmp_path / "data"), *args]
    )


def index(data: Path, source: str) -> dict[str, dict[str, Any]]:
    return {
        r["resource_key"]: r for r in pq.read_table(data / "tables" / source / "index.parquet").to_pylist()
    }


def test_files_source_tables_are_named_after_dataset_and_resource(
    server: FixtureServer, tmp_path: Path
) -> None:
    files = Files(server)
    salles = files.put("/files/communes/salles_municipales_2024.csv", CD22)
    antennes = files.put("/files/communes/antennes.csv", BNLC)
    src = {
        "id": "communes",
        "type": "files",
        "params": {
            "files": [
                {"url": salles, "title": "Salles municipales (2024)"},
                {"url": antennes, "title": "Antennes du Département"},
            ]
        },
    }
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": [src]}))
    data = tmp_path / "data"
    assert invoke(tmp_path, "harvest", "communes").exit_code == 0
    resources = data / "catalog/communes/resources.parquet"
    harvested = resources.read_bytes()

    res = invoke(tmp_path, "normalise", "communes", "--json")
    assert res.exit_code == 0, res.stderr
    assert resources.read_bytes() == harvested  # harvest's file: normalise never rewrites it
    rows = {r["url"]: r for r in index(data, "communes").values()}
    assert set(rows) == {salles, antennes}  # the URL stays in the index, not in the path
    path = rows[salles]["table_path"]
    assert re.fullmatch(
        r"tables/communes/salles-municipales-2024-[0-9a-f]{8}/salles-municipales-2024-[0-9a-f]{8}\.parquet",
        path,
    ), path
    assert re.fullmatch(
        r"tables/communes/antennes-du-departement-[0-9a-f]{8}/antennes-du-departement-[0-9a-f]{8}\.parquet",
        rows[antennes]["table_path"],
    )
    table = pq.read_table(data / path)
    assert rows[salles]["table_rows"] == table.num_rows == 4
    assert rows[salles]["table_status"] == "ok" and rows[salles]["kind"] == "csv"
    assert [(c["name"], c["type"]) for c in rows[salles]["columns"]] == [
        (f.name, str(f.type)) for f in table.schema
    ]
    assert rows[salles]["sha256"] and rows[salles]["run_id"] == json.loads(res.stdout)["run_id"]

    status = json.loads(invoke(tmp_path, "status", "--json").stdout)
    assert status["sources"][0]["tables"] == 2


def _to_older_layout(data: Path, source: str, keep_columns: bool) -> dict[str, bytes]:
    """Turn a data dir into one written before the index: tables at key-named paths, their table_* columns in
    catalog/<source>/resources.parquet (unless a harvest since then rewrote it without them), no index."""
    rows = index(data, source)
    moved: dict[str, bytes] = {}
    for key, row in rows.items():
        if not row["table_path"]:
            continue
        old = legacy_table_path(source, row["dataset_key"], key)
        (data / old).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(data / row["table_path"], data / old)
        shutil.rmtree((data / row["table_path"]).parent, ignore_errors=True)
        row["table_path"] = old
        moved[key] = (data / old).read_bytes()
    path = data / "catalog" / source / "resources.parquet"
    catalogue = pq.read_table(path).to_pylist()
    if keep_columns:
        old_schema = pa.schema([*RESOURCES, *TABLE_FIELDS])
        pq.write_table(
            pa.Table.from_pylist([{**r, **rows.get(r["resource_key"], {})} for r in catalogue], old_schema),
            path,
        )
    (data / "tables" / source / "index.parquet").unlink()
    drift = pa.table({"resource_key": ["k"], "change": ["added"]})
    pq.write_table(drift, data / "catalog" / source / "schema_changes.parquet")  # where older runs kept it
    return moved


def _older_layout_case(server: FixtureServer, tmp_path: Path, keep_columns: bool) -> None:
    files = Files(server)
    resources = [
        {"name": "antennes", "format": "CSV", "url": files.put("/d/antennes.csv", CD22)},
        {"name": "bnlc", "format": "CSV", "url": files.put("/d/bnlc.csv", BNLC)},
        {
            "name": "notice",
            "format": "PDF",
            "url": files.put("/d/notice.pdf", b"%PDF-1.4", "application/pdf"),
        },
    ]
    portal = ckan_with_resources(server, resources)
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"id": "demo", "type": "ckan", "url": portal.url}]})
    )
    data = tmp_path / "data"
    assert invoke(tmp_path, "harvest", "demo").exit_code == 0
    assert invoke(tmp_path, "normalise", "demo").exit_code == 0
    new_paths = {k: r["table_path"] for k, r in index(data, "demo").items()}
    moved = _to_older_layout(data, "demo", keep_columns)
    assert len(moved) == 2 and not any((data / p).exists() for p in new_paths.values() if p)

    res = invoke(tmp_path, "normalise", "demo", "--json")
    assert res.exit_code == 0, res.stderr
    src = json.loads(res.stdout)["sources"][0]
    assert (src["converted"], src["unchanged"], src["skipped"]) == (0, 2, 1)  # found: nothing converted again
    after = index(data, "demo")
    for key, body in moved.items():
        row = after[key]
        assert row["table_status"] == "unchanged" and row["table_path"] == new_paths[key]
        assert (data / row["table_path"]).read_bytes() == body  # moved, not rewritten
        assert row["table_rows"] == pq.ParquetFile(data / row["table_path"]).metadata.num_rows
        assert not (data / legacy_table_path("demo", row["dataset_key"], key)).exists()
    assert {r["table_status"] for r in after.values()} == {"unchanged", "skipped"}
    left = {p.relative_to(data / "tables/demo").parts[0] for p in (data / "tables/demo").iterdir()}
    assert left == {"index.parquet", "schema_changes.parquet"} | {
        Path(p).parts[2] for p in new_paths.values() if p
    }
    assert pq.read_table(data / "tables/demo/schema_changes.parquet").column("change").to_pylist() == [
        "added"
    ]
    assert not (data / "catalog/demo/schema_changes.parquet").exists()


def test_a_data_dir_of_the_older_layout_keeps_working(server: FixtureServer, tmp_path: Path) -> None:
    _older_layout_case(server, tmp_path, keep_columns=True)


def test_older_tables_are_found_after_a_harvest_rewrote_the_catalogue(
    server: FixtureServer, tmp_path: Path
) -> None:
    _older_layout_case(server, tmp_path, keep_columns=False)


def test_harvest_reads_a_catalogue_of_the_older_layout(server: FixtureServer, tmp_path: Path) -> None:
    """A resources.parquet with the table_* columns of older runs is read and rewritten without them."""
    files = Files(server)
    portal = ckan_with_resources(server, [{"name": "a", "format": "CSV", "url": files.put("/d/a.csv", CD22)}])
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"id": "demo", "type": "ckan", "url": portal.url}]})
    )
    data = tmp_path / "data"
    assert invoke(tmp_path, "harvest", "demo").exit_code == 0
    assert invoke(tmp_path, "normalise", "demo").exit_code == 0
    _to_older_layout(data, "demo", keep_columns=True)
    portal.packages[0]["title"] = "Nouveau titre"
    res = invoke(tmp_path, "harvest", "demo", "--full", "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["sources"][0]["updated"] == 1
    assert pq.read_schema(data / "catalog/demo/resources.parquet").names == RESOURCES.names
