"""`harvester --data-dir s3://… run PIPELINE`: harvest, normalise, merge and publish with the data directory on an
S3 API (moto's server on loopback, the `s3` fixture), typed tables uploaded to CKAN's FileStore from there.

The same pipeline runs first with a local data directory; its CKAN datasets are purged and the S3 run publishes
them again into the same organisation: the package dicts are equal (minus CKAN's ids and clocks, and the
uploaded files' URLs and upload times, which CKAN draws), and an S3 re-run writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import BUCKET
from tests.portals.merge_chain import Chain, run_cli
from tests.publish.conftest import CkanTestbed, unique
from tests.publish.test_dask_postgres import local_tables, problems, published, write_project

pytestmark = [pytest.mark.ckan, pytest.mark.timeout(300)]


def with_tables(root: Path, pipeline: str) -> None:
    """The pipeline also publishes each converted table as an uploaded Parquet resource."""
    path = root / "pipelines" / f"{pipeline}.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["publish"]["tables"] = {"mode": "upload"}
    path.write_text(yaml.safe_dump(cfg))


def without_file_urls(packages: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What CKAN draws for an uploaded file: its URL names CKAN's own ids (new after a purge), so keep the file
    name; `last_modified` is the upload's time."""
    for pkg in packages.values():
        for r in pkg.get("resources") or []:
            if r.get("url_type") == "upload":
                r["url"] = str(r["url"]).rsplit("/", 1)[-1]
                r.pop("last_modified", None)
    return packages


def test_run_with_an_s3_data_dir_publishes_what_the_local_run_does(
    ckan: CkanTestbed,
    token_env: None,
    chain: Chain,
    s3: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    local_tables(chain)
    pipeline, org = unique("s3-"), unique("org-")
    local, remote = tmp_path / "local", tmp_path / "remote"
    for root in (local, remote):
        write_project(root, chain, pipeline, org)
        with_tables(root, pipeline)
    data = f"s3://{BUCKET}/{pipeline}"
    on_s3 = ("--data-dir", data, "--state", f"sqlite:///{tmp_path}/s3-state.sqlite")
    try:
        code, ref = run_cli(local, "run", pipeline, "--json", capsys=capsys)
        assert code == 0, problems(ref)
        reference = without_file_urls(published(ckan, pipeline))
        ckan.purge({p["id"] for p in ckan.owned(pipeline)}, {org})

        code, out = run_cli(remote, *on_s3, "run", pipeline, "--json", capsys=capsys)
        assert code == 0, problems(out)
        assert out["publish"]["summary"]["created"] == 5
        uploads = ref["publish"]["tables"]["uploads"]
        assert uploads > 0 and out["publish"]["tables"]["uploads"] == uploads
        # everything the stages wrote is in the bucket; nothing went to the project's local data dir
        assert s3.exists(f"{BUCKET}/{pipeline}/merged/{pipeline}/datasets.parquet")
        assert len(s3.glob(f"{BUCKET}/{pipeline}/tables/*/*/*.parquet")) == 7  # every converted table
        assert not (remote / "data").exists()
        assert without_file_urls(published(ckan, pipeline)) == reference

        code, again = run_cli(remote, *on_s3, "run", pipeline, "--json", capsys=capsys)
        assert code == 0, problems(again)
        assert again["publish"]["write_calls"] == 0 and again["publish"]["tables"]["uploads"] == 0
        assert again["publish"]["summary"]["unchanged"] == 5
    finally:
        ckan.purge({p["id"] for p in ckan.owned(pipeline)}, {org})
