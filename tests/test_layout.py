"""layout.py builds every path under the data directory; table paths are readable and stable."""

from __future__ import annotations

import re
from pathlib import Path

import harvester
from harvester.layout import legacy_table_path, slug, table_path, url_name

PACKAGE = Path(harvester.__file__).parent


def test_no_data_dir_path_is_built_outside_layout() -> None:
    joins = re.compile(
        r'/ "(catalog|tables|merged|runs|tmp|locks|http-cache|state\.sqlite)"'
        r'|\b(data_dir|data|self\.data|spec\.data) / [f]?"[^"]*"'
    )
    found = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.name != "layout.py" and joins.search(p.read_text("utf-8"))
    )
    assert found == [], found


def test_slugs() -> None:
    assert slug("Salles municipales (2024)") == "salles-municipales-2024"
    assert slug("Qualité de l'air — Région Sud") == "qualite-de-l-air-region-sud"
    assert slug("?!") == ""
    assert url_name("http://127.0.0.1:8765/files/communes.csv?x=1") == "communes"
    assert url_name("https://example.org/api/records/") == "records"


def test_table_paths_name_the_dataset_and_resource() -> None:
    key = "communes:http://127.0.0.1:8765/files/communes.csv"
    res = f"{key}:4f2a"
    path = table_path("communes", key, res, dataset_name="Communes de France", resource_name="communes")
    assert re.fullmatch(r"tables/communes/communes-de-france-[0-9a-f]{8}/communes-[0-9a-f]{8}\.parquet", path)
    assert (
        table_path("communes", key, res, dataset_name="Communes de France", resource_name="communes") == path
    )
    other = table_path(
        "communes", key, f"{key}:9e1b", dataset_name="Communes de France", resource_name="communes"
    )
    assert other != path and other.rsplit("/", 2)[1] == path.rsplit("/", 2)[1]  # same folder, other file
    nameless = table_path("s", "s:1", "s:1:r", dataset_name=None, resource_name="")
    assert re.fullmatch(r"tables/s/[0-9a-f]{8}/[0-9a-f]{8}\.parquet", nameless)
    assert "http" not in path
    assert legacy_table_path("communes", key, res).startswith(
        "tables/communes/http-127.0.0.1-8765-files-communes.csv-"
    )
