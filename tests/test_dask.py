"""`--executor dask`: harvest, normalise and merge on a loopback Dask cluster give the local run's outputs, and
a worker killed in the middle of a normalisation task is replaced without changing them.

The cluster is a `dask scheduler` and two `dask worker` processes on 127.0.0.1 (tests/dask_cluster.py); the
portals are replayed by the fixture server (three CKAN portals, one of them with real CSV resources, and a
`files` source with real commune CSVs). Workers share the data directory and the SQLite state file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from harvester.cli import cli
from harvester.state import open_state
from tests.dask_cluster import fail_once, loopback_cluster, require_distributed
from tests.dask_outputs import outputs as stage_outputs
from tests.fixture_server import FixtureServer, Reply, Request
from tests.normalise.served import CSV_FR, Files, ckan_with_resources
from tests.portals.ckan_portal import CkanPortal, build_packages
from tests.portals.files_portal import COMMUNE, FileHost, Served
from tests.state.conftest import pg_admin_dsn, pg_empty, pg_url  # noqa: F401  (fixtures)
from tests.subprocess_cli import harvester_cmd

pytestmark = [pytest.mark.dask, pytest.mark.timeout(300)]

CD22 = (CSV_FR / "cd22_antennes_departementales.csv").read_bytes()
BNLC = (CSV_FR / "bnlc_calvados_covoiturage_utf8_bom.csv").read_bytes()
SOURCES = ["tables", "portal1", "portal2", "commune"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_distributed()
    with loopback_cluster(tmp_path_factory.mktemp("dask")) as address:
        yield address


def write_config(root: Path, servers: list[FixtureServer], slow: Any = None) -> None:
    """Three CKAN portals (the first with two CSV resources, and a slow third one when `slow` is given)
    and a files source; a pipeline `sud` over all four."""
    files = Files(servers[0])
    resources = [
        {"name": "antennes", "format": "CSV", "url": files.put("/d/antennes.csv", CD22)},
        {"name": "bnlc", "format": "CSV", "url": files.put("/d/bnlc.csv", BNLC)},
    ]
    if slow is not None:
        servers[0].route("/d/slow.csv", slow)
        resources.append({"name": "slow", "format": "CSV", "url": servers[0].url + "/d/slow.csv"})
    tables = ckan_with_resources(servers[0], resources)
    portals = [CkanPortal(servers[i], build_packages(15 + 10 * i, seed=i)) for i in (1, 2)]
    host = FileHost(servers[3])
    entries = []
    for i, name in enumerate(["yffiniac_salles_bom_inside_quotes.csv", "cd22_antennes_departementales.csv"]):
        served = Served((COMMUNE / name).read_bytes(), last_modified=datetime(2024, 1 + 4 * i, 1, tzinfo=UTC))
        entries.append({"url": host.serve(f"/opendata/{name}", served), "title": name, "license": "lov2"})
    sources = [
        {"id": "tables", "type": "ckan", "url": tables.url},
        {"id": "portal1", "type": "ckan", "url": portals[0].url},
        {"id": "portal2", "type": "ckan", "url": portals[1].url},
        {"id": "commune", "type": "files", "url": servers[3].url, "params": {"files": entries}},
    ]
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "sources.yaml").write_text(yaml.safe_dump({"sources": sources}))
    (root / "pipelines" / "sud.yaml").write_text(yaml.safe_dump({"name": "sud", "sources": SOURCES}))


def run_stages(root: Path, data: Path, *executor: str) -> None:
    args = ["--config", str(root / "sources.yaml"), "--data-dir", str(data), *executor]
    # portal1 and portal2 are listings only (their resources name hosts that tests never reach)
    for cmd in (["harvest", "--all"], ["normalise", "tables", "commune"], ["merge", "sud"]):
        res = CliRunner().invoke(cli, [*args, *cmd])
        assert res.exit_code == 0, (cmd, res.output, res.stderr)


def outputs(data: Path) -> dict[str, Any]:
    """Everything the stages wrote that does not depend on when they ran (tests/dask_outputs.py)."""
    return stage_outputs(data, SOURCES, "sud")


def test_dask_gives_the_local_outputs(cluster: str, servers: list[FixtureServer], tmp_path: Path) -> None:
    write_config(tmp_path, servers)
    run_stages(tmp_path, tmp_path / "local")
    run_stages(tmp_path, tmp_path / "dask", "--executor", "dask", "--scheduler", cluster)
    local, dask = outputs(tmp_path / "local"), outputs(tmp_path / "dask")
    assert [len(local[f"catalog/{s}/datasets"]) for s in SOURCES[1:]] == [25, 35, 2]
    assert sum(1 for k in local if k.startswith("tables/")) == 2 + 2  # the CKAN CSVs and the commune files
    assert local.keys() == dask.keys()
    for key, value in local.items():
        assert dask[key] == value, key


def test_dask_without_a_scheduler_is_a_usage_error(tmp_path: Path, servers: list[FixtureServer]) -> None:
    write_config(tmp_path, servers)
    env = {k: v for k, v in os.environ.items() if k != "HARVESTER_DASK_SCHEDULER"}
    res = CliRunner(env=env).invoke(
        cli, ["--config", str(tmp_path / "sources.yaml"), "--executor", "dask", "harvest", "--all"]
    )
    assert res.exit_code == 2 and "--executor dask needs --scheduler" in res.output + res.stderr
    assert sum(s.count() for s in servers) == 0  # refused before any request


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def dask_state(request: pytest.FixtureRequest) -> str | None:
    """The state the cluster's run uses: None for the SQLite file of the shared data dir, else a PostgreSQL URL
    (the session's database of tests/state/conftest.py, emptied)."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_empty")
    return url


def test_a_worker_killed_during_normalisation_is_replaced(
    cluster: str, servers: list[FixtureServer], tmp_path: Path, dask_state: str | None
) -> None:
    """The first download of slow.csv waits until the test has killed the worker running it; the scheduler
    gives the task to a live worker, the run ends with the local run's outputs and reports the retry, and
    nothing is written twice: one index row per resource, each table once, no half-written file left."""
    from distributed import Client

    armed, arrived, release = threading.Event(), threading.Event(), threading.Event()
    calls: list[int] = []

    def slow(req: Request) -> Reply:
        if req.method == "GET" and armed.is_set():
            calls.append(1)
            if not arrived.is_set():
                arrived.set()
                release.wait(60)
        return Reply(200, BNLC, content_type="text/csv")

    write_config(tmp_path, servers, slow=slow)
    run_stages(tmp_path, tmp_path / "local")  # the reference run
    resources = pq.read_table(tmp_path / "local/catalog/tables/resources.parquet").to_pylist()
    (slow_key,) = [r["resource_key"] for r in resources if r["url"].endswith("/d/slow.csv")]
    armed.set()
    data = tmp_path / "dask"
    base = ["--executor", "dask", "--scheduler", cluster, *(["--state", dask_state] if dask_state else [])]
    for cmd in (["harvest", "--all"],):
        done = subprocess.run(
            harvester_cmd(tmp_path, *base, *cmd, data=data), capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr.decode()
    normalise = subprocess.Popen(
        harvester_cmd(tmp_path, *base, "normalise", "tables", "commune", data=data),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert arrived.wait(120), "slow.csv was never requested"
        with Client(cluster, timeout=30) as client:
            busy = [
                w for w, keys in client.processing().items() if any(slow_key[:80] in str(k) for k in keys)
            ]
            assert len(busy) == 1, client.processing()
            (pid,) = client.run(os.getpid, workers=busy).values()
        os.kill(pid, signal.SIGKILL)
    finally:
        release.set()
    _out, err = normalise.communicate(timeout=180)
    assert normalise.returncode == 0, err.decode()
    assert len(calls) >= 2  # downloaded again by the worker that took the task over
    args = ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(data), *base, "merge", "sud"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.stderr
    assert outputs(data) == outputs(tmp_path / "local")
    reports = [json.loads(p.read_text()) for p in data.glob("runs/*/normalise-report.json")]
    retried = [r for rep in reports for r in rep["retried"]]
    assert [r["worker_deaths"] for r in retried if r["unit"] == slow_key] == [1], retried
    (page,) = [p.parent / "report.html" for p in data.glob("runs/*/normalise-report.json")]
    assert 'id="retried"' in page.read_text() and f'data-unit="{slow_key}"' in page.read_text()  # report.html
    index = pq.read_table(data / "tables/tables/index.parquet").to_pylist()
    assert sorted(r["resource_key"] for r in index) == sorted(r["resource_key"] for r in resources)
    indexed = {
        r["table_path"]
        for sid in ("tables", "commune")
        for r in pq.read_table(data / f"tables/{sid}/index.parquet").to_pylist()
    }
    files = {p.relative_to(data).as_posix() for p in (data / "tables").rglob("*") if p.is_file()}
    names = {"tables/tables/index.parquet", "tables/commune/index.parquet"}
    assert files - names == indexed and len(indexed) == 5  # no duplicate table, no .part / .tmp left
    (slow,) = [r for r in index if r["resource_key"] == slow_key]
    assert slow["table_status"] == "ok" and slow["table_rows"] > 0
    if dask_state is not None:  # the workers and the command shared the PostgreSQL state
        assert not (data / "state.sqlite").exists()
        st = open_state(dask_state, readonly=True)
        try:
            assert (st.read_resource_state(slow_key) or {}).get("sha256") == slow["sha256"]
        finally:
            st.close()


def test_a_unit_that_raises_is_retried_and_reported(cluster: str, tmp_path: Path) -> None:
    from harvester import runner
    from harvester.dask_executor import set_scheduler
    from harvester.runtime import RuntimeSpec

    set_scheduler(cluster)
    try:
        runner.take_retried()
        spec = RuntimeSpec.for_data_dir(tmp_path)
        out = runner.run_units(
            fail_once, [str(tmp_path / "m1"), str(tmp_path / "m2")], spec, workers=2, kind="dask"
        )
    finally:
        set_scheduler(None)
    assert all(pid.isdigit() for pid in out) and (tmp_path / "m1").exists()
    retried = runner.take_retried()
    assert sorted(r["retries_used"] for r in retried) == [1, 1]
    assert [r["worker_deaths"] for r in retried] == [0, 0]


def test_a_merge_that_raises_once_is_retried_and_reported(
    cluster: str, servers: list[FixtureServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge task raises on its first attempt; Dask runs it again, `merge --json` lists it in `retried`, and
    the merged files equal those of a local merge of the same catalogues."""
    from tests.dask_faults import merge_fails_once

    write_config(tmp_path, servers)
    data, ref = tmp_path / "data", tmp_path / "ref"
    args = ["--config", str(tmp_path / "sources.yaml")]
    res = CliRunner().invoke(cli, [*args, "--data-dir", str(data), "harvest", "--all"])
    assert res.exit_code == 0, res.stderr
    shutil.copytree(data, ref)
    res = CliRunner().invoke(cli, [*args, "--data-dir", str(ref), "merge", "sud"])
    assert res.exit_code == 0, res.stderr
    monkeypatch.setattr("harvester.merge.stage.run_unit", merge_fails_once)  # what the cluster is sent
    res = CliRunner().invoke(
        cli,
        [
            *args,
            "--data-dir",
            str(data),
            "--executor",
            "dask",
            "--scheduler",
            cluster,
            "merge",
            "sud",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert (tmp_path / "merge-failed-once").exists()  # the first attempt did fail
    assert [(r["unit"], r["retries_used"], r["worker_deaths"]) for r in report["retried"]] == [("sud", 1, 0)]
    merged = {k: v for k, v in outputs(data).items() if k.startswith("merged/")}
    assert len(merged) == 3 and merged == {k: v for k, v in outputs(ref).items() if k.startswith("merged/")}
