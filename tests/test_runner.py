"""The runner: one module makes pools; units and the runtime spec are picklable; processes give threads' outputs."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

import harvester
from harvester.cli import cli
from harvester.config import parse_sources
from harvester.harvest.stage import HarvestUnit, plan_units
from harvester.runtime import RuntimeSpec
from tests.fixture_server import FixtureServer
from tests.portals.ckan_portal import CkanPortal, build_packages

PACKAGE = Path(harvester.__file__).parent


def test_only_the_runner_creates_pools() -> None:
    makers = re.compile(r"\b(ThreadPoolExecutor|ProcessPoolExecutor)\(")
    found = sorted(
        str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if makers.search(p.read_text("utf-8"))
    )
    # paged connectors share a one-request look-ahead of their next listing page (allowed by the design)
    # and one conversion casts the columns of a batch side by side (pure Arrow kernels, closed with the conversion)
    assert found == ["normalise/columnpool.py", "prefetch.py", "runner.py"]


def test_normalise_and_publish_do_not_import_the_harvest_stage() -> None:
    stage = re.compile(r"^\s*(from harvester\.harvest\b|import harvester\.harvest\b)", re.M)
    for sub in ("normalise", "publish"):
        offenders = [p.name for p in (PACKAGE / sub).rglob("*.py") if stage.search(p.read_text("utf-8"))]
        assert offenders == [], sub


def test_harvest_unit_and_spec_pickle_and_run_in_a_fresh_process(
    tmp_path: Path, server: FixtureServer
) -> None:
    portal = CkanPortal(server, build_packages(12))
    config = parse_sources({"sources": [{"id": "p", "type": "ckan", "url": portal.url}]})
    (unit,) = plan_units(config, ["p"], run_id="r1", full=True)
    spec = RuntimeSpec.for_data_dir(tmp_path / "data")
    assert pickle.loads(pickle.dumps(unit)) == unit
    assert pickle.loads(pickle.dumps(spec)) == spec
    blob = tmp_path / "job.pickle"
    blob.write_bytes(pickle.dumps((unit, spec)))
    code = (
        "import pickle,sys\n"
        "from harvester.harvest.stage import run_unit\n"
        "unit, spec = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "r = run_unit(unit, spec).result\n"
        "print(r.status, r.listed, r.created)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(blob)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok", "12", "12"]
    table = pq.read_table(tmp_path / "data/catalog/p/datasets.parquet")
    assert table.num_rows == 12
    assert isinstance(unit, HarvestUnit)


@pytest.fixture
def three_portals() -> Iterator[list[CkanPortal]]:
    servers = [FixtureServer().start() for _ in range(3)]
    try:
        yield [CkanPortal(s, build_packages(25 + 10 * i, seed=i + 1)) for i, s in enumerate(servers)]
    finally:
        for s in servers:
            s.stop()


def _harvest(
    tmp_path: Path, name: str, portals: list[CkanPortal], *executor: str
) -> dict[str, list[tuple[str, str]]]:
    cfg = tmp_path / f"{name}.yaml"
    sources = [{"id": f"portal{i}", "type": "ckan", "url": p.url} for i, p in enumerate(portals)]
    cfg.write_text(yaml.safe_dump({"sources": sources}))
    data = tmp_path / name
    res = CliRunner().invoke(
        cli, ["--config", str(cfg), "--data-dir", str(data), *executor, "harvest", "--all"]
    )
    assert res.exit_code == 0, res.stderr
    out = {}
    for i in range(len(portals)):
        t = pq.read_table(
            data / f"catalog/portal{i}/datasets.parquet", columns=["dataset_key", "metadata_hash"]
        )
        out[f"portal{i}"] = sorted(zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True))
    return out


def test_processes_give_the_threads_outputs(tmp_path: Path, three_portals: list[CkanPortal]) -> None:
    threads = _harvest(tmp_path, "threads", three_portals)
    processes = _harvest(tmp_path, "processes", three_portals, "--executor", "processes")
    assert [len(v) for v in threads.values()] == [25, 35, 45]
    assert processes == threads
