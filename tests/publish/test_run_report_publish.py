"""`harvester run` into the CKAN testbed: one report page for the three stages, with the publish plan and outcome."""

from __future__ import annotations

import json
from pathlib import Path

import lxml.html
import pytest

from harvester.cli import main
from harvester.state import StateStore
from tests.fixture_server import FixtureServer
from tests.portals.ckan_portal import CkanPortal, build_packages
from tests.publish.conftest import CkanTestbed, unique, write_project

pytestmark = pytest.mark.ckan


def test_run_report_page_shows_every_stage_and_the_publication(
    ckan: CkanTestbed,
    token_env: None,
    tmp_path: Path,
    server: FixtureServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    packages = build_packages(4)
    for i, pkg in enumerate(packages):
        pkg["resources"] = [
            {"id": f"r{i}", "url": f"{server.url}/files/{i}.csv", "format": "CSV", "name": "m"}
        ]
        if i:  # the first one is missing (404)
            server.route(f"/files/{i}.csv", "station;no2\nNice;12\nToulon;9\n", content_type="text/csv")
    portal = CkanPortal(server, packages)
    pipeline, org, sid = unique("t-"), unique("org-"), unique("sr")
    write_project(tmp_path, pipeline=pipeline, sources=[sid], org=org, source_urls={sid: portal.url})
    args = ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(tmp_path / "data")]
    try:
        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main([*args, "run", pipeline, "--json"])
        assert done.value.code == 3  # one table failed
        out = json.loads(capsys.readouterr().out)
        run = tmp_path / "data" / "runs" / out["harvest"]["run_id"]
        publish = json.loads((run / "publish-report.json").read_text())
        plan = json.loads((run / "publish-plan.json").read_text())
        page = lxml.html.fromstring((run / "report.html").read_bytes())

        def shown(key: str) -> str:
            return str(page.xpath(f"string(//*[@data-summary='{key}'])"))

        assert shown("published_created") == str(publish["summary"]["created"]) == "4"
        assert shown("published_failed") == "0" and shown("datasets") == "4"
        assert shown("resources_converted") == "3" and shown("resources_failed") == "1"
        assert shown("errors") == "1" and shown("exit_code") == "3"
        assert page.xpath("//tr[@data-stage]/@data-stage") == ["harvest", "normalise", "merge", "publish"]
        [summary] = page.xpath("//section[@id='publish']//details/summary/text()")
        assert summary.strip() == f"plan: create — {plan['counts']['create']}"
        names = page.xpath("//section[@id='publish']//details//td[2]/text()")
        assert sorted(names) == sorted(a["name"] for a in plan["create"])
        assert page.xpath("string(//tr[@class='error']/td[4])") == f"{server.url}/files/0.csv"
    finally:
        state = StateStore(tmp_path / "data" / "state.sqlite")
        ckan.purge({r["ckan_id"] for r in state.read_publish_records(pipeline).values()}, {org})
        state.close()
