"""`harvester --executor dask run PIPELINE`: harvest, merge and publish on a loopback Dask cluster into the real
CKAN testbed; a local re-run then finds nothing to write (the cluster published what the local run would)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.dask_cluster import loopback_cluster, require_distributed
from tests.portals.merge_chain import Chain, run_cli
from tests.publish.conftest import CKAN_URL, TOKEN_ENV, CkanTestbed, unique

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
