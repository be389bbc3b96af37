"""The CKAN client over real HTTP (local fixture server): retries, Retry-After, errors, write-rate limit, counters."""

from __future__ import annotations

import json
import time

import pytest
from ckanapi.errors import ValidationError

from harvester.errors import TargetError
from harvester.http_hosts import HostGate
from harvester.publish.client import CkanClient
from tests.fixture_server import FixtureServer, Reply, Request


def ok(result: object) -> Reply:
    return Reply(200, json.dumps({"success": True, "result": result}))


def client(server: FixtureServer, **kw: object) -> CkanClient:
    kw.setdefault("backoff", 0.01)
    return CkanClient(server.url, "tok", **kw)  # type: ignore[arg-type]


def test_transient_errors_are_retried(server: FixtureServer) -> None:
    replies = [Reply(503, "busy"), Reply(429, "slow down", headers={"Retry-After": "0"}), ok({"id": "x"})]
    server.route("/api/action/package_create", lambda _r: replies.pop(0))
    c = client(server)
    assert c.call("package_create", {"name": "n"}) == {"id": "x"}
    assert c.calls["package_create"] == 3 and c.retries == 2 and c.write_calls == 3
    req = server.requests[-1]
    assert req.headers["Authorization"] == "tok" and json.loads(req.body) == {"name": "n"}


def test_ckan_that_stays_down_is_a_target_error(server: FixtureServer) -> None:
    server.route("/api/action/package_show", Reply(502, "bad gateway"))
    with pytest.raises(TargetError, match="after 3 attempt") as info:
        client(server, max_retries=2).call("package_show", {"id": "x"})
    assert info.value.url == server.url and server.count("/api/action/package_show") == 3


def test_closed_port_is_a_target_error() -> None:
    c = CkanClient("http://127.0.0.1:1", "tok", max_retries=1, backoff=0.01)
    with pytest.raises(TargetError, match="CKAN is unreachable"):
        c.whoami()


def test_not_a_ckan_is_a_target_error(server: FixtureServer) -> None:
    server.route("/api/action/status_show", Reply(200, "<html>portal</html>", content_type="text/html"))
    with pytest.raises(TargetError, match="unexpected answer to status_show"):
        client(server).call("status_show")


def test_refused_token_is_a_target_error(server: FixtureServer) -> None:
    server.route("/api/action/status_show", ok({"ckan_version": "2.12.0"}))
    server.route(
        "/api/action/user_show",
        Reply(
            404,
            json.dumps({"success": False, "error": {"__type": "Not Found Error", "message": "Not found"}}),
        ),
    )
    with pytest.raises(TargetError, match="does not accept the API token"):
        client(server).whoami()


def test_validation_errors_come_back_as_ckanapi_exceptions(server: FixtureServer) -> None:
    body = {
        "success": False,
        "error": {"__type": "Validation Error", "name": ["That URL is already in use."]},
    }
    server.route("/api/action/package_create", Reply(409, json.dumps(body)))
    with pytest.raises(ValidationError) as info:
        client(server).call("package_create", {"name": "n"})
    assert info.value.error_dict["name"] == ["That URL is already in use."]


def test_writes_are_spaced_by_the_rate_limit_and_reads_are_not(server: FixtureServer) -> None:
    server.route("/api/action/package_patch", ok({}))
    server.route("/api/action/package_show", ok({}))
    c = client(server, max_writes_per_second=20)
    t0 = time.monotonic()
    for _ in range(5):
        c.call("package_show", {"id": "x"})
    reads = time.monotonic() - t0
    t0 = time.monotonic()
    for _ in range(5):
        c.call("package_patch", {"id": "x"})
    assert time.monotonic() - t0 >= 4 * 0.05 * 0.95  # five writes: four intervals of 1/20 s
    assert reads < 0.2 and c.read_calls == 5 and c.writes_by_action() == {"package_patch": 5}


def test_rate_gate_spaces_calls_evenly() -> None:
    slept: list[float] = []
    gate = HostGate.make(10, 1, sleep=slept.append)  # the host gate of http.py, used for CKAN writes
    for _ in range(4):
        gate.wait_turn()
    assert [round(s, 2) for s in slept] == [0.1, 0.2, 0.3]  # the clock did not move: each waits its turn


def _in_flight_counter(server: FixtureServer) -> list[int]:
    import threading

    state = {"now": 0}
    peaks: list[int] = []
    lock = threading.Lock()

    def handler(req: Request) -> Reply:
        with lock:
            state["now"] += 1
            peaks.append(state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        name = json.loads(req.body)["name"]
        return ok({"id": f"id-{name}", "name": name})

    server.route("/api/action/package_create", handler)
    return peaks


def test_writer_bounds_concurrency(server: FixtureServer, tmp_path: object) -> None:
    from harvester.publish.plan import Action, Plan
    from harvester.publish.writer import Outcome, Writer
    from harvester.state import StateStore

    peaks = _in_flight_counter(server)
    state = StateStore(tmp_path / "state.sqlite")  # type: ignore[operator]
    plan = Plan("p", create=[Action(f"s:{i}", f"n{i}", "org") for i in range(8)])
    seen: list[tuple[int, int]] = []
    writer = Writer(client(server, concurrency=2, max_writes_per_second=None), state, "p",
                    lambda k, n, o: {"name": n, "owner_org": o}, concurrency=2,
                    progress=lambda n, total: seen.append((n, total)))  # fmt: skip
    out = Outcome()
    writer.run(plan, out)
    assert out.count("created") == 8 and max(peaks) <= 2
    assert len(state.read_publish_records("p")) == 8
    assert seen[-1] == (8, 8) and [n for n, _ in seen] == sorted(n for n, _ in seen)


def test_ckan_calls_run_under_the_http_deadline(server: FixtureServer) -> None:
    """The same stack as harvesting: a CKAN that drips its answer is cut at the deadline, not waited for."""
    server.route("/api/action/package_show", Reply(200, json.dumps({"success": True, "result": {}}) + " " * 3000,
                                                   drip=(100, 0.1)))  # fmt: skip
    t0 = time.monotonic()
    with pytest.raises(
        TargetError, match=r"CKAN did not answer package_show: deadline passed: http\.deadline"
    ):
        client(server, deadline=0.5).call("package_show", {"id": "x"})
    assert time.monotonic() - t0 < 1.5 and server.count("/api/action/package_show") == 1


def test_unreachable_ckan_trips_the_host_breaker() -> None:
    c = CkanClient("http://127.0.0.1:1", "tok", max_retries=5, backoff=0.01)
    with pytest.raises(TargetError, match="host unreachable since"):
        c.call("package_show", {"id": "x"})
    assert c.calls["package_show"] == 3  # three refused connections, then no more attempts
    with pytest.raises(TargetError, match="host unreachable since"):
        c.call("package_patch", {"id": "x"})
    assert c.calls["package_patch"] == 0 and c.http.requests_sent == 3  # refused at once, nothing sent
