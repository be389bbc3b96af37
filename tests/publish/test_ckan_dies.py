"""CKAN goes away in the middle of a publish: the process exits 1 and the report says so, with the same code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harvester.cli import main
from harvester.state import StateStore
from tests.publish.conftest import CkanTestbed, unique, write_project
from tests.publish.factory import catalogue, write_source
from tests.publish.proxy import DyingProxy

pytestmark = pytest.mark.ckan


def test_ckan_dying_mid_run_gives_exit_1_and_a_report_saying_so(
    ckan: CkanTestbed, token_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline, org, src = unique("die-"), unique("org-"), unique("src")
    proxy = DyingProxy(ckan.url, writes_allowed=4)  # organization_create + 3 package_create, then gone
    write_project(
        tmp_path, pipeline=pipeline, sources=[src], org=org, url=proxy.url, max_retries=1, concurrency=1
    )
    rows, res = catalogue(src, 8)
    write_source(tmp_path / "data", src, rows, res)
    try:
        with pytest.raises(SystemExit) as info:
            main(
                [
                    "--config",
                    str(tmp_path / "sources.yaml"),
                    "--data-dir",
                    str(tmp_path / "data"),
                    "publish",
                    pipeline,
                ]
            )
        assert info.value.code == 1
        assert (
            proxy.cut.is_set() and proxy.writes_seen[:4] == ["organization_create"] + ["package_create"] * 3
        )
        err = capsys.readouterr().err
        assert "error: CKAN did not answer package_create" in err and proxy.url in err

        [report_path] = (tmp_path / "data" / "runs").glob("*/publish-report.json")
        report = json.loads(report_path.read_text())
        assert report["exit_code"] == 1
        assert "CKAN did not answer package_create" in report["error"] and proxy.url in report["error"]
        assert report["summary"]["created"] == 3
        aborted = [f for f in report["failed"] if f.get("aborted")]
        # the write that met the dead CKAN (and the one the single worker had already started) are listed
        assert 1 <= len(aborted) <= 2 and {f["dataset_key"] for f in aborted} <= {
            r["dataset_key"] for r in rows
        }
        assert report["summary"]["failed"] == len(report["failed"]) >= 1

        state = StateStore(tmp_path / "data" / "state.sqlite", readonly=True)
        assert len(state.read_publish_records(pipeline)) == 3  # the writes done before CKAN went away
        last = state.last_run(f"pipeline:{pipeline}", "publish")
        assert last is not None and last["status"] == "failed" and last["summary"]["exit_code"] == 1
        assert len(ckan.owned(pipeline)) == 3
    finally:
        proxy.close()
        ckan.purge({p["id"] for p in ckan.owned(pipeline)}, {org})
