"""`publish.quality_extra`: each published dataset carries its MQA score and rating (harvester/quality/), against
the real CKAN testbed. The extras equal quality.parquet; an unchanged re-run writes nothing; a score that
changes (a resource starts to be reachable) updates the dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from harvester.cli import main
from harvester.state import StateStore
from tests.fixture_server import FixtureServer
from tests.portals.ckan_portal import CkanPortal, build_packages
from tests.publish.conftest import CkanTestbed, unique, write_project

pytestmark = pytest.mark.ckan


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    try:
        main([*args, "--json"])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, json.loads(capsys.readouterr().out)


def test_published_datasets_carry_their_quality_score(
    ckan: CkanTestbed,
    token_env: None,
    tmp_path: Path,
    server: FixtureServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    packages = build_packages(3)
    for i, pkg in enumerate(packages):
        server.route(f"/files/{i}.csv", f"commune;n\nNice;{i}\nGrasse;{i + 1}\n", content_type="text/csv")
        pkg["resources"] = [
            {"id": f"r{i}", "url": f"{server.url}/files/{i}.csv", "format": "CSV", "name": "t"}
        ]
    portal = CkanPortal(server, packages)
    pipeline, org, sid = unique("qx-"), unique("org-"), unique("sq")
    write_project(
        tmp_path, pipeline=pipeline, sources=[sid], org=org, source_urls={sid: portal.url}, quality_extra=True
    )
    args = ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(tmp_path / "data")]
    try:
        code, first = run([*args, "run", pipeline, "--no-normalise"], capsys)
        assert code == 0, first
        scores = pq.read_table(tmp_path / "data" / "merged" / pipeline / "quality.parquet").to_pylist()
        want = {r["title"]: (f"{r['total']}/405", r["rating"]) for r in scores}
        shown = [ckan.show(p["id"]) for p in ckan.owned(pipeline)]
        got = {
            p["title"]: tuple(next(e["value"] for e in p["extras"] if e["key"] == k) for k in ("quality_score", "quality_rating"))
            for p in shown
            if p is not None
        }  # fmt: skip
        assert got == want and len(got) == 3
        folder = tmp_path / "data" / "runs" / first["publish"]["run_id"]  # the run's page shows the scores
        assert json.loads((folder / "quality-report.json").read_text())["datasets"] == 3
        assert 'id="quality"' in (folder / "report.html").read_text(encoding="utf-8")

        code, again = run([*args, "run", pipeline, "--no-normalise"], capsys)
        assert code == 0 and again["publish"]["write_calls"] == 0, again["publish"]

        # normalising makes the CSVs reachable: the accessibility points change, and so does each dataset
        code, third = run([*args, "run", pipeline, "--normalise"], capsys)
        assert code == 0, third
        after = {r["title"]: r["total"] for r in pq.read_table(tmp_path / "data" / "merged" / pipeline / "quality.parquet").to_pylist()}  # fmt: skip
        assert all(after[t] > int(want[t][0].split("/")[0]) for t in after)
        assert third["publish"]["writes_by_action"].get("package_update") == 3
    finally:
        state = StateStore(tmp_path / "data" / "state.sqlite")
        ckan.purge({r["ckan_id"] for r in state.read_publish_records(pipeline).values()}, {org})
        state.close()
