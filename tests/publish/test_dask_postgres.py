"""`harvester --executor dask --state postgresql://… run PIPELINE` end to end: harvest, normalise, merge and publish
of a replayed multi-source catalogue on a loopback Dask cluster (a `dask scheduler` and two `dask worker`
processes) with the state in the testbed's PostgreSQL, against the same pipeline run locally.

The catalogue is the merge chain of tests/portals/merge_chain.py (commune files, a DataSud-style CKAN, a
data.gouv.fr-style udata), DataSud's own dataset given two real CSV resources served locally, so that every
tabular resource is on loopback. Each run has its own data dir and its own PostgreSQL database (a state
namespace of its own). The local run goes first; its CKAN datasets and organisation are purged, then the Dask run
publishes the same pipeline into the same organisation, so that names and organisations compare as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from tests.dask_cluster import loopback_cluster, require_distributed
from tests.dask_outputs import outputs, package_snapshot
from tests.normalise.served import CSV_FR, Files
from tests.portals.merge_chain import Chain, run_cli
from tests.publish.conftest import CKAN_URL, TOKEN_ENV, CkanTestbed, unique
from tests.state.conftest import fresh_database, pg_admin_dsn  # noqa: F401  (fixture)

pytestmark = [pytest.mark.ckan, pytest.mark.dask, pytest.mark.postgres, pytest.mark.timeout(300)]

SOURCES = ["communes", "datasud", "dgouv"]


def local_tables(chain: Chain) -> None:
    """Nothing that normalise would download is off loopback: DataSud's own dataset (a real demo.ckan.org package)
    gets two real CSVs served by its portal's server, and the DLVA GTFS link that DataSud and data.gouv.fr share
    becomes a loopback link without a file extension (a GTFS feed is not a table: normalise skips it)."""
    gtfs = chain.datasud.server.url + "/dlva/gtfs"
    for res in [r for p in chain.datasud.packages for r in p["resources"]] + [
        r for rec in chain.dgouv.records for r in rec.get("resources") or []
    ]:
        if res["url"].endswith("/dlva.gtfs.zip"):
            res["url"] = gtfs
    files = Files(chain.datasud.server)
    own = chain.datasud.packages[3]
    own["resources"] = [
        {"id": f"{own['id'][:8]}-res-{i}", "package_id": own["id"], "name": name, "format": "CSV",
         "url": files.put(f"/files/{name}", (CSV_FR / name).read_bytes())}
        for i, name in enumerate(["cd22_antennes_departementales.csv", "bnlc_calvados_covoiturage_utf8_bom.csv"])
    ]  # fmt: skip


def write_project(root: Path, chain: Chain, pipeline: str, org: str) -> None:
    root.mkdir(parents=True)
    (root / "sources.yaml").write_text(yaml.safe_dump({"sources": chain.sources()}, allow_unicode=True))
    (root / "pipelines").mkdir()
    ckan = {
        "url": CKAN_URL,
        "token_env": TOKEN_ENV,
        "organizations": {"default": org, "create_missing": True},
    }
    (root / "pipelines" / f"{pipeline}.yaml").write_text(
        yaml.safe_dump({"name": pipeline, "sources": SOURCES, "publish": {"ckan": ckan}})
    )


def published(ckan: CkanTestbed, pipeline: str) -> dict[str, dict[str, Any]]:
    """The pipeline's CKAN packages by name, as package_show returns them, minus CKAN's ids and clocks."""
    return {
        p["name"]: package_snapshot(ckan.api.action.package_show(id=p["id"])) for p in ckan.owned(pipeline)
    }


def state_rows(url: str, pipeline: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {
            "runs": conn.execute("SELECT count(*) FROM runs").fetchone()[0],  # type: ignore[index]
            "publish_records": conn.execute(
                "SELECT count(*) FROM publish_records WHERE pipeline = %s", (pipeline,)
            ).fetchone()[0],  # type: ignore[index]
            "resource_state": conn.execute("SELECT count(*) FROM resource_state").fetchone()[0],  # type: ignore[index]
        }


def problems(report: dict[str, Any]) -> dict[str, Any]:
    """The exit code of each stage, and what failed in it (the message of a failed `run`)."""
    return {
        k: (v.get("exit_code"), v.get("failed") or v.get("errors") or v.get("error"))
        for k, v in report.items()
    }


def test_run_on_dask_with_postgres_state_equals_the_local_run(
    ckan: CkanTestbed,
    token_env: None,
    chain: Chain,
    pg_admin_dsn: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    require_distributed()
    local_tables(chain)
    pipeline, org = unique("dpg-"), unique("org-")
    local, dask = tmp_path / "local", tmp_path / "dask"
    write_project(local, chain, pipeline, org)
    write_project(dask, chain, pipeline, org)
    try:
        with fresh_database(pg_admin_dsn) as local_pg, fresh_database(pg_admin_dsn) as dask_pg:
            code, ref = run_cli(local, "--state", local_pg, "run", pipeline, "--json", capsys=capsys)
            assert code == 0, problems(ref)
            reference = published(ckan, pipeline)
            ckan.purge({p["id"] for p in ckan.owned(pipeline)}, {org})
            assert ckan.owned(pipeline) == []
            with loopback_cluster(tmp_path / "cluster") as address:
                code, out = run_cli(dask, "--executor", "dask", "--scheduler", address, "--state", dask_pg,
                                    "run", pipeline, "--json", capsys=capsys)  # fmt: skip
            assert code == 0, problems(out)
            # the workers kept their state in PostgreSQL, not in a state.sqlite of the shared data dir
            assert not (dask / "data" / "state.sqlite").exists()
            rows = state_rows(dask_pg, pipeline)
            assert rows["runs"] >= 4 and rows["resource_state"] > 0 and rows["publish_records"] == 5, rows
            assert state_rows(local_pg, pipeline) == rows  # the local run recorded the same
        for report in (ref, out):
            assert report["publish"]["summary"]["created"] == 5 and report["merge"]["merged_datasets"] == 5
            assert [report[stage]["retried"] for stage in ("harvest", "normalise", "merge", "publish")] == [
                []
            ] * 4
        want, got = outputs(local / "data", SOURCES, pipeline), outputs(dask / "data", SOURCES, pipeline)
        tables = [k for k in want if k.startswith("tables/")]
        # each source converts its own copies: the two commune files, DataSud's copies of them and its two CSVs,
        # data.gouv.fr's copy of Yffiniac's file
        by_source = sorted(t.split("/")[1] for t in tables)
        assert by_source == ["communes"] * 2 + ["datasud"] * 4 + ["dgouv"], tables
        index = [r for s in SOURCES for r in want.get(f"index/{s}", [])]
        off_loopback = {r["table_status"] for r in index if not r["url"].startswith("http://127.0.0.1")}
        assert off_loopback == {"skipped"}  # a link (HTML page) normalise does not download
        assert want.keys() == got.keys()
        for key, value in want.items():
            assert got[key] == value, key
        packages = published(ckan, pipeline)
        assert len(packages) == 5 and packages.keys() == reference.keys()
        assert all(
            ("harvest_pipeline", pipeline) in p["extras"] and p["resources"] for p in packages.values()
        )
        for name, pkg in reference.items():
            assert packages[name] == pkg, name
    finally:
        ckan.purge({p["id"] for p in ckan.owned(pipeline)}, {org})
