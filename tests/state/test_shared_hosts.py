"""The shared host limits of a run (harvester/http_shared.py) in both state databases: SQLite and PostgreSQL.

Each "worker" here is its own handle (its own database connection) and its own HTTP client, as in a worker
process; the server side counts what the host sees. A holder killed while it holds a slot is a real child
process killed with SIGKILL. The last test runs `harvest --executor processes` against a dead host.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from harvester.cli import cli
from harvester.http import HttpClient, HttpPolicy
from harvester.http_hosts import HostUnreachableError
from harvester.http_shared import HostsSpec, SharedHosts, open_shared
from tests.fixture_server import FixtureServer, Reply, Request
from tests.host_limits import ClosingListener, assert_spaced


class InFlight:
    def __init__(self, delay: float) -> None:
        self.delay, self.lock = delay, threading.Lock()
        self.now = self.max = 0
        self.arrivals: list[float] = []

    def __call__(self, _req: Request) -> Reply:
        with self.lock:
            self.now += 1
            self.max = max(self.max, self.now)
            self.arrivals.append(time.monotonic())
        time.sleep(self.delay)
        with self.lock:
            self.now -= 1
        return Reply(200, b"{}")


@pytest.fixture
def handles(state_url: str) -> Iterator[list[SharedHosts]]:
    """Three handles on one run's shared limits, as three workers open them."""
    spec = HostsSpec.new(state_url)
    opened = [open_shared(spec) for _ in range(3)]
    yield opened
    for h in opened:
        h.close()


def hammer(clients: list[HttpClient], url: str, policy: HttpPolicy, per_thread: int = 3) -> None:
    """Two threads per client, each sending `per_thread` requests."""
    with ThreadPoolExecutor(2 * len(clients)) as pool:
        for f in [
            pool.submit(lambda c=c: [c.fetch(url, policy=policy) for _ in range(per_thread)])
            for c in clients
            for _ in range(2)
        ]:
            f.result()


def test_concurrency_holds_across_workers(server: FixtureServer, handles: list[SharedHosts]) -> None:
    seen = InFlight(0.1)
    server.route("/x", seen)
    policy = HttpPolicy(concurrency=2)
    hammer([HttpClient(shared=h) for h in handles], server.url + "/x", policy)
    assert len(seen.arrivals) == 18
    assert seen.max == 2
    alone = InFlight(0.1)  # each client applying the limit alone: 3 × 2
    server.route("/x", alone)
    hammer([HttpClient() for _ in handles], server.url + "/x", policy)
    assert alone.max > 2


def test_rate_spaces_requests_across_workers(server: FixtureServer, handles: list[SharedHosts]) -> None:
    seen = InFlight(0.0)
    server.route("/x", seen)
    hammer([HttpClient(shared=h) for h in handles], server.url + "/x", HttpPolicy(rate=10, concurrency=4), 2)
    assert len(seen.arrivals) == 12
    assert_spaced(seen.arrivals, 0.1)


def test_a_host_opened_by_one_worker_is_refused_by_the_others(handles: list[SharedHosts]) -> None:
    dead = ClosingListener()
    a, b, c = (HttpClient(shared=h, sleep=lambda _s: None) for h in handles)
    policy = HttpPolicy(max_retries=5, breaker_failures=3)
    with pytest.raises(HostUnreachableError):
        a.fetch(dead.url + "/x", policy=policy)
    assert dead.accepted == 3
    with pytest.raises(HostUnreachableError, match="host unreachable since"):
        b.fetch(dead.url + "/y", policy=policy)  # refused at once: not sent
    assert dead.accepted == 3
    (entry,) = c.breaker.report()
    assert entry["host"] == dead.url.removeprefix("http://")
    assert (entry["failures"], entry["refused_requests"]) == (3, 2)  # a's own last retry, then b
    dead.stop()


def test_an_answer_resets_the_count_for_every_worker(
    server: FixtureServer, handles: list[SharedHosts]
) -> None:
    a, b, _c = (HttpClient(shared=h, sleep=lambda _s: None) for h in handles)
    dead = ClosingListener()
    host = dead.url.removeprefix("http://")
    a.breaker.failure(dead.url, "refused", 3)
    b.breaker.failure(dead.url, "refused", 3)
    b.breaker.check(dead.url, None)  # b looks: 2 failures so far
    b.breaker.success(dead.url)
    assert not a.breaker.failure(dead.url, "refused", 3)  # the count restarted at b's answer: 1, not 3
    assert handles[2].health(host).failures == 1  # type: ignore[union-attr]
    dead.stop()


HOLD = """
import sys, time
from harvester.http_shared import HostsSpec, open_shared
hosts = open_shared(HostsSpec(sys.argv[1], sys.argv[2]))
with hosts.gate("portal.example", None, 1).slot():
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_killed_holder_gives_its_slot_back(state_url: str) -> None:
    spec = HostsSpec.new(state_url)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, spec.state_url, spec.run_key], stdout=subprocess.PIPE, env=env
    )
    hosts = open_shared(spec)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"held"
        assert hosts.try_slot("portal.example", 1, 0.0) is None  # the one slot is held
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        t0 = time.monotonic()
        with hosts.gate("portal.example", None, 1).slot():
            recovered = time.monotonic() - t0
        assert recovered < 5
    finally:
        if child.poll() is None:
            child.kill()
        hosts.close()


def test_processes_executor_shares_the_breaker(state_url: str, tmp_path: Path) -> None:
    """`harvest --executor processes`: two spawned processes, six sources on one dead host."""
    dead = ClosingListener()
    sources = [
        {
            "id": f"commune{i}",
            "type": "files",
            "url": dead.url,
            "http": {"breaker_failures": 3, "max_retries": 4, "backoff": 0.05},
            "params": {
                "files": [
                    {"url": f"{dead.url}/s{i}/f{j}.csv", "title": "f", "license": "lov2"} for j in (0, 1)
                ]
            },
        }
        for i in range(6)
    ]
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": sources}))
    data = tmp_path / "data"
    args = ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(data), "--state", state_url]
    res = CliRunner().invoke(cli, [*args, "--executor", "processes", "harvest", "--all"])
    dead.stop()
    assert res.exit_code != 0
    assert 3 <= dead.accepted <= 3 + 1, dead.accepted  # per process it would be 3 each
    (report,) = [json.loads(p.read_text()) for p in data.glob("runs/*/report.json")]
    (entry,) = report["unreachable_hosts"]
    assert entry["host"] == dead.url.removeprefix("http://")
    assert entry["refused_requests"] >= 12 - dead.accepted
    assert isinstance(report["errors_by_host"][entry["host"]]["count"], int)


@pytest.mark.parametrize("limits", ["shared", "process"])
def test_processes_executor_holds_the_concurrency(
    state_url: str, server: FixtureServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limits: str
) -> None:
    """`harvest --executor processes` (two spawned processes), four sources on one host, `concurrency: 1`:
    the host sees one request at a time; with HARVESTER_HOST_LIMITS=process, one per process."""
    seen = InFlight(0.15)
    sources = []
    for i in range(4):
        files = []
        for j in range(3):
            server.route(f"/s{i}/f{j}.csv", seen)
            files.append({"url": f"{server.url}/s{i}/f{j}.csv", "title": "f", "license": "lov2"})
        sources.append(
            {
                "id": f"c{i}",
                "type": "files",
                "url": server.url,
                "http": {"concurrency": 1},
                "params": {"files": files},
            }
        )
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": sources}))
    if limits == "process":
        monkeypatch.setenv("HARVESTER_HOST_LIMITS", "process")
    args = [
        "--config",
        str(tmp_path / "sources.yaml"),
        "--data-dir",
        str(tmp_path / "data"),
        "--state",
        state_url,
    ]
    res = CliRunner().invoke(cli, [*args, "--executor", "processes", "harvest", "--all"])
    assert res.exit_code == 0, res.output
    assert len(seen.arrivals) == 12
    assert seen.max == (1 if limits == "shared" else 2)


def test_a_client_joining_keeps_the_hosts_it_found_unreachable(state_url: str) -> None:
    dead = ClosingListener()
    client = HttpClient(sleep=lambda _s: None)
    with pytest.raises(HostUnreachableError):
        client.fetch(dead.url + "/x", policy=HttpPolicy(max_retries=5, breaker_failures=2))
    spec = client.share_hosts(state_url)  # the command hands units to other processes from now on
    assert client.share_hosts(state_url) == spec
    worker = HttpClient(shared=open_shared(spec))
    with pytest.raises(HostUnreachableError):
        worker.fetch(dead.url + "/y")
    assert dead.accepted == 2
    assert [e["host"] for e in client.breaker.report()] == [dead.url.removeprefix("http://")]
    dead.stop()
