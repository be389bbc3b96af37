"""Every stage's units and the runtime spec pickle, and one unit of every stage runs in a fresh (spawned) process.

The portals are replayed by the local fixture server (real CKAN payloads, real files), so the child process
runs the real HTTP code against them; the parent only plans, and commits what comes back.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from harvester.catalog import read_catalog
from harvester.cli import cli
from harvester.config import Config, parse_sources
from harvester.harvest import stage as harvest_stage
from harvester.merge import stage as merge_stage
from harvester.normalise import stage as normalise_stage
from harvester.normalise.archive import ZipLimits
from harvester.normalise.plan import plan_units as plan_normalise
from harvester.pipelines import parse_pipeline
from harvester.publish.inventory import Published
from harvester.publish.plan import Wanted, make_plan
from harvester.runtime import RuntimeSpec
from harvester.state import StateStore
from tests.fixture_server import FixtureServer
from tests.normalise.served import CSV_FR, Files, ckan_with_resources
from tests.portals.ckan_portal import CkanPortal, build_packages

CD22 = (CSV_FR / "cd22_antennes_departementales.csv").read_bytes()
BNLC = (CSV_FR / "bnlc_calvados_covoiturage_utf8_bom.csv").read_bytes()


def in_fresh_process(run_unit: Callable[[Any, RuntimeSpec], Any], unit: Any, spec: RuntimeSpec) -> Any:
    """Run `run_unit(unit, spec)` in a spawned interpreter (nothing inherited) and return its outcome."""
    assert _pool, "only inside fresh_processes()"
    return _pool[0].apply(run_unit, (unit, spec))


_pool: list[Any] = []


@contextmanager
def fresh_processes() -> Iterator[None]:
    """One spawned worker for the whole test (starting an interpreter and importing pyarrow takes a while)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        _pool.append(pool)
        try:
            yield
        finally:
            _pool.clear()


def roundtrip(value: Any) -> Any:
    back = pickle.loads(pickle.dumps(value))
    assert back == value
    return back


def two_sources(server: FixtureServer, second: FixtureServer) -> Config:
    files = Files(server)
    tables = ckan_with_resources(
        server,
        [
            {"name": "antennes", "format": "CSV", "url": files.put("/d/antennes.csv", CD22)},
            {"name": "bnlc", "format": "CSV", "url": files.put("/d/bnlc.csv", BNLC)},
        ],
    )
    other = CkanPortal(second, build_packages(6, seed=3))
    return parse_sources(
        {
            "sources": [
                {"id": "tables", "type": "ckan", "url": tables.url},
                {"id": "other", "type": "ckan", "url": other.url},
            ]
        }
    )


@pytest.mark.timeout(180)
def test_one_unit_of_every_stage_runs_in_a_fresh_process(
    server: FixtureServer, tmp_path: Path, state: StateStore
) -> None:
    second = FixtureServer().start()
    try:
        with fresh_processes():
            _every_stage(two_sources(server, second), tmp_path, state)
    finally:
        second.stop()


def _every_stage(cfg: Config, tmp_path: Path, state: StateStore) -> None:
    data = tmp_path / "data"
    spec = roundtrip(RuntimeSpec.for_data_dir(data, state.path))

    # harvest: a source per unit; the child opens its own state store and HTTP client from the spec
    units = harvest_stage.plan_units(cfg, ["tables", "other"], run_id="r1", full=True)
    for unit in units:
        got = in_fresh_process(harvest_stage.run_unit, roundtrip(unit), spec)
        assert isinstance(got, harvest_stage.HarvestOutcome), got
        assert got.result.status == "ok", got.result.error
        assert got.result.created == got.result.listed > 0
        assert (
            got.cursor is not None and state.read_cursor(unit.source.id) is None
        )  # the child wrote no state
        harvest_stage.commit_source(got, state, "r1")  # the parent stores what the unit found
    assert pq.read_metadata(data / "catalog/other/datasets.parquet").num_rows == 6
    assert state.read_cursor("other") is not None

    # normalise: a resource per unit, planned in the parent; the child downloads and converts
    snapshot = read_catalog(data, "tables")
    assert snapshot is not None
    plan = plan_normalise(
        cfg.source("tables"),
        *snapshot,
        data_dir=data,
        state=state,
        force=False,
        max_bytes=None,
        zip_limits=ZipLimits(),
    )
    assert [u.kind for u in plan.units] == ["csv", "csv"]
    outcomes = [in_fresh_process(normalise_stage.run_unit, roundtrip(u), spec) for u in plan.units]
    assert [o.status for o in outcomes] == ["ok", "ok"]
    for unit, o in zip(plan.units, outcomes, strict=True):
        assert o.table_path == unit.table_path
        assert pq.read_metadata(data / o.table_path).num_rows == o.rows > 0
    result = normalise_stage.commit(
        plan, outcomes, state, data_dir=data, run_id="r1", result=normalise_stage.SourceNormalise("tables")
    )
    assert (result.converted, result.status) == (2, "ok")
    index = pq.read_table(data / "tables/tables/index.parquet").to_pylist()
    assert sorted(r["table_path"] for r in index) == sorted(u.table_path for u in plan.units)
    assert state.read_resource_state(plan.units[0].resource_key)["sha256"] == outcomes[0].sha256

    # merge: a pipeline per unit; the child reads the catalogues and the normalise index
    pipeline, errors = parse_pipeline(
        {"name": "sud", "sources": ["tables", "other"]}, tmp_path / "sud.yaml", {"tables", "other"}
    )
    assert pipeline is not None, errors
    (unit,) = merge_stage.plan_units(cfg, pipeline)
    outcome = in_fresh_process(merge_stage.run_unit, roundtrip(unit), spec)
    used = sum(c["used"] for c in outcome.counts.values())
    assert used == 6 + len(snapshot[0]) and 6 <= outcome.tables["datasets"].num_rows <= used
    merged = outcome.tables["resources"].to_pylist()
    converted = {r["resource_key"]: r["table_path"] for r in merged if r["table_path"]}
    assert converted == {u.resource_key: u.table_path for u in plan.units}
    merge_stage.commit([outcome], data)
    assert (data / "merged/sud/datasets.parquet").exists()


def test_publish_plan_values_pickle() -> None:
    """Publish units are still being shaped; what publish plans today (wanted, actions, plan) is plain data."""
    wanted = [Wanted("a:1", "a", "1", "jeu-1", "Jeu 1", "h1", "org", False)]
    plan = make_plan(
        "sud",
        wanted,
        {"a:2": Published("id-2", "jeu-2", "active", "org", "sud", "a", "2", "h2")},
        names_taken={},
        organizations={"org"},
        create_missing_organizations=False,
        max_delete_share=1.0,
    )
    back = pickle.loads(pickle.dumps(plan))
    assert back.counts() == plan.counts() and [a.to_dict() for a in back.create] == [
        a.to_dict() for a in plan.create
    ]


def test_processes_normalise_like_threads(server: FixtureServer, tmp_path: Path) -> None:
    """`harvester --executor processes normalise` writes the tables and index of the default run."""
    files = Files(server)
    portal = ckan_with_resources(
        server,
        [
            {"name": "antennes", "format": "CSV", "url": files.put("/d/antennes.csv", CD22)},
            {"name": "bnlc", "format": "CSV", "url": files.put("/d/bnlc.csv", BNLC)},
            {"name": "notice", "format": "PDF", "url": files.put("/d/n.pdf", b"%PDF-1.4", "application/pdf")},
        ],
    )
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"id": "demo", "type": "ckan", "url": portal.url}]})
    )

    def run(name: str, *executor: str) -> dict[str, Any]:
        args = ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(tmp_path / name), *executor]
        for cmd in (["harvest", "demo"], ["normalise", "demo"]):
            res = CliRunner().invoke(cli, [*args, *cmd])
            assert res.exit_code == 0, res.stderr
        index = pq.read_table(tmp_path / name / "tables/demo/index.parquet").to_pylist()
        drop = {"run_id", "normalised_at"}
        rows = [{k: v for k, v in r.items() if k not in drop} for r in index]
        tables = {
            r["table_path"]: pq.read_table(tmp_path / name / r["table_path"])
            for r in index
            if r["table_path"]
        }
        return {"index": rows, "tables": tables}

    threads = run("threads")
    processes = run("processes", "--executor", "processes")
    assert len(threads["tables"]) == 2 and processes["index"] == threads["index"]
    assert processes["tables"].keys() == threads["tables"].keys()
    for path, table in threads["tables"].items():
        assert processes["tables"][path].equals(table), path
