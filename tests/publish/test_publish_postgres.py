"""Publishing with the state in PostgreSQL (`--state postgresql://…`): the same records, a second run writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harvester.cli import cli
from harvester.state import open_state
from tests.publish.conftest import CkanTestbed, unique, write_project
from tests.publish.factory import catalogue, write_source
from tests.state.conftest import pg_admin_dsn, pg_empty, pg_url  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.ckan, pytest.mark.postgres]


def test_publish_records_live_in_postgres(
    ckan: CkanTestbed,
    token_env: None,
    tmp_path: Path,
    pg_empty: str,  # noqa: F811
) -> None:
    pipeline, org, src = unique("pg-"), unique("org-"), unique("spg")
    write_project(tmp_path, pipeline=pipeline, sources=[src], org=org)
    rows, res = catalogue(src, 4)
    write_source(tmp_path / "data", src, rows, res)
    args = [
        "--config",
        str(tmp_path / "sources.yaml"),
        "--data-dir",
        str(tmp_path / "data"),
        "--state",
        pg_empty,
    ]
    try:
        first = CliRunner().invoke(cli, [*args, "publish", pipeline, "--json"])
        assert first.exit_code == 0, first.stderr
        assert json.loads(first.stdout)["summary"]["created"] == 4
        st = open_state(pg_empty, readonly=True)
        records = st.read_publish_records(pipeline)
        assert {r["ckan_id"] for r in records.values()} == {p["id"] for p in ckan.owned(pipeline)}
        assert len(records) == 4 and not any(r["withdrawn"] for r in records.values())
        run = st.last_run(f"pipeline:{pipeline}", "publish")
        assert run is not None and run["status"] == "ok"
        st.close()
        again = CliRunner().invoke(cli, [*args, "publish", pipeline, "--json"])
        assert again.exit_code == 0, again.stderr
        report = json.loads(again.stdout)
        assert report["summary"]["unchanged"] == 4 and report["write_calls"] == 0
        assert not (tmp_path / "data" / "state.sqlite").exists()
    finally:
        ckan.purge({p["id"] for p in ckan.owned(pipeline)}, {org})
