"""Publish units: plain picklable batches, run by a module-level `run_unit` in a fresh (spawned) process.

The process has no client of the parent: it builds its own from the unit's CkanSpec and reports its calls, and
the parent's `commit` records the writes. The CKAN Action API is the local fixture server.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

from harvester.publish.plan import Action, Plan
from harvester.publish.units import CkanSpec, PublishUnit, UnitOutcome, commit, plan_units, run_unit
from harvester.publish.writer import Outcome, Writer
from harvester.runner import executor
from harvester.runtime import RuntimeSpec
from harvester.state import StateStore
from tests.fixture_server import FixtureServer, Reply, Request


def ok(result: object) -> Reply:
    return Reply(200, json.dumps({"success": True, "result": result}))


def create(req: Request) -> Reply:
    name = json.loads(req.body)["name"]
    return ok({"id": f"id-{name}", "name": name})


def units(spec: CkanSpec, n: int, workers: int) -> list[PublishUnit]:
    actions = [("create", Action(f"s:{i}", f"n{i}", "org", metadata_hash=f"h{i}")) for i in range(n)]
    return plan_units("p", "run-1", spec, actions, lambda k, name, o: {"name": name, "owner_org": o},
                      lambda k: f"fallback-{k}", workers)  # fmt: skip


def test_units_are_picklable_batches_and_the_token_is_never_printed() -> None:
    spec = CkanSpec("http://ckan.example", "secret-token", max_writes_per_second=None)
    batches = units(spec, 7, workers=3)
    assert [len(u.jobs) for u in batches] == [3, 3, 1]
    assert pickle.loads(pickle.dumps(batches)) == batches
    assert batches[0].jobs[0].package == {"name": "n0", "owner_org": "org"}
    assert batches[0].jobs[0].fallback_name == "fallback-s:0"
    assert "secret-token" not in repr(batches)


def test_a_unit_runs_in_a_spawned_process_and_the_parent_commits(
    server: FixtureServer, tmp_path: Path
) -> None:
    server.route("/api/action/package_create", create)
    spec = CkanSpec(server.url, "tok", max_writes_per_second=None, backoff=0.01)
    [unit] = units(spec, 2, workers=1)
    with executor(1, "processes") as pool:
        outcome: UnitOutcome = pool.submit(run_unit, unit, RuntimeSpec(str(tmp_path), "")).result()
    assert [(d.action, d.ckan_id, d.metadata_hash) for d in outcome.done] == [
        ("created", "id-n0", "h0"),
        ("created", "id-n1", "h1"),
    ]
    assert outcome.calls == {"package_create": 2} and outcome.aborted is None  # counted by its own client
    assert [r.headers["Authorization"] for r in server.requests] == ["tok", "tok"]
    state = StateStore(tmp_path / "state.sqlite")
    commit([outcome], state, "p")
    assert {k: r["ckan_id"] for k, r in state.read_publish_records("p").items()} == {
        "s:0": "id-n0",
        "s:1": "id-n1",
    }


def test_the_writer_on_processes_adds_the_units_calls_to_its_client(
    server: FixtureServer, tmp_path: Path
) -> None:
    from harvester import runner
    from harvester.publish.client import CkanClient

    server.route("/api/action/package_create", create)
    client = CkanClient(server.url, "tok", max_writes_per_second=None, backoff=0.01)
    state = StateStore(tmp_path / "state.sqlite")
    spec = CkanSpec(server.url, "tok", concurrency=2, max_writes_per_second=None, backoff=0.01)
    writer = Writer(client, state, "p", lambda k, n, o: {"name": n, "owner_org": o}, concurrency=2, spec=spec)
    runner.set_default_executor("processes")
    try:
        out = Outcome()
        writer.run(Plan("p", create=[Action(f"s:{i}", f"n{i}", "org") for i in range(5)]), out)
    finally:
        runner.set_default_executor("local")
    assert out.count("created") == 5 and client.write_calls == 5  # sent by the processes, counted here
    assert len(state.read_publish_records("p")) == 5


def test_a_unit_in_another_process_shares_the_runs_breaker(server: FixtureServer, tmp_path: Path) -> None:
    """CKAN found unreachable by one worker is refused by a publish unit of another process at once: the unit's
    client uses the run's shared host limits and breaker (harvester/http_shared.py), sending nothing."""
    from harvester.http_hosts import host_of
    from harvester.http_shared import HostsSpec, open_shared

    server.route("/api/action/package_create", create)
    hosts = HostsSpec.new(str(tmp_path / "state.sqlite"))
    opened = open_shared(hosts)
    opened.fail(host_of(server.url), "connection refused", 1)  # as another worker's client would
    spec = CkanSpec(server.url, "tok", max_writes_per_second=None, backoff=0.01, max_retries=0)
    [unit] = units(spec, 2, workers=1)
    runtime = RuntimeSpec(str(tmp_path), str(tmp_path / "state.sqlite"), hosts=hosts)
    try:
        with executor(1, "processes") as pool:
            outcome: UnitOutcome = pool.submit(run_unit, unit, runtime).result()
        assert outcome.done == [] and outcome.aborted is not None
        assert "host unreachable" in outcome.aborted["message"]
        assert server.requests == []
        # the same unit under another run's limits (nothing open there) writes: the refusal came from the run's
        runtime = dataclasses.replace(runtime, hosts=HostsSpec.new(runtime.state_url))
        with executor(1, "processes") as pool:
            outcome = pool.submit(run_unit, unit, runtime).result()
        assert [d.action for d in outcome.done] == ["created", "created"]
    finally:
        opened.close()
