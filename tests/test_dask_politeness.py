"""Host politeness across a Dask cluster: three single-threaded workers harvesting several sources of one host.

The host is one fixture server serving the files of six `files` sources (each file is one HEAD request). Its
handler records the requests in flight at once and when each arrived, so the limits are checked from the
portal's side. With the shared limits (harvester/http_shared.py, SQLite state beside the data) the host sees at
most `http.concurrency` requests in flight and requests spaced by `1 / http.rate`; with
HARVESTER_HOST_LIMITS=process (each worker alone) the same run exceeds them, so the tests can fail. A dead host
(a listener that closes every connection) is tried `breaker_failures` times by the cluster, not by each worker.
A worker killed while its request holds the host's only slot: the run completes.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from harvester.cli import cli
from tests.dask_cluster import loopback_cluster, require_distributed
from tests.fixture_server import FixtureServer, Reply, Request
from tests.host_limits import ClosingListener, assert_spaced
from tests.portals.files_portal import COMMUNE
from tests.state.conftest import pg_admin_dsn, pg_empty, pg_url  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.dask, pytest.mark.timeout(300)]

BODY = (COMMUNE / "cd22_antennes_departementales.csv").read_bytes()
N_SOURCES, N_FILES = 6, 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_distributed()
    with loopback_cluster(tmp_path_factory.mktemp("dask3"), workers=3) as address:
        yield address


class Watched:
    """A handler that answers every file after `delay` seconds, counting requests in flight."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.arrivals: list[float] = []
        self.hold: threading.Event | None = None  # when set: the first request waits for it
        self.held = threading.Event()

    def __call__(self, req: Request) -> Reply:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.arrivals.append(time.monotonic())
            first = len(self.arrivals) == 1
        try:
            if first and self.hold is not None:
                self.held.set()
                self.hold.wait(60)
            time.sleep(self.delay)
        finally:
            with self.lock:
                self.in_flight -= 1
        return Reply(200, BODY, headers={"ETag": f'"{req.path}"'}, content_type="text/csv")


def write_sources(
    root: Path, base_url: str, http: dict[str, Any], server: FixtureServer | None = None
) -> None:
    sources = []
    for i in range(N_SOURCES):
        files = [
            {"url": f"{base_url}/s{i}/f{j}.csv", "title": f"f{j}", "license": "lov2"} for j in range(N_FILES)
        ]
        sources.append(
            {"id": f"commune{i}", "type": "files", "url": base_url, "http": http, "params": {"files": files}}
        )
    (root / "sources.yaml").write_text(yaml.safe_dump({"sources": sources}))


def serve(server: FixtureServer, handler: Watched) -> None:
    for i in range(N_SOURCES):
        for j in range(N_FILES):
            server.route(f"/s{i}/f{j}.csv", handler)


def harvest(root: Path, data: Path, cluster: str, state: str | None = None) -> dict[str, Any]:
    args = ["--config", str(root / "sources.yaml"), "--data-dir", str(data), "--executor", "dask"]
    args += ["--state", state] if state else []
    res = CliRunner().invoke(cli, [*args, "--scheduler", cluster, "harvest", "--all"])
    (report,) = [json.loads(p.read_text()) for p in data.glob("runs/*/report.json")]
    report["exit_code"] = res.exit_code
    report["output"] = res.output + (res.stderr or "")
    return report


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state(request: pytest.FixtureRequest) -> str | None:
    """The run's state: SQLite in the data directory, or a fresh PostgreSQL database of the testbed."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_empty")
    return url


def test_three_workers_never_exceed_two_in_flight(
    cluster: str, server: FixtureServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: str | None
) -> None:
    shared = Watched(0.2)
    serve(server, shared)
    write_sources(tmp_path, server.url, {"concurrency": 2})
    report = harvest(tmp_path, tmp_path / "shared", cluster, state)
    assert report["exit_code"] == 0, report["output"]
    assert [s["status"] for s in report["sources"]] == ["ok"] * N_SOURCES, report["sources"]
    assert len(shared.arrivals) == N_SOURCES * N_FILES
    assert shared.max_in_flight == 2  # the limit held, and was reached

    alone = Watched(0.2)  # the same run with each worker applying the limit alone exceeds it
    serve(server, alone)
    monkeypatch.setenv("HARVESTER_HOST_LIMITS", "process")
    report = harvest(tmp_path, tmp_path / "alone", cluster, state)
    assert report["exit_code"] == 0, report["output"]
    assert alone.max_in_flight == 3  # one per worker: 3 workers × their own limit of 2


def test_requests_are_spaced_by_the_rate_across_workers(
    cluster: str, server: FixtureServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rate = 5.0
    shared = Watched(0.0)
    serve(server, shared)
    write_sources(tmp_path, server.url, {"rate": rate, "concurrency": 4})
    report = harvest(tmp_path, tmp_path / "shared", cluster)
    assert report["exit_code"] == 0, report["output"]
    assert len(shared.arrivals) == N_SOURCES * N_FILES
    assert_spaced(shared.arrivals, 1 / rate)

    alone = Watched(0.0)
    serve(server, alone)
    monkeypatch.setenv("HARVESTER_HOST_LIMITS", "process")
    report = harvest(tmp_path, tmp_path / "alone", cluster)
    assert report["exit_code"] == 0, report["output"]
    gaps = [b - a for a, b in zip(alone.arrivals, alone.arrivals[1:], strict=False)]
    assert min(gaps) < 0.5 / rate  # each worker spacing only its own requests: closer together


def test_a_host_opened_by_one_worker_is_refused_by_the_others(cluster: str, tmp_path: Path) -> None:
    dead = ClosingListener(hold=0.1)  # the attempts of the workers overlap
    try:
        write_sources(tmp_path, dead.url, {"breaker_failures": 3, "max_retries": 4, "backoff": 0.1})
        report = harvest(tmp_path, tmp_path / "data", cluster)
    finally:
        dead.stop()
    assert report["exit_code"] != 0
    # each worker alone would try 3 times itself (9 and more); a few attempts already under way may end after
    # the breaker opened: at most one more per other worker
    assert 3 <= dead.accepted <= 3 + 2, dead.accepted
    host = dead.url.removeprefix("http://")
    (entry,) = report["unreachable_hosts"]
    assert entry["host"] == host and entry["failures"] >= 3
    assert entry["refused_requests"] >= N_SOURCES * N_FILES - dead.accepted
    errors = [e for s in report["sources"] for e in s["errors"]]
    assert report["errors_by_host"][host]["causes"].get("host unreachable (circuit breaker open)"), errors


def test_a_worker_killed_holding_the_only_slot_does_not_stop_the_run(
    cluster: str, server: FixtureServer, tmp_path: Path
) -> None:
    handler = Watched(0.05)
    handler.hold = threading.Event()
    serve(server, handler)
    write_sources(tmp_path, server.url, {"concurrency": 1})
    data = tmp_path / "data"
    data.mkdir()
    out: dict[str, Any] = {}
    run = threading.Thread(target=lambda: out.update(harvest(tmp_path, data, cluster)))
    run.start()
    try:
        assert handler.held.wait(120), "no request came"
        with sqlite3.connect(data / "state-hosts.sqlite") as db:
            (pid,) = [r[0] for r in db.execute("SELECT pid FROM host_slots")]
        os.kill(pid, signal.SIGKILL)  # a worker holding the host's one slot
        t_killed = time.monotonic()
    finally:
        handler.hold.set()
    run.join(240)
    assert not run.is_alive()
    assert out["exit_code"] == 0, out["output"]
    assert [s["status"] for s in out["sources"]] == ["ok"] * N_SOURCES
    assert (
        handler.max_in_flight <= 2
    )  # 1, and the killed worker's request, which the server may still be answering
    # the unit under way on the killed worker (and any the scheduler had queued there) ran again elsewhere
    assert out["retried"] and all(r["worker_deaths"] == 1 for r in out["retried"]), out["retried"]
    # the slot came back: the next request after the kill did not wait for any lease to run out
    after = [t for t in handler.arrivals if t > t_killed]
    assert after and after[0] - t_killed < 10
