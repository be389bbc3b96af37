"""Typed tables as CKAN resources (publish.tables), against the real CKAN testbed and its FileStore.

A local CKAN portal serves datasets with CSV resources; `harvester run --normalise` harvests, converts and
publishes them. Each converted CSV gets a Parquet resource beside it, whose file is downloaded back from CKAN's
FileStore and read with pyarrow. A re-publication uploads and writes nothing; a CSV dropped at the source takes
its Parquet resource with it (without re-uploading the dataset's other table); a changed CSV is uploaded again.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import requests

from harvester.cli import main
from harvester.state import StateStore
from tests.fixture_server import FixtureServer
from tests.portals.ckan_portal import CkanPortal, build_packages, touch
from tests.publish.conftest import CkanTestbed, unique, write_project

pytestmark = pytest.mark.ckan

CSV = {
    "0.csv": "station;no2\nNice;12\nToulon;9\n",
    "1.csv": "station;no2\nMarseille;31\nAix;17\nArles;8\n",
    "2.csv": "commune;population\nNice;342669\nGrasse;50396\n",
    "2b.csv": "jour;visites\n2024-01-01;5\n2024-01-02;7\n2024-01-03;4\n2024-01-04;9\n",
}


def exit_code(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@dataclass
class Project:
    ckan: CkanTestbed
    root: Path
    pipeline: str
    org: str
    portal: CkanPortal
    capsys: pytest.CaptureFixture[str]

    def run(self) -> dict[str, Any]:
        self.capsys.readouterr()
        args = ["--config", str(self.root / "sources.yaml"), "--data-dir", str(self.root / "data")]
        code = exit_code([*args, "run", self.pipeline, "--normalise", "--json"])
        out: dict[str, Any] = json.loads(self.capsys.readouterr().out)
        assert code == 0, out
        return out["publish"]  # type: ignore[no-any-return]

    def datasets(self) -> dict[str, dict[str, Any]]:
        """CKAN's datasets of the pipeline, by title."""
        shown = [self.ckan.show(p["id"]) for p in self.ckan.owned(self.pipeline)]
        return {p["title"]: p for p in shown if p is not None}

    def purge(self) -> None:
        state = StateStore(self.root / "data" / "state.sqlite")
        self.ckan.purge(
            {r["ckan_id"] for r in state.read_publish_records(self.pipeline).values()}, {self.org}
        )
        state.close()


def project(
    ckan: CkanTestbed,
    root: Path,
    server: FixtureServer,
    capsys: pytest.CaptureFixture[str],
    tables: dict[str, Any],
) -> Project:
    packages = build_packages(3)
    for name, text in CSV.items():
        server.route(f"/files/{name}", text, content_type="text/csv")
    for i, pkg in enumerate(packages):
        pkg["resources"] = [
            {"id": f"r{i}", "url": f"{server.url}/files/{i}.csv", "format": "CSV", "name": f"mesures {i}"}
        ]
    packages[2]["resources"].append(
        {"id": "r2b", "url": f"{server.url}/files/2b.csv", "format": "CSV", "name": "visites"}
    )
    portal = CkanPortal(server, packages)
    pipeline, org, sid = unique("tt-"), unique("org-"), unique("st")
    write_project(
        root, pipeline=pipeline, sources=[sid], org=org, source_urls={sid: portal.url}, tables=tables
    )
    return Project(ckan, root, pipeline, org, portal, capsys)


def tables_of(pkg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in pkg["resources"] if r.get("format") in ("Parquet", "GeoParquet")}


@pytest.fixture
def up(ckan: CkanTestbed, token_env: None, tmp_path: Path, server: FixtureServer,
       capsys: pytest.CaptureFixture[str]) -> Iterator[Project]:  # fmt: skip
    p = project(ckan, tmp_path, server, capsys, {"mode": "upload"})
    yield p
    p.purge()


def test_upload_mode_publishes_a_parquet_resource_beside_each_csv(up: Project) -> None:
    first = up.run()
    assert first["summary"]["created"] == 3 and first["exit_code"] == 0
    assert (
        first["tables"]["created"] == 4
        and first["tables"]["uploads"] == 4
        and first["tables"]["failed"] == []
    )
    datasets = up.datasets()
    assert len(datasets) == 3
    rows = {"0.csv": 2, "1.csv": 3, "2.csv": 2, "2b.csv": 4}
    for pkg in datasets.values():
        csvs = [r for r in pkg["resources"] if r["format"] == "CSV"]
        tables = tables_of(pkg)
        assert sorted(tables) == sorted(f"{r['name']} (Parquet)" for r in csvs)
        names = [r["name"] for r in pkg["resources"]]  # each table right after its CSV
        assert names == [n for r in csvs for n in (r["name"], f"{r['name']} (Parquet)")]
        for csv in csvs:
            t = tables[f"{csv['name']} (Parquet)"]
            assert t["url_type"] == "upload" and "/download/" in t["url"]
            body = requests.get(t["url"], timeout=30)
            assert body.status_code == 200
            table = pq.read_table(io.BytesIO(body.content))
            assert table.num_rows == rows[csv["url"].rsplit("/", 1)[-1]] == int(t["rows"])
            assert int(t["size"]) == len(body.content)
            assert (
                f"| {table.schema.names[0]} |" in t["description"] and "| column | type |" in t["description"]
            )
            assert t["harvester_sha256"] and t["harvester_table_of"]
    ids = {r["id"] for pkg in datasets.values() for r in tables_of(pkg).values()}

    again = up.run()  # nothing changed: no upload, no write at all
    assert again["write_calls"] == 0 and again["summary"]["unchanged"] == 3
    assert again["tables"]["uploads"] == 0 and again["tables"]["unchanged"] == 4

    # the second CSV of one dataset is dropped at the source: its Parquet resource goes, the other stays put
    two = next(p for p in up.portal.packages if len(p["resources"]) == 2)
    touch(two, datetime.now(UTC), resources=two["resources"][:1])
    dropped = up.run()
    assert dropped["summary"]["updated"] == 1
    assert dropped["tables"]["uploads"] == 0  # the dataset's other table was kept through package_update
    after = up.datasets()
    assert sum(len(tables_of(p)) for p in after.values()) == 3
    assert all(
        len(tables_of(p)) == len([r for r in p["resources"] if r["format"] == "CSV"]) for p in after.values()
    )
    assert {
        r["id"] for p in after.values() for r in tables_of(p).values()
    } < ids  # same ids: updated in place


def test_changed_table_is_uploaded_again(up: Project, server: FixtureServer) -> None:
    up.run()
    before = {r["id"]: r["harvester_sha256"] for p in up.datasets().values() for r in tables_of(p).values()}
    server.route("/files/0.csv", "station;no2\nNice;12\nToulon;9\nCannes;4\n", content_type="text/csv")
    pkg = next(p for p in up.portal.packages if p["resources"][0]["url"].endswith("/0.csv"))
    touch(pkg, datetime.now(UTC))
    out = up.run()
    assert out["tables"]["uploads"] == 1 and out["tables"]["updated"] == 1 and out["tables"]["unchanged"] == 3
    after = {r["id"]: r for p in up.datasets().values() for r in tables_of(p).values()}
    assert set(after) == set(before)
    changed = [rid for rid, r in after.items() if r["harvester_sha256"] != before[rid]]
    assert len(changed) == 1 and after[changed[0]]["rows"] == "3"
    assert pq.read_table(io.BytesIO(requests.get(after[changed[0]]["url"], timeout=30).content)).num_rows == 3


def test_link_mode_points_at_the_base_url(
    ckan: CkanTestbed,
    token_env: None,
    tmp_path: Path,
    server: FixtureServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    p = project(
        ckan, tmp_path, server, capsys, {"mode": "link", "base_url": "https://tables.example.org/data/"}
    )
    try:
        first = p.run()
        assert first["tables"]["created"] == 4 and first["tables"]["uploads"] == 0
        index = {
            r["resource_key"]: r
            for r in pq.read_table(next((tmp_path / "data" / "tables").glob("*/index.parquet"))).to_pylist()
        }
        for pkg in p.datasets().values():
            for t in tables_of(pkg).values():
                path = index[t["harvester_table_of"]]["table_path"]
                assert t["url"] == f"https://tables.example.org/data/{path}" and t.get("url_type") in (
                    None,
                    "",
                )
        again = p.run()
        assert again["write_calls"] == 0 and again["tables"]["unchanged"] == 4
    finally:
        p.purge()
