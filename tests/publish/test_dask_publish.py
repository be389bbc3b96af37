"""`harvester --executor dask run PIPELINE`: harvest, merge and publish on a loopback Dask cluster into the real
CKAN testbed; a local re-run then finds nothing to write (the cluster published what the local run would). A
publish batch whose outcome is lost after its writes is run again by Dask without a duplicate dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harvester.state import open_state
from tests.dask_cluster import loopback_cluster, require_distributed
from tests.portals.merge_chain import Chain, run_cli
from tests.publish.conftest import CKAN_URL, TOKEN_ENV, CkanTestbed, unique, write_project
from tests.publish.factory import catalogue, write_source
from tests.state.conftest import pg_admin_dsn, pg_empty, pg_url  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.ckan, pytest.mark.dask, pytest.mark.timeout(300)]


def test_run_on_dask_publishes_what_the_local_run_would(
    ckan: CkanTestbed, token_env: None, chain: Chain, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_distributed()
    pipeline, org = unique("dask-"), unique("org-")
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": chain.sources()}, allow_unicode=True))
    (tmp_path / "pipelines").mkdir()
    ckan_cfg = {
        "url": CKAN_URL,
        "token_env": TOKEN_ENV,
        "organizations": {"default": org, "create_missing": True},
    }
    (tmp_path / "pipelines" / f"{pipeline}.yaml").write_text(
        yaml.safe_dump(
            {"name": pipeline, "sources": ["communes", "datasud", "dgouv"], "publish": {"ckan": ckan_cfg}}
        )
    )
    try:
        with loopback_cluster(tmp_path / "cluster") as address:
            code, out = run_cli(tmp_path, "--executor", "dask", "--scheduler", address, "run", pipeline,
                            "--no-normalise", "--json", capsys=capsys)  # fmt: skip
        assert code == 0, out
        assert out["publish"]["summary"]["created"] == 5
        assert out["publish"]["writes_by_action"]["package_create"] == 5  # (and the organization)
        assert len(ckan.owned(pipeline)) == 5
        code, again = run_cli(tmp_path, "run", pipeline, "--no-normalise", "--json", capsys=capsys)
        assert code == 0 and again["publish"]["summary"]["unchanged"] == 5
        assert again["publish"]["write_calls"] == 0
    finally:
        ckan.purge({p["id"] for p in ckan.owned(pipeline)}, {org})


@pytest.mark.postgres
def test_a_publish_batch_lost_after_its_writes_is_retried_without_duplicates(
    ckan: CkanTestbed,
    token_env: None,
    tmp_path: Path,
    pg_empty: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One publish batch does its package_create calls, then raises before returning (as if its worker lost the
    answer); Dask runs it again, the retry finds the datasets it created (ours: brought back by an update, never
    created twice), and the report lists the retried unit."""
    from tests.dask_faults import publish_fails_after_writing

    require_distributed()
    pipeline, org, src = unique("dpr-"), unique("org-"), unique("sdr")
    write_project(tmp_path, pipeline=pipeline, sources=[src], org=org, concurrency=2)
    rows, res = catalogue(src, 4)
    write_source(tmp_path / "data", src, rows, res)
    monkeypatch.setattr("harvester.publish.writer.run_unit", publish_fails_after_writing)
    try:
        with loopback_cluster(tmp_path / "cluster") as address:
            code, out = run_cli(tmp_path, "--executor", "dask", "--scheduler", address, "--state", pg_empty,
                                "publish", pipeline, "--json", capsys=capsys)  # fmt: skip
        assert code == 0, out
        assert (tmp_path / "publish-failed-once").exists()  # the first attempt of one batch was lost
        assert [(r["unit"], r["retries_used"], r["worker_deaths"]) for r in out["retried"]] == [
            (pipeline, 1, 0)
        ]
        saved = json.loads(Path(out["report_path"]).read_text())  # runs/<run_id>/publish-report.json
        assert saved["retried"] == out["retried"]
        # 2 batches of 2: the lost one's datasets were created, then found and updated by its retry
        assert (
            out["summary"]["created"] == 2
            and out["summary"]["updated"] == 2
            and out["summary"]["failed"] == 0
        )
        assert (
            out["writes_by_action"]["package_create"] == 4 and out["writes_by_action"]["package_update"] == 2
        )
        owned = ckan.owned(pipeline)
        assert len(owned) == 4 and len({p["harvest_remote_id"] for p in owned}) == 4  # no duplicate
        st = open_state(pg_empty, readonly=True)
        try:
            records = st.read_publish_records(pipeline)
        finally:
            st.close()
        assert {r["ckan_id"] for r in records.values()} == {p["id"] for p in owned}
        monkeypatch.undo()
        code, again = run_cli(tmp_path, "--state", pg_empty, "publish", pipeline, "--json", capsys=capsys)
        assert code == 0 and again["summary"]["unchanged"] == 4 and again["write_calls"] == 0
    finally:
        ckan.purge({p["id"] for p in ckan.owned(pipeline)}, {org})
